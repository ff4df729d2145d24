/* pair_style egraff: runs an egraff deployed potential (TorchScript, contract version 1) in LAMMPS.

   The deployed-model contract (DESIGN.md) is edge based:
     forward(edge_vectors [E,3] f64, edge_index [2,E] i64, atom_types [N] i64, n_local 0-d i64)
       -> (node_energy [N] f64, edge_forces [E,3] f64 = d(sum_{i<n_local} E_i)/d edge_vectors)
   so no cell or image shifts cross the seam: edge vectors come straight from LAMMPS coordinates.
   edge_vectors is passed as a leaf that requires grad, so a model may differentiate with respect
   to its input directly.

   Graph modes (documented in lammps_plugins/README.md):
     map     nodes = local atoms, ghost neighbours replaced by their owners; any model, 1 rank.
     ghost   nodes = local + ghost atoms, edges centred on local atoms; strictly local models.
     ghostmp nodes = local + ghost atoms, edges centred on all of them, ghost shell
             num_layers * r_max + skin; any model, any number of ranks.

   compute() = build_graph() (from the neighbour list) -> graph_inputs() (tensors on the device)
   -> evaluate(model, inputs) (one call, its output checked against the contract) -> tally energy,
   forces and virial. evaluate() takes the model as an argument, so several deployed files can be
   evaluated on one graph.
*/

// compiled into LAMMPS as a package, LAMMPS registers the style from this line
#ifdef PAIR_CLASS
// clang-format off
PairStyle(egraff, LAMMPS_NS::PairEGraFF);
// clang-format on
#else

#ifndef EGRAFF_PAIR_EGRAFF_H
#define EGRAFF_PAIR_EGRAFF_H

#include "egraff_lammps_compat.h"
#include "pair.h"

#include <torch/script.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace LAMMPS_NS {

class PairEGraFF : public Pair {
 public:
  PairEGraFF(class LAMMPS *);
  ~PairEGraFF() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
#if EGRAFF_HAS_PAIR_FINISH
  void finish() override;
#endif

  enum class Mode { AUTO, MAP, GHOST, GHOSTMP };
  enum class DeviceRequest { AUTO, CPU, CUDA };

  // One deployed file: its TorchScript module and the metadata the plugin uses.
  struct DeployedModel {
    std::string path;
    torch::jit::Module module;
    std::vector<std::string> type_names;
    double r_max = 0.0;
    int num_layers = 1;
    std::string model_dtype;
    std::vector<double> pair_cutoffs;    // num_types^2, row = centre type; empty = r_max
  };

  // What one model returns for the current graph, checked against the contract: CPU, float64,
  // contiguous, finite.
  struct ModelOutput {
    torch::Tensor node_energy;    // [num_nodes]
    torch::Tensor edge_forces;    // [num_edges, 3] = dE_local / d edge_vectors
  };

 private:
  // settings
  Mode mode_request = Mode::AUTO;
  Mode mode = Mode::AUTO;    // resolved in init_style()
  DeviceRequest device_request = DeviceRequest::AUTO;
  int num_threads = 0;    // 0 = leave torch/OpenMP as they are
  bool report_timing = false;
  double ghost_limit = 100.0;    // ghostmp: most ghost atoms per local atom before refusing

  torch::Device device = torch::kCPU;
  DeployedModel model;
  bool model_loaded = false;

  // per LAMMPS type: model type index (-1 = NULL, not mapped); per LAMMPS type pair: edge cutoff^2
  std::vector<int> type_map;
  double **cut_edge_sq = nullptr;

  // graph buffers, reused between steps; only the first num_edges entries are valid
  int num_nodes = 0;
  std::vector<double> edge_vec;         // [E,3]
  std::vector<int64_t> edge_index;      // [2,E] row-major: centres, then neighbours (node indices)
  std::vector<int64_t> edge_dst;        // neighbours while the edge count is still unknown
  int64_t num_edges = 0;
  std::vector<int64_t> node_types;
  std::unordered_map<tagint, int> tag_to_local;

  // accumulated timing (seconds) for `timing yes`
  double t_graph = 0.0, t_model = 0.0, t_scatter = 0.0;
  bigint n_calls = 0;

  void allocate();
  void select_device();
  DeployedModel load_model(const std::string &path);
  void check_weights_digest(const std::string &path, const std::string &expected);
  const char *mode_name(Mode) const;
  void check_complete_neighbor_list();
  void check_ghost_shell(double ghost_cutoff, double cutmax);
  int owner_of(int j);

  // one force evaluation: build the graph, evaluate the model on it, tally its output
  void build_graph();
  std::vector<torch::jit::IValue> graph_inputs();
  ModelOutput evaluate(DeployedModel &m, const std::vector<torch::jit::IValue> &inputs);
  void tally_energy(const ModelOutput &out);
  void tally_forces_and_virial(const ModelOutput &out);
};

}    // namespace LAMMPS_NS

#endif
#endif
