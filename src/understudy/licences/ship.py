"""Carry a licence verdict's obligations into what ships: the name, NOTICE, LICENSE, licence copies, card metadata."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..run.folder import write_atomic
from .verdict import NOT_LEGAL_ADVICE

TEXTS = Path(__file__).with_name("texts")  # full licence texts understudy ships copies of

# Licence ids the Hugging Face hub accepts in a card's `license:` field (the rest are 'other' + license_name).
HF_TAGS = {
    "apache-2.0",
    "mit",
    "bsd-2-clause",
    "bsd-3-clause",
    "cc0-1.0",
    "unlicense",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "cc-by-nc-nd-4.0",
    "cc-by-nd-4.0",
    "gpl-3.0",
    "agpl-3.0",
    "lgpl-3.0",
    "llama2",
    "llama3",
    "llama3.1",
    "llama3.2",
    "llama3.3",
    "llama4",
    "gemma",
    "openrail",
    "openrail++",
    "creativeml-openrail-m",
    "bigscience-openrail-m",
    "bigscience-bloom-rail-1.0",
}


def prefixed_name(name: str, result: dict) -> str:
    """A licence that wants the student's name to start with e.g. 'Llama' gets it (spaces become dashes)."""
    prefix = (result.get("obligations") or {}).get("name_prefix")
    if not prefix:
        return name
    dashed = re.sub(r"\s+", "-", prefix.strip())
    return name if name.lower().startswith((prefix.lower(), dashed.lower())) else f"{dashed}-{name}"


def write_notice(result: dict, folder: Path, teacher: str) -> Path:
    o = result["obligations"]
    lines = [f"This model was distilled by understudy from the teacher: {teacher}.", ""]
    lines += o["attribution"] + ([""] if o["attribution"] else [])
    lines += o["notices"]
    if result.get("accepted_risk"):
        lines += [
            "",
            f"The licence of the teacher could not be confirmed; the builder accepted the risk: "
            f'"{result["accepted_risk"]["reason"]}" ({result["accepted_risk"]["at"]}).',
        ]
    path = Path(folder) / "NOTICE"
    write_atomic(path, _portable("\n".join(lines).rstrip() + "\n", folder))
    return path


def write_licence(result: dict, folder: Path, teacher: str) -> Path:
    """The student's LICENSE: the terms it inherits, the use restrictions passed on, and copies of the texts."""
    folder = Path(folder)
    o = result["obligations"]
    out = [
        "LICENCE OF THIS MODEL",
        "",
        f"This model was distilled from {teacher}. It inherits the following terms, and everyone who receives it "
        "is bound by them:",
        "",
    ]
    for lic in result["licences"]:
        if lic.get("owner"):  # your own model: the owner's terms, written down with the student
            owned = _write_owned(folder, lic["owner"], teacher)
            out.append(f"- proprietary, owned by {lic['owner']} ({lic['role']}): see {owned}")
        else:
            out.append(f"- {lic['name']} ({lic['role']}): {lic['source']}")
    if o["share_alike"]:
        out += ["", "Share-alike: this model is distributed under " + ", ".join(o["share_alike"]) + "."]
    if o["source_code"]:
        out += ["", "Copyleft: offer the corresponding source with the model, as the licence requires."]
    if o["no_redistribution"]:
        out += ["", "No derivatives may be shared: do not distribute this model outside your organisation."]
    if o["use_restrictions"] or o["use_policies"]:
        out += [
            "",
            "USE RESTRICTIONS (passed on from the terms above; you must not use the model for these, and must "
            "pass them on to anyone you give it to):",
        ]
        out += [
            f'- [{r["licence"]}] "{r["clause"]}"' + (f" ({r['where']})" if r.get("where") else "")
            for r in o["use_restrictions"]
        ]
        out += [f"- [{p['licence']}] the acceptable use policy: {p['link']}" for p in o["use_policies"]]
    if o["user_limits"]:
        out += ["", "User thresholds:"] + [
            f"- {u['licence']}: a separate licence is needed above {u['monthly_active_users']:,} monthly active users"
            for u in o["user_limits"]
        ]
    for g in o["geographic"]:
        out += ["", f'Regional limit ({g["licence"]}, {g["region"]}): "{g["clause"]}"']
    if o["other"]:
        out += ["", "Other conditions:"] + [f"- {x}" for x in o["other"]]
    copies = _copy_texts(result, folder)
    if copies:
        out += ["", "Copies of the licence texts are in: " + ", ".join(copies)]
    missing = [c for c in o["licence_copies"] if not any(c["id"] in x for x in copies)]
    for c in missing:  # the teacher came without the text: ship understudy's own copy, or say where it is
        text = TEXTS / f"{c['id']}.txt"
        if text.is_file():
            dest = folder / "licences" / f"{c['id']}.txt"
            write_atomic(dest, _strip_header(text.read_text(encoding="utf-8")))
            out.append(f"The text of {c['name']} is in {dest.relative_to(folder)} (source: {c['source']}).")
        else:
            out.append(f"The full text of {c['name']} is at {c['source']}; ship a copy with the model.")
    out += ["", NOT_LEGAL_ADVICE]
    path = folder / "LICENSE"
    write_atomic(path, _portable("\n".join(out) + "\n", folder))
    return path


