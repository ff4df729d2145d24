/* libegraff_runtime.so: deployed files on libtorch behind the plain C interface of
   egraff_runtime.h. Compiled with torch's C++ ABI; knows nothing of LAMMPS.

   Two kinds of file, told apart by their records:
     TorchScript archive (code/ records)         torch::jit::load, forward() with autograd inside;
     AOTInductor package (archive_format "pt2")  torch::inductor::AOTIModelPackageLoader, a compiled
                                                 program that computes the same outputs (the
                                                 backward pass traced into it at export).
   Both carry the contract's metadata as records extra/<key> and the weights digest rule of
   python/egraff/contract.py (records data.pkl, constants.pkl, data/..., constants/...).

   Per call: the caller's arrays are wrapped without copies (torch::from_blob) on the CPU, the
   outputs are checked against the contract and copied into the caller's buffers. TorchScript runs
   with grad mode on (its forward differentiates), the compiled program in inference mode. */

#include "egraff_runtime.h"

#include "egraff_sha256.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace {

enum Status { OK = 0, MODEL_FAILED = -1, CONTRACT_BROKEN = -2 };

void set_error(char *error, size_t size, const std::string &message)
{
  if (error == nullptr || size == 0) return;
  std::snprintf(error, size, "%s", message.c_str());
}

std::vector<std::string> split_lines(const std::string &text)
{
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  return lines;
}

/* The sentence a user needs from a torch exception: a c10::Error without its C++ backtrace, and
   for an error raised inside TorchScript code the last line (the exception itself) instead of
   "The following operation failed in the TorchScript interpreter." */
std::string failure_cause(const std::exception &e)
{
  const auto *c10_error = dynamic_cast<const c10::Error *>(&e);
  const auto lines = split_lines(c10_error ? c10_error->what_without_backtrace() : e.what());
  if (lines.empty()) return "no message";
  std::string cause = lines.front();
  if (cause.find("failed in the TorchScript interpreter") != std::string::npos) cause = lines.back();
  // torch's zip reader appends a paragraph of advice meant for its own developers
  const auto advice = cause.find(". This is an internal miniz error");
  return advice == std::string::npos ? cause : cause.substr(0, advice);
}

std::string shape_str(const torch::Tensor &t)
{
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

bool is_state_record(const std::string &name)
{
  return name == "data.pkl" || name == "constants.pkl" || name.rfind("data/", 0) == 0 ||
      name.rfind("constants/", 0) == 0;
}

/* The weights digest (rule in python/egraff/contract.py): SHA-256 over the state records in
   byte-wise name order, each as name, NUL, 8-byte little-endian length, bytes. */
std::string weights_digest(caffe2::serialize::PyTorchStreamReader &reader)
{
  auto names = reader.getAllRecords();
  std::sort(names.begin(), names.end());
  egraff::Sha256 hash;
  for (const auto &name : names) {
    if (!is_state_record(name)) continue;
    auto record = reader.getRecord(name);
    const uint64_t size = std::get<1>(record);
    uint8_t length[8];
    for (int k = 0; k < 8; k++) length[k] = uint8_t(size >> (8 * k));
    hash.update(name.c_str(), name.size() + 1);    // with its NUL
    hash.update(length, 8);
    hash.update(std::get<0>(record).get(), size);
  }
  return hash.hexdigest();
}

torch::Device parse_device(const std::string &name)
{
  return torch::Device(name);    // "cpu", "cuda:0"; throws on anything else
}

/* A CPU tensor over the caller's array (no copy), moved to `device` when that is not the CPU. */
template <typename T>
torch::Tensor wrap(const T *data, c10::IntArrayRef shape, torch::ScalarType type, const torch::Device &device)
{
  int64_t count = 1;
  for (auto s : shape) count *= s;
  const auto options = torch::TensorOptions().dtype(type);
  torch::Tensor t = count == 0 ? torch::empty(shape, options)
                               : torch::from_blob(const_cast<T *>(data), shape, options);
  return device.is_cpu() ? t : t.to(device);
}

}    // namespace

struct egraff_model {
  std::string path;
  torch::Device device = torch::kCPU;
  std::map<std::string, std::string> metadata;
  bool compiled = false;    // AOTInductor package, else TorchScript
  torch::jit::Module module;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> package;
};

