/* pair_style egraff — see pair_egraff.h for the contract and the graph modes. */

#include "pair_egraff.h"

#include "egraff_contract.h"
#include "egraff_runtime_client.h"

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

#include <mpi.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

using namespace LAMMPS_NS;

namespace {

// ghostmp: warn above this many ghost atoms per local atom (most of the model's work is then
// spent on copies); refuse above ghost_limit (pair_style keyword, default in the header)
constexpr double GHOST_WARNING = 10.0;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0)
{
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<std::string> split_words(const std::string &s)
{
  std::istringstream in(s);
  std::vector<std::string> words;
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

// the whole text (blanks around it allowed) is one finite number
bool parse_real(const std::string &text, double &value)
{
  const char *begin = text.c_str();
  char *end = nullptr;
  errno = 0;
  value = std::strtod(begin, &end);
  if (end == begin || errno == ERANGE) return false;
  while (std::isspace((unsigned char) *end)) end++;
  return *end == '\0' && std::isfinite(value);
}

bool parse_int(const std::string &text, long &value)
{
  const char *begin = text.c_str();
  char *end = nullptr;
  errno = 0;
  value = std::strtol(begin, &end, 10);
  if (end == begin || errno == ERANGE) return false;
  while (std::isspace((unsigned char) *end)) end++;
  return *end == '\0';
}

/* The virial of one edge, W = sum over its atoms of x F = -r_ij (x) dE/dr_ij, symmetrised, in
   LAMMPS's order xx yy zz xy xz yz. */
inline void edge_virial(const double *r, const double *g, double ve[6])
{
  ve[0] = -r[0] * g[0];
  ve[1] = -r[1] * g[1];
  ve[2] = -r[2] * g[2];
  ve[3] = -0.5 * (r[0] * g[1] + r[1] * g[0]);
  ve[4] = -0.5 * (r[0] * g[2] + r[2] * g[0]);
  ve[5] = -0.5 * (r[1] * g[2] + r[2] * g[1]);
}

// The committee's global deviations, in the order of pvector (compute pair egraff: c_ID[1..10]).
// _f: per-atom force deviation, _v: deviation of the virial per atom (9 components), devi_e:
// deviation of the energy per atom (as DeePMD-kit's `dp model-devi`), _ae: per-atom energy deviation.
constexpr int NUM_DEVIATIONS = 10;
enum Deviation { MAX_F, MIN_F, AVG_F, MAX_V, MIN_V, AVG_V, DEVI_E, MAX_AE, MIN_AE, AVG_AE };

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
  close_deviation_file();
  delete[] pvector;
  memory->destroy(member_f);
  memory->destroy(devi_f_atom);
  memory->destroy(devi_e_atom);
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

/* pair_style egraff [mode auto|map|ghost|ghostmp] [device auto|cpu|cuda] [threads N] [timing yes|no]
                     [ghost_limit X] [committee m1.pt m2.pt ... [every N] [drive first|mean]
                     [out_file F]] */

void PairEGraFF::settings(int narg, char **arg)
{
  const std::string usage =
      "expected: pair_style egraff [mode auto|map|ghost|ghostmp] [device auto|cpu|cuda] "
      "[threads N] [timing yes|no] [ghost_limit X] [committee m1.pt ... [every N] [drive first|mean] "
      "[out_file F]]";
  // a repeated pair_style command describes the committee afresh
  committee_paths.clear();
  committee_every = 1;
  drive = Drive::FIRST;
  close_deviation_file();
  devi_path.clear();
  std::string committee_option;    // a keyword that only a committee takes, if given
  int iarg = 0;
  while (iarg < narg) {
    const std::string key = arg[iarg];
    if (key == "committee") {
      iarg = parse_committee(iarg + 1, narg, arg);
      continue;
    }
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
      long n = 0;
      if (!parse_int(value, n) || n < 1 || n > 4096)
        error->all(FLERR, "pair_style egraff: threads must be a whole number >= 1, got '{}'", value);
      num_threads = (int) n;
    } else if (key == "timing") {
      if (value != "yes" && value != "no")
        error->all(FLERR, "pair_style egraff: timing must be yes or no, got '{}'", value);
      report_timing = value == "yes";
#if !EGRAFF_HAS_PAIR_FINISH
      if (report_timing)
        error->all(FLERR, "pair_style egraff: timing yes needs LAMMPS 2 Aug 2023 or newer (Pair::finish), "
                          "this is LAMMPS {}", EGRAFF_LAMMPS_NUM_VER);
#endif
    } else if (key == "ghost_limit") {
      if (!parse_real(value, ghost_limit) || ghost_limit <= 0.0)
        error->all(FLERR,
                   "pair_style egraff: ghost_limit must be a number > 0 (ghost atoms per local "
                   "atom), got '{}'",
                   value);
    } else if (key == "every") {
      long n = 0;
      if (!parse_int(value, n) || n < 1 || n > MAXSMALLINT)
        error->all(FLERR, "pair_style egraff: every must be a whole number of steps >= 1, got '{}'", value);
      committee_every = (int) n;
    } else if (key == "drive") {
      if (value == "first") drive = Drive::FIRST;
      else if (value == "mean") drive = Drive::MEAN;
      else
        error->all(FLERR,
                   "pair_style egraff: unknown drive '{}'; use first (the pair_coeff model moves the "
                   "atoms) or mean (the committee's mean does)",
                   value);
    } else if (key == "out_file") {
      devi_path = value;
    } else {
      error->all(FLERR, "pair_style egraff: unknown keyword '{}'; {}", key, usage);
    }
    if ((key == "every" || key == "drive" || key == "out_file") && committee_option.empty()) committee_option = key;
    iarg += 2;
  }
  if (committee_paths.empty() && !committee_option.empty())
    error->all(FLERR,
               "pair_style egraff: keyword '{}' is for a committee of models; add 'committee m1.pt "
               "...' (the further model files) or remove '{}'",
               committee_option, committee_option);
  if (!devi_path.empty()) check_deviation_path();
#if !EGRAFF_HAS_FIX_PAIR
  if (!committee_paths.empty() && comm->me == 0)
    utils::logmesg(lmp,
                   "pair_style egraff: this LAMMPS ({}) has no fix pair (LAMMPS 15 Sep 2022 or newer), "
                   "so the committee's per-atom deviations cannot be dumped; the global ones are in "
                   "compute pair egraff and out_file\n",
                   EGRAFF_LAMMPS_NUM_VER);
#endif

  // compute pair egraff reads the committee's global deviations from pvector (enum Deviation)
  delete[] pvector;
  pvector = nullptr;
  nextra = committee_paths.empty() ? 0 : NUM_DEVIATIONS;
  if (nextra) {
    pvector = new double[nextra];
    std::fill(pvector, pvector + nextra, 0.0);
  }
}

/* committee m1.pt m2.pt ...: the files up to the next keyword (or the end). Returns the index of
   the word after them. */

int PairEGraFF::parse_committee(int iarg, int narg, char **arg)
{
  static const std::set<std::string> keywords = {"mode",  "device", "threads",  "timing",   "ghost_limit",
                                                 "every", "drive",  "out_file", "committee"};
  if (!committee_paths.empty())
    error->all(FLERR, "pair_style egraff: keyword 'committee' given twice; list all its files after one 'committee'");
  while (iarg < narg && keywords.count(arg[iarg]) == 0) committee_paths.emplace_back(arg[iarg++]);
  if (committee_paths.empty())
    error->all(FLERR,
               "pair_style egraff: 'committee' needs at least one model file after it (the pair_coeff "
               "file is member 0, and a committee of one model has no deviation): pair_style egraff "
               "committee m1.pt ...");
  return iarg;
}

/* The model runtime, loaded once per process (egraff_runtime_client.h). */

void PairEGraFF::load_runtime()
{
  if (runtime) return;
  std::string why;
  runtime = egraff::load_runtime(why);
  if (!runtime)
    error->all(FLERR, "pair_style egraff: {}; reinstall egraff (make setup) or rebuild the plugin", why);
}

void PairEGraFF::select_device()
{
  const int gpus = runtime->cuda_device_count();
  if (device_request != DeviceRequest::CPU && gpus > 0) {
    // one GPU per node-local rank, shared round-robin when there are more ranks than GPUs
    int local_rank = 0;
#ifndef MPI_STUBS    // a serial LAMMPS (src/STUBS/mpi.h) has one rank and no MPI_Comm_split_type
    MPI_Comm local;
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank);
    MPI_Comm_free(&local);
#endif
    device = fmt::format("cuda:{}", local_rank % gpus);
  } else if (device_request == DeviceRequest::CUDA) {
    error->all(FLERR, "pair_style egraff: device cuda requested, but the installed torch sees no CUDA GPU");
  } else {
    device = "cpu";
  }
}

