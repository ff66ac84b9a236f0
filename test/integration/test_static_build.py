"""The static build (EDGEFN_STATIC, cmake/static_build.cmake), the default
for Release: what the binary needs from the machine it runs on is glibc
alone, and what it cannot do (SASL GSSAPI, for want of Cyrus SASL) it
refuses when the config is read. test/CMakeLists.txt says which build this
is (EDGEFN_STATIC=1 or 0); the tests of the other skip, saying why."""
import os
import re
import subprocess
import unittest

from support import PROCESSOR, TempDir, run_cli, write_function

STATIC = os.environ.get("EDGEFN_STATIC", "0") == "1"
NOT_STATIC = "the processor is the dynamic build (EDGEFN_STATIC=OFF: Debug, sanitizers, or chosen)"

# glibc's libraries and its loader (ld-linux-x86-64.so.2, ld-linux-aarch64.so.1):
# glibc stays shared because native handlers are loaded with dlopen.
GLIBC = re.compile(r"^(libc|libm|libdl|libpthread|librt|ld-linux[-\w]*)\.so(\.\d+)*$")


def needed(path):
    """The NEEDED entries of an ELF file's dynamic section, by readelf."""
    out = subprocess.run(["readelf", "--dynamic", "--wide", path], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


@unittest.skipUnless(STATIC, NOT_STATIC)
class StaticBuildTest(unittest.TestCase):
    def test_the_binary_needs_glibc_alone(self):
        libraries = needed(PROCESSOR)
        self.assertIn("libc.so.6", libraries)
        self.assertEqual([lib for lib in libraries if not GLIBC.match(lib)], [],
                         f"NEEDED beyond glibc: {libraries}")

    def test_validate_refuses_sasl_gssapi_at_its_line(self):
        with TempDir() as d:
            path = write_function(d, """\
                metadata: {name: orders}
                spec:
                  runtime: native
                  handler: builtin:echo
                  triggers:
                    stream:
                      kind: kafka-cluster
                      url: 127.0.0.1:9092
                      attributes:
                        topics: [orders]
                        consumerGroup: g1
                        sasl:
                          enable: true
                          mechanism: GSSAPI
                """)
            result = run_cli("validate", "--config", path)
            self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
            self.assertIn(f"{path}:14:", result.stderr)
            self.assertIn("GSSAPI (Kerberos) is not in this build", result.stderr)


if __name__ == "__main__":
    unittest.main()
