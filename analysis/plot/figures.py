"""Figure kinds: each takes loaded data (analysis/plot/load.py) and returns a matplotlib Figure.

  (a) curves(runs, names)                     training/evaluation curves of one or many runs
  (b) heatmap(summary, metric, x, y)          a metric over two swept options, annotated cells
  (c) metric_lines(summary, metric, x, hue)   a metric against one option, one line per other value
  (d) head_heatmap(values)                    an [L, H] array per layer and head
  (e) attention_maps(attention, tokens)       [L, H, T, T] attention, a layer x head grid
  (f) series_lines(values, steps)             a time series over snapshot steps: [S] one line,
                                              [S, L, H] one panel per layer, one line per head
  (g) step_heatmap(values, steps, axis)       a vector per snapshot step, [S, N], as a heatmap

Runs of one configuration that differ only in `train.seed` are replicates: (a) draws their mean
and a min-max band. Summaries already hold aggregates over seeds, so (b) shows the mean (± std
in the cell) and (c) the mean with a band (95% bootstrap CI of the mean by default, or min-max,
or ± std). Nothing here writes files; style.save does, and report.py decides what to draw.
"""

import math
import warnings

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from . import style
from .load import NEUTRAL_OPTIONS, SEED_OPTIONS

BANDS = {
    "ci95": ("_ci95_low", "_ci95_high", "95% CI of the mean"),
    "minmax": ("_min", "_max", "min–max"),
    "std": (None, None, "± 1 std"),
    "none": (None, None, ""),
}


# ---- runs: curve names, families, replicate groups ------------------------------------------


def split_curve_name(run, name):
    """Split a curve name into (split, metric) using the run's /final; (None, name) if unknown.

    `test_mse_last` -> ('test', 'mse_last'): /final lists the splits, so underscores inside a
    metric name are not ambiguous.
    """
    for split, metrics in run["final"].items():
        prefix = split + "_"
        if name.startswith(prefix) and name[len(prefix) :] in metrics:
            return split, name[len(prefix) :]
    for split in run["final"]:
        if name.startswith(split + "_"):
            return split, name[len(split) + 1 :]
    return None, name


def curve_families(runs):
    """{family: [curve names]} over all runs: curves of one metric on every split share a figure.

    `train_loss` and `test_loss` form the family `loss`; `lr` is its own family, listed last.
    Within a family the training split comes first.
    """
    families = {}
    for run in runs:
        for name in run["curves"]:
            if name == "step":
                continue
            family = split_curve_name(run, name)[1]
            members = families.setdefault(family, [])
            if name not in members:
                members.append(name)
    for members in families.values():
        members.sort(key=lambda name: (not name.startswith("train_"), name))
    if "lr" in families:
        families["lr"] = families.pop("lr")
    return families


def differing_options(runs, ignore=NEUTRAL_OPTIONS):
    """Config keys whose values differ between runs (a key a run lacks counts as differing)."""
    keys = []
    for run in runs:
        for key in run["config"]:
            if key not in keys and key not in ignore:
                keys.append(key)
    return [k for k in keys if len({run["config"].get(k) for run in runs}) > 1]


def distinguishing_options(runs, ignore=NEUTRAL_OPTIONS + SEED_OPTIONS):
    """A small set of config keys that tells apart every configuration the runs contain.

    All differing keys would do, but runs of different tasks differ in every task-specific key
    and in unrelated defaults; a greedy choice (the key separating the most configurations
    first, keys that every run has and [task]/[model] keys preferred) keeps labels short:
    `task.name=mqar, model.layers=2`. Keys come back in config order.
    """
    candidates = differing_options(runs, ignore)

    def n_configurations(keys):
        return len({tuple(run["config"].get(k) for k in keys) for run in runs})

    everywhere = {k for k in candidates if all(k in run["config"] for run in runs)}
    target = n_configurations(candidates)
    chosen = []
    while n_configurations(chosen) < target:
        now = n_configurations(chosen)
        useful = [k for k in candidates if k not in chosen and n_configurations(chosen + [k]) > now]
        # Keys every run has (model.layers) read better than task-specific ones (blank for
        # other tasks); the task and the model say more than training details; then the most
        # separating key; then config order.
        best = max(useful, key=lambda k: (k in everywhere, k.split(".")[0] in ("task", "model"),
                                          n_configurations(chosen + [k]), -candidates.index(k)))
        chosen.append(best)
    return [k for k in candidates if k in chosen]