/* Reads a deployed file and its metadata; any failure is a LAMMPS error naming the file and what
   is wrong with it. */

PairEGraFF::DeployedModel PairEGraFF::load_model(const std::string &path)
{
  struct stat info;
  if (stat(path.c_str(), &info) != 0)
    error->all(FLERR, "pair_coeff egraff: cannot open model file '{}': {}", path, utils::getsyserror());
  if (S_ISDIR(info.st_mode))
    error->all(FLERR, "pair_coeff egraff: '{}' is a directory, not a model file; give the path of the deployed .pt file",
               path);
  FILE *fp = fopen(path.c_str(), "rb");
  if (!fp)
    error->all(FLERR, "pair_coeff egraff: cannot open model file '{}': {}", path, utils::getsyserror());
  fclose(fp);
  if (info.st_size == 0)
    error->all(FLERR, "pair_coeff egraff: model file '{}' is empty (0 bytes); write it again with `egraff export`",
               path);

  // the runtime checks the file's kind, its weights digest and the contract's forward
  char why[1024] = "";
  egraff_model *handle = runtime->open(path.c_str(), device.c_str(), why, sizeof(why));
  if (!handle) error->all(FLERR, "pair_coeff egraff: {}", why);
  DeployedModel m;
  m.path = path;
  m.handle = std::shared_ptr<egraff_model>(handle, runtime->close);
  m.format = runtime->format(handle);
  std::map<std::string, std::string> extra;
  for (const char *key : egraff::REQUIRED_KEYS) extra[key] = runtime->metadata(handle, key);
  for (const char *key : egraff::OPTIONAL_KEYS) extra[key] = runtime->metadata(handle, key);

  const std::string &version = extra["egraff_contract"];
  if (version != egraff::CONTRACT_VERSION)
    error->all(FLERR,
               "pair_coeff egraff: '{}' uses deployed-model contract version {}, this plugin "
               "reads version {}; re-export the model with this egraff version",
               path, version, egraff::CONTRACT_VERSION);
  std::vector<std::string> missing;
  for (const char *key : egraff::REQUIRED_KEYS)
    if (split_words(extra[key]).empty()) missing.push_back(key);
  if (!missing.empty())
    error->all(FLERR, "pair_coeff egraff: '{}' lacks the metadata {}; write it with `egraff export`", path,
               egraff_compat::join_words(missing, ", "));

  m.type_names = split_words(extra["type_names"]);
  const std::set<std::string> unique(m.type_names.begin(), m.type_names.end());
  if (unique.size() != m.type_names.size())
    error->all(FLERR, "pair_coeff egraff: '{}' names an element twice in its type_names '{}'", path,
               extra["type_names"]);
  if (!parse_real(extra["r_max"], m.r_max) || m.r_max <= 0.0)
    error->all(FLERR, "pair_coeff egraff: '{}' has metadata r_max = '{}', which is not a finite number > 0",
               path, extra["r_max"]);
  long layers = 0;
  if (!parse_int(extra["num_layers"], layers) || layers < 1 || layers > 1000)
    error->all(FLERR, "pair_coeff egraff: '{}' has metadata num_layers = '{}', which is not a whole number >= 1",
               path, extra["num_layers"]);
  m.num_layers = (int) layers;
  m.model_dtype = extra["model_dtype"];
  if (m.model_dtype != "float32" && m.model_dtype != "float64")
    error->all(FLERR, "pair_coeff egraff: '{}' has metadata model_dtype = '{}'; it must be float32 or float64",
               path, m.model_dtype);

  const auto cut_words = split_words(extra["pair_cutoffs"]);
  if (!cut_words.empty()) {
    const size_t nt = m.type_names.size();
    if (cut_words.size() != nt * nt)
      error->all(FLERR, "pair_coeff egraff: '{}' has {} pair_cutoffs, expected {} x {} = {}", path,
                 cut_words.size(), nt, nt, nt * nt);
    for (const auto &w : cut_words) {
      double c = 0.0;
      if (!parse_real(w, c) || c < 0.0 || c > m.r_max)
        error->all(FLERR, "pair_coeff egraff: '{}' has a pair cutoff '{}' outside [0, r_max = {}]", path, w,
                   m.r_max);
      m.pair_cutoffs.push_back(c);
    }
  }

  if (extra["weights_sha256"].empty() && comm->me == 0)
    error->warning(FLERR,
                   "pair_coeff egraff: '{}' carries no weights digest (written by another tool or an older "
                   "egraff), so damage to its weights cannot be detected",
                   path);
  return m;
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

  load_runtime();
  select_device();
  model = load_model(arg[2]);
  model_loaded = true;
  calls_since_load = 0;

  const std::string known = egraff_compat::join_words(model.type_names, " ");
  type_map.assign(ntypes + 1, -1);
  for (int itype = 1; itype <= ntypes; itype++) {
    const std::string name = arg[2 + itype];
    if (name == "NULL") continue;
    const auto found = std::find(model.type_names.begin(), model.type_names.end(), name);
    if (found == model.type_names.end())
      error->all(FLERR,
                 "pair_coeff egraff: element '{}' (atom type {}) is not in model '{}', which knows: {}",
                 name, itype, model.path, known);
    type_map[itype] = (int) (found - model.type_names.begin());
  }

  for (int i = 1; i <= ntypes; i++)
    for (int j = 1; j <= ntypes; j++) setflag[i][j] = 1;
  load_committee();    // the edge cutoffs, from every member (member 0 alone without a committee)
}

