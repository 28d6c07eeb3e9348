"""Images: one picture per input, held as its pixels (uint8, height x width x channels) and the name it came from.

An `Image` is keyed in the store by its pixels (shape and bytes), so the same picture is asked once whatever
its file is called, and a perturbed copy is a new input. Models never read files: data/images.py decodes them
once (PIL), and `stack` brings a batch to one size and channel count for a network.

The perturbations robustness uses (seeded, so teacher and student see the same pictures): see PERTURBATIONS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..store import input_key

__all__ = ["Image", "ImageModality", "stack", "as_image", "PERTURBATIONS"]

PERTURBATIONS = {
    "noise": "Gaussian pixel noise (standard deviation 8% of the range)",
    "blur": "Gaussian blur (radius 1 pixel at 28 px, scaled with the picture)",
    "brightness": "brightness raised or lowered by 40%",
    "crop": "a random 80% crop, scaled back to the full size",
    "jpeg": "saved as JPEG at quality 15 and read back",
}


class Image:
    """One picture: `pixels` uint8 (H, W, C) with C = 1 (grey) or 3 (RGB), C-contiguous; `name` says where it came
    from (a file path as the data file gives it, 'fashion-mnist/test/17', or 'perturbed: ...')."""

    __slots__ = ("pixels", "name", "_key")

    def __init__(self, pixels: np.ndarray, name: str = ""):
        a = np.asarray(pixels)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] not in (1, 3) or a.dtype != np.uint8 or 0 in a.shape:
            raise ValueError(
                f"an image is uint8 pixels of shape (height, width, 1 or 3); got {a.dtype} {a.shape} ({name or 'unnamed'})"
            )
        self.pixels = np.ascontiguousarray(a)
        self.name = str(name)
        self._key: str | None = None

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    def key(self) -> str:
        """The store key: a hash over the shape and the pixel bytes (the name is not part of it)."""
        if self._key is None:
            h, w, c = self.pixels.shape
            self._key = input_key(f"image:{h}x{w}x{c}:".encode() + self.pixels.tobytes())
        return self._key

    def __eq__(self, other) -> bool:  # robustness compares a perturbed picture with its clean one
        return isinstance(other, Image) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"Image({self.name!r}, {self.width}x{self.height}, {'grey' if self.channels == 1 else 'RGB'})"


def as_image(item: Any, where: str = "image") -> Image:
    """An Image from an Image or an array (H, W) / (H, W, 1|3) of uint8 (floats in [0, 1] or [0, 255] are scaled)."""
    if isinstance(item, Image):
        return item
    a = np.asarray(item)
    if a.dtype != np.uint8:
        if a.dtype.kind not in "fiu" or a.size == 0 or not np.all(np.isfinite(a)):
            raise ValueError(f"{where}: pixels must be numbers, got {a.dtype} of shape {a.shape}")
        scale = 255.0 if a.dtype.kind == "f" and float(a.max()) <= 1.0 else 1.0
        a = np.clip(np.rint(a.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 4:  # RGBA: the alpha channel is dropped
        a = a[:, :, :3]
    return Image(a, where)


def stack(images: Sequence[Image], size: int | tuple[int, int], channels: int) -> np.ndarray:
    """The pictures as one uint8 array (N, height, width, channels): resized (bilinear, PIL) where their size differs,
    grey copied to three channels or RGB turned grey (ITU-R 601 luma, as PIL does) where `channels` asks."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    out = np.empty((len(images), hw[0], hw[1], channels), dtype=np.uint8)
    for i, im in enumerate(images):
        a = im.pixels
        if a.shape[:2] != hw:
            a = _resize(a, hw)
        if a.shape[2] != channels:
            a = np.repeat(a, 3, axis=2) if channels == 3 else _grey(a)
        out[i] = a
    return out


def _resize(a: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    from PIL import Image as PILImage

    mode = "L" if a.shape[2] == 1 else "RGB"
    img = PILImage.fromarray(a[:, :, 0] if mode == "L" else a, mode=mode)
    r = np.asarray(img.resize((hw[1], hw[0]), PILImage.BILINEAR))
    return r[:, :, None] if r.ndim == 2 else r


def _grey(a: np.ndarray) -> np.ndarray:
    y = a[:, :, 0] * 0.299 + a[:, :, 1] * 0.587 + a[:, :, 2] * 0.114
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)[:, :, None]


class ImageModality:
    """Inputs are `Image`s. Batched in order: a network resizes every picture to one size, so sorting saves nothing."""

    name = "image"
    plural = "images"
    perturbation_descriptions = PERTURBATIONS

    def key(self, item: Image) -> str:
        return as_image(item).key()

    def batches(self, items: Sequence[Any], batch_size: int) -> Iterator[list[int]]:
        from . import in_order

        return in_order(len(items), batch_size)

    def perturbations(self) -> dict[str, Callable[[Any, np.random.Generator], Any]]:
        from .image_perturb import PERTURB

        return dict(PERTURB)

    def describe(self, item: Image) -> str:
        im = as_image(item)
        return f"{im.name or 'image'} ({im.width}x{im.height}, {'grey' if im.channels == 1 else 'RGB'})"
