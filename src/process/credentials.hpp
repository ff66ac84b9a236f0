#pragma once
// The user a child process runs as (--worker-user): a daemon started as root
// runs handler code as an unprivileged user. The child takes these
// credentials right after fork (child_process.cpp), before its parent-death
// signal is set, since a credential change clears that signal.
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace edgefn {

struct Credentials {
  std::string name;  // for messages
  uid_t uid = 0;
  gid_t gid = 0;              // the user's primary group
  std::vector<gid_t> groups;  // supplementary groups, the primary one included
};

// Looks `user` up in the user database (a name, or a numeric uid): its uid,
// primary group and supplementary groups. Returns a message when there is
// no such user. Blocking (may read /etc/passwd and /etc/group, or ask NSS);
// start-up thread.
tl::expected<Credentials, std::string> look_up_user(std::string_view user);

// "nobody (uid 65534, gid 65534)", for logs and messages.
std::string describe(const Credentials& credentials);

}  // namespace edgefn
