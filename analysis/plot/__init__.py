"""attnsim plotting pipeline: figures and a markdown report from run files and sweep summaries.

    cd /work/main && /usr/bin/python3 -m analysis.plot runs/s/summary.h5 runs/s/run-*.h5 --out fig

Modules: load (read the documented HDF5 formats), figures (one function per figure kind, each
returning a matplotlib Figure), style (fonts, palette, labels, saving), report (tables and
report.md), cli (the command). See docs/plotting.md.
"""

from .figures import (attention_maps, attention_mass_on, curve_families, curves, head_heatmap,
                      heatmap, metric_lines, series_lines, step_heatmap)
from .load import InputError, load_result, load_run, load_summary

__all__ = [
    "InputError", "load_result", "load_run", "load_summary",
    "curves", "curve_families", "heatmap", "metric_lines", "head_heatmap", "attention_maps",
    "attention_mass_on", "series_lines", "step_heatmap",
]
