"""Python workers' lives against the real processor and a real python3:
start-up bounds and retries, crashes, timeouts, signals, the drain and the
stop, and what is left behind (nothing)."""
import base64
import concurrent.futures
import datetime
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import textwrap
import unittest

from support import PROCESSOR, SANITIZER, Processor, TempDir, run_cli, wait_for, write_function
from test_python import HANDLERS, function_yaml, make_function, pid_alive, worker_pids

# Handlers for the lifecycle cases, appended to test_python's HANDLERS.
LIFECYCLE = textwrap.dedent('''
    import threading
    import time


    def hang_while_marker(context):
        marker = os.environ.get("HANG_MARKER")
        while marker and os.path.exists(marker):
            time.sleep(0.05)


    def bad_status(context, event):
        return context.Response(body="odd", status_code=int(event.fields["status"]))


    def publisher(context, event):
        try:
            context.platform.publish("alerts", {"t": 91}, topic="plant/3")
        except nuclio_sdk.PublishError as e:
            return "refused: " + str(e)
        return "published"


    def announce(context, event):
        with open(event.body.decode(), "w") as f:
            f.write(str(os.getpid()))
        time.sleep(float(event.fields.get("s", "0")))
        return "done"


    def callbacks(context, event):
        marker = event.body.decode()
        def drained():
            with open(marker, "a") as f:
                f.write("drain,")
        def terminated():
            with open(marker, "a") as f:
                f.write("termination")
        context.platform.set_drain_callback(drained)
        context.platform.set_termination_callback(terminated)
        return "set"
''')


def lifecycle_function(directory, handler, extra_source="", **kwargs):
    return make_function(directory, handler, source=HANDLERS + LIFECYCLE + textwrap.dedent(extra_source), **kwargs)


def edgefn_entries(directory):
    return sorted(n for n in os.listdir(directory) if "edgefn" in n)


def log_time(line):
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f")


