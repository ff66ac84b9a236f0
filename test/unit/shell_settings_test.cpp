#include "runtime/handler_environment.hpp"
#include "runtime/shell/shell_settings.hpp"

#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>

#include "config/config_error.hpp"

using namespace edgefn;
namespace fs = std::filesystem;

namespace {

// A fresh directory, removed afterwards.
struct TempDir {
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("edgefn-shell-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const std::string& text, fs::perms perms = fs::perms::owner_read) {
    auto p = path / name;
    std::ofstream(p) << text;
    fs::permissions(p, perms);
    return p;
  }
  fs::path path;
};

const std::string kPath = "/usr/local/bin:/usr/bin:/bin";

bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}

}  // namespace

TEST_CASE("shebang lines split like the kernel splits them") {
  CHECK_FALSE(parse_shebang("echo hi").has_value());
  CHECK_FALSE(parse_shebang("#!").has_value());
  auto s = parse_shebang("#!/usr/bin/env python3");
  REQUIRE(s);
  CHECK(s->interpreter == "/usr/bin/env");
  CHECK(s->argument == "python3");
  s = parse_shebang("#! /bin/sh -e -u \r");
  REQUIRE(s);
  CHECK(s->interpreter == "/bin/sh");
  CHECK(s->argument == "-e -u");
  CHECK(parse_shebang("#!/bin/bash")->argument.empty());
}

TEST_CASE("sh and bash shebangs, directly or through env, run with bash") {
  CHECK(wants_bash(*parse_shebang("#!/bin/sh")));
  CHECK(wants_bash(*parse_shebang("#!/bin/bash -e")));
  CHECK(wants_bash(*parse_shebang("#!/usr/bin/env bash")));
  CHECK(wants_bash(*parse_shebang("#!/usr/bin/env sh")));
  CHECK_FALSE(wants_bash(*parse_shebang("#!/usr/bin/env python3")));
  CHECK_FALSE(wants_bash(*parse_shebang("#!/usr/bin/env -S bash -e")));
  CHECK_FALSE(wants_bash(*parse_shebang("#!/bin/zsh")));
  CHECK_FALSE(wants_bash(*parse_shebang("#!/usr/bin/dash")));
}

TEST_CASE("a script in the function directory runs with bash and needs no execute bit") {
  TempDir dir;
  auto file = dir.write("handler.sh", "[ \"$1\" == x ] && echo yes\n");
  auto bash = find_on_path("bash", kPath);
  REQUIRE_FALSE(bash.empty());
  auto c = resolve_shell_command("handler.sh:main", dir.path, kPath);
  CHECK(c.prefix == std::vector<std::string>{bash.string(), file.string()});
  CHECK(c.description == bash.string() + " " + file.string());
}

TEST_CASE("a #!/bin/sh option is kept when the script runs with bash") {
  TempDir dir;
  auto file = dir.write("strict.sh", "#!/bin/sh -eu\necho hi\n");
  auto c = resolve_shell_command("strict.sh", dir.path, kPath);
  CHECK(c.prefix == std::vector<std::string>{find_on_path("bash", kPath).string(), "-eu", file.string()});
}

TEST_CASE("a script whose #! names another interpreter runs with that interpreter") {
  TempDir dir;
  auto file = dir.write("handler.py", "#!/usr/bin/env python3\nprint('hi')\n");
  auto c = resolve_shell_command("handler.py", dir.path, kPath);
  CHECK(c.prefix == std::vector<std::string>{"/usr/bin/env", "python3", file.string()});
}

TEST_CASE("a #! interpreter that does not exist is a config error") {
  TempDir dir;
  dir.write("handler.x", "#!/nonexistent/interp\n");
  CHECK_THROWS_WITH(resolve_shell_command("handler.x", dir.path, kPath),
                    Catch::Contains("/nonexistent/interp, which is not an executable file"));
}

