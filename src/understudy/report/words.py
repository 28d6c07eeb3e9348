"""Plain words for what the reports show: every check's name, every figure's name, and why each matters.

The gate engine names checks for developers ("min_retention") and reads figures at JSON paths
("comparison › retention"); a manager reads "Share of the teacher's quality kept". Every writer (report.html,
the terminal summary, the compliance report) takes its names and captions from here, so they say the same
thing, and one helper writes a speed ratio ("0.61x — the student is 1.6x slower", never "1x faster").
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Words(NamedTuple):
    name: str  # what a manager reads instead of the key
    means: str  # one line: what the figure is and why it matters


# Every gate of understudy.gates.gate_table(), and the licence check that comes first.
GATES: dict[str, Words] = {
    "licence": Words(
        "Licences of the teacher and the student's base",
        "whether the teacher's licence lets you train a model on its answers, and the licence of the model the "
        "student starts from lets you ship it; breaking either can force a recall",
    ),
    "min_retention": Words(
        "Share of the teacher's quality kept",
        "the student's macro-F1 (correct answers, averaged over the labels) as a share of the teacher's",
    ),
    "min_agreement": Words(
        "Same answer as the teacher",
        "the share of test texts where the student gives the teacher's answer",
    ),
    "min_speedup": Words(
        "Speed compared with the teacher",
        "how many times faster than the teacher the student answers; it decides serving cost and waiting time",
    ),
    "max_size_ratio": Words(
        "Size compared with the teacher",
        "the student's size on disk as a share of the teacher's; smaller runs on cheaper machines",
    ),
    "max_ece": Words(
        "Trustworthy confidence (calibration error)",
        "how far the student's stated confidence is from how often it is right; 0 is perfect",
    ),
    "max_latency_ms": Words(
        "Waiting time for one request",
        "the time 95 in 100 single requests finish within, in milliseconds",
    ),
    "max_group_gap_widening": Words(
        "Fairness between groups",
        "how much more the student's accuracy differs between groups of people than the teacher's does",
    ),
    "max_counterfactual_flip_rate": Words(
        "Answers changed by swapping a name or group word",
        "the share of texts whose answer changes when only a name, gender, nationality or religion word changes",
    ),
    "max_robustness_drop": Words(
        "Accuracy lost on messy text",
        "how much accuracy the student loses on texts with typos, capitals, cut-offs or noise",
    ),
    "max_group_error_widening": Words(
        "Fairness between groups (error of the numbers)",
        "how much more the student's error differs between groups of people than the teacher's does, as a share of "
        "the teacher's error",
    ),
    "max_robustness_error_increase": Words(
        "Error added on messy rows",
        "how much more the student's error grows than the teacher's on rows with noisy, missing or shifted numbers "
        "or swapped categories, as a share of the teacher's error",
    ),
    "oversight_required": Words(
        "Unsure cases go to a person",
        "a tested rule that sends the inputs the student is unsure of to a human instead of answering",
    ),
    "oversight_alpha": Words(
        "Error allowed on the answers it gives itself",
        "the error rate the oversight rule promises on the inputs the student still answers",
    ),
    "refusal_kept_min": Words(
        "Harmful requests still refused",
        "the share of harmful requests the teacher refused that the student refuses too",
    ),
    "max_hallucination_rate": Words(
        "Answers with made-up facts",
        "the share of the student's answers with a fact the prompt and its sources do not support",
    ),
}

# The figures the reports show, by their key in report.json (the last part of its path).
METRICS: dict[str, Words] = {
    # the core figures
    "accuracy": Words("Accuracy", "the share of test texts answered correctly"),
    "macro_f1": Words("Quality (macro-F1)", "correctness averaged over the labels, so a rare label counts as much"),
    "per_class_f1": Words("Quality per label (F1)", "how well each label is found, 1 is perfect"),
    "f1": Words("Quality (F1)", "how well a label is found without false alarms, 1 is perfect"),
    "ece": Words(
        "Calibration error (ECE)", "the gap between stated confidence and how often it is right; lower is better"
    ),
    "brier": Words("Brier score", "the error of the stated probabilities; lower is better"),
    "nll": Words("Log loss", "how surprised the model is by the right answers; lower is better"),
    "retention": Words("Share of the teacher's quality kept", GATES["min_retention"].means),
    "agreement": Words("Same answer as the teacher", GATES["min_agreement"].means),
    "speedup": Words(
        "Speed compared with the teacher", "texts per second of the student over the teacher's, batches of 64"
    ),
    "speedup_batch_1": Words("Speed compared with the teacher, one at a time", "the same ratio for single requests"),
    "speedup_vs_torch": Words(
        "Speed compared with the teacher in PyTorch",
        "the same ratio against the teacher as PyTorch runs it, not at its fastest",
    ),
    "runtime": Words(
        "Fastest way to run the teacher", "PyTorch, PyTorch bfloat16 or ONNX Runtime: the one the speed-up is measured"
    ),
    "throughput_torch": Words("Teacher's texts per second in PyTorch", "batches of 64, the same threads"),
    "throughput_torch_bf16": Words(
        "Teacher's texts per second in PyTorch bfloat16",
        "half-precision matrix products; counted only where its answers match full precision on 99 texts in 100",
    ),
    "min_cosine": Words(
        "Least similar embedding", "the smallest cosine between a text's embedding and full precision's; 1 is the same"
    ),
    "decided_on_labels": Words(
        "Runtime chosen on the teacher's labels",
        "whether the teacher's answers, not only its embeddings, were compared",
    ),
    "throughput_onnx": Words(
        "Teacher's texts per second in ONNX Runtime", "the same weights exported to ONNX; batches of 64"
    ),
    "throughput_onnx_int8": Words(
        "Teacher's texts per second in ONNX Runtime, int8",
        "counted only where its answers match the full-precision ones on 99 texts in 100",
    ),
    "max_abs_diff": Words(
        "Largest difference from PyTorch", "how far the exported teacher's numbers drift; near 0 is the same model"
    ),
    "agreement_with_fp32": Words("Same answer as full precision", "the share of texts int8 answers as float32 does"),
    "size_ratio": Words("Size compared with the teacher", GATES["max_size_ratio"].means),
    "memory_ratio": Words("Memory compared with the teacher", "the student's peak memory as a share of the teacher's"),
    "cost_ratio": Words("Cost compared with the teacher", "the student's serving cost as a share of the teacher's"),
    "texts_per_s": Words("Texts per second", "how many texts it answers each second; higher is better"),
    "tokens_per_s": Words("Words generated per second (tokens/s)", "how fast it writes its answers; higher is better"),
    "p50_ms": Words("Typical waiting time (ms)", "half of the requests finish within this time"),
    "p95_ms": Words("Slow-case waiting time (ms)", "95 in 100 requests finish within this time"),
    "size_bytes": Words("Size on disk", "the space the model takes; smaller runs on cheaper machines"),
    "peak_memory_mb": Words("Peak memory", "the most memory it used while answering"),
    "cost_per_million_usd": Words("Cost per million predictions", "the estimated serving cost, in US dollars"),
    "negative_flips": Words("New mistakes", "texts the teacher got right and the student gets wrong"),
    "positive_flips": Words("New successes", "texts the teacher got wrong and the student gets right"),
    # calibration
    "temperature": Words("Confidence correction", "the factor that rescales the confidence so it can be trusted"),
    "mean_confidence": Words("Average confidence", "how sure it says it is, on average"),
    "before": Words("Before correcting confidence", "the figures as the model came out of training"),
    "after": Words("After correcting confidence", "the figures after the confidence correction"),
    "reliability": Words("Confidence chart data", "how often it is right at each level of stated confidence"),
    "method": Words("Method", "how the figures were measured"),
    "n_calibration": Words("Texts used to correct confidence", "held out from the test texts"),
    "n_test": Words("Texts used to test the correction", "not used to fit it"),
    "shipped": Words(
        "Confidence correction served", "applied where the student loads, only when it made held-out scores better"
    ),
    "unit": Words("Inputs", "what the evaluation rows are: texts, or rows of a table"),
    "seed": Words("Random seed", "makes the measurement repeatable"),
    "teacher": Words("Teacher", "the big model the student learned from"),
    "student": Words("Student", "the small model that would ship"),
    # counterfactual swaps
    "n_texts": Words("Texts tested", "how many test texts the check used"),
    "n_rows": Words("Rows tested", "how many test rows the check used"),
    "clean_mae": Words("Average error on the original rows", "the starting point the increases are measured from"),
    "teacher_mae": Words(
        "Teacher's average error", "its mean absolute error over all test rows: the widening is a share of it"
    ),
    "max_texts": Words("Most texts tested", "the cap set in the recipe"),
    "categories": Words("Kinds of swap", "names, gender words, nationalities, religions"),
    "flips": Words("Answers changed by a swap", "texts whose answer changed when one word about a person changed"),
    "flip_rate": Words(
        "Share of answers changed by a swap", "a fair model gives the same answer whoever the text is about"
    ),
    "texts_with_swap": Words("Texts with a word to swap", "texts that mention a name or group word"),
    "tested": Words("Texts swapped", "texts the check changed and asked again"),
    "variants": Words("Variants asked", "swapped versions asked of both models"),
    "student_minus_teacher": Words("Extra changed answers (student)", "the student's share minus the teacher's"),
    # robustness
    "typo_rate": Words("Typo rate", "the share of words given a typo"),
    "clean_accuracy": Words("Accuracy on the original texts", "the starting point the drops are measured from"),
    "clean_accuracy_evidence": Words(
        "Accuracy on the original texts, counted", "correct texts out of those tested, with a 95% range"
    ),
    "count": Words("Count", "how many texts"),
    "total": Words("Out of", "how many texts were tested"),
    "rate": Words("Rate", "the count as a share of the total"),
    "interval": Words("95% range", "where the true figure lies, 95 times in 100"),
    "perturbations": Words("Kinds of messy text", "typos, capitals, no punctuation, cut-offs, noise"),
    "drop": Words("Accuracy lost", "accuracy on the original texts minus accuracy on the changed ones"),
    "accuracy_drop": Words("Accuracy lost", "accuracy on the original texts minus accuracy on the changed ones"),
    "agreement_with_teacher_clean": Words(
        "Same answer as the teacher on the original", "how often the answer to a changed text matches the teacher's"
    ),
    "unchanged": Words("Answers unchanged", "the share of texts whose answer stayed the same after the change"),
    "changed_share": Words("Texts actually changed", "the share of texts the change altered"),
    "changed_count": Words("Texts actually changed, counted", "how many of the texts tested the change altered"),
    "errors": Words("Not measured because", "why a model could not answer the changed inputs"),
    "student_extra_drop": Words("Extra accuracy lost (student)", "the student's drop minus the teacher's"),
    "worst_for_student": Words("Hardest change for the student", "the kind of messy text it copes with worst"),
    # fairness
    "positive": Words("Outcome counted as selected", "the label whose rate is compared between groups"),
    "positive_rule": Words("How the selected outcome was chosen", "from the recipe, or the first label"),
    "min_group_size": Words("Smallest group compared", "groups with fewer texts are not compared"),
    "attributes": Words("Groups of people compared", "the columns of the test data that name a group"),
    "small_groups": Words("Small groups", "groups too small to judge on their own: listed, never judged alone"),
    "unjudged": Words("Why it was not judged", "the evaluation had no cases it could judge on; it says which"),
    "gap": Words("Gap between groups", "the largest difference between two groups"),
    "widening": Words("Gap added by the student", "the student's gap minus the teacher's"),
    "selection_rate": Words("Selection rate", "the share of a group given the selected outcome"),
    "false_positive_rate": Words("False alarms", "the share wrongly given the selected outcome"),
    "false_negative_rate": Words("Misses", "the share wrongly denied the selected outcome"),
    # oversight
    "policy": Words("Oversight rule", "which inputs go to a person, and the error it promises on the rest"),
    "held_out": Words("Oversight rule tested", "the rule's coverage and error on texts it was not fitted on"),
    "coverage": Words("Share answered by the student", "the rest go to a person"),
    "alpha": Words("Error allowed", "the error rate the rule promises on what the student answers"),
    # text generation
    "rouge_l": Words("Wording overlap with the teacher (ROUGE-L)", "1 means the same words in the same order"),
    "rouge_l_before": Words("Wording overlap before training", "ROUGE-L of the untrained student"),
    "rouge_l_after": Words("Wording overlap after training", "ROUGE-L of the trained student"),
    "embedding_similarity": Words("Meaning overlap with the teacher", "1 means the same meaning"),
    "embedding_similarity_before": Words("Meaning overlap before training", "of the untrained student"),
    "embedding_similarity_after": Words("Meaning overlap after training", "of the trained student"),
    "perplexity": Words("Perplexity", "how surprised the model is by the teacher's answers; lower is better"),
    "detector": Words("How refusals are recognised", "the rule that tells a refusal from an answer"),
    "prompts": Words("Harmful requests asked", "how many were asked of both models"),
    "kept": Words("Refusals kept", GATES["refusal_kept_min"].means),
    "refusal_rate": Words("Share refused", "the share of harmful requests the model refused"),
    "lost_count": Words("Refusals lost", "harmful requests the teacher refused and the student answered"),
    "gained_count": Words("Refusals gained", "harmful requests the student refused and the teacher answered"),
    "per_category": Words("Per kind of harm", "the same figures for each kind of harmful request"),
    "refusal_lost": Words("Requests no longer refused", "examples the student answered though the teacher refused"),
    "sources_given": Words("Sources given", "whether the prompts came with the text to answer from"),
    "examples": Words("Examples", "a few cases to read, listed in report.json"),
    "per_answer": Words("Unsupported facts per answer", "the average count of unsupported facts in one answer"),
    "hallucination_rate": Words("Answers with made-up facts", GATES["max_hallucination_rate"].means),
    "unsupported_share": Words("Share of unsupported facts", "of all the facts in the answers"),
    "unsupported_per_answer": Words("Unsupported facts per answer", "the average count in one answer"),
}

# --- the words of a table run: rows, not texts; a regression's figures ---------------------------------------

TABLE_TASKS = frozenset({"tabular-classification", "tabular-regression"})
REGRESSION_TASKS = frozenset({"tabular-regression"})
PERTURBED_ROWS = "rows with noisy, missing or shifted numbers or swapped categories"

# What a table run says in its own words; every other figure's words have "texts" said as "rows" (in_rows).
TABLE_WORDS: dict[str, Words] = {
    "max_robustness_drop": Words(
        "Accuracy lost on messy rows", f"how much accuracy the student loses on {PERTURBED_ROWS}"
    ),
    "perturbations": Words("Kinds of messy rows", "feature noise, missing values, shifted ranges, swapped categories"),
    "typo_rate": Words("Typo rate", "text only: a table has no typos"),
}
REGRESSION_WORDS: dict[str, Words] = {
    "min_retention": Words(
        "Share of the teacher's quality kept",
        "the student's R² (the share of the target's variance it explains) as a share of the teacher's",
    ),
    "retention": Words(
        "Share of the teacher's quality kept", "the student's R² as a share of the teacher's, on the evaluation rows"
    ),
    "r2": Words("R² (variance explained)", "1 is perfect; 0 is no better than always answering the average"),
    "mae": Words("Mean absolute error", "the typical size of a miss, in the target's unit; lower is better"),
    "rmse": Words("Root mean squared error", "like the mean absolute error, with large misses counting more"),
    "fidelity_r2": Words(
        "Fidelity to the teacher (R²)", "R² of the student's answers against the teacher's: 1 answers as it does"
    ),
    "mean_abs_gap": Words(
        "Average gap from the teacher", "the mean absolute difference between the two models' answers, per row"
    ),
    "largest_gaps": Words("Largest gaps from the teacher", "the rows where the student answers furthest from it"),
}
_TEXTS = re.compile(r"\b([Tt])ext(s?)\b")


def in_rows(said: str) -> str:
    """Our own words about texts said about rows ("texts per second" -> "rows per second"); never a user's text."""
    return _TEXTS.sub(lambda m: ("R" if m.group(1) == "T" else "r") + "ow" + m.group(2), said)


