"""Python workers under abuse, against the real processor and a real
python3: a handler that prints 50 MB without a newline."""
import re
import textwrap
import unittest

from support import Processor, TempDir, wait_for
from test_python import make_function

MAX_LINE = 16 * 1024  # OutputLines::kMaxLine
MARKER = " [line cut at 16 KiB; continues]"
PIECE = MAX_LINE - len(MARKER)  # output bytes in a cut piece

FLOOD = textwrap.dedent('''
    import os
    import sys


    def flood(context, event):
        size = int(event.fields.get("n", "0"))
        where = event.path.strip("/")
        if where == "stdout":
            print("x" * size, end="")
        elif where == "stderr":
            sys.stderr.write("e" * size)
        elif where == "fd1":
            os.write(1, b"r" * size)
        return "flooded %d" % size


    def pid(context, event):
        return str(os.getpid())
''')


def vm_hwm_kib(pid):
    """The peak resident memory of a process, from /proc (kB)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


class OutputBoundTest(unittest.TestCase):
    def test_a_50_mb_print_without_a_newline_becomes_bounded_marked_lines(self):
        size = 50_000_000
        with TempDir() as d:
            config = make_function(d, "handlers:flood", source=FLOOD)
            with Processor(config) as proc:
                # sys.stderr and the raw fd 1 are cut the same way: two pieces, then the rest.
                self.assertEqual(proc.request("GET", f"/stderr?n={2 * PIECE + 40}")[0], 200)
                proc.wait_log(r"warning +worker\.web\.0: e{%d}%s \(event " % (PIECE, re.escape(MARKER)))
                proc.wait_log(r"warning +worker\.web\.0: e{40} \(event ")
                self.assertEqual(proc.log().count(MARKER), 2)
                self.assertEqual(proc.request("GET", f"/fd1?n={MAX_LINE + 3}")[0], 200)
                proc.wait_log(r"info +worker\.web\.0: r{%d}%s\n" % (PIECE, re.escape(MARKER)))

                before = vm_hwm_kib(proc.proc.pid)

                status, _, body = proc.request("GET", f"/stdout?n={size}", timeout=120)
                self.assertEqual((status, body), (200, f"flooded {size}".encode()))
                pieces = -(-(size - MAX_LINE) // PIECE)  # cut while more than a line's worth is left
                rest = size - pieces * PIECE
                last_piece = re.compile(r": x{%d} \(event " % rest)
                wait_for(lambda: last_piece.search(proc.log()), 60, interval=0.5,
                         what="the last piece of the printed line")
                grown = vm_hwm_kib(proc.proc.pid) - before

                lines = [line for line in proc.log().splitlines() if "x" * 100 in line]
                marked = [line for line in lines if MARKER in line]
                self.assertEqual(len(marked), pieces)
                self.assertEqual(len(lines), pieces + 1)
                for line in marked:
                    text = line.split(": ", 1)[1]
                    self.assertTrue(text.startswith("x" * PIECE + MARKER + " (event "), text[-80:])
                self.assertLess(max(len(line) for line in lines), MAX_LINE + 200)
                # Without the bound the daemon held the whole line, twice over.
                self.assertLess(grown, 20 * 1024, f"the daemon's peak RSS grew by {grown} kB")

                # And the daemon goes on serving.
                self.assertEqual(proc.request("GET", "/stdout?n=1")[0], 200)
                self.assertIsNone(proc.proc.poll())


if __name__ == "__main__":
    unittest.main()
