/* pair_style egraff — see pair_egraff.h for the contract and the graph modes. */

#include "pair_egraff.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <sstream>

using namespace LAMMPS_NS;

namespace {

constexpr const char *CONTRACT_VERSION = "1";
const char *const METADATA_KEYS[] = {"egraff_contract", "architecture", "type_names", "r_max",
                                     "num_layers",      "model_dtype",  "pair_cutoffs"};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0)
{
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// torch error messages carry a C++ backtrace after the first lines; users need the first line.
std::string first_line(const std::string &what)
{
  auto pos = what.find('\n');
  return pos == std::string::npos ? what : what.substr(0, pos);
}

std::string shape_str(const torch::Tensor &t)
{
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

std::vector<std::string> split_words(const std::string &s)
{
  std::istringstream in(s);
  std::vector<std::string> words;
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

}    // namespace

PairEGraFF::PairEGraFF(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  // fdotr would lose the image contributions in map mode; the virial comes from edge vectors.
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairEGraFF::~PairEGraFF()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
    memory->destroy(cut_edge_sq);
  }
}

void PairEGraFF::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
  memory->create(cut_edge_sq, n, n, "pair:cut_edge_sq");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      setflag[i][j] = 0;
      cut_edge_sq[i][j] = 0.0;
    }
}

const char *PairEGraFF::mode_name(Mode m) const
{
  switch (m) {
    case Mode::MAP: return "map";
    case Mode::GHOST: return "ghost";
    case Mode::GHOSTMP: return "ghostmp";
    default: return "auto";
  }
}

/* pair_style egraff [mode auto|map|ghost|ghostmp] [device auto|cpu|cuda] [threads N] [timing yes|no] */

void PairEGraFF::settings(int narg, char **arg)
{
  const std::string usage =
      "expected: pair_style egraff [mode auto|map|ghost|ghostmp] [device auto|cpu|cuda] "
      "[threads N] [timing yes|no]";
  int iarg = 0;
  while (iarg < narg) {
    const std::string key = arg[iarg];
    if (iarg + 1 >= narg) error->all(FLERR, "pair_style egraff: keyword '{}' needs a value; {}", key, usage);
    const std::string value = arg[iarg + 1];
    if (key == "mode") {
      if (value == "auto") mode_request = Mode::AUTO;
      else if (value == "map") mode_request = Mode::MAP;
      else if (value == "ghost") mode_request = Mode::GHOST;
      else if (value == "ghostmp") mode_request = Mode::GHOSTMP;
      else error->all(FLERR, "pair_style egraff: unknown mode '{}'; use auto, map, ghost or ghostmp", value);
    } else if (key == "device") {
      if (value == "auto") device_request = DeviceRequest::AUTO;
      else if (value == "cpu") device_request = DeviceRequest::CPU;
      else if (value == "cuda") device_request = DeviceRequest::CUDA;
      else error->all(FLERR, "pair_style egraff: unknown device '{}'; use auto, cpu or cuda", value);
    } else if (key == "threads") {
      num_threads = utils::inumeric(FLERR, value.c_str(), false, lmp);
      if (num_threads < 1) error->all(FLERR, "pair_style egraff: threads must be >= 1, got {}", value);
    } else if (key == "timing") {
      report_timing = egraff_compat::logical(FLERR, value, lmp);
#if !EGRAFF_HAS_PAIR_FINISH
      if (report_timing)
        error->all(FLERR, "pair_style egraff: timing yes needs LAMMPS 2 Aug 2023 or newer (Pair::finish), "
                          "this is LAMMPS {}", EGRAFF_LAMMPS_NUM_VER);
#endif
    } else {
      error->all(FLERR, "pair_style egraff: unknown keyword '{}'; {}", key, usage);
    }
    iarg += 2;
  }
}

/* Reads the deployed file and its metadata; any failure is a LAMMPS error naming the file. */

