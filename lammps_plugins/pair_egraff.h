/* pair_style egraff: runs an egraff deployed potential (contract version 1) in LAMMPS.

   This library is the LAMMPS-facing half, compiled with the host LAMMPS's C++ ABI and without torch:
   it builds the graph and tallies what the model returns. The model itself runs in the model runtime
   (libegraff_runtime.so, compiled with torch's ABI) behind the plain C interface of egraff_runtime.h;
   the runtime reads TorchScript files and AOTInductor packages alike.

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

   compute() = build_graph() (from the neighbour list into reused buffers) -> evaluate(model, graph)
   (one runtime call writing into reused output buffers, checked against the contract) -> tally
   energy, forces and virial. evaluate() takes the model as an argument, so several deployed files
   can be evaluated on one graph.

   Committee (`pair_style egraff committee m1.pt m2.pt ...`, README.md): the pair_coeff file is
   member 0 and the pair_style files members 1..K-1, all for the same elements. They share one graph,
   built with the largest cutoff of any member (a member with smaller cutoffs sees the subset of
   edges inside its own). Member 0 (or, with `drive mean`, the members' mean) drives the dynamics;
   every `every` steps all members are evaluated and the model deviation is taken from their
   forces, after the forces on ghost atoms are reverse-communicated to their owners:
   sigma_F,i = sqrt(mean_k |F_i^k - mean_k F_i^k|^2) and sigma_E,i the same of the atom energies
   (population statistics over the members, as DeePMD-kit), reduced over the local atoms of all
   ranks. It is exposed as the pair's pvector (`compute pair egraff`), per-atom arrays for `fix pair`
   (extract_peratom: devi_f, devi_e; LAMMPS >= 15 Sep 2022), and a file in DeePMD-kit's
   model-deviation layout.
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
#include "egraff_runtime.h"
#include "pair.h"

#include <memory>
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
#if EGRAFF_HAS_FIX_PAIR
  void *extract_peratom(const char *, int &) override;
#endif
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

  enum class Mode { AUTO, MAP, GHOST, GHOSTMP };
  enum class DeviceRequest { AUTO, CPU, CUDA };
  enum class Drive { FIRST, MEAN };    // committee: which forces move the atoms

  // One deployed file: its runtime handle and the metadata the plugin uses.
  struct DeployedModel {
    std::string path;
    std::shared_ptr<egraff_model> handle;    // closed with the last copy
    std::string format;    // torchscript or aotinductor
    std::vector<std::string> type_names;
    double r_max = 0.0;
    int num_layers = 1;
    std::string model_dtype;
    std::vector<double> pair_cutoffs;    // num_types^2, row = centre type; empty = r_max
  };

  // What one model returns for the current graph, checked against the contract: float64, finite.
  // Buffers reused between steps.
  struct ModelOutput {
    std::vector<double> node_energy;    // [num_nodes]
    std::vector<double> edge_forces;    // [num_edges, 3] = dE_local / d edge_vectors
  };

 private:
  // settings
  Mode mode_request = Mode::AUTO;
  Mode mode = Mode::AUTO;    // resolved in init_style()
  DeviceRequest device_request = DeviceRequest::AUTO;
  int num_threads = 0;    // 0 = leave torch/OpenMP as they are
  bool report_timing = false;
  double ghost_limit = 100.0;    // ghostmp: most ghost atoms per local atom before refusing

  const egraff_runtime_api *runtime = nullptr;
  std::string device = "cpu";    // the runtime's name for it: cpu, cuda:N
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

  // `timing yes`: seconds accumulated over a run, for the first WARMUP_CALLS calls after a model is
  // loaded (what short runs pay once) apart from the rest (the steady state)
  struct Timing {
    double graph = 0.0, model = 0.0, scatter = 0.0;
    bigint calls = 0;
  };
  static constexpr int WARMUP_CALLS = 3;
  Timing steady, warmup;
  bigint calls_since_load = 0;
  double first_call_model = 0.0;
  void record_call(double graph, double model, double scatter);

  void allocate();
  void load_runtime();
  void select_device();
  DeployedModel load_model(const std::string &path);
  const char *mode_name(Mode) const;
  void check_complete_neighbor_list();
  void check_ghost_shell(double ghost_cutoff, int num_layers, double cutmax);
  int owner_of(int j);

  // one force evaluation: build the graph, evaluate the model on it, tally its output
  void build_graph();
  void evaluate(DeployedModel &m, int64_t edges, const double *vectors, const int64_t *index, ModelOutput &out);
  void tally_energy(const ModelOutput &out);
  void tally_forces_and_virial(const ModelOutput &out);
  ModelOutput output;    // of member 0 without a committee

  // committee (see the top of this file); member 0 is `model`, members 1..K-1 are `committee`
  std::vector<std::string> committee_paths;    // as given to pair_style
  std::vector<std::string> committee_loaded;    // the paths `committee` was loaded from
  std::vector<DeployedModel> committee;
  std::vector<std::vector<double>> member_cut_sq;    // [k][itype * (ntypes+1) + jtype]
  std::vector<bool> member_subgraph;    // member k's cutoffs are smaller than the graph's somewhere
  Drive drive = Drive::FIRST;
  int committee_every = 1;
  std::string devi_path;    // model-deviation file; empty = none
  FILE *devi_file = nullptr;    // rank 0
  bool devi_open = false;    // every rank: the file has been opened
  bigint devi_row_step = -1;    // step of the last row written (a run's setup repeats a step)
  bigint devi_step = -1;    // step the per-atom deviations below belong to
  int member_nmax = 0, member_ncol = 0;
  double **member_f = nullptr;    // [atom][3 k + c]: force on the atom from member k
  double *devi_f_atom = nullptr;    // sigma_F of each local atom
  double *devi_e_atom = nullptr;    // sigma_E of each local atom

  int committee_size() const { return 1 + (int) committee.size(); }
  DeployedModel &member(int k) { return k == 0 ? model : committee[k - 1]; }
  int parse_committee(int iarg, int narg, char **arg);
  double edge_cutoff(const DeployedModel &m, int itype, int jtype) const;
  void load_committee();
  int max_num_layers();
  void init_committee();
  void check_deviation_path();
  void open_deviation_file();
  void close_deviation_file();
  void compute_committee();
  std::vector<ModelOutput> member_outputs;    // [k]
  ModelOutput mean_output;    // drive mean
  std::vector<double> sub_vec;    // a member's subgraph: edge vectors, edge_index, ids in the graph
  std::vector<int64_t> sub_index, sub_edges;
  ModelOutput sub_output;
  void evaluate_member(int k, ModelOutput &out);
  void committee_deviation(int evaluated);
  void write_deviation_row(const double *values);
};

}    // namespace LAMMPS_NS

#endif
#endif
