#include "runtime/native/native_loader.hpp"

#include <dlfcn.h>

#include <cstdint>

#include "config/config_error.hpp"

namespace edgefn {

NativeHandler load_native_handler(const std::string& handler, const std::filesystem::path& directory) {
  auto colon = handler.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == handler.size())
    throw HandlerError("'" + handler + "' is not a native handler: write 'libname.so:symbol' or 'builtin:name'");
  auto file = handler.substr(0, colon);
  auto symbol = handler.substr(colon + 1);
  if (file == "builtin") {
    if (const auto* builtin = find_builtin(symbol)) return *builtin;
    throw HandlerError("no such builtin '" + symbol + "' (builtins: " + builtin_names() + ")");
  }

  auto path = std::filesystem::path(file).is_absolute() ? std::filesystem::path(file) : directory / file;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw HandlerError("native handler library " + path.string() +
                       " not found (a relative name is looked up in the function directory)");

  void* raw = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!raw) throw HandlerError("cannot load native handler library " + path.string() + ": " + dlerror());
  std::shared_ptr<void> library(raw, [](void* h) { dlclose(h); });

  const auto* abi = static_cast<const std::uint32_t*>(dlsym(raw, "edgefn_abi_version"));
  if (!abi)
    throw HandlerError(path.string() + " does not export edgefn_abi_version: build it with EDGEFN_DECLARE_ABI() "
                       "from <edgefn/handler.h>");
  if (*abi != EDGEFN_ABI_VERSION)
    throw HandlerError(path.string() + " was built for native ABI version " + std::to_string(*abi) +
                       ", this processor speaks version " + std::to_string(EDGEFN_ABI_VERSION));

  NativeHandler h;
  h.name = handler;
  h.handle = reinterpret_cast<edgefn_handle_fn>(dlsym(raw, symbol.c_str()));
  if (!h.handle) throw HandlerError(path.string() + " has no exported symbol '" + symbol + "'");
  h.init = reinterpret_cast<edgefn_worker_init_fn>(dlsym(raw, "edgefn_worker_init"));
  h.shutdown = reinterpret_cast<edgefn_worker_shutdown_fn>(dlsym(raw, "edgefn_worker_shutdown"));
  h.library = std::move(library);
  return h;
}

}  // namespace edgefn
