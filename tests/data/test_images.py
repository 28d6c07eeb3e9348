"""Reading image sets: class folders, flat folders, CSV/JSONL lists, colour modes, bad files (error or skip),
labels, offset/limit, and builtin:fashion-mnist."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from understudy.data import images
from understudy.data.images import FASHION_LABELS, load_images
from understudy.errors import UserError


def pixels(seed: int, size=(8, 8), channels: int = 3) -> np.ndarray:
    shape = (size[1], size[0]) + ((channels,) if channels > 1 else ())
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save(path: Path, seed: int = 0, size=(8, 8), mode: str = "RGB", fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    PILImage.fromarray(pixels(seed, size, channels), mode=mode).save(path, format=fmt)
    return path


def class_folder(root: Path, per_class: int = 2, mode: str = "RGB") -> Path:
    seed = 0
    for label in ("boot", "shirt"):
        for i in range(per_class):
            save(root / label / f"{i}.png", seed, mode=mode)
            seed += 1
    return root


def read(path, **kw):
    kw.setdefault("role", "transfer")
    return load_images(str(path), **kw)


class Notes:
    def __init__(self):
        self.notes, self.tasks = [], []

    def note(self, message):
        self.notes.append(message)

    def task(self, description, total, unit=""):
        from contextlib import contextmanager

        self.tasks.append([description, total, 0])

        @contextmanager
        def run():
            def advance(n=1):
                self.tasks[-1][2] += n

            yield advance

        return run()


# --- folders --------------------------------------------------------------------------------------------------


def test_a_class_folder_gives_one_label_per_subfolder(tmp_path):
    root = class_folder(tmp_path / "set")
    save(root / "shirt" / "deep" / "x.JPG", 9, fmt="JPEG")  # found recursively; any case of the extension
    (root / "shirt" / "notes.txt").write_text("not a picture")
    (root / ".hidden").mkdir()
    save(root / ".hidden" / "y.png", 3)
    progress = Notes()
    s = read(root, progress=progress)
    assert [im.name for im in s.inputs] == [
        "boot/0.png",
        "boot/1.png",
        "shirt/0.png",
        "shirt/1.png",
        "shirt/deep/x.JPG",
    ]
    assert s.labels == ["boot", "boot", "shirt", "shirt", "shirt"]
    assert s.texts is s.inputs and s.rows_read == 5 and s.skipped == {}
    assert np.array_equal(s.inputs[0].pixels, pixels(0))
    assert s.sha256 and len(s.sha256) == 64
    assert progress.tasks == [["reading transfer images", 5, 5]]
    report = s.to_report()
    assert report["label_counts"] == {"shirt": 3, "boot": 2} and report["gold_labels"] is True
    assert report["sizes"] == {"min": "8x8", "max": "8x8", "most_common": "8x8"} and report["channels"] == "RGB"
    assert report["rows_used"] == 5 and report["downscaled"] == 0


def test_the_folder_hash_follows_the_bytes(tmp_path):
    root = class_folder(tmp_path / "set")
    before = read(root).sha256
    save(root / "boot" / "0.png", 42)
    assert read(root).sha256 != before


def test_a_flat_folder_is_unlabelled(tmp_path):
    for i in range(3):
        save(tmp_path / f"p{i}.png", i)
    s = read(tmp_path)
    assert s.labels is None and len(s.inputs) == 3 and s.to_report()["gold_labels"] is False
    with pytest.raises(UserError, match="must be labelled.*subfolder per class"):
        read(tmp_path, role="evaluation", require_labels=True)


def test_a_folder_without_pictures_says_what_it_looks_for(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(UserError, match="no pictures found.*.png"):
        read(tmp_path)


def test_split_is_refused_for_a_folder(tmp_path):
    with pytest.raises(UserError, match="split.*builtin"):
        read(class_folder(tmp_path), split="test")


# --- colour -----------------------------------------------------------------------------------------------------


def test_auto_mode_is_grey_only_when_every_picture_is(tmp_path):
    grey = tmp_path / "grey"
    save(grey / "a" / "1.png", 1, mode="L")
    save(grey / "b" / "2.png", 2, mode="L")
    s = read(grey)
    assert all(im.channels == 1 for im in s.inputs) and s.to_report()["channels"] == "grey"
    assert np.array_equal(s.inputs[0].pixels[:, :, 0], pixels(1, channels=1))
    save(grey / "b" / "3.png", 3, mode="RGB")
    mixed = read(grey)
    assert all(im.channels == 3 for im in mixed.inputs)
    assert np.array_equal(mixed.inputs[0].pixels, np.repeat(pixels(1, channels=1)[:, :, None], 3, axis=2))
    assert all(im.channels == 1 for im in read(grey, mode="grey").inputs)
    assert all(im.channels == 3 for im in read(tmp_path / "grey", mode="rgb", limit=1).inputs)


def test_rgba_is_laid_on_white_and_a_palette_is_expanded(tmp_path):
    a = np.zeros((4, 4, 4), dtype=np.uint8)
    a[..., 0] = 200
    a[:2, :, 3] = 255  # the top half opaque red-ish, the bottom half transparent
    PILImage.fromarray(a, mode="RGBA").save(tmp_path / "alpha.png")
    PILImage.fromarray(pixels(5, (4, 4))).convert("P").save(tmp_path / "palette.gif")
    s = read(tmp_path)
    alpha = s.inputs[0].pixels
    assert alpha.shape == (4, 4, 3)
    assert alpha[0, 0].tolist() == [200, 0, 0] and alpha[3, 3].tolist() == [255, 255, 255]
    assert s.inputs[1].pixels.shape == (4, 4, 3)


def test_cmyk_is_converted_to_rgb(tmp_path):
    PILImage.fromarray(pixels(4)).convert("CMYK").save(tmp_path / "c.jpg")
    assert read(tmp_path).inputs[0].pixels.shape == (8, 8, 3)


def test_a_grey_palette_and_16_bit_grey_count_as_grey(tmp_path):
    PILImage.fromarray(pixels(1, channels=1), mode="L").convert("P").save(tmp_path / "a.gif")
    deep = (pixels(2, channels=1).astype(np.uint16) * 257).astype(np.uint16)
    PILImage.fromarray(deep).save(tmp_path / "b.png")
    s = read(tmp_path)
    assert [im.channels for im in s.inputs] == [1, 1]
    assert np.array_equal(s.inputs[1].pixels[:, :, 0], pixels(2, channels=1))  # 16 bits scaled to 8


def test_the_exif_orientation_is_applied(tmp_path):
    im = PILImage.fromarray(pixels(3, (8, 4)))  # 8 wide, 4 high
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: shown 4 wide, 8 high
    im.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert read(tmp_path).inputs[0].pixels.shape == (8, 4, 3)


def test_large_pictures_are_shrunk_keeping_their_shape(tmp_path):
    save(tmp_path / "big.png", 1, size=(40, 20))
    save(tmp_path / "big.jpg", 2, size=(64, 32), fmt="JPEG")
    save(tmp_path / "small.png", 3, size=(10, 10))
    s = read(tmp_path, max_side=16)
    assert [im.pixels.shape for im in s.inputs] == [(8, 16, 3), (8, 16, 3), (10, 10, 3)]
    assert s.downscaled == 2 and s.to_report()["downscaled"] == 2
    assert s.to_report()["sizes"] == {"min": "10x10", "max": "16x8", "most_common": "16x8"}  # by area


# --- lists ------------------------------------------------------------------------------------------------------


def test_a_csv_list_with_labels_and_groups(tmp_path):
    save(tmp_path / "img" / "a.png", 1)
    save(tmp_path / "img" / "b.png", 2)
    absolute = save(tmp_path / "elsewhere" / "c.png", 3)
    (tmp_path / "list.csv").write_text(
        f"path,label,tone\nimg/a.png,boot,light\nimg/b.png,,dark\n{absolute},shirt,\n", encoding="utf-8"
    )
    s = read(tmp_path / "list.csv", group_columns=["tone"])
    assert [im.name for im in s.inputs] == ["img/a.png", "img/b.png", str(absolute)]
    assert s.labels == ["boot", None, "shirt"]
    assert s.groups == {"tone": ["light", "dark", "(missing)"]}
    assert s.sha256 == images.file_sha256(str(tmp_path / "list.csv"))
    assert s.to_report()["group_columns"] == ["tone"]


def test_a_jsonl_list_with_other_column_names(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", i)
    rows = [{"file": f"{i}.png", "class": i % 2, "site": "north" if i else "south"} for i in range(3)]
    (tmp_path / "list.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    s = read(tmp_path / "list.jsonl", path_column="file", label_column="class", group_columns=["site"])
    assert s.labels == ["0", "1", "0"] and s.groups == {"site": ["south", "north", "north"]}


def test_a_missing_column_lists_the_columns_and_guesses(tmp_path):
    save(tmp_path / "a.png")
    (tmp_path / "list.csv").write_text("file,label\na.png,x\n")
    with pytest.raises(UserError, match=r"no column 'path'.*'file', 'label'.*data\.transfer\.path_column"):
        read(tmp_path / "list.csv")
    with pytest.raises(UserError, match="no column 'Label' \\(did you mean 'label'"):
        read(tmp_path / "list.csv", path_column="file", label_column="Label")
    with pytest.raises(UserError, match="no column 'tone'"):
        read(tmp_path / "list.csv", path_column="file", group_columns=["tone"])


def test_a_list_without_a_label_column_is_unlabelled_unless_labels_are_required(tmp_path):
    save(tmp_path / "a.png")
    (tmp_path / "list.csv").write_text("path\na.png\n")
    assert read(tmp_path / "list.csv").labels is None
    with pytest.raises(UserError, match="no column 'label'"):
        read(tmp_path / "list.csv", role="evaluation", require_labels=True)
    with pytest.raises(UserError, match="must be labelled"):
        read(tmp_path / "list.csv", role="evaluation", require_labels=True, label_column=None)


# --- bad entries ------------------------------------------------------------------------------------------------


def bad_list(tmp_path: Path) -> Path:
    save(tmp_path / "good.png", 1)
    save(tmp_path / "good2.png", 2)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not a picture")
    data = (tmp_path / "good.png").read_bytes()
    save(tmp_path / "whole.jpg", 3, size=(32, 32), fmt="JPEG")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes()[:300])
    (tmp_path / "cut.png").write_bytes(data[: len(data) - 60])
    lines = ["path,label", "good.png,a", "gone.png,a", "empty.png,a", "text.png,b", "cut.jpg,b", "good2.png,b"]
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "list.csv"


@pytest.mark.parametrize(
    "name, line, what",
    [("gone.png", 3, "is missing"), ("empty.png", 4, "is empty"), ("text.png", 5, "not a picture"),
     ("cut.jpg", 6, "truncated")],
)  # fmt: skip
def test_a_bad_entry_is_an_error_naming_the_file_line_and_fix(tmp_path, name, line, what):
    path = bad_list(tmp_path)
    lines = path.read_text().splitlines()
    keep = [lines[0], lines[line - 1]]
    path.write_text("\n".join(keep) + "\n")
    with pytest.raises(UserError) as err:
        read(path)
    said = str(err.value)
    assert f"{path}, line 2: image '{name}'" in said and what in said, said
    assert "data.on_error: skip" in said


def test_a_truncated_png_in_a_folder_is_an_error(tmp_path):
    save(tmp_path / "good.png", 1)
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) - 60])
    with pytest.raises(UserError, match=r"image 'cut.png' is truncated.*data.on_error: skip"):
        read(tmp_path)


def test_bad_entries_are_counted_when_skipped(tmp_path):
    path = bad_list(tmp_path)
    progress = Notes()
    s = read(path, on_error="skip", progress=progress)
    assert [im.name for im in s.inputs] == ["good.png", "good2.png"] and s.labels == ["a", "b"]
    assert s.rows_read == 6
    assert s.skipped == {"missing": 1, "empty": 1, "unreadable": 1, "truncated": 1}
    assert s.skipped_examples["missing"] == ["gone.png"] and s.skipped_examples["truncated"] == ["cut.jpg"]
    assert len(progress.notes) == 1 and "left out 4 images" in progress.notes[0]
    report = s.to_report()
    assert report["rows_used"] == 2 and report["skipped"]["empty"] == 1


def test_a_decompression_bomb_is_unreadable(tmp_path, monkeypatch):
    save(tmp_path / "a.png", 1)
    save(tmp_path / "huge.png", 2, size=(16, 16))
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 60)  # 16x16 is over twice this; 8x8 is not
    s = read(tmp_path, on_error="skip")
    assert [im.name for im in s.inputs] == ["a.png"] and s.skipped == {"unreadable": 1}
    with pytest.raises(UserError, match="huge.png' is too large to decode safely"):
        read(tmp_path)


def test_many_pictures_are_read_in_order_by_worker_threads(tmp_path):
    for i in range(150):
        save(tmp_path / ("a" if i % 2 else "b") / f"{i:03d}.png", i, size=(4, 4))
    (tmp_path / "b" / "100.png").write_bytes(b"")
    progress = Notes()
    s = read(tmp_path, on_error="skip", progress=progress)
    names = [im.name for im in s.inputs]
    assert names == sorted(names) and len(names) == 149 and s.skipped == {"empty": 1}
    assert np.array_equal(s.inputs[0].pixels, pixels(1, (4, 4))) and s.labels[-1] == "b"
    assert progress.tasks[0][1:] == [150, 150]
    with pytest.raises(UserError, match="image 'b/100.png' is empty"):
        read(tmp_path)


def test_nothing_left_is_an_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(UserError, match="no usable images left.*empty: 1"):
        read(tmp_path, on_error="skip")


# --- labels -----------------------------------------------------------------------------------------------------


def test_an_unknown_label_names_it_the_image_and_the_known_ones(tmp_path):
    root = class_folder(tmp_path / "set")
    with pytest.raises(UserError) as err:
        read(root, role="evaluation", known_labels=["Boot", "trousers"])
    said = str(err.value)
    assert "'boot'" in said and "'boot/0.png'" in said and "did you mean 'Boot'" in said and "'trousers'" in said
    save(tmp_path / "a.png")
    (tmp_path / "l.csv").write_text("path,label\na.png,shrt\n")
    with pytest.raises(UserError, match=r"label 'shrt' \(1 image, e.g. 'a.png' \(line 2\); did you mean 'shirt'"):
        read(tmp_path / "l.csv", known_labels=["boot", "shirt"])
    assert read(root, known_labels=["boot", "shirt"]).labels[0] == "boot"


def test_required_labels_refuse_or_skip_the_unlabelled(tmp_path):
    root = class_folder(tmp_path / "set")
    save(root / "loose.png", 7)  # directly in the folder: no class
    with pytest.raises(UserError, match="image 'loose.png' has no label.*not in a class subfolder"):
        read(root, role="evaluation", require_labels=True)
    s = read(root, role="evaluation", require_labels=True, on_error="skip")
    assert len(s.inputs) == 4 and s.skipped == {"unlabelled": 1} and s.rows_read == 5
    assert read(root).labels[2] is None  # the transfer set keeps it, unlabelled
    save(tmp_path / "a.png")
    (tmp_path / "l.csv").write_text("path,label\na.png,boot\na.png,\n")
    with pytest.raises(UserError, match=r"line 3: image 'a.png' has no label"):
        read(tmp_path / "l.csv", role="evaluation", require_labels=True)


def test_offset_and_limit_pick_a_window(tmp_path):
    root = class_folder(tmp_path / "set", per_class=3)
    s = read(root, offset=2, limit=3)
    assert [im.name for im in s.inputs] == ["boot/2.png", "shirt/0.png", "shirt/1.png"] and s.rows_read == 3
    with pytest.raises(UserError, match="offset 6 is past the end"):
        read(root, offset=6)
    (root / "list.csv").write_text("path\nboot/0.png\nboot/1.png\nshirt/2.png\n")
    assert [im.name for im in read(root / "list.csv", offset=1, limit=5).inputs] == ["boot/1.png", "shirt/2.png"]


def test_bad_options_and_sources(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read(tmp_path / "nope")
    with pytest.raises(UserError, match="data.mode"):
        read(class_folder(tmp_path), mode="colour")
    (tmp_path / "x.parquet").write_bytes(b"x")
    with pytest.raises(UserError, match="not a list of images"):
        read(tmp_path / "x.parquet")
    with pytest.raises(UserError, match="no such built-in image set.*builtin:fashion-mnist"):
        read("builtin:mnist")


# --- builtin:fashion-mnist ----------------------------------------------------------------------------------------


def test_builtin_fashion_mnist():
    if not all((images.FASHION_DIR / f).is_file() for f in images.FASHION_FILES["test"]):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    s = read("builtin:fashion-mnist", role="evaluation", split="test", offset=5, limit=4, require_labels=True)
    assert [im.name for im in s.inputs] == [f"fashion-mnist/test/{i}" for i in range(5, 9)]
    assert all(im.pixels.shape == (28, 28, 1) for im in s.inputs)
    assert set(s.labels) <= set(FASHION_LABELS) and s.split == "test" and s.rows_read == 4
    assert s.sha256 and s.to_report()["sizes"]["most_common"] == "28x28"
    first = read("builtin:fashion-mnist", split="test", limit=9)
    assert np.array_equal(first.inputs[5].pixels, s.inputs[0].pixels) and first.labels[5:] == s.labels
    assert read("builtin:fashion-mnist", split="test", limit=1, mode="rgb").inputs[0].channels == 3
    with pytest.raises(UserError, match="not among the teacher's labels"):
        read("builtin:fashion-mnist", split="test", limit=50, known_labels=["cat", "dog"])
    with pytest.raises(UserError, match="past the end"):
        read("builtin:fashion-mnist", split="test", offset=10_000)


def test_builtin_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "FASHION_DIR", tmp_path)
    with pytest.raises(UserError) as err:
        read("builtin:fashion-mnist")
    said = str(err.value)
    assert str(tmp_path) in said and "sudo apt-get install dataset-fashion-mnist" in said


def test_builtin_reads_idx_files(tmp_path, monkeypatch):
    # tiny IDX files made here, so this runs without the Debian package
    import gzip

    monkeypatch.setattr(images, "FASHION_DIR", tmp_path)
    pics = np.arange(5 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(5, 28, 28)
    header = np.array([2051, 5, 28, 28], dtype=">u4").tobytes()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + pics.tobytes()))
    labels = np.array([9, 0, 3, 3, 1], dtype=np.uint8)
    header = np.array([2049, 5], dtype=">u4").tobytes()
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + labels.tobytes()))
    s = read("builtin:fashion-mnist", offset=1, limit=3)
    assert s.labels == ["T-shirt/top", "Dress", "Dress"]
    assert np.array_equal(s.inputs[0].pixels[:, :, 0], pics[1]) and s.inputs[2].name == "fashion-mnist/train/3"
    with pytest.raises(UserError, match="group_columns"):
        read("builtin:fashion-mnist", group_columns=["x"])
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(UserError, match="not a valid gzipped IDX file"):
        read("builtin:fashion-mnist")
