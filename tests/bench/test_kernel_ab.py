"""bench/kernel_ab (two versions of a product kernel timed in one process): a version against itself
gives the same bits, a version whose depth blocking sums in another order is reported as giving
different bits, and bad arguments, unknown revisions and sources that do not build are refused
with exit 2 or 3. Timing is not checked (a shared machine); only what the tool reports."""

import os
import re
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL_AB = os.path.join(ROOT, "bench", "kernel_ab")
SGEMM = os.path.join(ROOT, "sim", "kernels", "sgemm_avx512.cc")
SMALL = os.path.join(ROOT, "sim", "kernels", "small_gemm.cc")
FAST = ["--rounds", "2", "--ms", "0.5"]


def has_avx512():
    with open("/proc/cpuinfo") as f:
        return "avx512f" in f.read()


def run(*args):
    return subprocess.run([KERNEL_AB, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def lines(output):
    return [l for l in output.splitlines() if re.match(r"^(sgemm|small) \d+ x \d+ x \d+ ", l)]


class KernelAb(unittest.TestCase):
    def test_a_kernel_against_itself_gives_the_same_bits(self):
        done = run(*FAST, SGEMM, SGEMM, "64,20,300,NN", "33,17,40,TT")
        if not has_avx512():
            self.assertEqual(done.returncode, 3, done.stdout)
            self.assertIn("no AVX-512", done.stdout)
            return
        self.assertEqual(done.returncode, 0, done.stdout)
        self.assertEqual(len(lines(done.stdout)), 2, done.stdout)
        for line in lines(done.stdout):
            self.assertTrue(line.endswith(", same bits"), line)
            self.assertRegex(line, r"A [0-9.]+ GFLOP/s, B [0-9.]+ GFLOP/s, B/A [0-9.]+x \(quartiles [0-9.]+-[0-9.]+\)")

    def test_the_small_kernel_against_itself(self):
        done = run("--kernel", "small", *FAST, SMALL, SMALL, "70,13,50,N", "16,32,16,T")
        if not has_avx512():
            self.assertEqual(done.returncode, 3, done.stdout)
            return
        self.assertEqual(done.returncode, 0, done.stdout)
        self.assertEqual([l.endswith(", same bits") for l in lines(done.stdout)], [True, True], done.stdout)

    def test_another_summation_order_is_found(self):
        with open(SGEMM) as f:
            source = f.read()
        blocking = "constexpr long kKc = 256, kMc = 192, kNc = 3072;"
        self.assertIn(blocking, source, "update this test: the SGEMM's blocking constants moved")
        with tempfile.TemporaryDirectory() as tmp:
            other = os.path.join(tmp, "sgemm_avx512.cc")  # its header: the repository's (none next to it)
            with open(other, "w") as f:  # depth blocks of 128: the same packing sizes, another order of sums
                f.write(source.replace(blocking, "constexpr long kKc = 128, kMc = 384, kNc = 6144;"))
            done = run(*FAST, SGEMM, other, "64,20,100,NN", "64,20,300,NN")
        if not has_avx512():
            self.assertEqual(done.returncode, 3, done.stdout)
            return
        self.assertEqual(done.returncode, 0, done.stdout)
        found = lines(done.stdout)
        self.assertEqual(len(found), 2, done.stdout)
        self.assertTrue(found[0].endswith(", same bits"), found[0])  # depth 100 < 128: one block either way
        self.assertTrue(found[1].endswith(", DIFFERENT bits"), found[1])

    def test_bad_arguments_exit_2(self):
        for args in (["HEAD", "HEAD", "64,64,64"], ["HEAD", "HEAD", "64,64,x,NN"], ["HEAD", "HEAD", "64,64,64,NX"],
                     ["--kernel", "small", "HEAD", "HEAD", "64,64,64,NN"], ["--rounds", "1", "HEAD", "HEAD", "8,8,8,NN"],
                     ["HEAD", "HEAD", "0,8,8,NN"], ["HEAD", "HEAD"]):
            done = run(*args)
            self.assertEqual(done.returncode, 2, f"{args}: {done.stdout}")

    def test_unknown_revision_and_broken_source_exit_3(self):
        done = run(*FAST, "no-such-revision-xyz", SGEMM, "8,8,8,NN")
        self.assertEqual(done.returncode, 3, done.stdout)
        self.assertIn("neither a file nor a git revision", done.stdout)
        with tempfile.TemporaryDirectory() as tmp:
            broken = os.path.join(tmp, "sgemm_avx512.cc")
            with open(SGEMM) as f:
                source = f.read()
            with open(broken, "w") as f:
                f.write(source.replace("namespace sim {", "namespace sim {\nthis does not compile;", 1))
            done = run(*FAST, SGEMM, broken, "8,8,8,NN")
        self.assertEqual(done.returncode, 3, done.stdout)
        self.assertIn("build failed", done.stdout)


if __name__ == "__main__":
    unittest.main()
