/* The few LAMMPS C++ APIs pair_style egraff uses that changed between the releases it supports
   (29 Sep 2021, Debian 12's liblammps, to the current stable release), behind version guards on
   EGRAFF_LAMMPS_NUM_VER, the numeric version CMakeLists.txt detects (LAMMPS's lmp->num_ver).

   Compiled into LAMMPS as a package (lammps_plugins/lammps_package.cmake sets it too) a current
   LAMMPS needs no definition. */

#ifndef EGRAFF_LAMMPS_COMPAT_H
#define EGRAFF_LAMMPS_COMPAT_H

#include "comm.h"
#include "error.h"
#include "lammps.h"
#include "neighbor.h"
#include "pair.h"
#include "utils.h"

#include <string>
#include <vector>

#ifndef EGRAFF_LAMMPS_NUM_VER
#define EGRAFF_LAMMPS_NUM_VER 99999999
#endif

// 24 Mar 2022: neighbor->add_request(requestor, NeighConst flags) replaced filling in a
// NeighRequest, whose header (neigh_request.h) installations such as Debian's do not ship.
#define EGRAFF_HAS_ADD_REQUEST (EGRAFF_LAMMPS_NUM_VER >= 20220324)
// Pair::finish(), called at the end of each run: not in 29 Sep 2021, in 2 Aug 2023 (the releases
// between are unchecked).
#define EGRAFF_HAS_PAIR_FINISH (EGRAFF_LAMMPS_NUM_VER >= 20230802)
// 24 Mar 2022 (lammps/lammps#3148): comm->reverse_comm(Pair *) replaced comm->reverse_comm_pair().
#define EGRAFF_HAS_COMM_OVERLOADS (EGRAFF_LAMMPS_NUM_VER >= 20220324)
// 15 Sep 2022 (lammps/lammps#3369): the `fix pair` command and Pair::extract_peratom(), through
// which it reads a pair style's per-atom values. Without them the committee's per-atom deviation
// has no way out of the pair style (its global values still do: compute pair, out_file).
#define EGRAFF_HAS_FIX_PAIR (EGRAFF_LAMMPS_NUM_VER >= 20220915)

namespace egraff_compat {

#if !EGRAFF_HAS_ADD_REQUEST
/* The leading members of LAMMPS_NS::NeighRequest up to `ghost`, in the order of the releases
   before 24 Mar 2022; request_full_list() checks the defaults LAMMPS set in them before writing. */
class NeighRequestHead : protected LAMMPS_NS::Pointers {
 public:
  int index;
  void *requestor;
  int requestor_instance;
  int id;
  int pair, fix, compute, command, neigh;
  int half, full;
  int occasional;
  int newton;
  int ghost;
};
#endif

/* A full neighbour list for `pair` (instance `instance`), with neighbours of ghost atoms too
   when `ghost` is set. */
inline void request_full_list(LAMMPS_NS::Pair *pair, int instance, LAMMPS_NS::Neighbor *neighbor,
                              LAMMPS_NS::Error *error, bool ghost)
{
#if EGRAFF_HAS_ADD_REQUEST
  (void) instance;
  (void) error;
  int flags = LAMMPS_NS::NeighConst::REQ_FULL;
  if (ghost) flags |= LAMMPS_NS::NeighConst::REQ_GHOST;
  neighbor->add_request(pair, flags);
#else
  const int irequest = neighbor->request(pair, instance);
  auto *request = reinterpret_cast<NeighRequestHead *>(neighbor->requests[irequest]);
  if (request->requestor != pair || request->pair != 1 || request->half != 1 || request->full != 0)
    error->all(FLERR,
               "pair_style egraff: this LAMMPS ({}) lays out its neighbour requests differently from "
               "29 Sep 2021; build egraff against a LAMMPS from 24 Mar 2022 or newer",
               EGRAFF_LAMMPS_NUM_VER);
  request->half = 0;
  request->full = 1;
  request->ghost = ghost ? 1 : 0;
#endif
}

/* Sums `pair`'s pack_reverse_comm() values of ghost atoms onto their owners. */
inline void reverse_comm(LAMMPS_NS::Comm *comm, LAMMPS_NS::Pair *pair)
{
#if EGRAFF_HAS_COMM_OVERLOADS
  comm->reverse_comm(pair);
#else
  comm->reverse_comm_pair(pair);
#endif
}

/* utils::join_words(), which 29 Sep 2021 lacks */
inline std::string join_words(const std::vector<std::string> &words, const std::string &sep)
{
  std::string joined;
  for (const auto &w : words) joined += (joined.empty() ? "" : sep) + w;
  return joined;
}

}    // namespace egraff_compat

#endif