/* The edge cutoff of model m between LAMMPS types itype (centre) and jtype; 0 for a NULL type. */

double PairEGraFF::edge_cutoff(const DeployedModel &m, int itype, int jtype) const
{
  if (type_map[itype] < 0 || type_map[jtype] < 0) return 0.0;
  const size_t nt = m.type_names.size();
  return m.pair_cutoffs.empty() ? m.r_max : m.pair_cutoffs[type_map[itype] * nt + type_map[jtype]];
}

/* The model must see every neighbour within the cutoff; LAMMPS leaves pairs out of the neighbour
   list for special bonds (weights 0), marks them (weights between 0 and 1: the model cannot scale
   them), and drops them for `neigh_modify exclude` and `include`. No request flag turns these off,
   so such settings are refused. */

void PairEGraFF::check_complete_neighbor_list()
{
  const double *lj = force->special_lj, *coul = force->special_coul;
  const bool all_one = lj[1] == 1.0 && lj[2] == 1.0 && lj[3] == 1.0 && coul[1] == 1.0 && coul[2] == 1.0 &&
      coul[3] == 1.0;
  if (atom->molecular != Atom::ATOMIC && atom->nbonds > 0 && !all_one)
    error->all(FLERR,
               "pair_style egraff needs every pair within the cutoff, but special_bonds lj {} {} {} "
               "coul {} {} {} removes or scales bonded pairs; add 'special_bonds lj/coul 1.0 1.0 1.0' "
               "(the model treats bonded atoms itself)",
               lj[1], lj[2], lj[3], coul[1], coul[2], coul[3]);
  // (neighbor->exclude is only set in Neighbor::init(), which runs after this)
  if (neighbor->nex_type || neighbor->nex_group || neighbor->nex_mol)
    error->all(FLERR,
               "pair_style egraff needs every pair within the cutoff, but 'neigh_modify exclude' "
               "removes pairs from the neighbour list; remove it ('neigh_modify exclude none')");
  if (neighbor->includegroup)
    error->all(FLERR,
               "pair_style egraff needs every pair within the cutoff, but 'neigh_modify include' "
               "limits the neighbour list to one group; remove it ('neigh_modify include all')");
}

/* ghostmp evaluates the model on every ghost atom. Estimate how many there are per local atom from
   the geometry alone (before LAMMPS creates them): the ghost shell adds `ghost_cutoff` on both
   sides of each subdomain along each periodic direction (perpendicular widths, so triclinic boxes
   count right) and, along a non-periodic one, only at inner subdomain boundaries. */

