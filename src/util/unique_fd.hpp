#pragma once
// File descriptors: an owning holder, and the one safe way to hand a
// descriptor to a child across exec.
#include <fcntl.h>
#include <unistd.h>

namespace edgefn {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = other.release();
    }
    return *this;
  }
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// In a child between fork and exec: makes `fd` available as `target` across
// exec. Not a bare dup2: when fd == target, dup2 does nothing and leaves
// close-on-exec set, and the child would never see the descriptor.
// Async-signal-safe. Returns -1 with errno on failure.
inline int inherit_fd(int fd, int target) noexcept {
  if (fd == target) return ::fcntl(fd, F_SETFD, 0);
  return ::dup2(fd, target) < 0 ? -1 : 0;
}

}  // namespace edgefn