void PairEGraFF::load_model(const std::string &path)
{
  FILE *fp = fopen(path.c_str(), "rb");
  if (!fp)
    error->all(FLERR, "pair_coeff egraff: cannot open model file '{}': {}", path, utils::getsyserror());
  fclose(fp);

  if (device_request != DeviceRequest::CPU && torch::cuda::is_available() &&
      torch::cuda::device_count() > 0) {
    // one GPU per node-local rank, shared round-robin when there are more ranks than GPUs
    int local_rank = 0;
#ifndef MPI_STUBS    // a serial LAMMPS (src/STUBS/mpi.h) has one rank and no MPI_Comm_split_type
    MPI_Comm local;
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank);
    MPI_Comm_free(&local);
#endif
    device = torch::Device(torch::kCUDA, local_rank % (int) torch::cuda::device_count());
  } else if (device_request == DeviceRequest::CUDA) {
    error->all(FLERR, "pair_style egraff: device cuda requested, but the installed torch sees no CUDA GPU");
  } else {
    device = torch::kCPU;
  }

  torch::jit::ExtraFilesMap extra;
  for (const char *key : METADATA_KEYS) extra[key] = "";
  try {
    model = torch::jit::load(path, device, extra);
  } catch (const std::exception &e) {
    error->all(FLERR,
               "pair_coeff egraff: '{}' is not a loadable TorchScript model ({}); "
               "write one with `egraff export`",
               path, first_line(e.what()));
  }
  model.eval();

  if (extra["egraff_contract"].empty())
    error->all(FLERR,
               "pair_coeff egraff: '{}' is a TorchScript file but not an egraff deployed model "
               "(no 'egraff_contract' metadata); write it with `egraff export`",
               path);
  if (extra["egraff_contract"] != CONTRACT_VERSION)
    error->all(FLERR,
               "pair_coeff egraff: '{}' uses deployed-model contract version {}, this plugin "
               "reads version {}; re-export the model with this egraff version",
               path, extra["egraff_contract"], CONTRACT_VERSION);

  type_names = split_words(extra["type_names"]);
  if (type_names.empty())
    error->all(FLERR, "pair_coeff egraff: '{}' has no 'type_names' metadata", path);
  r_max = utils::numeric(FLERR, extra["r_max"].c_str(), false, lmp);
  if (!(r_max > 0.0)) error->all(FLERR, "pair_coeff egraff: '{}' has r_max = {} (must be > 0)", path, r_max);
  num_layers = utils::inumeric(FLERR, extra["num_layers"].c_str(), false, lmp);
  if (num_layers < 1)
    error->all(FLERR, "pair_coeff egraff: '{}' has num_layers = {} (must be >= 1)", path, num_layers);
  model_dtype = extra["model_dtype"];

  pair_cutoffs.clear();
  const auto cut_words = split_words(extra["pair_cutoffs"]);
  if (!cut_words.empty()) {
    const size_t nt = type_names.size();
    if (cut_words.size() != nt * nt)
      error->all(FLERR, "pair_coeff egraff: '{}' has {} pair_cutoffs, expected {} x {} = {}", path,
                 cut_words.size(), nt, nt, nt * nt);
    for (const auto &w : cut_words) {
      const double c = utils::numeric(FLERR, w.c_str(), false, lmp);
      if (c < 0.0 || c > r_max)
        error->all(FLERR, "pair_coeff egraff: '{}' has a pair cutoff {} outside [0, r_max = {}]", path, c, r_max);
      pair_cutoffs.push_back(c);
    }
  }
  model_path = path;
  model_loaded = true;
}

/* pair_coeff * * model.pt El1 El2 ... ElN   (one name per LAMMPS atom type; NULL = not mapped) */

