#include "config/config_map.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include "app/kinds.hpp"
#include "config/config_node.hpp"
#include "trigger/http/http_settings.hpp"

using edgefn::ConfigError;
using edgefn::ConfigKey;
using edgefn::ConfigMap;
using edgefn::ConfigNode;
using edgefn::ConfigNotice;
using edgefn::KeyType;

namespace {

struct Doc {
  explicit Doc(const std::string& yaml) : root(YAML::Load(yaml)) {}
  ConfigNode at(std::string_view key) { return ConfigNode(root, "", "test.yaml", &notices).child(key); }
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

const ConfigMap& test_map() {
  static const ConfigMap inner{"inner", "", {{.name = "depth", .type = KeyType::kInteger, .min = 1, .max = 3}}, {}};
  static const ConfigMap map = [] {
    ConfigMap m{"test",
                "spec.test",
                {
                    {.name = "numWorkers", .type = KeyType::kInteger, .min = 1, .max = 8, .help = "workers"},
                    {.name = "enabled", .type = KeyType::kBool, .default_value = "false", .help = "on | off"},
                    {.name = "timeout", .type = KeyType::kDuration, .default_value = "10s", .help = "how long"},
                    {.name = "mode", .type = KeyType::kChoice, .choices = {"fast", "safe"}, .help = "which"},
                    {.name = "label", .help = "kept verbatim"},
                    {.name = "tags", .type = KeyType::kStringList, .help = "tags"},
                    {.name = "nested", .type = KeyType::kMapping, .default_note = "none", .fields = &inner},
                },
                {}};
    edgefn::add_ignored(m, {"minReplicas", "maxReplicas"}, "scaling");
    edgefn::add_ignored(m, {"image"}, "");
    return m;
  }();
  return map;
}

}  // namespace

TEST_CASE("a config map warns about unknown keys and notes ignored ones with their reason") {
  Doc doc(
      "spec:\n"
      "  NumWorkers: 2\n"
      "  numWorker: 1\n"
      "  minReplicas: 2\n"
      "  image: x\n"
      "  zzz: 3\n"
      "  nested: {depht: 2}\n");
  doc.at("spec").check_keys(test_map());
  REQUIRE(doc.notices.size() == 5);
  CHECK(doc.notices[0].message == "test.yaml:3:3: spec.numWorker: unknown key, ignored; did you mean 'numWorkers'?");
  CHECK(doc.notices[1].level == ConfigNotice::Level::kInfo);
  CHECK(doc.notices[1].message ==
        "test.yaml:4:3: spec.minReplicas: a Nuclio platform setting; ignored by edgefn (scaling)");
  CHECK(doc.notices[2].message == "test.yaml:5:3: spec.image: a Nuclio platform setting; ignored by edgefn");
  CHECK(doc.notices[3].message == "test.yaml:6:3: spec.zzz: unknown key, ignored");
  CHECK(doc.notices[4].message == "test.yaml:7:12: spec.nested.depht: unknown key, ignored; did you mean 'depth'?");
}

TEST_CASE("a config map checks each declared key's type and range as the typed reads do") {
  auto check = [](const std::string& yaml) {
    return error_of([&] {
      Doc doc("spec:\n" + yaml);
      doc.at("spec").check_keys(test_map());
    });
  };
  CHECK(check("  numWorkers: 9\n") == "test.yaml:2:15: spec.numWorkers: expected an integer between 1 and 8, got '9'");
  CHECK(check("  enabled: maybe\n") == "test.yaml:2:12: spec.enabled: expected true or false, got 'maybe'");
  CHECK(check("  timeout: soon\n") ==
        "test.yaml:2:12: spec.timeout: expected a duration such as '10s' or '1m30s', got 'soon'");
  CHECK(check("  MODE: slow\n") == "test.yaml:2:9: spec.MODE: expected one of fast, safe, got 'slow'");
  CHECK(check("  label: [a]\n") == "test.yaml:2:10: spec.label: expected a string, got a list");
  CHECK(check("  tags: {a: 1}\n") ==
        "test.yaml:2:9: spec.tags: expected a list of strings or a comma-separated string, got a mapping");
  CHECK(check("  nested: {depth: 4}\n") ==
        "test.yaml:2:19: spec.nested.depth: expected an integer between 1 and 3, got '4'");

  // Left to the reader: what an empty duration means, a mapping's shape.
  // `${...}` is text like any other (it is not expanded).
  CHECK(check("  timeout: ''\n  nested: x\n  label: ${EDGEFN_TEST_UNSET_VARIABLE}\n  mode: Safe\n  tags: a, b\n"
              "  numWorkers:\n") == "(no ConfigError)");
}

TEST_CASE("a declared integer key is read with its own range") {
  Doc doc("spec:\n  numWorkers: 12\n");
  const ConfigKey& key = test_map().at("NUMWORKERS");
  CHECK(error_of([&] { doc.at("spec").get_int(key, 1); }) ==
        "test.yaml:2:15: spec.numWorkers: expected an integer between 1 and 8, got '12'");
  CHECK(Doc("spec: {}\n").at("spec").get_int(key, 3) == 3);
  CHECK_THROWS_AS(test_map().at("noSuchKey"), std::logic_error);
  CHECK(edgefn::canonical_choice(test_map().at("mode"), "SAFE") == "safe");
  CHECK(edgefn::canonical_choice(test_map().at("mode"), "slow").empty());
}

TEST_CASE("a config map prints as a Markdown table with its ignored keys") {
  CHECK(edgefn::markdown_table(test_map()) ==
        "| key | type | default | what it does |\n"
        "| --- | --- | --- | --- |\n"
        "| `numWorkers` | integer, 1 to 8 | | workers |\n"
        "| `enabled` | bool | `false` | on \\| off |\n"
        "| `timeout` | duration | `10s` | how long |\n"
        "| `mode` | `fast`, `safe` | | which |\n"
        "| `label` | string | | kept verbatim |\n"
        "| `tags` | list of strings | | tags |\n"
        "| `nested` | mapping | none | |\n"
        "\n"
        "Ignored, as Nuclio platform settings: `minReplicas`, `maxReplicas` (scaling); `image`.\n");
  auto sections = edgefn::sections_of(test_map());
  REQUIRE(sections.size() == 2);
  CHECK(sections[1].name == "test.nested");
  CHECK(sections[1].where == "spec.test.nested");
  CHECK(sections[1].map == test_map().at("nested").fields);
}

TEST_CASE("defaults print as they would be written in function.yaml") {
  CHECK(edgefn::default_text(true) == "true");
  CHECK(edgefn::default_text(std::uint32_t{16384}) == "16384");
  CHECK(edgefn::default_text(-1) == "-1");
  CHECK(edgefn::default_text(std::chrono::milliseconds{60'000}) == "1m");
  CHECK(edgefn::default_text(std::chrono::milliseconds{75'000}) == "1m15s");
  CHECK(edgefn::default_text(std::chrono::milliseconds{10'000}) == "10s");
  CHECK(edgefn::default_text(std::chrono::hours{2}) == "2h0m");
  CHECK(edgefn::default_text(std::vector<std::string>{"GET", "POST"}) == "GET, POST");
  CHECK(edgefn::byte_size_note(4u << 20) == "4 MiB");
  CHECK(edgefn::byte_size_note(16 * 1024) == "16 KiB");
  CHECK(edgefn::byte_size_note(1u << 30) == "1 GiB");
  CHECK(edgefn::byte_size_note(1000).empty());
  CHECK(edgefn::describe_type({.name = "n", .type = KeyType::kInteger, .min = 0}) == "integer, at least 0");
}

TEST_CASE("every registered config map is well formed") {
  std::set<std::string> sections;
  for (const ConfigMap* map : edgefn::config_maps()) {
    for (const auto& section : edgefn::sections_of(*map)) {
      INFO("section " << section.name);
      CHECK(sections.insert(section.name).second);
      CHECK_FALSE(section.where.empty());
      std::set<std::string> names;
      for (const ConfigKey& key : section.map->keys) {
        INFO("key " << key.name);
        std::string lower = key.name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        CHECK(names.insert(lower).second);
        CHECK_FALSE(key.help.empty());
        CHECK(key.help.find('\n') == std::string::npos);
        CHECK((key.type == KeyType::kChoice) == !key.choices.empty());
        CHECK((key.fields == nullptr || key.type == KeyType::kMapping || key.type == KeyType::kList));
        CHECK_FALSE(section.map->find_ignored(key.name));
      }
    }
  }
  for (const char* name :
       {"metadata", "spec", "spec.build", "trigger", "http", "http.cors", "cron", "cron.event", "mqtt", "mqtt.subscriptions",
        "mqtt.tls", "mqtt.will", "native", "shell"}) {
    CHECK(sections.count(name) == 1);
  }
}

TEST_CASE("http attributes are checked whole, also those a url overrides") {
  YAML::Node root = YAML::Load("attributes:\n  port: 70000\n");
  edgefn::TriggerConfig trigger;
  trigger.name = "web";
  trigger.kind = "http";
  trigger.url = ":9000";
  trigger.attributes = ConfigNode(root, "", "f.yaml", nullptr).child("attributes");
  CHECK(error_of([&] { edgefn::read_http_settings(trigger); }) ==
        "f.yaml:2:9: attributes.port: expected an integer between 0 and 65535, got '70000'");

  // The table shows the defaults the reader starts from.
  const edgefn::HttpSettings defaults;
  const ConfigMap& map = edgefn::http_config_map();
  CHECK(map.at("maxHeaderSize").default_value == std::to_string(defaults.max_header_size));
  CHECK(map.at("keepAliveTimeout").default_value == "1m15s");
  CHECK(map.at("cors").fields->at("allowMethods").default_value == "HEAD, GET, POST, PUT, DELETE, OPTIONS, PATCH");
}
