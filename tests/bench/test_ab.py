"""bench/ab's bookkeeping, with stand-in binaries that print fixed JSON (no timing here)."""

import importlib.machinery
import importlib.util
import os
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AB = os.path.join(ROOT, "bench", "ab")
_loader = importlib.machinery.SourceFileLoader("bench_ab", AB)
_spec = importlib.util.spec_from_loader("bench_ab", _loader)
ab = importlib.util.module_from_spec(_spec)
_loader.exec_module(ab)


def fake_sim(directory, name, steps_per_config):
    """An executable answering `bench ... --json` with one line per configuration."""
    path = os.path.join(directory, name)
    lines = "".join(
        f'echo \'{{"config": "{c}", "steps_per_second": {v}}}\'\n' for c, v in steps_per_config.items())
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + lines)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


class Bookkeeping(unittest.TestCase):
    def test_order_alternates(self):
        self.assertEqual(ab.order_for_round(["a", "b", "c"], 0), ["a", "b", "c"])
        self.assertEqual(ab.order_for_round(["a", "b", "c"], 1), ["c", "b", "a"])

    def test_ratios_are_paired_by_round(self):
        samples = {"a": {"mid": [10.0, 20.0, 30.0]}, "b": {"mid": [11.0, 18.0, 36.0]}}
        (config, cells), = ab.summarize(samples, ["a", "b"])
        self.assertEqual(config, "mid")
        self.assertEqual(cells[0], ("a", 20.0, None, None, None))
        b, median, ratio, lo, hi = cells[1]
        self.assertEqual((b, median), ("b", 18.0))
        self.assertAlmostEqual(ratio, 1.1)   # per round 1.1, 0.9, 1.2
        self.assertAlmostEqual(lo, 0.9)
        self.assertAlmostEqual(hi, 1.2)


class EndToEnd(unittest.TestCase):
    def test_two_fake_binaries(self):
        with tempfile.TemporaryDirectory() as d:
            slow = fake_sim(d, "slow", {"small": 40.0, "mid": 2.0})
            fast = fake_sim(d, "fast", {"small": 50.0, "mid": 3.0})
            done = subprocess.run([AB, "--rounds", "3", "--config", "small,mid", slow, fast],
                                  capture_output=True, text=True)
            self.assertEqual(done.returncode, 0, done.stderr)
            out = done.stdout
            self.assertIn("small", out)
            self.assertIn("1.250x (1.25-1.25)", out)
            self.assertIn("1.500x (1.50-1.50)", out)

    def test_bad_arguments_exit_2(self):
        with tempfile.TemporaryDirectory() as d:
            one = fake_sim(d, "one", {"small": 1.0})
            missing = os.path.join(d, "missing")
            cases = [([one], "binaries: need at least two"),
                     ([one, missing], f"binaries: {missing!r} is not an executable file"),
                     (["--rounds", "0", one, one], "--rounds: expected at least 1, got 0")]
            for argv, message in cases:
                done = subprocess.run([AB] + argv, capture_output=True, text=True)
                self.assertEqual(done.returncode, 2, argv)
                self.assertIn("bench/ab: error: " + message, done.stderr)

    def test_a_failing_binary_exits_1(self):
        with tempfile.TemporaryDirectory() as d:
            ok = fake_sim(d, "ok", {"small": 1.0})
            bad = os.path.join(d, "bad")
            with open(bad, "w") as f:
                f.write("#!/bin/sh\necho broken >&2\nexit 3\n")
            os.chmod(bad, 0o755)
            done = subprocess.run([AB, "--rounds", "1", ok, bad], capture_output=True, text=True)
            self.assertEqual(done.returncode, 1)
            self.assertIn("broken", done.stderr)


if __name__ == "__main__":
    unittest.main()
