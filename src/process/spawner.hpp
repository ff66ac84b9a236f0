#pragma once
// Every child process the daemon starts (Python workers and shell handlers)
// is forked by one thread that lives as long as the daemon.
//
// PR_SET_PDEATHSIG fires when the *thread* that forked a child exits, not
// the process: a child forked from a start-up thread would be SIGKILLed
// when that thread ends, and one forked from an I/O thread would die at
// shutdown in whatever order threads end. Forking on an I/O thread would
// also stall that thread's other connections until the child has exec'd.
// So every fork goes through this thread, which ends only at static
// destruction, after the pools have stopped their workers.
#include <memory>
#include <string>

#include <tl/expected.hpp>

#include "process/child_process.hpp"
#include "util/asio.hpp"
#include "util/unique_function.hpp"

namespace edgefn {

struct SpawnResult {
  tl::expected<std::shared_ptr<ChildProcess>, std::string> child = tl::make_unexpected(std::string("not spawned"));
  ChildProcess::Pipes pipes;
};

// Queues a fork/exec of `request` to the spawner thread and posts `done`
// with the result to `executor`. Outstanding work is tracked on `executor`
// from now until `done` has run, so the io_context cannot run out of work
// (and be destroyed) while a spawn is pending. The descriptors in
// request.pass_fds must stay open until `done` runs. Any thread; never
// blocks. If the spawner thread cannot run, `done` gets the error.
void spawn_async(SpawnRequest request, asio::any_io_executor executor, UniqueFunction<void(SpawnResult)> done);

// The same, waiting for the result on the calling thread. For tests and
// tools; never on an I/O thread.
SpawnResult spawn_blocking(SpawnRequest request);

}  // namespace edgefn
