#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "config/config_loader.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using edgefn::ConfigError;
using edgefn::ConfigNode;
using edgefn::ConfigNotice;
using edgefn::KindCatalog;
using edgefn::TriggerConfig;

namespace {

const fs::path kFixtures = EDGEFN_FIXTURES_DIR;
constexpr const char* kUnsetVariable = "EDGEFN_TEST_UNSET_VARIABLE";

// Sets (or unsets) one environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      ::setenv(name_.c_str(), value, 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// Stands in for the trigger registry: the http kind checks its attributes
// the way a real kind does, through ConfigNode.
KindCatalog test_catalog(std::vector<std::string>* validated = nullptr) {
  KindCatalog catalog;
  catalog.trigger_kinds = {"http", "cron", "mqtt", "kafka-cluster"};
  catalog.runtimes = {"native", "python", "shell"};
  catalog.nuclio_only_trigger_kinds = {"v3ioStream", "rabbit-mq", "kinesis", "nats",    "pubsub",
                                       "eventhub",   "webAdmin",  "kickstart", "poller", "partitioned"};
  catalog.nuclio_only_runtimes = {"golang", "java", "nodejs", "dotnetcore", "ruby"};
  catalog.validate_trigger = [validated](const TriggerConfig& trigger) {
    if (validated) validated->push_back(trigger.name);
    if (trigger.kind == "http" && trigger.attributes) {
      trigger.attributes->check_keys({"port", "maxRequestBodySize", "cors"}, {"ingresses", "serviceType"});
      trigger.attributes->get_int("port", 8080, 1, 65535);
    }
  };
  return catalog;
}

edgefn::LoadResult load(const std::string& name, std::vector<std::string>* validated = nullptr) {
  return edgefn::load_function_config(kFixtures / "good" / name, test_catalog(validated));
}

const TriggerConfig& trigger_named(const edgefn::FunctionConfig& config, const std::string& name) {
  auto it = std::find_if(config.triggers.begin(), config.triggers.end(),
                         [&](const TriggerConfig& t) { return t.name == name; });
  REQUIRE(it != config.triggers.end());
  return *it;
}

bool has_notice(const std::vector<ConfigNotice>& notices, ConfigNotice::Level level, const std::string& text) {
  return std::any_of(notices.begin(), notices.end(), [&](const ConfigNotice& n) {
    return n.level == level && n.message.find(text) != std::string::npos;
  });
}

std::size_t count_notices(const std::vector<ConfigNotice>& notices, const std::string& text) {
  return static_cast<std::size_t>(std::count_if(notices.begin(), notices.end(), [&](const ConfigNotice& n) {
    return n.message.find(text) != std::string::npos;
  }));
}

// A ConfigNode over inline YAML, for the typed-read tests.
struct Doc {
  explicit Doc(const std::string& yaml) : root(YAML::Load(yaml)) {}
  ConfigNode node() { return ConfigNode(root, "", "test.yaml", &notices); }
  ConfigNode at(std::string_view key) { return node().child(key); }
  YAML::Node root;
  std::vector<ConfigNotice> notices;
};

template <typename F>
std::string error_of(F&& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

std::string expectation_of(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  const std::string prefix = "# expect: ";
  if (line.rfind(prefix, 0) != 0) return {};
  return line.substr(prefix.size());
}

}  // namespace

TEST_CASE("every malformed fixture fails with file:line:col and the expected message") {
  ScopedEnv unset(kUnsetVariable, nullptr);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kFixtures / "bad")) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 20);

  for (const fs::path& file : files) {
    INFO("fixture " << file.filename().string());
    std::string expected = expectation_of(file);
    REQUIRE_FALSE(expected.empty());
    std::string message = error_of([&] { edgefn::load_function_config(file, test_catalog()); });
    CHECK(message.rfind(file.string() + ":", 0) == 0);
    CHECK_THAT(message, Catch::Contains(file.filename().string() + ":" + expected));
  }
}