class StartupTest(unittest.TestCase):
    def test_init_failure_is_retried_until_it_succeeds(self):
        with TempDir() as d:
            marker = os.path.join(d, "fail-init")
            open(marker, "w").close()
            source = textwrap.dedent(f'''
                _original_init = init_context
                def init_context(context):
                    if os.path.exists({marker!r}):
                        raise RuntimeError("init refused: marker present")
                    _original_init(context)
            ''')
            config = lifecycle_function(d, "handlers:pid", source)
            with Processor(config, expect_ready=False) as proc:
                proc.wait_log(r"failed to start \(handler import or init_context\); retrying in 1 s:\n"
                              r".*worker\.\S+: Traceback[\s\S]*RuntimeError: init refused: marker present")
                proc.wait_log(r"still fails to start \(attempt 2", timeout=10)
                self.assertEqual(proc.get_management("/ready")[0], 503)
                # The traceback once; the "not ready yet" warning, when the
                # 2 s it waits have passed on a loaded machine, names the error too.
                self.assertEqual(len(re.findall(r"worker\.\S+: RuntimeError: init refused", proc.log())), 1)
                self.assertNotIn(" ready: ", proc.log())  # "function ... ready" is never logged early
                detail = proc.status()["pools"][0]["workers"][0]["detail"]
                self.assertIn("init failed: RuntimeError: init refused: marker present", detail)
                self.assertIsNone(proc.proc.poll())
                os.unlink(marker)
                wait_for(lambda: proc.get_management("/ready")[0] == 200, 30, what="/ready after recovery")
                self.assertEqual(proc.request()[0], 200)
                proc.wait_log(r"ready after \d+ failed attempt")
                proc.wait_log(r"function 'pyfn' ready")

    def test_import_error_is_logged_and_retried(self):
        with TempDir() as d:
            # The handler is defined (the check at start looks for it); the
            # import it comes after fails only when the module runs.
            config = make_function(d, "handlers:pid", source="import no_such_module_here\n" + HANDLERS,
                                   trigger_attrs="      workerAvailabilityTimeoutMilliseconds: 100\n")
            with Processor(config, expect_ready=False) as proc:
                proc.wait_log(r"ModuleNotFoundError: No module named 'no_such_module_here'")
                self.assertEqual(proc.get_management("/ready")[0], 503)
                # The listener is up: a client gets a 503, not a refused connection.
                self.assertEqual(proc.request()[0], 503)

    def test_an_init_context_that_hangs_is_killed_after_readiness_timeout_and_retried(self):
        with TempDir() as d:
            marker = os.path.join(d, "hang")
            open(marker, "w").close()
            config = lifecycle_function(
                d, "handlers:pid", "init_context = hang_while_marker\n", env={"HANG_MARKER": marker},
                # Long enough for the retry to start python3 and import the
                # worker on a machine busy enough to take seconds over it.
                extra_spec="  readinessTimeoutSeconds: 8\n",
                trigger_attrs="      workerAvailabilityTimeoutMilliseconds: 200\n")
            with Processor(config, expect_ready=False) as proc:
                proc.wait_log(r"did not become ready within readinessTimeoutSeconds \(8 s\)[^\n]*; killing it",
                              timeout=40)
                self.assertEqual(proc.get_management("/ready")[0], 503)
                # Events go only to ready workers: this one waits 200 ms for one.
                status, _, body = proc.request()
                self.assertEqual((status, body), (503, b"no worker available\n"))
                wait_for(lambda: "readinessTimeoutSeconds" in proc.status()["pools"][0]["workers"][0]["detail"],
                         what="the reason in /status")
                os.unlink(marker)
                wait_for(lambda: proc.get_management("/ready")[0] == 200, 30, what="/ready once init returns")
                self.assertEqual(proc.request()[0], 200)

    def test_a_failed_init_is_killed_even_when_a_thread_keeps_the_interpreter_alive(self):
        with TempDir() as d:
            pids = os.path.join(d, "pids")
            source = textwrap.dedent(f'''
                def init_context(context):
                    with open({pids!r}, "a") as f:
                        f.write("%d\\n" % os.getpid())
                    threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon thread
                    raise RuntimeError("no good")
            ''')
            with Processor(lifecycle_function(d, "handlers:pid", source), expect_ready=False) as proc:
                proc.wait_log(r"still fails to start \(attempt 2", timeout=15)
                with open(pids) as f:
                    first = int(f.readline())
                wait_for(lambda: not pid_alive(first), 10, what="the first attempt's process to be gone")

    def test_a_worker_that_dies_right_after_ready_is_replaced_at_once_then_with_backoff(self):
        with TempDir() as d:
            source = textwrap.dedent('''
                def init_context(context):
                    threading.Timer(0.05, os._exit, args=(3,)).start()
            ''')
            with Processor(lifecycle_function(d, "handlers:pid", source), expect_ready=False) as proc:
                proc.wait_log(r"ended with exit status 3; starting a new one")
                proc.wait_log(r"died within 10 s of starting 2 times in a row; next start in 1 s", timeout=15)
                proc.wait_log(r"3 times in a row; next start in 2 s", timeout=15)


