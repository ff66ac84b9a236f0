#include "app/file_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "config/config_error.hpp"
#include "log/log.hpp"

namespace edgefn {

namespace {
constexpr std::uint32_t kDirectoryEvents =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF | IN_ONLYDIR;
}  // namespace

struct FileWatcher::State : std::enable_shared_from_this<State> {
  State(asio::io_context& io, std::function<void()> fn)
      : strand(asio::make_strand(io)), descriptor(strand), settle(strand), on_change(std::move(fn)) {}

  asio::strand<asio::io_context::executor_type> strand;
  asio::posix::stream_descriptor descriptor;
  asio::steady_timer settle;
  std::function<void()> on_change;
  std::unordered_map<int, std::filesystem::path> directories;  // watch descriptor -> directory
  std::array<char, 16 * 1024> buffer{};
  bool stopped = false;  // on the strand
  std::shared_ptr<spdlog::logger> log = get_logger("watch");

  void add_tree(const std::filesystem::path& root) {
    add(root);
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_directory(ec)) continue;
      if (ignored(it->path().filename().string())) {
        it.disable_recursion_pending();
        continue;
      }
      add(it->path());
    }
  }

  void add(const std::filesystem::path& directory) {
    const int wd = ::inotify_add_watch(descriptor.native_handle(), directory.c_str(), kDirectoryEvents);
    if (wd < 0) {
      log->warn("cannot watch {}: {}", directory.string(), std::strerror(errno));
      return;
    }
    directories[wd] = directory;
  }

  void read() {
    descriptor.async_read_some(asio::buffer(buffer), [self = shared_from_this()](error_code ec, std::size_t n) {
      if (ec || self->stopped) return;
      self->parse(n);
      self->read();
    });
  }

  void parse(std::size_t n) {
    bool changed = false;
    for (std::size_t at = 0; at + sizeof(inotify_event) <= n;) {
      inotify_event event;
      std::memcpy(&event, buffer.data() + at, sizeof event);
      const std::string_view name = event.len ? std::string_view(buffer.data() + at + sizeof event) : "";
      at += sizeof(inotify_event) + event.len;
      if (event.mask & IN_IGNORED) {
        directories.erase(event.wd);
        continue;
      }
      if (!name.empty() && ignored(name)) continue;
      if ((event.mask & IN_CREATE) && (event.mask & IN_ISDIR)) {
        auto it = directories.find(event.wd);
        if (it != directories.end()) add_tree(it->second / std::string(name));
        changed = true;
        continue;
      }
      if (event.mask & IN_CREATE) continue;  // its IN_CLOSE_WRITE follows
      changed = true;
    }
    if (!changed) return;
    settle.expires_after(kSettle);
    settle.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->stopped) return;
      self->log->info("files of the function changed: reloading");
      self->on_change();
    });
  }
};

FileWatcher::FileWatcher(asio::io_context& io, const std::vector<std::filesystem::path>& directories,
                         std::function<void()> on_change)
    : state_(std::make_shared<State>(io, std::move(on_change))) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) throw StartError(std::string("--watch: inotify_init1: ") + std::strerror(errno));
  state_->descriptor.assign(fd);
  for (const auto& directory : directories) state_->add_tree(directory);
  if (state_->directories.empty()) throw StartError("--watch: cannot watch " + directories.front().string());
  asio::dispatch(state_->strand, [state = state_] { state->read(); });
}

FileWatcher::~FileWatcher() { stop(); }

void FileWatcher::stop() noexcept {
  asio::dispatch(state_->strand, [state = state_] {
    if (state->stopped) return;
    state->stopped = true;
    state->settle.cancel();
    error_code ignored;
    state->descriptor.close(ignored);
  });
}

bool FileWatcher::ignored(std::string_view name) noexcept {
  return name.empty() || name.front() == '.' || name == "__pycache__" || name.back() == '~';
}

}  // namespace edgefn
