"""The language-model demo's ratios, in one run: student tokens/s over teacher tokens/s (target >= 1.8),
size ratio (target <= 0.5), and ROUGE-L agreement with the teacher of the distilled student over the same
student before distillation (target >= 2).

    python benchmarks/support_replies.py [--out runs/bench-replies] [--limit N] [--json results.json]

Reruns reuse the teacher's stored answers (teacher.sqlite in the run folder).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "src" / "understudy" / "recipes" / "support-replies.yaml"
TARGETS = {"speedup": (">=", 1.8), "size_ratio": ("<=", 0.5), "rouge_l_gain": (">=", 2.0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", default=str(RECIPE))
    ap.add_argument("--out", default="runs/bench-replies")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N prompts (a quick trial)")
    ap.add_argument("--json", default=None, help="where to write the figures (default: OUT/benchmark.json)")
    ap.add_argument(
        "--from-report",
        action="store_true",
        help="read the figures of a finished run (OUT/report.json, e.g. `make demo-lm`'s) instead of running",
    )
    args = ap.parse_args()

    from rich.console import Console

    from understudy.lm.recipe import load_lm_recipe
    from understudy.progress import Progress
    from understudy.run import distill

    recipe = load_lm_recipe(args.recipe)
    if args.limit:
        recipe.prompts.limit = args.limit
    start = time.perf_counter()
    if args.from_report:
        report = json.loads((Path(args.out) / "report.json").read_text())
    else:
        report = distill(recipe, args.out, progress=Progress(Console(stderr=True)))
    c, t, s = report["comparison"], report["teacher"], report["student"]
    figures = {
        "speedup": c["speedup"],
        "size_ratio": c["size_ratio"],
        "parameter_ratio": c["parameter_ratio"],
        "rouge_l_before": c["rouge_l_before"],
        "rouge_l_after": c["rouge_l_after"],
        "rouge_l_gain": c["rouge_l_gain"],
        "embedding_similarity_before": c["embedding_similarity_before"],
        "embedding_similarity_after": c["embedding_similarity_after"],
        "perplexity_before": c["perplexity_before"],
        "perplexity_after": c["perplexity_after"],
        "teacher_tokens_per_s": t["speed"]["tokens_per_s"],
        "student_tokens_per_s": s["speed"]["tokens_per_s"],
        "teacher_ttft_ms": t["speed"]["time_to_first_token_ms"],
        "student_ttft_ms": s["speed"]["time_to_first_token_ms"],
        "teacher_parameters": t["parameters"],
        "student_parameters": s["parameters"],
        "judge": c["judge"],
        "timings_s": report["timings"],
        "total_s": round(sum(report["timings"].values()), 1)
        if args.from_report
        else round(time.perf_counter() - start, 1),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "prompts": report["data"],
    }
    figures["prompts"] = {k: v for k, v in report["data"].items() if k != "too_long"}
    for key, (op, target) in TARGETS.items():
        value = figures[key]
        ok = value is not None and (value >= target if op == ">=" else value <= target)
        if key == "rouge_l_gain" and value is None:  # 0 before: any agreement after is more than double
            ok = bool(c.get("rouge_l_at_least_doubled"))
        print(f"{key:<14} {value!s:>8}   target {op} {target}   {'met' if ok else 'MISSED'}")
    print(
        f"ROUGE-L {figures['rouge_l_before']} -> {figures['rouge_l_after']}; tokens/s teacher "
        f"{figures['teacher_tokens_per_s']} student {figures['student_tokens_per_s']}; total {figures['total_s']} s "
        f"(load average {figures['load_average'][0]:.1f} on {figures['cpu_count']} cores)"
    )
    path = Path(args.json or Path(args.out) / "benchmark.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=float))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
