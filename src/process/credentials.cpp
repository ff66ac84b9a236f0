#include "process/credentials.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace edgefn {
namespace {

std::size_t buffer_size(int name) {
  const long n = ::sysconf(name);
  return n > 0 ? static_cast<std::size_t>(n) : 16384;
}

}  // namespace

tl::expected<Credentials, std::string> look_up_user(std::string_view user) {
  if (user.empty()) return tl::make_unexpected(std::string("no user name given"));
  const std::string name(user);
  std::vector<char> buffer(buffer_size(_SC_GETPW_R_SIZE_MAX));
  passwd entry{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE)
    buffer.resize(buffer.size() * 2);
  uid_t numeric = 0;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), numeric);
  if (!found && error == std::errc{} && end == name.data() + name.size()) {
    while ((rc = ::getpwuid_r(numeric, &entry, buffer.data(), buffer.size(), &found)) == ERANGE)
      buffer.resize(buffer.size() * 2);
  }
  if (!found)
    return tl::make_unexpected("no user '" + name + "' in the user database" +
                               (rc != 0 ? std::string(" (") + std::strerror(rc) + ")" : std::string{}));

  Credentials credentials{entry.pw_name, entry.pw_uid, entry.pw_gid, {}};
  int count = 32;
  for (;;) {
    credentials.groups.resize(static_cast<std::size_t>(count));
    int n = count;
    if (::getgrouplist(entry.pw_name, entry.pw_gid, credentials.groups.data(), &n) >= 0) {
      credentials.groups.resize(static_cast<std::size_t>(n));
      break;
    }
    // Too small: glibc said how many it needs.
    count = std::max(n, count * 2);
  }
  return credentials;
}

std::string describe(const Credentials& c) {
  return c.name + " (uid " + std::to_string(c.uid) + ", gid " + std::to_string(c.gid) + ")";
}

}  // namespace edgefn
