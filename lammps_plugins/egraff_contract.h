/* The deployed-model contract as the plugin reads it: the version and the metadata keys
   (TorchScript extra files). The meaning of every key and the weights-digest rule are written once,
   in python/egraff/contract.py; tests/test_contract.py checks that REQUIRED_KEYS equals its
   REQUIRED_KEYS and that OPTIONAL_KEYS are among its OPTIONAL_KEYS, so a key cannot be renamed on
   one side only. */

#ifndef EGRAFF_CONTRACT_H
#define EGRAFF_CONTRACT_H

namespace egraff {

constexpr const char *CONTRACT_VERSION = "1";

// every deployed file has these
constexpr const char *REQUIRED_KEYS[] = {"egraff_contract", "architecture", "type_names",
                                         "r_max",           "num_layers",   "model_dtype"};
// the plugin reads these when present
constexpr const char *OPTIONAL_KEYS[] = {"pair_cutoffs", "weights_sha256"};

}    // namespace egraff

#endif
