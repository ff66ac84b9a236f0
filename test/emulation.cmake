# Tests of a cross build (cmake/toolchains/aarch64-linux-gnu.cmake,
# scripts/cross-arm64.sh) under CMAKE_CROSSCOMPILING_EMULATOR, qemu-user
# called explicitly since a CI root has no binfmt_misc.
#
# CTest puts the emulator in front of a test whose command is one of our
# targets (the unit tests). The integration tests' command is the host's
# python3, which then starts the arm64 programs itself: it gets them
# through wrappers in <build>/emulated/ that exec the emulator, the
# processor through EDGEFN_PROCESSOR and kafka-mock through
# EDGEFN_KAFKA_MOCK. The processor (under the emulator) starts its Python
# workers as python3 from PATH, which must be the sysroot's arm64 python3:
# the host's cannot load the arm64 ring helper. So python3 and python3.X on
# PATH, for unit and integration tests alike, are wrappers that run it
# under the emulator too. Shell handlers are the host's /bin/sh, which
# qemu-user lets the kernel exec directly.
#
# Sets EDGEFN_EMULATED_ENV (ENVIRONMENT entries) and
# EDGEFN_EMULATED_ENV_MODIFICATION (ENVIRONMENT_MODIFICATION entries) for
# test/CMakeLists.txt; both are empty in a native build.
#
# EDGEFN_EMULATION_UNSUPPORTED: integration tests that cannot run so, and
# are disabled there (CTest lists them as "Not Run (Disabled)"):
# test_shm_channel loads the ring helper into the test's own (host) python3
# and execs the arm64 shm_echo_driver itself; test_build makes a venv whose
# python is the arm64 interpreter itself, which the kernel cannot exec
# without binfmt_misc (and the sysroot has no pip).
set(EDGEFN_EMULATED_ENV "")
set(EDGEFN_EMULATED_ENV_MODIFICATION "")
set(EDGEFN_EMULATION_UNSUPPORTED "")
if(NOT CMAKE_CROSSCOMPILING OR NOT CMAKE_CROSSCOMPILING_EMULATOR)
  return()
endif()

set(edgefn_wrappers ${CMAKE_BINARY_DIR}/emulated)
set(edgefn_emulator "")
foreach(word IN LISTS CMAKE_CROSSCOMPILING_EMULATOR)
  string(APPEND edgefn_emulator "'${word}' ")
endforeach()

# wrapper NAME PROGRAM: <build>/emulated/NAME execs PROGRAM under the emulator.
function(edgefn_emulated_wrapper name program)
  file(GENERATE OUTPUT ${edgefn_wrappers}/${name}
    CONTENT "#!/bin/sh\n# Runs the arm64 ${name} under qemu-user (test/emulation.cmake).\nexec ${edgefn_emulator}'${program}' \"$@\"\n"
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endfunction()

edgefn_emulated_wrapper(processor $<TARGET_FILE:processor>)
edgefn_emulated_wrapper(kafka-mock $<TARGET_FILE:kafka-mock>)

# The sysroot's python3.X (the one Debian's python3 points to, when there
# are several).
file(GLOB edgefn_sysroot_pythons LIST_DIRECTORIES false "${CMAKE_SYSROOT}/usr/bin/python3.*")
list(FILTER edgefn_sysroot_pythons INCLUDE REGEX "/python3\\.[0-9]+$")
list(SORT edgefn_sysroot_pythons COMPARE NATURAL ORDER DESCENDING)
if(NOT edgefn_sysroot_pythons)
  message(WARNING "No python3.X in the sysroot ${CMAKE_SYSROOT}/usr/bin: the Python tests will fail "
    "(scripts/cross-arm64.sh puts python3.11-minimal there)")
else()
  list(GET edgefn_sysroot_pythons 0 edgefn_python)
  get_filename_component(edgefn_python_name ${edgefn_python} NAME)
  edgefn_emulated_wrapper(python3 ${edgefn_python})
  edgefn_emulated_wrapper(${edgefn_python_name} ${edgefn_python})
endif()

set(EDGEFN_EMULATED_ENV
  "EDGEFN_PROCESSOR=${edgefn_wrappers}/processor"
  "EDGEFN_KAFKA_MOCK=${edgefn_wrappers}/kafka-mock")
set(EDGEFN_EMULATED_ENV_MODIFICATION "PATH=path_list_prepend:${edgefn_wrappers}")
set(EDGEFN_EMULATION_UNSUPPORTED test_shm_channel test_build)

# The unit tests exist once CTest reads catch_discover_tests()'s file, which
# sets unit_tests_TESTS; this one, included after it, gives them the PATH.
set(edgefn_unit_env_file ${CMAKE_CURRENT_BINARY_DIR}/unit_tests_emulated_env.cmake)
file(WRITE ${edgefn_unit_env_file}
  "if(unit_tests_TESTS)\n"
  "  set_tests_properties(\${unit_tests_TESTS} PROPERTIES ENVIRONMENT_MODIFICATION [==[${EDGEFN_EMULATED_ENV_MODIFICATION}]==])\n"
  "endif()\n")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${edgefn_unit_env_file})
