"""What a Python worker's start costs with the runtime embedded in the
processor: python3 importing the worker's modules from the archive the
build embeds, held in a sealed memfd and opened as /proc/self/fd/N (as a
worker does), against the same files in a directory with and without
their bytecode cached (the share/ install before issue 13; an install a
non-root worker cannot write __pycache__ into compiles every time).

    python3 bench/python/worker_start.py [BUILD_DIR] [RUNS]

CPU time (user + system) of each python3, not wall time: on a loaded
machine it varies far less. Interleaved runs; min and median.
"""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMPORTS = ("import sys; sys.path.insert(0, sys.argv[1]); "
           "import edgefn_worker, edgefn_handler, edgefn_channel, edgefn_serving, nuclio_sdk, nuclio_sdk.logger")
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def cpu_ms(path, env, fds):
    child = subprocess.Popen([PYTHON, "-c", IMPORTS, path], env=env, pass_fds=fds)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit("python3 failed for " + path)
    return (usage.ru_utime + usage.ru_stime) * 1000


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    with open(os.path.join(build, "generated", "edgefn_python_runtime.zip"), "rb") as f:
        archive = f.read()
    fd = os.memfd_create("edgefn-python-runtime", os.MFD_ALLOW_SEALING)
    os.write(fd, archive)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
    env = {"PATH": "/usr/bin:/bin"}
    scratch = tempfile.mkdtemp(prefix="edgefn-bench-")
    try:
        cached, uncached = os.path.join(scratch, "cached"), os.path.join(scratch, "uncached")
        for d in (cached, uncached):
            shutil.copytree(os.path.join(ROOT, "runtimes", "python"), d,
                            ignore=shutil.ignore_patterns("__pycache__"))
        cpu_ms(cached, env, ())  # writes the cache
        cases = {
            "archive in a memfd (embedded)": ("/proc/self/fd/%d" % fd, env, (fd,)),
            "directory, bytecode cached": (cached, env, ()),
            "directory, no bytecode": (uncached, dict(env, PYTHONDONTWRITEBYTECODE="1"), ()),
        }
        results = {name: [] for name in cases}
        for _ in range(runs):
            for name, (path, case_env, fds) in cases.items():
                results[name].append(cpu_ms(path, case_env, fds))
        print("%s, %d runs each, CPU ms (user + system)" % (PYTHON, runs))
        for name, values in results.items():
            values.sort()
            print("  %-32s min %5.0f  median %5.0f" % (name, values[0], values[len(values) // 2]))
    finally:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
