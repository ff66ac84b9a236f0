#pragma once
// A child process's resident memory (RSS), read from /proc/<pid>/statm
// through a descriptor opened once, right after the spawn: each reading is
// one pread(), and the descriptor stays bound to that process, so a pid
// reused after it ended reads as nothing rather than as a stranger.
//
// Resident memory, not address space: RLIMIT_AS would count what a worker
// reserves (a Python worker with four threads reserves some 300 MB of
// stacks and arenas while it uses 13 MB), so the daemon watches what it
// uses and recycles it between events instead.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "util/unique_fd.hpp"

namespace edgefn {

class ResidentMemory {
 public:
  ResidentMemory() = default;
  // Opens /proc/<pid>/statm; valid() says whether that worked. Any thread.
  explicit ResidentMemory(pid_t pid) noexcept;

  bool valid() const noexcept { return static_cast<bool>(fd_); }

  // Bytes resident now; nullopt once the process has ended or /proc could
  // not be read. Never blocks (procfs). Any thread.
  std::optional<std::uint64_t> bytes() const noexcept;

 private:
  UniqueFd fd_;
};

// The resident set of a statm text ("size resident shared text lib data
// dt", in pages), in bytes; nullopt when it does not parse. Pure.
std::optional<std::uint64_t> statm_resident_bytes(std::string_view statm, std::uint64_t page_size) noexcept;

}  // namespace edgefn
