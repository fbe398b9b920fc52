"""bench/same_bits with the real engine (a few training steps per run): the same binary gives the same
bits, a stand-in that trains with another learning rate is reported as different (exit 1), a failing
binary is exit 3, and bad arguments exit 2. The engine binary comes from SIM_BINARY (set by ctest)."""

import os
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAME_BITS = os.path.join(ROOT, "bench", "same_bits")
SIM = os.environ.get("SIM_BINARY", os.path.join(ROOT, "build", "sim"))


def wrapper(directory, name, body):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def run(*args):
    return subprocess.run([SAME_BITS, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class SameBits(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(SIM, os.X_OK), f"no sim binary at {SIM}: build it, or set SIM_BINARY")

    def test_the_same_binary_gives_the_same_bits(self):
        done = run("--threads", "2", "--steps", "0.02", SIM, SIM)
        self.assertEqual(done.returncode, 0, done.stdout)
        self.assertEqual(done.stdout.count("same bits  "), 8, done.stdout)

    def test_a_different_training_is_found(self):
        with tempfile.TemporaryDirectory() as tmp:
            other = wrapper(tmp, "sim_other_lr", f'exec "{SIM}" "$@" --train.lr=0.00123')
            done = run("--threads", "1", "--steps", "0.02", SIM, other)
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assertEqual(done.stdout.count("DIFFERENT  "), 8, done.stdout)
        self.assertIn("params/", done.stdout)

    def test_a_failing_binary_and_bad_arguments(self):
        with tempfile.TemporaryDirectory() as tmp:
            broken = wrapper(tmp, "sim_broken", "exit 5")
            self.assertEqual(run("--threads", "1", "--steps", "0.02", SIM, broken).returncode, 3)
        self.assertEqual(run("--threads", "0", SIM, SIM).returncode, 2)
        self.assertEqual(run("--steps", "-1", SIM, SIM).returncode, 2)
        self.assertEqual(run(SIM, "/nonexistent/sim").returncode, 2)


if __name__ == "__main__":
    unittest.main()
