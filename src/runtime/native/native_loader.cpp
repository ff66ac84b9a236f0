#include "runtime/native/native_loader.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include "config/config_error.hpp"
#include "util/memfd.hpp"

namespace edgefn {

namespace {

// What tells a rebuilt library from the one loaded before.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

FileIdentity identify(const std::filesystem::path& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size, std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::string read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw HandlerError("cannot read native handler library " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// dlopen() hands back the handle it already has for a path it loaded, so
// a library rebuilt in place would go on running its old code after a
// reload. A library unchanged since it was loaded is shared (the config
// check and the start load it one after the other); one that changed, at
// a path already loaded, is loaded again from a copy in a memfd, a file
// dlopen has never seen. The memfd stays open while the library is
// loaded: its /proc/self/fd name must not be reused for another copy.
std::shared_ptr<void> open_library(const std::filesystem::path& path) {
  struct Loaded {
    FileIdentity identity;
    std::weak_ptr<void> library;
  };
  static std::mutex mutex;
  static std::map<std::string, Loaded> loaded;
  std::lock_guard lock(mutex);
  const auto identity = identify(path);
  auto& entry = loaded[path.string()];
  if (entry.identity == identity)
    if (auto library = entry.library.lock()) return library;

  std::shared_ptr<void> library;
  if (void* previous = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
    dlclose(previous);
    auto fd = std::make_shared<UniqueFd>(sealed_memfd("edgefn-native-handler", read_whole_file(path)));
    const std::string copy = "/proc/self/fd/" + std::to_string(fd->get());
    void* raw = dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!raw) throw HandlerError("cannot load native handler library " + path.string() + ": " + dlerror());
    library = std::shared_ptr<void>(raw, [fd](void* h) { dlclose(h); });
  } else {
    void* raw = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!raw) throw HandlerError("cannot load native handler library " + path.string() + ": " + dlerror());
    library = std::shared_ptr<void>(raw, [](void* h) { dlclose(h); });
  }
  entry = {identity, library};
  return library;
}

}  // namespace

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

  std::shared_ptr<void> library = open_library(path);
  void* raw = library.get();

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