def _portable(text: str, folder: Path) -> str:
    """NOTICE and LICENSE travel with the student: no path of this machine in them (a licence file's source)."""
    from ..report.redact import strip_paths

    return strip_paths(text, Path(folder).parent)


def _write_owned(folder: Path, owner: str, teacher: str) -> str:
    """licences/proprietary.txt: whose the student is, for a teacher its owner declared their own."""
    dest = folder / "licences" / "proprietary.txt"
    write_atomic(
        dest,
        f"This model is the property of {owner}.\n\n"
        f"It was distilled by understudy from {teacher}, a model {owner} declared its own. It is an internal model "
        f"of {owner}: the distilled student is {owner}'s too. Use, copy and share it only under {owner}'s terms.\n",
    )
    return str(dest.relative_to(folder))


def _strip_header(text: str) -> str:
    """The packaged texts start with '# source: ...' lines; the copy that ships is the licence alone."""
    lines = text.splitlines()
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n") + "\n"


def _copy_texts(result: dict, folder: Path) -> list[str]:
    """Licence files found with the teacher travel with the student, under licences/."""
    ids = {ev["file"]: ev.get("licence") or "unrecognised" for ev in result["evidence"] if ev.get("file")}
    copies = []
    for i, src in enumerate(result.get("licence_files", [])):
        src = Path(src)
        if not src.is_file():
            continue
        dest = folder / "licences" / f"{ids.get(str(src), 'licence')}-{i}-{src.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        copies.append(str(dest.relative_to(folder)))
    return copies


def card_metadata(result: dict) -> dict:
    """The model card's licence fields: one licence keeps its id; several become 'other' with their names."""
    from .catalogue import load_catalogue

    cat = load_catalogue()
    lics = [cat.get(lic["id"]) for lic in result["licences"] if lic["role"] != "API provider"]
    lics = list({e.id: e for e in lics}.values())
    meta = {}
    if len(lics) == 1:
        tag = next((t for t in [lics[0].id, *lics[0].aliases] if t in HF_TAGS), None)
        meta.update(
            {
                "license": tag or "other",
                "license_name": lics[0].id if not tag else lics[0].name,
                "license_link": lics[0].source if lics[0].source.startswith("http") else "LICENSE",
            }
        )
    elif lics:
        meta.update(license="other", license_name=" AND ".join(e.id for e in lics), license_link="LICENSE")
    else:
        meta.update(license="other", license_name="unknown", license_link="LICENSE")
    names = [n for n in result.get("model_names", []) if "/" in n]
    if names:
        meta["base_model"] = names[0]
    return meta
