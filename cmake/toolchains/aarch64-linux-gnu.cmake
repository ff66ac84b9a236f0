# Cross build for 64-bit Arm Linux with Debian's cross toolchain
# (crossbuild-essential-arm64) against an arm64 sysroot: a directory into
# which the arm64 .debs of the build's dependencies are unpacked
# (scripts/cross-arm64.sh makes one). Unpacked rather than installed with
# apt, since several -dev packages (libyaml-cpp-dev, libsasl2-dev, ...) are
# not Multi-Arch: same, so their :arm64 builds would replace the host's.
#
#   cmake -S . -B build-arm64 \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
#     -DEDGEFN_ARM64_SYSROOT=$PWD/build-arm64/sysroot
#
# Test binaries run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), called
# explicitly: a CI root has no binfmt_misc to do it behind our back.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(EDGEFN_ARM64_SYSROOT "$ENV{EDGEFN_ARM64_SYSROOT}" CACHE PATH "The arm64 sysroot (scripts/cross-arm64.sh makes one)")
if(NOT EDGEFN_ARM64_SYSROOT OR NOT IS_DIRECTORY "${EDGEFN_ARM64_SYSROOT}/usr/include")
  message(FATAL_ERROR "EDGEFN_ARM64_SYSROOT='${EDGEFN_ARM64_SYSROOT}' is not an arm64 sysroot; "
    "scripts/cross-arm64.sh makes one")
endif()
set(CMAKE_SYSROOT "${EDGEFN_ARM64_SYSROOT}")
# try_compile() projects read this file too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGEFN_ARM64_SYSROOT)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Libraries, headers and CMake packages from the sysroot only; programs
# (python3 for the test drivers, pkg-config, git) from the host.
set(CMAKE_FIND_ROOT_PATH "${EDGEFN_ARM64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The host's pkg-config reading the sysroot's .pc files, with their paths
# moved into it. FindPkgConfig reads these when CMake configures.
set(ENV{PKG_CONFIG_DIR} "")
set(ENV{PKG_CONFIG_LIBDIR}
  "${EDGEFN_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${EDGEFN_ARM64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${EDGEFN_ARM64_SYSROOT}")

find_program(EDGEFN_QEMU_AARCH64 qemu-aarch64 NO_CMAKE_FIND_ROOT_PATH)
if(EDGEFN_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${EDGEFN_QEMU_AARCH64};-L;${EDGEFN_ARM64_SYSROOT}")
endif()