void PairEGraFF::check_ghost_shell(double ghost_cutoff, int num_layers, double cutmax)
{
  const double *h = domain->h;    // xprd, yprd, zprd, yz, xz, xy
  const double volume = h[0] * h[1] * h[2];
  const double bc = std::sqrt(h[1] * h[2] * h[1] * h[2] + h[5] * h[2] * h[5] * h[2] +
                              (h[5] * h[3] - h[1] * h[4]) * (h[5] * h[3] - h[1] * h[4]));
  const double width[3] = {volume / bc, h[1] * h[2] / std::sqrt(h[2] * h[2] + h[3] * h[3]), h[2]};
  double sub[3], factor = 1.0;
  for (int d = 0; d < 3; d++) {
    const int p = std::max(1, comm->procgrid[d]);
    sub[d] = width[d] / p;
    if (domain->periodicity[d]) factor *= 1.0 + 2.0 * ghost_cutoff / sub[d];
    else factor *= 1.0 + std::min(2.0 * ghost_cutoff * (p - 1) / (p * sub[d]), double(p - 1));
  }
  const double ghosts_per_atom = factor - 1.0;
  if (ghosts_per_atom <= GHOST_WARNING) return;

  const std::string what = fmt::format(
      "pair_style egraff mode ghostmp: the ghost shell is {:.4g} Angstrom wide (num_layers {} x "
      "cutoff {:.4g} + skin {:.4g}) around subdomains {:.4g} x {:.4g} x {:.4g} Angstrom wide, so "
      "the model evaluates about {:.0f} ghost atoms per local atom at every step",
      ghost_cutoff, num_layers, cutmax, neighbor->skin, sub[0], sub[1], sub[2], ghosts_per_atom);
  const std::string fix = num_layers == 1
      ? "use mode ghost or auto (the model is strictly local)"
      : "use mode map on 1 MPI rank, fewer MPI ranks or a larger box";
  if (ghosts_per_atom > ghost_limit)
    error->all(FLERR, "{}, more than ghost_limit {:g}; {}, or raise the limit with 'pair_style egraff ghost_limit N'",
               what, ghost_limit, fix);
  if (comm->me == 0) error->warning(FLERR, "{}; {}", what, fix);
}

void PairEGraFF::init_style()
{
  if (!model_loaded) error->all(FLERR, "pair_style egraff: no model loaded; use pair_coeff * * model.pt El1 ...");
  // pair_style repeated after pair_coeff with another committee
  if (committee_paths != committee_loaded) load_committee();
  if (atom->tag_enable == 0) error->all(FLERR, "pair_style egraff requires atom IDs (atom_modify id yes)");
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style egraff requires 'units metal' (egraff models use eV and Angstrom), not '{}'",
               update->unit_style);
  check_complete_neighbor_list();

  // a type mapped to NULL is only allowed when no atom has it
  std::vector<bigint> count_local(atom->ntypes + 1, 0), count(atom->ntypes + 1, 0);
  for (int i = 0; i < atom->nlocal; i++) count_local[atom->type[i]]++;
  MPI_Allreduce(count_local.data(), count.data(), atom->ntypes + 1, MPI_LMP_BIGINT, MPI_SUM, world);
  for (int itype = 1; itype <= atom->ntypes; itype++)
    if (type_map[itype] < 0 && count[itype] > 0)
      error->all(FLERR,
                 "pair_coeff egraff: atom type {} is mapped to NULL but {} atoms have it; give its "
                 "element name in pair_coeff (the model must see every atom: with other pair styles "
                 "use pair_style hybrid/overlay and egraff on all types)",
                 itype, count[itype]);

  const int nprocs = comm->nprocs;
  const bool newton = force->newton_pair != 0;
  mode = mode_request;
  if (mode == Mode::AUTO) {
    if (max_num_layers() == 1 && newton) mode = Mode::GHOST;
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
  for (int k = 0; k < committee_size(); k++)
    if (mode == Mode::GHOST && member(k).num_layers > 1)
      error->all(FLERR,
                 "pair_style egraff mode ghost is exact only for strictly local models, and '{}' has "
                 "num_layers = {}; use mode ghostmp or map (or auto)",
                 member(k).path, member(k).num_layers);
  if ((mode == Mode::GHOST || mode == Mode::GHOSTMP) && !newton)
    error->all(FLERR,
               "pair_style egraff mode {} requires 'newton on' (ghost-atom forces are "
               "reverse-communicated); remove 'newton off' or use mode map on 1 rank",
               mode_name(mode));

  // torch runs on its own OpenMP runtime (see egraff_runtime_client.h): give it LAMMPS's thread
  // count (OMP_NUM_THREADS, -pk omp N) unless `threads N` asks for another
  const int torch_threads = runtime->set_num_threads(num_threads > 0 ? num_threads : comm->nthreads);

  ghostneigh = 0;
  if (mode == Mode::GHOSTMP) {
    ghostneigh = 1;
    // ghosts must cover the receptive field (of every committee member) so every local atom sees
    // a complete graph
    int widest = 0;
    double widest_cut = 0.0;
    for (int k = 0; k < committee_size(); k++) {
      const auto &cut_sq = member_cut_sq[k];
      const double cutmax = std::sqrt(*std::max_element(cut_sq.begin(), cut_sq.end()));
      if (member(k).num_layers * cutmax > member(widest).num_layers * widest_cut) {
        widest = k;
        widest_cut = cutmax;
      }
    }
    const int layers = member(widest).num_layers;
    comm->cutghostuser = std::max(comm->cutghostuser, layers * widest_cut + neighbor->skin);
    check_ghost_shell(comm->cutghostuser, layers, widest_cut);
  }
  egraff_compat::request_full_list(this, instance_me, neighbor, error, mode == Mode::GHOSTMP);

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "pair egraff: model {} ({} elements: {}), r_max {}, num_layers {}, dtype {}, "
                   "{}, mode {}, device {}, torch threads {}\n",
                   model.path, model.type_names.size(), egraff_compat::join_words(model.type_names, " "),
                   model.r_max, model.num_layers, model.model_dtype, model.format, mode_name(mode), device,
                   torch_threads);
  init_committee();
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

/* Nodes and edges of the current configuration from the neighbour list (the "preprocess" step). */