def run_groups(runs, seed_options=SEED_OPTIONS):
    """Group runs that differ only in their seed: [(label, [runs])], in input order.

    The label names the options that distinguish the group (`model.layers=2, task.pairs=3`,
    see distinguishing_options), or the run's file name when nothing does.
    """
    keys = distinguishing_options(runs, NEUTRAL_OPTIONS + tuple(seed_options))
    groups = {}
    for run in runs:
        signature = tuple(run["config"].get(k) for k in keys)
        groups.setdefault(signature, []).append(run)
    result = []
    for signature, members in groups.items():
        if keys:  # a key the group's runs lack (another task's option) is left out
            label = ", ".join(f"{k}={v}" for k, v in zip(keys, signature) if v is not None)
        elif len(members) == 1:
            label = members[0]["name"]
        else:
            label = f"{len(members)} seeds"
        result.append((label, members))
    return result


def _stack_curves(members, name):
    """Union of the members' steps and the mean, min and max of curve `name` at each step.

    A run with status `complete` that ends before the others (it stopped early at its target)
    keeps its last value from there on, so the mean over seeds does not jump to the runs still
    training; a diverged or interrupted run counts only up to its last evaluation.
    """
    steps = np.unique(np.concatenate([run["curves"]["step"] for run in members]))
    table = np.full((len(members), len(steps)), np.nan)
    for row, run in enumerate(members):
        columns = np.searchsorted(steps, run["curves"]["step"])
        table[row, columns] = run["curves"][name]
        if run["attrs"].get("status") == "complete" and len(columns):
            table[row, columns[-1] + 1 :] = run["curves"][name][-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps (e.g. a diverged run)
        return steps, np.nanmean(table, 0), np.nanmin(table, 0), np.nanmax(table, 0)


def _use_log_scale(values):
    """True when the positive values span more than two decades."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return len(values) > 1 and values.max() / values.min() > 100


def _family_label(runs, family):
    """Y label of a curve family; `loss` says whether it is cross-entropy or squared error."""
    if family == "loss":
        metrics = {m for run in runs for split in run["final"].values() for m in split}
        if "accuracy" in metrics and "mse" not in metrics:
            return "loss (cross-entropy, nats per scored position)"
        if "mse" in metrics and "accuracy" not in metrics:
            return "loss (squared error per scored position)"
    return style.metric_label(family, family)


def _curves_legend(axes, group_labels, group_indices, names, chance, banded):
    """Legend of `curves`: with several groups (group_labels given) one entry per group (its
    colour and marker) plus one per curve name (its line style); else the lines' own labels."""
    handles, labels = axes.get_legend_handles_labels()
    if group_labels is not None:
        handles = [Line2D([], [], color=style.colour(i), marker=style.marker(i), markersize=3)
                   for i in group_indices]
        labels = list(group_labels)
        if len(names) > 1:
            handles += [Line2D([], [], color="0.3",
                               linestyle=style.LINESTYLES[i % len(style.LINESTYLES)])
                        for i in range(len(names))]
            labels += list(names)
        if chance is not None:
            handles.append(Line2D([], [], color="black", linestyle=":"))
            labels.append("chance")
    title = "mean, band: min–max over seeds" if banded else None
    style.legend(axes, handles, labels, title=title)


def _scale_curve_axes(axes, steps):
    """Log steps when they span more than two decades (else integer ticks); log values when the
    drawn lines span more than three (a diverged run's loss next to healthy ones)."""
    if _use_log_scale(steps):
        axes.set_xscale("log")
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    values = np.concatenate([line.get_ydata() for line in axes.get_lines()])
    finite = values[np.isfinite(values)]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 1e3:
        axes.set_yscale("log")


@style.styled
def curves(runs, names, title=None, ylabel=None, chance=None, group_seeds=True):
    """(a) Curves `names` (e.g. ['train_loss', 'test_loss']) of one or many runs against step.

    runs: a loaded run or a list of them. With several configurations, colour tells the
    configuration and line style the curve; with one, colour tells the curve. Replicates (runs
    differing only in train.seed) are drawn as their mean with a min-max band when group_seeds;
    a replicate that stopped early at its target counts with its last value after it stopped.
    Steps are log-scaled when they span more than two decades, values when they span more than
    three (a diverged run next to healthy ones). `chance` draws a reference line.
    """
    runs = [runs] if isinstance(runs, dict) else list(runs)
    if not runs:
        raise ValueError("curves: no runs given")
    if group_seeds:
        groups = run_groups(runs)
    else:
        groups = [(run["name"], [run]) for run in runs]
    several = len(groups) > 1
    width = 6.4
    if several and style.crowded([label for label, _ in groups]):
        width += 0.07 * max(len(label) for label, _ in groups)  # room for a legend at the right
    figure = Figure(figsize=(min(width, 14.0), 4.0), layout="constrained")
    axes = figure.subplots()
    all_steps, banded, drawn = [], False, []
    for group_index, (label, members) in enumerate(groups):
        for name_index, name in enumerate(names):
            present = [run for run in members if name in run["curves"]]
            if not present:
                continue
            steps, mean, low, high = _stack_curves(present, name)
            all_steps.append(steps)
            if group_index not in drawn:
                drawn.append(group_index)
            colour = style.colour(group_index if several else name_index)
            linestyle = style.LINESTYLES[name_index % len(style.LINESTYLES)] if several else "-"
            axes.plot(
                steps,
                mean,
                color=colour,
                linestyle=linestyle,
                marker=style.marker(group_index),
                markevery=max(1, len(steps) // 20),
                markersize=3,
                label=name if not several else None,
            )
            if len(present) > 1:
                axes.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0)
                banded = True
    if not all_steps:
        raise ValueError(f"curves: none of {names} is a curve of the given runs")
    if chance is not None:
        axes.axhline(chance, color="black", linestyle=":", linewidth=1.0, label="chance")
    _curves_legend(axes, [groups[i][0] for i in drawn] if several else None, drawn, names,
                   chance, banded)
    _scale_curve_axes(axes, np.concatenate(all_steps))
    axes.set_xlabel(style.step_label())
    family = split_curve_name(runs[0], names[0])[1]
    if ylabel is None:  # one curve: name its split too
        ylabel = style.metric_label(names[0], family) if len(names) == 1 else _family_label(
            runs, family)
    axes.set_ylabel(ylabel)
    if title is None:
        title = f"{family.replace('_', ' ')} during training"
        if not several:
            title += f": {groups[0][0]}"
    axes.set_title(title)
    return figure


# ---- summaries: axes, levels, selections ------------------------------------------------------


def axis_of(summary, option):
    """The plotting axis (tuple of zipped option keys) that contains `option`."""
    for axis in summary["axes"]:
        if option in axis:
            return axis
    if option in summary["group_keys"]:
        return (option,)  # swept with a single value: a one-level axis
    if option in summary["seed_keys"]:
        raise ValueError(f"'{option}' is a replicate key (aggregated over); it cannot be an axis")
    choices = ", ".join(summary["group_keys"]) or "none"
    raise ValueError(f"'{option}' is not a swept option of {summary['path']} (swept: {choices})")


def _is_numeric(frame, keys):
    return all(frame[k].dtype.kind in "iuf" for k in keys)


def axis_levels(frame, keys):
    """Distinct value tuples of `keys` in plotting order: numeric ascending, else sweep order."""
    if not keys:
        return [()]
    levels = list(dict.fromkeys(tuple(row) for row in frame[list(keys)].itertuples(index=False)))
    if _is_numeric(frame, keys):
        levels.sort()
    return levels


def level_label(level):
    """Tick text of an axis level: '2', 'learned', '64 & 4' for zipped options."""
    return " & ".join(style.format_value(value) for value in level)


def select(summary, where=None):
    """The aggregate rows whose options equal `where` ({option: value}; values compared as text)."""
    frame = summary["aggregate"]
    for key, value in (where or {}).items():
        if key not in frame.columns:
            raise ValueError(f"where: '{key}' is not a column of {summary['path']}'s aggregate")
        frame = frame[frame[key].map(style.format_value) == style.format_value(value)]
    if frame.empty:
        raise ValueError(f"where={where} selects no configuration of {summary['path']}")
    return frame


def _check_axes(summary, frame, used_keys):
    """Refuse when an axis other than the used ones still varies (it would be mixed silently)."""
    loose = [axis for axis in summary["axes"] if not set(axis) & set(used_keys)]
    loose = [axis for axis in loose if len(axis_levels(frame, axis)) > 1]
    if loose:
        names = ", ".join(" & ".join(axis) for axis in loose)
        raise ValueError(f"the aggregate also varies with {names}: "
                         "fix it with `where` or use it as hue")


def _metric_column(summary, metric, stat):
    column = f"{metric}_{stat}"
    if column not in summary["aggregate"].columns:
        raise ValueError(
            f"'{metric}' has no column '{column}' in {summary['path']} "
            f"(metrics: {', '.join(summary['metrics'])})"
        )
    return column


def _annotate_cells(axes, image, texts, missing):
    """Write texts[i][j] on cell (i, j) of an imshow, in black or white for contrast with the
    cell's colour; cells whose text is None (no value) get `missing` in grey."""
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            if text is None:
                axes.text(j, i, missing, ha="center", va="center", fontsize=8, color="0.4")
                continue
            red, green, blue, _ = image.cmap(image.norm(image.get_array()[i, j]))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            axes.text(j, i, text, ha="center", va="center", fontsize=8,
                      color="white" if dark else "black")


def _colour_range(metric, stat):
    """(vmin, vmax) of a heatmap's colours: 0 to 1 for an accuracy's mean, min or max (a fixed
    scale, so noise between near-equal cells does not look like an effect), else automatic."""
    if metric.endswith("accuracy") and stat in ("mean", "min", "max", "ci95_low", "ci95_high"):
        return 0.0, 1.0
    return None, None


def _seed_note(frame, metric):
    """', n = 3 seeds' when the aggregate rows pool several runs (max count), else ''."""
    count_column = f"{metric}_count"
    if count_column not in frame.columns:
        return ""
    count = int(np.nanmax(frame[count_column].to_numpy(dtype=float), initial=0))
    return f" over {count} seeds" if count > 1 else ""


@style.styled
def heatmap(summary, metric, x, y, where=None, stat="mean", cmap=style.SEQUENTIAL_CMAP,
            vmin=None, vmax=None):
    """(b) `metric`'s aggregate `stat` (default the mean over seeds) over two swept options.

    x, y: option names (a zipped option brings its partners along). Each cell is annotated with
    the value and, when the cell pools several seeds, ± its standard deviation (and n when the
    cell has fewer complete runs than others). Options other than x and y must not vary in the
    selected rows (`where` fixes them). Missing cells are grey. Colours span vmin..vmax: by
    default 0..1 for an accuracy (not its std), else the data's range.
    """
    frame = select(summary, where)
    x_axis, y_axis = axis_of(summary, x), axis_of(summary, y)
    if set(x_axis) & set(y_axis):
        raise ValueError(f"heatmap: x and y are the same swept axis ({' & '.join(x_axis)})")
    _check_axes(summary, frame, x_axis + y_axis)
    column = _metric_column(summary, metric, stat)
    x_levels, y_levels = axis_levels(frame, x_axis), axis_levels(frame, y_axis)
    values = np.full((len(y_levels), len(x_levels)), np.nan)
    spread = np.full_like(values, np.nan)
    counts = np.zeros_like(values)
    std_column, count_column = f"{metric}_std", f"{metric}_count"
    for _, row in frame.iterrows():
        i = y_levels.index(tuple(row[k] for k in y_axis))
        j = x_levels.index(tuple(row[k] for k in x_axis))
        if not math.isnan(values[i, j]):
            raise ValueError(f"heatmap: several rows for {y}={y_levels[i]}, {x}={x_levels[j]}")
        values[i, j] = row[column]
        spread[i, j] = row.get(std_column, np.nan)
        counts[i, j] = row.get(count_column, 1)

    width = min(12.0, 1.9 + 0.95 * len(x_levels))
    height = min(9.0, 1.6 + 0.6 * len(y_levels))
    figure = Figure(figsize=(max(4.2, width), max(3.0, height)), layout="constrained")
    axes = figure.subplots()
    colour_map = colormaps[cmap].copy()
    colour_map.set_bad(style.MISSING_COLOUR)
    if vmin is None and vmax is None:
        vmin, vmax = _colour_range(metric, stat)
    # Rows top to bottom in level order, like the report's aggregate table.
    image = axes.imshow(np.ma.masked_invalid(values), cmap=colour_map, aspect="auto",
                        vmin=vmin, vmax=vmax)
    texts = [[None] * len(x_levels) for _ in y_levels]
    for i, j in zip(*np.nonzero(~np.isnan(values))):
        text = f"{values[i, j]:.3g}"
        if counts[i, j] > 1 and np.isfinite(spread[i, j]) and stat == "mean":
            text += f"\n±{spread[i, j]:.2g}"
        if counts[i, j] < counts.max():  # fewer complete runs than the other cells
            text += f"\n(n={counts[i, j]:.0f})"
        texts[i][j] = text
    _annotate_cells(axes, image, texts, "n/a")
    axes.set_xticks(range(len(x_levels)), [level_label(v) for v in x_levels])
    axes.set_yticks(range(len(y_levels)), [level_label(v) for v in y_levels])
    axes.set_xlabel(" & ".join(x_axis))
    axes.set_ylabel(" & ".join(y_axis))
    axes.grid(False)
    label = style.metric_label(metric)
    figure.colorbar(image, ax=axes, label=f"{label}, {stat}")
    title = f"{metric.replace('_', ' ')}: {stat}{_seed_note(frame, metric)}"
    if where:
        title += "\n" + ", ".join(f"{k}={style.format_value(v)}" for k, v in where.items())
    axes.set_title(title)
    return figure


def _band_limits(rows, metric, band, mean):
    """(low, high) arrays of `band` for the rows of one line, NaN where a configuration has a
    single run; None when there is nothing to draw (band 'none', no pooled row, no column)."""
    count_column = f"{metric}_count"
    if band == "none" or count_column not in rows:
        return None
    pooled = rows[count_column].to_numpy(dtype=float) > 1
    low_suffix, high_suffix, _ = BANDS[band]
    if band == "std":
        if f"{metric}_std" not in rows:
            return None
        std = rows[f"{metric}_std"].to_numpy(dtype=float)
        low, high = mean - std, mean + std
    else:
        if metric + low_suffix not in rows or metric + high_suffix not in rows:
            return None
        low = rows[metric + low_suffix].to_numpy(dtype=float)
        high = rows[metric + high_suffix].to_numpy(dtype=float)
    if not pooled.any():
        return None
    return np.where(pooled, low, np.nan), np.where(pooled, high, np.nan)


def _draw_band(axes, xs, mean, low, high, colour):
    """A shaded band between low and high; a point whose neighbours have no band (a band cannot
    be shaded around a lone point) gets an error bar instead."""
    axes.fill_between(xs, low, high, color=colour, alpha=0.2, linewidth=0)
    have = np.isfinite(low) & np.isfinite(high)
    neighbour = np.zeros_like(have)
    neighbour[1:] |= have[:-1]
    neighbour[:-1] |= have[1:]
    lone = have & ~neighbour
    if lone.any():
        errors = np.clip([mean[lone] - low[lone], high[lone] - mean[lone]], 0.0, None)
        axes.errorbar(xs[lone], mean[lone], yerr=errors, fmt="none", ecolor=colour,
                      capsize=3, alpha=0.7)


@style.styled
def metric_lines(summary, metric, x, hue=None, where=None, band="ci95"):
    """(c) `metric` (mean over seeds) against option `x`, one line per value of `hue`.

    hue: an option name, a list of them, or None for every other varying option. band: 'ci95'
    (the summary's 95% bootstrap CI of the mean), 'minmax', 'std' or 'none'; drawn only where a
    configuration pools several runs (as an error bar at a lone point). A numeric x spanning
    more than two decades is log-scaled; a string (or zipped) x is categorical.
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got '{band}'")
    frame = select(summary, where)
    x_axis = axis_of(summary, x)
    if hue is None:
        hue_keys = tuple(k for axis in summary["axes"] if axis != x_axis for k in axis)
    else:
        hue_names = [hue] if isinstance(hue, str) else list(hue)
        hue_keys = tuple(k for name in hue_names for k in axis_of(summary, name))
        if set(hue_keys) & set(x_axis):
            raise ValueError("metric_lines: hue and x are the same swept axis")
    _check_axes(summary, frame, x_axis + hue_keys)
    mean_column = _metric_column(summary, metric, "mean")
    x_levels = axis_levels(frame, x_axis)
    numeric = len(x_axis) == 1 and _is_numeric(frame, x_axis)

    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.subplots()
    banded = False
    hue_levels = axis_levels(frame, hue_keys)
    for index, level in enumerate(hue_levels):
        rows = frame
        for key, value in zip(hue_keys, level):
            rows = rows[rows[key] == value]
        positions = [x_levels.index(tuple(r)) for r in rows[list(x_axis)].itertuples(index=False)]
        rows = rows.assign(_position=positions).sort_values("_position")
        xs = rows[x_axis[0]].to_numpy(dtype=float) if numeric else rows["_position"].to_numpy()
        mean = rows[mean_column].to_numpy(dtype=float)
        colour = style.colour(index)
        label = level_label(level) if hue_keys else metric.replace("_", " ")
        axes.plot(xs, mean, color=colour, marker="o", label=label)
        limits = _band_limits(rows, metric, band, mean)
        if limits is not None:
            _draw_band(axes, xs, mean, *limits, colour)
            banded = True

    if numeric:
        if _use_log_scale(frame[x_axis[0]]):
            axes.set_xscale("log")
        axes.set_xticks([level[0] for level in x_levels], [level_label(v) for v in x_levels])
        axes.minorticks_off()
    else:
        axes.set_xticks(range(len(x_levels)), [level_label(v) for v in x_levels])
    axes.set_xlabel(" & ".join(x_axis))
    axes.set_ylabel(style.metric_label(metric))
    legend_title = " & ".join(hue_keys) if hue_keys else None
    handles, labels = axes.get_legend_handles_labels()
    style.legend(axes, handles, labels, title=legend_title)
    title = f"{metric.replace('_', ' ')}: mean{_seed_note(frame, metric)}"
    if banded:
        title += f", band: {BANDS[band][2]}"
    if where:
        title += "\n" + ", ".join(f"{k}={style.format_value(v)}" for k, v in where.items())
    axes.set_title(title)
    return figure


# ---- heads and attention --------------------------------------------------------------------


def attention_mass_on(attention, key=0):
    """[L, H] mean attention weight that queries after `key` put on key position `key`.

    attention: [L, H, T, T] probabilities, index [l, h, q, k]. Query positions q <= key are
    left out (a causal query 0 attends only to itself, which says nothing about a sink).
    NaN-padded heads stay NaN.
    """
    attention = np.asarray(attention, dtype=float)
    if attention.ndim != 4 or attention.shape[2] <= key + 1:
        raise ValueError(f"attention_mass_on: expected [L, H, T, T] with T > {key + 1}, "
                         f"got shape {attention.shape}")
    return attention[:, :, key + 1 :, key].mean(axis=2)


@style.styled
def head_heatmap(values, title=None, label="value", value_format="{:.2f}",
                 vmin=None, vmax=None, cmap=style.SEQUENTIAL_CMAP):
    """(d) An [L, H] array (head importance, attention on a sink, ...) as a layer x head heatmap.

    Cells are annotated with value_format; NaN cells (heads a layer does not have) are grey and
    marked with a dash. label names the quantity and unit on the colour bar.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"head_heatmap: expected an [L, H] array, got shape {values.shape}")
    n_layers, n_heads = values.shape
    figure = Figure(
        figsize=(max(3.6, 1.9 + 0.75 * n_heads), max(3.0, 1.3 + 0.5 * n_layers)),
        layout="constrained",
    )
    axes = figure.subplots()
    colour_map = colormaps[cmap].copy()
    colour_map.set_bad(style.MISSING_COLOUR)
    image = axes.imshow(np.ma.masked_invalid(values), cmap=colour_map, aspect="auto",
                        vmin=vmin, vmax=vmax)
    texts = [[None if math.isnan(v) else value_format.format(v) for v in row] for row in values]
    _annotate_cells(axes, image, texts, "–")
    axes.set_xticks(range(n_heads), [str(h) for h in range(n_heads)])
    axes.set_yticks(range(n_layers), [str(l) for l in range(n_layers)])
    axes.set_xlabel("head")
    axes.set_ylabel("layer")
    axes.grid(False)
    figure.colorbar(image, ax=axes, label=label)
    axes.set_title(title or label)
    return figure


