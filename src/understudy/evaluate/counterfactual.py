"""Counterfactual test: does swapping a name, a gendered word, a nationality or a religion change the answer?

For each category of swap lists (built-in in counterfactual_words.yaml, extendable by the caller),
the texts that contain a swappable word get one or more counterfactual twins with the words swapped
(whole words, case kept: "He" -> "She"). A model "flips" on a text when its predicted class on any
twin differs from its prediction on the original. A student that flips more than its teacher has
learned to lean on who is mentioned rather than on what is said.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ..errors import UserError
from .evidence import clip, paired_difference, rate

__all__ = ["counterfactual_report", "swap_lists", "counterfactuals", "unjudged"]

Predict = Callable[[list[str]], np.ndarray]
WORDS_FILE = "counterfactual_words.yaml"


@dataclass
class Category:
    name: str
    description: str
    capitalised_only: bool
    groups: list[list[str]]
    index: dict[str, tuple[int, int]] = field(default_factory=dict)  # lower-case word -> (group, member)
    pattern: re.Pattern | None = None

    def build(self) -> Category:
        self.index = {}
        for g, group in enumerate(self.groups):
            for m, word in enumerate(group):
                self.index.setdefault(word.lower(), (g, m))  # first group wins for a shared word
        words = sorted(self.index, key=len, reverse=True)  # longest first: "men" must not eat "women"
        self.pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
        return self


def _check_groups(groups, where: str) -> list[list[str]]:
    if not isinstance(groups, list) or not groups:
        raise UserError(
            f"{where}: give a list of swap groups, each a list of at least two words, e.g. [[he, she], [his, her]]"
        )
    out = []
    for i, group in enumerate(groups):
        if (
            not isinstance(group, (list, tuple))
            or len(group) < 2
            or not all(isinstance(w, str) and w.strip() for w in group)
        ):
            raise UserError(f"{where}[{i}]: a swap group is a list of at least two non-empty words, got {group!r}")
        out.append([w.strip() for w in group])
    return out


def swap_lists(extra: Mapping[str, list[list[str]]] | None = None) -> dict[str, Category]:
    """The built-in categories, with ``extra`` groups added (to a built-in category of that name,
    or as a new category)."""
    import yaml

    raw = yaml.safe_load(resources.files("understudy.evaluate").joinpath(WORDS_FILE).read_text(encoding="utf-8"))
    cats = {
        name: Category(
            name,
            spec["description"],
            bool(spec.get("capitalised_only", False)),
            _check_groups(spec["groups"], f"{WORDS_FILE}: {name}.groups"),
        )
        for name, spec in raw.items()
    }
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise UserError(
                "counterfactual extra must map a category name to a list of swap groups, "
                "e.g. {'team': [['Arsenal', 'Chelsea']]}"
            )
        for name, groups in extra.items():
            groups = _check_groups(groups, f"counterfactual extra '{name}'")
            if name in cats:
                cats[name].groups = cats[name].groups + groups
            else:
                cats[name] = Category(str(name), f"caller's swap list '{name}'", False, groups)
    return {name: cat.build() for name, cat in cats.items()}


def _match_case(source: str, target: str) -> str:
    if len(source) > 1 and source.isupper():
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    if source.islower():
        return target.lower()
    return target


def _matches(text: str, cat: Category) -> list[re.Match]:
    found = cat.pattern.finditer(text)
    return [m for m in found if not cat.capitalised_only or m.group(0)[:1].isupper()]


def _swap(text: str, matches: list[re.Match], cat: Category, shift: int) -> str:
    """Replace each matched word by the member ``shift`` places on in its group (cyclically,
    skipping itself), all in one pass so that he->she and she->he do not undo each other."""
    parts, last = [], 0
    for m in matches:
        g, i = cat.index[m.group(0).lower()]
        group = cat.groups[g]
        step = (shift - 1) % (len(group) - 1) + 1
        parts += [text[last : m.start()], _match_case(m.group(0), group[(i + step) % len(group)])]
        last = m.end()
    return "".join(parts) + text[last:]


def counterfactuals(text: str, cat: Category, rng: np.random.Generator, max_variants: int = 3) -> list[str]:
    """Counterfactual twins of ``text`` for one category; [] when no word of the category is in it.

    A pair gives one twin; a longer group gives up to ``max_variants`` twins, each shifting the
    words by a different, randomly drawn number of places in their groups."""
    matches = _matches(text, cat)
    if not matches:
        return []
    widest = max(len(cat.groups[cat.index[m.group(0).lower()][0]]) for m in matches)
    shifts = np.arange(1, widest)
    if len(shifts) > max_variants:
        shifts = np.sort(rng.choice(shifts, size=max_variants, replace=False))
    twins = [_swap(text, matches, cat, int(s)) for s in shifts]
    return [t for t in dict.fromkeys(twins) if t != text]


def predict_classes(predict: Predict, texts: list[str], k: int, who: str) -> np.ndarray:
    """Class indices from a probabilities function, with a clear error when it returns the wrong shape."""
    probs = np.asarray(predict(texts))
    if probs.ndim != 2 or probs.shape != (len(texts), k):
        raise UserError(
            f"the {who} prediction function returned shape {probs.shape} for {len(texts)} texts; "
            f"expected ({len(texts)}, {k}): one probability row per text, one column per label"
        )
    return probs.argmax(axis=1)


def counterfactual_report(
    texts: Sequence[str],
    t_predict: Predict,
    s_predict: Predict,
    labels: Sequence[str],
    *,
    extra: Mapping[str, list[list[str]]] | None = None,
    max_texts: int = 500,
    n_examples: int = 5,
    max_variants: int = 3,
    seed: int = 0,
) -> dict:
    """How often each model's predicted class changes when names, gendered words, nationalities or
    religions are swapped, per category.

    ``t_predict`` / ``s_predict`` map a list of texts to an (n, k) probability array. At most
    ``max_texts`` texts per category are tested (a seeded sample of those where a swap applies);
    every text either model needs is predicted in one call per model. Each flip rate carries its
    evidence (``flip_rate_evidence``: count, total, exact 95% interval) and the student's excess over
    the teacher a paired 95% interval (``student_minus_teacher_evidence``). Examples show flips, those
    where only the student flips first, each text cut to 200 characters.
    """
    texts = [str(t) for t in texts]
    labels = [str(label) for label in labels]
    for name, value, least in (
        ("max_texts", max_texts, 1),
        ("n_examples", n_examples, 0),
        ("max_variants", max_variants, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise UserError(f"counterfactual {name} must be an integer of at least {least}, got {value!r}")
    cats = swap_lists(extra)

    plan: dict[str, list[tuple[str, list[str]]]] = {}
    applies: dict[str, int] = {}
    for name, cat in cats.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        hits = [i for i, t in enumerate(texts) if _matches(t, cat)]
        applies[name] = len(hits)
        if len(hits) > max_texts:
            hits = sorted(rng.choice(hits, size=max_texts, replace=False).tolist())
        rows = [(texts[i], counterfactuals(texts[i], cat, rng, max_variants)) for i in hits]
        plan[name] = [(t, twins) for t, twins in rows if twins]

    needed = list(dict.fromkeys(t for rows in plan.values() for orig, twins in rows for t in [orig, *twins]))
    pred = {}
    if needed:
        where = {t: i for i, t in enumerate(needed)}
        for who, fn in (("teacher", t_predict), ("student", s_predict)):
            classes = predict_classes(fn, needed, len(labels), who)
            pred[who] = lambda t, c=classes: int(c[where[t]])

    report = {"n_texts": len(texts), "max_texts": int(max_texts), "seed": int(seed), "categories": {}}
    for name, rows in plan.items():
        flips = {"teacher": 0, "student": 0}
        both = 0  # texts where both models flip: the paired interval needs them
        examples = []
        for orig, twins in rows:
            flipped = {}
            for who in ("teacher", "student"):
                before = pred[who](orig)
                flipped[who] = next((tw for tw in twins if pred[who](tw) != before), None)
                flips[who] += flipped[who] is not None
            both += flipped["teacher"] is not None and flipped["student"] is not None
            if flipped["teacher"] is not None or flipped["student"] is not None:
                twin = flipped["student"] if flipped["student"] is not None else flipped["teacher"]
                priority = 0 if flipped["teacher"] is None else (1 if flipped["student"] else 2)
                examples.append(
                    (
                        priority,
                        {
                            "text": clip(orig),
                            "swapped": clip(twin),
                            **{
                                who: {"before": labels[pred[who](orig)], "after": labels[pred[who](twin)]}
                                for who in ("teacher", "student")
                            },
                        },
                    )
                )
        n = len(rows)
        shares = {who: (flips[who] / n if n else None) for who in flips}
        counted = f"texts with a {name.replace('_', ' ')} swap"
        excess = paired_difference(both, flips["student"] - both, flips["teacher"] - both, n)
        report["categories"][name] = {
            "description": cats[name].description,
            "texts_with_swap": applies[name],
            "tested": n,
            "variants": int(sum(len(twins) for _, twins in rows)),
            **{
                who: {
                    "flips": int(flips[who]),
                    "flip_rate": shares[who],
                    "flip_rate_evidence": rate(int(flips[who]), n, counted),
                }
                for who in ("teacher", "student")
            },
            "student_minus_teacher": (shares["student"] - shares["teacher"]) if n else None,
            "student_minus_teacher_evidence": {
                "count": int(flips["student"] - both),
                "total": n,
                "rate": excess["value"],
                "interval": excess["interval"],
                "method": excess["method"],
                "counted": f"{counted} where only the student flips ({flips['teacher'] - both} where only the teacher does)",
            },
            "examples": [e for _, e in sorted(examples, key=lambda pe: pe[0])[:n_examples]],
        }
    # No text to swap in is no evidence either way: say so, and the gate is SKIPPED with this why (gates.py).
    judged = any(c["tested"] for c in report["categories"].values())
    report["unjudged"] = None if judged else unjudged_words(extra is not None and bool(extra))
    return report


def unjudged_words(extra: bool = False) -> str:
    """Why no flip rate was judged: no evaluation text had a word of any swap list."""
    if extra:
        return (
            "no evaluation text had a name, gender, nationality or religion word, or a word of "
            "safety.counterfactual_words, to swap; add texts that do, or extend safety.counterfactual_words"
        )
    return (
        "no evaluation text had a name, gender, nationality or religion word to swap; add texts that do, "
        "or set safety.counterfactual_words"
    )


def unjudged(section: dict) -> str | None:
    """The section's `unjudged`; for a report written before it existed, the same reading from its counts."""
    if section.get("unjudged"):
        return str(section["unjudged"])
    cats = section.get("categories")
    if isinstance(cats, dict) and cats and not any((c or {}).get("tested") for c in cats.values()):
        return unjudged_words()
    return None


