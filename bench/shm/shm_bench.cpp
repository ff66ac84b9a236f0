// Round-trip latency daemon -> python3 worker -> daemon for an empty event,
// over the shm channel (spin, then futex/eventfd doorbell) and over a Unix
// socketpair with length-prefixed frames; both workers decode the event and
// encode the response with edgefn_channel.py's codec. Then the CPU an idle
// shm worker uses over --idle-seconds. Prints a Markdown report.
//
//   shm_bench --pythonpath runtimes/python --helper build/lib/libedgefn_ring.so
//             --bench-dir bench/shm [--python python3] [--iterations 20000]
//             [--rounds 3] [--warmup 2000] [--spin-us 50] [--idle-seconds 10]
//             [--pin 1]   (daemon side on CPU 0, workers on CPU 1: takes the
//                          scheduler's placement out of the figures)
//             [--condition "under HTTP load"]  (named in the heading)
//   --idle-seconds 0 skips the idle CPU measurement.
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/python/worker_protocol.hpp"
#include "shm/async_channel.hpp"
#include "shm/channel.hpp"

namespace {

using namespace std::chrono_literals;
using namespace edgefn;
using namespace edgefn::shm;
using namespace edgefn::python;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string python = "python3", pythonpath, helper, bench_dir, condition;
  int iterations = 20000, rounds = 3, warmup = 2000, spin_us = 50, idle_seconds = 10;
  bool pin = false;
};

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "shm_bench: %s\n", what.c_str());
  std::exit(1);
}

// `fds` are passed as 3, 4, ... in order; each must already be above the
// highest of those numbers or equal to its own target.
pid_t spawn(const Options& o, const std::string& script, const std::vector<int>& fds,
            const std::map<std::string, std::string>& env) {
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid > 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (o.pin) pin_to(1);
  std::vector<int> lifted;
  for (int fd : fds) lifted.push_back(fcntl(fd, F_DUPFD_CLOEXEC, 3 + static_cast<int>(fds.size())));
  for (std::size_t i = 0; i < lifted.size(); ++i)
    if (lifted[i] < 0 || inherit_fd(lifted[i], 3 + static_cast<int>(i)) < 0) _exit(126);
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  setenv("PYTHONPATH", o.pythonpath.c_str(), 1);
  std::string path = o.bench_dir + "/" + script;
  execlp(o.python.c_str(), o.python.c_str(), path.c_str(), static_cast<char*>(nullptr));
  _exit(127);
}

void reap(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(10ms);
  if (kill(pid, 0) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
}

// The event an empty HTTP handler gets: a few fields, no headers, no body.
Event bench_event() {
  static const TriggerInfo trigger{"http", "bench"};
  Event e;
  e.id = new_event_id();
  e.trigger = &trigger;
  e.method = "GET";
  e.path = "/";
  e.url = "http://127.0.0.1:8080/";
  e.timestamp = std::chrono::system_clock::now();
  return e;
}

struct Samples {
  std::vector<double> us;
  void add(Clock::duration d) { us.push_back(std::chrono::duration<double, std::micro>(d).count()); }
  double quantile(double q) {
    std::sort(us.begin(), us.end());
    return us.empty() ? 0 : us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))];
  }
  double mean() const { return us.empty() ? 0 : std::accumulate(us.begin(), us.end(), 0.0) / us.size(); }
};

void check_response(Message& m, std::uint64_t id) {
  if (m.type != kResponseMessage || m.request_id != id) die("unexpected message in the ring");
  auto r = decode_response(m.head, std::move(m.body));
  if (!r || r->status != 200) die("bad response from the ring worker");
}

// Blocking daemon side: the transport alone, spin then eventfd.
void ring_round(Channel& channel, int n, std::uint64_t& next_id, Samples* out) {
  const Event e = bench_event();
  for (int i = 0; i < n; ++i) {
    auto id = next_id++;
    auto start = Clock::now();
    if (channel.send(kEventMessage, id, encode_event_head(e), e.body, 5s) != ChannelStatus::kOk) die("send");
    Message m;
    if (auto s = channel.receive(m, 5s); s != ChannelStatus::kOk) die(std::string("receive: ") + to_string(s));
    check_response(m, id);
    if (out) out->add(Clock::now() - start);
  }
}

