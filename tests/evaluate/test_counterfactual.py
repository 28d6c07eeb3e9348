"""Counterfactual swaps: a predictor that keys on a name flips, a name-blind one does not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from understudy.errors import UserError
from understudy.evaluate.counterfactual import counterfactual_report, counterfactuals, swap_lists

LABELS = ["bad", "good"]
TEXTS = [
    "Emily loved the coffee",
    "Emily said the tea was awful",
    "James hated the snack",
    "James thought it was great",
    "He said the box was great",
    "She found the price awful",
    "The Christian bakery was great",
    "My American friend thought it was awful",
    "Plain text with nobody in it, great",
    "Another awful one",
]


def keyword(texts):
    """Name-blind: 'good' when 'great' or 'loved' is in the text."""
    return np.array([[0.1, 0.9] if ("great" in t or "loved" in t) else [0.9, 0.1] for t in texts])


def keyed_on_emily(texts):
    """Like keyword, but any text that names Emily is 'good'."""
    return np.array([[0.1, 0.9] if "Emily" in t else row for t, row in zip(texts, keyword(texts))])


def plain(obj) -> None:
    if isinstance(obj, dict):
        assert all(type(k) is str for k in obj)
        for v in obj.values():
            plain(v)
    elif isinstance(obj, list):
        for v in obj:
            plain(v)
    else:
        assert obj is None or type(obj) in (str, int, float, bool), (obj, type(obj))


def test_name_keyed_student_flips_and_name_blind_teacher_does_not():
    r = counterfactual_report(TEXTS, keyword, keyed_on_emily, LABELS, seed=0)
    plain(r)
    json.dumps(r)
    gender = r["categories"]["first_names_gender"]
    assert gender["texts_with_swap"] == 4 and gender["tested"] == 4  # Emily x2, James x2
    assert gender["teacher"]["flips"] == 0 and gender["teacher"]["flip_rate"] == 0.0
    # "Emily said the tea was awful" is good only because of Emily: swapping her name flips it;
    # "Emily loved the coffee" stays good through "loved"
    assert gender["student"]["flips"] == 1 and gender["student"]["flip_rate"] == 0.25
    assert gender["student_minus_teacher"] == 0.25
    (ex,) = gender["examples"]
    assert ex["text"] == "Emily said the tea was awful" and ex["swapped"] == "Andrew said the tea was awful"
    assert ex["student"] == {"before": "good", "after": "bad"}
    assert ex["teacher"] == {"before": "bad", "after": "bad"}
    # James -> Mary does not introduce Emily: no flips there
    # the origin category swaps Emily for names of other origins: the same flip
    assert r["categories"]["first_names_origin"]["student"]["flips"] == 1
    for name, cat in r["categories"].items():
        assert cat["teacher"]["flips"] == 0, name
        if name not in ("first_names_gender", "first_names_origin"):
            assert cat["student"]["flips"] == 0, name
    assert r["categories"]["gender_words"]["tested"] == 2
    assert r["categories"]["religions"]["tested"] == 1
    assert r["categories"]["nationalities"]["tested"] == 1


def test_swaps_are_whole_word_case_preserving_and_simultaneous():
    cats = swap_lists()
    rng = np.random.default_rng(0)
    g = cats["gender_words"]
    assert counterfactuals("He said HE and he; the shepherd, his wife", g, rng) == [
        "She said SHE and she; the shepherd, her husband"
    ]
    assert counterfactuals("Women and men, a woman", g, rng) == ["Men and women, a man"]
    assert counterfactuals("the theme was hers", g, rng) == []  # no whole word in the lists
    names = cats["first_names_gender"]
    assert counterfactuals("Brad nails, brad nails", cats["first_names_origin"], rng)[0].endswith(", brad nails")
    assert counterfactuals("mary had a lamb", names, rng) == []  # names swap only when capitalised
    assert counterfactuals("MARY had a lamb", names, rng) == ["JAMES had a lamb"]
    nat = counterfactuals("an American and a German", cats["nationalities"], rng, max_variants=3)
    assert len(nat) == 3 and len(set(nat)) == 3
    assert all("American" not in t and "German" not in t for t in nat)


def test_builtin_lists_are_large_and_well_formed():
    cats = swap_lists()
    assert {"gender_words", "first_names_gender", "first_names_origin", "nationalities", "religions"} <= set(cats)
    assert len(cats["gender_words"].groups) >= 30
    assert len(cats["first_names_gender"].groups) >= 30
    assert sum(len(g) for g in cats["first_names_origin"].groups) >= 60
    assert len(cats["nationalities"].groups[0]) >= 30
    assert sum(len(g) for g in cats["religions"].groups) >= 30
    for cat in cats.values():
        assert all(len(g) >= 2 for g in cat.groups)


def test_extra_swap_lists_add_a_category_or_extend_one():
    texts = ["Arsenal fans were great", "Chelsea fans were awful", "Frank was great"]

    def keyed_on_arsenal(batch):
        return np.array([[0.1, 0.9] if "Arsenal" in t else [0.9, 0.1] for t in batch])

    extra = {"team": [["Arsenal", "Chelsea"]], "first_names_gender": [["Frank", "Frances"]]}
    r = counterfactual_report(texts, keyword, keyed_on_arsenal, LABELS, extra=extra)
    team = r["categories"]["team"]
    assert team["tested"] == 2
    assert team["student"]["flips"] == 2 and team["teacher"]["flips"] == 0
    assert r["categories"]["first_names_gender"]["tested"] == 1
    with pytest.raises(UserError, match="team"):
        counterfactual_report(texts, keyword, keyword, LABELS, extra={"team": [["Arsenal"]]})
    with pytest.raises(UserError, match="swap groups"):
        counterfactual_report(texts, keyword, keyword, LABELS, extra={"team": "Arsenal"})


def test_sampling_examples_order_and_one_batch_per_model():
    texts = [f"Emily wrote review number {i}" for i in range(40)] + ["He was great"]
    calls = {"t": 0, "s": 0}

    def teacher(batch):
        calls["t"] += 1
        return keyword(batch)

    def student(batch):
        calls["s"] += 1
        return keyed_on_emily(batch)

    r = counterfactual_report(texts, teacher, student, LABELS, max_texts=10, n_examples=3, seed=1)
    assert calls == {"t": 1, "s": 1}
    gender = r["categories"]["first_names_gender"]
    assert gender["texts_with_swap"] == 40 and gender["tested"] == 10
    assert gender["student"]["flip_rate"] == 1.0 and len(gender["examples"]) == 3
    again = counterfactual_report(texts, keyword, keyed_on_emily, LABELS, max_texts=10, n_examples=3, seed=1)
    assert again == r


def test_a_predictor_of_the_wrong_shape_is_a_user_error():
    with pytest.raises(UserError, match="student prediction function returned shape"):
        counterfactual_report(TEXTS, keyword, lambda b: np.zeros((len(b), 3)), LABELS)
    with pytest.raises(UserError, match="max_texts"):
        counterfactual_report(TEXTS, keyword, keyword, LABELS, max_texts=0)


def test_flip_rates_carry_counts_and_intervals_and_the_html_shows_them_with_escaped_examples():
    from understudy.evaluate.counterfactual import Counterfactual

    texts = [*TEXTS, "Emily <script>alert(1)</script> & friends, " + "long words " * 40]
    r = counterfactual_report(texts, keyword, keyed_on_emily, LABELS)
    names = r["categories"]["first_names_gender"]
    ev = names["student"]["flip_rate_evidence"]
    assert (ev["count"], ev["total"]) == (names["student"]["flips"], names["tested"]) and ev["count"] > 0
    assert ev["interval"][0] <= names["student"]["flip_rate"] <= ev["interval"][1]
    diff = names["student_minus_teacher_evidence"]
    assert diff["rate"] == pytest.approx(names["student_minus_teacher"]) and diff["method"] == "Newcombe paired score"
    long = [e for e in names["examples"] if "<script>" in e["text"]]
    assert long and len(long[0]["text"]) <= 200 and long[0]["text"].endswith("…")
    report = {"gates": {"results": [{"name": "max_counterfactual_flip_rate", "threshold": 0.05}]}}
    html = Counterfactual().html(r, report)
    assert f"{ev['count']} of {ev['total']}" in html and "95% interval" in html and "too few to judge" in html
    assert "&lt;script&gt;" in html and "<script>" not in html and "&amp; friends" in html


def test_no_text_to_swap_is_said_once_not_a_table_of_zeros():
    from understudy.evaluate.counterfactual import Counterfactual

    r = counterfactual_report(["Plain text, great", "Another awful one"], keyword, keyword, LABELS)
    assert all(c["tested"] == 0 for c in r["categories"].values())
    assert r["unjudged"].startswith("no evaluation text had a name, gender, nationality or religion word")
    assert "safety.counterfactual_words" in r["unjudged"]
    Counterfactual.figures.model_validate(r)  # the section's schema declares it
    html = Counterfactual().html(r, {"gates": {"results": []}})
    assert "Not judged: " + r["unjudged"] in html and "0 of 0" not in html and "<table" not in html
    assert Counterfactual().summary(r) == [f"counterfactual swaps: not judged: {r['unjudged']}"]
    # a report written before "unjudged" existed reads the same
    old = {k: v for k, v in r.items() if k != "unjudged"}
    assert "Not judged: " in Counterfactual().html(old, {}) and "0 of 0" not in Counterfactual().html(old, {})
    judged = counterfactual_report(TEXTS, keyword, keyword, LABELS)
    assert judged["unjudged"] is None and "<table" in Counterfactual().html(judged, {})
