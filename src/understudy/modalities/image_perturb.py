"""The image perturbations robustness uses, and the thumbnails the report shows.

Each perturbation is a module-level function (picklable) of (Image, numpy Generator) -> Image: the same picture and
seed give the same result, so teacher and student are asked about the same perturbed pictures. A perturbed
picture keeps its size and channel count; its name says what was done to it. What each does is described in
modalities/image.py: PERTURBATIONS.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np

from .image import Image

__all__ = ["PERTURB", "thumbnail", "noise", "blur", "brightness", "crop", "jpeg"]

NOISE_SIGMA = 0.08 * 255
BRIGHTNESS = (1.4, 0.6)
CROP = 0.8
JPEG_QUALITY = 15


def _pil(image: Image):
    from PIL import Image as PILImage

    a = image.pixels
    return PILImage.fromarray(a[:, :, 0], mode="L") if a.shape[2] == 1 else PILImage.fromarray(a, mode="RGB")


def _back(pil, like: Image, kind: str) -> Image:
    """An Image from a PIL picture, with the channels and name of the one it was made from."""
    a = np.asarray(pil.convert("L" if like.channels == 1 else "RGB"), dtype=np.uint8)
    return Image(a[:, :, None] if a.ndim == 2 else a, f"{like.name} ({kind})")


def noise(image: Image, rng: np.random.Generator) -> Image:
    x = image.pixels.astype(np.float32) + rng.normal(0.0, NOISE_SIGMA, image.pixels.shape).astype(np.float32)
    return Image(np.clip(np.rint(x), 0, 255).astype(np.uint8), f"{image.name} (noise)")


def blur(image: Image, rng: np.random.Generator) -> Image:
    from PIL import ImageFilter

    radius = max(0.5, min(image.height, image.width) / 28)  # 1 pixel at Fashion-MNIST's 28 px
    return _back(_pil(image).filter(ImageFilter.GaussianBlur(radius)), image, "blur")


def brightness(image: Image, rng: np.random.Generator) -> Image:
    factor = BRIGHTNESS[int(rng.integers(0, 2))]
    x = image.pixels.astype(np.float32) * factor  # as PIL's ImageEnhance.Brightness: a blend with black
    return Image(np.clip(np.rint(x), 0, 255).astype(np.uint8), f"{image.name} (brightness)")


def crop(image: Image, rng: np.random.Generator) -> Image:
    from PIL import Image as PILImage

    h, w = image.height, image.width
    ch, cw = max(1, round(CROP * h)), max(1, round(CROP * w))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    part = _pil(image).crop((left, top, left + cw, top + ch))
    return _back(part.resize((w, h), PILImage.BILINEAR), image, "crop")


def jpeg(image: Image, rng: np.random.Generator) -> Image:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    _pil(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)  # an L picture is saved as a grey JPEG
    buffer.seek(0)
    with PILImage.open(buffer) as decoded:
        decoded.load()
        return _back(decoded, image, "jpeg")


PERTURB: dict[str, Callable[[Image, np.random.Generator], Image]] = {
    "noise": noise,
    "blur": blur,
    "brightness": brightness,
    "crop": crop,
    "jpeg": jpeg,
}


def thumbnail(image: Image, max_side: int = 64) -> str:
    """The picture as a `data:image/png;base64,...` URI for the HTML report. A small picture is scaled up by a whole
    factor (nearest: its pixels stay sharp, 28 px -> 56 px) so its long side is at most max_side; a large one is
    scaled down (bilinear) to max_side."""
    from PIL import Image as PILImage

    pil = _pil(image)
    w, h = pil.size
    long = max(w, h)
    if long <= max_side:
        factor = max(1, max_side // long)
        if factor > 1:
            pil = pil.resize((w * factor, h * factor), PILImage.NEAREST)
    else:
        scale = max_side / long
        pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), PILImage.BILINEAR)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
