#pragma once
// The bearer token that guards /status and /metrics: from a file
// (--management-token-file) or from EDGEFN_MANAGEMENT_TOKEN. A management
// address other hosts can reach must have one.
#include <filesystem>
#include <string>

#include "util/asio.hpp"

namespace edgefn {

// Reads and checks the token (RFC 6750 token characters, at least
// kMinManagementTokenLength of them). `file` empty: `from_environment` is
// the token; both empty: no token. Throws ConfigError naming the option.
std::string load_management_token(const std::filesystem::path& file, const std::string& from_environment);

// Throws ConfigError when `endpoint` is reachable from other hosts and
// `token` is empty.
void require_token_off_loopback(const asio::ip::tcp::endpoint& endpoint, const std::string& token);

inline constexpr std::size_t kMinManagementTokenLength = 16;

}  // namespace edgefn
