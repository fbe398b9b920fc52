#!/usr/bin/python3
"""The fine-tuning study's bookkeeping and report (../../../shared/specs/finetune.md §7; issue #23).

  report.py pick KEY=VALUE ...          indices of `sim sweep --list` lines (stdin) whose swept values
                                        include every KEY=VALUE (numbers compared as numbers)
  report.py choose-lr ARMS_DIR          the base lr of each mode (full, lora): the one whose {Q,V}
                                        runs at λ = 1 have the best mean val accuracy over the tasks
                                        (median over seeds); prints "LR_FULL LR_LORA"
  report.py collect SUMMARY DIR ...     adds every complete run file of the DIRs to SUMMARY (JSON;
                                        curves, config and /analysis/finetune records, no parameters),
                                        keeping the runs it already holds
  report.py report SUMMARY --out MD     every FT criterion PASS / FAIL with its values, and figures

Accuracy is the test accuracy at the last step, the mean over the three downstream tasks and the
median over seeds (spec §7). Base learning rates are chosen on val, never on test.
"""
import json
import math
import os
import statistics
import sys

TASKS = ["ft_majority", "ft_key_value_set", "ft_chain_valid"]
SUBSETS = ["q", "k", "v", "q,k", "q,v", "q,k,v"]
MODES = ["full", "lora"]
LAMBDAS = [1.0, 2.0, 4.0, 8.0, 16.0]


def as_number(text):
    try:
        return float(text)
    except ValueError:
        return None


def same_value(a, b):
    x, y = as_number(a), as_number(b)
    if x is not None and y is not None:
        return math.isclose(x, y, rel_tol=1e-12)
    return a == b


def pick(filters):
    wanted = [f.split("=", 1) for f in filters]
    for line in sys.stdin:
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 3:
            continue
        values = dict(tok.split("=", 1) for tok in fields[2].split(" ") if "=" in tok)
        if all(k in values and same_value(values[k], v) for k, v in wanted):
            print(fields[0])


def parse_ini(text):
    values, section = {}, ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            values[section + "." + key.strip()] = value.strip()
    return values


def read_run(path):
    """The summary record of one complete run file, or None."""
    import h5py
    with h5py.File(path, "r") as f:
        if f.attrs.get("status", b"") not in ("complete", b"complete"):
            return None
        config = parse_ini(f.attrs["config"])
        curves = {name: [float(x) for x in f["curves"][name][()]] for name in f["curves"]}
        record = {
            "task": config.get("task.name"),
            "seed": int(config.get("train.seed", "0")),
            "lr": float(config.get("train.lr", "nan")),
            "lr_text": config.get("train.lr"),
            "steps": int(f.attrs["steps_done"]),
            "d_model": int(config.get("model.d_model", "64")),
            "curves": {k: v for k, v in curves.items() if k == "step" or k.endswith("accuracy") or k.startswith("test_acc")},
        }
        if "analysis/finetune" in f:
            a = f["analysis/finetune"]
            record["subset"] = str(a.attrs["trainable_subset"])
            record["mode"] = str(a.attrs["mode"])
            record["scope"] = str(a.attrs["lr_ratio_scope"])
            record["lr_ratio"] = float(f["analysis/finetune/lr_ratio"][()])
            record["n_trainable"] = int(f["analysis/finetune/n_trainable"][()])
        if "final" in f:
            record["final"] = {s: {m: float(f["final"][s][m][()]) for m in f["final"][s]} for s in f["final"]}
        return record


def collect(summary_path, dirs):
    summary = {}
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    added = 0
    for d in dirs:
        if not os.path.isdir(d):
            continue
        stage = os.path.basename(os.path.normpath(d))
        for name in sorted(os.listdir(d)):
            if not name.endswith(".h5"):
                continue
            record = read_run(os.path.join(d, name))
            if record is None:
                continue
            key = stage + "/" + name
            added += key not in summary
            record["stage"] = stage
            summary[key] = record
    os.makedirs(os.path.dirname(os.path.abspath(summary_path)), exist_ok=True)
    with open(summary_path, "w") as f:
        json.dump(summary, f, indent=0, sort_keys=True)
    print(f"{summary_path}: {len(summary)} runs ({added} new)")


