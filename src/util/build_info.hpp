#pragma once
// What the build knows of itself: the version (project()) and the commit
// (git, read when CMake configured the build; "unknown" without git). For
// the start banner, /status and a build_info metric.
#include "edgefn_commit.h"

namespace edgefn {

inline constexpr const char* kBuildVersion = EDGEFN_VERSION;
inline constexpr const char* kBuildCommit = EDGEFN_COMMIT;

}  // namespace edgefn