namespace {

/* "'path' is ..." sentences for a file that cannot be a deployed model. */
std::string in_quotes(const std::string &path)
{
  return "'" + path + "'";
}

/* Reads the metadata records and the kind of file; checks the weights digest when the file has one. */
void read_archive(egraff_model &m, bool &torchscript, bool &has_state)
{
  caffe2::serialize::PyTorchStreamReader reader(m.path);
  torchscript = false;
  has_state = false;
  for (const auto &name : reader.getAllRecords()) {
    if (name.rfind("code/", 0) == 0) torchscript = true;
    if (is_state_record(name)) has_state = true;
    if (name.rfind("extra/", 0) == 0) {
      auto record = reader.getRecord(name);
      m.metadata[name.substr(6)] =
          std::string(static_cast<const char *>(std::get<0>(record).get()), std::get<1>(record));
    }
  }
  if (reader.hasRecord("archive_format")) {
    auto record = reader.getRecord("archive_format");
    const std::string format(static_cast<const char *>(std::get<0>(record).get()), std::get<1>(record));
    m.compiled = format == "pt2";
  }
  const auto digest = m.metadata.find("weights_sha256");
  if (digest != m.metadata.end() && !digest->second.empty() && weights_digest(reader) != digest->second)
    throw std::runtime_error(in_quotes(m.path) +
                             " is damaged: its weights differ from those written at export (weights_sha256 "
                             "mismatch); export or copy the file again");
}

egraff_model *open_model(const char *path, const char *device, char *error, size_t error_size)
{
  auto m = std::make_unique<egraff_model>();
  m->path = path;
  try {
    m->device = parse_device(device);
  } catch (const std::exception &e) {
    set_error(error, error_size, "unknown device '" + std::string(device) + "' (" + failure_cause(e) + ")");
    return nullptr;
  }
  bool torchscript = false, has_state = false;
  try {
    read_archive(*m, torchscript, has_state);
  } catch (const std::exception &e) {
    const std::string cause = failure_cause(e);
    set_error(error, error_size,
              cause.rfind(in_quotes(m->path), 0) == 0
                  ? cause
                  : in_quotes(m->path) + " is not a loadable TorchScript model or AOTInductor package (" + cause +
                      "); write one with `egraff export`");
    return nullptr;
  }
  if (!m->compiled && !torchscript) {
    set_error(error, error_size,
              has_state ? in_quotes(m->path) +
                      " is a torch.save file (a checkpoint?), not a TorchScript model; write the deployed "
                      "file with `egraff export`"
                        : in_quotes(m->path) +
                      " is a zip archive but neither a TorchScript model nor an AOTInductor package; "
                      "write one with `egraff export`");
    return nullptr;
  }
  if (m->metadata.count("egraff_contract") == 0) {
    set_error(error, error_size,
              in_quotes(m->path) + " is a " + (m->compiled ? "AOTInductor package" : "TorchScript file") +
                  " but not an egraff deployed model (no 'egraff_contract' metadata); write it with `egraff "
                  "export`");
    return nullptr;
  }
  try {
    if (m->compiled) {
      const c10::DeviceIndex index = m->device.is_cuda() ? m->device.index() : -1;
      m->package = std::make_unique<torch::inductor::AOTIModelPackageLoader>(m->path, "model", false, 1, index);
    } else {
      m->module = torch::jit::load(m->path, m->device);
      m->module.eval();
      auto forward = m->module.find_method("forward");
      const size_t num_inputs = forward ? forward->function().getSchema().arguments().size() - 1 : 0;
      if (num_inputs != 4) {
        set_error(error, error_size,
                  "the forward of " + in_quotes(m->path) + " takes " + std::to_string(num_inputs) +
                      " inputs, the contract's takes 4 (edge_vectors, edge_index, atom_types, n_local)");
        return nullptr;
      }
    }
  } catch (const std::exception &e) {
    set_error(error, error_size,
              in_quotes(m->path) + " is not a loadable " +
                  (m->compiled ? "AOTInductor package" : "TorchScript model") + " (" + failure_cause(e) +
                  "); write one with `egraff export`" +
                  (m->compiled ? " (an AOTInductor package runs only with the torch version and on the "
                                 "kind of CPU or GPU it was compiled for)"
                               : ""));
    return nullptr;
  }
  return m.release();
}

const char *metadata_of(const egraff_model *m, const char *key)
{
  const auto it = m->metadata.find(key);
  return it == m->metadata.end() ? "" : it->second.c_str();
}

const char *format_of(const egraff_model *m)
{
  return m->compiled ? "aotinductor" : "torchscript";
}

/* The model's outputs checked against the contract; a sentence saying how they break it, or "". */
std::string contract_violation(const torch::Tensor &energy, const torch::Tensor &forces, int64_t num_nodes,
                               int64_t num_edges)
{
  if (energy.scalar_type() != torch::kFloat64 || forces.scalar_type() != torch::kFloat64)
    return "returned node_energy of dtype " + std::string(c10::toString(energy.scalar_type())) +
        " and edge_forces of dtype " + c10::toString(forces.scalar_type()) +
        "; the contract requires float64 (Double) for both";
  if (energy.dim() != 1 || energy.size(0) != num_nodes || forces.dim() != 2 || forces.size(0) != num_edges ||
      forces.size(1) != 3)
    return "returned shapes " + shape_str(energy) + " and " + shape_str(forces) + ", expected [" +
        std::to_string(num_nodes) + "] and [" + std::to_string(num_edges) +
        ", 3]; it does not follow the egraff contract";
  return "";
}

void copy_out(const torch::Tensor &t, double *out)
{
  const auto host = t.detach().to(torch::kCPU).contiguous();
  if (host.numel() > 0) std::memcpy(out, host.data_ptr<double>(), host.numel() * sizeof(double));
}

int evaluate_model(egraff_model *m, int64_t num_nodes, int64_t num_edges, int64_t n_local,
                   const double *edge_vectors, const int64_t *edge_index, const int64_t *atom_types,
                   double *node_energy, double *edge_forces, char *error, size_t error_size)
{
  torch::Tensor energy, forces;
  try {
    auto vectors = wrap(edge_vectors, {num_edges, 3}, torch::kFloat64, m->device);
    auto index = wrap(edge_index, {2, num_edges}, torch::kInt64, m->device);
    auto types = wrap(atom_types, {num_nodes}, torch::kInt64, m->device);
    auto local = torch::scalar_tensor(n_local, torch::TensorOptions().dtype(torch::kInt64)).to(m->device);
    if (m->compiled) {
      c10::InferenceMode inference;
      const auto out = m->package->run({vectors, index, types, local});
      if (out.size() < 2) {
        set_error(error, error_size,
                  "returned " + std::to_string(out.size()) +
                      " outputs, not the contract's (node_energy, edge_forces); it does not follow the "
                      "egraff contract");
        return CONTRACT_BROKEN;
      }
      energy = out[0];
      forces = out[1];
    } else {
      // a leaf that requires grad: the contract lets the model differentiate with respect to it
      vectors.requires_grad_(true);
      const torch::jit::IValue out = m->module.forward({vectors, index, types, local});
      if (!out.isTuple()) {
        set_error(error, error_size,
                  std::string("returned a ") + out.tagKind() +
                      ", not the contract's tuple (node_energy, edge_forces); it does not follow the egraff "
                      "contract");
        return CONTRACT_BROKEN;
      }
      const auto &items = out.toTupleRef().elements();
      if (items.size() < 2 || !items[0].isTensor() || !items[1].isTensor()) {
        set_error(error, error_size,
                  "returned a tuple of " + std::to_string(items.size()) +
                      " items that is not (node_energy, edge_forces) tensors; it does not follow the egraff "
                      "contract");
        return CONTRACT_BROKEN;
      }
      energy = items[0].toTensor();
      forces = items[1].toTensor();
    }
  } catch (const std::exception &e) {
    set_error(error, error_size, failure_cause(e));
    return MODEL_FAILED;
  }
  const std::string violation = contract_violation(energy, forces, num_nodes, num_edges);
  if (!violation.empty()) {
    set_error(error, error_size, violation);
    return CONTRACT_BROKEN;
  }
  copy_out(energy, node_energy);
  copy_out(forces, edge_forces);
  return OK;
}

void close_model(egraff_model *m)
{
  delete m;
}

int cuda_device_count()
{
  return torch::cuda::is_available() ? (int) torch::cuda::device_count() : 0;
}

int set_num_threads(int threads)
{
  if (threads > 0) at::set_num_threads(threads);
  return at::get_num_threads();
}

/* glibc's malloc returns large blocks to the kernel when they are freed (mmap'd blocks above a
   threshold, and the heap's top above another), and a model call allocates and frees the same
   tensors every step, so each call faults its memory back in page by page. Keeping freed blocks in
   the process removes that: a 4000-atom NequIP step costs 4-8 % less here, 1.6x less in a process
   that inherited Dask's MALLOC_TRIM_THRESHOLD_=65536 (a job engine worker's lmp; bench/allocator.py),
   and at 10^5 atoms, where single tensors reach hundreds of MiB, only blocks up to 2 GiB from the heap
   and no trimming at all stop the faults (a 108 000-atom NequIP call: 4.0-4.4 s with 256/512 MiB
   thresholds, 3.1 s). Set once, when the pair style first asks for the runtime; the values are
   egraff.processes.keep_freed_memory's. */
void keep_freed_memory()
{
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, INT_MAX);
  mallopt(M_TRIM_THRESHOLD, -1);    // never trim: the next step needs the memory again
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

const egraff_runtime_api API = {
    EGRAFF_RUNTIME_ABI, TORCH_VERSION, cuda_device_count, set_num_threads, open_model,
    metadata_of,        format_of,     evaluate_model,    close_model,
};

}    // namespace

extern "C" const egraff_runtime_api *egraff_runtime(void)
{
  static const bool tuned = (keep_freed_memory(), true);
  (void) tuned;
  return &API;
}
