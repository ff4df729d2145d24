/* Registers pair_style egraff with a running LAMMPS; called by the loader egraffplugin.so
   (egraff_plugin.cpp) once it has checked the LAMMPS version. */

#include "lammpsplugin_abi.h"
#include "pair_egraff.h"

using namespace LAMMPS_NS;

extern "C" void egraff_register_styles(void *lmp, void *handle, void *regfunc);

static void *egraff_pair_creator(void *lmp)
{
  return new PairEGraFF(static_cast<LAMMPS *>(lmp));
}

void egraff_register_styles(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  // the loader has checked that this is the LAMMPS we were compiled for
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.style = "pair";
  plugin.name = "egraff";
  plugin.info = "egraff deployed equivariant GNN potentials (contract v1)";
  plugin.author = "egraff developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &egraff_pair_creator;
  plugin.handle = handle;
  (*(lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}