def _tick_positions(length, most=16):
    """At most `most` evenly spaced positions of 0..length-1 (always including 0)."""
    step = max(1, math.ceil(length / most))
    return list(range(0, length, step))


@style.styled
def attention_maps(attention, tokens=None, layers=None, heads=None, title=None, positions=None):
    """(e) Attention probabilities [L, H, T, T] as a grid: one row per layer, one column per head.

    Each panel has keys on x and queries on y (index [l, h, q, k]). The ticks show, in order of
    preference: positions ([T] role labels such as 'q1', 'a1', ..., 'q*', or the comma-separated
    /analysis/attention attribute `positions`; right for maps averaged over prompts), tokens ([T]
    ids of the first probe example, the attribute `tokens`), else position numbers. NaN-padded
    heads (layers with fewer heads) are left empty. layers/heads pick a subset (lists of indices).
    """
    attention = np.asarray(attention, dtype=float)
    if attention.ndim != 4 or attention.shape[2] != attention.shape[3]:
        raise ValueError(f"attention_maps: expected [L, H, T, T], got shape {attention.shape}")
    n_tokens = attention.shape[2]
    if isinstance(positions, str):
        positions = positions.split(",")
    if tokens is not None and len(tokens) != n_tokens:
        raise ValueError(f"attention_maps: {len(tokens)} tokens for T = {n_tokens}")
    if positions is not None and len(positions) != n_tokens:
        raise ValueError(f"attention_maps: {len(positions)} position labels for T = {n_tokens}")
    layers = list(range(attention.shape[0])) if layers is None else list(layers)
    heads = list(range(attention.shape[1])) if heads is None else list(heads)
    panel = 2.4 if n_tokens <= 24 else 3.0
    figure = Figure(
        figsize=(min(24.0, panel * len(heads) + 1.2), min(30.0, panel * len(layers) + 0.8)),
        layout="constrained",
    )
    grid = figure.subplots(len(layers), len(heads), squeeze=False)
    colour_map = colormaps[style.SEQUENTIAL_CMAP].copy()
    colour_map.set_bad(style.MISSING_COLOUR)
    present = ~np.all(np.isnan(attention[layers][:, heads]), axis=(2, 3))  # [rows, cols]
    ticks = _tick_positions(n_tokens)
    if positions is not None:
        tick_text, what = [str(positions[t]) for t in ticks], "position"
    elif tokens is not None:
        tick_text, what = [str(int(tokens[t])) for t in ticks], "token (first probe example)"
    else:
        tick_text, what = [str(t) for t in ticks], "position"
    # Panels are 2.4-3 inches wide: up to ~12 short labels fit upright at 8 pt.
    widest = max(len(text) for text in tick_text)
    tick_size = 8 if len(ticks) <= 12 else 7
    rotation = 0 if len(ticks) * max(widest, 2) <= 30 else 90
    image = None
    for row, layer in enumerate(layers):
        for col, head in enumerate(heads):
            axes = grid[row][col]
            axes.grid(False)
            if not present[row, col]:
                axes.set_axis_off()
                axes.text(0.5, 0.5, f"layer {layer}\nhas no head {head}", ha="center",
                          va="center", transform=axes.transAxes, color="0.4", fontsize=8)
                continue
            image = axes.imshow(attention[layer, head], cmap=colour_map, vmin=0.0, vmax=1.0,
                                interpolation="nearest")
            axes.set_title(f"layer {layer}, head {head}", fontsize=9)
            lowest = row == max(r for r in range(len(layers)) if present[r, col])
            axes.set_xticks(ticks, tick_text if lowest else [], fontsize=tick_size,
                            rotation=rotation)
            axes.set_yticks(ticks, tick_text if col == 0 else [], fontsize=tick_size)
            if lowest:
                axes.set_xlabel(f"key {what}")
            if col == 0:
                axes.set_ylabel(f"query {what}")
    if image is None:
        raise ValueError("attention_maps: every selected head is NaN")
    figure.colorbar(image, ax=grid, label="attention probability", shrink=0.8)
    figure.suptitle(title or "attention maps (rows: layers, columns: heads)")
    return figure


