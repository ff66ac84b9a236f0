#include "kafka_mock_words.hpp"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace edgefn::kafka_mock {

namespace {

// Kafka's API keys by number (the protocol's ApiKeys table); librdkafka has
// no public list of them.
// clang-format off
constexpr std::array<std::string_view, 48> kApiNames = {
    /*  0 */ "Produce", "Fetch", "ListOffsets", "Metadata",
    /*  4 */ "LeaderAndIsr", "StopReplica", "UpdateMetadata", "ControlledShutdown",
    /*  8 */ "OffsetCommit", "OffsetFetch", "FindCoordinator", "JoinGroup",
    /* 12 */ "Heartbeat", "LeaveGroup", "SyncGroup", "DescribeGroups",
    /* 16 */ "ListGroups", "SaslHandshake", "ApiVersions", "CreateTopics",
    /* 20 */ "DeleteTopics", "DeleteRecords", "InitProducerId", "OffsetForLeaderEpoch",
    /* 24 */ "AddPartitionsToTxn", "AddOffsetsToTxn", "EndTxn", "WriteTxnMarkers",
    /* 28 */ "TxnOffsetCommit", "DescribeAcls", "CreateAcls", "DeleteAcls",
    /* 32 */ "DescribeConfigs", "AlterConfigs", "AlterReplicaLogDirs", "DescribeLogDirs",
    /* 36 */ "SaslAuthenticate", "CreatePartitions", "CreateDelegationToken", "RenewDelegationToken",
    /* 40 */ "ExpireDelegationToken", "DescribeDelegationToken", "DeleteGroups", "ElectLeaders",
    /* 44 */ "IncrementalAlterConfigs", "AlterPartitionReassignments", "ListPartitionReassignments", "OffsetDelete",
};
// clang-format on

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return lower(x) == lower(y);
  });
}

std::optional<std::int64_t> to_int(std::string_view word) {
  std::int64_t value = 0;
  const auto* end = word.data() + word.size();
  const auto [ptr, ec] = std::from_chars(word.data(), end, value);
  if (ec != std::errc{} || ptr != end || word.empty()) return std::nullopt;
  return value;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::vector<std::string> split_words(std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const auto start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

std::optional<std::string> decode_bytes(std::string_view word) {
  if (word == "-") return std::nullopt;
  if (word == "\"\"") return std::string{};
  std::string out;
  out.reserve(word.size());
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (word[i] != '%') {
      out.push_back(word[i]);
      continue;
    }
    const bool complete = i + 2 < word.size();
    const int hi = complete ? hex_digit(word[i + 1]) : -1;
    const int lo = complete ? hex_digit(word[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw CommandError(fmt::format("bad percent escape at byte {} of '{}' (want %XX)", i, word));
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::int16_t parse_api_key(std::string_view word) {
  for (std::size_t i = 0; i < kApiNames.size(); ++i) {
    if (equal_ignoring_case(word, kApiNames[i])) return static_cast<std::int16_t>(i);
  }
  if (const auto n = to_int(word); n && *n >= 0 && *n <= 32767) return static_cast<std::int16_t>(*n);
  throw CommandError(
      fmt::format("unknown API '{}' (a name such as Fetch, OffsetCommit, JoinGroup, or a number)", word));
}

std::string api_name(std::int16_t key) {
  if (key >= 0 && static_cast<std::size_t>(key) < kApiNames.size()) return std::string(kApiNames[key]);
  return std::to_string(key);
}

int parse_error_code(std::string_view word) {
  if (const auto n = to_int(word)) return static_cast<int>(*n);
  constexpr std::string_view kPrefix = "RD_KAFKA_RESP_ERR_";
  if (word.size() > kPrefix.size() && equal_ignoring_case(word.substr(0, kPrefix.size()), kPrefix)) {
    word.remove_prefix(kPrefix.size());
  }
  const rd_kafka_err_desc* descs = nullptr;
  std::size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);
  for (std::size_t i = 0; i < count; ++i) {
    if (descs[i].name && equal_ignoring_case(word, descs[i].name)) return descs[i].code;
  }
  throw CommandError(
      fmt::format("unknown error code '{}' (a name such as NOT_COORDINATOR or REQUEST_TIMED_OUT, "
                  "or a number)",
                  word));
}

std::int64_t parse_int(std::string_view word, std::int64_t min, std::int64_t max, std::string_view what) {
  const auto n = to_int(word);
  if (!n || *n < min || *n > max) {
    throw CommandError(fmt::format("{} must be an integer from {} to {}, not '{}'", what, min, max, word));
  }
  return *n;
}

}  // namespace edgefn::kafka_mock