def final(run, split="test"):
    return run["curves"][split + "_accuracy"][-1]


def finetune_runs(summary):
    return [r for r in summary.values() if "subset" in r]


def mean_over_tasks(runs, split="test"):
    """{seed: mean final accuracy over TASKS} for seeds that have every task."""
    by_seed = {}
    for r in runs:
        by_seed.setdefault(r["seed"], {})[r["task"]] = final(r, split)
    return {s: statistics.mean(v[t] for t in TASKS) for s, v in by_seed.items() if all(t in v for t in TASKS)}


def select(runs, **kw):
    out = []
    for r in runs:
        ok = True
        for k, v in kw.items():
            x = r.get(k)
            ok = ok and (math.isclose(x, v) if isinstance(v, float) else x == v)
        if ok:
            out.append(r)
    return out


def base_lrs(runs):
    """{mode: (lr, lr_text)}: the lr whose {Q,V} λ = 1 runs have the best median-over-seeds mean val accuracy."""
    chosen = {}
    for mode in MODES:
        best = None
        for lr in sorted({r["lr"] for r in runs}):
            rs = select(runs, subset="q,v", mode=mode, lr_ratio=1.0, lr=lr, scope="value_only")
            rs = [r for r in rs if r["task"] in TASKS]
            by_seed = mean_over_tasks(rs, "val")
            if not by_seed:
                continue
            score = statistics.median(by_seed.values())
            if best is None or score > best[0]:
                best = (score, lr, rs[0]["lr_text"])
        if best:
            chosen[mode] = (best[1], best[2])
    return chosen


def choose_lr(arms_dir):
    runs = [r for r in (read_run(os.path.join(arms_dir, n)) for n in sorted(os.listdir(arms_dir)) if n.endswith(".h5")) if r]
    chosen = base_lrs([r for r in runs if "subset" in r])
    if set(chosen) != set(MODES):
        sys.exit(f"error: {arms_dir} has no complete {{Q,V}} runs at lambda = 1 for every mode and task")
    print(chosen["full"][1], chosen["lora"][1])


def subset_accuracy(runs, subset, mode, lr, task_list=TASKS, split="test"):
    """Median over seeds of the mean over task_list of the final accuracy at λ = 1 and base lr `lr`."""
    rs = [r for r in select(runs, subset=subset, mode=mode, lr_ratio=1.0, lr=lr, scope="value_only") if r["task"] in task_list]
    by_seed = {}
    for r in rs:
        by_seed.setdefault(r["seed"], {})[r["task"]] = final(r, split)
    means = {s: statistics.mean(v[t] for t in task_list) for s, v in by_seed.items() if all(t in v for t in task_list)}
    return (statistics.median(means.values()), sorted(means.values())) if means else (None, [])


def mean_curve(runs, task_list=TASKS):
    """(steps, median over seeds of the mean over tasks of test accuracy) for runs of one arm."""
    by_seed = {}
    for r in runs:
        if r["task"] in task_list:
            by_seed.setdefault(r["seed"], {})[r["task"]] = r
    curves = []
    steps = None
    for s, v in by_seed.items():
        if not all(t in v for t in task_list):
            continue
        steps = v[task_list[0]]["curves"]["step"]
        curves.append([statistics.mean(v[t]["curves"]["test_accuracy"][i] for t in task_list) for i in range(len(steps))])
    if not curves:
        return None, None
    return steps, [statistics.median(c[i] for c in curves) for i in range(len(steps))]


