#include "runtime/native/native_config.hpp"

#include "runtime/native/native_runtime.hpp"

namespace edgefn {
namespace {

ConfigMap make_native_map() {
  const NativeSettings defaults;
  ConfigMap map{"native", "spec.runtimeAttributes", {}, {}};
  map.keys = {
      {.name = "blocking",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.blocking),
       .help = "`false`: the handler runs inline on the I/O thread and must not block. `true`: each worker runs "
               "the handler on a thread of its own, so it may do I/O or sleep"},
  };
  return map;
}

const ConfigNode* runtime_attributes(const FunctionConfig& config) {
  if (!config.runtime_attributes || !config.runtime_attributes->defined()) return nullptr;
  const auto& attrs = *config.runtime_attributes;
  if (!attrs.is_map()) attrs.fail("expected a mapping");
  return &attrs;
}

}  // namespace

const ConfigMap& native_config_map() {
  static const ConfigMap map = make_native_map();
  return map;
}

void check_native_attributes(const FunctionConfig& config) {
  if (const auto* attrs = runtime_attributes(config)) attrs->check_keys(native_config_map());
}

bool native_blocking(const FunctionConfig& config) {
  const auto* attrs = runtime_attributes(config);
  return attrs && attrs->get_bool("blocking", NativeSettings{}.blocking);
}

}  // namespace edgefn