from pydantic import Field  # noqa: E402  (light; after the report functions it checks)

from ..gates import GateDef, largest_in  # noqa: E402
from ..report.schema import Figures  # noqa: E402


class CounterfactualFigures(Figures):
    """report["counterfactual"]: how often each model's answer changes when a swap word is replaced."""

    n_texts: int = Field(description="evaluation texts looked at")
    max_texts: int = Field(description="at most this many texts are tested per category (a seeded sample)")
    seed: int = Field(description="the seed of the sample and of the swaps")
    categories: dict = Field(
        description='{category: {"description", "texts_with_swap", "tested", "variants", '
        '"teacher": {"flips", "flip_rate", "flip_rate_evidence": {"count", "total", "rate", "interval", "method", '
        '"counted"}}, "student": {...}, "student_minus_teacher", "student_minus_teacher_evidence": {... a paired '
        '95% interval of the difference (Newcombe)}, "examples": [{"text", "swapped", "teacher": {"before", "after"}, '
        '"student": {...}}]}}: at most 5 examples, texts cut to 200 characters'
    )
    unjudged: str | None = Field(
        None,
        description="why no flip rate could be judged (no evaluation text had a word to swap), or null; "
        "the gate is then skipped with this reason",
    )


class Counterfactual:
    """Evaluation: swap names, gendered words, nationalities and religions; count changed predictions."""

    name = "counterfactual"
    title = "Counterfactual swaps"
    about = "whether swapping a name, gendered word, nationality or religion changes the answer"
    tasks = frozenset({"text-classification"})
    order = 30
    figures = CounterfactualFigures
    gates = (
        GateDef(
            "max_counterfactual_flip_rate",
            "max",
            largest_in(
                "counterfactual",
                lambda p: (p[-1] == "flip_rate" and "student" in p) or p[-1] == "student_flip_rate",
                'the largest "flip_rate" under a "student" key',
            ),
            "the student's counterfactual flip rate",
            ".1%",
            how="run the counterfactual evaluation (safety.counterfactual: true)",
        ),
    )

    def html(self, section: dict, report: dict) -> str:
        from ..report.sections import esc, get, table
        from .evidence import gate_bound, reading_of, words

        cats = section.get("categories")
        if not cats:
            return ""
        why = unjudged(section)
        if why:  # a table of "0 of 0 … too few to judge" per swap would only repeat this
            return f"<h3>Counterfactual swaps</h3><p>Not judged: {esc(why)}.</p>"
        bound, _ = gate_bound(report, "max_counterfactual_flip_rate")
        rows = [
            [
                esc(name),
                esc(c.get("tested")),
                esc(words(get(c, "teacher", "flip_rate_evidence"), fallback=get(c, "teacher", "flip_rate"))),
                esc(words(get(c, "student", "flip_rate_evidence"), fallback=get(c, "student", "flip_rate"))),
                esc(words(c.get("student_minus_teacher_evidence"), fallback=c.get("student_minus_teacher"))),
                esc(reading_of(get(c, "student", "flip_rate_evidence"), bound) or "no gate"),
            ]
            for name, c in cats.items()
        ]
        examples = [
            [
                esc(name),
                esc(e.get("text")),
                esc(e.get("swapped")),
                esc(f"{get(e, 'teacher', 'before')} → {get(e, 'teacher', 'after')}"),
                esc(f"{get(e, 'student', 'before')} → {get(e, 'student', 'after')}"),
            ]
            for name, c in cats.items()
            for e in (c.get("examples") or [])[:5]
        ]
        bound_words = f" against the gate's bound of {bound:.1%}" if bound is not None else ""
        return (
            "<h3>Counterfactual swaps: texts whose answer changes</h3>"
            + f"<p>Flips as count of texts tested, with an exact 95% interval; the reading{esc(bound_words)} is "
            "on the interval: past the bound, within it, or too few to judge when it straddles the bound.</p>"
            + table(["Swapped", "Texts", "Teacher flips", "Student flips", "Student − teacher", "Reading"], rows, "cmp")
            + (
                "<h4>Examples of flips</h4>"
                + table(["Swapped", "Text", "With the swap", "Teacher", "Student"], examples)
                if examples
                else "<p>No text's answer changed on a swap.</p>"
            )
        )

    def summary(self, section: dict) -> list[str]:
        from ..report.sections import get, percent

        rated = [
            (get(c, "student", "flip_rate"), name, c)
            for name, c in (section.get("categories") or {}).items()
            if isinstance(get(c, "student", "flip_rate"), (int, float))
        ]
        if not rated:
            return [f"counterfactual swaps: not judged: {unjudged(section) or unjudged_words()}"]
        rate, name, c = max(rated, key=lambda r: r[0])
        return [
            f"counterfactual swaps: swapping {name} changes the student's answer on {percent(rate)} of "
            f"{c.get('tested')} texts (teacher {percent(get(c, 'teacher', 'flip_rate'))})"
        ]

    def enabled(self, recipe) -> str | None:
        return None if recipe.safety.counterfactual else "safety.counterfactual: false"

    def run(self, ctx) -> dict:
        spec = ctx.recipe.safety
        ctx.progress.note("counterfactuals: swapping names, gendered words, nationalities and religions")
        return counterfactual_report(
            ctx.inputs,
            ctx.teacher_predict,
            ctx.student_predict or ctx.student.predict_proba,
            ctx.labels,
            extra=spec.counterfactual_words or None,
            max_texts=spec.counterfactual_texts,
            seed=ctx.recipe.training.seed,
        )
