"""The Debian package and `cmake --install`: what they install, and the
systemd unit as systemd-analyze reads it. Where systemd is not PID 1 (CI,
containers) the unit cannot be started: verify is as far as it goes."""
import glob
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from support import BUILD_DIR, SANITIZER

UNIT = "processor@.service"


def unit_line(path, key):
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.startswith(key + "=")]


class PackageTest(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory(prefix="edgefn-package-")
        self.dir = self._dir.name

    def tearDown(self):
        self._dir.cleanup()

    def run_ok(self, *args, **kwargs):
        r = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
        self.assertEqual(r.returncode, 0, f"{args}:\n{r.stdout}\n{r.stderr}")
        return r

    @unittest.skipUnless(shutil.which("dpkg-deb") and shutil.which("cpack"), "needs dpkg-deb and cpack")
    @unittest.skipIf(SANITIZER, "the package is made from the Release tree")
    def test_the_deb_installs_the_binary_and_a_unit_systemd_analyze_verifies(self):
        out = os.path.join(self.dir, "dist")
        self.run_ok("cpack", "-G", "DEB", "-B", out, cwd=BUILD_DIR)
        debs = glob.glob(os.path.join(out, "edgefn_*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(out))
        deb = debs[0]

        fields = self.run_ok("dpkg-deb", "--field", deb, "Package", "Depends").stdout
        self.assertIn("Package: edgefn", fields)
        self.assertRegex(fields, r"Depends: .*\bpython3\b")
        if shutil.which("dpkg-shlibdeps"):
            self.assertRegex(fields, r"Depends: .*\blibc6 \(>= ")

        root = os.path.join(self.dir, "root")
        self.run_ok("dpkg", "-x", deb, root)
        processor = os.path.join(root, "usr/bin/processor")
        self.assertTrue(os.stat(processor).st_mode & stat.S_IXOTH, processor)
        unit = os.path.join(root, "lib/systemd/system", UNIT)
        self.assertEqual(unit_line(unit, "ExecStart"),
                         ["ExecStart=/usr/bin/processor --config /etc/edgefn/%i/function.yaml --instance %i "
                          "--log-format json $EDGEFN_ARGS"])
        self.assertEqual(unit_line(unit, "Type"), ["Type=notify"])
        self.assertTrue(os.path.isfile(os.path.join(root, "usr/share/doc/edgefn/copyright")))
        self.assertTrue(os.path.isfile(os.path.join(root, "usr/share/doc/edgefn/examples/hello-python/function.yaml")))
        self.assertTrue(os.path.isfile(os.path.join(root, "usr/include/edgefn/handler.h")))
        # The packaged binary runs (what it links is there, or declared).
        r = self.run_ok(processor, "--version")
        self.assertIn("processor (edgefn)", r.stdout)

        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze not installed (the systemd package): the unit was not verified")
        # The root holds our package alone: the targets the unit names come
        # from the host, as a real system has them.
        for target in glob.glob("/lib/systemd/system/*.target"):
            shutil.copy(target, os.path.join(root, "lib/systemd/system"))
        r = subprocess.run([analyze, "verify", f"--root={root}", "processor@x.service"], capture_output=True,
                           text=True, timeout=120)
        ours = [line for line in r.stderr.splitlines() if "processor" in line]
        self.assertEqual(ours, [], r.stderr)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_cmake_install_writes_the_unit_with_the_installed_binary_path(self):
        prefix = os.path.join(self.dir, "prefix")
        self.run_ok("cmake", "--install", BUILD_DIR, "--prefix", prefix)
        unit = os.path.join(prefix, "lib/systemd/system", UNIT)
        self.assertEqual(len(unit_line(unit, "ExecStart")), 1)
        self.assertTrue(unit_line(unit, "ExecStart")[0].startswith(f"ExecStart={prefix}/bin/processor --config "))
        self.assertTrue(os.access(os.path.join(prefix, "bin/processor"), os.X_OK))


if __name__ == "__main__":
    unittest.main()
