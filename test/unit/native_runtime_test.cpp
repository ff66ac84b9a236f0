#include <catch2/catch.hpp>

#include <filesystem>

#include "config/config_error.hpp"
#include "runtime/native/native_runtime.hpp"

using namespace edgefn;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path kHandler = EDGEFN_TEST_HANDLER_PATH;

std::unique_ptr<Runtime> runtime_for(const std::string& symbol, int worker_id = 0) {
  auto handler = load_native_handler(kHandler.filename().string() + ":" + symbol, kHandler.parent_path());
  auto rt = make_native_runtime({handler, false, {worker_id, "pool", "fn"}, "api"});
  rt->start();
  return rt;
}

Event sample_event() {
  Event e;
  e.id = new_event_id();
  e.method = "POST";
  e.path = "/things";
  e.headers = {{"Host", "x"}, {"X-Nuclio-Log-Level", "debug"}};
  e.body = std::string("abc\0def", 7);
  return e;
}

}  // namespace

TEST_CASE("native handler sees the event and keeps per-worker state") {
  auto rt = runtime_for("describe", 3);
  REQUIRE(rt->runs_inline());
  auto first = rt->invoke_inline(sample_event());
  auto second = rt->invoke_inline(sample_event());
  REQUIRE(second.has_value());
  CHECK(first.value().body == "worker=3 calls=1 method=POST path=/things headers=2 body=7");
  CHECK(second.value().body == "worker=3 calls=2 method=POST path=/things headers=2 body=7");
  CHECK(second.value().content_type == "text/plain; charset=utf-8");
  rt->stop(1s);
}

TEST_CASE("native handler error keeps a status of 400 or more and the message") {
  auto rt = runtime_for("fail");
  auto r = rt->invoke_inline(sample_event());
  REQUIRE(r.has_value());
  CHECK(r.value().status == 422);
  CHECK(r.value().body == "bad input");
  // X-Nuclio-Log-Level: debug returns the invocation's logs.
  auto logs = find_header(r.value().headers, "X-Nuclio-Logs");
  CHECK(logs.find("\"message\":\"refusing\"") != std::string_view::npos);
  CHECK(logs.find("\"level\":\"warn\"") != std::string_view::npos);
}

TEST_CASE("native handler error without a status becomes 500") {
  auto rt = runtime_for("fail_plain");
  auto r = rt->invoke_inline(sample_event());
  REQUIRE(r.has_value());
  CHECK(r.value().status == 500);
  CHECK(r.value().body == "handler returned 7");
}

TEST_CASE("native handler can write its body in place with alloc_body") {
  auto rt = runtime_for("upper");
  auto r = rt->invoke_inline(sample_event());
  REQUIRE(r.has_value());
  CHECK(r.value().status == 201);
  CHECK(r.value().body == std::string("ABC\0DEF", 7));
}

TEST_CASE("loading a native handler names what is missing") {
  auto dir = kHandler.parent_path();
  auto file = kHandler.filename().string();
  CHECK_THROWS_WITH(load_native_handler("libnothere.so:handle", dir), Catch::Contains("not found"));
  CHECK_THROWS_WITH(load_native_handler(file + ":no_such_symbol", dir),
                    Catch::Contains("no exported symbol 'no_such_symbol'"));
  CHECK_THROWS_WITH(load_native_handler("builtin:nope", dir), Catch::Contains("no such builtin"));
  CHECK_THROWS_WITH(load_native_handler("justaname", dir), Catch::Contains("libname.so:symbol"));
  CHECK_THROWS_AS(load_native_handler("libnothere.so:handle", dir), StartError);
}

TEST_CASE("loading a native handler refuses a library without the ABI or with another version") {
  auto dir = std::filesystem::path(EDGEFN_TEST_HANDLER_PATH).parent_path();
  CHECK_THROWS_WITH(load_native_handler("libtest_handler_noabi.so:handle", dir),
                    Catch::Contains("does not export edgefn_abi_version"));
  CHECK_THROWS_WITH(load_native_handler("libtest_handler_badabi.so:handle", dir),
                    Catch::Contains("built for native ABI version 99"));
}
