#pragma once
// `processor health`: asks a running processor's management server whether
// it is ready (GET /ready) or alive (GET /live), for container HEALTHCHECKs
// and scripts where no HTTP client is installed. /ready and /live need no
// token, whatever guards /status.
#include <chrono>
#include <iosfwd>
#include <string>

namespace edgefn {

struct HealthOptions {
  std::string management_address = "127.0.0.1:8082";  // the daemon's default
  std::chrono::milliseconds timeout{5000};            // connect, send and answer together
  bool live = false;                                  // GET /live instead of /ready
};

// Blocking. Prints the answer's body to `out` on 200, and what failed (the
// 503's reason, a refused connection, the timeout) to `err` otherwise.
// Returns 0 for a 200, 1 for anything else, 2 for an address that is not
// host:port with an IP address ("0.0.0.0" and "::", where a daemon listens
// on every address, are asked on 127.0.0.1 and ::1).
int run_health_check(const HealthOptions& options, std::ostream& out, std::ostream& err);

}  // namespace edgefn
