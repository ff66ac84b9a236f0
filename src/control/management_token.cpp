#include "control/management_token.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include "config/config_error.hpp"
#include "log/log.hpp"

namespace edgefn {
namespace {

constexpr std::size_t kMaxTokenFileSize = 4096;

// RFC 6750's b64token: what may follow "Bearer " without quoting.
bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

std::string read_token_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError("--management-token-file: cannot read " + file.string());
  std::string text;
  text.resize(kMaxTokenFileSize + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxTokenFileSize) {
    throw ConfigError("--management-token-file: " + file.string() + " is larger than 4 KiB; it should hold one token");
  }
  struct stat info{};
  if (::stat(file.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    get_logger("processor")->warn("--management-token-file: {} is readable by other users (chmod 600 it)", file.string());
  }
  // Editors and `echo` end the file with a newline; it is not part of the token.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

std::string load_management_token(const std::filesystem::path& file, const std::string& from_environment) {
  if (!file.empty() && !from_environment.empty()) {
    throw ConfigError("both --management-token-file and EDGEFN_MANAGEMENT_TOKEN are set: use one");
  }
  if (file.empty() && from_environment.empty()) return {};
  const std::string source = file.empty() ? "EDGEFN_MANAGEMENT_TOKEN" : "--management-token-file " + file.string();
  std::string token = file.empty() ? from_environment : read_token_file(file);
  if (token.size() < kMinManagementTokenLength) {
    throw ConfigError(source + ": the token is shorter than " + std::to_string(kMinManagementTokenLength) +
                      " characters (`openssl rand -hex 32` makes a good one)");
  }
  for (char c : token) {
    if (!is_token_char(c)) {
      throw ConfigError(source +
                        ": the token may hold only letters, digits and - . _ ~ + / = (`openssl rand -hex 32` makes "
                        "a good one)");
    }
  }
  return token;
}

void require_token_off_loopback(const asio::ip::tcp::endpoint& endpoint, const std::string& token) {
  if (!token.empty() || endpoint.address().is_loopback()) return;
  throw ConfigError("--management-address " + endpoint.address().to_string() +
                    " is reachable from other hosts: /status and /metrics then need a bearer token; set "
                    "--management-token-file FILE or EDGEFN_MANAGEMENT_TOKEN");
}

}  // namespace edgefn
