# Compiles pair_style egraff into LAMMPS itself (a static package, no plugin), for sites that
# build LAMMPS from source and prefer no plugins. Use as an initial-cache file:
#
#   cmake -S <lammps>/cmake -B build-lammps -C <egraff>/lammps_plugins/cmake/egraff-package.cmake \
#         -DTorch_DIR=<libtorch>/share/cmake/Torch [your usual -D options]
#   cmake --build build-lammps
#
# It copies the pair style's and the model runtime's sources into <lammps>/src (where LAMMPS
# registers every style it finds; the runtime is linked in, not opened) and links LAMMPS to
# libtorch (egraff-package-torch.cmake, run after project()).
# For a current LAMMPS (>= 2 Aug 2023; older releases: use the plugin).
get_filename_component(_egraff_sources "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
get_filename_component(_lammps_src "${CMAKE_SOURCE_DIR}/../src" ABSOLUTE)
if(NOT EXISTS "${_lammps_src}/lammps.h")
  message(FATAL_ERROR "egraff-package.cmake: ${_lammps_src} is not a LAMMPS src/ directory; run cmake -S <lammps>/cmake")
endif()
file(COPY "${_egraff_sources}/pair_egraff.h" "${_egraff_sources}/pair_egraff.cpp"
          "${_egraff_sources}/egraff_lammps_compat.h" "${_egraff_sources}/egraff_contract.h"
          "${_egraff_sources}/egraff_runtime.h" "${_egraff_sources}/egraff_runtime.cpp"
          "${_egraff_sources}/egraff_runtime_client.h" "${_egraff_sources}/egraff_runtime_client.cpp"
          "${_egraff_sources}/egraff_sha256.h" DESTINATION "${_lammps_src}")
set(CMAKE_PROJECT_INCLUDE "${CMAKE_CURRENT_LIST_DIR}/egraff-package-torch.cmake" CACHE FILEPATH "egraff: link LAMMPS to libtorch")
