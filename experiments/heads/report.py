#!/usr/bin/python3
"""The heads study's report: every P2 criterion of ../shared/specs/heads.md §9 as PASS / FAIL / not
converged / NOT RUN with its measured values and seeds, the risk table, and figures.

Usage: experiments/heads/report.py RESULTS_DIR [--out report.md] [--figures DIR] [--quick]
RESULTS_DIR holds main/*.h5 (the grid's runs without parameters), finetune/*.h5 (the pruned models
fine-tuned with their heads at zero, same file names) and baselines/sigma<σ>.h5 (the classical
baselines). It reads only the documented result formats (docs/results-format.md): /analysis/icl_risk,
/analysis/icl_probe, /analysis/head_grad_importance, /analysis/baselines and the config attribute.
Layer numbers in the report are the spec's (layer 1 = block 0).
"""
import argparse
import glob
import math
import os

import h5py
import numpy as np


# ---- loading ------------------------------------------------------------------------------------

def parse_config(text):
    section, values = "", {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line and not line.startswith(("#", ";")):
            key, value = (part.strip() for part in line.split("=", 1))
            values[f"{section}.{key}"] = value
    return values


def read_group(group):
    """Every dataset below `group` as {relative path: array}, with each dataset's attributes."""
    out, attrs = {}, {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]
            attrs[name] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in obj.attrs.items()}
    group.visititems(visit)
    return out, attrs


def final(values, attrs):
    """The final parameters' entry of a time series (leading step axis), or the array itself."""
    dims = str(attrs.get("dims", ""))
    return values[-1] if dims == "step" or dims.startswith("step,") else values


def load_run(path):
    with h5py.File(path, "r") as f:
        text = f.attrs["config"]
        config = parse_config(text.decode() if isinstance(text, bytes) else str(text))
        run = {"file": os.path.basename(path), "config": config, "analysis": {}, "series": {}, "attrs": {}}
        if "analysis" in f:
            data, attrs = read_group(f["analysis"])
            for name, values in data.items():
                run["analysis"][name] = np.asarray(final(values, attrs[name]), dtype=float)
                run["series"][name] = (np.asarray(values, dtype=float), attrs[name])
                run["attrs"][name] = attrs[name]
        run["curves"] = {k: f["curves"][k][()] for k in f["curves"]} if "curves" in f else {}
    heads = [int(h) for h in config["model.heads"].split(",")]
    run["heads"] = max(heads)
    run["seed"] = int(config.get("train.seed", "0"))
    run["noise"] = float(config.get("task.noise", "0.1"))
    run["steps"] = int(config.get("train.steps", "0"))
    run["d"] = int(config.get("task.d", "8"))
    run["s"] = int(config.get("task.s", "2"))
    run["n_max"] = int(config.get("task.points", "16"))
    return run


def load_results(results):
    main = [load_run(p) for p in sorted(glob.glob(os.path.join(results, "main", "*.h5")))]
    finetune = {os.path.basename(p): load_run(p) for p in sorted(glob.glob(os.path.join(results, "finetune", "*.h5")))}
    baselines = {}
    for p in sorted(glob.glob(os.path.join(results, "baselines", "sigma*.h5"))):
        run = load_run(p)
        baselines[run["noise"]] = {k[len("baselines/"):]: v for k, v in run["analysis"].items()
                                   if k.startswith("baselines/")}
    return main, finetune, baselines


# ---- measures -----------------------------------------------------------------------------------

def window(run):
    d, n_max = run["d"], run["n_max"]
    return min(d // 2, n_max), min(d, n_max)


def wmean(risk_by_n, w):
    return float(np.mean(risk_by_n[w[0]:w[1] + 1]))


def baseline_curves(base, prefix):
    """{name: risk_by_n} of the baselines whose name starts with prefix (ridge, gd/T2, ...)."""
    return {k[:-len("/risk_by_n")]: v for k, v in base.items()
            if k.endswith("/risk_by_n") and k.startswith(prefix)}


def best_window(base, prefix, w, exclude=()):
    curves = {k: v for k, v in baseline_curves(base, prefix).items() if k not in exclude}
    if not curves:
        return math.nan, None
    name = min(curves, key=lambda k: wmean(curves[k], w))
    return wmean(curves[name], w), name


def median(values):
    values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return float(np.median(values)) if values else math.nan


def fmt(x, digits=3):
    if isinstance(x, (int, np.integer)):
        return str(x)
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.{digits}f}"


def verdict(ok):
    return "PASS" if ok else "FAIL"