void PairEGraFF::build_graph()
{
  double **x = atom->x;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  num_nodes = (mode == Mode::MAP) ? nlocal : nlocal + atom->nghost;

  // an atom with a non-finite coordinate would silently have no edges at all
  for (int i = 0; i < nlocal; i++)
    if (!std::isfinite(x[i][0] + x[i][1] + x[i][2]))
      error->one(FLERR,
                 "pair_style egraff: atom {} has a non-finite position ({}, {}, {}) at step {}; the "
                 "simulation has blown up (time step too large, or overlapping atoms in the input)",
                 atom->tag[i], x[i][0], x[i][1], x[i][2], update->ntimestep);

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

/* One call of one model on a graph of num_nodes nodes and `edges` edges (the "call" step) into
   `out`; an error names the model file. The runtime checks the outputs' types and shapes against
   the contract; a non-finite energy or force is refused here. */

void PairEGraFF::evaluate(DeployedModel &m, int64_t edges, const double *vectors, const int64_t *index,
                          ModelOutput &out)
{
  out.node_energy.resize(num_nodes);
  out.edge_forces.resize(3 * edges);
  char why[1024] = "";
  const int status = runtime->evaluate(m.handle.get(), num_nodes, edges, atom->nlocal, vectors, index,
                                       node_types.data(), out.node_energy.data(), out.edge_forces.data(), why,
                                       sizeof(why));
  if (status == -1)
    error->one(FLERR, "pair_style egraff: model '{}' failed at step {}: {}", m.path, update->ntimestep, why);
  if (status != 0) error->one(FLERR, "pair_style egraff: model '{}' {}", m.path, why);

  double e_local = 0.0, g_sum = 0.0;
  for (int i = 0; i < atom->nlocal; i++) e_local += out.node_energy[i];
  for (int64_t k = 0; k < 3 * edges; k++) g_sum += out.edge_forces[k];
  if (!std::isfinite(e_local) || !std::isfinite(g_sum))
    error->one(FLERR,
               "pair_style egraff: model '{}' returned a non-finite energy or force at step {}; "
               "the simulation has left the model's domain (atoms too close or too hot?) or the "
               "model file is broken",
               m.path, update->ntimestep);
}

void PairEGraFF::tally_energy(const ModelOutput &out)
{
  const double *e_node = out.node_energy.data();
  const int nlocal = atom->nlocal;
  if (eflag_global)
    for (int i = 0; i < nlocal; i++) eng_vdwl += e_node[i];
  if (eflag_atom)
    for (int i = 0; i < nlocal; i++) eatom[i] += e_node[i];
}

void PairEGraFF::tally_forces_and_virial(const ModelOutput &out)
{
  double **f = atom->f;
  const double *g = out.edge_forces.data();
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
      double ve[6];
      edge_virial(&edge_vec[3 * k], gk, ve);
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
}

void PairEGraFF::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (!committee.empty()) {
    compute_committee();
    return;
  }
  // A rank that owns no atoms has no energy to count, and E_local = 0 gives zero forces.
  if (atom->nlocal == 0) return;

  auto t0 = Clock::now();
  build_graph();
  const double t_graph = seconds_since(t0);

  t0 = Clock::now();
  evaluate(model, num_edges, edge_vec.data(), edge_index.data(), output);
  const double t_model = seconds_since(t0);

  t0 = Clock::now();
  tally_energy(output);
  tally_forces_and_virial(output);
  record_call(t_graph, t_model, seconds_since(t0));
}

void PairEGraFF::record_call(double graph, double model_seconds, double scatter)
{
  Timing &t = calls_since_load < WARMUP_CALLS ? warmup : steady;
  if (calls_since_load == 0) first_call_model = model_seconds;
  t.graph += graph;
  t.model += model_seconds;
  t.scatter += scatter;
  t.calls++;
  calls_since_load++;
}

/* `timing yes`: every rank joins the reduction, also one that owned no atoms and never called the
   model (returning early there would leave the others waiting forever). */

#if EGRAFF_HAS_PAIR_FINISH
void PairEGraFF::finish()
{
  if (!report_timing) return;
  // steady state, warm-up, first call's model time (the largest of any rank)
  double local[8] = {steady.graph, steady.model, steady.scatter, (double) steady.calls,
                     warmup.graph, warmup.model, warmup.scatter, (double) warmup.calls};
  double total[8], first = warmup.calls > 0 ? first_call_model : 0.0, first_max = 0.0;
  MPI_Allreduce(local, total, 8, MPI_DOUBLE, MPI_SUM, world);
  MPI_Allreduce(&first, &first_max, 1, MPI_DOUBLE, MPI_MAX, world);
  // sums: graph, model, scatter seconds and the number of calls
  const auto report = [&](const char *label, const double *sums, const std::string &note) {
    if (comm->me != 0 || sums[3] <= 0) return;
    const double per = 1000.0 / sums[3];
    utils::logmesg(lmp,
                   "pair egraff {}: calls {:.0f} graph {:.6f} ms/call model {:.6f} ms/call scatter {:.6f} "
                   "ms/call {}\n",
                   label, sums[3], sums[0] * per, sums[1] * per, sums[2] * per, note);
  };
  report("timing", total,
         fmt::format("(summed over {} ranks; steady state, without the first {} calls after pair_coeff)",
                     comm->nprocs, WARMUP_CALLS));
  report("warm-up", total + 4,
         fmt::format("first model call {:.6f} ms (the first {} calls after pair_coeff, summed over {} ranks)",
                     first_max * 1000.0, WARMUP_CALLS, comm->nprocs));
  steady = Timing();
  warmup = Timing();
}
#endif

/* ------------------------------------------------------------------------------------------------
   Committee of models: pair_style egraff committee m1.pt ... [every N] [drive first|mean]
   [out_file F] (pair_egraff.h, README.md)
------------------------------------------------------------------------------------------------ */

