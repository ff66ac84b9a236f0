#pragma once
// Shared memory for one worker's channel (the layout inside is ring.h's):
// an anonymous memfd that the daemon creates, seals against resizing and
// hands to the worker as an inherited descriptor, like the doorbell's
// eventfd. Nothing has a name: nothing is left in /dev/shm after any crash,
// there is no name or mode to get wrong, and a worker can reach only the
// memory whose descriptor it inherited.
//
// Two facts shape it. An unsealed memfd can be ftruncate()d by the worker,
// and the daemon would then die of SIGBUS the next time it touches the
// mapping: F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL are set before the
// descriptor is handed over. And a process of the same user can open
// another's memfd through /proc/<pid>/fd/N unless its owner is
// non-dumpable: the daemon and each worker (after exec) set
// PR_SET_DUMPABLE to 0.
#include <cstddef>
#include <stdexcept>
#include <string>

#include "util/unique_fd.hpp"

namespace edgefn::shm {

// A segment could not be created, sealed or mapped; the message says which
// step and the system's reason.
class ShmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Segment {
 public:
  // A new sealed memfd of `size` zero bytes, mapped read-write. Throws
  // ShmError. Any thread.
  static Segment create(std::size_t size);

  // Maps the whole memfd `fd` read-write (for tests and tools that play the
  // worker). The Segment keeps its own duplicate of the descriptor. Throws
  // ShmError.
  static Segment map(int fd);

  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&& other) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  // Unmaps and closes the descriptor. The memory goes when the last process
  // that maps it or holds a descriptor is gone.
  ~Segment();

  // O_CLOEXEC: pass it to a child with SpawnRequest::pass_fds.
  int fd() const noexcept { return fd_.get(); }
  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  Segment(UniqueFd fd, void* data, std::size_t size) noexcept : fd_(std::move(fd)), data_(data), size_(size) {}
  void unmap() noexcept;

  UniqueFd fd_;
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace edgefn::shm