# ---- time series over snapshot steps ----------------------------------------------------------


def _check_steps(steps, length, name):
    """Steps as a float array of `length` entries, or 0..length-1 when None (snapshot indices)."""
    if steps is None:
        return np.arange(length, dtype=float), "snapshot"
    steps = np.asarray(steps, dtype=float)
    if steps.shape != (length,):
        raise ValueError(f"{name}: {steps.shape[0] if steps.ndim == 1 else steps.shape} steps for "
                         f"{length} entries on the step axis")
    return steps, style.step_label()


@style.styled
def series_lines(values, steps=None, title=None, label="value"):
    """(f) A time series of an analysis over snapshot steps (dims starting with `step`).

    values: [S] (dims `step`): one line; or [S, L, H] (dims `step,layer,head`): one panel per
    layer, one line per head (heads a layer lacks, NaN at every step, are not drawn). steps: the
    [S] steps (`/analysis/<name>/step`), or None for snapshot indices. Steps are log-scaled when
    they span more than two decades. label names the quantity (the y axis).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim not in (1, 3):
        raise ValueError(f"series_lines: expected [S] or [S, L, H], got shape {values.shape}")
    steps, xlabel = _check_steps(steps, values.shape[0], "series_lines")
    panels = values.reshape(values.shape[0], 1, 1) if values.ndim == 1 else values
    n_layers, n_heads = panels.shape[1], panels.shape[2]
    columns = min(n_layers, 4)
    rows = math.ceil(n_layers / columns)
    figure = Figure(figsize=(min(16.0, 1.0 + 3.6 * columns), 0.6 + 2.8 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    for index in range(rows * columns):
        axes = grid[index // columns][index % columns]
        if index >= n_layers:
            axes.set_axis_off()
            continue
        for head in range(n_heads):
            series = panels[:, index, head]
            if np.all(np.isnan(series)):
                continue
            axes.plot(steps, series, color=style.colour(head), marker=style.marker(head),
                      markersize=3, label=f"head {head}" if values.ndim == 3 else label)
        if _use_log_scale(steps):
            axes.set_xscale("log")
        if values.ndim == 3:
            axes.set_title(f"layer {index}", fontsize=9)
        if index + columns >= n_layers:  # the lowest panel of its column
            axes.set_xlabel(xlabel)
        axes.set_ylabel(label)
    if values.ndim == 3:  # one legend, in the panel with the most heads (colours match across panels)
        fullest = max((grid[i // columns][i % columns] for i in range(n_layers)),
                      key=lambda ax: len(ax.get_lines()))
        style.legend(fullest, *fullest.get_legend_handles_labels())
    text = title or (f"{label} per head over training" if values.ndim == 3 else f"{label} over training")
    if values.ndim == 3:
        figure.suptitle(text)
    else:
        grid[0][0].set_title(text)
    return figure


@style.styled
def step_heatmap(values, steps=None, axis="index", title=None, label="value",
                 cmap=style.SEQUENTIAL_CMAP, vmin=None, vmax=None):
    """(g) One vector per snapshot step, [S, N] (dims `step,<axis>`, e.g. `step,layer` or
    `step,stream`), as a heatmap: steps on x (equally spaced, labelled with their values), the
    vector's entries on y. NaN entries are grey. label names the quantity on the colour bar.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"step_heatmap: expected [S, N], got shape {values.shape}")
    steps, xlabel = _check_steps(steps, values.shape[0], "step_heatmap")
    n_steps, n_entries = values.shape
    figure = Figure(figsize=(min(14.0, max(4.2, 1.9 + 0.45 * n_steps)),
                             min(9.0, max(3.0, 1.4 + 0.4 * n_entries))), layout="constrained")
    axes = figure.subplots()
    colour_map = colormaps[cmap].copy()
    colour_map.set_bad(style.MISSING_COLOUR)
    image = axes.imshow(np.ma.masked_invalid(values.T), cmap=colour_map, aspect="auto",
                        vmin=vmin, vmax=vmax, interpolation="nearest")
    ticks = _tick_positions(n_steps)
    axes.set_xticks(ticks, [style.format_value(steps[t]) for t in ticks],
                    rotation=0 if n_steps <= 8 else 90)
    axes.set_yticks(range(n_entries), [str(i) for i in range(n_entries)])
    axes.set_xlabel(xlabel)
    axes.set_ylabel(axis)
    axes.grid(False)
    figure.colorbar(image, ax=axes, label=label)
    axes.set_title(title or f"{label} per {axis} over training")
    return figure