// Asio daemon side, as a runtime would drive it: AsyncChannel on an
// io_context, spinning by re-posting, then epoll on the eventfd.
void async_round(Channel& channel, std::chrono::nanoseconds spin, int n, std::uint64_t& next_id, Samples* out) {
  asio::io_context io(1);
  AsyncChannel async(io.get_executor(), channel, spin);
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        const Event e = bench_event();
        for (int i = 0; i < n; ++i) {
          auto id = next_id++;
          auto start = Clock::now();
          if (co_await async.send(kEventMessage, id, encode_event_head(e), e.body) != ChannelStatus::kOk) {
            die("async send");
          }
          Message m;
          if (co_await async.receive(m) != ChannelStatus::kOk) die("async receive");
          check_response(m, id);
          if (out) out->add(Clock::now() - start);
        }
      },
      asio::detached);
  io.run();
}

// Frames on the socket: u32 length of the rest, u16 type, u16 0, u64 id,
// u32 head length, head, body.
void write_all(int fd, iovec* iov, int count) {
  while (count > 0) {
    ssize_t n = writev(fd, iov, count);
    if (n < 0) die("socket write failed");
    while (count > 0 && static_cast<std::size_t>(n) >= iov->iov_len) {
      n -= static_cast<ssize_t>(iov->iov_len);
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + n;
      iov->iov_len -= static_cast<std::size_t>(n);
    }
  }
}

void read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = read(fd, p, n);
    if (k <= 0) die("socket read failed");
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}

void socket_round(int fd, int n, std::uint64_t& next_id, Samples* out) {
  const Event e = bench_event();
  std::string frame;
  for (int i = 0; i < n; ++i) {
    auto id = next_id++;
    auto start = Clock::now();
    std::string head = encode_event_head(e);
    char prefix[20];
    std::uint32_t rest = static_cast<std::uint32_t>(16 + head.size() + e.body.size());
    std::uint16_t type = 2, zero = 0;
    std::uint32_t head_size = static_cast<std::uint32_t>(head.size());
    std::memcpy(prefix, &rest, 4);
    std::memcpy(prefix + 4, &type, 2);
    std::memcpy(prefix + 6, &zero, 2);
    std::memcpy(prefix + 8, &id, 8);
    std::memcpy(prefix + 16, &head_size, 4);
    iovec iov[3] = {{prefix, 20}, {head.data(), head.size()}, {const_cast<char*>(e.body.data()), e.body.size()}};
    write_all(fd, iov, 3);
    read_all(fd, reinterpret_cast<char*>(&rest), 4);
    frame.resize(rest);
    read_all(fd, frame.data(), rest);
    std::uint64_t got_id;
    std::memcpy(&got_id, frame.data() + 4, 8);
    std::memcpy(&head_size, frame.data() + 12, 4);
    if (got_id != id) die("socket answer for the wrong request");
    auto r = decode_response(std::string_view(frame).substr(16, head_size), frame.substr(16 + head_size));
    if (!r || r->status != 200) die("bad response from the socket worker");
    if (out) out->add(Clock::now() - start);
  }
}

