"""Read attnsim result files into plain Python objects (numpy arrays, dicts, pandas DataFrames).

Only what docs/results-format.md and docs/sweeps.md document is read:

- a run file (`sim train`, root attribute `format = attnsim.run`): `load_run(path)`;
- a sweep summary (`sim collect`, `format = attnsim.summary`): `load_summary(path)`;
- either, chosen by that attribute: `load_result(path)`.

Problems with an input raise `InputError`, whose message names the file and what is missing or
wrong, e.g. `runs/x.h5: not an attnsim result file: root attribute 'format' is missing`.

Example (a notebook):

    from analysis.plot import load_run, load_summary
    run = load_run("runs/mqar.h5")
    run["curves"]["step"], run["curves"]["test_accuracy"]   # 1-D numpy arrays
    run["final"]["test"]["accuracy"]                         # float
    run["config"]["model.layers"]                            # '2' (the resolved INI, flattened)
    wq = run["params"]["blocks.0.attn.wq"]                   # read on access: [D_in, D_out]
    summary = load_summary("runs/s/summary.h5")
    summary["aggregate"]                                     # DataFrame, one row per configuration
    summary["axes"]                                          # [('model.layers',), ('task.pairs',)]
"""

import collections.abc
import configparser
import os

import h5py
import numpy as np
import pandas as pd

RUN_FORMAT = "attnsim.run"
SUMMARY_FORMAT = "attnsim.summary"
FORMAT_VERSION = 1  # the newest format_version this reader understands

# Root attributes of a run file this package relies on (all are documented as always present).
REQUIRED_RUN_ATTRS = ("format", "format_version", "status", "seed", "config", "steps_done")
# Options that never distinguish conditions in labels: replicates, and settings that leave the
# training result unchanged (the thread count; the analyses run after training).
SEED_OPTIONS = ("train.seed",)
NEUTRAL_OPTIONS = ("train.threads", "analysis.attention", "analysis.probe")


class InputError(Exception):
    """An input file is missing, not an attnsim result, or lacks a documented item."""


def _plain(value):
    """An HDF5 attribute or scalar as a plain Python value (str, int, float) or numpy array."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return np.array([_plain(v) for v in value.ravel()], dtype=object).reshape(value.shape)
    return value


def _open(path):
    """Open `path` read-only, turning the usual failures into InputError."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected an HDF5 result file")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise InputError(f"{path}: not an HDF5 file ({error})") from None


def _check_format(path, handle, expected=None):
    """Return the file's `format`; raise InputError if absent, unknown, unexpected or too new."""
    if "format" not in handle.attrs:
        raise InputError(
            f"{path}: not an attnsim result file: root attribute 'format' is missing "
            f"(expected '{RUN_FORMAT}' or '{SUMMARY_FORMAT}')"
        )
    fmt = _plain(handle.attrs["format"])
    known = (RUN_FORMAT, SUMMARY_FORMAT)
    if fmt not in known:
        raise InputError(
            f"{path}: not an attnsim result file: root attribute 'format' is '{fmt}' "
            f"(expected '{RUN_FORMAT}' or '{SUMMARY_FORMAT}')"
        )
    if expected is not None and fmt != expected:
        raise InputError(f"{path}: format is '{fmt}', expected '{expected}'")
    if "format_version" not in handle.attrs:
        raise InputError(f"{path}: root attribute 'format_version' is missing")
    version = int(_plain(handle.attrs["format_version"]))
    if version > FORMAT_VERSION:
        raise InputError(
            f"{path}: format_version {version} is newer than this reader understands "
            f"({FORMAT_VERSION}); update analysis/plot"
        )
    return fmt


def file_format(path):
    """The `format` root attribute of an attnsim result (`attnsim.run` or `attnsim.summary`)."""
    with _open(path) as handle:
        return _check_format(path, handle)


