// Plays the daemon against a real python3 worker (shm_echo_worker.py using
// runtimes/python/edgefn_channel.py): creates a Channel, spawns the worker
// with the segment's memfd and the eventfd, sends events and checks the
// echoes.
// Run by test/integration/test_shm_channel.py.
//
//   shm_echo_driver --python python3 --worker shm_echo_worker.py
//                   --pythonpath runtimes/python --helper lib/libedgefn_ring.so
//                   [--events N] [--mode echo|bad-version] [--idle-seconds S]
//
// With --idle-seconds, the worker then waits S seconds for an event that does
// not come and must use under 1% of a CPU meanwhile. Exits 0 when every
// check passed.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>

#include "runtime/python/worker_protocol.hpp"
#include "shm/channel.hpp"

namespace {

using namespace std::chrono_literals;
using namespace edgefn;
using namespace edgefn::shm;
using namespace edgefn::python;

constexpr int kChildNotifyFd = 3;
constexpr int kChildSegmentFd = 4;

struct Options {
  std::string python = "python3", worker, pythonpath, helper, mode = "echo";
  int events = 20;
  int idle_seconds = 0;
};

// Thrown, not exit(): the Channel's destructor must run and close the worker's channel.
[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what); }

pid_t spawn_worker(const Options& o, const Channel& channel) {
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid > 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Above both targets first, so that neither dup2() clobbers the other.
  int notify = fcntl(channel.notify_fd(), F_DUPFD_CLOEXEC, 10);
  int segment = fcntl(channel.segment_fd(), F_DUPFD_CLOEXEC, 10);
  if (notify < 0 || segment < 0 || inherit_fd(notify, kChildNotifyFd) < 0 || inherit_fd(segment, kChildSegmentFd) < 0)
    _exit(126);
  setenv("EDGEFN_SHM_FD", std::to_string(kChildSegmentFd).c_str(), 1);
  setenv("EDGEFN_SHM_NOTIFY_FD", std::to_string(kChildNotifyFd).c_str(), 1);
  setenv("EDGEFN_RING_HELPER", o.helper.c_str(), 1);
  setenv("PYTHONPATH", o.pythonpath.c_str(), 1);
  execlp(o.python.c_str(), o.python.c_str(), o.worker.c_str(), static_cast<char*>(nullptr));
  _exit(127);
}