void PairEGraFF::coeff(int narg, char **arg)
{
  const int ntypes = atom->ntypes;
  if (narg < 3 || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff egraff: expected 'pair_coeff * * model.pt El1 ... El{}'", ntypes);
  if (narg != 3 + ntypes)
    error->all(FLERR,
               "pair_coeff egraff: got {} element names for {} atom types; give one name per "
               "LAMMPS atom type in order (or NULL for a type no atom uses): "
               "pair_coeff * * model.pt El1 ... El{}",
               narg - 3, ntypes, ntypes);
  if (!allocated) allocate();

  load_model(arg[2]);

  const std::string known = egraff_compat::join_words(type_names);
  type_map.assign(ntypes + 1, -1);
  for (int itype = 1; itype <= ntypes; itype++) {
    const std::string name = arg[2 + itype];
    if (name == "NULL") continue;
    int found = -1;
    for (size_t k = 0; k < type_names.size(); k++)
      if (type_names[k] == name) found = (int) k;
    if (found < 0)
      error->all(FLERR,
                 "pair_coeff egraff: element '{}' (atom type {}) is not in model '{}', which knows: {}",
                 name, itype, model_path, known);
    type_map[itype] = found;
  }

  const int nt = (int) type_names.size();
  for (int i = 1; i <= ntypes; i++)
    for (int j = 1; j <= ntypes; j++) {
      setflag[i][j] = 1;
      double cut = 0.0;
      if (type_map[i] >= 0 && type_map[j] >= 0)
        cut = pair_cutoffs.empty() ? r_max : pair_cutoffs[type_map[i] * nt + type_map[j]];
      cut_edge_sq[i][j] = cut * cut;
    }
}

void PairEGraFF::init_style()
{
  if (!model_loaded) error->all(FLERR, "pair_style egraff: no model loaded; use pair_coeff * * model.pt El1 ...");
  if (atom->tag_enable == 0) error->all(FLERR, "pair_style egraff requires atom IDs (atom_modify id yes)");
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style egraff requires 'units metal' (egraff models use eV and Angstrom), not '{}'",
               update->unit_style);

  // a type mapped to NULL is only allowed when no atom has it
  std::vector<bigint> count_local(atom->ntypes + 1, 0), count(atom->ntypes + 1, 0);
  for (int i = 0; i < atom->nlocal; i++) count_local[atom->type[i]]++;
  MPI_Allreduce(count_local.data(), count.data(), atom->ntypes + 1, MPI_LMP_BIGINT, MPI_SUM, world);
  for (int itype = 1; itype <= atom->ntypes; itype++)
    if (type_map[itype] < 0 && count[itype] > 0)
      error->all(FLERR,
                 "pair_coeff egraff: atom type {} is mapped to NULL but {} atoms have it; give its "
                 "element name in pair_coeff",
                 itype, count[itype]);

  const int nprocs = comm->nprocs;
  const bool newton = force->newton_pair != 0;
  mode = mode_request;
  if (mode == Mode::AUTO) {
    if (num_layers == 1 && newton) mode = Mode::GHOST;
    else if (nprocs == 1) mode = Mode::MAP;
    else if (newton) mode = Mode::GHOSTMP;
    else
      error->all(FLERR,
                 "pair_style egraff on {} MPI ranks requires 'newton on' (ghost-atom forces are "
                 "reverse-communicated); remove 'newton off'",
                 nprocs);
  }
  if (mode == Mode::MAP && nprocs > 1)
    error->all(FLERR,
               "pair_style egraff mode map works on 1 MPI rank only ({} ranks here); use mode "
               "ghostmp (or auto), or run on 1 rank",
               nprocs);
  if (mode == Mode::GHOST && num_layers > 1)
    error->all(FLERR,
               "pair_style egraff mode ghost is exact only for strictly local models, and '{}' has "
               "num_layers = {}; use mode ghostmp or map (or auto)",
               model_path, num_layers);
  if ((mode == Mode::GHOST || mode == Mode::GHOSTMP) && !newton)
    error->all(FLERR,
               "pair_style egraff mode {} requires 'newton on' (ghost-atom forces are "
               "reverse-communicated); remove 'newton off' or use mode map on 1 rank",
               mode_name(mode));

  // torch runs on its own OpenMP runtime (see egraff_plugin.cpp): give it LAMMPS's thread count
  // (OMP_NUM_THREADS, -pk omp N) unless `threads N` asks for another
  at::set_num_threads(num_threads > 0 ? num_threads : comm->nthreads);

  ghostneigh = 0;
  if (mode == Mode::GHOSTMP) {
    ghostneigh = 1;
    // ghosts must cover the receptive field so every local atom sees a complete graph
    double cutmax = 0.0;
    for (int i = 1; i <= atom->ntypes; i++)
      for (int j = 1; j <= atom->ntypes; j++) cutmax = std::max(cutmax, std::sqrt(cut_edge_sq[i][j]));
    comm->cutghostuser = std::max(comm->cutghostuser, num_layers * cutmax + neighbor->skin);
  }
  egraff_compat::request_full_list(this, instance_me, neighbor, error, mode == Mode::GHOSTMP);

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "pair egraff: model {} ({} elements: {}), r_max {}, num_layers {}, dtype {}, "
                   "mode {}, device {}, torch threads {}\n",
                   model_path, type_names.size(), egraff_compat::join_words(type_names), r_max, num_layers,
                   model_dtype, mode_name(mode), device.str(), at::get_num_threads());
}