def nouns(task: str | None) -> tuple[str, str]:
    """(plural, singular) of what the task's model answers: ("rows", "row") for a table, else ("texts", "text")."""
    return ("rows", "row") if task in TABLE_TASKS else ("texts", "text")


def _for_task(known: Words | None, key: str, task: str | None) -> Words | None:
    if task in REGRESSION_TASKS and key in REGRESSION_WORDS:
        return REGRESSION_WORDS[key]
    if task in TABLE_TASKS:
        if key in TABLE_WORDS:
            return TABLE_WORDS[key]
        return Words(in_rows(known.name), in_rows(known.means)) if known else None
    return known


_PATH_PART = re.compile(r"\s*\((?:[^()]*;\s*)?(?:read|expected) at [^()]*\)")


def gate_name(name: str | None, task: str | None = None) -> str:
    """The plain name of a check (in the words of `task`, e.g. rows for a table); an unknown one (a plug-in's)
    reads as its words."""
    known = _for_task(GATES.get(str(name)), str(name), task)
    return known.name if known else str(name or "check").replace("_", " ").capitalize()


def gate_means(name: str | None, task: str | None = None) -> str:
    known = _for_task(GATES.get(str(name)), str(name), task)
    return known.means if known else ""


def metric_words(key: str, task: str | None = None) -> Words:
    """A figure's plain name and caption (in the words of `task`); a key not listed reads as its words, with no
    caption."""
    return _for_task(METRICS.get(str(key)), str(key), task) or Words(str(key).replace("_", " ").capitalize(), "")


