"""report.md: tables of the key numbers, the figures, the command and the configurations.

The tables use the result files' own names as column headers (`test_accuracy` is
/final/test/accuracy; `test_accuracy_mean` is the summary's /aggregate column), and numbers are
printed with 6 significant digits (style.format_number), so a reader can map any cell back to
the HDF5 value. Nothing here draws; cli.py saves the figures and passes their paths in.
"""

import os

from . import style
from .figures import differing_options, distinguishing_options
from .load import SEED_OPTIONS, InputError, load_run

# Per-metric aggregate statistics shown for the main metric; other metrics show only the mean.
MAIN_STATS = ("mean", "std", "min", "max", "ci95_low", "ci95_high", "count")


class Section:
    """One part of the report: a heading, paragraphs, tables and figures, in that order."""

    def __init__(self, heading):
        self.heading = heading
        self.paragraphs = []
        self.tables = []  # (headers, rows)
        self.figures = []  # (caption, [paths])


def markdown_table(headers, rows):
    """A GitHub-flavoured markdown table; '|' inside cells is escaped."""

    def cell(text):
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def display_names(items):
    """Short unique names for loaded runs/summaries: the file name, with as many parent
    directories as it takes to tell clashing ones apart (`s1/summary.h5`, `s2/summary.h5`)."""
    parts = [os.path.abspath(item["path"]).split(os.sep) for item in items]
    depth = 1
    while True:
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names) or all(depth >= len(p) for p in parts):
            return names
        depth += 1


def final_columns(runs):
    """`<split>_<metric>` for every /final entry of any run: test splits first, train last."""
    columns = []
    for run in runs:
        for split in sorted(run["final"], key=lambda s: (s == "train", s)):
            for metric in run["final"][split]:
                name = f"{split}_{metric}"
                if name not in columns:
                    columns.append(name)
    return sorted(columns, key=lambda name: name.startswith("train_"))


def analysis_scalars(run):
    """{path: value} of a run's scalar /analysis values: scalar datasets, and of a time series of
    a scalar (dims `step`) its value at the last step (what `sim collect` makes columns of)."""
    scalars = {}
    for name, value in run["analysis"].items():
        if isinstance(value, (int, float)):
            scalars[name] = value
        elif (getattr(value, "ndim", 0) == 1 and len(value) and name.rsplit("/", 1)[-1] != "step"
              and run["analysis_attrs"].get(name, {}).get("dims") == "step"):
            scalars[name] = float(value[-1])
    return scalars


def run_table(runs):
    """(headers, rows): one row per run with status, steps, the options that tell the runs apart
    (figures.distinguishing_options, seed included), every final metric (`<split>_<metric>`)
    and the scalar /analysis values (a scalar time series: at its last step)."""
    options = []
    if len(runs) > 1:
        options = distinguishing_options(runs)
        options += [k for k in differing_options(runs) if k in SEED_OPTIONS]
    metrics = final_columns(runs)
    scalars, values = [], [analysis_scalars(run) for run in runs]
    for run_values in values:
        for name in run_values:
            if name not in scalars:
                scalars.append(name)
    headers = ["run", "status", "steps_done", *options, *metrics, *scalars, "wall_seconds"]
    rows = []
    for name, run, run_values in zip(display_names(runs), runs, values):
        row = [name, run["attrs"]["status"], run["attrs"]["steps_done"]]
        row += [run["config"].get(key, "") for key in options]
        for column in metrics:
            value = ""
            for split, values in run["final"].items():
                if column.startswith(split + "_") and column[len(split) + 1 :] in values:
                    value = style.format_number(values[column[len(split) + 1 :]])
            row.append(value)
        row += [style.format_number(run_values[s]) if s in run_values else "" for s in scalars]
        wall = run["attrs"].get("wall_seconds")
        row.append(f"{wall:.3g}" if isinstance(wall, float) else "")
        rows.append(row)
    return headers, rows


