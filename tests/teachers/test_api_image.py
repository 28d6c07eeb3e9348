"""Kind openai-api for pictures: each picture sent as a PNG beside the task line to a real HTTP server
(tests/api_server.py, taught here to look at the picture), every answer stored, nothing asked twice, and reports that
name the pictures and never carry their pixels."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from api_server import STRICT_MARK, FakeLLM, brain
from conftest import LABELS

from understudy.api import ApiSettings
from understudy.errors import UserError
from understudy.label import label
from understudy.modalities.image import Image, ImageModality
from understudy.recipe import TeacherSpec
from understudy.store import TeacherStore
from understudy.teachers.api import KIND_ANSWER
from understudy.teachers.api_image import IMAGE_TASK, png_data_url
from understudy.teachers.image import build_image_teacher

pytest.importorskip("httpx")


def decode(url: str) -> np.ndarray:
    from PIL import Image as PILImage

    assert url.startswith("data:image/png;base64,")
    return np.asarray(PILImage.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def seen(pixels: np.ndarray) -> str:
    """What the fake model 'sees': a black picture puzzles it, a bright one is great, a dark one awful."""
    if pixels.max() == 0:
        return "unanswerable"
    return "great" if pixels.mean() > 127 else "awful"


class VisionLLM(FakeLLM):
    """The fake LLM, reading the text part and the picture of a content list as one text."""

    @staticmethod
    def _text(body: dict) -> str:
        msgs = body["messages"]
        last = msgs[-1]["content"]
        strict = isinstance(last, str) and STRICT_MARK in last and len(msgs) >= 3
        content = msgs[-3]["content"] if strict else last
        if isinstance(content, str):
            return content
        text = next(p["text"] for p in content if p["type"] == "text")
        url = next(p["image_url"]["url"] for p in content if p["type"] == "image_url")
        return f"{text} {seen(decode(url))}"


def spec(url: str, options: dict | None = None, **api) -> TeacherSpec:
    settings = ApiSettings(base_url=url, model="fake", backoff_s=0.01, backoff_max_s=0.05, timeout_s=5, **api)
    return TeacherSpec(kind="openai-api", labels=LABELS, api=settings, options=options or {})


def pictures() -> list[Image]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(6):
        level = 200 if i % 2 == 0 else 40
        shape = (40, 20, 3) if i % 3 else (12, 12, 1)
        noise = rng.integers(-20, 20, size=shape)
        out.append(Image(np.clip(level + noise, 0, 255).astype(np.uint8), f"shop/{i}.png"))
    return out


def test_each_picture_is_sent_as_a_png_beside_the_task_and_stored_so_a_rerun_asks_nothing(tmp_path):
    images = pictures()
    with VisionLLM() as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = build_image_teacher(spec(srv.url, {"max_side": 16}), str)
        assert teacher.labels == LABELS and teacher.provides == frozenset({"probs"}) and teacher.files == []
        assert "picture" in teacher.description and teacher.input_note == "PNG, at most 16 px a side"
        teacher.attach(store)
        out, stats = label(teacher, images, store, batch_size=4, modality=ImageModality())
        assert stats.asked == len(images)
        for row, im in zip(out["probs"], images):
            assert np.allclose(row, brain(f"{IMAGE_TASK} {seen(im.pixels)}", LABELS), atol=1e-5), im.name
        bodies = list(srv.bodies.values())
        assert len(bodies) == len(images)
        for body in bodies:
            system, user = body["messages"][0], body["messages"][-1]
            assert system["content"].startswith(IMAGE_TASK)
            text, picture = user["content"]
            assert text == {"type": "text", "text": IMAGE_TASK} and picture["type"] == "image_url"
            sent = decode(picture["image_url"]["url"])
            assert max(sent.shape[:2]) <= 16  # 40x20 scaled down to 16x8; 12x12 sent as it is
        shapes = sorted({decode(b["messages"][-1]["content"][1]["image_url"]["url"]).shape for b in bodies})
        assert shapes == [(12, 12), (16, 8, 3)]
        assert teacher.labelled_mask(images).all() and store.count(teacher.fingerprint, KIND_ANSWER) == len(images)
        report = teacher.report(images)
        assert report["labelled"] == len(images) and report["images"] == len(images)
        assert report["inputs"].startswith("each picture as a PNG") and report["max_side"] == 16
        teacher.close()

        asked = sum(srv.received.values())
        again = build_image_teacher(spec(srv.url, {"max_side": 16}), str).attach(store)
        assert again.fingerprint == teacher.fingerprint
        assert np.array_equal(again.predict(images)["probs"], out["probs"])
        assert sum(srv.received.values()) == asked  # every answer came from the store
        bigger = build_image_teacher(spec(srv.url), str)
        assert bigger.fingerprint != teacher.fingerprint  # another rendering: other requests, other outcomes


def test_a_picture_the_model_cannot_read_is_reported_by_name_without_its_pixels(tmp_path):
    images = pictures()[:3] + [Image(np.zeros((10, 10, 3), dtype=np.uint8), "shop/black.png")]
    with VisionLLM() as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = build_image_teacher(spec(srv.url, task="Is this shelf well stocked?"), str).attach(store)
        probs = teacher.predict(images)["probs"]
        assert np.allclose(probs[3], [0.5, 0.5])  # unparseable: a uniform row
        assert teacher.labelled_mask(images).tolist() == [True, True, True, False]
        report = teacher.report(images)
        assert report["unparseable"] == 1
        (example,) = report["unparseable_examples"]
        assert example["text"] == "shop/black.png" and example["index"] == 3
        assert "base64" not in json.dumps(report) and "base64" not in json.dumps(teacher.unparseable(images))
        system = next(iter(srv.bodies.values()))["messages"][0]["content"]
        assert system.startswith("Is this shelf well stocked?")
        teacher.close()


def test_the_png_is_scaled_down_keeping_its_shape_and_is_the_same_bytes_each_time():
    im = Image(np.arange(300 * 100 * 3, dtype=np.int64).reshape(300, 100, 3).astype(np.uint8), "tall")
    url = png_data_url(im, 60)
    assert decode(url).shape == (60, 20, 3) and png_data_url(im, 60) == url
    assert decode(png_data_url(im, 512)).shape == (300, 100, 3)


def test_settings_a_picture_teacher_cannot_use_are_refused():
    url = "http://127.0.0.1:9/v1"
    with pytest.raises(UserError, match="max_side"):
        build_image_teacher(spec(url, {"max_side": 4}), str)
    with pytest.raises(UserError, match="not a setting"):
        build_image_teacher(spec(url, {"size": 64}), str)
    with pytest.raises(UserError, match="examples are texts"):
        build_image_teacher(spec(url, examples=[{"text": "a shelf", "label": LABELS[0]}]), str)
    no_api = TeacherSpec(kind="callable", target="x:y", labels=LABELS).model_copy(update={"kind": "openai-api"})
    with pytest.raises(UserError, match="needs an 'api' section"):
        build_image_teacher(no_api, str)