TEST_CASE("a minimal function gets the default http trigger") {
  auto result = load("minimal.yaml");
  const auto& config = result.config;
  CHECK(config.runtime == "python");
  CHECK(config.runtime_kind() == "python");
  CHECK(config.runtime_version().empty());
  CHECK(config.handler == "main:handler");
  CHECK(config.file.is_absolute());
  CHECK(config.file == fs::weakly_canonical(kFixtures / "good" / "minimal.yaml"));
  CHECK(config.directory == config.file.parent_path());
  CHECK(config.name == "good");
  CHECK(config.namespace_name == "default");
  CHECK_FALSE(config.event_timeout);
  CHECK(config.build_path.empty());
  CHECK(config.readiness_timeout == 120s);  // Nuclio's default
  REQUIRE(config.triggers.size() == 1);
  const auto& http = config.triggers[0];
  CHECK(http.name == "default-http");
  CHECK(http.kind == "http");
  CHECK(http.num_workers == 1);
  CHECK(http.url == ":8080");
  CHECK_FALSE(http.disabled);
  CHECK(has_notice(result.notices, ConfigNotice::Level::kInfo, "added http trigger 'default-http'"));
}

TEST_CASE("an empty triggers mapping still gets the default http trigger") {
  auto result = load("default-http.yaml");
  REQUIRE(result.config.triggers.size() == 1);
  CHECK(result.config.triggers[0].name == "default-http");
  CHECK(result.config.triggers[0].mark.line == 8);
}

TEST_CASE("beside triggers of other kinds the default http trigger listens on this host only") {
  auto result = load("shared-allocator.yaml");
  REQUIRE(result.config.triggers.size() == 4);
  const auto& http = result.config.triggers.back();
  CHECK(http.name == "default-http");
  CHECK(http.kind == "http");
  CHECK(http.url == "127.0.0.1:8080");
  CHECK(http.num_workers == 1);
  CHECK(has_notice(result.notices, ConfigNotice::Level::kInfo,
                   "shared-allocator.yaml:7:3: spec.triggers: no http trigger declared: added http trigger "
                   "'default-http' on 127.0.0.1:8080 with 1 worker (this host only"));
}

TEST_CASE("a disabled http trigger stands in for the default one") {
  auto result = load("disabled-http.yaml");
  REQUIRE(result.config.triggers.size() == 2);
  CHECK(result.config.triggers[0].disabled);
  CHECK_FALSE(has_notice(result.notices, ConfigNotice::Level::kInfo, "default-http"));
}

TEST_CASE("a build without the http kind runs declared triggers without the default one") {
  KindCatalog catalog = test_catalog();
  catalog.trigger_kinds = {"cron", "mqtt", "kafka-cluster"};
  auto result = edgefn::load_function_config(kFixtures / "good" / "shared-allocator.yaml", catalog);
  CHECK(result.config.triggers.size() == 3);
  CHECK_THAT(error_of([&] { edgefn::load_function_config(kFixtures / "good" / "default-http.yaml", catalog); }),
             Catch::Contains("no triggers declared, and this build has no http trigger to add by default"));
}

TEST_CASE("disableDefaultHTTPTrigger leaves a function without triggers") {
  auto result = load("no-default-http.yaml");
  CHECK(result.config.triggers.empty());
}

