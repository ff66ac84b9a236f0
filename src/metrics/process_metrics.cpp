#include "metrics/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#if __has_include("util/build_info.hpp")
#include "util/build_info.hpp"
#define EDGEFN_HAS_BUILD_INFO 1
#endif

namespace edgefn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The system's boot time (btime in /proc/stat), to turn a start time in
// ticks since boot into seconds since the epoch.
double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return kNaN;
}

const char* build_commit() {
#ifdef EDGEFN_HAS_BUILD_INFO
  return kBuildCommit;
#else
  return "unknown";
#endif
}

}  // namespace

ProcessSample sample_process() {
  ProcessSample s{kNaN, kNaN, kNaN, kNaN};
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return s;
  // The command name (field 2) is in parentheses and may hold spaces: the
  // fields counted from 3 start after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  // Field 3 is at index 0 here.
  double utime = kNaN, stime = kNaN, start = kNaN, vsize = kNaN, rss = kNaN;
  for (int index = 0; fields >> field; ++index) {
    const int number = index + 3;
    if (number == 14)
      utime = std::stod(field);
    else if (number == 15)
      stime = std::stod(field);
    else if (number == 22)
      start = std::stod(field);
    else if (number == 23)
      vsize = std::stod(field);
    else if (number == 24) {
      rss = std::stod(field);
      break;
    }
  }
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  static const double boot = boot_time_seconds();
  s.cpu_seconds = (utime + stime) / ticks;
  s.start_time_seconds = boot + start / ticks;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * page;
  return s;
}

double count_open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  // The iterator's own descriptor is one of them.
  return ec ? kNaN : n - 1;
}

void register_process_metrics(MetricsRegistry& registry) {
  registry.gauge_fn("process_resident_memory_bytes", "Resident memory of the daemon (workers' processes not included)",
                    {}, [] { return sample_process().resident_bytes; });
  registry.gauge_fn("process_virtual_memory_bytes", "Virtual memory of the daemon", {},
                    [] { return sample_process().virtual_bytes; });
  registry.counter_fn("process_cpu_seconds_total", "User and system CPU time of the daemon (workers not included)", {},
                      [] { return sample_process().cpu_seconds; });
  registry.gauge_fn("process_open_fds", "Open file descriptors of the daemon", {}, [] { return count_open_fds(); });
  registry.gauge_fn("process_max_fds", "The daemon's soft limit on open file descriptors", {}, [] {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kNaN;
    return static_cast<double>(limit.rlim_cur);
  });
  const double start = sample_process().start_time_seconds;
  registry.gauge_fn("process_start_time_seconds", "When the daemon started, in seconds since the Unix epoch", {},
                    [start] { return start; });
  registry
      .gauge("edgefn_build_info", "Always 1; the labels say which build runs",
             {{"version", EDGEFN_VERSION}, {"commit", build_commit()}})
      .set(1);
}

}  // namespace edgefn
