"""`understudy export RUN --format onnx|onnx-int8`: the run's student as a folder onnxruntime alone runs."""

from __future__ import annotations

import typer


def export(
    run: str = typer.Argument(..., help="A run folder made by `understudy distill`."),
    format: str = typer.Option("onnx", "--format", "-f", help="onnx (float32) or onnx-int8 (dynamic int8)."),
    out: str | None = typer.Option(None, "--out", "-o", help="Export folder (default RUN/<format>)."),
):
    """Export the run's student to ONNX, measure it against the original on the run's evaluation texts, and write
    a folder that `understudy serve` (or onnxruntime + tokenizers alone) runs."""
    from pathlib import Path

    from .main import _console, _run

    console = _console(False)

    def go():
        from ..errors import UserError
        from ..export import export_student

        folder = Path(run)
        if not (folder / "stages.json").is_file():
            raise UserError(f"{folder} is not a run folder made by `understudy distill` (no stages.json)")
        target = Path(out) if out else folder / format
        console.print(f"understudy export: {folder} -> {target} ({format})", markup=False, highlight=False)
        return target, export_student(folder, target, format)

    target, info = _run(go, console)
    for line in summary(info):
        console.print(line, markup=False, highlight=False)
    console.print(f"wrote {target}; serve it: understudy serve {target}", markup=False, highlight=False)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def summary(info: dict) -> list[str]:
    """The parity figures as lines a person reads."""
    p = info["parity"]
    lines = [
        f"parity on {p['texts']} held-out texts ({p['source']}):",
        f"  agreement with the original student: {_pct(p['agreement'])}",
        f"  max |prob difference|: {p['max_abs_prob_diff']:.2e} (mean {p['mean_abs_prob_diff']:.2e})",
    ]
    for key, what in (("accuracy_vs_teacher", "the teacher's labels"), ("accuracy_vs_gold", "the gold labels")):
        if key in p:
            a = p[key]
            lines.append(
                f"  accuracy against {what}: {_pct(a['original'])} -> {_pct(a['exported'])} "
                f"({100 * a['change']:+.2f} points, {a['n']} texts)"
            )
    if p["token_ids_identical"] < 1:
        lines.append(f"  tokenization differs from the original's on {_pct(1 - p['token_ids_identical'])} of texts")
    if "oversight" in p:
        o = p["oversight"]
        lines.append(
            f"  sent to a person: {_pct(o['deferred_original'])} -> {_pct(o['deferred_exported'])}; "
            f"{_pct(o['decisions_changed'])} of decisions changed (the threshold was calibrated on the original)"
        )
    lines.append(f"  model.onnx: {info['model_bytes'] / 1e6:.2f} MB")
    return lines
