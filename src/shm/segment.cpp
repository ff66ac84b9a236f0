#include "shm/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace edgefn::shm {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw ShmError(what + ": " + std::strerror(errno));
}

void* map_shared(int fd, std::size_t size) {
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) fail("cannot map a shared-memory segment of " + std::to_string(size) + " bytes");
  return data;
}

}  // namespace

Segment Segment::create(std::size_t size) {
  UniqueFd fd(::memfd_create("edgefn-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) fail("cannot create a shared-memory segment (memfd_create)");
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    fail("cannot size a shared-memory segment to " + std::to_string(size) + " bytes");
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    fail("cannot seal a shared-memory segment");
  void* data = map_shared(fd.get(), size);
  return Segment(std::move(fd), data, size);
}

Segment Segment::map(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("cannot stat shared-memory descriptor " + std::to_string(fd));
  UniqueFd own(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!own) fail("cannot duplicate shared-memory descriptor " + std::to_string(fd));
  const auto size = static_cast<std::size_t>(st.st_size);
  void* data = map_shared(own.get(), size);
  return Segment(std::move(own), data, size);
}

Segment::Segment(Segment&& other) noexcept
    : fd_(std::move(other.fd_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    unmap();
    fd_ = std::move(other.fd_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Segment::~Segment() { unmap(); }

void Segment::unmap() noexcept {
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
}

}  // namespace edgefn::shm
