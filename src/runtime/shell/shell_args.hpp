#pragma once
// Splits a shell handler's argument string (runtimeAttributes.arguments or
// the X-Nuclio-Arguments header) into argv entries, the way a POSIX shell
// would for words made only of plain characters, quotes and backslashes.
// Nothing else is interpreted: no $variables, globs, ~, ;, |, & or
// redirections, since the result goes to execve() and never to a shell.
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace edgefn {

// Rules, as in sh:
//   - words are separated by runs of space, tab, newline, CR, VT or FF;
//   - '...' is literal up to the next single quote;
//   - "..." is literal except that a backslash before " \ $ ` stands for
//     that character, and backslash-newline is removed (so "\$5" is $5,
//     as in sh, although $ itself is never expanded);
//   - outside quotes, \c stands for c, and backslash-newline is removed;
//   - '' or "" makes an empty argument.
// Returns a message naming the problem and its 0-based offset when a
// quote is left open or the text ends in a lone backslash. Pure; any thread.
tl::expected<std::vector<std::string>, std::string> split_arguments(std::string_view text);

}  // namespace edgefn
