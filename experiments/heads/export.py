#!/usr/bin/python3
"""Helpers of experiments/heads/run around run files (docs/results-format.md).

  export.py RUN.h5 OUT.h5      copy a finished run without its parameters (/params, /snapshots): its
                               config, curves, final metrics and analyses, a few hundred KB, which is
                               what the study commits under results/ (written to a temporary name
                               and renamed, so OUT.h5 is whole or absent)
  export.py --prune-mask RUN   print the pruned model's model.head_mask (icl_risk/prune), or none
  export.py --status RUN       print the run's status (complete, interrupted, ...)
  export.py --config RUN       print the run's resolved configuration (INI), to start a run from it
"""
import os
import sys

import h5py

SKIP = {"params", "snapshots"}


def export(src, dst):
    with h5py.File(src, "r") as f:
        status = f.attrs.get("status", "")
        status = status.decode() if isinstance(status, bytes) else str(status)
    if status != "complete":
        # An interrupted run file is a progress report, not a result: never commit it.
        sys.exit(f"error: {src} is not complete (status '{status}'); resume it first (rerun its sweep)")
    tmp = f"{dst}.tmp-{os.getpid()}"
    with h5py.File(src, "r") as fin, h5py.File(tmp, "w") as fout:
        for key, value in fin.attrs.items():
            fout.attrs[key] = value
        for name in fin:
            if name not in SKIP:
                fin.copy(fin[name], fout, name=name)
    os.replace(tmp, dst)


def prune_mask(path):
    with h5py.File(path, "r") as f:
        d = f.get("analysis/icl_risk/prune/risk_by_n")
        if d is None:
            sys.exit(f"error: {path} has no /analysis/icl_risk (run sim analyze with --analysis.icl_risk=true)")
        mask = d.attrs.get("head_mask", "none")
    return mask.decode() if isinstance(mask, bytes) else str(mask)


def main(argv):
    if len(argv) == 3 and argv[1] == "--prune-mask":
        print(prune_mask(argv[2]))
    elif len(argv) == 3 and argv[1] == "--status":
        with h5py.File(argv[2], "r") as f:
            status = f.attrs.get("status", "")
        print(status.decode() if isinstance(status, bytes) else str(status))
    elif len(argv) == 3 and argv[1] == "--config":
        with h5py.File(argv[2], "r") as f:
            text = f.attrs["config"]
        print(text.decode() if isinstance(text, bytes) else str(text))
    elif len(argv) == 3 and not argv[1].startswith("-"):
        export(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
