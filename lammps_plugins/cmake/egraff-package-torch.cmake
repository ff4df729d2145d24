# Included after LAMMPS's project() (CMAKE_PROJECT_INCLUDE, set by egraff-package.cmake): finds
# libtorch and, once LAMMPS has defined its library target, links it.
include_guard(GLOBAL)
if(CMAKE_VERSION VERSION_LESS 3.19)
  message(FATAL_ERROR "egraff-package.cmake needs CMake >= 3.19 (cmake_language(DEFER))")
endif()
find_package(Torch REQUIRED)
function(egraff_link_torch)
  target_link_libraries(lammps PUBLIC ${TORCH_LIBRARIES})
  target_compile_definitions(lammps PRIVATE EGRAFF_RUNTIME_LINKED)
  message(STATUS "egraff: pair_style egraff compiled into LAMMPS, linked to libtorch in ${TORCH_INSTALL_PREFIX}")
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL egraff_link_torch)
