/* egraff-lmp: LAMMPS's own `lmp` (same command line, same liblammps, same MPI) that can load
   plugins, for LAMMPS libraries built without the PLUGIN package, such as Debian's liblammps0
   (29 Sep 2021), whose lmp knows no `plugin` command and ignores LAMMPS_PLUGIN_PATH.

   It does what LAMMPS's PLUGIN package does for pair styles: at start-up it loads every file
   named *plugin.so in the directories of LAMMPS_PLUGIN_PATH, and it adds the command
   `plugin load FILE` (and `plugin list`). A plugin registers its pair styles in the Force
   style map, so `clear`, which rebuilds Force, unloads them, as it did with the PLUGIN package
   of that LAMMPS release; load them again after `clear`.

   Linked to liblammps; built by CMakeLists.txt for LAMMPS_DIR builds without a plugin loader. */

#include "lammpsplugin_abi.h"

#include "comm.h"
#include "error.h"
#include "force.h"
#include "input.h"
#include "lammps.h"
#include "pointers.h"
#include "utils.h"

#include <mpi.h>

#include <dirent.h>
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

using namespace LAMMPS_NS;

namespace {

std::vector<std::string> loaded_styles;

void register_style(lammpsplugin_t *plugin, void *lmp_ptr)
{
  auto *lmp = static_cast<LAMMPS *>(lmp_ptr);
  if (strcmp(plugin->style, "pair") != 0)
    lmp->error->all(FLERR, "egraff-lmp loads pair styles only; plugin '{}' provides a {} style", plugin->name,
                    plugin->style);
  (*lmp->force->pair_map)[plugin->name] = reinterpret_cast<Force::PairCreator>(plugin->creator.v1);
  loaded_styles.push_back(std::string("pair style plugin ") + plugin->name);
}

void load_plugin(LAMMPS *lmp, const std::string &file)
{
  void *handle = dlopen(file.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) lmp->error->all(FLERR, "Open of plugin file {} failed: {}", file, dlerror());
  auto init = reinterpret_cast<lammpsplugin_initfunc>(dlsym(handle, "lammpsplugin_init"));
  if (init == nullptr) lmp->error->all(FLERR, "Plugin file {} has no lammpsplugin_init()", file);
  init(lmp, handle, reinterpret_cast<void *>(&register_style));
}

void autoload(LAMMPS *lmp)
{
  const char *path = getenv("LAMMPS_PLUGIN_PATH");
  if (path == nullptr) return;
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    DIR *d = opendir(dir.c_str());
    if (d == nullptr) continue;
    int count = 0;
    while (dirent *entry = readdir(d)) {
      const std::string name = entry->d_name;
      if (name.size() >= 9 && name.compare(name.size() - 9, 9, "plugin.so") == 0) {
        load_plugin(lmp, dir + "/" + name);
        count++;
      }
    }
    closedir(d);
    if (count > 0 && lmp->comm->me == 0) utils::logmesg(lmp, "Loaded {} plugins from {}\n", count, dir);
  }
}

/* `plugin load FILE` / `plugin list`. A LAMMPS command object: Pointers (virtual destructor)
   followed by one virtual command(int, char **), the layout of LAMMPS's Command class, which
   Input creates through its command map and deletes after running it. */
class PluginCommand : protected Pointers {
 public:
  explicit PluginCommand(LAMMPS *lmp) : Pointers(lmp) {}
  virtual void command(int narg, char **arg)
  {
    if (narg == 2 && strcmp(arg[0], "load") == 0) {
      load_plugin(lmp, arg[1]);
    } else if (narg == 1 && strcmp(arg[0], "list") == 0) {
      if (comm->me == 0)
        for (const auto &style : loaded_styles) utils::logmesg(lmp, "{}\n", style);
    } else {
      error->all(FLERR, "egraff-lmp supports 'plugin load <file>' and 'plugin list'");
    }
  }
};

Command *plugin_command(LAMMPS *lmp)
{
  return reinterpret_cast<Command *>(new PluginCommand(lmp));
}

}    // namespace

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  try {
    auto *lmp = new LAMMPS(argc, argv, MPI_COMM_WORLD);
    (*lmp->input->command_map)["plugin"] = &plugin_command;
    autoload(lmp);
    lmp->input->file();
    delete lmp;
  } catch (std::exception &e) {
    fprintf(stderr, "ERROR: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  return 0;
}