// Voluntary context switches: how often a process slept (futex, poll,
// socket read), which says whether the spin caught the peer.
long sleeps(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::atol(line.c_str() + 24);
  }
  return 0;
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // state .. cmajflt: fields 3-13
  unsigned long long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--python")
      o.python = value;
    else if (key == "--pythonpath")
      o.pythonpath = value;
    else if (key == "--helper")
      o.helper = value;
    else if (key == "--bench-dir")
      o.bench_dir = value;
    else if (key == "--iterations")
      o.iterations = std::atoi(value.c_str());
    else if (key == "--rounds")
      o.rounds = std::atoi(value.c_str());
    else if (key == "--warmup")
      o.warmup = std::atoi(value.c_str());
    else if (key == "--spin-us")
      o.spin_us = std::atoi(value.c_str());
    else if (key == "--idle-seconds")
      o.idle_seconds = std::atoi(value.c_str());
    else if (key == "--pin")
      o.pin = value == "1";
    else if (key == "--condition")
      o.condition = value;
    else
      die("unknown option " + key);
  }
  if (o.pythonpath.empty() || o.helper.empty() || o.bench_dir.empty()) {
    die("--pythonpath, --helper and --bench-dir are required");
  }

  if (o.pin) pin_to(0);
  ChannelSettings settings;
  settings.spin = std::chrono::microseconds(o.spin_us);
  Channel channel(settings);
  pid_t ring_pid = spawn(o, "ring_worker.py", {channel.notify_fd(), channel.segment_fd()},
                         {{"EDGEFN_SHM_FD", "4"},
                          {"EDGEFN_SHM_NOTIFY_FD", "3"},
                          {"EDGEFN_RING_HELPER", o.helper},
                          {"EDGEFN_SHM_SPIN_US", std::to_string(o.spin_us)}});
  if (channel.accept(30s) != ChannelStatus::kOk) die("the ring worker did not connect");

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair failed");
  pid_t socket_pid = spawn(o, "socket_worker.py", {sv[1]}, {});
  close(sv[1]);

  std::uint64_t id = 1;
  ring_round(channel, o.warmup, id, nullptr);
  async_round(channel, settings.spin, o.warmup, id, nullptr);
  socket_round(sv[0], o.warmup, id, nullptr);
  Samples ring, async, sock;
  std::vector<std::string> per_round;
  // Sleeps per round trip, daemon side / worker side, for each variant.
  auto sleep_rate = [&](pid_t worker, auto&& run) {
    long d0 = sleeps(getpid()), w0 = sleeps(worker);
    run();
    char out[40];
    std::snprintf(out, sizeof out, "%.2f / %.2f", double(sleeps(getpid()) - d0) / o.iterations,
                  double(sleeps(worker) - w0) / o.iterations);
    return std::string(out);
  };
  for (int r = 0; r < o.rounds; ++r) {
    Samples a, b, c;
    auto sa = sleep_rate(ring_pid, [&] { ring_round(channel, o.iterations, id, &a); });
    auto sb = sleep_rate(ring_pid, [&] { async_round(channel, settings.spin, o.iterations, id, &b); });
    auto sc = sleep_rate(socket_pid, [&] { socket_round(sv[0], o.iterations, id, &c); });
    char line[300];
    std::snprintf(line, sizeof line, "| %d | %.1f (%s) | %.1f (%s) | %.1f (%s) |", r + 1, a.quantile(0.5), sa.c_str(),
                  b.quantile(0.5), sb.c_str(), c.quantile(0.5), sc.c_str());
    per_round.push_back(line);
    for (auto [from, to] : {std::pair{&a, &ring}, {&b, &async}, {&c, &sock}}) {
      to->us.insert(to->us.end(), from->us.begin(), from->us.end());
    }
  }
  close(sv[0]);
  reap(socket_pid);

  // The ring worker now waits for an event that does not come: after its
  // bounded spin it must sleep on the futex.
  double idle_cpu = 0;
  if (o.idle_seconds > 0) {
    std::this_thread::sleep_for(100ms);
    double cpu_before = cpu_seconds(ring_pid);
    std::this_thread::sleep_for(std::chrono::seconds(o.idle_seconds));
    idle_cpu = (cpu_seconds(ring_pid) - cpu_before) / o.idle_seconds * 100.0;
  }
  channel.close();
  reap(ring_pid);

  std::printf("## shm channel vs socketpair: empty event round trip, python3 worker%s%s\n\n",
              o.condition.empty() ? "" : ", ", o.condition.c_str());
  std::printf("%d rounds x %d round trips per variant (after %d warm-up), spin %d us on both sides, %u CPUs%s.\n\n",
              o.rounds, o.iterations, o.warmup, o.spin_us, std::thread::hardware_concurrency(),
              o.pin ? ", daemon pinned to CPU 0 and workers to CPU 1" : ", no pinning");
  std::printf("| variant | median us | p99 us | mean us |\n|---|---|---|---|\n");
  for (auto [name, s] : {std::pair{"shm ring, blocking daemon side", &ring},
                         {"shm ring, Asio daemon side (AsyncChannel)", &async},
                         {"Unix socketpair", &sock}}) {
    std::printf("| %s | %.1f | %.1f | %.1f |\n", name, s->quantile(0.5), s->quantile(0.99), s->mean());
  }
  std::printf(
      "\nMedian per round in us (sleeps per round trip, daemon / worker):\n\n"
      "| round | shm blocking | shm Asio | socketpair |\n|---|---|---|---|\n");
  for (const auto& line : per_round) std::printf("%s\n", line.c_str());
  std::printf("\nsocketpair / shm median: %.1fx (blocking), %.1fx (Asio)\n", sock.quantile(0.5) / ring.quantile(0.5),
              sock.quantile(0.5) / async.quantile(0.5));
  std::printf("socketpair / shm p99: %.1fx (blocking), %.1fx (Asio)\n", sock.quantile(0.99) / ring.quantile(0.99),
              sock.quantile(0.99) / async.quantile(0.99));
  if (o.idle_seconds > 0) std::printf("idle shm worker CPU over %d s: %.2f %%\n", o.idle_seconds, idle_cpu);
  return 0;
}