def metric_name(key: str, task: str | None = None) -> str:
    return metric_words(key, task).name


def no_paths(message: str | None) -> str:
    """A gate message without the JSON path it was read at and without the raw gate name before a colon."""
    text = _PATH_PART.sub("", str(message or ""))
    text = re.sub(r";\s*read at [^;()]+", "", text)
    text = re.sub(r"\bexpected at [\w. ›-]+", "in report.json", text)
    text = re.sub(r"^[a-z][a-z0-9_]*_[a-z0-9_]+: ", "", text)  # "min_retention: skipped: ..." -> "skipped: ..."
    return text.strip()


# --- ratios -------------------------------------------------------------------------------------------------


def ratio_words(ratio, what: str = "faster", *, precise: bool = False) -> str:
    """A speed ratio as a manager reads it: '451x faster', '1.3x faster', '0.61x — the student is 1.6x slower'.

    Below 1 the student is slower, and says by how much; a ratio is never rounded up to '1x faster'.
    `precise`: 4 significant digits, as the compliance report prints every figure."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        return "not measured"
    if ratio <= 0:
        return f"{ratio:.2f}x"

    def show(x: float) -> str:
        if precise:
            return f"{x:,.0f}" if x >= 10000 else f"{x:.4g}"
        return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 1.05 else f"{x:.2f}"

    if ratio >= 1:
        return f"{show(ratio)}x {what}" if show(ratio) not in ("1.00", "1") else "about as fast as the teacher (1x)"
    slower = 1 / ratio
    if slower < 1.05:
        return f"{show(ratio)}x — about as fast as the teacher"
    return f"{show(ratio)}x — the student is {show(slower) if precise else f'{slower:.1f}'}x slower"


def speed_short(ratio) -> str:
    """The ratio alone, for a big number on a card: '451x', '0.61x'."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        return "n/a"
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.1f}x" if ratio >= 1.05 else f"{ratio:.2f}x"


# --- money --------------------------------------------------------------------------------------------------


def usd(x, missing: str = "n/a") -> str:
    """A dollar figure for reading: cents from a cent up ('$34.99'), below a cent two significant digits with at
    least four decimals ('$0.0011', '$0.0050', '$0.000012'), so a small cost never reads '$0.00'."""
    import math

    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return missing
    if x == 0:
        return "$0.0000"  # as report.html writes a figure below a cent
    if abs(x) >= 0.01:
        return f"${x:,.2f}" if x > 0 else f"-${-x:,.2f}"
    rounded = float(f"{abs(x):.2g}")  # two significant digits, then as many decimals as they need
    decimals = max(4, 1 - math.floor(math.log10(rounded)))
    return ("$" if x > 0 else "-$") + f"{rounded:.{decimals}f}"