class FaultTest(unittest.TestCase):
    def test_sigkill_mid_event_fails_that_event_and_a_new_worker_serves(self):
        with TempDir() as d:
            with Processor(make_function(d, "handlers:sleepy")) as proc:
                first = int(proc.request("GET", "/")[2].split()[1])
                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    slow = pool.submit(proc.request, "GET", "/?s=30", None, None, 20)
                    wait_for(lambda: proc.status()["pools"][0]["busy"] == 1, what="the worker to be busy")
                    os.kill(first, signal.SIGKILL)
                    self.assertEqual(slow.result(timeout=20)[0], 500)
                wait_for(lambda: proc.get_management("/ready")[0] == 200, 20, what="/ready after the crash")
                second = int(proc.request("GET", "/")[2].split()[1])
                self.assertNotEqual(first, second)
                proc.wait_log(r"ended with signal 9 \(SIGKILL\) while handling event")

    def test_event_timeout_answers_408_and_restarts_the_worker_with_init_context(self):
        with TempDir() as d:
            source = HANDLERS.replace("def inits(context, event):",
                                      "def inits(context, event):\n    import time\n"
                                      "    time.sleep(float(event.fields.get('s', '0')))")
            config = make_function(d, "handlers:inits", source=source, extra_spec="  eventTimeout: 1s\n",
                                   env={"INIT_MARKER": os.path.join(d, "marker")})
            with Processor(config) as proc:
                before = json.loads(proc.request()[2])
                status, _, body = proc.request("GET", "/?s=30", timeout=20)
                self.assertEqual((status, json.loads(body)), (408, {"error": "handler timed out"}))
                wait_for(lambda: not pid_alive(before["pid"]), 10, what="the timed-out worker to die")
                wait_for(lambda: proc.get_management("/ready")[0] == 200, 20, what="/ready after the timeout")
                after = json.loads(proc.request()[2])
                self.assertNotEqual(before["pid"], after["pid"])
                with open(os.path.join(d, "marker.count")) as f:
                    self.assertEqual(f.read(), "xx")  # init_context ran again

    def test_a_status_outside_200_599_answers_500_and_keeps_the_worker(self):
        with TempDir() as d:
            with Processor(lifecycle_function(d, "handlers:bad_status")) as proc:
                pids = worker_pids(proc.proc.pid)
                for status in (0, 42, 100, 1000):
                    got, _, body = proc.request("GET", f"/?status={status}")
                    self.assertEqual((got, body), (500, f"handler answered an invalid status {status}\n".encode()))
                self.assertEqual(proc.request("GET", "/?status=299")[0], 299)
                self.assertEqual(worker_pids(proc.proc.pid), pids)
                self.assertNotIn("starting a new one", proc.log())

    def test_a_worker_ignores_sigterm_sent_to_it_alone(self):
        with TempDir() as d:
            with Processor(make_function(d, "handlers:pid")) as proc:
                worker = int(proc.request()[2])
                os.kill(worker, signal.SIGTERM)
                os.kill(worker, signal.SIGINT)
                self.assertEqual(int(proc.request()[2]), worker)

    def test_publish_to_an_output_that_does_not_exist_raises_publish_error(self):
        with TempDir() as d:
            with Processor(lifecycle_function(d, "handlers:publisher")) as proc:
                status, _, body = proc.request()
                self.assertEqual((status, body), (200, b"refused: no output named 'alerts' (outputs: none)"))


