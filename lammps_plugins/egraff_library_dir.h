/* The directory of the shared library that this header is compiled into: the loader finds the
   pair-style library next to itself, the pair style the model runtime. Internal linkage, so that
   each library's copy asks dladdr about an address inside that library (an exported inline
   function could bind to another library's copy). */

#ifndef EGRAFF_LIBRARY_DIR_H
#define EGRAFF_LIBRARY_DIR_H

#include <dlfcn.h>

#include <string>

namespace egraff {
namespace {

std::string this_library_directory()
{
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&this_library_directory), &info) == 0 || info.dli_fname == nullptr)
    return ".";
  const std::string path = info.dli_fname;
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}    // namespace
}    // namespace egraff

#endif