TEST_CASE("a Nuclio-style function.yaml loads, its platform keys noted once each") {
  std::vector<std::string> validated;
  auto result = load("nuclio-full.yaml", &validated);
  const auto& config = result.config;
  const auto& notices = result.notices;

  CHECK(config.name == "orders");
  CHECK(config.namespace_name == "shop");
  CHECK(config.labels.at("team") == "payments");
  CHECK(config.labels.at("tier") == "100");
  CHECK(config.annotations.at("note") == "${NOT_EXPANDED_IN_ANNOTATIONS}");
  CHECK(config.description == "Handles orders");
  CHECK(config.version == "-1");
  CHECK(config.runtime == "python:3.11");
  CHECK(config.runtime_kind() == "python");
  CHECK(config.runtime_version() == "3.11");
  CHECK(config.runtime_mark.line == 15);
  CHECK(config.runtime_mark.column == 12);
  CHECK(config.handler == "orders.process:handler");
  using Env = std::vector<std::pair<std::string, std::string>>;
  CHECK(config.env == Env{{"LOG_LEVEL", "debug"}, {"RETRIES", "3"}});
  CHECK(has_notice(notices, ConfigNotice::Level::kWarning,
                   "spec.env[2].valueFrom.secretKeyRef: resolved by Nuclio's platform on Kubernetes; 'DB_PASSWORD' "
                   "is not set by edgefn"));
  REQUIRE(config.event_timeout);
  CHECK(*config.event_timeout == 90s);
  CHECK(config.build_path == fs::weakly_canonical(kFixtures / "good" / "src"));
  CHECK(config.function_source_code == "def handler(context, event):\n    return \"ok\"\n");
  // Run by `processor build`, not at load: no notice from the loader.
  CHECK(config.build_commands.size() == 1);
  CHECK(count_notices(notices, "spec.build.commands") == 0);
  REQUIRE(config.runtime_attributes);
  CHECK(config.runtime_attributes->get_string("arguments") == "--verbose");

  // Honoured, not a platform setting: how long a worker may take to start.
  CHECK(config.readiness_timeout == 120s);
  CHECK(count_notices(notices, "spec.readinessTimeoutSeconds") == 0);
  for (const char* key : {"spec.minReplicas", "spec.maxReplicas", "spec.replicas", "spec.targetCPU",
                          "spec.image", "spec.imageHash", "spec.platform",
                          "spec.resources", "spec.securityContext", "spec.volumes", "spec.serviceType",
                          "spec.build.baseImage", "spec.build.noCache", "spec.build.codeEntryType",
                          "spec.triggers.api.annotations"}) {
    INFO(key);
    CHECK(count_notices(notices, std::string(key) + ": a Nuclio platform setting") == 1);
  }
  CHECK(has_notice(notices, ConfigNotice::Level::kInfo, "nuclio-full.yaml:39:3: spec.minReplicas:"));
  CHECK(has_notice(notices, ConfigNotice::Level::kInfo, "spec.loggerSinks: edgefn writes logs to its own sink"));
  CHECK(has_notice(notices, ConfigNotice::Level::kInfo, "spec.triggers.api.attributes.ingresses"));
  CHECK(has_notice(notices, ConfigNotice::Level::kWarning, "spec.dataBindings: data bindings are not supported"));
  CHECK_FALSE(has_notice(notices, ConfigNotice::Level::kWarning, "unknown key"));

  REQUIRE(config.triggers.size() == 4);
  const auto& api = trigger_named(config, "api");
  CHECK(api.kind == "http");
  CHECK(api.num_workers == 8);
  CHECK(api.worker_availability_timeout == 0ms);
  CHECK(api.worker_termination_timeout == 10s);
  CHECK(api.explicit_ack_mode == "disable");
  CHECK(api.mark.line == 66);
  CHECK(api.mark.column == 5);
  REQUIRE(api.attributes);
  CHECK(api.attributes->get_int("port", 0) == 8090);
  CHECK(api.attributes->path() == "spec.triggers.api.attributes");

  const auto& orders = trigger_named(config, "orders");
  CHECK(orders.kind == "kafka-cluster");
  CHECK(orders.url == "127.0.0.1:9092");
  CHECK(orders.num_workers == 2);
  CHECK(orders.worker_termination_timeout == 30s);
  CHECK(orders.explicit_ack_mode == "explicitOnly");
  CHECK(orders.worker_availability_timeout == 10000ms);
  REQUIRE(orders.attributes);
  CHECK(orders.attributes->child("topics").as_string_list() == std::vector<std::string>{"orders"});

  const auto& nightly = trigger_named(config, "nightly-report");
  CHECK(nightly.disabled);
  CHECK(nightly.kind == "cron");

  const auto& stream = trigger_named(config, "stream");
  CHECK(stream.disabled);
  CHECK(stream.kind == "v3ioStream");
  CHECK(has_notice(notices, ConfigNotice::Level::kWarning, "'v3ioStream' is not supported by edgefn"));

  // Only enabled triggers reach the kinds' validators.
  CHECK(validated == std::vector<std::string>{"api", "orders"});
}

TEST_CASE("${VAR} is kept as written, and valueFrom.envVar reads the processor's environment") {
  ScopedEnv name("EDGEFN_TEST_FN_NAME", "sensor-fn");
  ScopedEnv user("EDGEFN_TEST_USER", "ada");
  ScopedEnv broker("EDGEFN_TEST_BROKER", "10.0.0.7");
  ScopedEnv token("EDGEFN_TEST_TOKEN", "s3cret ${NOT_EXPANDED_EITHER}");
  auto result = load("env-literal.yaml");
  const auto& config = result.config;
  CHECK(config.name == "${EDGEFN_TEST_FN_NAME}");
  CHECK(config.labels.at("raw") == "${EDGEFN_TEST_UNSET_VARIABLE}");
  using Env = std::vector<std::pair<std::string, std::string>>;
  CHECK(config.env == Env{{"GREETING", "hello ${EDGEFN_TEST_USER}, cost is $${PRICE}"},
                          {"TOKEN", "s3cret ${NOT_EXPANDED_EITHER}"}});
  const auto& sensors = trigger_named(config, "sensors");
  CHECK(sensors.url == "tcp://${EDGEFN_TEST_BROKER}:1883");
  CHECK(sensors.username == "${EDGEFN_TEST_USER}");
  CHECK(sensors.password == "s3cret ${NOT_EXPANDED_EITHER}");
}