TEST_CASE("a command on PATH runs directly, a missing handler is a config error") {
  TempDir dir;
  auto c = resolve_shell_command("tr", dir.path, kPath);
  REQUIRE(c.prefix.size() == 1);
  CHECK(fs::path(c.prefix[0]).filename() == "tr");
  CHECK(fs::path(c.prefix[0]).is_absolute());

  CHECK_THROWS_AS(resolve_shell_command("no-such-handler-xyz", dir.path, kPath), HandlerError);
  CHECK_THROWS_WITH(resolve_shell_command("no-such-handler-xyz", dir.path, kPath),
                    Catch::Contains("no file 'no-such-handler-xyz' in the function directory") &&
                        Catch::Contains("on PATH (" + kPath + ")"));
  CHECK_THROWS_AS(resolve_shell_command("", dir.path, kPath), HandlerError);
  CHECK_THROWS_AS(resolve_shell_command("sub/missing.sh", dir.path, kPath), HandlerError);
}

TEST_CASE("a command found on PATH must be executable") {
  TempDir dir;
  dir.write("plain", "#!/bin/sh\n");
  dir.write("runnable", "#!/bin/sh\n", fs::perms::owner_read | fs::perms::owner_exec);
  const std::string path = dir.path.string();
  CHECK(find_on_path("plain", path).empty());
  CHECK(find_on_path("runnable", path) == dir.path / "runnable");
  // Empty entries would mean the daemon's current directory: skipped.
  CHECK(find_on_path("runnable", ":" + path + ":") == dir.path / "runnable");
  CHECK_THROWS_AS(resolve_shell_command("plain", "/nonexistent", path), HandlerError);
  CHECK(resolve_shell_command("runnable", "/nonexistent", path).prefix ==
        std::vector<std::string>{(dir.path / "runnable").string()});
}

TEST_CASE("the environment is spec.env, the allowed daemon variables and NUCLIO_*") {
  FunctionConfig config;
  config.name = "fn";
  config.description = "does things";
  config.handler = "h.sh";
  config.env = {{"GREETING", "hello"}, {"PATH", "/opt/bin:/bin"}};
  Environment inherited{{"HOME", "/home/d"}, {"PATH", "/usr/bin"}};
  auto base = base_environment(config, inherited);
  CHECK(handler_path(base) == "/opt/bin:/bin");
  CHECK(handler_path({}) == "/usr/local/bin:/usr/bin:/bin");

  TriggerInfo trigger{"http", "api"};
  Event e;
  e.id = "id-1";
  e.trigger = &trigger;
  e.method = "POST";
  e.path = "/p";
  e.url = "http://h/p";
  e.content_type = "text/csv";
  e.timestamp = std::chrono::system_clock::time_point{std::chrono::seconds{1700000000}} + std::chrono::milliseconds{5};
  auto env = event_environment(base, e);
  CHECK(has(env, "GREETING=hello"));
  CHECK(has(env, "HOME=/home/d"));
  CHECK(has(env, "PATH=/opt/bin:/bin"));
  CHECK_FALSE(has(env, "PATH=/usr/bin"));
  CHECK(has(env, "NUCLIO_FUNCTION_NAME=fn"));
  CHECK(has(env, "NUCLIO_FUNCTION_DESCRIPTION=does things"));
  CHECK(has(env, "NUCLIO_FUNCTION_VERSION=-1"));
  CHECK(has(env, "NUCLIO_FUNCTION_HANDLER=h.sh"));
  CHECK(has(env, "NUCLIO_EVENT_ID=id-1"));
  CHECK(has(env, "NUCLIO_TRIGGER_CLASS=sync"));
  CHECK(has(env, "NUCLIO_TRIGGER_KIND=http"));
  CHECK(has(env, "NUCLIO_EVENT_CONTENT_TYPE=text/csv"));
  CHECK(has(env, "NUCLIO_EVENT_TIMESTAMP=2023-11-14T22:13:20Z"));
  CHECK(has(env, "NUCLIO_EVENT_PATH=/p"));
  CHECK(has(env, "NUCLIO_EVENT_URL=http://h/p"));
  CHECK(has(env, "NUCLIO_EVENT_METHOD=POST"));
  CHECK(has(env, "NUCLIO_EVENT_SHARD_ID=-1"));
  CHECK(has(env, "NUCLIO_EVENT_NUM_SHARDS=0"));
  CHECK(has(env, "NUCLIO_EVENT_TYPE="));
  CHECK(has(env, "NUCLIO_EVENT_TYPE_VERSION="));
  CHECK(has(env, "NUCLIO_EVENT_VERSION="));
  CHECK(has(env, "NUCLIO_EVENT_TOPIC="));
  CHECK(has(env, "NUCLIO_EVENT_OFFSET=-1"));
  CHECK(has(env, "NUCLIO_EVENT_KEY="));
}

