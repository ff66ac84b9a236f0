#pragma once
// POSIX shared-memory segments, one per worker (the layout inside is
// ring.h's). Names are edgefn-<daemon pid>-<worker label>-<16 hex digits>,
// so that a daemon can tell its own segments from those of other processors
// on the host and from those whose daemon died.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/interprocess/mapped_region.hpp>

namespace edgefn::shm {

// A segment could not be created, sized or mapped. The message names the
// segment and the system's reason (often /dev/shm being full or missing).
class ShmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Segment {
 public:
  // Creates a new segment of `size` zero bytes with mode 0600 (given
  // explicitly: Boost.Interprocess would default to 0644) and maps it
  // read-write. `worker_label` is sanitised to [A-Za-z0-9_.]. Throws
  // ShmError. Any thread.
  static Segment create(std::string_view worker_label, std::size_t size);

  // Maps an existing segment read-write without taking ownership: the
  // destructor leaves the name in place. For tests and tools. Throws ShmError.
  static Segment open(const std::string& name);

  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&& other) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  // Unmaps, and removes the name if this object created it.
  ~Segment();

  const std::string& name() const noexcept { return name_; }
  void* data() const noexcept { return region_.get_address(); }
  std::size_t size() const noexcept { return region_.get_size(); }

  // Removes the name now (the mapping stays valid; a worker that has the
  // segment mapped keeps it). Idempotent, never throws.
  void remove() noexcept;

 private:
  Segment(std::string name, boost::interprocess::mapped_region region, bool owner) noexcept;

  std::string name_;
  boost::interprocess::mapped_region region_;
  bool owner_ = false;
};

// edgefn-<pid>-<sanitised label>-<random as 16 hex digits>.
std::string segment_name(pid_t daemon_pid, std::string_view worker_label, std::uint64_t random);

// The daemon pid of an edgefn segment name; nullopt for other names.
std::optional<pid_t> segment_owner(std::string_view name) noexcept;

// At daemon start: removes the segments in `dir` whose daemon has died
// (kill(pid, 0) fails with ESRCH), the leftovers of a processor that was
// SIGKILLed. Segments of live processes (other processors on this host, or
// this one) are left alone, as are those of pids that exist under another
// user (EPERM). A pid reused since its daemon died keeps its segment until
// that process exits too. Returns the names removed; errors are skipped.
// Boost.Interprocess has no listing API, hence the directory scan.
std::vector<std::string> remove_stale_segments(const std::filesystem::path& dir = "/dev/shm");

}  // namespace edgefn::shm
