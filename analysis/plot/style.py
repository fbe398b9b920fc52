"""Shared look of every attnsim figure: fonts, palette, axis labels with units, saving.

Every figure function in figures.py is wrapped in `styled`, so it draws with RC_PARAMS whatever
the caller's matplotlib settings are. Figures are built with `matplotlib.figure.Figure` directly
(no pyplot), so nothing needs a display and nothing stays alive in a global figure registry.

The palette is Okabe & Ito's (2008) eight colour-blind-safe colours; colour maps are viridis
(sequential, perceptually uniform, readable in grey scale).
"""

import functools
import os

import matplotlib

# Okabe-Ito, black last (it is used for reference lines such as chance level).
OKABE_ITO = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
]
LINESTYLES = ["-", "--", ":", "-."]
SEQUENTIAL_CMAP = "viridis"
MISSING_COLOUR = "#dddddd"  # cells or panels with no data (NaN)

RC_PARAMS = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 12,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "legend.frameon": False,
    "image.cmap": SEQUENTIAL_CMAP,
    "pdf.fonttype": 42,  # embed TrueType, so PDF text stays editable and searchable
}


def styled(function):
    """Decorator: run a figure function under RC_PARAMS (restored afterwards)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC_PARAMS):
            return function(*args, **kwargs)

    return wrapper


def colour(index):
    """The index-th palette colour (cycling)."""
    return OKABE_ITO[index % len(OKABE_ITO)]


MARKERS = ["o", "s", "^", "D", "v", "P"]


def marker(index):
    """Marker of the index-th series: changes each time the palette wraps around, so series
    beyond the eighth stay distinguishable."""
    return MARKERS[(index // len(OKABE_ITO)) % len(MARKERS)]


def crowded(labels):
    """True when a legend of these labels would cover too much of the axes."""
    return len(labels) > 6 or max((len(label) for label in labels), default=0) > 40


def legend(axes, handles, labels, title=None):
    """Legend inside the axes when small, to the right of them when it has many or long entries."""
    if not handles:
        return None
    if crowded(labels):
        return axes.legend(handles, labels, title=title, loc="upper left",
                           bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return axes.legend(handles, labels, title=title, loc="best")


# Units of the documented metrics (docs/results-format.md, /final and /curves).
_METRIC_UNITS = {
    "accuracy": "fraction correct",
    "loss": "per scored position",
    "mse": "squared error",
    "mse_last": "squared error",
    "mse_last_zero": "squared error",
    "mse_last_ratio": "× zero predictor",
}
_COLUMN_UNITS = {
    "steps_done": "optimizer steps",
    "target_step": "optimizer steps",
    "steps_to_target": "optimizer steps",
    "wall_seconds": "s",
    "n_runs": "runs",
    "n_params": "parameters",
}


def metric_label(name, metric=None):
    """Axis label with unit for a curve/metric column name such as `test_accuracy`.

    `metric` is the bare metric (`accuracy`) when the caller knows how the name splits into
    `<split>_<metric>`; otherwise the longest known metric suffix is used.
    """
    if name == "lr":
        return "learning rate"
    if name in _COLUMN_UNITS:
        return f"{name.replace('_', ' ')} ({_COLUMN_UNITS[name]})"
    if metric is None:
        candidates = [m for m in _METRIC_UNITS if name == m or name.endswith("_" + m)]
        metric = max(candidates, key=len) if candidates else None
    unit = _METRIC_UNITS.get(metric) if metric else None
    text = name.replace("_", " ")
    return f"{text} ({unit})" if unit else text


def step_label():
    """Label of a training-step axis."""
    return "step (optimizer steps)"


def format_value(value):
    """Short text for an option value: 2.0 -> '2', 0.001 -> '0.001', 'none' -> 'none'."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != number:
        return "NaN"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.6g}"


def format_number(value):
    """Table text for a measured number: 6 significant digits (what report tables use)."""
    if value is None:
        return ""
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return str(value)
    number = float(value)
    if number != number:
        return "NaN"
    return f"{number:.6g}"


def save(figure, out_dir, stem, formats, dpi):
    """Write `figure` as DIR/STEM.<fmt> for each format; returns the written paths."""
    paths = []
    for fmt in formats:
        path = os.path.join(out_dir, f"{stem}.{fmt}")
        figure.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths
