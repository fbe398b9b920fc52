"""bench/compare's choice of PyTorch's OpenBLAS kernels (no timing here: speed is never pass/fail).

An OpenBLAS older than the CPU falls back to a generic SSE3 core (0.3.21 on a 2023 Xeon: Prescott),
which makes PyTorch 2.5-4x slower than it can be; bench/compare then forces the core matching the
CPU's flags. These tests pin that decision, and the warning bench/compare prints when some of its
FMA probes fell far below the others (another process took a core during the run)."""

import importlib.machinery
import importlib.util
import os
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_loader = importlib.machinery.SourceFileLoader("bench_compare", os.path.join(ROOT, "bench", "compare"))
_spec = importlib.util.spec_from_loader("bench_compare", _loader)
compare = importlib.util.module_from_spec(_spec)
_loader.exec_module(compare)

AVX2 = ["sse3", "avx", "avx2", "fma"]
AVX512 = AVX2 + ["avx512f", "avx512vl", "avx512bw", "avx512dq"]
AVX512_BF16 = AVX512 + ["avx512_bf16"]


class CoreForFlags(unittest.TestCase):
    def test_widest_isa_picks_the_core(self):
        self.assertEqual(compare.openblas_core_for_flags(AVX512_BF16), "Cooperlake")
        self.assertEqual(compare.openblas_core_for_flags(AVX512), "SkylakeX")
        self.assertEqual(compare.openblas_core_for_flags(AVX2), "Haswell")

    def test_below_avx2_there_is_no_core_to_force(self):
        self.assertIsNone(compare.openblas_core_for_flags(["sse3", "avx"]))
        self.assertIsNone(compare.openblas_core_for_flags(AVX512[:2] + ["avx512f"]))


class ForcedCore(unittest.TestCase):
    def test_generic_fallback_on_a_new_cpu_is_replaced(self):
        self.assertEqual(compare.forced_openblas_core("Prescott", AVX512_BF16), "Cooperlake")
        self.assertEqual(compare.forced_openblas_core("Core2", AVX512), "SkylakeX")
        self.assertEqual(compare.forced_openblas_core("Nehalem", AVX2), "Haswell")

    def test_a_known_core_is_kept(self):
        for detected, flags in (("Cooperlake", AVX512_BF16), ("SkylakeX", AVX512_BF16),
                                ("Zen", AVX512_BF16), ("Haswell", AVX2), ("Sandybridge", ["avx"])):
            self.assertIsNone(compare.forced_openblas_core(detected, flags), detected)

    def test_unknown_inputs_are_left_alone(self):
        self.assertIsNone(compare.forced_openblas_core(None, AVX512))          # not OpenBLAS
        self.assertIsNone(compare.forced_openblas_core("Prescott", ["sse3"]))  # an old CPU indeed
        self.assertIsNone(compare.forced_openblas_core("SomeFutureCore", AVX512))




class BusyWarning(unittest.TestCase):
    def test_steady_probes_give_no_warning(self):
        self.assertIsNone(compare.busy_warning([331.0, 336.1, 340.2, 345.0, 348.9], 2))
        self.assertIsNone(compare.busy_warning([], 1))

    def test_a_probe_far_below_the_median_is_reported(self):
        w = compare.busy_warning([174.9, 331.0, 336.1, 340.2, 348.9], 2)
        self.assertIsNotNone(w)
        self.assertIn("1 of 5 FMA probes at 2 thread(s)", w)
        self.assertIn("174.9", w)


if __name__ == "__main__":
    unittest.main()
