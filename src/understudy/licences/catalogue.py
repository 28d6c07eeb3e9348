"""The catalogue of licences and terms: data in catalogue.yaml, checked here against a schema on load."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import UserError
from .textmatch import IDENTIFIED, Text, marker_score, normalise

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
Sector = Literal["general", "retail", "marketing", "finance", "hr", "healthcare"]
SECTORS: tuple[str, ...] = get_args(Sector)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Distillation(_Strict):
    allowed: Literal["yes", "no", "derivative-only", "research-only", "conditional", "permission-required"]
    clause: str = ""
    section: str | None = None
    condition: str | None = None


class Commercial(_Strict):
    allowed: Literal["yes", "no", "threshold"]
    monthly_active_users_limit: int | None = None
    clause: str | None = None


class Obligations(_Strict):
    summary: str | None = None  # a few words for the one-line summary the terminal prints; derived when absent
    attribution: str | None = None
    name_prefix: str | None = None
    notice: str | None = None
    licence_copy: bool = False
    pass_on_use_policy: bool = False
    use_policy: str | None = None
    share_alike: str | None = None
    no_redistribution_of_derivatives: bool = False
    source_code: bool = False
    other: list[str] = []

    def any(self) -> bool:
        return any(v for k, v in self.model_dump().items() if k != "summary")


class Restriction(_Strict):
    id: str
    sectors: list[Sector] = []
    clause: str
    where: str | None = None


class Geographic(_Strict):
    region: str
    clause: str
    applies_to: str | None = None


class Entry(_Strict):
    id: str
    name: str
    family: str
    kind: Literal[
        "permissive",
        "copyleft",
        "creative-commons",
        "model-licence",
        "responsible-ai",
        "research-only",
        "api-terms",
        "public-domain",
        "own-model",
    ]
    aliases: list[str] = []
    model_patterns: list[str] = []
    source: str
    read: dt.date | str
    text_markers: list[str] = []
    distillation: Distillation
    commercial: Commercial
    obligations: Obligations = Obligations()
    restricted_uses: list[Restriction] = []
    geographic: list[Geographic] = []
    notes: str | None = None


class Catalogue(_Strict):
    schema_version: int
    licences: list[Entry]

    def model_post_init(self, _ctx) -> None:
        self._by_alias = {}
        for e in self.licences:
            for name in [e.id, *e.aliases]:
                self._by_alias.setdefault(_key(name), e)
        self._patterns = [(e, re.compile(p)) for e in self.licences for p in e.model_patterns]

    def get(self, id_: str) -> Entry:
        return self._by_alias[_key(id_)]

    def lookup(self, tag: str | None) -> Entry | None:
        """A tag as written in a card, a package or a recipe ('apache-2.0', 'Apache License 2.0', 'llama3.1')."""
        if not tag:
            return None
        return self._by_alias.get(_key(tag))

    def values(self) -> list[str]:
        """Every value a licence may be written as: the ids and their aliases."""
        return list(dict.fromkeys(name for e in self.licences for name in [e.id, *e.aliases]))

    def suggest(self, value: str) -> list[str]:
        """The accepted values nearest a misspelt one, for 'did you mean': ids and aliases alike, ignoring case and
        punctuation, and a swap of two neighbouring letters ('MTI' -> 'mit') that difflib scores too low."""
        key = _key(value.split(":", 1)[0])
        swapped = {key[:i] + key[i + 1] + key[i] + key[i + 2 :] for i in range(len(key) - 1)}
        near = [k for k in self._by_alias if k in swapped]
        near += difflib.get_close_matches(key, self._by_alias, n=6, cutoff=0.75)
        return list(dict.fromkeys(self._by_alias[k].id for k in near))[:3]  # one per licence, by its id

    def suggest_written(self, value: str) -> list[str]:
        """suggest(), as the user would write it: an own-model value keeps the owner ('"proprietary: Acme"')."""
        owner = value.partition(":")[2].strip() if ":" in value else ""
        return [
            f'"{i}: {owner or "OWNER"}"' if self.get(i).kind == "own-model" else f"'{i}'" for i in self.suggest(value)
        ]

    def own_model(self, tag: str) -> tuple[Entry, str | None] | None:
        """'proprietary: Acme Ltd' (or own/internal/in-house) -> (the own-model entry, 'Acme Ltd'); None otherwise."""
        head, _, owner = tag.partition(":")
        entry = self.lookup(head.strip())
        if entry is None or entry.kind != "own-model":
            return None
        return entry, owner.strip() or None

    def for_model_name(self, name: str) -> list[Entry]:
        """Terms a model's name implies (a Llama 3.1 fine-tune is under Llama 3.1's licence)."""
        seen: dict[str, Entry] = {}
        for entry, pattern in self._patterns:
            if pattern.search(name):
                seen.setdefault(entry.id, entry)
        return list(seen.values())

    def identify(self, text: Text) -> list[tuple[Entry, float, list]]:
        """Entries whose markers the text carries, best first."""
        hits = []
        for e in self.licences:
            score, found = marker_score(text, e.text_markers)
            if score >= IDENTIFIED:
                hits.append((e, score, found))
        hits.sort(key=lambda h: (-h[1], -len(h[2]), -sum(len(m) for m, _ in h[2])))
        return hits


def _key(name: str) -> str:
    return normalise(name).replace(" ", "")


@lru_cache(maxsize=4)
def load_catalogue(path: str | Path = CATALOGUE) -> Catalogue:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Catalogue.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"licence catalogue {path} cannot be read: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"licence catalogue {path}: {where}: {first['msg']}") from None