TEST_CASE("is_env_name accepts what a shell accepts") {
  CHECK(edgefn::is_env_name("HOME"));
  CHECK(edgefn::is_env_name("_x1"));
  CHECK_FALSE(edgefn::is_env_name(""));
  CHECK_FALSE(edgefn::is_env_name("1A"));
  CHECK_FALSE(edgefn::is_env_name("A B"));
  CHECK_FALSE(edgefn::is_env_name("A=B"));
}

TEST_CASE("Nuclio's disable, batch and platform fields are known") {
  auto result = load("nuclio-fields.yaml");
  const auto& notices = result.notices;
  CHECK(result.config.disabled);
  CHECK(result.config.triggers.size() == 1);
  CHECK(count_notices(notices, "unknown key") == 0);
  for (const char* key : {"spec.autoScaleMetrics", "spec.preemptionMode", "spec.triggers.api.mode"}) {
    INFO(key);
    CHECK(has_notice(notices, ConfigNotice::Level::kInfo, std::string(key) + ": a Nuclio platform setting; ignored"));
  }
  // Read (the kafka-cluster kind uses it), so neither ignored nor unknown.
  CHECK(count_notices(notices, "waitExplicitAckDuringRebalanceTimeout") == 0);
  CHECK(result.config.triggers.front().wait_explicit_ack_during_rebalance == std::chrono::milliseconds(100));
  CHECK(count_notices(notices, "batch") == 0);
  CHECK_FALSE(load("minimal.yaml").config.disabled);
}

TEST_CASE("triggers naming one allocator share its numWorkers") {
  auto result = load("shared-allocator.yaml");
  const auto& config = result.config;
  REQUIRE(config.triggers.size() == 4);  // with default-http
  CHECK(trigger_named(config, "mqtt-in").worker_allocator_name == "shared");
  CHECK(trigger_named(config, "kafka-in").worker_allocator_name == "shared");
  CHECK(trigger_named(config, "kafka-in").num_workers == 4);
  CHECK(trigger_named(config, "own-pool").worker_allocator_name.empty());
  CHECK(config.runtime == "native");
}

TEST_CASE("misspelled keys warn with the nearest known key") {
  auto result = load("typos.yaml");
  const auto& notices = result.notices;
  CHECK(has_notice(notices, ConfigNotice::Level::kWarning,
                   "typos.yaml:4:3: spec.handlr: unknown key, ignored; did you mean 'handler'?"));
  CHECK(has_notice(notices, ConfigNotice::Level::kWarning,
                   "typos.yaml:9:7: spec.triggers.api.numWorker: unknown key, ignored; did you mean 'numWorkers'?"));
  CHECK(has_notice(notices, ConfigNotice::Level::kWarning,
                   "spec.triggers.api.workerAvailabilityTimeout: unknown key, ignored; did you mean "
                   "'workerAvailabilityTimeoutMilliseconds'?"));
  CHECK(has_notice(notices, ConfigNotice::Level::kWarning,
                   "spec.triggers.api.attributes.prot: unknown key, ignored; did you mean 'port'?"));
  CHECK(trigger_named(result.config, "api").num_workers == 1);
}

TEST_CASE("a missing or unreadable file is a ConfigError naming it and why") {
  auto missing = kFixtures / "good" / "no-such-function.yaml";
  CHECK(error_of([&] { edgefn::load_function_config(missing, test_catalog()); }) ==
        "cannot read " + missing.string() + ": No such file or directory");
  auto directory = kFixtures / "good";
  CHECK(error_of([&] { edgefn::load_function_config(directory, test_catalog()); }) ==
        "cannot read " + directory.string() + ": Is a directory");
}

TEST_CASE("an unsupported runtime lists the runtimes of this build") {
  KindCatalog catalog = test_catalog();
  catalog.runtimes = {"shell"};
  std::string message = error_of([&] { edgefn::load_function_config(kFixtures / "good" / "minimal.yaml", catalog); });
  CHECK_THAT(message, Catch::Contains("minimal.yaml:4:12: spec.runtime: unknown runtime 'python'; supported "
                                      "runtimes: shell"));
}

