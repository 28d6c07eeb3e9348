"""A rate with its evidence: exact intervals, Newcombe's differences, and the reading against a bound."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.evaluate.evidence import (
    PAST,
    TOO_FEW,
    WITHIN,
    clip,
    difference,
    paired_difference,
    rate,
    read,
    settle,
    wilson,
)


def test_three_of_56_against_5_percent_is_too_few_to_judge():
    ev = rate(3, 56, "texts")
    assert (ev["count"], ev["total"]) == (3, 56) and ev["rate"] == pytest.approx(3 / 56)
    low, high = ev["interval"]
    assert low < 0.05 < high  # the point 5.4% is over the bound, the evidence is not
    assert read(ev["interval"], 0.05, "max") == TOO_FEW
    more = settle(ev["rate"], ev["interval"], 0.05, 56)
    assert more is not None and more > 56  # a rate this close to the bound needs many more texts


def test_30_of_100_is_past_and_0_of_2000_within_a_5_percent_bound():
    assert read(rate(30, 100)["interval"], 0.05, "max") == PAST
    ev = rate(0, 2000)
    assert ev["interval"][0] == 0.0 and read(ev["interval"], 0.05, "max") == WITHIN
    # a minimum bound reads the other way round
    assert read(rate(97, 100)["interval"], 0.9, "min") == WITHIN
    assert read(rate(50, 100)["interval"], 0.9, "min") == PAST


def test_the_exact_interval_covers_the_true_rate_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true, n = 0.05, 56
    counts = rng.binomial(n, true, size=2000)
    covered = [lo <= true <= hi for lo, hi in (rate(int(k), n)["interval"] for k in counts)]
    assert np.mean(covered) >= 0.95


def test_no_cases_is_the_whole_range_and_bad_counts_are_refused():
    assert rate(0, 0)["interval"] == [0.0, 1.0] and rate(0, 0)["rate"] is None
    assert read(rate(0, 0)["interval"], 0.05, "max") == TOO_FEW
    with pytest.raises(ValueError, match="more than total"):
        rate(5, 3)
    with pytest.raises(ValueError, match="whole number"):
        wilson(1.5, 3)


def test_differences_carry_newcombe_intervals():
    # Newcombe 1998 (independent, method 10), his worked example: 56/70 - 48/80, interval 0.0524 to 0.3339
    d = difference(56, 70, 48, 80)
    assert d["value"] == pytest.approx(0.2) and d["interval"] == pytest.approx([0.0524, 0.3339], abs=1e-4)
    p = paired_difference(12, 9, 5, 28)
    assert p["value"] == pytest.approx(4 / 28) and p["interval"][0] < 4 / 28 < p["interval"][1]
    same = paired_difference(3, 0, 0, 100)  # the same cases: no difference, and a tight interval around 0
    assert same["value"] == 0 and same["interval"][0] <= 0 <= same["interval"][1] < 0.05


def test_a_long_text_is_clipped_with_an_ellipsis():
    assert clip("short") == "short"
    long = "word " * 100
    assert len(clip(long)) <= 200 and clip(long).endswith("…")


def test_the_paired_interval_covers_a_true_difference_about_95_percent_of_the_time():
    # student and teacher flips on the same 100 texts: both 2%, only the student 6%, only the teacher 1%
    rng = np.random.default_rng(1)
    cells = rng.multinomial(100, [0.02, 0.06, 0.01, 0.91], size=2000)
    true = 0.06 - 0.01
    covered = [
        lo <= true <= hi
        for lo, hi in (paired_difference(int(a), int(b), int(c), 100)["interval"] for a, b, c, _ in cells)
    ]
    assert np.mean(covered) >= 0.93
