"""Plots for the HTML report. Each function returns an inline-ready SVG string ("" when there is nothing to draw).

matplotlib is imported inside the functions, so importing this module is cheap. Figures are built with
``matplotlib.figure.Figure`` directly (no pyplot, no global state, no GUI backend) and written as SVG.
"""

from __future__ import annotations

import io
import itertools
import re

TEACHER_COLOUR = "#5b6c8f"
STUDENT_COLOUR = "#e07b39"
_ids = itertools.count(1)


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=9)
    return fig, axes


def _svg(fig) -> str:
    """Serialise a figure to a bare <svg> element: no XML prolog, no DOCTYPE, no RDF metadata, unique ids."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "understudy"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Several SVGs share one HTML document: prefix every id so glyph and clip-path ids cannot collide.
    prefix = f"us{next(_ids)}-"
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    text = re.sub(
        r'(\bid="|#)([^"\)\s]+)(?=["\)])',
        lambda m: m.group(1) + (prefix if m.group(2) in ids else "") + m.group(2),
        text,
    )
    return re.sub(r"<svg\b[^>]*>", _responsive, text, count=1)


def _responsive(match: re.Match) -> str:
    # Let the page scale the plot down (never up): drop the fixed width/height, keep the viewBox.
    tag = match.group(0)
    width = re.search(r'\swidth="([^"]*)"', tag)
    tag = re.sub(r'\s(width|height)="[^"]*"', "", tag)
    cap = f";max-width:{width.group(1)}" if width else ""
    return tag[:-1] + f' style="width:100%;height:auto{cap}">'


def _plain(labels) -> list[str]:
    """Label names as literal text: a "$" would otherwise switch matplotlib into mathtext."""
    return [str(x).replace("$", r"\$") for x in labels]


def _yerr(values, lows, highs):
    import numpy as np

    v, lo, hi = (np.asarray(x, dtype=float) for x in (values, lows, highs))
    return np.clip(np.vstack([v - lo, hi - v]), 0, None)


def quality_vs_speed(
    points: list[dict], noun: str = "texts", metric: str = "Macro-F1", floor: float | None = 0.0
) -> str:
    """points: [{"name", "texts_per_s", "value", "low", "high", "colour"}]; x is log scale. `noun` names the
    inputs ("rows"), `metric` the quality figure; `floor` is the lowest y shown (None: as low as the ranges go)."""
    points = [p for p in points if p.get("texts_per_s") and p["texts_per_s"] > 0 and p.get("value") is not None]
    if not points:
        return ""
    fig, (ax,) = _figure(6.4, 3.6)
    for p in points:
        lo = p["value"] if p.get("low") is None else p["low"]
        hi = p["value"] if p.get("high") is None else p["high"]
        ax.errorbar(
            [p["texts_per_s"]],
            [p["value"]],
            yerr=_yerr([p["value"]], [lo], [hi]),
            fmt="o",
            markersize=10,
            capsize=5,
            color=p["colour"],
            label=p["name"],
        )
        ax.annotate(
            p["name"],
            (p["texts_per_s"], p["value"]),
            xytext=(10, 8),
            textcoords="offset points",
            fontsize=10,
            color=p["colour"],
            fontweight="bold",
        )
    xs = [p["texts_per_s"] for p in points]
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 3, max(xs) * 3)
    lows = [p["value"] if p.get("low") is None else p["low"] for p in points]
    low = min(lows) - 0.1
    ax.set_ylim(low if floor is None else max(floor, low), min(1.02, max(p["value"] for p in points) + 0.1))
    ax.set_xlabel(f"{noun.capitalize()} per second (batch of 64, log scale) - further right is faster")
    ax.set_ylabel(f"{metric} - higher is better")
    ax.grid(True, which="major", alpha=0.3)
    return _svg(fig)


def per_class_f1(labels: list[str], models: list[dict]) -> str:
    """models: [{"name", "colour", "per_class": {label: {"value","low","high"}}}]."""
    import numpy as np

    if not labels or not any(m.get("per_class") for m in models):
        return ""
    x = np.arange(len(labels))
    width = 0.8 / max(len(models), 1)
    fig, (ax,) = _figure(min(max(5.0, 0.9 * len(labels) + 2), 12), 3.6)
    for i, m in enumerate(models):
        cells = [(m.get("per_class") or {}).get(lab) or {} for lab in labels]
        vals = [c.get("value") or 0.0 for c in cells]
        lows = [c.get("low", v) if c.get("low") is not None else v for c, v in zip(cells, vals)]
        highs = [c.get("high", v) if c.get("high") is not None else v for c, v in zip(cells, vals)]
        ax.bar(
            x + (i - (len(models) - 1) / 2) * width,
            vals,
            width,
            yerr=_yerr(vals, lows, highs),
            capsize=3,
            color=m["colour"],
            label=m["name"],
            error_kw={"elinewidth": 1, "ecolor": "#333"},
        )
    ax.set_xticks(x, _plain(labels), rotation=30 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 per class")
    ax.legend(frameon=False, fontsize=9, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(models))
    ax.grid(True, axis="y", alpha=0.3)
    return _svg(fig)


def reliability(models: list[dict]) -> str:
    """models: [{"name", "colour", "bins": [{"count","confidence","accuracy"}]}]; empty bins are skipped."""
    series = [
        (
            m,
            [
                b
                for b in (m.get("bins") or [])
                if b.get("count") and b.get("confidence") is not None and b.get("accuracy") is not None
            ],
        )
        for m in models
    ]
    if not any(bins for _, bins in series):
        return ""
    fig, (ax,) = _figure(4.6, 4.2)
    ax.plot([0, 1], [0, 1], linestyle="--", color="#999", linewidth=1, label="perfectly calibrated")
    for m, bins in series:
        if bins:
            ax.plot(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                marker="o",
                color=m["colour"],
                label=m["name"],
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("How sure the model said it was")
    ax.set_ylabel("How often it was right")
    ax.legend(frameon=False, fontsize=9, loc="upper left")
    ax.grid(True, alpha=0.3)
    return _svg(fig)


def confusions(labels: list[str], models: list[dict]) -> str:
    """models: [{"name", "matrix": [[int]]}] drawn side by side; rows = gold, columns = predicted."""
    import numpy as np

    models = [m for m in models if m.get("matrix")]
    if not models or not labels:
        return ""
    n = len(labels)
    side = min(max(3.2, 0.55 * n + 1.8), 7.5)
    fig, axes = _figure(side * len(models), side, ncols=len(models))
    font = max(5, 11 - n // 3)
    for ax, m in zip(axes, models):
        mat = np.asarray(m["matrix"], dtype=float)
        ax.imshow(mat, cmap="Blues", vmin=0, vmax=max(mat.max(), 1))
        ax.spines[:].set_visible(False)
        for (r, c), v in np.ndenumerate(mat):
            ax.text(
                c,
                r,
                f"{int(v)}",
                ha="center",
                va="center",
                fontsize=font,
                color="white" if v > 0.6 * mat.max() else "#222",
            )
        ax.set_xticks(
            range(mat.shape[1]),
            _plain(labels[: mat.shape[1]]),
            rotation=45 if n > 4 else 0,
            ha="right" if n > 4 else "center",
        )
        ax.set_yticks(range(mat.shape[0]), _plain(labels[: mat.shape[0]]))
        ax.set_xlabel("Predicted label")
        ax.set_ylabel("Correct (gold) label")
        ax.set_title(m["name"], fontsize=11, fontweight="bold")
    return _svg(fig)


def training_history(history: list[dict], best_epoch: int | None = None) -> str:
    """Loss (left axis) and agreement with the teacher on held-out texts (right axis) per epoch."""
    history = [h for h in history or [] if h.get("epoch") is not None]
    if not history:
        return ""
    fig, (ax,) = _figure(6.0, 3.0)
    epochs = [h["epoch"] for h in history]
    loss = [h.get("loss") for h in history]
    agree = [h.get("val_agreement") for h in history]
    ax.plot(
        epochs,
        [float("nan") if v is None else v for v in loss],
        marker="o",
        color=TEACHER_COLOUR,
        label="training loss",
    )
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Training loss", color=TEACHER_COLOUR)
    ax2 = ax.twinx()
    ax2.spines[["top"]].set_visible(False)
    ax2.plot(
        epochs,
        [float("nan") if v is None else v for v in agree],
        marker="s",
        color=STUDENT_COLOUR,
        label="agreement with teacher",
    )
    ax2.set_ylabel("Agreement with teacher", color=STUDENT_COLOUR)
    ax2.tick_params(labelsize=9)
    if best_epoch is not None:
        ax.axvline(best_epoch, color="#2e7d32", linestyle=":", linewidth=1.5)
        ax.annotate(
            "best",
            (best_epoch, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=9,
            color="#2e7d32",
        )
    if len(set(epochs)) < 12:
        ax.set_xticks(sorted(set(epochs)))
    return _svg(fig)