double PairEGraFF::init_one(int i, int j)
{
  const double cut = std::sqrt(std::max(cut_edge_sq[i][j], cut_edge_sq[j][i]));
  cutghost[i][j] = cutghost[j][i] = cut;
  return cut;
}

/* Owner (local index) of atom j: itself if local, else the local copy with the same tag.
   Only used in map mode, which runs on one rank, where every tag has a local copy. */

int PairEGraFF::owner_of(int j)
{
  if (j < atom->nlocal) return j;
  int owner = -1;
  if (atom->map_style != Atom::MAP_NONE) {
    owner = atom->map(atom->tag[j]);
  } else {
    auto it = tag_to_local.find(atom->tag[j]);
    if (it != tag_to_local.end()) owner = it->second;
  }
  if (owner < 0 || owner >= atom->nlocal)
    error->one(FLERR, "pair_style egraff mode map: ghost atom with ID {} has no local owner", atom->tag[j]);
  return owner;
}

void PairEGraFF::build_graph(int num_nodes)
{
  double **x = atom->x;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;

  node_types.resize(num_nodes);
  for (int n = 0; n < num_nodes; n++) {
    const int t = type_map[type[n]];
    if (t < 0)
      error->one(FLERR, "pair_style egraff: atom {} has type {}, which pair_coeff maps to NULL",
                 atom->tag[n], type[n]);
    node_types[n] = t;
  }

  if (mode == Mode::MAP && atom->map_style == Atom::MAP_NONE) {
    tag_to_local.clear();
    tag_to_local.reserve(nlocal);
    for (int i = 0; i < nlocal; i++) tag_to_local[atom->tag[i]] = i;
  }

  const int ncentres = (mode == Mode::GHOSTMP) ? list->inum + list->gnum : list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;

  // Size the buffers once for every candidate in the list (it includes the skin), then write
  // through raw pointers: edge_index row 0 (centres) is filled in place, row 1 (neighbours) goes to
  // edge_dst and is appended with one memcpy when the edge count is known.
  size_t candidates = 0;
  for (int ii = 0; ii < ncentres; ii++) candidates += numneigh[ilist[ii]];
  if (edge_dst.size() < candidates) {
    const size_t capacity = candidates + candidates / 8;
    edge_vec.resize(3 * capacity);
    edge_index.resize(2 * capacity);
    edge_dst.resize(capacity);
  }
  double *vec = edge_vec.data();
  int64_t *src = edge_index.data();
  int64_t *dst = edge_dst.data();
  const bool map_mode = (mode == Mode::MAP);

  int64_t e = 0;
  for (int ii = 0; ii < ncentres; ii++) {
    const int i = ilist[ii];
    const double *cut_i = cut_edge_sq[type[i]];
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    const int *jlist = firstneigh[i];
    const int jnum = numneigh[i];
    for (int jj = 0; jj < jnum; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
      // branch-free: always write slot e, keep it only if inside the cutoff (about half the
      // candidates are in the skin, so a branch here is mispredicted often)
      vec[3 * e] = dx;
      vec[3 * e + 1] = dy;
      vec[3 * e + 2] = dz;
      src[e] = i;
      // the node index of the neighbour is also the LAMMPS index that receives its force
      dst[e] = (map_mode && j >= nlocal) ? owner_of(j) : j;
      e += (dx * dx + dy * dy + dz * dz < cut_i[type[j]]);
    }
  }
  num_edges = e;
  std::memcpy(src + num_edges, dst, num_edges * sizeof(int64_t));
}

