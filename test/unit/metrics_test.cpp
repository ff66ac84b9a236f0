#include "metrics/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using edgefn::Histogram;
using edgefn::MetricsRegistry;

TEST_CASE("registry returns the same counter for the same name and labels") {
  MetricsRegistry registry;
  auto& a = registry.counter("edgefn_events_total", "Events.", {{"trigger", "http"}, {"result", "ok"}});
  auto& b = registry.counter("edgefn_events_total", "Events.", {{"result", "ok"}, {"trigger", "http"}});
  auto& c = registry.counter("edgefn_events_total", "Events.", {{"trigger", "http"}, {"result", "error"}});
  CHECK(&a == &b);
  CHECK(&a != &c);
  a.inc();
  b.inc(2);
  CHECK(a.value() == 3);
  CHECK(c.value() == 0);
}

TEST_CASE("references stay valid as more metrics are registered") {
  MetricsRegistry registry;
  auto& first = registry.gauge("edgefn_first", "First.");
  first.set(5);
  for (int i = 0; i < 1000; ++i) registry.gauge("edgefn_many", "Many.", {{"i", std::to_string(i)}}).add(1);
  CHECK(first.value() == 5);
  CHECK(&registry.gauge("edgefn_first", "First.") == &first);
}

TEST_CASE("registering a name with another type throws logic_error") {
  MetricsRegistry registry;
  registry.counter("edgefn_x", "X.");
  CHECK_THROWS_AS(registry.gauge("edgefn_x", "X."), std::logic_error);
  CHECK_THROWS_AS(registry.histogram("edgefn_x", "X.", {{"a", "b"}}), std::logic_error);
}

TEST_CASE("registry rejects names Prometheus cannot parse") {
  MetricsRegistry registry;
  CHECK_THROWS_AS(registry.counter("", "Empty."), std::logic_error);
  CHECK_THROWS_AS(registry.counter("9lives", "Digit first."), std::logic_error);
  CHECK_THROWS_AS(registry.counter("has-dash", "Dash."), std::logic_error);
  CHECK_THROWS_AS(registry.counter("ok_total", "Bad label.", {{"bad-label", "v"}}), std::logic_error);
  CHECK_THROWS_AS(registry.counter("ok_total", "Twice.", {{"a", "1"}, {"a", "2"}}), std::logic_error);
  CHECK_THROWS_AS(registry.histogram("ok_seconds", "Reserved.", {{"le", "1"}}), std::logic_error);
  CHECK_NOTHROW(registry.counter("ns:ok_total", "Colon.", {{"_private", "v"}}));
}

TEST_CASE("histogram puts a value on a bound into that bound's bucket") {
  Histogram h;
  h.observe(0.001);   // exactly the 1 ms bound
  h.observe(0.0011);  // next bucket
  h.observe(-1);      // clamped to 0: first bucket
  h.observe(100);     // past 60 s: +Inf only
  h.observe(std::nan(""));
  CHECK(h.count() == 4);
  const auto cum = h.cumulative();
  CHECK(cum[0] == 1);
  CHECK(cum[4] == 2);   // le 0.001
  CHECK(cum[5] == 3);   // le 0.0025
  CHECK(cum[15] == 3);  // le 60
  CHECK(cum[16] == 4);  // +Inf
  CHECK(h.sum() == Approx(100.0021));
}

TEST_CASE("histogram sum keeps nanosecond precision") {
  Histogram h;
  for (int i = 0; i < 1000; ++i) h.observe(0.000001);
  CHECK(h.sum() == Approx(0.001).epsilon(1e-12));
}

TEST_CASE("histogram quantile is the upper bound of the bucket holding it") {
  Histogram h;
  CHECK(h.quantile_upper_bound(0.5) == 0);
  for (int i = 0; i < 90; ++i) h.observe(0.002);  // le 0.0025
  for (int i = 0; i < 9; ++i) h.observe(0.3);     // le 0.5
  h.observe(120);                                 // +Inf
  CHECK(h.quantile_upper_bound(0.5) == 0.0025);
  CHECK(h.quantile_upper_bound(0.9) == 0.0025);
  CHECK(h.quantile_upper_bound(0.91) == 0.5);
  CHECK(h.quantile_upper_bound(0.99) == 0.5);
  CHECK(std::isinf(h.quantile_upper_bound(1.0)));
  CHECK(h.quantile_upper_bound(0) == 0.0025);
}

TEST_CASE("histogram counts every observation from concurrent threads") {
  Histogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(0.01);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(h.count() == 40000);
  CHECK(h.cumulative().back() == 40000);
  CHECK(h.sum() == Approx(400.0));
}

