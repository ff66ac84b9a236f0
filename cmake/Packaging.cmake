# What `cmake --install` puts beside the binaries (the install() rules in
# CMakeLists.txt): the systemd unit, the documentation and the examples; and
# the Debian package CPack makes of all of it (scripts/package.sh).

# --- The systemd unit -------------------------------------------------------
# Written when installing, not when configuring, so that
# `cmake --install build --prefix P` installs it with ExecStart=P/bin/processor.
# With the prefix /usr (the .deb) it goes where Debian 12's packages put
# theirs, /lib/systemd/system; with another prefix to PREFIX/lib/systemd/system
# (systemd reads /usr/local/lib/systemd/system as well).
set(EDGEFN_SYSTEMD_UNIT_DIR "" CACHE STRING
  "directory for processor@.service (empty: /lib/systemd/system for the prefix /usr, else PREFIX/lib/systemd/system)")
install(CODE "
  set(edgefn_unit_template \"${PROJECT_SOURCE_DIR}/config/processor@.service.in\")
  set(edgefn_unit_work_dir \"${PROJECT_BINARY_DIR}/systemd\")
  set(edgefn_unit_dir \"${EDGEFN_SYSTEMD_UNIT_DIR}\")
  include(\"${CMAKE_CURRENT_LIST_DIR}/InstallSystemdUnit.cmake\")
")

# --- Documentation and examples ----------------------------------------------
install(FILES LICENSE DESTINATION share/doc/edgefn RENAME copyright)
install(FILES README.md DESTINATION share/doc/edgefn)
# A function to copy into /etc/edgefn/<name>/ (README: Run as a systemd service).
install(DIRECTORY examples/ DESTINATION share/doc/edgefn/examples
  PATTERN CMakeLists.txt EXCLUDE PATTERN __pycache__ EXCLUDE PATTERN .edgefn EXCLUDE)

# --- The Debian package (cpack -G DEB) ------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME edgefn)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR edgefn)
set(CPACK_PACKAGE_CONTACT "edgefn maintainers <edgefn@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "function processor for edge devices (Nuclio function.yaml)")
set(CPACK_PACKAGE_DESCRIPTION
  "processor runs a Nuclio-style function.yaml (HTTP, cron, MQTT and Kafka triggers; native, Python and shell \
handlers) as one daemon, with a systemd template unit (processor@.service) for one instance per function.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
# Installed as to /usr, with DESTDIR: the unit's install code sees the prefix
# /usr (its ExecStart) and writes under the staging directory.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)  # what the install sees with CPACK_SET_DESTDIR
set(CPACK_SET_DESTDIR ON)
# The Release build has no debug information to keep; stripping takes the
# symbol tables off (the static processor: 17.6 MB to 13.9 MB).
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # edgefn_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# python3: the Python runtime, and `processor validate` of a Python function.
# python3-venv: `processor build` (spec.build.commands with pip).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-venv")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mosquitto-clients, kcat")
# What the binaries still link dynamically (glibc alone for a static build)
# becomes Depends: through dpkg-shlibdeps, from dpkg-dev.
find_program(EDGEFN_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(EDGEFN_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "dpkg-shlibdeps not found (dpkg-dev): the .deb will declare no library dependencies")
endif()
# daemon-reload after an install or removal, so that processor@.service is
# known (and forgotten) at once; nothing is enabled or started.
set(edgefn_maintainer_scripts ${PROJECT_BINARY_DIR}/debian)
foreach(script postinst postrm)
  file(WRITE ${edgefn_maintainer_scripts}/${script}.in
    "#!/bin/sh\nset -e\nif [ -d /run/systemd/system ]; then\n  systemctl --system daemon-reload >/dev/null || true\nfi\n")
  file(COPY_FILE ${edgefn_maintainer_scripts}/${script}.in ${edgefn_maintainer_scripts}/${script} ONLY_IF_DIFFERENT)
  file(CHMOD ${edgefn_maintainer_scripts}/${script}
    PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${edgefn_maintainer_scripts}/postinst ${edgefn_maintainer_scripts}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
