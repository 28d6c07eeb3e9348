"""Image perturbations (seeded, shape-keeping, picklable) and the report's thumbnails."""

from __future__ import annotations

import base64
import io
import pickle

import numpy as np
import pytest
from PIL import Image as PILImage

from understudy.modalities.image import PERTURBATIONS, Image, ImageModality
from understudy.modalities.image_perturb import PERTURB, thumbnail


def picture(channels: int, size: int = 16, seed: int = 0) -> Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = (x * 255 // max(size - 1, 1)).astype(np.float64)[:, :, None] * np.ones(channels)
    base[size // 4 : size // 2, size // 4 : size // 2] = 230  # a bright square: blur and crop move its edges
    a = np.clip(base * 0.7 + rng.integers(0, 60, (size, size, channels)), 0, 255).astype(np.uint8)
    return Image(a, "shirt.png")


def test_the_perturbations_are_the_ones_described():
    assert list(PERTURB) == ["noise", "blur", "brightness", "crop", "jpeg"] == list(PERTURBATIONS)
    assert ImageModality().perturbations().keys() == PERTURB.keys()


@pytest.mark.parametrize("kind", list(PERTURB))
@pytest.mark.parametrize("channels", [1, 3])
def test_each_keeps_the_shape_changes_the_pixels_and_is_seeded(kind, channels):
    image = picture(channels)
    out = PERTURB[kind](image, np.random.default_rng(7))
    assert isinstance(out, Image)
    assert out.pixels.shape == image.pixels.shape and out.pixels.dtype == np.uint8
    assert out.name == f"shirt.png ({kind})"
    assert not np.array_equal(out.pixels, image.pixels)
    again = PERTURB[kind](image, np.random.default_rng(7))
    assert np.array_equal(again.pixels, out.pixels)
    assert np.array_equal(image.pixels, picture(channels).pixels)  # the input is left as it was


def test_a_non_square_picture_keeps_its_size():
    a = np.random.default_rng(1).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    for kind, fn in PERTURB.items():
        assert fn(Image(a, "x"), np.random.default_rng(0)).pixels.shape == (12, 20, 3), kind


def test_the_seed_matters_where_the_perturbation_is_random():
    image = picture(3)
    for kind in ("noise", "crop"):
        outs = {PERTURB[kind](image, np.random.default_rng(s)).key() for s in range(6)}
        assert len(outs) > 1, kind
    factors = set()
    for s in range(20):
        out = PERTURB["brightness"](image, np.random.default_rng(s))
        factors.add(bool(out.pixels.astype(int).sum() > image.pixels.astype(int).sum()))
    assert factors == {True, False}  # both brighter and darker


def test_the_perturbations_pickle():
    for fn in PERTURB.values():
        assert pickle.loads(pickle.dumps(fn)) is fn


def decode(uri: str) -> PILImage.Image:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    im = PILImage.open(io.BytesIO(base64.b64decode(uri[len(prefix) :])))
    assert im.format == "PNG"
    return im


def test_a_small_thumbnail_is_scaled_up_by_a_whole_factor():
    im = decode(thumbnail(picture(1, size=28)))
    assert im.size == (56, 56) and im.mode == "L"
    a = np.asarray(im)
    assert np.array_equal(a[::2, ::2], picture(1, size=28).pixels[:, :, 0])  # nearest: each pixel is a 2x2 block
    assert decode(thumbnail(picture(3, size=16))).size == (64, 64)
    assert decode(thumbnail(picture(3, size=40))).size == (40, 40)  # 64 // 40 = 1: left as it is


def test_a_large_thumbnail_is_scaled_down_keeping_its_shape():
    a = np.random.default_rng(2).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    im = decode(thumbnail(Image(a, "wide"), max_side=50))
    assert im.size == (50, 25) and im.mode == "RGB"
