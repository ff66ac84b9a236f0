#pragma once
// Counters, gauges and histograms with Prometheus text exposition. Metrics
// are registered at start-up (a mutex, a map) and updated on hot paths with
// relaxed atomics only; references stay valid for the registry's lifetime.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace edgefn {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::int64_t n) noexcept { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Seconds-valued histogram with fixed buckets from 50 us to 60 s, enough for
// event latencies and cron lateness alike.
class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    5.0,   60.0};
  // Negative values count as 0; NaN is ignored.
  void observe(double seconds) noexcept;
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  double sum() const noexcept;
  // Cumulative count per bound, then +Inf.
  std::array<std::uint64_t, kBounds.size() + 1> cumulative() const noexcept;
  // Upper bound of the bucket holding quantile q (0..1); 0 when empty,
  // +infinity when it falls past the last bound.
  double quantile_upper_bound(double q) const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_nanos_{0};
};

class MetricsRegistry {
 public:
  // Whether hot paths record at all (`--metrics off`, for measuring what
  // recording costs). Families are registered and exposed either way; the
  // components that record read this once, at registration. Start-up
  // thread, before anything registers.
  void set_recording(bool on) noexcept { recording_ = on; }
  bool recording() const noexcept { return recording_; }

  // Same name and labels (in any order) -> same object. Thread-safe; takes a
  // mutex, so look metrics up at start-up and keep the reference. Throws
  // std::logic_error when the name is registered with another type, and
  // std::invalid_argument (a logic_error) for names Prometheus rejects.
  // The first registration's help text is the one exposed.
  Counter& counter(const std::string& name, const std::string& help, Labels labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, Labels labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, Labels labels = {});

  // A series whose value is read when /metrics is scraped (a pool's busy
  // workers, the process's resident memory): nothing to do on a hot path.
  // `read` runs on the scraping thread, without the registry's lock held,
  // and must stay valid as long as the registry can be scraped. Same rules
  // as above; a name is either read or recorded, never both.
  void counter_fn(const std::string& name, const std::string& help, Labels labels, std::function<double()> read);
  void gauge_fn(const std::string& name, const std::string& help, Labels labels, std::function<double()> read);

  // Prometheus text format 0.0.4.
  std::string prometheus_text() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram, kCounterFn, kGaugeFn };
  struct Family {
    Type type;
    std::string help;
    std::map<Labels, std::size_t> index;  // labels -> slot in the deque below
  };
  // `init` runs under the lock on a series created or found.
  template <class T, class Init>
  T& series(std::deque<T>& store, Type type, const std::string& name, const std::string& help, Labels labels,
            Init init);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
  // Shared: a scrape calls a reader outside the lock while a registration
  // may replace it.
  std::deque<std::shared_ptr<const std::function<double()>>> readers_;
  bool recording_ = true;
};

}  // namespace edgefn