int wait_exit(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    usleep(10'000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return 999;
}

// Sizes cover empty, tiny, a frame's edge, chunked, and 4 MiB binary bodies.
std::string body_for(int i) {
  static const std::size_t kSizes[] = {0, 1, 100, 64 * 1024 - 100, 300 * 1024, 4u << 20};
  std::size_t n = kSizes[i % 6];
  std::string body(n, '\0');
  for (std::size_t k = 0; k < n; ++k) body[k] = static_cast<char>((k * 131 + i) % 256);  // NULs included
  return body;
}

double cpu_seconds(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) die("cannot read the worker's /proc stat");
  char buf[1024] = {};
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const char* p = std::strrchr(buf, ')');
  if (!p || n == 0) die("malformed /proc stat");
  unsigned long long utime = 0, stime = 0;
  // After "pid (comm)": state, then fields 4..13, then utime and stime.
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) {
    die("malformed /proc stat");
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int run_echo(const Options& o) {
  ChannelSettings settings;
  settings.ring_capacity = 1u << 20;  // 4 MiB bodies must be chunked
  settings.max_message_size = 8u << 20;
  Channel channel(settings);
  pid_t pid = spawn_worker(o, channel);
  if (auto s = channel.accept(20s); s != ChannelStatus::kOk) die(std::string("handshake: ") + to_string(s));
  if (channel.worker_pid() != pid) die("HELLO carries pid " + std::to_string(channel.worker_pid()));

  static const TriggerInfo trigger{"http", "echo"};
  int failures = 0;
  for (int i = 0; i < o.events; ++i) {
    Event e;
    e.id = new_event_id();
    e.trigger = &trigger;
    e.method = "PUT";
    e.path = "/echo/" + std::to_string(i);
    e.content_type = "application/octet-stream";
    e.headers = {{"X-Index", std::to_string(i)}, {"X-Utf8", "gr\xc3\xbc\xc3\x9f"}};
    e.fields = {{"q", "1"}};
    e.body = body_for(i);
    auto id = static_cast<std::uint64_t>(i + 1);
    if (auto s = channel.send(kEventMessage, id, encode_event_head(e), e.body, 20s); s != ChannelStatus::kOk) {
      die("send " + std::to_string(i) + ": " + to_string(s));
    }
    bool logged = false;
    for (;;) {
      Message m;
      if (auto s = channel.receive(m, 20s); s != ChannelStatus::kOk) die("receive: " + std::string(to_string(s)));
      if (m.request_id != id)
        die("answer for request " + std::to_string(m.request_id) + ", want " + std::to_string(id));
      if (m.type == kLogMessage) {
        auto log = decode_log(m.head);
        logged = log && log->level == LogLevel::kInfo && log->message == "echo " + e.id &&
                 log->fields_json == "{\"size\":" + std::to_string(e.body.size()) + "}";
        continue;
      }
      auto r = decode_response(m.head, std::move(m.body));
      if (!r) die("bad response: " + r.error());
      std::map<std::string, std::string> headers(r->headers.begin(), r->headers.end());
      bool ok = logged && r->status == 200 && r->content_type == e.content_type && r->body == e.body &&
                headers["X-Echo-X-Index"] == std::to_string(i) && headers["X-Echo-X-Utf8"] == "gr\xc3\xbc\xc3\x9f" &&
                headers["X-Body-Type"] == "bytes" && headers["X-Path"] == e.path && headers["X-Fields"] == "q=1" &&
                headers["X-Trigger"] == "http/echo";
      if (!ok) {
        ++failures;
        std::fprintf(stderr, "event %d (%zu bytes): echo mismatch (status %d, body %zu bytes, logged %d)\n", i,
                     e.body.size(), r->status, r->body.size(), logged);
      }
      break;
    }
  }
  if (o.idle_seconds > 0) {
    // The worker's spin after its last answer is bounded (50 us); then it
    // must sleep on the futex.
    double before = cpu_seconds(pid);
    std::this_thread::sleep_for(std::chrono::seconds(o.idle_seconds));
    double percent = (cpu_seconds(pid) - before) / o.idle_seconds * 100;
    std::printf("idle worker CPU over %d s: %.2f %%\n", o.idle_seconds, percent);
    if (percent >= 1.0) ++failures;
  }
  channel.close();
  int code = wait_exit(pid);
  if (code != 0) die("worker exited with " + std::to_string(code));
  std::printf("%d events echoed, %d failures\n", o.events, failures);
  return failures == 0 ? 0 : 1;
}

// A segment claiming another protocol version: the worker must refuse it
// with a message that says so (it exits 3, see shm_echo_worker.py).
int run_bad_version(const Options& o) {
  Channel channel;
  static_cast<edgefn_shm_control*>(Segment::map(channel.segment_fd()).data())->version = 99;
  pid_t pid = spawn_worker(o, channel);
  int code = wait_exit(pid);
  if (code != 3) die("worker exited with " + std::to_string(code) + ", want 3");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--python")
      o.python = value;
    else if (key == "--worker")
      o.worker = value;
    else if (key == "--pythonpath")
      o.pythonpath = value;
    else if (key == "--helper")
      o.helper = value;
    else if (key == "--events")
      o.events = std::atoi(value.c_str());
    else if (key == "--mode")
      o.mode = value;
    else if (key == "--idle-seconds")
      o.idle_seconds = std::atoi(value.c_str());
    else
      die("unknown option " + key);
  }
  if (o.worker.empty() || o.helper.empty()) die("--worker and --helper are required");
  try {
    return o.mode == "bad-version" ? run_bad_version(o) : run_echo(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shm_echo_driver: %s\n", e.what());
    return 1;
  }
}