namespace {

// the file's canonical name when it exists, so that one file cannot join a committee twice
std::string canonical_path(const std::string &path)
{
  char *resolved = realpath(path.c_str(), nullptr);
  if (!resolved) return path;
  std::string canonical(resolved);
  free(resolved);
  return canonical;
}

// DeePMD-kit's model-deviation columns (`dp model-devi`: its LAMMPS pair style writes the first 7)
constexpr Deviation FILE_COLUMNS[] = {MAX_V, MIN_V, AVG_V, MAX_F, MIN_F, AVG_F, DEVI_E};
constexpr const char *FILE_HEADER[] = {"max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f",
                                       "min_devi_f", "avg_devi_f", "devi_e"};

// the population standard deviation of x[0..K-1], one value per committee member
double population_std(const std::vector<double> &x)
{
  const double K = (double) x.size();
  double mean = 0.0, var = 0.0;
  for (const double v : x) mean += v / K;
  for (const double v : x) var += (v - mean) * (v - mean);
  return std::sqrt(var / K);
}

}    // namespace

/* Members 1..K-1, if any (from coeff(), or init_style() after a repeated pair_style): each must be
   a different file for the elements of member 0. Then the edge cutoffs of each member and of the
   graph, which takes the largest of any member for each type pair; a member whose own cutoff is
   smaller somewhere sees only its edges. */

void PairEGraFF::load_committee()
{
  committee.clear();
  committee_loaded.clear();
  std::set<std::string> files = {canonical_path(model.path)};
  for (const auto &path : committee_paths) {
    if (!files.insert(canonical_path(path)).second)
      error->all(FLERR,
                 "pair_style egraff committee: '{}' is given twice (in the committee or as the "
                 "pair_coeff model); every member must be a different model file",
                 path);
    committee.push_back(load_model(path));
    const auto &m = committee.back();
    if (m.type_names != model.type_names)
      error->all(FLERR,
                 "pair_style egraff committee: '{}' is for the elements '{}', but the pair_coeff model "
                 "'{}' is for '{}'; every committee member must have the same type_names in the same order",
                 path, egraff_compat::join_words(m.type_names, " "), model.path,
                 egraff_compat::join_words(model.type_names, " "));
  }
  committee_loaded = committee_paths;

  const int n = atom->ntypes + 1;
  member_cut_sq.assign(committee_size(), std::vector<double>(n * n, 0.0));
  member_subgraph.assign(committee_size(), false);
  for (int i = 1; i < n; i++)
    for (int j = 1; j < n; j++) {
      cut_edge_sq[i][j] = 0.0;
      for (int k = 0; k < committee_size(); k++) {
        const double cut = edge_cutoff(member(k), i, j);
        member_cut_sq[k][i * n + j] = cut * cut;
        cut_edge_sq[i][j] = std::max(cut_edge_sq[i][j], cut * cut);
      }
    }
  for (int k = 0; k < committee_size(); k++)
    for (int i = 1; i < n; i++)
      for (int j = 1; j < n; j++)
        if (member_cut_sq[k][i * n + j] < cut_edge_sq[i][j]) member_subgraph[k] = true;
}

int PairEGraFF::max_num_layers()
{
  int layers = 0;
  for (int k = 0; k < committee_size(); k++) layers = std::max(layers, member(k).num_layers);
  return layers;
}

void PairEGraFF::init_committee()
{
  // each atom's force from each member, summed from ghosts onto owners
  comm_reverse = committee.empty() ? 0 : 3 * committee_size();
  if (committee.empty()) return;
  open_deviation_file();
  if (comm->me == 0) {
    std::vector<std::string> paths = {model.path};
    paths.insert(paths.end(), committee_paths.begin(), committee_paths.end());
    utils::logmesg(lmp,
                   "pair egraff: committee of {} models ({}), dynamics from {}, model deviation every "
                   "{} steps{}\n",
                   committee_size(), egraff_compat::join_words(paths, " "),
                   drive == Drive::MEAN ? "their mean" : "the first", committee_every,
                   devi_path.empty() ? std::string() : ", written to " + devi_path);
  }
}

/* out_file: refused at pair_style time when it cannot be written, before anything is run. */

void PairEGraFF::check_deviation_path()
{
  std::string problem;
  if (comm->me == 0) {
    const auto slash = devi_path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : devi_path.substr(0, slash));
    struct stat info;
    if (stat(dir.c_str(), &info) != 0) problem = fmt::format("its directory '{}' does not exist", dir);
    else if (!S_ISDIR(info.st_mode)) problem = fmt::format("'{}' is not a directory", dir);
    else if (access(dir.c_str(), W_OK | X_OK) != 0) problem = fmt::format("its directory '{}' is not writable", dir);
    else if (stat(devi_path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) problem = "it is a directory";
    else if (access(devi_path.c_str(), F_OK) == 0 && access(devi_path.c_str(), W_OK) != 0)
      problem = "it exists and is not writable";
  }
  int bad = problem.empty() ? 0 : 1;
  MPI_Bcast(&bad, 1, MPI_INT, 0, world);
  if (bad)
    error->all(FLERR,
               "pair_style egraff: cannot write the model-deviation file '{}': {}; give out_file a "
               "path in a writable directory",
               devi_path, problem);
}

/* Opened (and its header written) by rank 0 at the first run, then kept open: later runs append. */