def steps_to(steps, curve, target):
    """The first evaluated step whose accuracy reaches target, or None."""
    for s, a in zip(steps, curve):
        if a >= target:
            return int(s)
    return None


def fmt(x, digits=3):
    return "n/a" if x is None else f"{x:.{digits}f}"


def report(summary_path, out_path):
    with open(summary_path) as f:
        summary = json.load(f)
    runs = finetune_runs(summary)
    lrs = base_lrs(runs)
    rows, notes = [], []
    seeds = sorted({r["seed"] for r in runs})
    pre = [r for r in summary.values() if r.get("task") == "lm_mixture"]

    # FT-v-over-k and FT-qv-vs-qkv, per mode, each at its mode's base lr.
    acc = {}
    for mode in MODES:
        if mode not in lrs:
            continue
        for subset in SUBSETS:
            acc[(subset, mode)] = subset_accuracy(runs, subset, mode, lrs[mode][0])
    for mode in MODES:
        v, k = acc.get(("v", mode), (None,))[0], acc.get(("k", mode), (None,))[0]
        if v is None or k is None:
            rows.append((f"FT-v-over-k ({mode})", "NOT RUN", "no V or K runs", ""))
        else:
            d = 100 * (v - k)
            rows.append((f"FT-v-over-k ({mode})", "PASS" if d >= 5 else "FAIL",
                         f"acc(V) {100 * v:.1f} − acc(K) {100 * k:.1f} = {d:+.1f} points (need ≥ +5)",
                         f"base lr {lrs[mode][1]}"))
    for mode in MODES:
        qv, qkv = acc.get(("q,v", mode), (None,))[0], acc.get(("q,k,v", mode), (None,))[0]
        if qv is None or qkv is None:
            rows.append((f"FT-qv-vs-qkv ({mode})", "NOT RUN", "no QV or QKV runs", ""))
        else:
            d = 100 * (qv - qkv)
            rows.append((f"FT-qv-vs-qkv ({mode})", "PASS" if d >= -1 else "FAIL",
                         f"acc(QV) {100 * qv:.1f} vs acc(QKV) {100 * qkv:.1f}: {d:+.1f} points (need ≥ −1)",
                         f"base lr {lrs[mode][1]}"))

    # FT-lambda-speed (LoRA QV) and FT-lambda-unstable (full-rank QV), on mean-over-task test curves.
    lam = {}
    for mode in MODES:
        if mode not in lrs:
            continue
        for l in LAMBDAS:
            rs = select(runs, subset="q,v", mode=mode, lr_ratio=l, lr=lrs[mode][0], scope="value_only")
            steps, curve = mean_curve(rs)
            if curve:
                lam[(mode, l)] = (steps, curve)
    if ("lora", 1.0) in lam:
        steps1, c1 = lam[("lora", 1.0)]
        a1 = c1[-1]
        s1 = steps_to(steps1, c1, 0.95 * a1)
        detail, ok = [], False
        for l in (2.0, 4.0, 8.0):
            if ("lora", l) not in lam:
                continue
            st, c = lam[("lora", l)]
            sl = steps_to(st, c, 0.95 * a1)
            faster = sl is not None and s1 is not None and sl <= 0.75 * s1
            kept = c[-1] >= a1 - 0.005
            ok = ok or (faster and kept)
            detail.append(f"λ={l:g}: {sl} steps, final {100 * c[-1]:.1f}")
        rows.append(("FT-lambda-speed (LoRA QV)", "PASS" if ok else "FAIL" if detail else "NOT RUN",
                     f"λ=1: final {100 * a1:.1f}, 95% ({100 * 0.95 * a1:.1f}) at step {s1}; " + "; ".join(detail) +
                     " (need ≤ 0.75× the steps and final ≥ λ=1's − 0.5)", f"base lr {lrs['lora'][1]}"))
    else:
        rows.append(("FT-lambda-speed (LoRA QV)", "NOT RUN", "no LoRA QV runs", ""))
    finals = {l: lam[("full", l)][1][-1] for l in LAMBDAS if ("full", l) in lam}
    if 16.0 in finals and len(finals) >= 2:
        best_l = max(finals, key=lambda l: finals[l])
        worse = finals[16.0] < finals[best_l]
        rows.append(("FT-lambda-unstable (full QV)", "PASS" if worse else "FAIL",
                     "final by λ: " + ", ".join(f"{l:g}: {100 * a:.1f}" for l, a in sorted(finals.items())) +
                     f"; best λ = {best_l:g}; λ=16 is {100 * (finals[best_l] - finals[16.0]):.1f} points below it",
                     f"base lr {lrs['full'][1]}"))
    else:
        rows.append(("FT-lambda-unstable (full QV)", "NOT RUN", "no full-rank QV λ = 16 runs", ""))
    rows.append(("FT-lambda-width (optional)", "NOT RUN", "the width arm (d_model 32..256, pre-trained per width) has no runs yet", ""))

    # FT-sanity: ft_value_perm favours V over K and Q.
    for mode in MODES:
        if mode not in lrs:
            continue
        got = {s: subset_accuracy(runs, s, mode, lrs[mode][0], ["ft_value_perm"])[0] for s in ("q", "k", "v")}
        if any(x is None for x in got.values()):
            rows.append((f"FT-sanity ({mode})", "NOT RUN", "no ft_value_perm runs", ""))
            continue
        ok = got["v"] > got["k"] and got["v"] > got["q"]
        rows.append((f"FT-sanity ({mode})", "PASS" if ok else "FAIL",
                     f"ft_value_perm acc: V {100 * got['v']:.1f}, K {100 * got['k']:.1f}, Q {100 * got['q']:.1f} (V must beat both)",
                     "control, not evidence"))

    lines = ["# Fine-tuning attention: report", "",
             f"Runs: {len(runs)} fine-tuning runs, seeds {seeds}; {len(pre)} pre-trained models. "
             "Accuracy: test accuracy at the last step, mean over "
             f"{', '.join(TASKS)}, median over seeds. Base lr per mode chosen on val at λ = 1 for {{Q,V}}: "
             + ", ".join(f"{m} {lrs[m][1]}" for m in MODES if m in lrs) + ". Each run's test accuracy is over 500 "
             "examples (a standard error of about 2.2 points at 50%); with one seed, differences of a few points are "
             "within noise. Produced by `experiments/finetune/run` (reduced grid) and `report.py report`.", "",
             "| criterion | verdict | measured | note |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", "## Pre-trained models", "", "| seed | steps | acc_text (Bayes) | acc_mqar | acc_copy |", "|---|---|---|---|---|"]
    for r in sorted(pre, key=lambda r: r["seed"]):
        t = r.get("final", {}).get("test", {})
        lines.append(f"| {r['seed']} | {r['steps']} | {fmt(t.get('acc_text'))} ({fmt(t.get('text_bayes_accuracy'))}) | "
                     f"{fmt(t.get('acc_mqar'))} | {fmt(t.get('acc_copy'))} |")
    lines += ["", "## Accuracy per trainable subset (λ = 1, test, %; per task, seed median)", "",
              "| subset | mode | n_trainable | " + " | ".join(TASKS) + " | mean | seeds |", "|---|---|---|" + "---|" * (len(TASKS) + 2)]
    for mode in MODES:
        if mode not in lrs:
            continue
        for subset in SUBSETS:
            rs = select(runs, subset=subset, mode=mode, lr_ratio=1.0, lr=lrs[mode][0], scope="value_only")
            if not rs:
                continue
            per_task = []
            for t in TASKS:
                vals = [final(r) for r in rs if r["task"] == t]
                per_task.append(f"{100 * statistics.median(vals):.1f}" if vals else "–")
            m, spread = acc.get((subset, mode), (None, []))
            lines.append(f"| {subset} | {mode} | {rs[0].get('n_trainable', '')} | " + " | ".join(per_task) +
                         f" | {fmt(None if m is None else 100 * m, 1)} | {', '.join(f'{100 * x:.1f}' for x in spread)} |")
    lines += ["", "## λ for {Q,V} (test, mean over tasks, seed median)", "",
              "| mode | λ | final % | steps to 95% of λ=1's final |", "|---|---|---|---|"]
    for mode in MODES:
        if (mode, 1.0) not in lam:
            continue
        a1 = lam[(mode, 1.0)][1][-1]
        for l in LAMBDAS:
            if (mode, l) in lam:
                st, c = lam[(mode, l)]
                lines.append(f"| {mode} | {l:g} | {100 * c[-1]:.1f} | {steps_to(st, c, 0.95 * a1)} |")
    figures = make_figures(runs, lrs, acc, lam, os.path.dirname(os.path.abspath(out_path)))
    lines += [""] + [f"![{f}]({f})" for f in figures]
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(f"{a}: {b}  {c}" for a, b, c, _ in rows))
    print(f"report: {out_path}")