TEST_CASE("validate_runtime sees the whole config and its notices reach the result") {
  KindCatalog catalog = test_catalog();
  catalog.validate_runtime = [](const edgefn::FunctionConfig& config) {
    REQUIRE(config.runtime_attributes);
    config.runtime_attributes->check_keys({"responseHeaders"});
  };
  auto result = edgefn::load_function_config(kFixtures / "good" / "nuclio-full.yaml", catalog);
  CHECK(has_notice(result.notices, ConfigNotice::Level::kWarning, "spec.runtimeAttributes.arguments: unknown key"));

  catalog.validate_runtime = [](const edgefn::FunctionConfig& config) {
    config.runtime_attributes->child("arguments").fail("not for this runtime");
  };
  CHECK_THAT(error_of([&] { edgefn::load_function_config(kFixtures / "good" / "nuclio-full.yaml", catalog); }),
             Catch::Contains("nuclio-full.yaml:38:16: spec.runtimeAttributes.arguments: not for this runtime"));
}

TEST_CASE("nearest_key suggests plausible typos only") {
  using edgefn::nearest_key;
  auto keys = {std::string_view("numWorkers"), std::string_view("url"), std::string_view("kind"),
               std::string_view("workerAllocatorName")};
  CHECK(nearest_key("numWorker", keys) == "numWorkers");
  CHECK(nearest_key("numworkers", keys) == "numWorkers");
  CHECK(nearest_key("nmuWorkers", keys) == "numWorkers");
  CHECK(nearest_key("kidn", keys) == "kind");
  CHECK(nearest_key("ulr", keys) == "url");
  CHECK(nearest_key("workerAllocator", keys) == "workerAllocatorName");
  CHECK_FALSE(nearest_key("xyz", keys));
  CHECK_FALSE(nearest_key("topics", keys));
  CHECK_FALSE(nearest_key("", keys));
  std::vector<std::string> kinds{"http", "cron", "mqtt", "kafka-cluster"};
  CHECK(nearest_key("htpp", kinds) == "http");
  CHECK(nearest_key("kafka-clustr", kinds) == "kafka-cluster");
  CHECK_FALSE(nearest_key("rabbit-mq", kinds));
}

TEST_CASE("typed reads convert scalars and name the path and position on error") {
  Doc doc(
      "a:\n"
      "  count: 4\n"
      "  word: four\n"
      "  negative: -3\n"
      "  big: 99999999999999999999\n"
      "  fromenv: ${EDGEFN_TEST_WORKERS}\n"
      "  yes: true\n"
      "  off: Off\n"
      "  maybe: maybe\n"
      "  d1: 1m30s\n"
      "  d2: 45\n"
      "  d3: 10 s\n"
      "  d4: -2s\n"
      "  list: [a, b]\n"
      "  csv: 'a, b,,c '\n"
      "  map: {x: 1}\n"
      "  empty:\n");
  ConfigNode a = doc.at("a");
  CHECK(a.child("count").as_int(1, 10) == 4);
  CHECK(a.child("COUNT").as_int(1, 10) == 4);
  CHECK_THAT(error_of([&] { a.child("fromenv").as_int(1, 10); }),
             Catch::Contains("a.fromenv: expected an integer between 1 and 10, got '${EDGEFN_TEST_WORKERS}'"));
  CHECK(error_of([&] { a.child("word").as_int(1, INT64_MAX); }) ==
        "test.yaml:3:9: a.word: expected a positive integer, got 'four'");
  CHECK(error_of([&] { a.child("negative").as_int(0, INT64_MAX); }) ==
        "test.yaml:4:13: a.negative: expected a non-negative integer, got '-3'");
  CHECK(error_of([&] { a.child("count").as_int(5, 9); }) ==
        "test.yaml:2:10: a.count: expected an integer between 5 and 9, got '4'");
  CHECK_THAT(error_of([&] { a.child("big").as_int(1, INT64_MAX); }),
             Catch::Contains("a.big: expected an integer between 1 and 9223372036854775807"));
  CHECK_THAT(error_of([&] { a.child("map").as_int(1, INT64_MAX); }),
             Catch::Contains("a.map: expected a positive integer, got a mapping"));

  CHECK(a.child("yes").as_bool());
  CHECK_FALSE(a.child("off").as_bool());
  CHECK(error_of([&] { a.child("maybe").as_bool(); }) == "test.yaml:9:10: a.maybe: expected true or false, got 'maybe'");

  CHECK(a.child("d1").as_duration() == 90s);
  CHECK(a.child("d2").as_duration() == 45s);
  CHECK_THAT(error_of([&] { a.child("d3").as_duration(); }),
             Catch::Contains("a.d3: expected a duration such as '10s' or '1m30s', got '10 s'"));
  CHECK_THAT(error_of([&] { a.child("d4").as_duration(); }),
             Catch::Contains("a.d4: expected a non-negative duration, got '-2s'"));

  CHECK(a.child("list").as_string_list() == std::vector<std::string>{"a", "b"});
  CHECK(a.child("csv").as_string_list() == std::vector<std::string>{"a", "b", "c"});
  CHECK_THAT(error_of([&] { a.child("map").as_string(); }), Catch::Contains("a.map: expected a string, got a mapping"));
  CHECK_THAT(error_of([&] { a.child("map").as_string_list(); }),
             Catch::Contains("a.map: expected a list of strings or a comma-separated string, got a mapping"));

  // An empty value reads as absent, and errors point at its key.
  CHECK_FALSE(a.child("empty").defined());
  CHECK(a.get_int("empty", 7) == 7);
  CHECK(error_of([&] { a.child("empty").as_string(); }) == "test.yaml:17:3: a.empty: expected a string, got nothing");
}

