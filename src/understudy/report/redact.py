"""No machine paths in shipped files: models named by id and a short hash, local folders by a neutral name.

A report, a card or a NOTICE travels; the folder it was written in does not. `model_ref` names a model the
same way on every machine ("reviews-teacher (sha256:1a2b3c4d)"); `strip_paths` rewrites the absolute paths
that only mean something here (temporary folders, the home folder, tool caches, site-packages, the folder a run
was written under) to the part that names the thing itself.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

# A path starts after a space, a quote, a bracket, '=' or the start of the text, never inside a URL or a word
# ("tokens/s", "https://host/x"); it stops at a space, a quote, a bracket, a table bar or markup.
_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"<>`|(){},;&*]+)")
# The Hugging Face cache keeps a model as models--org--name/snapshots/<commit>/...
_HUB_CACHE = re.compile(r"models--([^/]+?)--([^/]+)/snapshots/[0-9a-f]+(?:/(.*))?$")
_PACKAGES = re.compile(r"/(?:site|dist)-packages/(.*)$")
_HASH_LEN = 8


def model_ref(path_or_id: str | os.PathLike[str] | None) -> str:
    """A model's name for a shipped file: its hub id or folder name, plus a short hash of its files when it is here.

    The hash is over the weight files' names and sizes and the config's bytes: cheap (no weights are read) and
    the same for the same model on any machine."""
    if path_or_id is None or str(path_or_id).strip() == "":
        return "unnamed model"
    text = str(path_or_id).strip()
    path = Path(text).expanduser()
    if not path.is_absolute() and not path.exists():
        return text  # a hub id ("org/name") or a name already
    name = _model_name(path)
    if not path.exists():
        return name
    return f"{name} (sha256:{_cheap_hash(path)})"


def _model_name(path: Path) -> str:
    # The folder's own name, not config.json's _name_or_path: a fine-tuned model's config names its base model.
    hub = _HUB_CACHE.search(path.as_posix())
    if hub:
        return f"{hub.group(1)}/{hub.group(2)}"
    return path.name or "model"


def _cheap_hash(path: Path) -> str:
    from ..teachers.base import files_of

    digest = hashlib.sha256()
    for f in files_of(path):
        rel = f.name if path.is_file() else f.relative_to(path).as_posix()
        digest.update(f"{rel}\0{f.stat().st_size}\n".encode())
        if f.name == "config.json" and f.stat().st_size < 1_000_000:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:_HASH_LEN]


def _local_roots() -> list[str]:
    """Folders whose paths mean nothing on another machine, longest first."""
    home = Path.home()
    roots = {
        tempfile.gettempdir(),
        "/tmp",
        "/var/tmp",
        "/private/tmp",
        "/private/var/folders",
        "/var/folders",
        str(home),
        "/root",
        os.environ.get("XDG_CACHE_HOME", ""),
        os.environ.get("HF_HOME", ""),
    }
    return sorted((r.rstrip("/") for r in roots if r and r != "/"), key=len, reverse=True)


def _tail(rest: str) -> str:
    """What is left of a local path: its last part, with its folder when the last part is a file in it."""
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return "."
    if len(parts) > 1 and "." in parts[-1].lstrip("."):
        return "/".join(parts[-2:])
    return parts[-1]


def _neutral(path: str, roots: list[str]) -> str | None:
    """The neutral name for one absolute path, or None to leave it as it is."""
    for root in roots:  # the run folder's parent (or the run folder, kept by name): keep what is below it
        if root.endswith("/"):  # a run folder right under a local root
            folder = root.rstrip("/")
            if path == folder or path.startswith(root):
                return Path(folder).name + path[len(folder) :]
        elif path == root or path.startswith(root + "/"):
            return path[len(root) :].lstrip("/") or "."
    hub = _HUB_CACHE.search(path)
    if hub:
        return "/".join(p for p in (hub.group(1) + "/" + hub.group(2), hub.group(3)) if p)
    packages = _PACKAGES.search(path)
    if packages:
        return packages.group(1) or "."
    cache = re.search(r"/\.cache/(?:[^/]+/)?(.*)$", path)
    if cache:
        return cache.group(1) or "."
    for root in _local_roots():
        if path == root or path.startswith(root + "/"):
            return _tail(path[len(root) :])
    if re.match(r"/(?:home|Users)/[^/]+", path):
        return _tail(path.split("/", 3)[3] if path.count("/") >= 3 else "")
    return None


def strip_paths(text: str, *under: str | os.PathLike[str]) -> str:
    """`text` with every machine-local absolute path replaced by a neutral name.

    `under`: folders whose parent is dropped (the run folder: "/srv/runs/demo/student" becomes "demo/student").
    Other paths under /tmp, the home folder, caches or site-packages keep only the part that names the thing."""
    if not text or "/" not in text:
        return text
    local = set(_local_roots())
    folders = {Path(u).expanduser().absolute() for u in under if str(u)}
    folders |= {f.resolve() for f in folders}
    # Below the run folder's parent, all is the user's own; when that parent is /tmp or the home folder,
    # only the run folder itself is (keeping its name), and other paths there are treated as any local path.
    found = {str(f.parent).rstrip("/") for f in folders if str(f.parent).rstrip("/") not in local}
    found |= {str(f).rstrip("/") + "/" for f in folders if str(f.parent).rstrip("/") in local}
    parents = sorted((p for p in found if p.strip("/")), key=len, reverse=True)

    def swap(match: re.Match[str]) -> str:
        found = match.group(0)
        trail = len(found) - len(found.rstrip(".:"))  # a full stop or colon after a path is the sentence's
        path, end = found[: len(found) - trail], found[len(found) - trail :]
        neutral = _neutral(path.rstrip("/"), parents)
        slash = "/" if path.endswith("/") and path != "/" else ""
        return found if neutral is None else neutral + slash + end

    return _PATH.sub(swap, text)


def strip_paths_in(data: Any, *under: str | os.PathLike[str]) -> Any:
    """`strip_paths` over every string in a JSON-like value (report.json before it is written)."""
    if isinstance(data, str):
        return strip_paths(data, *under)
    if isinstance(data, dict):
        return {k: strip_paths_in(v, *under) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [strip_paths_in(v, *under) for v in data]
    return data
