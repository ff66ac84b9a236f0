#include "runtime/shell/shell_runtime.hpp"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

using namespace edgefn;
using namespace std::chrono_literals;

namespace {

// An io_context running on a thread of its own for the test's lifetime.
struct IoThread {
  IoThread() : guard(asio::make_work_guard(io)), thread([this] {
    io.run();
    ran_out.set_value();
  }) {}
  // Lets the io_context run out of work before it is destroyed: the
  // spawner thread holds a tracked executor until just after it posted a
  // result, and an io_context stopped and destroyed under it is touched
  // after its end (seen by UBSan). A test that leaves work behind is
  // stopped after 10 s.
  ~IoThread() {
    guard.reset();
    if (ran_out.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) io.stop();
    thread.join();
  }
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::promise<void> ran_out;
  std::thread thread;
};

std::shared_ptr<ShellSettings> bash_settings(const std::string& script) {
  auto s = std::make_shared<ShellSettings>();
  s->command = {{"/bin/bash", "-c", script, "handler"}, "bash -c"};
  s->environment = {{"PATH", "/usr/bin:/bin"}};
  s->working_directory = "/";
  s->termination_timeout = 200ms;
  return s;
}

InvokeResult run(Runtime& rt, Event event, std::chrono::milliseconds wait = 10s) {
  std::promise<InvokeResult> promise;
  auto future = promise.get_future();
  rt.invoke(std::move(event), [&promise](InvokeResult r) { promise.set_value(std::move(r)); });
  REQUIRE(future.wait_for(wait) == std::future_status::ready);
  return future.get();
}

Event event_with_body(std::string body) {
  Event e;
  e.id = new_event_id();
  e.body = std::move(body);
  return e;
}

// Processes of group `pgid` that are not zombies: orphaned zombies wait
// for whatever reaps for init here, which is none of our business.
int living_in_group(pid_t pgid) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z') ++n;
  }
  return n;
}

std::string temp_file_name() {
  return (std::filesystem::temp_directory_path() / ("edgefn-shell-" + new_event_id())).string();
}

}  // namespace

TEST_CASE("shell runtime pipes the body through and answers 200") {
  IoThread io;
  auto settings = bash_settings("cat; echo \"args:$*\"");
  settings->attributes.response_headers = {{"X-Handler", "cat"}};
  settings->attributes.content_type = "application/octet-stream";
  settings->attributes.allow_arguments_header = true;
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  rt->start([](bool) {});
  REQUIRE_FALSE(rt->runs_inline());

  auto e = event_with_body(std::string("bin\0ary", 7));
  e.headers = {{"X-Nuclio-Arguments", "one 'two three'"}};
  auto r = run(*rt, std::move(e));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == std::string("bin\0aryargs:one two three\n", 26));
  CHECK(r->content_type == "application/octet-stream");
  CHECK(r->headers == Headers{{"X-Handler", "cat"}});
  rt->stop(1s, [] {});
}

TEST_CASE("a shell handler reads a stream event's topic, key, partition and offset from its environment") {
  IoThread io;
  auto settings = bash_settings(
      "printf '%s|%s|%s|%s' \"$NUCLIO_EVENT_TOPIC\" \"$NUCLIO_EVENT_KEY\" \"$NUCLIO_EVENT_SHARD_ID\" "
      "\"$NUCLIO_EVENT_OFFSET\"");
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  rt->start([](bool) {});
  TriggerInfo kafka{"kafka-cluster", "orders"};
  auto e = event_with_body("");
  e.trigger = &kafka;
  e.topic = "orders";
  e.key = "customer 42";
  e.shard_id = 3;
  e.offset = 1234567890123;
  auto r = run(*rt, std::move(e));
  REQUIRE(r.has_value());
  CHECK(r->body == "orders|customer 42|3|1234567890123");
  r = run(*rt, event_with_body(""));
  REQUIRE(r.has_value());
  CHECK(r->body == "||-1|-1");
  rt->stop(1s, [] {});
}

TEST_CASE("shell runtime answers 200 with stdout and stderr interleaved as written") {
  IoThread io;
  auto settings = bash_settings("echo one; echo two >&2; echo three; echo four >&2");
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  auto r = run(*rt, event_with_body(""));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "one\ntwo\nthree\nfour\n");
  CHECK(r->content_type == "text/plain; charset=utf-8");
  rt->stop(1s, [] {});
}

TEST_CASE("shell runtime answers a failed handler with Nuclio's 500 body: the exit, then the output") {
  IoThread io;
  auto settings = bash_settings("echo partial; echo 'went wrong' >&2; exit 3");
  settings->attributes.response_headers = {{"X-Handler", "failing"}};
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  auto r = run(*rt, event_with_body(""));
  REQUIRE(r.has_value());
  CHECK(r->status == 500);
  CHECK(r->body == "Failed to run shell command.\nError: exit status 3\nOutput:partial\nwent wrong\n");
  CHECK(r->content_type == "text/plain; charset=utf-8");
  CHECK(r->headers == Headers{{"X-Handler", "failing"}});
  rt->stop(1s, [] {});

  settings = bash_settings("echo 'went wrong' >&2; kill -SEGV $$");
  auto killed = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  r = run(*killed, event_with_body(""));
  REQUIRE(r.has_value());
  CHECK(r->status == 500);
  CHECK(r->body.rfind("Failed to run shell command.\nError: signal: segmentation fault", 0) == 0);
  CHECK(r->body.find("\nOutput:went wrong\n") != std::string::npos);
  killed->stop(1s, [] {});
}