def convergence(run, baselines):
    """Risk at n = n_max (2d) over the best ridge at σ = 0.1 (spec §9: passes at ≤ 2)."""
    ridge = baseline_curves(baselines.get(0.1, {}), "ridge").get("ridge")
    risk = run["analysis"].get("icl_risk/risk_by_n")
    if ridge is None or risk is None:
        return math.nan
    n = min(2 * run["d"], run["n_max"])
    return float(risk[n] / ridge[n])


# ---- criteria -----------------------------------------------------------------------------------

def criteria(main, finetune, baselines):
    rows = []  # (id, verdict, measured, note)
    by_h = {}
    for run in main:
        if run["noise"] == 0.1 and "icl_risk/window_risk" in run["analysis"]:
            by_h.setdefault(run["heads"], []).append(run)
    for runs in by_h.values():
        runs.sort(key=lambda r: r["seed"])
    conv = {(r["heads"], r["seed"]): convergence(r, baselines) for rs in by_h.values() for r in rs}
    converged = {k: (not math.isnan(v)) and v <= 2 for k, v in conv.items()}
    multi = max((h for h in by_h if h > 1), default=None)
    single = by_h.get(1, [])

    def seeds(runs):
        return ",".join(str(r["seed"]) for r in runs)

    # P2-heads
    if multi and single:
        wm = median([r["analysis"]["icl_risk/window_risk"] for r in by_h[multi]])
        w1 = median([r["analysis"]["icl_risk/window_risk"] for r in single])
        rows.append(("P2-heads", verdict(wm <= 0.8 * w1),
                     f"window risk h={multi}: {fmt(wm)}, h=1: {fmt(w1)}, ratio {fmt(wm / w1)} (≤ 0.8)",
                     f"medians over seeds {seeds(by_h[multi])} / {seeds(single)}"))
    else:
        rows.append(("P2-heads", "NOT RUN", "needs h=1 and h>1 runs at σ=0.1", ""))

    # Head criteria: converged multi-head runs only.
    conv_runs = [r for r in by_h.get(multi, []) if converged[(r["heads"], r["seed"])]] if multi else []
    head_note = (f"{len(conv_runs)} of {len(by_h.get(multi, []))} h={multi} runs pass the convergence check "
                 f"(risk at n=2d / ridge: {', '.join(fmt(conv[(multi, r['seed'])]) for r in by_h.get(multi, []))})"
                 if multi else "")

    def head_rows(runs, status=None):
        out = []
        h = multi
        counts = [int(np.sum(r["analysis"]["icl_risk/share"][0, :h] >= 0.10)) for r in runs]
        raises = [r["analysis"]["icl_risk/top1_first_layer_raise"] for r in runs]
        ent = np.array([r["analysis"]["icl_risk/share_entropy"] for r in runs])
        ent_med = np.median(ent, axis=0) if len(runs) else np.array([])
        need = math.ceil(h / 2)
        ok = (median(counts) >= need and median(raises) >= 0.25 and
              all(ent_med[0] > e for e in ent_med[1:]))
        out.append(("P2-L1-multi", status or verdict(ok),
                    f"layer-1 heads with Î ≥ 0.10: {counts} (median {fmt(median(counts))}, need ≥ {need}); "
                    f"top-head mask raise {[fmt(x) for x in raises]} (median {fmt(median(raises))}, need ≥ 0.25); "
                    f"median entropy by layer {[fmt(x) for x in ent_med]} (layer 1 must be highest)",
                    f"seeds {seeds(runs)}"))
        top = np.array([r["analysis"]["icl_risk/top1_share"] for r in runs])
        layers = top.shape[1] if top.size else 0
        per_layer = [int(np.sum(top[:, l] >= 0.6)) for l in range(1, layers)]
        ok = all(c >= 2 for c in per_layer) if per_layer else False
        out.append(("P2-later-single", status or verdict(ok),
                    "top-1 Î by layer (rows: seeds): " + "; ".join(
                        "[" + ", ".join(fmt(x) for x in row[1:]) + "]" for row in top) +
                    f"; seeds with ≥ 0.6 per later layer: {per_layer} (need ≥ 2 each)", f"seeds {seeds(runs)}"))
        lo = run_s = None
        ratios, reverse, ft_ratios = [], [], []
        for r in runs:
            full = r["analysis"]["icl_risk/risk_by_n"]
            prune = r["analysis"]["icl_risk/prune/risk_by_n"]
            lo, hi = r["s"] + 1, r["n_max"]
            ratios.append(float(np.max(prune[lo:hi + 1] / full[lo:hi + 1])))
            w = window(r)
            reverse.append(wmean(r["analysis"]["icl_risk/prune_reverse/risk_by_n"], w) / wmean(full, w))
            ft = finetune.get(r["file"])
            if ft is not None and "icl_risk/risk_by_n" in ft["analysis"]:
                ft_ratios.append(float(np.max(ft["analysis"]["icl_risk/risk_by_n"][lo:hi + 1] / full[lo:hi + 1])))
            run_s = r
        ok = median(ratios) <= 1.15 and median(reverse) >= 1.5
        ft_text = (f"; fine-tuned pruned max ratio {[fmt(x) for x in ft_ratios]} (median {fmt(median(ft_ratios))}, "
                   f"{'within' if median(ft_ratios) <= 1.15 else 'above'} 1.15)" if ft_ratios else
                   "; fine-tuned pruned model: not run")
        out.append(("P2-prune", status or verdict(ok),
                    f"pruned/full max over n ∈ [s+1, n_max]: {[fmt(x) for x in ratios]} (median {fmt(median(ratios))}, "
                    f"≤ 1.15); reverse/full over W: {[fmt(x) for x in reverse]} (median {fmt(median(reverse))}, ≥ 1.5)"
                    + ft_text, f"seeds {seeds(runs)}"))
        del lo, run_s
        # P2-probe (layer 1 = stream 1: after block 0)
        # The preprocessed quantity: r̂ or r̂ ⊙ x (spec §5.3), whichever the full models' layer 1 reads better.
        target = "rhat_r2"
        if runs and all("icl_probe/rhat_x_r2" in r["analysis"] for r in runs) and all(
                "icl_probe/rhat_r2" in r["analysis"] for r in runs):
            if median([r["analysis"]["icl_probe/rhat_x_r2"][1] for r in runs]) > median(
                    [r["analysis"]["icl_probe/rhat_r2"][1] for r in runs]):
                target = "rhat_x_r2"
        p_full = [r["analysis"].get(f"icl_probe/{target}") for r in runs]
        p_prune = [r["analysis"].get(f"icl_probe/prune/{target}") for r in runs]
        p_single = [r["analysis"].get(f"icl_probe/{target}") for r in single]
        if all(x is not None for x in p_full + p_prune) and p_full and p_single and p_single[0] is not None:
            full1 = median([x[1] for x in p_full])
            prune1 = median([x[1] for x in p_prune])
            single1 = median([x[1] for x in p_single])
            yr_full = np.median([r["analysis"]["icl_probe/y_risk"] for r in runs], axis=0)
            yr_prune = np.median([r["analysis"]["icl_probe/prune/y_risk"] for r in runs], axis=0)
            later_ok = all(np.all(np.diff(y[2:]) <= 1e-12) for y in (yr_full, yr_prune))
            ok = abs(prune1 - full1) <= 0.1 * abs(full1) and single1 <= 0.8 * full1 and later_ok
            out.append(("P2-probe", status or verdict(ok),
                        f"layer-1 R² for {'r̂ ⊙ x' if target == 'rhat_x_r2' else 'r̂'}: full {fmt(full1)}, pruned {fmt(prune1)} (within 10%), h=1 {fmt(single1)} "
                        f"(≤ 0.8 × full); y-probe risk by stream full {[fmt(x) for x in yr_full]}, pruned "
                        f"{[fmt(x) for x in yr_prune]} (non-increasing from layer 2 to L)",
                        f"medians, seeds {seeds(runs)} / {seeds(single)}"))
        else:
            out.append(("P2-probe", "NOT RUN", "needs icl_probe on the h>1 and h=1 runs", ""))
        return out

    if multi and conv_runs:
        rows += head_rows(conv_runs)
    elif multi:
        for row in head_rows(by_h[multi], status="not converged"):
            rows.append((row[0], "not converged", row[2], head_note))
    else:
        rows += [(c, "NOT RUN", "needs h>1 runs", "") for c in ("P2-L1-multi", "P2-later-single", "P2-prune",
                                                                 "P2-probe")]

    # P2-vs-GD-ridge
    base = baselines.get(0.1)
    if multi and base:
        w = window(by_h[multi][0])
        tm = median([r["analysis"]["icl_risk/window_risk"] for r in by_h[multi]])
        ridge, _ = best_window(base, "ridge", w)
        gd, gd_name = best_window(base, "gd", w)
        lasso, _ = best_window(base, "lasso", w)
        rows.append(("P2-vs-GD-ridge", verdict(tm <= 0.8 * min(ridge, gd)),
                     f"window risk transformer h={multi} {fmt(tm)}; ridge {fmt(ridge)}, best GD ({gd_name}) {fmt(gd)}, "
                     f"target ≤ {fmt(0.8 * min(ridge, gd))}; lasso {fmt(lasso)}", f"median, seeds {seeds(by_h[multi])}"))
    else:
        rows.append(("P2-vs-GD-ridge", "NOT RUN", "needs the grid and the σ=0.1 baselines", ""))

    # P2-PtO (no model)
    if 0.1 in baselines and 0.5 in baselines:
        w = (4, 8)
        parts, ok = [], True
        b1, b5 = baselines[0.1], baselines[0.5]
        ts = sorted({int(k.split("/T")[1].split("/")[0]) for k in b1 if k.startswith("pto_") and "/T" in k})
        for t in ts:
            pto = min(wmean(v, w) for k, v in baseline_curves(b1, "pto_").items() if k.endswith(f"/T{t}"))
            gd_t = baseline_curves(b1, f"gd/T{t}").get(f"gd/T{t}")
            gd_w = wmean(gd_t, w) if gd_t is not None else math.nan
            ok = ok and pto < gd_w
            parts.append(f"T={t}: PtO {fmt(pto)} vs GD {fmt(gd_w)}")
            if t >= 10:
                ridge1, _ = best_window(b1, "ridge", w)
                ok = ok and pto < ridge1
                parts.append(f"T={t} vs ridge (σ=0.1, W): {fmt(pto)} vs {fmt(ridge1)}")
                ridge5 = baseline_curves(b5, "ridge")["ridge"][16]
                pto5 = min(v[16] for k, v in baseline_curves(b5, "pto_").items() if k.endswith(f"/T{t}"))
                ok = ok and pto5 <= 0.8 * ridge5
                parts.append(f"T={t} at n=16, σ=0.5: {fmt(pto5)} vs 0.8 × ridge {fmt(0.8 * ridge5)}")
        rows.append(("P2-PtO", verdict(ok) if ts else "NOT RUN", "; ".join(parts) or "no PtO baselines",
                     "best of pto_diag/pto_shift per T; W = {4..8}"))
    else:
        rows.append(("P2-PtO", "NOT RUN", "needs baselines at σ = 0.1 and 0.5", ""))
    rows.append(("P2-theory-variant", "NOT RUN", "optional; the theory-variant sweep (theory.ini) has no results yet",
                 ""))
    return rows, conv, by_h