def aggregate_table(summary, main_metric):
    """(headers, rows) of a summary's /aggregate: the group options, n_runs, every statistic of
    `main_metric` and the mean of each other metric, with the file's column names."""
    frame = summary["aggregate"]
    columns = list(summary["group_keys"]) + ["n_runs"]
    for metric in summary["metrics"]:
        stats = MAIN_STATS if metric == main_metric else ("mean",)
        columns += [f"{metric}_{s}" for s in stats if f"{metric}_{s}" in frame.columns]
    rows = []
    for _, record in frame.iterrows():
        row = []
        for column in columns:
            value = record[column]
            if column in summary["group_keys"] or column == "n_runs" or column.endswith("_count"):
                row.append(style.format_value(value))
            else:
                row.append(style.format_number(value))
        rows.append(row)
    return columns, rows


def summary_overview(summary):
    """One paragraph: run counts by status, the swept axes and the replicate keys."""
    runs = summary["runs"]
    counts = runs["status"].value_counts()
    parts = [f"{n} {status}" for status, n in counts.items()]
    text = f"{len(runs)} runs ({', '.join(parts)})."
    bad = runs[runs["status"] != "complete"]
    if len(bad):
        listed = ", ".join(f"{style.format_value(i)} ({s})"
                           for i, s in zip(bad["index"], bad["status"]))
        text += f" Not complete: index {listed}."
    if summary["axes"]:
        axes = []
        for axis in summary["axes"]:
            values = runs[list(axis)].drop_duplicates()
            levels = [" & ".join(style.format_value(v) for v in row)
                      for row in values.itertuples(index=False)]
            axes.append(f"`{' & '.join(axis)}` ({', '.join(levels)})")
        text += " Swept: " + "; ".join(axes) + "."
    if summary["seed_keys"]:
        keys = ", ".join(f"`{k}`" for k in summary["seed_keys"])
        text += f" Aggregated over {keys} (complete runs only)."
    return text


def summary_config(summary):
    """(description, INI text) of one readable run of the sweep, or None.

    A summary stores no configuration; its `file` column names each run relative to the sweep
    directory, which is assumed to be the summary's directory (the documented default).
    """
    directory = os.path.dirname(summary["path"]) or "."
    runs = summary["runs"]
    if "file" not in runs.columns:
        return None
    for index, status, name in zip(runs["index"], runs["status"], runs["file"]):
        if status != "complete":
            continue
        path = os.path.join(directory, str(name))
        try:
            run = load_run(path)
        except InputError:
            continue
        varying = ", ".join(summary["swept"])
        return (f"run {style.format_value(index)} (`{path}`); the swept options ({varying}) "
                f"differ between runs", run["config_text"])
    return None


def _figure_markdown(caption, paths, out_dir):
    """Embed the PNG if there is one (a PDF cannot be embedded), then link every file."""
    links = [os.path.relpath(p, out_dir) for p in paths]
    lines = [f"### {caption}", ""]
    png = [link for link in links if link.endswith(".png")]
    if png:
        lines += [f"![{caption}]({png[0]})", ""]
    lines += ["Files: " + ", ".join(f"[{link}]({link})" for link in links), ""]
    return lines


def write_report(path, title, command, cwd, sections, configs):
    """Write the markdown report to `path`.

    command: the shell-quoted command line; cwd: where it ran; sections: Section objects;
    configs: [(name, description, INI text)] shown in collapsible blocks.
    """
    out_dir = os.path.dirname(path) or "."
    lines = [f"# {title}", "", "Produced by this command:", "", "```sh", f"cd {cwd}",
             command, "```", ""]
    for section in sections:
        lines += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for headers, rows in section.tables:
            lines += [markdown_table(headers, rows), ""]
        for caption, paths in section.figures:
            lines += _figure_markdown(caption, paths, out_dir)
    if configs:
        lines += ["## Configurations", ""]
        for name, description, text in configs:
            lines += ["<details>", f"<summary>{name}</summary>", "", description, "",
                      "```ini", text.rstrip("\n"), "```", "", "</details>", ""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
