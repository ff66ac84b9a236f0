#include "process/resident_memory.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>

namespace edgefn {

ResidentMemory::ResidentMemory(pid_t pid) noexcept {
  char path[40];
  std::snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(pid));
  fd_ = UniqueFd(::open(path, O_RDONLY | O_CLOEXEC));
}

std::optional<std::uint64_t> ResidentMemory::bytes() const noexcept {
  if (!fd_) return std::nullopt;
  // Seven numbers of at most 20 digits each.
  char text[160];
  const ssize_t n = ::pread(fd_.get(), text, sizeof text, 0);
  if (n <= 0) return std::nullopt;
  static const auto page_size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return statm_resident_bytes(std::string_view(text, static_cast<std::size_t>(n)), page_size);
}

std::optional<std::uint64_t> statm_resident_bytes(std::string_view statm, std::uint64_t page_size) noexcept {
  const auto space = statm.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const char* first = statm.data() + space + 1;
  const char* last = statm.data() + statm.size();
  std::uint64_t pages = 0;
  const auto [end, error] = std::from_chars(first, last, pages);
  if (error != std::errc{} || end == first || (end != last && *end != ' ' && *end != '\n')) return std::nullopt;
  return pages * page_size;
}

}  // namespace edgefn
