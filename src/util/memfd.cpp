#include "util/memfd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace edgefn {

UniqueFd sealed_memfd(const char* name, std::string_view contents) {
  auto fail = [name](const char* what) {
    throw std::system_error(errno, std::generic_category(), std::string(what) + " (" + name + ")");
  };
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) fail("memfd_create");
  while (!contents.empty()) {
    auto n = ::write(fd.get(), contents.data(), contents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("writing a memfd");
    contents.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    fail("sealing a memfd");
  return fd;
}

}  // namespace edgefn
