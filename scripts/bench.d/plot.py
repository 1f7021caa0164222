"""Chart for scripts/bench --plot: one panel per figure, a bar per broker at the median with a
min-max whisker. Run by scripts/bench with the python of a venv in the cache that has
matplotlib; input is the JSON that scripts/bench writes with --json."""

import json
import math
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"runnel": "#1f77b4", "peer": "#ff7f0e"}


def main(src, dst):
    with open(src) as f:
        raw = json.load(f)
    results = raw["results"]
    brokers = list(results)
    panels = []
    for key, label, unit, better in raw["figures"]:
        if better == ".":  # client-side information, not a broker figure
            continue
        series = {}
        for b in brokers:
            vals = [r[key] for r in results[b] if r.get(key) is not None]
            if vals:
                series[b] = vals
        if series:
            panels.append((label, unit, better, series))
    if not panels:
        sys.exit("plot: no figures to draw")
    cols = 4
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, (label, unit, better, series) in zip(axes.flat, panels):
        names = list(series)
        med = [statistics.median(series[n]) for n in names]
        lo = [m - min(series[n]) for m, n in zip(med, names)]
        hi = [max(series[n]) - m for m, n in zip(med, names)]
        ax.bar(names, med, yerr=[lo, hi], capsize=4,
               color=[COLORS.get(n, "#888888") for n in names])
        hint = {"+": " (higher is better)", "-": " (lower is better)"}.get(better, "")
        ax.set_title(label, fontsize=8)
        ax.set_ylabel(unit + hint, fontsize=7)
        ax.tick_params(labelsize=7)
        for i, m in enumerate(med):
            ax.annotate(f"{m:,.0f}" if m >= 100 else f"{m:.3g}", (i, m), ha="center", va="bottom", fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    rounds = raw["args"]["rounds"]
    fig.suptitle(f"scripts/bench: median of {rounds} round(s), whiskers min-max", fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