void PairEGraFF::open_deviation_file()
{
  if (devi_path.empty() || devi_open) return;
  std::string problem;
  if (comm->me == 0) {
    devi_file = fopen(devi_path.c_str(), "w");
    if (!devi_file) {
      problem = utils::getsyserror();
    } else {
      std::string header = fmt::format("#{:>11}", "step");
      for (const char *name : FILE_HEADER) header += fmt::format(" {:>23}", name);
      fputs((header + "\n").c_str(), devi_file);
      fflush(devi_file);
    }
  }
  int bad = problem.empty() ? 0 : 1;
  MPI_Bcast(&bad, 1, MPI_INT, 0, world);
  if (bad)
    error->all(FLERR, "pair_style egraff: cannot open the model-deviation file '{}': {}; give out_file a writable path",
               devi_path, problem);
  devi_open = true;
  devi_row_step = -1;
}

void PairEGraFF::close_deviation_file()
{
  if (devi_file) fclose(devi_file);
  devi_file = nullptr;
  devi_open = false;
}

/* One step with a committee: member 0 (or all, when their mean drives or the deviation is due)
   on the graph; the driving forces tallied; the deviation on every `every`-th step. */

void PairEGraFF::compute_committee()
{
  const int K = committee_size();
  const bool deviation_due = update->ntimestep % committee_every == 0;
  const int evaluated = atom->nlocal == 0 ? 0 : (drive == Drive::MEAN || deviation_due) ? K : 1;
  member_outputs.resize(K);
  if (evaluated > 0) {
    auto t0 = Clock::now();
    build_graph();
    const double t_graph = seconds_since(t0);

    t0 = Clock::now();
    for (int k = 0; k < evaluated; k++) evaluate_member(k, member_outputs[k]);
    const double t_model = seconds_since(t0);

    t0 = Clock::now();
    if (drive == Drive::MEAN) {
      mean_output = member_outputs[0];
      for (int k = 1; k < K; k++) {
        for (size_t i = 0; i < mean_output.node_energy.size(); i++)
          mean_output.node_energy[i] += member_outputs[k].node_energy[i];
        for (size_t c = 0; c < mean_output.edge_forces.size(); c++)
          mean_output.edge_forces[c] += member_outputs[k].edge_forces[c];
      }
      for (double &e : mean_output.node_energy) e /= K;
      for (double &g : mean_output.edge_forces) g /= K;
      tally_energy(mean_output);
      tally_forces_and_virial(mean_output);
    } else {
      tally_energy(member_outputs[0]);
      tally_forces_and_virial(member_outputs[0]);
    }
    record_call(t_graph, t_model, seconds_since(t0));
  }
  // collective: every rank joins, also one that owns no atoms
  if (deviation_due) committee_deviation(evaluated);
}

/* Member k on the graph into `out`; a member with smaller cutoffs than the graph's is given only the
   edges inside its own, and its edge forces are returned on the whole graph (zero on the other edges). */

void PairEGraFF::evaluate_member(int k, ModelOutput &out)
{
  if (!member_subgraph[k]) {
    evaluate(member(k), num_edges, edge_vec.data(), edge_index.data(), out);
    return;
  }
  const int n = atom->ntypes + 1;
  const int *type = atom->type;
  const double *cut_sq = member_cut_sq[k].data();
  const int64_t *src = edge_index.data();
  const int64_t *dst = src + num_edges;
  sub_edges.clear();
  for (int64_t e = 0; e < num_edges; e++) {
    const double *r = &edge_vec[3 * e];
    if (r[0] * r[0] + r[1] * r[1] + r[2] * r[2] < cut_sq[type[src[e]] * n + type[dst[e]]]) sub_edges.push_back(e);
  }
  const int64_t edges = (int64_t) sub_edges.size();
  sub_vec.resize(3 * edges);
  sub_index.resize(2 * edges);
  for (int64_t s = 0; s < edges; s++) {
    const int64_t e = sub_edges[s];
    for (int c = 0; c < 3; c++) sub_vec[3 * s + c] = edge_vec[3 * e + c];
    sub_index[s] = src[e];
    sub_index[edges + s] = dst[e];
  }
  evaluate(member(k), edges, sub_vec.data(), sub_index.data(), sub_output);
  out.node_energy = sub_output.node_energy;
  out.edge_forces.assign(3 * num_edges, 0.0);
  for (int64_t s = 0; s < edges; s++)
    for (int c = 0; c < 3; c++) out.edge_forces[3 * sub_edges[s] + c] = sub_output.edge_forces[3 * s + c];
}

/* The model deviation of this step from the outputs of all K members (none on a rank without
   atoms): per-member atom forces (ghost contributions reverse-communicated to their owners) and
   virials, then sigma_F and sigma_E of each local atom, reduced over all ranks. */

