// UniqueFunction keeps small move-only targets inside itself and larger
// ones on the heap; either way a target is destroyed exactly once, and a
// moved-from function is empty.
#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <string>

#include "util/unique_function.hpp"

using edgefn::UniqueFunction;

namespace {

// Counts live copies through a shared_ptr's use count.
struct Tracked {
  std::shared_ptr<int> token;
  std::array<char, 8> payload{};
  int operator()(int x) const { return x + payload[0]; }
};

struct Big {
  std::shared_ptr<int> token;
  std::array<char, 2 * UniqueFunction<int(int)>::kInlineSize> payload{};
  int operator()(int x) const { return x + payload[0]; }
};

}  // namespace

TEMPLATE_TEST_CASE("UniqueFunction calls, moves and destroys its target once", "[util]", Tracked, Big) {
  auto token = std::make_shared<int>(0);
  {
    TestType target{token, {}};
    target.payload[0] = 2;
    UniqueFunction<int(int)> f = std::move(target);
    CHECK(f(1) == 3);
    UniqueFunction<int(int)> g = std::move(f);
    CHECK_FALSE(f);  // NOLINT(bugprone-use-after-move): a moved-from function is empty
    REQUIRE(g);
    CHECK(g(40) == 42);
    UniqueFunction<int(int)> h;
    h = std::move(g);
    CHECK(h(0) == 2);
    CHECK(token.use_count() == 2);  // this scope's and h's target, nothing left behind
    h = UniqueFunction<int(int)>{};
    CHECK(token.use_count() == 1);
    h = TestType{token, {}};
    CHECK(token.use_count() == 2);
  }
  CHECK(token.use_count() == 1);
}

TEST_CASE("UniqueFunction takes move-only targets and arguments", "[util]") {
  auto owned = std::make_unique<std::string>("edge");
  UniqueFunction<std::string(std::unique_ptr<std::string>)> f =
      [owned = std::move(owned)](std::unique_ptr<std::string> suffix) { return *owned + *suffix; };
  CHECK(f(std::make_unique<std::string>("fn")) == "edgefn");
}
