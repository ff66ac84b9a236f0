#pragma once
// The native runtime's spec.runtimeAttributes, declared once. Read by
// app/kinds.cpp, which builds NativeSettings from them.
#include "config/config_map.hpp"

namespace edgefn {

// Defaults from NativeSettings' members.
const ConfigMap& native_config_map();

}  // namespace edgefn
