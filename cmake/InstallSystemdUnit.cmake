# Run by `cmake --install` (cmake/Packaging.cmake): writes processor@.service
# from its template with the binary's installed path. Inputs:
# edgefn_unit_template, edgefn_unit_work_dir, edgefn_unit_dir (may be empty),
# and CMAKE_INSTALL_PREFIX as the install sees it.
if(edgefn_unit_dir STREQUAL "")
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(edgefn_unit_dir /lib/systemd/system)
  else()
    set(edgefn_unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  endif()
elseif(NOT IS_ABSOLUTE "${edgefn_unit_dir}")
  set(edgefn_unit_dir "${CMAKE_INSTALL_PREFIX}/${edgefn_unit_dir}")
endif()
set(EDGEFN_UNIT_PROCESSOR "${CMAKE_INSTALL_PREFIX}/bin/processor")
set(EDGEFN_UNIT_DOC_DIR "${CMAKE_INSTALL_PREFIX}/share/doc/edgefn")
configure_file("${edgefn_unit_template}" "${edgefn_unit_work_dir}/processor@.service" @ONLY)
file(INSTALL DESTINATION "${edgefn_unit_dir}" TYPE FILE
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  FILES "${edgefn_unit_work_dir}/processor@.service")