TEST_CASE("absent children are undefined at any depth and never throw") {
  Doc doc("a:\n  b: 1\n");
  ConfigNode deep = doc.at("x").child("y").child("z");
  CHECK_FALSE(deep.defined());
  CHECK(deep.path() == "x.y.z");
  CHECK(deep.elements().empty());
  CHECK(deep.entries().empty());
  CHECK(deep.get_string("k", "fallback") == "fallback");
  CHECK(deep.get_bool("k", true));
  CHECK(deep.get_duration("k", 3s) == 3s);
  CHECK_FALSE(doc.at("a").child("b").child("c").defined());
  // Points at the nearest key that exists.
  CHECK(doc.at("a").child("nope").mark().line == 1);
}

TEST_CASE("check_keys notes platform keys once and suggests for unknown ones") {
  Doc doc(
      "spec:\n"
      "  numWorkers: 1\n"
      "  NUMWORKERS2: 1\n"
      "  minReplicas: 2\n"
      "  zzz: 3\n");
  doc.at("spec").check_keys({"numWorkers"}, {"minReplicas"});
  REQUIRE(doc.notices.size() == 3);
  CHECK(doc.notices[0].level == ConfigNotice::Level::kWarning);
  CHECK(doc.notices[0].message == "test.yaml:3:3: spec.NUMWORKERS2: unknown key, ignored; did you mean 'numWorkers'?");
  CHECK(doc.notices[1].level == ConfigNotice::Level::kInfo);
  CHECK(doc.notices[1].message == "test.yaml:4:3: spec.minReplicas: a Nuclio platform setting; ignored by edgefn");
  CHECK(doc.notices[2].message == "test.yaml:5:3: spec.zzz: unknown key, ignored");
}

TEST_CASE("assigning a ConfigNode rebinds it without editing the document") {
  Doc doc("a: 1\nb: 2\n");
  ConfigNode a = doc.at("a");
  ConfigNode b = doc.at("b");
  std::optional<ConfigNode> held = a;
  held = b;
  a = b;
  CHECK(doc.at("a").as_int(0, 9) == 1);
  CHECK(a.as_int(0, 9) == 2);
  CHECK(held->path() == "b");
}

TEST_CASE("nodes kept in a loaded config outlive the loader's notices") {
  std::optional<ConfigNode> attributes;
  {
    auto result = load("nuclio-full.yaml");
    attributes = trigger_named(result.config, "api").attributes;
  }
  REQUIRE(attributes);
  attributes->check_keys({"port"});
  CHECK(attributes->get_int("port", 0) == 8090);
}

TEST_CASE("SourceMark formats as file:line:col") {
  CHECK(edgefn::SourceMark{"f.yaml", 12, 19}.to_string() == "f.yaml:12:19");
  CHECK(edgefn::SourceMark{"f.yaml", 0, 0}.to_string() == "f.yaml");
  CHECK(edgefn::SourceMark{"", 3, 4}.to_string() == "3:4");
  CHECK(ConfigError(edgefn::SourceMark{"f.yaml", 1, 2}, "spec: bad").what() == std::string("f.yaml:1:2: spec: bad"));
}