TEST_CASE("a stream event's topic, key, partition, offset and fields reach the shell handler; query arguments do not") {
  TriggerInfo mqtt{"mqtt", "sensors"};
  Event e;
  e.trigger = &mqtt;
  e.topic = "sensors/a";
  e.offset = 7;
  e.fields = {{"qos", "1"}, {"retain", "false"}, {"odd-name", "x"}};
  auto env = event_environment({}, e);
  CHECK(has(env, "NUCLIO_EVENT_TOPIC=sensors/a"));
  CHECK(has(env, "NUCLIO_EVENT_OFFSET=7"));
  CHECK(has(env, "NUCLIO_EVENT_FIELD_QOS=1"));
  CHECK(has(env, "NUCLIO_EVENT_FIELD_RETAIN=false"));
  CHECK(has(env, "NUCLIO_EVENT_FIELD_ODD_NAME=x"));

  TriggerInfo kafka{"kafka-cluster", "orders"};
  e.trigger = &kafka;
  e.topic = "orders";
  e.key = "customer-42";
  e.shard_id = 3;
  e.num_shards = 8;
  e.offset = 1234567890123;
  e.fields = {};
  env = event_environment({}, e);
  CHECK(has(env, "NUCLIO_TRIGGER_CLASS=async"));
  CHECK(has(env, "NUCLIO_EVENT_TOPIC=orders"));
  CHECK(has(env, "NUCLIO_EVENT_KEY=customer-42"));
  CHECK(has(env, "NUCLIO_EVENT_SHARD_ID=3"));
  CHECK(has(env, "NUCLIO_EVENT_NUM_SHARDS=8"));
  CHECK(has(env, "NUCLIO_EVENT_OFFSET=1234567890123"));
  // A variable cannot hold a NUL byte: the key is cut at its first one.
  e.key = std::string("ab\0cd", 5);
  env = event_environment({}, e);
  CHECK(has(env, "NUCLIO_EVENT_KEY=ab"));

  TriggerInfo http{"http", "api"};
  e.trigger = &http;
  e.fields = {{"LD_PRELOAD", "/tmp/x.so"}};
  env = event_environment({}, e);
  for (const auto& entry : env) CHECK(entry.find("LD_PRELOAD") == std::string::npos);
}

TEST_CASE("per-event variables win over spec.env of the same name") {
  FunctionConfig config;
  config.env = {{"NUCLIO_EVENT_ID", "forged"}};
  Event e;
  e.id = "real";
  auto env = event_environment(base_environment(config, {}), e);
  CHECK(has(env, "NUCLIO_EVENT_ID=real"));
  CHECK_FALSE(has(env, "NUCLIO_EVENT_ID=forged"));
}

TEST_CASE("only PATH, HOME, LANG, TZ and STATE_DIRECTORY are inherited from the daemon") {
  ::setenv("EDGEFN_SHELL_TEST_SECRET", "x", 1);
  for (const auto& [name, value] : inherited_environment()) {
    CHECK((name == "PATH" || name == "HOME" || name == "LANG" || name == "TZ" || name == "STATE_DIRECTORY"));
  }
  ::unsetenv("EDGEFN_SHELL_TEST_SECRET");
}

