#include "shm/segment.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <random>
#include <system_error>
#include <utility>

#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

namespace edgefn::shm {
namespace bip = boost::interprocess;

namespace {

constexpr std::string_view kPrefix = "edgefn-";
constexpr std::size_t kMaxLabel = 64;

std::uint64_t random_u64() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

std::string segment_name(pid_t daemon_pid, std::string_view worker_label, std::uint64_t random) {
  std::string label;
  for (char c : worker_label.substr(0, kMaxLabel)) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    label += keep ? c : '_';
  }
  if (label.empty()) label.push_back('_');
  char hex[17];
  auto [end, ec] = std::to_chars(hex, hex + 16, random, 16);
  std::string random_part(hex, end);
  random_part.insert(0, 16 - random_part.size(), '0');
  return std::string(kPrefix) + std::to_string(daemon_pid) + "-" + label + "-" + random_part;
}

std::optional<pid_t> segment_owner(std::string_view name) noexcept {
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  std::size_t dash = name.find('-');
  if (dash == 0 || dash == std::string_view::npos) return std::nullopt;
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + dash, pid);
  if (ec != std::errc{} || end != name.data() + dash || pid <= 0) return std::nullopt;
  return pid;
}

Segment::Segment(std::string name, bip::mapped_region region, bool owner) noexcept
    : name_(std::move(name)), region_(std::move(region)), owner_(owner) {}

Segment::Segment(Segment&& other) noexcept
    : name_(std::move(other.name_)), region_(std::move(other.region_)), owner_(std::exchange(other.owner_, false)) {}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    remove();
    name_ = std::move(other.name_);
    region_ = std::move(other.region_);
    owner_ = std::exchange(other.owner_, false);
  }
  return *this;
}

Segment::~Segment() { remove(); }

void Segment::remove() noexcept {
  if (owner_) {
    bip::shared_memory_object::remove(name_.c_str());
    owner_ = false;
  }
}

Segment Segment::create(std::string_view worker_label, std::size_t size) {
  // A name collision needs the same pid, label and 64 random bits; retrying
  // covers the astronomically unlikely rest.
  for (int attempt = 0;; ++attempt) {
    std::string name = segment_name(getpid(), worker_label, random_u64());
    try {
      bip::permissions mode;
      mode.set_permissions(0600);
      bip::shared_memory_object object(bip::create_only, name.c_str(), bip::read_write, mode);
      try {
        object.truncate(static_cast<bip::offset_t>(size));
        bip::mapped_region region(object, bip::read_write, 0, size);
        return Segment(std::move(name), std::move(region), true);
      } catch (...) {
        bip::shared_memory_object::remove(name.c_str());
        throw;
      }
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() == bip::already_exists_error && attempt < 3) continue;
      throw ShmError("cannot create shared-memory segment /dev/shm/" + name + " of " + std::to_string(size) +
                     " bytes: " + e.what());
    }
  }
}

Segment Segment::open(const std::string& name) {
  try {
    bip::shared_memory_object object(bip::open_only, name.c_str(), bip::read_write);
    bip::mapped_region region(object, bip::read_write);
    return Segment(name, std::move(region), false);
  } catch (const bip::interprocess_exception& e) {
    throw ShmError("cannot open shared-memory segment /dev/shm/" + name + ": " + e.what());
  }
}

std::vector<std::string> remove_stale_segments(const std::filesystem::path& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    auto pid = segment_owner(name);
    if (!pid || *pid == getpid()) continue;
    if (kill(*pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code remove_ec;
    if (std::filesystem::remove(it->path(), remove_ec)) removed.push_back(std::move(name));
  }
  return removed;
}

}  // namespace edgefn::shm
