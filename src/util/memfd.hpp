#pragma once
// Read-only data handed to child processes as an inherited descriptor
// rather than a file: nothing is written to disk, so nothing is left
// behind however the daemon ends.
#include <string_view>

#include "util/unique_fd.hpp"

namespace edgefn {

// A memfd (O_CLOEXEC) holding `contents`, sealed against any change
// (write, shrink, grow, further seals): every process that inherits it
// reads the same bytes, with pread() from offset 0 (the file offset is
// shared between them). Throws std::system_error naming `name`.
UniqueFd sealed_memfd(const char* name, std::string_view contents);

}  // namespace edgefn
