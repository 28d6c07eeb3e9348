"""Recognise a licence by its text, not its tag: normalised words, marker phrases, tolerant of small edits."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_NON_WORD = re.compile(r"[^a-z0-9]+")
PRESENT = 0.75  # share of a marker's word pairs that must be found for it to count (survives a changed word)
IDENTIFIED = 0.6  # share of an entry's markers that must be present


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("'", "")
    return _NON_WORD.sub(" ", text).strip()


def _pairs(words: list[str]) -> set[tuple[str, str]]:
    return set(zip(words, words[1:]))


@dataclass
class Text:
    """A licence text, normalised, with a map back to the original line numbers."""

    raw: str
    norm: str
    starts: list[int]  # offset in `norm` where each original line begins
    pairs: set

    @classmethod
    def of(cls, raw: str) -> Text:
        parts, starts, pos = [], [], 0
        for line in raw.splitlines():
            starts.append(pos)
            n = normalise(line)
            parts.append(n)
            pos += len(n) + 1
        norm = " ".join(parts)  # not collapsed, so offsets map back to lines; searches allow runs of spaces
        return cls(raw, norm, starts, _pairs(norm.split()))

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def find(self, phrase: str) -> tuple[float, int | None]:
        """How well a phrase is present (0..1) and the 1-based line where it starts, if found exactly."""
        phrase = normalise(phrase)
        if not phrase:
            return 0.0, None
        pos = _find_spaced(self.norm, phrase)
        if pos is not None:
            return 1.0, self.line_of(pos)
        words = phrase.split()
        if len(words) < 2:
            return (1.0, None) if words[0] in self.norm.split() else (0.0, None)
        pairs = _pairs(words)
        score = len(pairs & self.pairs) / len(pairs)
        line = None
        if score >= PRESENT:  # locate its first found pair for the evidence line
            for a, b in zip(words, words[1:]):
                at = _find_spaced(self.norm, f"{a} {b}")
                if at is not None:
                    line = self.line_of(at)
                    break
        return score, line


def _find_spaced(norm: str, phrase: str) -> int | None:
    """Find a phrase in text whose words may be separated by several spaces (line joins, blank lines)."""
    pattern = r"(?<![a-z0-9])" + r" +".join(map(re.escape, phrase.split())) + r"(?![a-z0-9])"
    m = re.search(pattern, norm)
    return m.start() if m else None


def marker_score(text: Text, markers: list[str]) -> tuple[float, list[tuple[str, int | None]]]:
    """Share of markers present, and the markers found with their lines."""
    if not markers:
        return 0.0, []
    found = []
    for m in markers:
        score, line = text.find(m)
        if score >= PRESENT:
            found.append((m, line))
    return len(found) / len(markers), found


# Clauses that make an unrecognised licence text need a human: quoted in the evidence.
RED_FLAGS = {
    "non-commercial": r"non ?commercial",
    "research only": r"research (purposes )?only|solely for (non commercial )?research",
    "no training other models": r"(improve|train|develop)\w* (any )?(other|another|competing|a competing) (large language |ai |machine learning )?models?",
    "no derivatives": r"no derivatives|not (distribute|share) (any )?(derivatives|modified|adapted)",
    "medical use restricted": r"medical advice|clinical (use|practice)",
    "use restrictions": r"use restrictions|acceptable use policy|prohibited uses?",
}


def red_flags(text: Text) -> list[tuple[str, int, str]]:
    """(flag, line, the line's text) for every restrictive clause in a text nobody has catalogued."""
    out = []
    for flag, pattern in RED_FLAGS.items():
        m = re.search(pattern, text.norm)
        if m:
            line = text.line_of(m.start())
            out.append((flag, line, text.raw.splitlines()[line - 1].strip()[:300]))
    return out
