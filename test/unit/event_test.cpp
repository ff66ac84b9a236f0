#include <catch2/catch.hpp>

#include <set>

#include "event/event.hpp"

TEST_CASE("event ids are fresh and UUID-shaped") {
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(edgefn::new_event_id());
  CHECK(ids.size() == 10000);
  const auto id = *ids.begin();
  REQUIRE(id.size() == 36);
  CHECK(id[8] == '-');
  CHECK(id[14] == '4');
}

TEST_CASE("header lookup ignores case and keeps the first of repeated names") {
  edgefn::Headers h{{"Content-Type", "a"}, {"X-Thing", "1"}, {"x-thing", "2"}};
  CHECK(edgefn::find_header(h, "content-type") == "a");
  CHECK(edgefn::find_header(h, "X-THING") == "1");
  CHECK(edgefn::find_header(h, "missing").empty());
}
