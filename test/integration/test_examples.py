"""Every example under examples/ runs as the README says it does."""
import os
import unittest

from support import BUILD_DIR, Processor


class ExamplesTest(unittest.TestCase):
    def test_hello_c_answers_from_the_c_handler(self):
        config = os.path.join(BUILD_DIR, "examples", "hello-c", "function.yaml")
        self.assertTrue(os.path.exists(config), config)
        with Processor(config) as proc:
            status, headers, body = proc.request()
            self.assertEqual((status, body), (200, b"hello, edge\n"))
            self.assertEqual(len(proc.status()["pools"][0]["workers"]), 2)
            self.assertEqual(proc.terminate(), 0)


if __name__ == "__main__":
    unittest.main()