void PairEGraFF::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  const int nlocal = atom->nlocal;
  // A rank that owns no atoms has no energy to count, and E_local = 0 gives zero forces.
  if (nlocal == 0) return;

  const int num_nodes = (mode == Mode::MAP) ? nlocal : nlocal + atom->nghost;
  auto t0 = Clock::now();
  build_graph(num_nodes);
  t_graph += seconds_since(t0);

  t0 = Clock::now();
  torch::Tensor node_energy, edge_forces;
  try {
    auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
    auto i64 = torch::TensorOptions().dtype(torch::kInt64);
    std::vector<torch::jit::IValue> inputs{
        torch::from_blob(edge_vec.data(), {num_edges, 3}, f64).to(device),
        torch::from_blob(edge_index.data(), {2, num_edges}, i64).to(device),
        torch::from_blob(node_types.data(), {(int64_t) num_nodes}, i64).to(device),
        torch::scalar_tensor((int64_t) nlocal, i64).to(device)};
    auto out = model.forward(inputs).toTuple();
    node_energy = out->elements().at(0).toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    edge_forces = out->elements().at(1).toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
  } catch (const std::exception &e) {
    error->one(FLERR, "pair_style egraff: model '{}' failed at step {}: {}", model_path,
               update->ntimestep, first_line(e.what()));
  }
  t_model += seconds_since(t0);
  n_calls++;

  if (node_energy.dim() != 1 || node_energy.size(0) != num_nodes || edge_forces.dim() != 2 ||
      edge_forces.size(0) != num_edges || edge_forces.size(1) != 3)
    error->one(FLERR,
               "pair_style egraff: model '{}' returned shapes {} and {}, expected [{}] and [{}, 3]; "
               "it does not follow the egraff contract",
               model_path, shape_str(node_energy), shape_str(edge_forces),
               num_nodes, num_edges);

  t0 = Clock::now();
  const double *e_node = node_energy.data_ptr<double>();
  const double *g = edge_forces.data_ptr<double>();

  double e_local = 0.0;
  for (int i = 0; i < nlocal; i++) e_local += e_node[i];
  double g_sum = 0.0;
  for (int64_t k = 0; k < 3 * num_edges; k++) g_sum += g[k];
  if (!std::isfinite(e_local) || !std::isfinite(g_sum))
    error->one(FLERR,
               "pair_style egraff: model '{}' returned a non-finite energy or force at step {}; "
               "the simulation has left the model's domain (atoms too close or too hot?) or the "
               "model file is broken",
               model_path, update->ntimestep);

  if (eflag_global) eng_vdwl += e_local;
  if (eflag_atom)
    for (int i = 0; i < nlocal; i++) eatom[i] += e_node[i];

  double **f = atom->f;
  const int64_t *edge_src = edge_index.data();
  const int64_t *edge_dst = edge_src + num_edges;
  double v[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  for (int64_t k = 0; k < num_edges; k++) {
    const int i = (int) edge_src[k];
    const int j = (int) edge_dst[k];
    const double *gk = g + 3 * k;
    // r_ij = x_j - x_i, so F_i = +dE/dr_ij and F_j = -dE/dr_ij
    f[i][0] += gk[0];
    f[i][1] += gk[1];
    f[i][2] += gk[2];
    f[j][0] -= gk[0];
    f[j][1] -= gk[1];
    f[j][2] -= gk[2];
    if (vflag_either) {
      // W = sum over edges of x_i F_i + x_j F_j = -r_ij (x) dE/dr_ij, symmetrised
      const double *r = &edge_vec[3 * k];
      const double ve[6] = {-r[0] * gk[0],
                            -r[1] * gk[1],
                            -r[2] * gk[2],
                            -0.5 * (r[0] * gk[1] + r[1] * gk[0]),
                            -0.5 * (r[0] * gk[2] + r[2] * gk[0]),
                            -0.5 * (r[1] * gk[2] + r[2] * gk[1])};
      for (int c = 0; c < 6; c++) v[c] += ve[c];
      if (vflag_atom) {
        // each edge's virial is shared equally by its two atoms, so the per-atom virials sum
        // to the global one (ghost shares are reverse-communicated with newton on)
        for (int c = 0; c < 6; c++) {
          vatom[i][c] += 0.5 * ve[c];
          vatom[j][c] += 0.5 * ve[c];
        }
      }
    }
  }
  if (vflag_global)
    for (int c = 0; c < 6; c++) virial[c] += v[c];
  t_scatter += seconds_since(t0);
}

#if EGRAFF_HAS_PAIR_FINISH
void PairEGraFF::finish()
{
  if (!report_timing || n_calls == 0) return;
  double local[4] = {t_graph, t_model, t_scatter, (double) n_calls}, total[4];
  MPI_Allreduce(local, total, 4, MPI_DOUBLE, MPI_SUM, world);
  if (comm->me == 0) {
    const double per = 1000.0 / total[3];
    utils::logmesg(lmp,
                   "pair egraff timing: calls {:.0f} graph {:.6f} ms/call model {:.6f} ms/call "
                   "scatter {:.6f} ms/call (summed over {} ranks)\n",
                   total[3], total[0] * per, total[1] * per, total[2] * per, comm->nprocs);
  }
  t_graph = t_model = t_scatter = 0.0;
  n_calls = 0;
}
#endif
