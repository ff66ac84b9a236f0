#pragma once
// The native runtime's spec.runtimeAttributes, declared once. Checked by
// app/kinds.cpp, read by app/factories.cpp, which builds NativeSettings.
#include "config/config_map.hpp"
#include "config/function_config.hpp"

namespace edgefn {

// Defaults from NativeSettings' members.
const ConfigMap& native_config_map();

// Throws ConfigError for unknown keys or a spec.runtimeAttributes that is
// not a mapping.
void check_native_attributes(const FunctionConfig& config);

// runtimeAttributes.blocking, or its default.
bool native_blocking(const FunctionConfig& config);

}  // namespace edgefn