void PairEGraFF::committee_deviation(int evaluated)
{
  const std::vector<ModelOutput> &outputs = member_outputs;
  const int K = committee_size();
  const int ncol = 3 * K;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  if (atom->nmax > member_nmax || (member_f && member_ncol != ncol)) {
    member_nmax = atom->nmax;
    member_ncol = ncol;
    memory->destroy(member_f);
    memory->create(member_f, member_nmax, ncol, "pair:member_f");
    memory->grow(devi_f_atom, member_nmax, "pair:devi_f_atom");
    memory->grow(devi_e_atom, member_nmax, "pair:devi_e_atom");
  }
  for (int i = 0; i < nall; i++)
    for (int c = 0; c < ncol; c++) member_f[i][c] = 0.0;

  // local sums: [0, 6K) virials, [6K, 7K) energies, then sigma_F and sigma_E of the atoms
  std::vector<double> sums(7 * K + 2, 0.0);
  const int64_t *src = edge_index.data();
  const int64_t *dst = src + num_edges;
  for (int k = 0; k < evaluated; k++) {
    const double *g = outputs[k].edge_forces.data();
    for (int64_t e = 0; e < num_edges; e++) {
      const double *ge = g + 3 * e;
      double *fi = member_f[src[e]] + 3 * k, *fj = member_f[dst[e]] + 3 * k;
      double ve[6];
      edge_virial(&edge_vec[3 * e], ge, ve);
      for (int c = 0; c < 3; c++) {
        fi[c] += ge[c];
        fj[c] -= ge[c];
      }
      for (int c = 0; c < 6; c++) sums[6 * k + c] += ve[c];
    }
    const double *e_node = outputs[k].node_energy.data();
    for (int i = 0; i < nlocal; i++) sums[6 * K + k] += e_node[i];
  }
  if (mode != Mode::MAP) egraff_compat::reverse_comm(comm, this);

  double local_max[2] = {0.0, 0.0}, local_min[2] = {INFINITY, INFINITY};
  std::vector<double> energy(K);
  for (int i = 0; i < nlocal; i++) {
    double mean[3] = {0.0, 0.0, 0.0}, var = 0.0;
    for (int k = 0; k < K; k++)
      for (int c = 0; c < 3; c++) mean[c] += member_f[i][3 * k + c] / K;
    for (int k = 0; k < K; k++)
      for (int c = 0; c < 3; c++) var += (member_f[i][3 * k + c] - mean[c]) * (member_f[i][3 * k + c] - mean[c]);
    devi_f_atom[i] = std::sqrt(var / K);
    for (int k = 0; k < K; k++) energy[k] = outputs[k].node_energy.data()[i];
    devi_e_atom[i] = population_std(energy);
    const double devi[2] = {devi_f_atom[i], devi_e_atom[i]};
    for (int q = 0; q < 2; q++) {
      local_max[q] = std::max(local_max[q], devi[q]);
      local_min[q] = std::min(local_min[q], devi[q]);
      sums[7 * K + q] += devi[q];
    }
  }
  double global_max[2], global_min[2];
  std::vector<double> total(sums.size());
  MPI_Allreduce(local_max, global_max, 2, MPI_DOUBLE, MPI_MAX, world);
  MPI_Allreduce(local_min, global_min, 2, MPI_DOUBLE, MPI_MIN, world);
  MPI_Allreduce(sums.data(), total.data(), (int) sums.size(), MPI_DOUBLE, MPI_SUM, world);
  const double natoms = std::max(1.0, (double) atom->natoms);

  double values[NUM_DEVIATIONS];
  values[MAX_F] = global_max[0];
  values[MIN_F] = global_min[0];
  values[AVG_F] = total[7 * K] / natoms;
  values[MAX_AE] = global_max[1];
  values[MIN_AE] = global_min[1];
  values[AVG_AE] = total[7 * K + 1] / natoms;
  // virial per atom of each member as a full 3x3 tensor (DeePMD-kit's 9 components)
  constexpr int VOIGT_OF[9] = {0, 3, 4, 3, 1, 5, 4, 5, 2};
  std::vector<double> component(K);
  double vmax = 0.0, vmin = INFINITY, vsq = 0.0;
  for (int c = 0; c < 9; c++) {
    for (int k = 0; k < K; k++) component[k] = total[6 * k + VOIGT_OF[c]] / natoms;
    const double s = population_std(component);
    vmax = std::max(vmax, s);
    vmin = std::min(vmin, s);
    vsq += s * s;
  }
  values[MAX_V] = vmax;
  values[MIN_V] = vmin;
  values[AVG_V] = std::sqrt(vsq / 9.0);
  for (int k = 0; k < K; k++) energy[k] = total[6 * K + k] / natoms;
  values[DEVI_E] = population_std(energy);

  // compute pair sums pvector over the ranks: rank 0 holds the values
  for (int q = 0; q < NUM_DEVIATIONS; q++) pvector[q] = comm->me == 0 ? values[q] : 0.0;
  devi_step = update->ntimestep;
  if (devi_file && devi_row_step != update->ntimestep) write_deviation_row(values);
}

void PairEGraFF::write_deviation_row(const double *values)
{
  std::string row = fmt::format("{:>12}", update->ntimestep);
  for (const Deviation column : FILE_COLUMNS) row += fmt::format(" {:>23.16e}", values[column]);
  fputs((row + "\n").c_str(), devi_file);
  fflush(devi_file);
  devi_row_step = update->ntimestep;
}

int PairEGraFF::pack_reverse_comm(int n, int first, double *buf)
{
  const int ncol = 3 * committee_size();
  int m = 0;
  for (int i = first; i < first + n; i++)
    for (int c = 0; c < ncol; c++) buf[m++] = member_f[i][c];
  return m;
}

void PairEGraFF::unpack_reverse_comm(int n, int *list, double *buf)
{
  const int ncol = 3 * committee_size();
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < ncol; c++) member_f[list[i]][c] += buf[m++];
}

#if EGRAFF_HAS_FIX_PAIR
/* fix pair: `devi_f` and `devi_e`, the committee's sigma_F and sigma_E of each atom at the last
   step the deviation was taken. A fix pair that samples any other step would copy values that
   belong to other atoms (atoms are reordered between steps), so it is refused. */

void *PairEGraFF::extract_peratom(const char *name, int &ncol)
{
  ncol = 0;
  const bool force_devi = strcmp(name, "devi_f") == 0;
  if (!force_devi && strcmp(name, "devi_e") != 0) return nullptr;
  if (committee_paths.empty())
    error->all(FLERR,
               "pair_style egraff has the per-atom model deviation '{}' only with a committee: "
               "pair_style egraff committee m1.pt ...",
               name);
  if (update->whichflag != 0 && devi_step != update->ntimestep)
    error->all(FLERR,
               "pair_style egraff: the per-atom model deviation '{}' is read at step {}, but the "
               "committee deviation is taken every {} steps; give fix pair an N that is a multiple of {}",
               name, update->ntimestep, committee_every, committee_every);
  return force_devi ? devi_f_atom : devi_e_atom;
}
#endif