TEST_CASE("shell runtime answers 400 for unbalanced X-Nuclio-Arguments") {
  IoThread io;
  auto settings = bash_settings("true");
  settings->attributes.allow_arguments_header = true;
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  auto e = event_with_body("");
  e.headers = {{"X-Nuclio-Arguments", "'open"}};
  auto r = run(*rt, std::move(e));
  REQUIRE(r.has_value());
  CHECK(r->status == 400);
  CHECK(r->body == "X-Nuclio-Arguments: unterminated single quote at offset 0\n");
}

TEST_CASE("shell runtime kills a handler whose output passes maxOutputSize") {
  IoThread io;
  auto settings = bash_settings("head -c 100000 /dev/zero; sleep 30");
  settings->attributes.max_output_size = 1000;
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  auto r = run(*rt, event_with_body(""));
  REQUIRE(r.has_value());
  CHECK(r->status == 500);
  CHECK(r->body == "handler output exceeded runtimeAttributes.maxOutputSize (1000 bytes)\n");
}

TEST_CASE("abandon kills the whole process group of a handler that ignores SIGTERM") {
  IoThread io;
  const auto pid_file = temp_file_name();
  auto settings = bash_settings("trap '' TERM; sleep 30 & echo $$ > " + pid_file + "; sleep 30; wait");
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  std::promise<InvokeResult> promise;
  auto future = promise.get_future();
  rt->invoke(event_with_body(""), [&promise](InvokeResult r) { promise.set_value(std::move(r)); });
  CHECK(future.wait_for(300ms) == std::future_status::timeout);
  const auto started = std::chrono::steady_clock::now();
  rt->abandon();
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  // SIGTERM is ignored, so only the SIGKILL after termination_timeout ends it.
  CHECK(std::chrono::steady_clock::now() - started >= 200ms);
  auto r = future.get();
  REQUIRE_FALSE(r.has_value());
  // The pool answered the client already; the runtime says what ended it.
  CHECK(r.error().code == RuntimeError::Code::kCrashed);
  CHECK_THAT(r.error().detail, Catch::Contains("event timeout exceeded"));

  pid_t pgid = 0;
  std::ifstream(pid_file) >> pgid;
  std::filesystem::remove(pid_file);
  REQUIRE(pgid > 0);
  CHECK(living_in_group(pgid) == 0);
}

TEST_CASE("stop kills a running handler and later events are refused") {
  IoThread io;
  auto rt = make_shell_runtime(io.io, bash_settings("echo $$; exec sleep 30"), {0, "pool", "fn"});
  std::promise<InvokeResult> promise;
  auto future = promise.get_future();
  rt->invoke(event_with_body(""), [&promise](InvokeResult r) { promise.set_value(std::move(r)); });
  CHECK(future.wait_for(200ms) == std::future_status::timeout);
  rt->stop(1s, [] {});
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  auto r = future.get();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == RuntimeError::Code::kStopping);

  auto refused = run(*rt, event_with_body(""));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == RuntimeError::Code::kStopping);
}

TEST_CASE("shell runtime reports a command that cannot be executed as a crashed worker") {
  IoThread io;
  auto settings = bash_settings("");
  settings->command = {{"/nonexistent/handler"}, "/nonexistent/handler"};
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});
  auto r = run(*rt, event_with_body("x"));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == RuntimeError::Code::kCrashed);
  CHECK_THAT(r.error().detail, Catch::Contains("cannot execute /nonexistent/handler"));
}

TEST_CASE("X-Nuclio-Arguments is refused with 403 and counted unless allowArgumentsHeader is true") {
  IoThread io;
  const auto sed = find_on_path("sed", kDefaultPath);
  REQUIRE_FALSE(sed.empty());
  auto settings = std::make_shared<ShellSettings>();
  settings->command = {{sed.string()}, "sed"};
  settings->attributes.arguments = {"s/a/b/"};
  settings->environment = {{"PATH", "/usr/bin:/bin"}};
  settings->working_directory = "/";
  Counter refused;
  settings->arguments_refused = &refused;
  auto rt = make_shell_runtime(io.io, settings, {0, "pool", "fn"});

  // `e` makes GNU sed run its argument as a command: a remote shell.
  const auto marker = temp_file_name();
  auto e = event_with_body("a\n");
  e.headers = {{"x-nuclio-arguments", "e touch " + marker}};
  auto r = run(*rt, std::move(e));
  REQUIRE(r.has_value());
  CHECK(r->status == 403);
  CHECK_THAT(r->body, Catch::Contains("spec.runtimeAttributes.allowArgumentsHeader"));
  CHECK(refused.value() == 1);
  CHECK_FALSE(std::filesystem::exists(marker));

  e = event_with_body("a\n");
  e.headers = {{"X-Nuclio-Arguments", ""}};  // present, even empty
  CHECK(run(*rt, std::move(e))->status == 403);
  CHECK(refused.value() == 2);

  r = run(*rt, event_with_body("a\n"));  // no header: the configured arguments
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "b\n");

  auto allowing = std::make_shared<ShellSettings>(*settings);
  allowing->attributes.allow_arguments_header = true;
  auto open = make_shell_runtime(io.io, allowing, {0, "pool", "fn"});
  e = event_with_body("a\n");
  e.headers = {{"X-Nuclio-Arguments", "s/a/c/"}};
  r = run(*open, std::move(e));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "c\n");
  CHECK(refused.value() == 2);
}