# ---- figures ------------------------------------------------------------------------------------

def figures(main, finetune, baselines, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(out, exist_ok=True)
    made = []
    runs = [r for r in main if "icl_risk/risk_by_n" in r["analysis"] and r["noise"] == 0.1]
    if not runs:
        return made
    # Risk vs n: the model per h (median over seeds), its pruned forms, and every baseline.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for h in sorted({r["heads"] for r in runs}):
        hr = [r for r in runs if r["heads"] == h]
        n = np.arange(len(hr[0]["analysis"]["icl_risk/risk_by_n"]))
        ax.plot(n, np.median([r["analysis"]["icl_risk/risk_by_n"] for r in hr], axis=0), "o-", label=f"model h={h}")
        if h > 1:
            ax.plot(n, np.median([r["analysis"]["icl_risk/prune/risk_by_n"] for r in hr], axis=0), "s--",
                    label=f"pruned h={h}")
            ax.plot(n, np.median([r["analysis"]["icl_risk/prune_reverse/risk_by_n"] for r in hr], axis=0), "^:",
                    label=f"reverse prune h={h}")
            ft = [finetune[r["file"]]["analysis"]["icl_risk/risk_by_n"] for r in hr if r["file"] in finetune]
            if ft:
                ax.plot(n, np.median(ft, axis=0), "d-.", label=f"pruned + fine-tune h={h}")
    for name, curve in sorted(baseline_curves(baselines.get(0.1, {}), "").items()):
        if name == "ols":
            continue
        ax.plot(np.arange(len(curve)), curve, lw=1, alpha=0.6, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("in-context examples n")
    ax.set_ylabel("excess risk / s")
    ax.set_title("Sparse linear regression, d=8, s=2, σ=0.1")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path = os.path.join(out, "risk_by_n.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    made.append(path)
    # Heatmaps of masking shares and gradient importance, per multi-head run.
    for r in runs:
        if r["heads"] == 1:
            continue
        keys = [("icl_risk/share", "masking share Î"),
                ("head_grad_importance/importance_normalized", "gradient importance (normalized)")]
        keys = [k for k in keys if k[0] in r["analysis"]]
        fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3))
        for ax, (key, title) in zip(np.atleast_1d(axes), keys):
            m = r["analysis"][key]
            im = ax.imshow(m, cmap="viridis", aspect="auto")
            ax.set_yticks(range(m.shape[0]), [f"layer {l + 1}" for l in range(m.shape[0])])
            ax.set_xlabel("head")
            ax.set_title(title, fontsize=9)
            fig.colorbar(im, ax=ax)
        fig.suptitle(f"h={r['heads']}, seed {r['seed']}")
        fig.tight_layout()
        path = os.path.join(out, f"heads_h{r['heads']}_seed{r['seed']}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        made.append(path)
        # Î per head over training steps.
        series, attrs = r["series"].get("icl_risk/share", (None, {}))
        if series is not None and series.ndim == 3:
            steps = np.asarray(attrs.get("step", np.arange(series.shape[0])))
            fig, axes = plt.subplots(1, series.shape[1], figsize=(4 * series.shape[1], 3), sharey=True)
            for l, ax in enumerate(np.atleast_1d(axes)):
                for h in range(series.shape[2]):
                    ax.plot(steps, series[:, l, h], "o-", ms=3, label=f"head {h}")
                ax.set_title(f"layer {l + 1}")
                ax.set_xlabel("step")
            np.atleast_1d(axes)[0].set_ylabel("Î")
            np.atleast_1d(axes)[-1].legend(fontsize=6)
            fig.tight_layout()
            path = os.path.join(out, f"share_over_steps_h{r['heads']}_seed{r['seed']}.png")
            fig.savefig(path, dpi=120)
            plt.close(fig)
            made.append(path)
    # Probe curves by layer.
    probe = [r for r in runs if "icl_probe/rhat_r2" in r["analysis"]]
    if probe:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for r in probe:
            label = f"h={r['heads']} s{r['seed']}"
            axes[0].plot(r["analysis"]["icl_probe/rhat_r2"], "o-", label=label)
            axes[1].plot(r["analysis"]["icl_probe/y_risk"], "o-", label=label)
        axes[0].set_title("probe R² for r̂")
        axes[1].set_title("probe risk for y")
        for ax in axes:
            ax.set_xlabel("stream (0 = embedding, l = after layer l)")
        axes[1].legend(fontsize=6)
        fig.tight_layout()
        path = os.path.join(out, "probes.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        made.append(path)
    return made


# ---- report -------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--out", default=None)
    parser.add_argument("--figures", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    out = args.out or os.path.join(args.results, "report.md")
    main_runs, finetune, baselines = load_results(args.results)
    rows, conv, by_h = criteria(main_runs, finetune, baselines)
    lines = ["# Heads study: report", ""]
    if args.quick:
        lines += ["**--quick: a harness check (one seed, 3000 steps). These verdicts are not the study's.**", ""]
    lines += [f"Results: `{args.results}` ({len(main_runs)} runs, {len(finetune)} fine-tuned, "
              f"baselines at σ = {sorted(baselines)}).", "",
              "| criterion | verdict | measured | runs |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", "## Runs", "", "| h | seed | steps | window risk W | risk n=2d | risk n=2d / ridge (converged ≤ 2) |",
              "|---|---|---|---|---|---|"]
    for h in sorted(by_h):
        for r in by_h[h]:
            risk = r["analysis"]["icl_risk/risk_by_n"]
            lines.append(f"| {h} | {r['seed']} | {r['steps']} | {fmt(r['analysis']['icl_risk/window_risk'])} | "
                         f"{fmt(risk[min(2 * r['d'], r['n_max'])])} | {fmt(conv[(h, r['seed'])])} |")
    if baselines:
        lines += ["", "## Baselines (window mean over W and at n = 16)", "", "| σ | baseline | W | n=16 |",
                  "|---|---|---|---|"]
        for sigma, base in sorted(baselines.items()):
            for name, curve in sorted(baseline_curves(base, "").items()):
                w_text = "(excluded: interpolation spike)" if name == "ols" else fmt(wmean(curve, (4, 8)))
                lines.append(f"| {sigma} | {name} | {w_text} | {fmt(curve[16])} |")
    if args.figures:
        made = figures(main_runs, finetune, baselines, args.figures)
        lines += ["", "## Figures", ""] + [f"- `{p}`" for p in made]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:len(rows) + 8]))
    print(f"report: {out}")


if __name__ == "__main__":
    main()
