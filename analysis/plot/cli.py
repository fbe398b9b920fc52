"""Command line: `python3 -m analysis.plot INPUTS... --out DIR`, figures plus DIR/report.md.

Each input is a run file or a sweep summary, told apart by its root attribute `format`. What
is drawn by default:

- run files: the curves of all runs, one figure per metric family (loss, accuracy, ..., lr);
  per run with /analysis/attention its attention maps and the attention mass on the first
  token per layer and head; every 2-D /analysis dataset whose attribute `dims` is
  'layer,head' as a layer x head heatmap; every time series over snapshot steps (`dims`
  'step', 'step,layer,head': lines over the steps in /analysis/<name>/step, one panel per
  layer and one line per head; 'step,<axis>': a heatmap over step);
- a summary: the main metric (--metric, else test_accuracy, else the first) as a heatmap when
  exactly two options other than the seed are swept, else as lines against the first swept
  option with one line per value of the others; --x/--y pick a heatmap's axes, --x/--hue
  the lines'.

Exit status: 0 on success, 2 for a bad input or option (one line `error: ...` on stderr).
"""

import argparse
import itertools
import os
import re
import shlex
import sys

import numpy as np

from . import figures, report, style
from .load import InputError, file_format, load_run, load_summary, RUN_FORMAT

FORMATS = ("png", "pdf", "svg")


class UsageError(Exception):
    """A command-line option does not fit the inputs (unknown metric, option not swept, ...)."""


def _formats(text):
    chosen = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format '{','.join(bad) or text}' (choose from {', '.join(FORMATS)})")
    return list(dict.fromkeys(chosen))


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python3 -m analysis.plot",
        description="Figures and a markdown report (DIR/report.md) from attnsim run files "
                    "(format attnsim.run, written by `sim train` and `sim sweep`) and sweep "
                    "summaries (format attnsim.summary, written by `sim collect`).",
        epilog="Defaults: for run files, the curves of all runs (one figure per metric family) "
               "and, where /analysis/attention exists, attention maps and the attention mass on "
               "the first token per layer and head. For a summary, the main metric as a heatmap "
               "when exactly two options besides the seed are swept, else as lines against the "
               "first swept option. Give a summary and its run files together to get both. "
               "Exit status: 0 ok, 2 bad input or option. See docs/plotting.md.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="run files and/or summary files (HDF5)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output directory (created if needed) for figures and report.md")
    parser.add_argument("--format", type=_formats, default=["png", "pdf"], metavar="LIST",
                        help="comma-separated figure formats: png, pdf, svg (default: png,pdf)")
    parser.add_argument("--dpi", type=int, default=150, metavar="N",
                        help="resolution of raster figures (default: 150)")
    parser.add_argument("--title", default="attnsim results", metavar="T",
                        help="heading of report.md (default: 'attnsim results')")
    parser.add_argument("--metric", metavar="NAME",
                        help="metric to plot: a summary metric such as test_accuracy (default: "
                             "test_accuracy if present, else the first), and for run files the "
                             "metric family of that name or curve (default: every family)")
    parser.add_argument("--x", metavar="OPTION",
                        help="swept option on the x axis of summary figures (default: the first "
                             "swept option, or the second for a heatmap); alone it keeps the "
                             "default kind. --x, --y and --hue apply to every summary given")
    axes = parser.add_mutually_exclusive_group()
    axes.add_argument("--y", metavar="OPTION",
                      help="swept option on the y axis: draws a heatmap over --x and --y")
    axes.add_argument("--hue", metavar="OPTION",
                      help="swept option with one line per value: draws lines against --x")
    parser.add_argument("--band", choices=sorted(figures.BANDS), default="ci95",
                        help="band of summary line plots over seeds: the summary's 95%% "
                             "bootstrap CI of the mean (default), min-max, ±std, or none")
    return parser


