"""Read the transfer and evaluation image sets: a folder (one subfolder per class, or pictures directly in it), a CSV or
JSONL list of image paths (and labels, and group columns), or builtin:fashion-mnist (Debian's IDX files).

Pictures are decoded once here (PIL: EXIF orientation applied, transparency laid on white, large ones shrunk) into
`Image`s that all have one channel count. Every problem is a UserError naming the file (and the list's line) and
the fix; nothing is dropped silently: with on_error 'skip' the pictures left out are counted by reason for the report.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zlib
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..modalities.image import Image
from .readers import EXAMPLES, _as_text, _read, _s, did_you_mean, file_sha256, guess_format

__all__ = ["ImageSet", "load_images", "BUILTIN_IMAGES", "FASHION_LABELS", "IMAGE_EXTENSIONS"]

BUILTIN_IMAGES = {
    "builtin:fashion-mnist": "Fashion-MNIST (Zalando): 70,000 28x28 grey product photos, 10 clothing categories; "
    "Debian's dataset-fashion-mnist"
}
FASHION_LABELS = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # where Debian's dataset-fashion-mnist puts them
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SUPPORTED = (
    "a folder of pictures (one subfolder per class), a .csv/.tsv or .jsonl list of image paths, "
    f"or {', '.join(BUILTIN_IMAGES)}"
)
SKIP_FIX = "fix or remove it, or set data.on_error: skip to list and leave out such images"
MODES = ("auto", "rgb", "grey")
CHUNK = 64  # pictures decoded between progress updates (per worker thread)


@dataclass
class ImageSet:
    inputs: list[Image]
    labels: list[str | None] | None  # one per image (None where it has none); None when the source has no labels
    source: str
    sha256: str | None  # the list file's; a folder's: over the names and bytes read; builtin: over the IDX files
    rows_read: int  # entries found (after offset/limit) before any was left out
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> up to EXAMPLES names
    groups: dict[str, list] = field(default_factory=dict)  # a list's group column -> value per kept image
    split: str | None = None
    downscaled: int = 0  # pictures larger than max_side shrunk at load

    @property
    def texts(self) -> list[Image]:  # the name the shared classification code reads
        return self.inputs

    def to_report(self) -> dict:
        sizes = Counter(f"{im.width}x{im.height}" for im in self.inputs)
        by_area = sorted(sizes, key=lambda s: (int(s.split("x")[0]) * int(s.split("x")[1]), s))
        out = {
            "source": self.source,
            "sha256": self.sha256,
            "rows_read": self.rows_read,
            "rows_used": len(self.inputs),
            "split": self.split,
            "group_columns": list(self.groups),
            "skipped": dict(self.skipped),
            "skipped_examples": {k: list(v) for k, v in self.skipped_examples.items()},
            "gold_labels": self.labels is not None,
            "sizes": {"min": by_area[0], "max": by_area[-1], "most_common": sizes.most_common(1)[0][0]}
            if sizes
            else {},
            "channels": "RGB" if any(im.channels == 3 for im in self.inputs) else "grey",
            "downscaled": self.downscaled,
        }
        if self.labels is not None:
            out["label_counts"] = dict(Counter(x for x in self.labels if x is not None).most_common())
        return out


@dataclass
class _Entry:
    name: str  # as the report shows it: the path relative to the folder, or as the list writes it
    file: Path | None  # None: the list's row gives no path
    label: str | None
    where: str  # for messages: "pics.csv, line 4: image 'a.png'"
    row: int = 0  # the list's row (0-based, after offset), for its group values
    line: str | None = None  # a list's "line 4" (or "row 3" where lines are unknown)


class _LeftOut:
    """Bad entries: an error at the first (on_error 'error'), else counted by reason with a few names."""

    def __init__(self, on_error: str, role: str):
        self.on_error, self.role = on_error, role
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}

    def add(self, reason: str, entry: _Entry, what: str, fix: str = SKIP_FIX) -> None:
        if self.on_error == "error":
            raise UserError(f"{self.role} set: {entry.where} {what}; {fix}")
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if len(self.examples.setdefault(reason, [])) < EXAMPLES:
            self.examples[reason].append(entry.name)

    def said(self) -> str:
        return "; ".join(f"{k}: {n} (e.g. {', '.join(self.examples[k])})" for k, n in self.counts.items())


def load_images(
    path: str,
    *,
    role: str,
    fmt: str | None = None,
    path_column: str = "path",
    label_column: str | None = "label",
    group_columns: Sequence[str] = (),
    split: str | None = None,
    offset: int = 0,
    limit: int | None = None,
    mode: str = "auto",
    max_side: int = 512,
    on_error: str = "error",
    known_labels: Sequence[str] | None = None,
    require_labels: bool = False,
    progress=None,
) -> ImageSet:
    """Read, decode and check one image set for the transfer or evaluation role."""
    where_set = f"{role} set {path}"
    _check_options(where_set, mode, on_error, offset, limit, max_side)
    group_columns = list(group_columns)
    if path.startswith("builtin:"):
        if group_columns:
            raise UserError(f"{where_set}: group_columns need a CSV/JSONL list of images; a built-in set has none")
        return _builtin(path, where_set, role, split, offset, limit, mode, max_side, known_labels)
    if split is not None:
        raise UserError(
            f"{where_set}: split ('{split}') is for builtin sources ({', '.join(BUILTIN_IMAGES)}); a folder or list "
            f"is read whole: remove data.{role}.split, and pick pictures with offset and limit"
        )
    p = Path(path)
    if not p.exists():
        raise UserError(f"{where_set}: not found; give {SUPPORTED}")
    groups_of: dict[str, list] = {}
    if p.is_dir():
        if fmt is not None:
            raise UserError(f"{where_set}: is a folder, but format '{fmt}' names a list file; remove the format")
        if group_columns:
            raise UserError(
                f"{where_set}: group_columns need a CSV/JSONL list of images (a column per group); a folder has "
                "none: list the pictures in a CSV with path, label and group columns"
            )
        entries, has_labels = _folder_entries(p, where_set)
        entries = _window(entries, offset, limit, where_set, len(entries))
        sha = None  # over what is read, below
    else:
        entries, has_labels, groups_of = _list_entries(
            p, path, fmt, path_column, label_column, group_columns, role, where_set, offset, limit, require_labels
        )
        sha = file_sha256(path)
    rows_read = len(entries)
    left = _LeftOut(on_error, role)
    entries = _check_labels(entries, has_labels, where_set, role, known_labels, require_labels, left, p.is_dir())
    kept, downscaled, digest = _decode_all(entries, mode, max_side, progress, role, left)
    if p.is_dir():
        sha = digest
    if left.counts and progress is not None:
        n = sum(left.counts.values())
        progress.note(f"{where_set}: left out {n} image{'s' if n > 1 else ''} ({left.said()})")
    if not kept:
        said = ", ".join(f"{k}: {n}" for k, n in left.counts.items())
        raise UserError(f"{where_set}: no usable images left ({rows_read} found; left out {said or 'none'})")
    inputs = _as_images(kept, mode)
    return ImageSet(
        inputs=inputs,
        labels=[e.label for e, _, _ in kept] if has_labels else None,
        source=path,
        sha256=sha,
        rows_read=rows_read,
        skipped=dict(left.counts),
        skipped_examples={k: list(v) for k, v in left.examples.items()},
        groups={g: [groups_of[g][e.row] for e, _, _ in kept] for g in group_columns},
        split=None,
        downscaled=downscaled,
    )


def _check_options(where: str, mode: str, on_error: str, offset: int, limit: int | None, max_side: int) -> None:
    if mode not in MODES:
        raise UserError(f"{where}: data.mode '{mode}' is not one of {', '.join(MODES)}")
    if on_error not in ("error", "skip"):
        raise UserError(f"{where}: data.on_error '{on_error}' is not one of error, skip")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise UserError(f"{where}: offset must be a whole number >= 0, got {offset!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"{where}: limit must be a whole number >= 1 (or left out), got {limit!r}")
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1:
        raise UserError(f"{where}: data.max_side must be a whole number >= 1, got {max_side!r}")


def _window(items: list, offset: int, limit: int | None, where_set: str, total: int) -> list:
    """Entries [offset, offset + limit): a quick trial."""
    if total and offset >= total:
        raise UserError(f"{where_set}: offset {offset} is past the end ({total} images); lower it")
    return items[offset : None if limit is None else offset + limit]


# --- sources ----------------------------------------------------------------------------------------------------


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"  # .DS_Store, .ipynb_checkpoints, a zip's resource forks


def _folder_entries(p: Path, where_set: str) -> tuple[list[_Entry], bool]:
    """Every picture under the folder, sorted by its relative name; the label is its top subfolder (None directly
    in the folder). Hidden files and folders are passed over."""
    names: list[str] = []
    for top, dirs, files in os.walk(p):
        dirs[:] = [d for d in dirs if not _hidden(d)]
        rel = Path(top).relative_to(p)
        names += [(rel / f).as_posix() for f in files if not _hidden(f) and f.lower().endswith(IMAGE_EXTENSIONS)]
    if not names:
        raise UserError(
            f"{where_set}: no pictures found ({' '.join(IMAGE_EXTENSIONS)}); a folder holds one subfolder of "
            "pictures per class, or the pictures directly in it (unlabelled)"
        )
    names.sort()
    entries = [
        _Entry(name=n, file=p / n, label=n.split("/", 1)[0] if "/" in n else None, where=f"{p}: image '{n}'")
        for n in names
    ]
    return entries, any(e.label is not None for e in entries)


def _list_entries(
    p: Path,
    path: str,
    fmt: str | None,
    path_column: str,
    label_column: str | None,
    group_columns: list[str],
    role: str,
    where_set: str,
    offset: int,
    limit: int | None,
    require_labels: bool,
) -> tuple[list[_Entry], bool, dict[str, list]]:
    try:
        fmt = guess_format(path, fmt)
    except UserError:
        fmt = None
    if fmt not in ("csv", "jsonl"):
        raise UserError(f"{where_set}: not a list of images ({p.suffix or 'no suffix'}); give {SUPPORTED}")
    try:
        df, lines = _read(path, fmt)
    except UserError as exc:
        raise UserError(f"{role} set: {exc}") from None
    df = df.reset_index(drop=True)
    df.columns = [str(c) for c in df.columns]
    columns = list(df.columns)
    for key, col in [("path_column", path_column)] + [("group_columns", g) for g in group_columns]:
        if col not in columns:
            _no_column(where_set, role, key, col, columns)
    has_labels = label_column is not None and label_column in columns
    if label_column is not None and not has_labels and (require_labels or did_you_mean(label_column, columns)):
        _no_column(where_set, role, "label_column", label_column, columns)  # a misspelt one is not 'no labels'
    total = len(df)
    keep = _window(list(range(total)), offset, limit, where_set, total)

    def line(r: int) -> str:
        return f"line {lines[r]}" if lines else f"row {r + 1}"

    def at(r: int) -> str:
        return f"{path}, {line(r)}"

    def cell(r: int, column: str) -> str | None:
        v = df[column].iat[r]
        try:
            text = _as_text(v)
        except TypeError as exc:
            raise UserError(f"{role} set: {at(r)}: column '{column}' {exc}") from None
        if isinstance(v, float) and text is not None and v.is_integer():
            text = str(int(v))  # a JSON label 1.0 is the class '1'
        return text or None

    entries = []
    for i, r in enumerate(keep):
        name = cell(r, path_column)
        label = cell(r, label_column) if has_labels else None
        file = None if name is None else (Path(name) if Path(name).is_absolute() else p.parent / name)
        shown = name if name is not None else f"(row {r + 1}: no path)"
        entries.append(_Entry(shown, file, label, where=f"{at(r)}: image '{shown}'", row=i, line=line(r)))
    groups = {g: [cell(r, g) or "(missing)" for r in keep] for g in group_columns}
    return entries, has_labels, groups


def _no_column(where_set: str, role: str, key: str, col: str, columns: list[str]):
    guess = did_you_mean(col, columns)
    hint = f"did you mean '{guess}'? " if guess else ""
    error = UserError(
        f"{where_set}: no column '{col}' ({hint}data.{role}.{key}); the columns are "
        f"{', '.join(repr(c) for c in columns)}. Set data.{role}.{key} to "
        + ("columns that exist" if key == "group_columns" else "one of them")
        + (" (or null: no gold labels)" if key == "label_column" and role != "evaluation" else "")
    )
    error.recipe_key = ("data", role, key)  # so `check` can name the recipe line
    raise error


def _builtin(
    path: str,
    where_set: str,
    role: str,
    split: str | None,
    offset: int,
    limit: int | None,
    mode: str,
    max_side: int,
    known_labels: Sequence[str] | None,
) -> ImageSet:
    if path not in BUILTIN_IMAGES:
        near = did_you_mean(path, list(BUILTIN_IMAGES))
        hint = f" (did you mean '{near}'?)" if near else ""
        raise UserError(f"data.{role}.path {path}: no such built-in image set{hint}; the built-in sets: {SUPPORTED}")
    split = split or "train"
    if split not in FASHION_FILES:
        raise UserError(f"{where_set}: split '{split}' is not one of {', '.join(FASHION_FILES)}")
    folder = FASHION_DIR
    names = FASHION_FILES[split]
    absent = [n for n in names if not (folder / n).is_file()]
    if absent:
        raise UserError(
            f"{where_set}: the Fashion-MNIST files are not installed (looked in {folder} for {', '.join(absent)}); "
            "install Debian's dataset-fashion-mnist: sudo apt-get install dataset-fashion-mnist"
        )
    raw = {n: (folder / n).read_bytes() for n in names}
    digest = hashlib.sha256()
    for n in names:
        digest.update(n.encode() + b"\0" + hashlib.sha256(raw[n]).digest())
    pixels, total = _idx(raw[names[0]], folder / names[0], 3, offset, limit, where_set)
    codes, n_labels = _idx(raw[names[1]], folder / names[1], 1, offset, limit, where_set)
    if n_labels != total or len(codes) != len(pixels) or (len(codes) and int(codes.max()) >= len(FASHION_LABELS)):
        raise UserError(f"{where_set}: {folder / names[1]} does not match its images; reinstall dataset-fashion-mnist")
    labels = [FASHION_LABELS[c] for c in codes.tolist()]
    if known_labels is not None:
        known = [str(k).strip() for k in known_labels]
        unknown = [lab for lab in FASHION_LABELS if lab not in known and lab in set(labels)]
        if unknown:
            raise UserError(
                f"{where_set}: its label{_s(unknown)} {', '.join(repr(u) for u in unknown)} "
                f"{'is' if len(unknown) == 1 else 'are'} not among the teacher's labels {known}; the teacher must "
                f"know Fashion-MNIST's classes {FASHION_LABELS}"
            )
    names = [f"fashion-mnist/{split}/{offset + i}" for i in range(len(labels))]
    downscaled = 0
    if max(pixels.shape[1:3], default=0) > max_side:  # only a max_side under 28 px
        pixels = np.stack([_shrink_array(a, max_side) for a in pixels])
        downscaled = len(pixels)
    pixels = pixels[:, :, :, None]
    if mode == "rgb":
        pixels = np.repeat(pixels, 3, axis=3)
    inputs = [Image(a, name) for a, name in zip(pixels, names)]
    return ImageSet(
        inputs=inputs,
        labels=labels,
        source=path,
        sha256=digest.hexdigest(),
        rows_read=len(inputs),
        split=split,
        downscaled=downscaled,
    )


def _idx(raw: bytes, file: Path, ndim: int, offset: int, limit: int | None, where_set: str) -> tuple[np.ndarray, int]:
    """Rows [offset, offset + limit) of a gzipped IDX file of unsigned bytes, and how many rows it holds. Only as much
    as is asked is decompressed, in one call (gzip's file reader goes in small steps, three times slower)."""
    bad = UserError(f"{where_set}: {file} is not a valid gzipped IDX file; reinstall dataset-fashion-mnist")
    size = 4 + 4 * ndim
    try:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16: a gzip header
        header = inflate.decompress(raw, size)
        if len(header) != size:
            raise bad
        magic, *shape = np.frombuffer(header, dtype=">u4").tolist()
        if magic != 0x0800 + ndim:  # unsigned bytes, ndim dimensions
            raise bad
        total, item = shape[0], int(np.prod(shape[1:], dtype=np.int64))
        if total and offset >= total:
            raise UserError(f"{where_set}: offset {offset} is past the end ({total} images); lower it")
        count = total - offset if limit is None else min(limit, total - offset)
        body = inflate.decompress(inflate.unconsumed_tail, (offset + count) * item)[offset * item :]
    except zlib.error:
        raise bad from None
    if len(body) != count * item:
        raise bad
    # a bytearray: writable pixels, as a decoded file's are
    return np.frombuffer(bytearray(body), dtype=np.uint8).reshape([count] + shape[1:]), total


# --- labels -----------------------------------------------------------------------------------------------------


def _check_labels(
    entries: list[_Entry],
    has_labels: bool,
    where_set: str,
    role: str,
    known_labels: Sequence[str] | None,
    require_labels: bool,
    left: _LeftOut,
    folder: bool,
) -> list[_Entry]:
    """Unknown labels are an error; with require_labels an image without one is a bad entry. Returns those kept."""
    if require_labels and not has_labels:
        raise UserError(
            f"{where_set}: the {role} set must be labelled: put the pictures in one subfolder per class, or list "
            f"them in a CSV/JSONL with a label column (data.{role}.label_column)"
        )
    if known_labels is not None and has_labels:
        known = [str(k).strip() for k in known_labels]
        known_set, unknown = set(known), {}
        for e in entries:
            if e.label is not None and e.label not in known_set:
                unknown.setdefault(e.label, []).append(e)
        if unknown:
            parts = []
            for lab, es in sorted(unknown.items(), key=lambda kv: -len(kv[1])):
                near = did_you_mean(lab, known)
                examples = ", ".join(f"'{e.name}'" + (f" ({e.line})" if e.line else "") for e in es[:3])
                hint = f"; did you mean '{near}'?" if near else ""
                parts.append(f"'{lab}' ({len(es)} image{_s(es)}, e.g. {examples}{hint})")
            what = "subfolder" if folder else "label"
            if folder:
                fix = "rename the subfolders to the teacher's labels, or move those pictures out"
            else:
                fix = "fix the label cells, or remove these rows"
            raise UserError(
                f"{where_set}: {what}{_s(parts)} {'; '.join(parts)} {'is' if len(parts) == 1 else 'are'} not one of "
                f"the teacher's labels {known}; {fix}"
            )
    if not require_labels:
        return entries
    kept = []
    for e in entries:
        if e.label is None:
            why = "lies directly in the folder, not in a class subfolder" if folder else "its label cell is empty"
            left.add("unlabelled", e, f"has no label ({why})", "give it a label or remove it, or set data.on_error: "
                     "skip to leave out the pictures without one")  # fmt: skip
        else:
            kept.append(e)
    return kept


# --- decoding ---------------------------------------------------------------------------------------------------


def _decode_all(
    entries: list[_Entry], mode: str, max_side: int, progress, role: str, left: _LeftOut
) -> tuple[list[tuple[_Entry, np.ndarray, bool]], int, str]:
    """Each entry's pixels (in order), how many were shrunk, and a sha256 over the names and bytes read."""
    workers = min(8, os.cpu_count() or 1) if len(entries) > CHUNK else 1
    step = CHUNK * workers
    kept, downscaled, digest = [], 0, hashlib.sha256()
    task = progress.task(f"reading {role} images", len(entries), unit="images") if progress else None
    pool = ThreadPoolExecutor(workers) if workers > 1 else None  # PIL lets go of the GIL while it decodes
    try:
        with task or nullcontext(lambda n=1: None) as advance, warnings.catch_warnings():
            # PIL's warnings on odd EXIF data or very large pictures: a file is judged by whether it decodes
            warnings.simplefilter("ignore")
            for start in range(0, len(entries), step):
                chunk = entries[start : start + step]
                job = lambda e: _decode_file(e.file, mode, max_side)  # noqa: E731
                results = pool.map(job, chunk) if pool is not None else map(job, chunk)
                for e, (reason, value, shrunk, file_hash) in zip(chunk, results):
                    digest.update(e.name.encode() + b"\0" + (file_hash or b"-"))
                    if reason is None:
                        kept.append((e, value[0], value[1]))
                        downscaled += shrunk
                    else:
                        left.add(reason, e, value)
                advance(len(chunk))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return kept, downscaled, digest.hexdigest()


def _decode_file(file: Path | None, mode: str, max_side: int):
    """(None, (pixels, grey), shrunk, file hash) for a picture; (reason, what is wrong, False, hash) for a bad one."""
    if file is None:
        return "no_path", "has no path (an empty cell)", False, None
    try:
        data = file.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return "missing", f"is missing (no file {file})", False, None
    except IsADirectoryError:
        return "unreadable", f"is a folder, not a picture ({file})", False, None
    except OSError as exc:
        return "unreadable", f"cannot be read ({exc.strerror}: {file})", False, None
    file_hash = hashlib.sha256(data).digest()
    if not data:
        return "empty", f"is empty (0 bytes: {file})", False, file_hash
    from PIL import Image as PILImage

    try:
        pixels, grey, shrunk = _decode(data, mode, max_side)
    except PILImage.DecompressionBombError as exc:
        return "unreadable", f"is too large to decode safely ({exc})", False, file_hash
    except PILImage.UnidentifiedImageError:
        return "unreadable", f"is not a picture PIL can read ({file})", False, file_hash
    except Exception as exc:  # a broken file can raise many kinds of error inside a decoder
        said = str(exc) or type(exc).__name__
        if "truncated" in said.lower():
            return "truncated", f"is truncated: {said} ({file})", False, file_hash
        return "unreadable", f"cannot be decoded: {said} ({file})", False, file_hash
    return None, (pixels, grey), shrunk, file_hash


def _decode(data: bytes, mode: str, max_side: int) -> tuple[np.ndarray, bool, bool]:
    """uint8 pixels (H, W, 1 or 3), whether the picture is grey, and whether it was shrunk."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(io.BytesIO(data)) as im:
        original = im.size
        if im.format == "JPEG":
            im.draft(None, (max_side, max_side))  # decode a large JPEG at 1/2, 1/4 or 1/8 scale: much faster
        im.load()  # LOAD_TRUNCATED_IMAGES stays False: a truncated file fails here
        try:
            pic = ImageOps.exif_transpose(im)
        except Exception:  # broken EXIF data around good pixels: the picture as stored
            pic = im.copy()
    pic, grey = _normalise(pic)
    if mode == "grey" and not grey:
        pic, grey = pic.convert("L"), True
    shrunk = max(original) > max_side
    if max(pic.size) > max_side:
        w, h = pic.size
        scale = max_side / max(w, h)
        pic = pic.resize((max(1, round(w * scale)), max(1, round(h * scale))), PILImage.LANCZOS, reducing_gap=3.0)
    a = np.array(pic, dtype=np.uint8)
    return (a[:, :, None] if a.ndim == 2 else a), grey, shrunk


def _normalise(im):
    """The picture as L (grey) or RGB: palettes expanded, transparency laid on white, 16-bit scaled to 8."""
    from PIL import Image as PILImage

    m = im.mode
    if m in ("1", "L"):
        return im.convert("L"), True
    if m.startswith("I") or m == "F":
        a = np.asarray(im).astype(np.float64)
        if m.startswith("I;16") or (m == "I" and a.size and a.max() > 255):
            a = a / 257.0  # 16 bits to 8
        elif m == "F" and a.size and a.max() <= 1.0:
            a = a * 255.0
        return PILImage.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L"), True
    if m in ("LA", "La"):
        return _on_white(im).convert("L"), True
    if m == "P":
        rgb = _on_white(im)
        a = np.asarray(rgb)
        if bool(np.all(a[:, :, 0] == a[:, :, 1]) and np.all(a[:, :, 1] == a[:, :, 2])):
            return rgb.convert("L"), True  # a grey palette (a GIF of a scan, say)
        return rgb, False
    if m == "RGB":
        return im, False
    if m in ("RGBA", "RGBa", "PA"):
        return _on_white(im), False
    return im.convert("RGB"), False  # CMYK, YCbCr, LAB, HSV


def _on_white(im):
    """RGB with any transparency composited on a white background."""
    from PIL import Image as PILImage

    rgba = im.convert("RGBA")
    background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
    return PILImage.alpha_composite(background, rgba).convert("RGB")


def _shrink_array(a: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image as PILImage

    h, w = a.shape[:2]
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(PILImage.fromarray(a, mode="L").resize(size, PILImage.LANCZOS))


def _as_images(kept: list[tuple[_Entry, np.ndarray, bool]], mode: str) -> list[Image]:
    """One channel count for all: grey when every picture is grey (auto) or grey is asked, else RGB."""
    grey = mode == "grey" or (mode == "auto" and all(g for _, _, g in kept))
    out = []
    for e, a, _ in kept:
        if not grey and a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        out.append(Image(a, e.name))
    return out
