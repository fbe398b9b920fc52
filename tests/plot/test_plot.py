"""End-to-end tests of the plotting pipeline (analysis/plot) on small real runs of the engine.

The test trains tiny runs with the engine (mqar without and with --analysis.attention, linreg
with heads 2,1 and attention, so layer 1's second head is NaN-padded), runs and collects a 2 x 2
sweep with two seeds, and writes one more copy of the mqar run whose /analysis is laid out
exactly as docs/results-format.md documents it (float32 attention, int32 tokens,
steps_to_target) plus a `dims = "layer,head"` dataset, and a copy with time series over
snapshot steps (`dims = "step,..."`, steps in /analysis/<name>/step). It then checks the command's figures
(valid PNG and PDF, --dpi), that report.md's tables equal the HDF5 values and that it holds the
exact command, the errors for foreign and missing files, and each figure function.

    cd /work/main && /usr/bin/python3 -m unittest -v tests/plot/test_plot.py

SIM_BINARY names the engine (default build/sim; ctest passes its own target). Set
PLOT_TEST_KEEP=1 to keep the temporary directory for inspection.
"""

import copy
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, SOURCE_DIR)

from analysis.plot import cli, figures, load  # noqa: E402

SIM = os.environ.get("SIM_BINARY", os.path.join(SOURCE_DIR, "build", "sim"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

MQAR_INI = """\
[task]
name = mqar
vocab = 16
length = 16
pairs = 2
queries = 2
[model]
layers = 2
heads = 2
d_model = 16
d_mlp = 0
[train]
steps = 40
eval_every = 20
batch = 16
[eval]
size = 64
"""
SWEEP = """\
[sweep]
model.layers = 1, 2
task.pairs = 2, 3
seed = 0..1
"""


def sim(*args):
    """Run the engine quietly; fail the test with its output if it fails."""
    result = subprocess.run([SIM, *args, "--quiet"] if args[0] == "train" else [SIM, *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{SIM} {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}{result.stderr}")


def replace(handle, path, data):
    """Write dataset `path` (replacing one the engine may already have written)."""
    if path in handle:
        del handle[path]
    return handle.create_dataset(path, data=data)


def synthetic_attention(n_layers, n_heads, n_tokens, heads_per_layer, seed):
    """[L, H, T, T] float32 causal attention: rows sum to 1, zeros above the diagonal, and the
    heads a layer does not have NaN-padded, as docs/results-format.md specifies."""
    rng = np.random.default_rng(seed)
    weights = np.tril(rng.random((n_layers, n_heads, n_tokens, n_tokens)) + 0.05)
    weights[..., 0] += 2.0  # a sink on the first token
    weights /= weights.sum(axis=-1, keepdims=True)
    for layer, heads in enumerate(heads_per_layer):
        weights[layer, heads:] = np.nan
    return weights.astype(np.float32)


def add_analysis(path, attention, tokens, chance):
    """Add the documented /analysis datasets and attributes to a run file, and a [L, H]
    dataset `head_score` with the attribute dims = "layer,head" (drawn as a head heatmap)."""
    with h5py.File(path, "a") as handle:
        dataset = replace(handle, "analysis/attention", attention)
        dataset.attrs["probe_examples"] = np.int64(32)
        dataset.attrs["split"] = "test"
        dataset.attrs["tokens"] = np.asarray(tokens, dtype=np.int32)
        replace(handle, "analysis/chance", np.float64(chance))
        target = replace(handle, "analysis/steps_to_target", np.float64(-1.0))
        target.attrs["metric"] = "accuracy"
        target.attrs["target"] = 0.99
        score = replace(handle, "analysis/head_score", np.arange(4, dtype=np.float64).reshape(2, 2))
        score.attrs["dims"] = "layer,head"


SERIES_STEPS = np.array([10, 20, 40], dtype=np.int64)


def add_time_series(path):
    """Add analyses as a run with parameter snapshots stores them (docs/results-format.md): a
    leading step axis (dims 'step,...') and the steps in /analysis/<name>/step (int64); layer 0
    has 2 heads of 3 (NaN-padded). Also two plain [L, H] datasets (no step axis)."""
    rng = np.random.default_rng(2)
    with h5py.File(path, "a") as handle:
        replace(handle, "analysis/head_ablation/step", SERIES_STEPS)
        delta = rng.random((3, 2, 3))
        delta[:, 0, 2] = np.nan
        for name, data, dims in (("delta_loss", delta, "step,layer,head"),
                                 ("share_entropy", rng.random((3, 2)), "step,layer"),
                                 ("base_loss", np.array([2.0, 1.5, 1.25]), "step")):
            replace(handle, f"analysis/head_ablation/{name}", data).attrs["dims"] = dims
        for name in ("first_mass", "entropy"):
            replace(handle, f"analysis/sinks/{name}", rng.random((2, 3))).attrs["dims"] = "layer,head"
        # A series outside a group: its steps in its own attribute `step`.
        series = replace(handle, "analysis/probe_accuracy", rng.random((3, 3)))
        series.attrs["dims"] = "step,stream"
        series.attrs["step"] = SERIES_STEPS


def markdown_tables(text):
    """Every markdown table of `text` as (headers, rows of cells)."""
    tables, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            tables.append((block[0], block[2:]))  # block[1] is the |---| line
            block = []
    return tables


def check_png(test, path):
    with open(path, "rb") as handle:
        head = handle.read(8)
    test.assertEqual(head, PNG_MAGIC, f"{path} is not a PNG")
    test.assertGreater(os.path.getsize(path), 1000, path)
    image = matplotlib.image.imread(path)
    test.assertGreaterEqual(image.shape[0], 100, path)
    test.assertGreaterEqual(image.shape[1], 100, path)


def check_pdf(test, path):
    with open(path, "rb") as handle:
        content = handle.read()
    test.assertTrue(content.startswith(b"%PDF"), f"{path} is not a PDF")
    test.assertIn(b"%%EOF", content[-64:], f"{path} is truncated")


def close(value, expected):
    """Report numbers have 6 significant digits."""
    return math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-12)


class PlotPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(SIM, os.X_OK):  # a failure, not a skip: ctest would report a pass
            raise RuntimeError(f"engine not found at {SIM}: build it or set SIM_BINARY")
        cls.tmp = tempfile.mkdtemp(prefix="plot_test_")
        tmp = cls.tmp
        base = os.path.join(tmp, "mqar.ini")
        with open(base, "w") as handle:
            handle.write(MQAR_INI)
        cls.mqar = os.path.join(tmp, "mqar.h5")
        sim("train", "--config", base, "--out", cls.mqar)
        # The engine's attention maps: mqar has tokens, linreg (vector inputs) none.
        attention = ("--analysis.attention=true", "--analysis.probe=32")
        cls.mqar_att = os.path.join(tmp, "mqar_att.h5")
        sim("train", "--config", base, "--out", cls.mqar_att, *attention)
        cls.linreg_att = os.path.join(tmp, "linreg_att.h5")
        sim("train", "--config", os.path.join(SOURCE_DIR, "experiments/quickstart/linreg.ini"),
            "--out", cls.linreg_att, "--task.points=5", "--model.layers=2", "--model.heads=2,1",
            "--model.d_model=16", "--train.steps=40", "--train.eval_every=20",
            "--train.batch=16", "--eval.size=64", *attention)
        # /analysis exactly as results-format.md documents it (types included).
        cls.mqar_doc = os.path.join(tmp, "mqar_doc.h5")
        shutil.copy(cls.mqar, cls.mqar_doc)
        cls.tokens = np.random.default_rng(1).integers(0, 16, 16)
        add_analysis(cls.mqar_doc, synthetic_attention(2, 2, 16, [2, 2], 0), cls.tokens, 0.125)
        cls.mqar_series = os.path.join(tmp, "mqar_series.h5")
        shutil.copy(cls.mqar, cls.mqar_series)
        add_time_series(cls.mqar_series)

        cls.sweep_dir = os.path.join(tmp, "sweep")
        sweep_ini = os.path.join(tmp, "sweep.ini")
        with open(sweep_ini, "w") as handle:
            handle.write(MQAR_INI + SWEEP)
        sim("sweep", "--config", sweep_ini, "--out-dir", cls.sweep_dir, "--all", "--quiet")
        cls.summary = os.path.join(cls.sweep_dir, "summary.h5")
        sim("collect", cls.sweep_dir, "--out", cls.summary)
        cls.sweep_runs = sorted(os.path.join(cls.sweep_dir, name)
                                for name in os.listdir(cls.sweep_dir) if name.startswith("run-"))

        cls.foreign = os.path.join(tmp, "foreign.h5")
        with h5py.File(cls.foreign, "w") as handle:
            handle["data"] = np.arange(3)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("PLOT_TEST_KEEP"):
            print(f"kept {cls.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def plot(self, *args):
        return subprocess.run([sys.executable, "-m", "analysis.plot", *args], cwd=SOURCE_DIR,
                              capture_output=True, text=True)

    def plot_ok(self, out, *args):
        result = self.plot(*args, "--out", out)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        with open(os.path.join(out, "report.md"), encoding="utf-8") as handle:
            return handle.read()

    def check_figure_files(self, out, formats):
        names = os.listdir(out)
        for name in names:
            path = os.path.join(out, name)
            if name.endswith(".png"):
                check_png(self, path)
            elif name.endswith(".pdf"):
                check_pdf(self, path)
        stems = {os.path.splitext(n)[0] for n in names if not n.endswith(".md")}
        self.assertTrue(stems, f"no figure in {out}")
        for stem in stems:
            for fmt in formats:
                self.assertIn(f"{stem}.{fmt}", names)
        return stems

    # ---- the command on run files ----

    def test_run_files_give_curves_attention_and_report(self):
        out = os.path.join(self.tmp, "out_runs")
        inputs = [self.mqar, self.mqar_att, self.linreg_att, self.mqar_doc, *self.sweep_runs]
        options = ["--format", "png,pdf", "--dpi", "80", "--title", "Run files"]
        report = self.plot_ok(out, *inputs, *options)
        stems = self.check_figure_files(out, ["png", "pdf"])
        for stem in ("curves_loss", "curves_accuracy", "curves_lr", "curves_mse_last_ratio",
                     "attention_mqar_att", "sink_mqar_att", "attention_linreg_att",
                     "sink_linreg_att", "attention_mqar_doc", "sink_mqar_doc",
                     "head_score_mqar_doc"):
            self.assertIn(stem, stems)
        self.assertNotIn("attention_mqar", stems)  # the run without /analysis/attention has none

        self.assertTrue(report.startswith("# Run files\n"))
        command = shlex.join([sys.executable, "-m", "analysis.plot", *inputs, *options,
                              "--out", out])
        self.assertIn(f"```sh\ncd {SOURCE_DIR}\n{command}\n```", report)  # the exact command
        self.assertIn("```ini\n[task]\nname = mqar\n", report)  # each run's config
        self.assertEqual(report.count("<details>"), len(inputs))
        for stem in stems:  # every figure embedded with a relative link that resolves
            self.assertIn(f"]({stem}.png)", report)
            self.assertIn(f"]({stem}.pdf)", report)

        (headers, rows), = markdown_tables(report)
        self.assertEqual(headers[:3], ["run", "status", "steps_done"])
        self.assertEqual(len(rows), len(inputs))
        checked = 0
        for row, path in zip(rows, inputs):
            cells = dict(zip(headers, row))
            self.assertEqual(cells["run"], os.path.basename(path))
            with h5py.File(path, "r") as handle:
                self.assertEqual(cells["status"], handle.attrs["status"])
                self.assertEqual(int(cells["steps_done"]), handle.attrs["steps_done"])
                for split in handle["final"]:
                    for metric in handle["final"][split]:
                        expected = float(handle["final"][split][metric][()])
                        value = float(cells[f"{split}_{metric}"])
                        self.assertTrue(close(value, expected),
                                        f"{path} {split}/{metric}: report {value}, "
                                        f"HDF5 {expected}")
                        checked += 1
                if "analysis/chance" in handle:
                    self.assertTrue(close(float(cells["chance"]), handle["analysis/chance"][()]))
        self.assertGreaterEqual(checked, 3 * len(inputs))

    def test_time_series_and_head_datasets_are_drawn(self):
        """Each [layer, head] dataset is a heatmap of its own; a time series over snapshot steps is
        drawn as lines (one panel per layer, one line per head that the layer has) or, one vector
        per step, as a heatmap over step; the report has a scalar series at its last step."""
        run = load.load_run(self.mqar_series)
        drawn = {stem: figure for stem, _, figure in cli.run_figures([run])}
        expected = {"head_ablation/delta_loss", "head_ablation/share_entropy",
                    "head_ablation/base_loss", "sinks/first_mass", "sinks/entropy", "probe_accuracy"}
        self.assertEqual({s for s in drawn if not s.startswith("curves_")},
                         {f"{name}_mqar_series" for name in expected})

        def panels(figure):
            return [ax for ax in figure.axes if ax.get_label() != "<colorbar>" and ax.axison]

        values = run["analysis"]
        figure = drawn["head_ablation/delta_loss_mqar_series"]  # [S, L, H]: panels per layer
        self.assert_labelled(figure, "series_lines")
        layers = panels(figure)
        self.assertEqual(len(layers), 2)
        self.assertEqual([len(ax.get_lines()) for ax in layers], [2, 3])  # layer 0 lacks head 2
        for layer, ax in enumerate(layers):
            self.assertEqual(ax.get_title(), f"layer {layer}")
            for head, line in enumerate(ax.get_lines()):
                np.testing.assert_array_equal(line.get_xdata(), SERIES_STEPS)
                np.testing.assert_array_equal(line.get_ydata(),
                                              values["head_ablation/delta_loss"][:, layer, head])
        self.assertIsNone(layers[0].get_legend())  # one legend, where every head is drawn
        self.assertEqual([t.get_text() for t in layers[1].get_legend().get_texts()],
                         ["head 0", "head 1", "head 2"])
        self.assertIn("step", layers[1].get_xlabel())

        figure = drawn["head_ablation/base_loss_mqar_series"]  # [S]: one line
        (ax,) = panels(figure)
        (line,) = ax.get_lines()
        np.testing.assert_array_equal(line.get_ydata(), [2.0, 1.5, 1.25])

        figure = drawn["head_ablation/share_entropy_mqar_series"]  # [S, L]: a heatmap over step
        self.assert_labelled(figure, "step_heatmap")
        (ax,) = [ax for ax in figure.axes if ax.images and ax.get_label() != "<colorbar>"]
        np.testing.assert_array_equal(ax.images[0].get_array(),
                                      values["head_ablation/share_entropy"].T)
        self.assertEqual([t.get_text() for t in ax.get_xticklabels()], ["10", "20", "40"])
        self.assertEqual(ax.get_ylabel(), "layer")
        (ax,) = [ax for ax in drawn["probe_accuracy_mqar_series"].axes
                 if ax.images and ax.get_label() != "<colorbar>"]
        self.assertEqual([t.get_text() for t in ax.get_xticklabels()], ["10", "20", "40"])
        self.assertEqual(ax.get_ylabel(), "stream")

        for name in ("sinks/first_mass", "sinks/entropy"):  # [L, H]: one heatmap each
            figure = drawn[f"{name}_mqar_series"]
            (ax,) = [ax for ax in figure.axes if ax.images and ax.get_label() != "<colorbar>"]
            np.testing.assert_array_equal(ax.images[0].get_array(), values[name])
            self.assertEqual((ax.get_xlabel(), ax.get_ylabel()), ("head", "layer"))

        # Without its step axis a series is drawn against snapshot indices.
        figure = figures.series_lines(values["head_ablation/base_loss"], label="loss")
        np.testing.assert_array_equal(figure.axes[0].get_lines()[0].get_xdata(), [0, 1, 2])
        with self.assertRaisesRegex(ValueError, "2 steps for 3 entries"):
            figures.step_heatmap(values["head_ablation/share_entropy"], [1, 2])

        out = os.path.join(self.tmp, "out_series")
        report = self.plot_ok(out, self.mqar_series, "--format", "png", "--dpi", "60")
        stems = self.check_figure_files(out, ["png"])
        self.assertIn("head_ablation_delta_loss_mqar_series", stems)
        (headers, rows), = markdown_tables(report)
        self.assertEqual(rows[0][headers.index("head_ablation/base_loss")], "1.25")

    # ---- the command on a summary ----

    def test_summary_gives_heatmap_and_aggregate_table(self):
        out = os.path.join(self.tmp, "out_summary")
        report = self.plot_ok(out, self.summary, "--format", "png", "--dpi", "80")
        stems = self.check_figure_files(out, ["png"])
        self.assertEqual(stems, {"summary_heatmap_test_accuracy"})  # two swept options
        self.assertFalse(any(name.endswith(".pdf") for name in os.listdir(out)))

        (headers, rows), = markdown_tables(report)
        with h5py.File(self.summary, "r") as handle:
            aggregate = handle["aggregate"]
            self.assertEqual(headers[:3], ["model.layers", "task.pairs", "n_runs"])
            for column in ("test_accuracy_mean", "test_accuracy_std", "test_accuracy_ci95_low",
                           "test_accuracy_ci95_high", "test_loss_mean", "train_loss_mean"):
                self.assertIn(column, headers)
            self.assertEqual(len(rows), len(aggregate["n_runs"]))
            for index, row in enumerate(rows):
                for header, cell in zip(headers, row):
                    expected = float(aggregate[header][index])
                    self.assertTrue(close(float(cell), expected),
                                    f"row {index} {header}: report {cell}, HDF5 {expected}")
        self.assertIn("8 runs (8 complete)", report)
        self.assertIn("Aggregated over `train.seed`", report)
        self.assertIn("```ini\n[task]\n", report)  # a run's config, found through `file`

    def test_summary_lines_with_hue_and_metric(self):
        out = os.path.join(self.tmp, "out_lines")
        self.plot_ok(out, self.summary, "--x", "model.layers", "--hue", "task.pairs",
                     "--metric", "test_loss", "--format", "pdf", "--band", "minmax")
        self.assertEqual(sorted(os.listdir(out)), ["report.md", "summary_lines_test_loss.pdf"])
        check_pdf(self, os.path.join(out, "summary_lines_test_loss.pdf"))

    def test_dpi_sets_the_resolution(self):
        widths = []
        for dpi in ("50", "100"):
            out = os.path.join(self.tmp, f"out_dpi{dpi}")
            self.plot_ok(out, self.summary, "--format", "png", "--dpi", dpi)
            widths.append(matplotlib.image.imread(
                os.path.join(out, "summary_heatmap_test_accuracy.png")).shape[1])
        self.assertAlmostEqual(widths[1] / widths[0], 2.0, delta=0.05)

    # ---- errors ----

    def check_error(self, result, *fragments):
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertTrue(result.stderr.startswith("error: "), result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)

    def test_foreign_hdf5_file_is_refused(self):
        out = os.path.join(self.tmp, "out_foreign")
        result = self.plot(self.mqar, self.foreign, "--out", out)
        self.check_error(result, self.foreign, "not an attnsim result file", "'format'")
        self.assertFalse(os.path.exists(out))  # nothing written before the inputs are read

    def test_missing_file_is_refused(self):
        missing = os.path.join(self.tmp, "no_such_run.h5")
        result = self.plot(missing, "--out", os.path.join(self.tmp, "out_missing"))
        self.check_error(result, missing, "no such file")

    def test_missing_dataset_is_named(self):
        broken = os.path.join(self.tmp, "no_step.h5")
        shutil.copy(self.mqar, broken)
        with h5py.File(broken, "a") as handle:
            del handle["curves/step"]
        result = self.plot(broken, "--out", os.path.join(self.tmp, "out_broken"))
        self.check_error(result, broken, "'/curves/step'")

    def test_bad_options_are_refused(self):
        out = os.path.join(self.tmp, "out_bad")
        self.check_error(self.plot(self.summary, "--metric", "nope", "--out", out),
                         "--metric nope", "test_accuracy")
        self.check_error(self.plot(self.summary, "--x", "model.d_model", "--out", out),
                         "not a swept option", "model.layers")
        result = self.plot(self.mqar, "--format", "gif", "--out", out)
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown format 'gif'", result.stderr)
        self.check_error(self.plot(self.mqar, "--dpi", "0", "--out", out), "--dpi")
        self.check_error(self.plot(self.mqar, "--out", self.foreign), self.foreign,
                         "cannot create")
        self.assertFalse(os.path.exists(out))

    def test_help_documents_the_options(self):
        result = self.plot("--help")
        self.assertEqual(result.returncode, 0)
        for flag in ("--out", "--format", "--dpi", "--title", "--metric", "--x", "--y", "--hue"):
            self.assertIn(flag, result.stdout)

    # ---- loading helpers ----

    def test_load_run(self):
        run = load.load_run(self.mqar_att)  # the engine's file, /analysis included
        with h5py.File(self.mqar_att, "r") as handle:
            np.testing.assert_array_equal(run["curves"]["step"], handle["curves/step"][()])
            self.assertEqual(run["final"]["test"]["accuracy"], handle["final/test/accuracy"][()])
            np.testing.assert_array_equal(run["params"]["blocks.0.attn.wq"],
                                          handle["params/blocks.0.attn.wq"][()])
            np.testing.assert_array_equal(run["analysis"]["attention"],
                                          handle["analysis/attention"][()])
            np.testing.assert_array_equal(run["analysis_attrs"]["attention"]["tokens"],
                                          handle["analysis/attention"].attrs["tokens"])
            self.assertEqual(run["attrs"]["status"], handle.attrs["status"])
        self.assertEqual(run["attrs"]["format"], "attnsim.run")
        self.assertEqual(run["config"]["model.layers"], "2")
        self.assertEqual(run["analysis"]["attention"].shape, (2, 2, 16, 16))
        self.assertEqual(sorted(run["params"]), sorted(dict(run["params"])))

        documented = load.load_run(self.mqar_doc)  # the layout results-format.md documents
        np.testing.assert_array_equal(documented["analysis_attrs"]["attention"]["tokens"],
                                      self.tokens)
        self.assertEqual(documented["analysis"]["chance"], 0.125)
        self.assertEqual(documented["analysis_attrs"]["steps_to_target"]["metric"], "accuracy")
        with self.assertRaisesRegex(load.InputError, "foreign.h5.*'format' is missing"):
            load.load_run(self.foreign)
        with self.assertRaisesRegex(load.InputError, "expected 'attnsim.run'"):
            load.load_run(self.summary)

    def test_load_summary(self):
        summary = load.load_summary(self.summary)
        self.assertEqual(summary["swept"], ["model.layers", "task.pairs", "train.seed"])
        self.assertEqual(summary["group_keys"], ["model.layers", "task.pairs"])
        self.assertEqual(summary["seed_keys"], ["train.seed"])
        self.assertEqual(summary["axes"], [("model.layers",), ("task.pairs",)])
        self.assertEqual(summary["metrics"][0], "test_accuracy")
        self.assertEqual(list(summary["runs"]["status"]), ["complete"] * 8)  # str, not bytes
        self.assertTrue(all(isinstance(name, str) for name in summary["runs"]["file"]))
        self.assertEqual(len(summary["aggregate"]), 4)

    def test_curves_hold_early_stopped_runs(self):
        """A replicate that stopped early at its target counts with its last value afterwards;
        a diverged one does not count after its last evaluation."""
        first, second = (load.load_run(path) for path in self.sweep_runs[:2])  # seeds 0 and 1
        self.assertEqual(first["config"]["model.layers"], second["config"]["model.layers"])
        self.assertEqual(first["config"]["task.pairs"], second["config"]["task.pairs"])
        stopped = copy.deepcopy(first)
        stopped["curves"] = {name: values[:1] for name, values in first["curves"].items()}
        for status, expected in (("complete", (stopped["curves"]["test_accuracy"][0]
                                               + second["curves"]["test_accuracy"][-1]) / 2),
                                 ("diverged", second["curves"]["test_accuracy"][-1])):
            stopped["attrs"] = dict(first["attrs"], status=status)
            figure = figures.curves([stopped, second], ["test_accuracy"])
            (line,) = figure.axes[0].get_lines()
            self.assertAlmostEqual(line.get_ydata()[-1], expected, msg=status)

    def test_zipped_options_share_an_axis(self):
        import pandas as pd
        frame = pd.DataFrame({"model.d_model": [16.0, 16, 32, 32], "model.heads": [2.0, 2, 4, 4],
                              "model.pos": ["learned", "none"] * 2, "task.vocab": [16.0] * 4})
        self.assertEqual(load.swept_axes(frame, list(frame.columns)),
                         [("model.d_model", "model.heads"), ("model.pos",)])

    # ---- figure functions ----

    def assert_labelled(self, figure, name):
        self.assertIsInstance(figure, Figure, name)
        plotted = [ax for ax in figure.axes if ax.lines or ax.images or ax.collections]
        self.assertTrue(plotted, f"{name}: nothing drawn")
        main = [ax for ax in plotted if ax.get_label() != "<colorbar>"]
        self.assertTrue(any(ax.get_xlabel() for ax in main), f"{name}: no x label")
        self.assertTrue(any(ax.get_ylabel() for ax in main), f"{name}: no y label")
        for ax in main:
            if ax.get_xlabel():
                self.assertTrue(ax.get_ylabel() or ax.images, f"{name}: x label without y")

    def test_figure_functions(self):
        runs = [load.load_run(path) for path in self.sweep_runs]
        summary = load.load_summary(self.summary)
        mqar = load.load_run(self.mqar_att)
        attention = mqar["analysis"]["attention"]

        figure = figures.curves(runs, ["train_loss", "test_loss"])
        self.assert_labelled(figure, "curves")
        self.assertIn("step", figure.axes[0].get_xlabel())
        self.assertIn("nats", figure.axes[0].get_ylabel())  # classification loss, with unit
        legend = figure.axes[0].get_legend()
        self.assertIn("seeds", legend.get_title().get_text())  # 2 seeds -> a band
        self.assertEqual(len(figure.axes[0].collections), 8)  # 4 configs x 2 curves

        figure = figures.heatmap(summary, "test_accuracy", "task.pairs", "model.layers")
        self.assert_labelled(figure, "heatmap")
        texts = [t.get_text() for t in figure.axes[0].texts]
        mean = summary["aggregate"]["test_accuracy_mean"].iloc[0]
        self.assertTrue(any(t.startswith(f"{mean:.3g}") for t in texts), texts)
        norm = figure.axes[0].images[0].norm
        self.assertEqual((norm.vmin, norm.vmax), (0.0, 1.0))  # accuracy: a fixed colour scale

        figure = figures.metric_lines(summary, "test_accuracy", "model.layers", hue="task.pairs")
        self.assert_labelled(figure, "metric_lines")
        self.assertEqual(figure.axes[0].get_legend().get_title().get_text(), "task.pairs")
        self.assertEqual(len(figure.axes[0].lines), 2)
        self.assertEqual(len(figure.axes[0].collections), 2)  # a band over the 2 seeds per line
        self.assertIn("95% CI", figure.axes[0].get_title())
        figure = figures.metric_lines(summary, "test_accuracy", "model.layers", hue="task.pairs",
                                      where={"model.layers": 1}, band="minmax")
        self.assertEqual(len(figure.axes[0].containers), 2)  # lone points: error bars instead

        figure = figures.head_heatmap(figures.attention_mass_on(attention), label="mass")
        self.assert_labelled(figure, "head_heatmap")
        self.assertEqual((figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()),
                         ("head", "layer"))

        figure = figures.attention_maps(attention, tokens=mqar["analysis_attrs"]["attention"]
                                        ["tokens"])
        self.assert_labelled(figure, "attention_maps")
        panels = [ax for ax in figure.axes if ax.images and ax.get_label() != "<colorbar>"]
        self.assertEqual(len(panels), 4)
        self.assertEqual(panels[2].get_xlabel(), "key token (first probe example)")
        self.assertEqual(panels[0].get_ylabel(), "query token (first probe example)")
        labels = [t.get_text() for t in panels[2].get_xticklabels()]
        tokens = mqar["analysis_attrs"]["attention"]["tokens"]
        self.assertEqual(labels, [str(int(t)) for t in tokens])  # T = 16: every token labelled
        stems = [stem for stem, _, _ in cli.run_figures([mqar])]
        self.assertEqual(stems[-2:], ["attention_mqar_att", "sink_mqar_att"])
        figure = dict((stem, fig) for stem, _, fig in cli.run_figures([mqar]))["attention_mqar_att"]
        self.assertIn("mean over 32 test examples", " ".join(t.get_text() for t in figure.texts))

        padded = load.load_run(self.linreg_att)["analysis"]["attention"]
        figure = figures.attention_maps(padded)  # no tokens: positions; layer 1 has one head
        self.assertEqual(len([ax for ax in figure.axes if ax.images]), 3)
        self.assertTrue(np.isnan(figures.attention_mass_on(padded)[1, 1]))
        # Role labels (the attribute `positions`, comma-separated) win over one prompt's tokens.
        roles = ",".join(f"p{t}" for t in range(padded.shape[2]))
        figure = figures.attention_maps(padded, tokens=np.arange(padded.shape[2]), positions=roles)
        panel = [ax for ax in figure.axes if ax.images][0]
        self.assertEqual(panel.get_ylabel(), "query position")
        self.assertEqual([t.get_text() for t in panel.get_yticklabels()][:2], ["p0", "p1"])
        with self.assertRaisesRegex(ValueError, "position labels for T"):
            figures.attention_maps(padded, positions="a,b")

        with self.assertRaisesRegex(ValueError, "same swept axis"):
            figures.heatmap(summary, "test_accuracy", "model.layers", "model.layers")
        with self.assertRaisesRegex(ValueError, "also varies with task.pairs"):
            figures.metric_lines(summary, "test_accuracy", "model.layers", hue=[])


if __name__ == "__main__":
    unittest.main()
