#pragma once
// --watch: calls `on_change` once a burst of changes under a function's
// directory has settled (kSettle without a further change), so that an
// editor's save (a write, or a new file renamed over the old one) or a
// `git checkout` reloads once, not once per file.
//
// Watched: the directories and their subdirectories, new ones included.
// Ignored: dotfiles and dot-directories (editors' swap files, the
// `.edgefn/` environment `processor build` makes), `__pycache__` and
// backup files ending in '~'.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/asio.hpp"

namespace edgefn {

class FileWatcher {
 public:
  static constexpr std::chrono::milliseconds kSettle{300};

  // Starts watching at once; `on_change` runs on the io_context. Throws
  // StartError when inotify cannot be set up.
  FileWatcher(asio::io_context& io, const std::vector<std::filesystem::path>& directories,
              std::function<void()> on_change);
  ~FileWatcher();  // stop()
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // No further `on_change`. Any thread; idempotent.
  void stop() noexcept;

  // Whether a change to `name` (a file or directory name, no slash) counts.
  static bool ignored(std::string_view name) noexcept;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace edgefn