class StopTest(unittest.TestCase):
    def test_sigterm_runs_the_drain_then_the_termination_callback_and_leaves_nothing_behind(self):
        with TempDir() as d:
            before = edgefn_entries("/dev/shm")
            marker = os.path.join(d, "callbacks")
            with Processor(lifecycle_function(d, "handlers:callbacks")) as proc:
                self.assertEqual(proc.request("POST", "/", body=marker.encode())[2], b"set")
                pids = worker_pids(proc.proc.pid)
                self.assertEqual(len(pids), 1)
                self.assertEqual(proc.terminate(), 0)
                self.assertFalse(pid_alive(pids[0]))
            with open(marker) as f:
                self.assertEqual(f.read(), "drain,termination")
            self.assertEqual(edgefn_entries("/dev/shm"), before)

    def test_sigterm_to_the_daemon_and_every_worker_at_once_answers_every_request(self):
        # systemd's control-group kill, docker stop, pkill: workers leave the
        # signal to the daemon, which drains.
        with TempDir() as d:
            config = make_function(d, "handlers:sleepy", workers=2,
                                   trigger_attrs="      workerAvailabilityTimeoutMilliseconds: 20000\n")
            with Processor(config) as proc:
                wait_for(lambda: len(worker_pids(proc.proc.pid)) == 2, what="two workers")
                with concurrent.futures.ThreadPoolExecutor(6) as pool:
                    futures = [pool.submit(proc.request, "GET", "/?s=0.5", None, None, 30) for _ in range(6)]
                    wait_for(lambda: proc.status()["pools"][0]["waiting"] == 4, what="4 requests waiting")
                    for pid in [proc.proc.pid, *worker_pids(proc.proc.pid)]:
                        os.kill(pid, signal.SIGTERM)
                    results = [f.result(timeout=30) for f in futures]
                self.assertEqual([r[0] for r in results], [200] * 6)
                self.assertEqual(proc.proc.wait(timeout=30), 0)
                log = proc.log()
                self.assertNotIn("starting a new one", log)
                self.assertNotRegex(log, r"ended with signal")

    def test_an_idle_worker_that_ends_during_the_drain_is_not_replaced(self):
        with TempDir() as d:
            busy_pid = os.path.join(d, "busy.pid")
            with Processor(lifecycle_function(d, "handlers:announce", workers=2)) as proc:
                wait_for(lambda: proc.status()["pools"][0]["ready"] == 2, 30, what="two ready workers")
                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    slow = pool.submit(proc.request, "POST", "/?s=2", busy_pid.encode(), None, 30)
                    wait_for(lambda: os.path.exists(busy_pid) and open(busy_pid).read(), what="the busy worker")
                    busy = int(open(busy_pid).read())
                    idle = [pid for pid in worker_pids(proc.proc.pid) if pid != busy]
                    self.assertEqual(len(idle), 1)
                    proc.proc.send_signal(signal.SIGTERM)
                    wait_for(lambda: proc.get_management("/ready")[0] == 503, what="the drain")
                    os.kill(idle[0], signal.SIGKILL)
                    proc.wait_log(r"ended with signal 9 \(SIGKILL\); not restarted during the drain")
                    self.assertEqual(slow.result(timeout=30)[0], 200)
                self.assertEqual(proc.proc.wait(timeout=30), 0)
                self.assertNotIn("starting a new one", proc.log())

    def test_four_stuck_workers_are_stopped_together_within_one_termination_timeout(self):
        with TempDir() as d:
            config = make_function(d, "handlers:sleepy", workers=4,
                                   trigger_attrs="      workerTerminationTimeout: 2s\n")
            with Processor(config, "--drain-timeout", "200ms") as proc:
                wait_for(lambda: proc.status()["pools"][0]["ready"] == 4, 30, what="four ready workers")
                with concurrent.futures.ThreadPoolExecutor(4) as pool:
                    futures = [pool.submit(proc.request, "GET", "/?s=3600", None, None, 60) for _ in range(4)]
                    wait_for(lambda: proc.status()["pools"][0]["busy"] == 4, what="four busy workers")
                    self.assertEqual(proc.terminate(timeout=60), 0)
                    self.assertEqual([f.result(timeout=30)[0] for f in futures], [503] * 4)
                kills = [line for line in proc.log().splitlines()
                         if "still running 2000 ms after it was told to stop" in line]
                self.assertEqual(len(kills), 4, proc.log())
                # One after another would put them 2 s apart at least.
                times = [log_time(line) for line in kills]
                if not SANITIZER:
                    self.assertLess((max(times) - min(times)).total_seconds(), 1.0, kills)

    def test_a_sigkilled_daemon_leaves_no_worker_and_nothing_in_dev_shm_or_tmp(self):
        with TempDir() as d:
            source = base64.b64encode(b"import os\ndef handler(context, event):\n    return str(os.getpid())\n")
            config = write_function(d, f"""
                spec:
                  runtime: python
                  handler: inline:handler
                  build:
                    functionSourceCode: {source.decode()}
                  triggers:
                    web:
                      kind: http
            """)
            # A temporary directory of its own, which must stay empty.
            tmp = os.path.join(d, "tmp")
            os.mkdir(tmp)
            shm_before = edgefn_entries("/dev/shm")
            with Processor(config, env={"TMPDIR": tmp}) as proc:
                worker = int(proc.request()[2])
                proc.proc.kill()
                proc.proc.wait(timeout=10)
                wait_for(lambda: not pid_alive(worker), 10, what="the worker to die with the daemon")
            self.assertEqual(edgefn_entries("/dev/shm"), shm_before)
            self.assertEqual(os.listdir(tmp), [])

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_the_daemon_and_its_workers_are_not_dumpable(self):
        # A process of the same user could otherwise open a worker's shared
        # memory through /proc/<pid>/fd. The kernel shows it: the /proc
        # entries of a non-dumpable process belong to root, not to its user.
        # Run as nobody, for that to mean something.
        with TempDir() as d:
            os.chmod(d, 0o755)
            config = make_function(d, "handlers:pid")
            for name in os.listdir(d):
                os.chmod(os.path.join(d, name), 0o644)
            as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            with Processor(config, wrapper=as_nobody) as proc:
                worker = int(proc.request()[2])
                for pid in (proc.proc.pid, worker):
                    with open(f"/proc/{pid}/status") as f:
                        self.assertRegex(f.read(), r"Uid:\s+65534")
                    self.assertEqual(os.stat(f"/proc/{pid}/fd").st_uid, 0, f"/proc/{pid}/fd")