namespace {

FunctionConfig with_attributes(const std::string& yaml) {
  FunctionConfig config;
  config.runtime = "shell";
  config.runtime_attributes = ConfigNode(YAML::Load(yaml), "spec.runtimeAttributes", "function.yaml", nullptr);
  return config;
}

}  // namespace

TEST_CASE("shell runtimeAttributes are read and checked") {
  auto a = read_shell_attributes(with_attributes(R"(
arguments: "-d 'a b'"
responseHeaders: {X-One: "1", X-Two: two}
contentType: application/json
maxOutputSize: 1024
allowArgumentsHeader: true
)"));
  CHECK(a.arguments == std::vector<std::string>{"-d", "a b"});
  CHECK(a.response_headers == Headers{{"X-One", "1"}, {"X-Two", "two"}});
  CHECK(a.content_type == "application/json");
  CHECK(a.max_output_size == 1024);
  CHECK(a.allow_arguments_header);

  auto defaults = read_shell_attributes(FunctionConfig{});
  CHECK(defaults.arguments.empty());
  CHECK(defaults.content_type == "text/plain; charset=utf-8");
  CHECK(defaults.max_output_size == 64u << 20);
  CHECK_FALSE(defaults.allow_arguments_header);

  CHECK_THROWS_WITH(read_shell_attributes(with_attributes("arguments: \"'open\"")),
                    Catch::Contains("arguments") && Catch::Contains("unterminated single quote"));
  CHECK_THROWS_AS(read_shell_attributes(with_attributes("maxOutputSize: 0")), ConfigError);
  CHECK_THROWS_AS(read_shell_attributes(with_attributes("allowArgumentsHeader: maybe")), ConfigError);
  CHECK_THROWS_AS(read_shell_attributes(with_attributes("responseHeaders: [a]")), ConfigError);
  CHECK_THROWS_AS(read_shell_attributes(with_attributes("responseHeaders: {\"bad name\": x}")), ConfigError);
}

TEST_CASE("exit descriptions use Go's wording, as Nuclio's error bodies carry it") {
  CHECK(go_exit_description(3 << 8) == "exit status 3");
  CHECK(go_exit_description(0) == "exit status 0");
  CHECK(go_exit_description(9) == "signal: killed");
  CHECK(go_exit_description(15) == "signal: terminated");
  CHECK(go_exit_description(11 | 0x80) == "signal: segmentation fault (core dumped)");
  CHECK(go_exit_description(40) == "signal: signal 40");
  CHECK(shell_failure_body(1 << 8, "out\nerr\n") ==
        "Failed to run shell command.\nError: exit status 1\nOutput:out\nerr\n");
}

TEST_CASE("functionSourceCode is written to a private file named after the handler, removed afterwards") {
  TempDir dir;
  FunctionConfig config;
  config.handler = "main.sh:main";
  config.function_source_code = "echo inline\n";
  auto bash = find_on_path("bash", kPath);
  REQUIRE_FALSE(bash.empty());
  fs::path file;
  {
    auto handler = resolve_shell_handler(config, dir.path, kPath);
    REQUIRE(handler.source);
    file = handler.source->path();
    CHECK(file.filename() == "main.sh");
    CHECK(handler.command.prefix == std::vector<std::string>{bash.string(), file.string()});
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == "echo inline\n");
    struct stat st {};
    REQUIRE(::stat(file.parent_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0077) == 0);
  }
  CHECK_FALSE(fs::exists(file));
  CHECK_FALSE(fs::exists(file.parent_path()));

  // Without functionSourceCode the handler is looked up as before.
  config.function_source_code.clear();
  config.handler = "tr";
  auto looked_up = resolve_shell_handler(config, dir.path, kPath);
  CHECK_FALSE(looked_up.source);
  CHECK(looked_up.command.prefix.size() == 1);
}
