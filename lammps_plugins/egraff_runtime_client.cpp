/* The model runtime for the pair style: see egraff_runtime_client.h. */

#include "egraff_runtime_client.h"

#ifndef EGRAFF_RUNTIME_LINKED
#include "egraff_library_dir.h"

#include <dlfcn.h>
#endif

namespace egraff {

#ifdef EGRAFF_RUNTIME_LINKED

const egraff_runtime_api *load_runtime(std::string &)
{
  return egraff_runtime();
}

#else

const egraff_runtime_api *load_runtime(std::string &why)
{
  static const egraff_runtime_api *api = nullptr;
  if (api != nullptr) return api;
  const std::string library = this_library_directory() + "/" + EGRAFF_RUNTIME_LIBRARY;
#ifdef EGRAFF_NO_DEEPBIND    // only to measure what deep binding changes (bench/symbol_binding.py)
  void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
#else
  void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
  if (handle == nullptr) {
    const char *error = dlerror();
    why = "cannot load the model runtime " + library + ": " + (error ? error : "unknown error");
    return nullptr;
  }
  using Entry = const egraff_runtime_api *(*) ();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, "egraff_runtime"));
  if (entry == nullptr) {
    why = "the model runtime " + library + " has no egraff_runtime()";
    return nullptr;
  }
  const egraff_runtime_api *found = entry();
  if (found->abi != EGRAFF_RUNTIME_ABI) {
    why = "the model runtime " + library + " has interface version " + std::to_string(found->abi) +
        ", this pair style needs " + std::to_string(EGRAFF_RUNTIME_ABI);
    return nullptr;
  }
  api = found;
  return api;
}

#endif

}    // namespace egraff
