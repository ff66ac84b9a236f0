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

}  // namespace

const ConfigMap& native_config_map() {
  static const ConfigMap map = make_native_map();
  return map;
}

}  // namespace edgefn