TEST_CASE("prometheus_text writes HELP, TYPE and one line per series") {
  MetricsRegistry registry;
  registry.counter("edgefn_events_total", "Events handled.", {{"trigger", "http"}, {"result", "ok"}}).inc(3);
  registry.gauge("edgefn_workers_busy", "Busy workers.").set(-2);
  const std::string text = registry.prometheus_text();
  CHECK(text ==
        "# HELP edgefn_events_total Events handled.\n"
        "# TYPE edgefn_events_total counter\n"
        "edgefn_events_total{result=\"ok\",trigger=\"http\"} 3\n"
        "# HELP edgefn_workers_busy Busy workers.\n"
        "# TYPE edgefn_workers_busy gauge\n"
        "edgefn_workers_busy -2\n");
}

TEST_CASE("prometheus_text escapes label values and help text") {
  MetricsRegistry registry;
  registry.counter("edgefn_odd_total", "Back\\slash and\nnewline \"kept\".", {{"path", "a\\b\"c\nd"}}).inc();
  const std::string text = registry.prometheus_text();
  CHECK(text ==
        "# HELP edgefn_odd_total Back\\\\slash and\\nnewline \"kept\".\n"
        "# TYPE edgefn_odd_total counter\n"
        "edgefn_odd_total{path=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST_CASE("prometheus_text writes cumulative histogram buckets, sum and count") {
  MetricsRegistry registry;
  auto& h = registry.histogram("edgefn_event_duration_seconds", "Event latency.", {{"trigger", "cron"}});
  h.observe(0.00004);
  h.observe(0.2);
  h.observe(90);
  const std::string text = registry.prometheus_text();
  const std::string prefix = "edgefn_event_duration_seconds_bucket{trigger=\"cron\",le=";
  CHECK(text.rfind("# HELP edgefn_event_duration_seconds Event latency.\n"
                   "# TYPE edgefn_event_duration_seconds histogram\n",
                   0) == 0);
  CHECK(text.find(prefix + "\"5e-05\"} 1\n") != std::string::npos);
  CHECK(text.find(prefix + "\"0.1\"} 1\n") != std::string::npos);
  CHECK(text.find(prefix + "\"0.25\"} 2\n") != std::string::npos);
  CHECK(text.find(prefix + "\"60\"} 2\n") != std::string::npos);
  CHECK(text.find(prefix + "\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("edgefn_event_duration_seconds_sum{trigger=\"cron\"} 90.20004\n") != std::string::npos);
  CHECK(text.find("edgefn_event_duration_seconds_count{trigger=\"cron\"} 3\n") != std::string::npos);
  // 17 buckets + sum + count + HELP + TYPE
  CHECK(std::count(text.begin(), text.end(), '\n') == 21);
}

TEST_CASE("prometheus_text of an unlabelled histogram has only le") {
  MetricsRegistry registry;
  registry.histogram("edgefn_lateness_seconds", "Lateness.").observe(1.0);
  const std::string text = registry.prometheus_text();
  CHECK(text.find("edgefn_lateness_seconds_bucket{le=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("edgefn_lateness_seconds_bucket{le=\"0.5\"} 0\n") != std::string::npos);
  CHECK(text.find("edgefn_lateness_seconds_sum 1\n") != std::string::npos);
  CHECK(text.find("edgefn_lateness_seconds_count 1\n") != std::string::npos);
}

TEST_CASE("read series take their value when scraped, as counter or gauge") {
  MetricsRegistry registry;
  double busy = 1;
  registry.gauge_fn("edgefn_pool_busy_workers", "Busy.", {{"pool", "api"}}, [&busy] { return busy; });
  registry.counter_fn("process_cpu_seconds_total", "CPU.", {}, [] { return 0.25; });
  busy = 3;
  const std::string text = registry.prometheus_text();
  CHECK(text.find("# TYPE edgefn_pool_busy_workers gauge\nedgefn_pool_busy_workers{pool=\"api\"} 3\n") !=
        std::string::npos);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 0.25\n") != std::string::npos);
  CHECK_THROWS_AS(registry.gauge("edgefn_pool_busy_workers", "Busy.", {{"pool", "other"}}), std::logic_error);
}

TEST_CASE("a reader that throws shows NaN and the scrape goes on") {
  MetricsRegistry registry;
  registry.gauge_fn("edgefn_broken", "Broken.", {}, []() -> double { throw std::runtime_error("gone"); });
  registry.gauge("edgefn_fine", "Fine.").set(7);
  const std::string text = registry.prometheus_text();
  CHECK(text.find("edgefn_broken NaN\n") != std::string::npos);
  CHECK(text.find("edgefn_fine 7\n") != std::string::npos);
}

TEST_CASE("recording is on unless switched off") {
  MetricsRegistry registry;
  CHECK(registry.recording());
  registry.set_recording(false);
  CHECK_FALSE(registry.recording());
}
