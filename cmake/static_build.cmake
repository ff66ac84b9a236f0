# The static build (EDGEFN_STATIC): every third-party library linked into
# bin/processor, so that its NEEDED entries are glibc's alone (libc, libm,
# the loader). glibc itself stays dynamic: native handlers are loaded with
# dlopen, which a fully static binary cannot do.
#
# Sets EDGEFN_THIRD_PARTY_LIBS, what edgefn_core links: the imported shared
# libraries, or archives found with find_library (so a cross build finds its
# sysroot's, through CMAKE_SYSROOT / CMAKE_FIND_ROOT_PATH) in link order.
#
#   yaml-cpp, librdkafka, OpenSSL, zlib, lz4, zstd   Debian's static archives
#   cctz                   libabsl_time_zone.a (libabsl-dev), the same code
#   spdlog, fmt            compiled once, in src/log/logging_compiled.cpp
#   Cyrus SASL             src/trigger/kafka/sasl_shim.c: librdkafka.a calls
#                          libsasl2 for GSSAPI only, and libsasl2's archive
#                          needs Kerberos, which has none; GSSAPI is refused
#                          (at config load, see kafka_settings.cpp)
#   libstdc++, libgcc      -static-libstdc++ -static-libgcc
#
# The default: on for a Release build without sanitizers (what .ci/run, the
# .deb and the container ship), off otherwise. The sanitizer builds stay
# dynamic (their runtimes want to interpose on a shared libstdc++), and so
# does the fuzz project (test/fuzz), which has its own CMakeLists.txt.
if(CMAKE_BUILD_TYPE STREQUAL "Release" AND EDGEFN_SANITIZE STREQUAL "")
  set(edgefn_static_default ON)
else()
  set(edgefn_static_default OFF)
endif()
option(EDGEFN_STATIC "Link every third-party library statically (NEEDED: glibc alone)" ${edgefn_static_default})
if(EDGEFN_STATIC AND NOT EDGEFN_SANITIZE STREQUAL "")
  message(FATAL_ERROR "EDGEFN_STATIC=ON does not go with EDGEFN_SANITIZE: configure with -DEDGEFN_STATIC=OFF")
endif()

if(NOT EDGEFN_STATIC)
  find_library(ABSL_TIME_ZONE_LIBRARY absl_time_zone REQUIRED)
  set(EDGEFN_THIRD_PARTY_LIBS
    yaml-cpp spdlog::spdlog fmt::fmt ${ABSL_TIME_ZONE_LIBRARY} OpenSSL::SSL OpenSSL::Crypto PkgConfig::RDKAFKA)
  return()
endif()

# edgefn_static_archive(VAR NAME PACKAGE): VAR is the path of libNAME.a,
# which Debian's PACKAGE ships.
function(edgefn_static_archive var name package)
  find_library(${var} NAMES lib${name}.a NO_CACHE)
  if(NOT ${var})
    message(FATAL_ERROR "EDGEFN_STATIC: lib${name}.a not found: install ${package} "
      "(scripts/install.sh does), or configure with -DEDGEFN_STATIC=OFF")
  endif()
  set(${var} ${${var}} PARENT_SCOPE)
endfunction()
edgefn_static_archive(edgefn_yaml_cpp_a yaml-cpp libyaml-cpp-dev)
edgefn_static_archive(edgefn_rdkafka_a rdkafka librdkafka-dev)
edgefn_static_archive(edgefn_ssl_a ssl libssl-dev)
edgefn_static_archive(edgefn_crypto_a crypto libssl-dev)
edgefn_static_archive(edgefn_zstd_a zstd libzstd-dev)
edgefn_static_archive(edgefn_lz4_a lz4 liblz4-dev)
edgefn_static_archive(edgefn_z_a z zlib1g-dev)
edgefn_static_archive(edgefn_absl_time_zone_a absl_time_zone libabsl-dev)

# spdlog and fmt in their "compiled library" mode, as Debian's shared
# libraries are used (declarations in the headers, the implementation in one
# place), but with that place our own translation unit: their header-only
# forms would compile it into every file that logs, and the Release build is
# part of .ci/run's budget. Their include directories are the imported
# targets'; no SPDLOG_SHARED_LIB / FMT_SHARED, which only set visibility.
add_library(edgefn_logging_compiled STATIC src/log/logging_compiled.cpp)
target_include_directories(edgefn_logging_compiled PUBLIC
  $<TARGET_PROPERTY:spdlog::spdlog,INTERFACE_INCLUDE_DIRECTORIES>
  $<TARGET_PROPERTY:fmt::fmt,INTERFACE_INCLUDE_DIRECTORIES>)
target_compile_definitions(edgefn_logging_compiled PUBLIC SPDLOG_COMPILED_LIB SPDLOG_FMT_EXTERNAL)

# After librdkafka.a on the link line: an archive only supplies what the
# archives before it left undefined.
add_library(edgefn_sasl_shim STATIC src/trigger/kafka/sasl_shim.c)

# Tests link edgefn_core too, so they run what the binary runs.
add_library(edgefn_static_runtime INTERFACE)
target_link_options(edgefn_static_runtime INTERFACE -static-libstdc++ -static-libgcc)
# kafka_settings.cpp refuses SASL GSSAPI when it is built without it.
target_compile_definitions(edgefn_static_runtime INTERFACE EDGEFN_KAFKA_NO_GSSAPI)

set(EDGEFN_THIRD_PARTY_LIBS
  edgefn_static_runtime
  edgefn_logging_compiled
  ${edgefn_yaml_cpp_a}
  ${edgefn_rdkafka_a} edgefn_sasl_shim
  ${edgefn_ssl_a} ${edgefn_crypto_a}
  ${edgefn_zstd_a} ${edgefn_lz4_a} ${edgefn_z_a}
  ${edgefn_absl_time_zone_a})