def metric(proc, name):
    """The value of one sample in /metrics, or None."""
    status, body = proc.get_management("/metrics")
    assert status == 200, status
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class RecycleTest(unittest.TestCase):
    def test_max_events_per_worker_replaces_the_worker_every_n_events(self):
        with TempDir() as d:
            marker = os.path.join(d, "terminated")
            source = textwrap.dedent(f'''
                def counted(context, event):
                    context.platform.set_termination_callback(
                        lambda: open({marker!r}, "a").write("%d," % os.getpid()))
                    return str(os.getpid())
            ''')
            config = lifecycle_function(d, "handlers:counted", source,
                                        extra_spec="  runtimeAttributes:\n    maxEventsPerWorker: 3\n")
            with Processor(config) as proc:
                pids = []
                for _ in range(7):
                    status, _, body = proc.request()
                    self.assertEqual(status, 200, body)
                    pids.append(int(body))
                self.assertEqual(len(set(pids[0:3])), 1)
                self.assertEqual(len(set(pids[3:6])), 1)
                self.assertEqual(len({pids[0], pids[3], pids[6]}), 3, pids)
                proc.wait_log(r"recycling Python worker process %d: it handled 3 events "
                              r"\(runtimeAttributes\.maxEventsPerWorker\); starting a new one" % pids[0])
                wait_for(lambda: metric(proc, 'edgefn_worker_recycles_total{pool="web",reason="events"}') == 2,
                         what="two recycles counted")
                self.assertEqual(metric(proc, 'edgefn_worker_recycles_total{pool="web",reason="memory"}'), 0)
                # Stopped, not killed: the termination callback ran.
                def terminated():
                    if not os.path.exists(marker):
                        return None
                    with open(marker) as f:
                        return f.read()
                wait_for(lambda: terminated() == "%d,%d," % (pids[0], pids[3]),
                         what="both recycled workers' termination callbacks")
                self.assertNotRegex(proc.log(), r"ended with|died within")

    def test_a_leaking_handler_is_recycled_over_max_worker_memory_and_requests_keep_succeeding(self):
        limit = 80 << 20
        with TempDir() as d:
            source = textwrap.dedent('''
                _kept = []

                def leak(context, event):
                    _kept.append(b"x" * (8 << 20))  # written, so resident
                    return str(os.getpid())
            ''')
            config = lifecycle_function(d, "handlers:leak", source,
                                        extra_spec=f"  runtimeAttributes:\n    maxWorkerMemory: {limit}\n")
            with Processor(config) as proc:
                pids = []
                for _ in range(25):
                    status, _, body = proc.request()
                    self.assertEqual(status, 200, body)
                    pids.append(int(body))
                    if len(set(pids)) > 1:
                        break
                self.assertGreater(len(set(pids)), 1, "never recycled")
                line = proc.wait_log(r"recycling Python worker process %d: its resident memory, (\d+) bytes, is over "
                                     r"runtimeAttributes\.maxWorkerMemory \(%d bytes\) after \d+ events" %
                                     (pids[0], limit))
                self.assertGreater(int(line.group(1)), limit)
                # Within a few events of the limit, not long after.
                self.assertLessEqual(pids.count(pids[0]), (limit >> 20) // 8 + 1)
                wait_for(lambda: metric(proc, 'edgefn_worker_recycles_total{pool="web",reason="memory"}') == 1,
                         what="the recycle counted")
                self.assertEqual(proc.request()[0], 200)
                self.assertEqual(proc.status()["pools"][0]["ready"], 1)


WORKER_USER = textwrap.dedent('''
    def ids(context, event):
        with open("handlers.py") as f:  # the function's own directory, read as that user
            f.read(1)
        return "%d:%d:%d" % (os.getuid(), os.getgid(), os.getpid())
''')


# What a root daemon started by systemd has: an interpreter under /root
# (pyenv) would be out of the worker user's reach.
SYSTEM_PATH = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


@unittest.skipUnless(os.geteuid() == 0, "changing users needs root")
class WorkerUserTest(unittest.TestCase):
    def test_workers_of_a_root_processor_run_as_the_worker_user(self):
        nobody = pwd.getpwnam("nobody")
        with TempDir() as d:
            os.chmod(d, 0o755)
            source = base64.b64encode(b"import os\ndef handler(context, event):\n    return str(os.getuid())\n")
            config = lifecycle_function(d, "handlers:ids", WORKER_USER)
            with Processor(config, "--worker-user", "nobody", env=SYSTEM_PATH) as proc:
                proc.wait_log(r"worker processes run as user nobody \(uid %d, gid %d\) \(--worker-user\)" %
                              (nobody.pw_uid, nobody.pw_gid))
                status, _, body = proc.request()
                self.assertEqual(status, 200, body)
                uid, gid, worker = (int(x) for x in body.split(b":"))
                self.assertEqual((uid, gid), (nobody.pw_uid, nobody.pw_gid))
                with open(f"/proc/{worker}/status") as f:
                    status_text = f.read()
                self.assertRegex(status_text, r"Uid:\s+%d\s+%d\s+%d\s+%d" % ((nobody.pw_uid,) * 4))
                self.assertRegex(status_text, r"Groups:\s*%s\s*\n" % " ".join(
                    str(g) for g in sorted(os.getgrouplist("nobody", nobody.pw_gid))))
                self.assertEqual(proc.status()["pools"][0]["ready"], 1)
                # The daemon itself stays root.
                with open(f"/proc/{proc.proc.pid}/status") as f:
                    self.assertRegex(f.read(), r"Uid:\s+0\s")

            # functionSourceCode reaches the worker as a memfd it inherits.
            inline = write_function(d, function_yaml("inline:handler",
                                                     extra_spec=f"  build:\n    functionSourceCode: {source.decode()}\n"))
            with Processor(inline, "--worker-user", str(nobody.pw_uid), env=SYSTEM_PATH) as proc:
                self.assertEqual(proc.request()[::2], (200, str(nobody.pw_uid).encode()))

    def test_an_unknown_worker_user_is_a_command_line_error(self):
        with TempDir() as d:
            config = lifecycle_function(d, "handlers:ids", WORKER_USER)
            r = run_cli("--config", config, "--worker-user", "no-such-user-edgefn", "--http-listen", "127.0.0.1:0",
                        "--management-address", "127.0.0.1:0")
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("--worker-user: no user 'no-such-user-edgefn'", r.stderr)

    @unittest.skipUnless(shutil.which("setpriv"), "needs setpriv")
    def test_a_processor_that_is_not_root_refuses_another_worker_user(self):
        with TempDir() as d:
            os.chmod(d, 0o755)
            config = lifecycle_function(d, "handlers:ids", WORKER_USER)
            for name in os.listdir(d):
                os.chmod(os.path.join(d, name), 0o644)
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PROCESSOR, "--config",
                                config, "--worker-user", "root"], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("runs as uid 65534 and cannot start processes as another user", r.stderr)


if __name__ == "__main__":
    unittest.main()