def make_figures(runs, lrs, acc, lam, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    made = []
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.38
    for j, mode in enumerate(MODES):
        xs, ys, errs = [], [], []
        for i, subset in enumerate(SUBSETS):
            m, spread = acc.get((subset, mode), (None, []))
            if m is None:
                continue
            xs.append(i + (j - 0.5) * width)
            ys.append(100 * m)
            errs.append([[100 * (m - min(spread))], [100 * (max(spread) - m)]])
        if xs:
            lo = [e[0][0] for e in errs]
            hi = [e[1][0] for e in errs]
            ax.bar(xs, ys, width, yerr=[lo, hi], label=mode, capsize=3)
    ax.set_xticks(range(len(SUBSETS)))
    ax.set_xticklabels(["{" + s.upper() + "}" for s in SUBSETS])
    ax.set_ylabel("test accuracy (%), mean over tasks")
    ax.set_title("trainable subset, λ = 1 (bars: seed median, whiskers: seed range)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "subsets.png"), dpi=120)
    plt.close(fig)
    made.append("subsets.png")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, mode in zip(axes, MODES):
        for l in LAMBDAS:
            if (mode, l) in lam:
                st, c = lam[(mode, l)]
                ax.plot(st, [100 * x for x in c], label=f"λ={l:g}")
        ax.set_title(f"{{Q,V}} {mode}" + (f", base lr {lrs[mode][1]}" if mode in lrs else ""))
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("test accuracy (%), mean over tasks")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "lambda_curves.png"), dpi=120)
    plt.close(fig)
    made.append("lambda_curves.png")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    for mode in MODES:
        if (mode, 1.0) not in lam:
            continue
        a1 = lam[(mode, 1.0)][1][-1]
        ls = [l for l in LAMBDAS if (mode, l) in lam]
        axes[0].plot(ls, [100 * lam[(mode, l)][1][-1] for l in ls], "o-", label=mode)
        reach = [(l, steps_to(*lam[(mode, l)], 0.95 * a1)) for l in ls]
        axes[1].plot([l for l, s in reach if s is not None], [s for l, s in reach if s is not None], "o-", label=mode)
    for ax, label in zip(axes, ["final test accuracy (%)", "steps to 95% of λ=1's final"]):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("λ = η_V / η_QK")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle("{Q,V}: mean over tasks, seed median")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "lambda.png"), dpi=120)
    plt.close(fig)
    made.append("lambda.png")
    return made


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "pick":
        pick(args)
    elif cmd == "choose-lr" and len(args) == 1:
        choose_lr(args[0])
    elif cmd == "collect" and len(args) >= 2:
        collect(args[0], args[1:])
    elif cmd == "report" and len(args) == 3 and args[1] == "--out":
        report(args[0], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
