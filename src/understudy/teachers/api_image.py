"""Teacher kind openai-api for pictures: a vision LLM behind an OpenAI-compatible endpoint, shown each picture as a
PNG (scaled down to at most `teacher.options.max_side` pixels a side, 512 by default) in the user turn, beside the
task line: [{"type": "text", ...}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}].

The API teacher (teachers/api.py) does the asking, as it does for texts and table rows: every answer is stored the
moment it arrives, nothing is asked twice, the budget holds, refusals and unreadable answers are reported. Each
picture stands before it as the text 'image <its key>' (its pixels' hash), which maps back to the picture when the
request is built; the reports name the picture and never carry its pixels.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Sequence

import numpy as np

from ..errors import UserError
from ..modalities.image import Image, as_image
from .api import ApiClassifierTeacher
from .base import check_probs

RENDERING = "each picture as a PNG in the user turn, beside the task line (v1)"
IMAGE_TASK = "Classify the image the user sends."
MAX_SIDE = 512
OPTIONS = {
    "max_side": "the longest side, in pixels, of the PNG sent (default 512; smaller pictures are sent as they are)"
}
_DATA_URL = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


def png_data_url(image: Image, max_side: int = MAX_SIDE) -> str:
    """The picture as a data URL of a PNG, scaled down (bilinear) so that neither side passes `max_side`."""
    from PIL import Image as PILImage

    a = image.pixels
    pil = PILImage.fromarray(a[:, :, 0] if a.shape[2] == 1 else a, mode="L" if a.shape[2] == 1 else "RGB")
    longest = max(image.width, image.height)
    if longest > max_side:
        scale = max_side / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        pil = pil.resize(size, PILImage.BILINEAR)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=False, compress_level=6)  # fixed settings: the same picture, the same bytes
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_text(image: Image) -> str:
    """What the API teacher sees in place of a picture: its key, which the request maps back to the picture."""
    return f"image {image.key()}"


def scrub(text: str) -> str:
    """A server's words with any picture it echoed cut out."""
    return _DATA_URL.sub("data:image/...;base64,(the picture)", text)


class ApiImageClassifier(ApiClassifierTeacher):
    """The API classifier whose user turn is the picture a key names, with the task line."""

    def __init__(self, settings, labels, max_side: int = MAX_SIDE, store=None, *, client=None):
        super().__init__(settings, labels, store, client=client)
        self.max_side = int(max_side)
        # The outcomes are stored under this fingerprint by the picture's key: how it is shown must be part of it.
        identity = {"api": self.fingerprint, "rendering": RENDERING, "max_side": self.max_side}
        self.fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
        self.description = f"{self.description}, shown each picture"
        self._shown: dict[str, Image] = {}  # the batch being asked: key text -> picture
        self._urls: dict[str, str] = {}

    def show(self, images: Sequence[Image]) -> list[str]:
        texts = []
        for im in images:
            text = image_text(im)
            self._shown[text] = im
            texts.append(text)
        return texts

    def forget(self) -> None:
        self._shown.clear()
        self._urls.clear()

    def messages(self, text: str) -> list[dict]:
        msgs = super().messages(text)
        image = self._shown.get(text)
        if image is None:
            raise RuntimeError(f"no picture for {text!r}: show() it before asking")
        if text not in self._urls:
            self._urls[text] = png_data_url(image, self.max_side)
        content = [
            {"type": "text", "text": self.settings.task},
            {"type": "image_url", "image_url": {"url": self._urls[text]}},
        ]
        return msgs[:-1] + [{"role": "user", "content": content}]


class ApiImageTeacher:
    """An ApiImageClassifier over pictures: the API teacher's protocol with pictures in place of texts."""

    def __init__(self, inner: ApiImageClassifier):
        self.inner = inner
        self.labels = inner.labels
        self.provides = frozenset({"probs"})
        self.fingerprint = inner.fingerprint
        self.description = inner.description
        self.files: list = []  # nothing on disk
        self.image_size = None  # any size: the PNG is scaled down to max_side
        self.channels = 3
        self.input_note = f"PNG, at most {inner.max_side} px a side"
        self.attention_layers: list[str] = []
        self.attention_shapes: list[tuple[int, int]] = []

    @staticmethod
    def texts(images) -> list[str]:
        return [image_text(as_image(im)) for im in images]

    def predict(self, images: Sequence) -> dict[str, np.ndarray]:
        images = [as_image(im) for im in images]
        texts = self.inner.show(images)
        try:
            probs = self.inner.predict(texts)["probs"]
        finally:
            self.inner.forget()  # pictures are not kept past their batch
        return {"probs": check_probs(probs, len(images), self.labels, self.description)}

    def attach(self, store) -> ApiImageTeacher:
        self.inner.attach(store)
        return self

    def close(self) -> None:
        self.inner.close()

    def outcomes(self, images) -> list[dict | None]:
        return self.inner.outcomes(self.texts(images))

    def labelled_mask(self, images) -> np.ndarray:
        return self.inner.labelled_mask(self.texts(images))

    def unparseable(self, images) -> list[dict]:
        """The pictures without a label: index, the picture's name (never its pixels), status, raw answers."""
        images = [as_image(im) for im in images]
        out = []
        for row in self.inner.unparseable(self.texts(images)):
            image = images[row["index"]]
            out.append({**row, "text": image.name or image_text(image), "raw": [scrub(r) for r in row["raw"]]})
        return out

    def report(self, images, examples: int = 20) -> dict:
        images = [as_image(im) for im in images]
        report = self.inner.report(self.texts(images), examples)
        report["unparseable_examples"] = self.unparseable(images)[:examples]
        report["images"] = report.pop("texts")
        return {**report, "inputs": RENDERING, "max_side": self.inner.max_side}

    def spend_report(self) -> dict:
        return self.inner.spend_report()


def build_api_image(spec, resolve=lambda p: p) -> ApiImageTeacher:
    """Teacher kind openai-api for image-classification (teachers/image.py IMAGE_BUILDERS)."""
    settings = getattr(spec, "api", None)
    if settings is None:
        raise UserError("teacher kind 'openai-api' needs an 'api' section (base_url, model, ...)")
    options = dict(getattr(spec, "options", None) or {})
    wrong = sorted(set(options) - set(OPTIONS))
    if wrong:
        raise UserError(
            f"teacher.options: {', '.join(wrong)} is not a setting of kind openai-api for pictures (its settings: "
            + "; ".join(f"{k}: {v}" for k, v in OPTIONS.items())
            + ")"
        )
    max_side = options.get("max_side", MAX_SIDE)
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 16:
        raise UserError(f"teacher.options.max_side is {max_side!r}; it is a whole number of pixels, at least 16")
    if settings.examples:
        raise UserError(
            "teacher.api.examples are texts; a picture teacher is sent no few-shot examples: leave them out and say "
            "what each label means in teacher.api.label_descriptions"
        )
    if "task" not in settings.model_fields_set:  # the text default says 'text'; a picture is what is sent
        settings = settings.model_copy(update={"task": IMAGE_TASK})
    return ApiImageTeacher(ApiImageClassifier(settings, getattr(spec, "labels", None) or [], max_side))