def parse_config(text):
    """Flatten a resolved INI text (the run's `config` attribute) to {'section.key': 'value'}."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keep keys' case
    parser.read_string(text)
    return {
        f"{section}.{key}": value
        for section in parser.sections()
        for key, value in parser.items(section)
    }


class LazyParams(collections.abc.Mapping):
    """Read-on-access view of a run's /params: name -> float32 numpy array.

    Keys are known at load time; each access reopens the file, so holding a loaded run costs no
    memory for its parameters. `dict(run["params"])` reads them all.
    """

    def __init__(self, path, names):
        self._path = path
        self._names = list(names)

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        with _open(self._path) as handle:
            return handle["params"][name][()]

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __repr__(self):
        return f"LazyParams({self._path!r}, {len(self._names)} parameters)"


def _read_analysis(group):
    """Datasets under /analysis, nested groups included: ({relative path: value}, {path: attrs})."""
    values, attrs = {}, {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            values[name] = _plain(data) if np.ndim(data) == 0 else data
            attrs[name] = {key: _plain(val) for key, val in obj.attrs.items()}

    group.visititems(visit)
    return values, attrs


def load_run(path):
    """Load one `sim train` run file (docs/results-format.md).

    Returns a dict:
      path, name      the path as given, and the file name without `.h5`
      attrs           every root attribute as a plain value (status, seed, steps_done, ...)
      config_text     the resolved INI text; `config` is it flattened to {'section.key': str}
      curves          {'step': array, 'train_loss': array, 'test_accuracy': array, ...} (float64)
      final           {split: {metric: float}}, e.g. final['test']['accuracy']
      params          LazyParams: name -> numpy array, read from the file on access
      analysis        {name: array or float} for every dataset under /analysis ({} if none),
                      named by its path below /analysis ('attention', 'mech/<name>');
                      analysis_attrs holds their attributes ({'attention': {'tokens': ...}})
    Raises InputError for a missing file, a foreign HDF5 file or a missing documented item.
    """
    with _open(path) as handle:
        _check_format(path, handle, RUN_FORMAT)
        attrs = {key: _plain(value) for key, value in handle.attrs.items()}
        for name in REQUIRED_RUN_ATTRS:
            if name not in attrs:
                raise InputError(f"{path}: root attribute '{name}' is missing")
        for group in ("curves", "final"):
            if group not in handle:
                raise InputError(f"{path}: dataset group '/{group}' is missing")
        if "step" not in handle["curves"]:
            raise InputError(f"{path}: dataset '/curves/step' is missing")

        curves = {}
        for name, dataset in handle["curves"].items():
            curves[name] = np.asarray(dataset[()], dtype=np.float64)
        n_points = len(curves["step"])
        for name, values in curves.items():
            if values.shape != (n_points,):
                raise InputError(
                    f"{path}: dataset '/curves/{name}' has shape {values.shape}, expected "
                    f"({n_points},) like '/curves/step'"
                )

        final = {}
        for split, group in handle["final"].items():
            if isinstance(group, h5py.Group):
                final[split] = {metric: float(group[metric][()]) for metric in group}

        param_names = list(handle["params"]) if "params" in handle else []
        analysis, analysis_attrs = ({}, {})
        if "analysis" in handle:
            analysis, analysis_attrs = _read_analysis(handle["analysis"])

    config_text = attrs["config"]
    return {
        "path": path,
        "name": os.path.basename(path)[:-3] if path.endswith(".h5") else os.path.basename(path),
        "format": RUN_FORMAT,
        "attrs": attrs,
        "config_text": config_text,
        "config": parse_config(config_text),
        "curves": curves,
        "final": final,
        "params": LazyParams(path, param_names),
        "analysis": analysis,
        "analysis_attrs": analysis_attrs,
    }


def _column_names(path, group, group_name):
    """The ordered column list of a summary group (attribute `columns`)."""
    if "columns" not in group.attrs:
        raise InputError(f"{path}: attribute 'columns' of group '/{group_name}' is missing")
    columns = _plain(group.attrs["columns"])
    if isinstance(columns, str):
        columns = [name for name in columns.split(",") if name]
    else:
        columns = [str(name) for name in np.ravel(columns)]
    return columns


def _read_table(path, handle, group_name, required):
    """One summary group as a DataFrame, columns in the documented order, strings decoded."""
    if group_name not in handle:
        raise InputError(f"{path}: dataset group '/{group_name}' is missing")
    group = handle[group_name]
    columns = _column_names(path, group, group_name)
    data = {}
    for name in columns:
        if name not in group:
            raise InputError(f"{path}: dataset '/{group_name}/{name}' is missing")
        dataset = group[name]
        if h5py.check_string_dtype(dataset.dtype) is not None:
            data[name] = dataset.asstr()[()].astype(object)
        else:
            data[name] = dataset[()]
    for name in required:
        if name not in data:
            raise InputError(f"{path}: dataset '/{group_name}/{name}' is missing")
    lengths = {len(values) for values in data.values()}
    if len(lengths) > 1:
        raise InputError(f"{path}: the columns of '/{group_name}' differ in length")
    return pd.DataFrame(data, columns=columns), columns


def swept_axes(frame, keys):
    """Group swept option keys into axes: options zipped in the sweep (`a & b = ...`) move together.

    Two keys share an axis when their values pair one-to-one across the rows; keys with a single
    value are left out (they do not vary). Returns a list of tuples of keys, in sweep order.
    """
    axes = []
    for key in keys:
        if frame[key].nunique(dropna=False) < 2:
            continue
        for index, axis in enumerate(axes):
            lead = axis[0]
            pairs = frame[[lead, key]].drop_duplicates()
            if len(pairs) == frame[lead].nunique(dropna=False) == frame[key].nunique(dropna=False):
                axes[index] = axis + (key,)
                break
        else:
            axes.append((key,))
    return axes


def load_summary(path):
    """Load one `sim collect` summary (docs/sweeps.md, format attnsim.summary).

    Returns a dict:
      path, name     the path as given, and the file name without `.h5`
      attrs          root attributes as plain values
      runs           DataFrame of /runs (one row per run; strings decoded to str)
      aggregate      DataFrame of /aggregate (one row per configuration of non-seed options)
      swept          swept options (the /runs columns between `index` and `status`)
      group_keys     the options /aggregate groups by (its columns before `n_runs`)
      seed_keys      swept options aggregated over (swept minus group_keys)
      axes           group keys as plotting axes: tuples, zipped options together, constants dropped
      metrics        metric names with aggregates (`test_accuracy`, ...), in file order
    Raises InputError for a missing file, a foreign HDF5 file or a missing documented item.
    """
    with _open(path) as handle:
        _check_format(path, handle, SUMMARY_FORMAT)
        attrs = {key: _plain(value) for key, value in handle.attrs.items()}
        runs, run_columns = _read_table(path, handle, "runs", ("index", "status"))
        aggregate, agg_columns = _read_table(path, handle, "aggregate", ("n_runs",))

    start, stop = run_columns.index("index"), run_columns.index("status")
    swept = run_columns[start + 1 : stop]
    group_keys = agg_columns[: agg_columns.index("n_runs")]
    metrics = [c[: -len("_mean")] for c in agg_columns if c.endswith("_mean")]
    return {
        "path": path,
        "name": os.path.basename(path)[:-3] if path.endswith(".h5") else os.path.basename(path),
        "format": SUMMARY_FORMAT,
        "attrs": attrs,
        "runs": runs,
        "aggregate": aggregate,
        "swept": swept,
        "group_keys": group_keys,
        "seed_keys": [key for key in swept if key not in group_keys],
        "axes": swept_axes(aggregate, group_keys),
        "metrics": metrics,
    }


def load_result(path):
    """Load a run file or a summary, whichever the root attribute `format` says it is."""
    fmt = file_format(path)
    return load_run(path) if fmt == RUN_FORMAT else load_summary(path)
