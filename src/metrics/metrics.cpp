#include "metrics/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <stdexcept>

namespace edgefn {
namespace {

// Caps one observation so the nanosecond sum cannot overflow on a stray
// huge value: 2^64 ns is 584 years, a single observation is at most ~31.
constexpr double kMaxObservedSeconds = 1e9;

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

void check_metric_name(const std::string& name) {
  const bool ok = !name.empty() && (is_name_start(name[0]) || name[0] == ':') &&
                  std::all_of(name.begin(), name.end(), [](char c) { return is_name_char(c) || c == ':'; });
  if (!ok) throw std::invalid_argument("invalid metric name '" + name + "'");
}

// Sorted by label name so that the same set given in another order is the
// same series, and duplicates are caught.
Labels canonical_labels(const std::string& metric, Labels labels, bool histogram) {
  std::sort(labels.begin(), labels.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto& label = labels[i].first;
    const bool ok = !label.empty() && is_name_start(label[0]) && label.rfind("__", 0) != 0 &&
                    std::all_of(label.begin(), label.end(), is_name_char) && !(histogram && label == "le");
    if (!ok) throw std::invalid_argument("invalid label name '" + label + "' on metric '" + metric + "'");
    if (i > 0 && labels[i - 1].first == label) {
      throw std::invalid_argument("duplicate label '" + label + "' on metric '" + metric + "'");
    }
  }
  return labels;
}

void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `extra` is the histogram's le label, written after the series' own labels.
void append_series(std::string& out, const std::string& name, std::string_view suffix, const Labels& labels,
                   std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  if (labels.empty() && extra_value.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += label;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (!extra_value.empty()) {
    if (!first) out += ',';
    out += "le=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

}  // namespace

void Histogram::observe(double seconds) noexcept {
  if (std::isnan(seconds)) return;
  seconds = std::clamp(seconds, 0.0, kMaxObservedSeconds);
  const auto it = std::lower_bound(kBounds.begin(), kBounds.end(), seconds);
  buckets_[static_cast<std::size_t>(std::distance(kBounds.begin(), it))].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e9)), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

double Histogram::sum() const noexcept { return static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9; }

std::array<std::uint64_t, Histogram::kBounds.size() + 1> Histogram::cumulative() const noexcept {
  std::array<std::uint64_t, kBounds.size() + 1> out{};
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

double Histogram::quantile_upper_bound(double q) const noexcept {
  const auto cum = cumulative();
  const std::uint64_t total = cum.back();
  if (total == 0 || std::isnan(q)) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total))));
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (cum[i] >= rank) return kBounds[i];
  }
  return std::numeric_limits<double>::infinity();
}

template <class T, class Init>
T& MetricsRegistry::series(std::deque<T>& store, Type type, const std::string& name, const std::string& help,
                           Labels labels, Init init) {
  check_metric_name(name);
  labels = canonical_labels(name, std::move(labels), type == Type::kHistogram);
  std::lock_guard lock(mutex_);
  auto [it, inserted] = families_.try_emplace(name, Family{type, help, {}});
  Family& family = it->second;
  if (!inserted && family.type != type) {
    throw std::logic_error("metric '" + name + "' is already registered with another type");
  }
  if (auto found = family.index.find(labels); found != family.index.end()) {
    init(store[found->second]);
    return store[found->second];
  }
  store.emplace_back();
  family.index.emplace(std::move(labels), store.size() - 1);
  init(store.back());
  return store.back();
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help, Labels labels) {
  return series(counters_, Type::kCounter, name, help, std::move(labels), [](auto&) {});
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, Labels labels) {
  return series(gauges_, Type::kGauge, name, help, std::move(labels), [](auto&) {});
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help, Labels labels) {
  return series(histograms_, Type::kHistogram, name, help, std::move(labels), [](auto&) {});
}

void MetricsRegistry::counter_fn(const std::string& name, const std::string& help, Labels labels,
                                 std::function<double()> read) {
  series(readers_, Type::kCounterFn, name, help, std::move(labels),
         [&](auto& slot) { slot = std::make_shared<const std::function<double()>>(std::move(read)); });
}

void MetricsRegistry::gauge_fn(const std::string& name, const std::string& help, Labels labels,
                               std::function<double()> read) {
  series(readers_, Type::kGaugeFn, name, help, std::move(labels),
         [&](auto& slot) { slot = std::make_shared<const std::function<double()>>(std::move(read)); });
}

std::string MetricsRegistry::prometheus_text() const {
  static constexpr std::string_view kTypeNames[] = {"counter", "gauge", "histogram", "counter", "gauge"};
  // The readers run first, outside the lock: they take other components'
  // locks (a pool's), and one may register a series itself.
  std::vector<double> read_values;
  {
    std::vector<std::shared_ptr<const std::function<double()>>> readers;
    {
      std::lock_guard lock(mutex_);
      readers.assign(readers_.begin(), readers_.end());
    }
    read_values.reserve(readers.size());
    for (const auto& reader : readers) {
      double v = std::numeric_limits<double>::quiet_NaN();
      try {
        if (reader && *reader) v = (*reader)();
      } catch (const std::exception&) {
        // A reader that cannot read (a /proc file gone) shows NaN.
      }
      read_values.push_back(v);
    }
  }
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, family.help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += kTypeNames[static_cast<int>(family.type)];
    out += '\n';
    for (const auto& [labels, slot] : family.index) {
      switch (family.type) {
        case Type::kCounter:
          append_series(out, name, "", labels);
          fmt::format_to(std::back_inserter(out), " {}\n", counters_[slot].value());
          break;
        case Type::kGauge:
          append_series(out, name, "", labels);
          fmt::format_to(std::back_inserter(out), " {}\n", gauges_[slot].value());
          break;
        case Type::kCounterFn:
        case Type::kGaugeFn:
          append_series(out, name, "", labels);
          out += ' ';
          // A reader registered after the values were read shows up on the
          // next scrape.
          if (slot >= read_values.size()) {
            out += "NaN\n";
            break;
          }
          out += format_double(read_values[slot]);
          out += '\n';
          break;
        case Type::kHistogram: {
          const Histogram& h = histograms_[slot];
          // _count is taken from the +Inf bucket, not count(), so the two
          // agree even while observations race with this scrape.
          const auto cum = h.cumulative();
          for (std::size_t i = 0; i < cum.size(); ++i) {
            const std::string le = i < Histogram::kBounds.size() ? format_double(Histogram::kBounds[i]) : "+Inf";
            append_series(out, name, "_bucket", labels, le);
            fmt::format_to(std::back_inserter(out), " {}\n", cum[i]);
          }
          append_series(out, name, "_sum", labels);
          out += ' ';
          out += format_double(h.sum());
          out += '\n';
          append_series(out, name, "_count", labels);
          fmt::format_to(std::back_inserter(out), " {}\n", cum.back());
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace edgefn
