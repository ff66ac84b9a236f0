#pragma once
// Forks worker processes from one thread that lives as long as the daemon.
//
// PR_SET_PDEATHSIG fires when the *thread* that forked a child exits, not
// the process: a worker forked from a start-up thread or from a pool's
// transient thread would be SIGKILLed when that thread ends, and one forked
// from an I/O thread would die at shutdown in whatever order threads end.
// So every fork goes through this thread, which ends only at static
// destruction, after the pools have stopped their workers. Forking blocks
// only until the child has exec'd (ChildProcess::spawn), briefly.
#include <memory>
#include <string>

#include "runtime/shell/child_process.hpp"
#include <tl/expected.hpp>
#include "util/unique_function.hpp"

namespace edgefn {

struct SpawnResult {
  tl::expected<std::unique_ptr<ChildProcess>, std::string> child = tl::make_unexpected(std::string("not spawned"));
  ChildProcess::Pipes pipes;
};

// Queues a fork/exec of `request` (whose pass_fd must stay open until `done`
// runs) to the spawner thread; `done` runs on that thread and must be
// quick (post elsewhere). Any thread; never blocks. If the spawner cannot
// run (thread creation failed), `done` gets the error at once.
void spawn_async(SpawnRequest request, UniqueFunction<void(SpawnResult)> done);

// The same, waiting for the result. Start-up thread.
SpawnResult spawn_blocking(SpawnRequest request);

}  // namespace edgefn
