#pragma once
// Text from outside (a config file's bytes, a path, a handler's name) made
// safe to print on one line of a log or a terminal.
#include <string>
#include <string_view>

namespace edgefn {

// `text` with control characters written as \n, \t, \r or \xNN, DEL as
// \x7f, and bytes that are not valid UTF-8 as \xNN; valid UTF-8 (names in
// any language) is kept. A backslash is kept as it is, so printable text
// stays the same when escaped again. Pure; any thread.
std::string printable(std::string_view text);

}  // namespace edgefn