def _stem(text, used):
    """A file-name-safe, unique figure stem."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "figure"
    candidate, counter = stem, 2
    while candidate in used:
        candidate, counter = f"{stem}_{counter}", counter + 1
    used.add(candidate)
    return candidate


# ---- what to draw -------------------------------------------------------------------------


def run_figures(runs, metric=None):
    """Yield (stem, caption, figure) for run files: curves per family, then per-run analyses."""
    families = figures.curve_families(runs)
    if metric is not None:
        if metric in families:
            families = {metric: families[metric]}
        else:
            owner = [family for family, names in families.items() if metric in names]
            if not owner:
                curves = sorted({n for names in families.values() for n in names})
                raise UsageError(f"--metric {metric}: no such curve or metric family in the run "
                                 f"files (curves: {', '.join(curves)})")
            families = {owner[0]: families[owner[0]]}
    chances = {run["analysis"]["chance"] for run in runs if "chance" in run["analysis"]}
    chance = chances.pop() if len(chances) == 1 else None
    for family, names in families.items():
        figure = figures.curves(runs, names, chance=chance if family == "accuracy" else None)
        yield f"curves_{family}", f"{family} during training", figure

    names = report.display_names(runs)
    for name, run in zip(names, runs):
        label = os.path.splitext(name)[0]
        attention = run["analysis"].get("attention")
        if attention is not None and getattr(attention, "ndim", 0) == 4:
            attrs = run["analysis_attrs"].get("attention", {})
            tokens = attrs.get("tokens")
            split = attrs.get("split", "?")
            examples = style.format_value(attrs.get("probe_examples", "?"))
            title = f"{label}: attention, mean over {examples} {split} examples"
            yield (f"attention_{label}", f"attention maps of {name}",
                   figures.attention_maps(attention, tokens=tokens, title=title,
                                          positions=attrs.get("positions")))
            if attention.shape[2] > 1:
                mass = figures.attention_mass_on(attention, key=0)
                yield (f"sink_{label}", f"attention mass on the first token, {name}",
                       figures.head_heatmap(mass, title=f"{label}: attention on the first token",
                                            label="attention weight on position 0",
                                            vmin=0.0, vmax=1.0))
        for dataset, value in run["analysis"].items():
            drawn = analysis_figure(run, dataset, value, label)
            if drawn is not None:
                caption, figure = drawn
                yield f"{dataset}_{label}", f"{caption}, {name}", figure


def series_steps(run, dataset):
    """The steps of a time-series dataset (docs/results-format.md): its attribute `step`, else the
    dataset `step` beside it in its group (/analysis/<name>/step), else None."""
    steps = run["analysis_attrs"].get(dataset, {}).get("step")
    if steps is None and "/" in dataset:
        steps = run["analysis"].get(f"{dataset.rsplit('/', 1)[0]}/step")
    return None if steps is None else np.atleast_1d(np.asarray(steps))


def analysis_figure(run, dataset, value, label):
    """(caption, figure) for an /analysis dataset drawn by its `dims` attribute, or None:
    'layer,head' -> head heatmap; 'step' and 'step,layer,head' -> lines over step; 'step,<axis>'
    -> heatmap over step. Step axes themselves (datasets named `step`) are not drawn."""
    dims = run["analysis_attrs"].get(dataset, {}).get("dims")
    ndim = getattr(value, "ndim", 0)
    if not isinstance(dims, str) or dataset.rsplit("/", 1)[-1] == "step":
        return None
    axes = dims.split(",")
    if axes == ["layer", "head"] and ndim == 2:
        return (f"{dataset} per layer and head",
                figures.head_heatmap(value, title=f"{label}: {dataset}", label=dataset))
    if axes[0] != "step" or ndim != len(axes):
        return None
    steps = series_steps(run, dataset)
    if steps is not None and steps.shape != (value.shape[0],):
        steps = None  # a step axis of another length: draw against snapshot indices
    if axes in (["step"], ["step", "layer", "head"]):
        what = "per head " if len(axes) == 3 else ""
        return (f"{dataset} {what}over training",
                figures.series_lines(value, steps, title=f"{label}: {dataset}", label=dataset))
    if len(axes) == 2:
        return (f"{dataset} per {axes[1]} over training",
                figures.step_heatmap(value, steps, axis=axes[1], title=f"{label}: {dataset}",
                                     label=dataset))
    return None


def main_metric(summary, metric):
    """The summary metric to plot: --metric (or test_<metric>), test_accuracy, else the first."""
    metrics = summary["metrics"]
    if metric is not None:
        for candidate in (metric, f"test_{metric}"):
            if candidate in metrics:
                return candidate
        raise UsageError(f"--metric {metric}: {summary['path']} has no such metric "
                         f"(metrics: {', '.join(metrics) or 'none'})")
    if "test_accuracy" in metrics:
        return "test_accuracy"
    return metrics[0] if metrics else None


def _axis(summary, option, flag):
    try:
        return figures.axis_of(summary, option)
    except ValueError as error:
        raise UsageError(f"--{flag} {option}: {error}") from None


def _draw(summary, function, *args, **kwargs):
    """Call a summary figure function; a ValueError (the sweep's layout does not fit the
    figure, e.g. two rows for one cell) becomes a UsageError naming the summary."""
    try:
        return function(summary, *args, **kwargs)
    except ValueError as error:
        raise UsageError(f"{summary['path']}: {error}") from None


def summary_figures(summary, metric, x=None, y=None, hue=None, band="ci95", label="summary"):
    """Yield (stem, caption, figure) for one summary: a heatmap or line plot of `metric`."""
    axes = list(summary["axes"])
    chosen = {flag: _axis(summary, value, flag)
              for flag, value in (("x", x), ("y", y), ("hue", hue)) if value is not None}
    if "x" in chosen and ("y" in chosen or "hue" in chosen):
        other = chosen.get("y", chosen.get("hue"))
        if set(other) & set(chosen["x"]):
            raise UsageError("--x and --y/--hue name the same swept axis")
    heat = "y" in chosen or (len(axes) == 2 and "hue" not in chosen)
    if not axes and not chosen:
        return
    if heat:
        y_axis = chosen.get("y") or next((a for a in axes if a != chosen.get("x")), None)
        x_axis = chosen.get("x") or next((a for a in reversed(axes) if a != y_axis), None)
        if x_axis is None or y_axis is None:
            raise UsageError(f"a heatmap needs two swept options; {summary['path']} sweeps "
                             f"{', '.join(' & '.join(a) for a in axes) or 'none'}")
        rest = [a for a in axes if a not in (x_axis, y_axis)]
        levels = [figures.axis_levels(summary["aggregate"], a) for a in rest]
        for combination in itertools.product(*levels):
            where = {k: v for axis, level in zip(rest, combination) for k, v in zip(axis, level)}
            suffix = "".join(f"_{k}-{style.format_value(v)}" for k, v in where.items())
            figure = _draw(summary, figures.heatmap, metric, x_axis[0], y_axis[0],
                           where=where or None)
            fixed = ", ".join(f"{k}={style.format_value(v)}" for k, v in where.items())
            caption = f"{metric} over {' & '.join(y_axis)} × {' & '.join(x_axis)}, {label}"
            caption += f" ({fixed})" if fixed else ""
            yield f"{label}_heatmap_{metric}{suffix}", caption, figure
    else:
        x_axis = chosen.get("x") or next((a for a in axes if a != chosen.get("hue")), None)
        if x_axis is None:
            raise UsageError(f"{summary['path']} sweeps only --hue's option; give --x")
        hue_keys = list(chosen["hue"]) if "hue" in chosen else None
        if hue_keys is not None:  # the other axes join the hue, so nothing is mixed silently
            hue_keys += [k for a in axes if a != x_axis and a != chosen["hue"] for k in a]
        figure = _draw(summary, figures.metric_lines, metric, x_axis[0], hue=hue_keys, band=band)
        yield (f"{label}_lines_{metric}", f"{metric} against {' & '.join(x_axis)}, {label}",
               figure)


# ---- main -----------------------------------------------------------------------------------


def _load_inputs(paths):
    runs, summaries = [], []
    for path in paths:
        if file_format(path) == RUN_FORMAT:
            runs.append(load_run(path))
        else:
            summaries.append(load_summary(path))
    return runs, summaries


class _Output:
    """Where figures go: the options that shape them, the stems used and the files written."""

    def __init__(self, args):
        self.args = args
        self.used = set()
        self.written = []

    def save(self, section, stem, caption, figure):
        paths = style.save(figure, self.args.out, _stem(stem, self.used), self.args.format,
                           self.args.dpi)
        section.figures.append((caption, paths))
        self.written.extend(paths)


def _runs_section(runs, metric, output):
    """The report section of the run files (table and figures) and their configurations."""
    section = report.Section(f"Runs ({len(runs)})")
    section.tables.append(report.run_table(runs))
    for stem, caption, figure in run_figures(runs, metric):
        output.save(section, stem, caption, figure)
    configs = [(name, f"Resolved configuration of `{loaded['path']}` "
                      f"(`sim train --config` with this text repeats the run).",
                loaded["config_text"])
               for name, loaded in zip(report.display_names(runs), runs)]
    return section, configs


def _summary_section(summary, name, metric, output):
    """The report section of one summary (overview, aggregate table, figures) and the
    configuration of one of its runs."""
    args = output.args
    section = report.Section(f"Sweep summary {name} (`{summary['path']}`)")
    section.paragraphs.append(report.summary_overview(summary))
    if metric is not None:
        section.tables.append(report.aggregate_table(summary, metric))
        drawn = 0
        for stem, caption, figure in summary_figures(summary, metric, args.x, args.y, args.hue,
                                                     args.band, os.path.splitext(name)[0]):
            output.save(section, stem, caption, figure)
            drawn += 1
        if not drawn:
            section.paragraphs.append("No figure: the sweep varies no option besides the "
                                      "replicate keys.")
    example = report.summary_config(summary)
    return section, [(f"{name}: example run", *example)] if example is not None else []


def run(args, argv):
    """Load, draw, save and write the report; returns the list of written files."""
    runs, summaries = _load_inputs(args.inputs)
    if not summaries and (args.x or args.y or args.hue):
        raise UsageError("--x, --y and --hue choose axes of summary figures; no input is a summary")
    # Options are checked against every input before anything is written.
    summary_metrics = [main_metric(summary, args.metric) for summary in summaries]
    for summary in summaries:
        for flag in ("x", "y", "hue"):
            if getattr(args, flag) is not None:
                _axis(summary, getattr(args, flag), flag)
    # With summaries present --metric names their metric; runs then use it only if they can.
    run_metric = args.metric if not summaries else _run_metric(runs, args.metric)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot create the directory ({error.strerror})") \
            from None
    output, sections, configs = _Output(args), [], []
    if runs:
        section, run_configs = _runs_section(runs, run_metric, output)
        sections.append(section)
        configs += run_configs
    names = report.display_names(summaries)
    for summary, name, metric in zip(summaries, names, summary_metrics):
        section, summary_configs = _summary_section(summary, name, metric, output)
        sections.append(section)
        configs += summary_configs

    command = shlex.join([sys.executable, "-m", "analysis.plot", *argv])
    report_path = os.path.join(args.out, "report.md")
    report.write_report(report_path, args.title, command, os.getcwd(), sections, configs)
    return output.written + [report_path]


def _run_metric(runs, metric):
    """With summaries present, --metric names a summary metric; use it for runs only if they
    have it (as a family or curve), else draw every family."""
    if metric is None:
        return None
    families = figures.curve_families(runs)
    known = set(families) | {n for names in families.values() for n in names}
    return metric if metric in known else None


def main(argv=None):
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)  # exits 2 with a usage message on bad flags
    if args.dpi <= 0:
        print(f"error: --dpi must be positive, got {args.dpi}", file=sys.stderr)
        return 2
    try:
        written = run(args, argv)
    except (InputError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    figures_written = [p for p in written if not p.endswith(".md")]
    print(f"wrote {os.path.join(args.out, 'report.md')} and {len(figures_written)} figure files")
    return 0
