"""Teachers over pictures: each gets a batch of `Image`s and answers {"probs": (n, classes)}, and where it is a local
torch network also {"features": (n, d)} (the pooled input of its classifier head) and {"attention": (n, m)}.

The attention maps are those of attention transfer (Zagoruyko & Komodakis 2017): at each named layer, whose output
A is (C, H, W), Q = mean over channels of A**2, flattened to H*W and L2-normalised; the layers' maps are joined in
the order named, and `attention_shapes` lists each layer's (H, W) so a student can split the vector.

The kinds:
  image-classifier  a local folder: understudy's own (config.json with "understudy_image_model": 1 and an
                    EfficientNet-Lite's model.safetensors, written by `save_image_folder`), or a transformers
                    image-classification folder (config.json with model_type, model.safetensors)
  onnx              an ONNX image model file (input NCHW float), run by ONNX Runtime
  callable          'module:function' or 'file.py:function' from uint8 pixels (N, H, W, C) to probabilities
  openai-api        a vision LLM behind an OpenAI-compatible endpoint (teachers/api_image.py)
and any plug-in kind (its factory's `image_builder`, or the factory itself).

Every network reads pictures the same way: `modalities.image.stack` to its size and channel count, then
(x/255 - mean)/std per channel, NCHW. Weights are never unpickled: safetensors for torch, never remote code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..modalities.image import Image, as_image, stack
from .base import check_probs, files_of, fingerprint_files

OWN_FORMAT = 1  # the "understudy_image_model" version save_image_folder writes
ARCHITECTURES = tuple(f"efficientnet-lite{i}" for i in range(5))
RESCALE = 1.0 / 255.0


# ------------------------------------------------------------------------------------------ shared


def spec_value(spec, name: str, default=None):
    """A recipe field, or `default` where the spec (a plain TeacherSpec, say) has no such field or it is unset."""
    value = getattr(spec, name, None)
    return default if value is None else value


def input_note(image_size, channels: int, mean: Sequence[float], std: Sequence[float], scale: float = RESCALE) -> str:
    """How the network reads a picture, for people: '64x64 RGB, (x-127)/128'."""
    side = f"{image_size}x{image_size}" if isinstance(image_size, int) else "any size"
    kind = "RGB" if channels == 3 else "grey"
    if scale == RESCALE and len(set(mean)) == 1 and len(set(std)) == 1:
        m, s = mean[0] * 255, std[0] * 255
        if abs(m - round(m)) < 1e-3 and abs(s - round(s)) < 1e-3:
            return f"{side} {kind}, (x-{round(m)})/{round(s)}"
    show = lambda v: f"{v[0]:.4g}" if len(set(v)) == 1 else "[" + ", ".join(f"{x:.4g}" for x in v) + "]"  # noqa: E731
    x = "x/255" if scale == RESCALE else f"x*{scale:.4g}"
    return f"{side} {kind}, ({x}-{show(mean)})/{show(std)}"


def _per_channel(values, channels: int, what: str, where: str) -> np.ndarray:
    v = [float(x) for x in values]
    if len(v) == 1:
        v = v * channels
    if len(v) != channels:
        raise UserError(f"{where}: teacher.{what} has {len(v)} numbers; the network reads {channels} channel(s)")
    if what == "std" and min(v) <= 0:
        raise UserError(f"{where}: teacher.std must be positive, got {v}")
    return np.asarray(v, dtype=np.float32)


class Preprocess:
    """Pictures to the network's input: stacked at its size and channels, scaled, normalised, NCHW float32."""

    def __init__(self, image_size, channels: int, mean, std, where: str, scale: float = RESCALE):
        self.image_size, self.channels, self.scale = image_size, int(channels), float(scale)
        if self.channels not in (1, 3):
            raise UserError(f"{where}: the network reads {channels} channels; 1 (grey) or 3 (RGB) are supported")
        self.mean = _per_channel(mean, self.channels, "mean", where)
        self.std = _per_channel(std, self.channels, "std", where)

    def identity(self) -> dict:
        out = {
            "image_size": self.image_size,
            "channels": self.channels,
            "mean": [float(x) for x in self.mean],
            "std": [float(x) for x in self.std],
        }
        if self.scale != RESCALE:
            out["scale"] = self.scale
        return out

    def note(self) -> str:
        return input_note(self.image_size, self.channels, self.mean.tolist(), self.std.tolist(), self.scale)

    def array(self, images: Sequence, size=None) -> np.ndarray:
        """(N, C, H, W) float32 as a C-ordered NHWC buffer viewed NCHW (what torch's channels_last is)."""
        pixels = stack([as_image(im) for im in images], size or self.image_size, self.channels)
        x = pixels.astype(np.float32)
        x *= np.float32(self.scale)
        x -= self.mean
        x /= self.std
        return x.transpose(0, 3, 1, 2)


def _labels_for(own: list[str], given, where: str) -> list[str]:
    if given:
        given = [str(x) for x in given]
        if len(given) != len(own):
            raise UserError(f"teacher.labels has {len(given)} names; the model in {where} has {len(own)} classes")
        return given
    return own


# ------------------------------------------------------------------------------------------ torch networks


class TorchImageTeacher:
    """A torch image classifier: probabilities from its logits, features from the input of its head (a forward
    pre-hook), attention maps from forward hooks on the named layers."""

    def __init__(self, model, head, labels: list[str], prep: Preprocess, attention_layers: list[str], features: bool):
        import torch

        self.model = model.eval().to(memory_format=torch.channels_last)
        self.labels = list(labels)
        self.prep = prep
        self.image_size, self.channels, self.input_note = prep.image_size, prep.channels, prep.note()
        self.attention_layers = list(attention_layers)
        self.want_features = bool(features)
        self._captured: dict[str, object] = {}
        self._hooks = []
        if self.want_features and head is not None:
            self._hooks.append(head.register_forward_pre_hook(self._head_hook))
        for name in self.attention_layers:
            try:
                layer = self.model.get_submodule(name)
            except AttributeError:
                raise UserError(
                    f"{self.description}: teacher.attention_layers names '{name}', which is no layer of the network; "
                    f"its layers include {', '.join(_some_layers(self.model))}"
                ) from None
            self._hooks.append(layer.register_forward_hook(self._attention_hook(name)))
        provides = {"probs"}
        provides |= {"features"} if self.want_features else set()
        provides |= {"attention"} if self.attention_layers else set()
        self.provides = frozenset(provides)
        self.attention_shapes: list[tuple[int, int]] = []
        self.feature_size: int | None = None
        self._probe()

    # --- what each network does differently --------------------------------------------------------------

    def forward(self, x):
        """(logits, pooled features where no head hook caught them)."""
        raise NotImplementedError

    # --- hooks ------------------------------------------------------------------------------------------

    def _head_hook(self, module, args):
        self._captured["features"] = args[0]

    def _attention_hook(self, name: str):
        import torch

        def hook(module, args, output):
            a = _first_tensor(output)
            if a is None or a.ndim != 4:
                shape = None if a is None else tuple(a.shape)
                raise UserError(
                    f"{self.description}: layer '{name}' gives {shape}, not a (batch, channels, height, width) map; "
                    "name convolutional layers in teacher.attention_layers"
                )
            a = a.float()
            # Q is normalised, so A's scale does not matter: divided by its largest value first, tiny activations
            # (a freshly initialised net's) neither underflow in A**2 nor fall under the L2 norm's floor.
            a = a / a.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
            q = a.pow(2).mean(dim=1)
            self._captured[f"attention:{name}"] = (q.flatten(1), tuple(q.shape[1:]))

        return hook

    def _probe(self) -> None:
        """One forward pass on a grey picture: the layers exist and give maps, and their shapes are known."""
        size = self.image_size
        blank = Image(np.full((size, size, self.channels), 128, dtype=np.uint8), "probe")
        out = self._run([blank])
        self.attention_shapes = list(out.pop("_shapes", []))
        if "features" in out:
            self.feature_size = int(out["features"].shape[1])
        n = out["probs"].shape[1]
        if n != len(self.labels):
            raise UserError(f"{self.description} gives {n} class scores but has {len(self.labels)} labels")

    def _run(self, images) -> dict:
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(self.prep.array(images)).contiguous(memory_format=torch.channels_last)
        self._captured.clear()
        try:
            with torch.inference_mode():
                logits, pooled = self.forward(x)
                out = {"probs": torch.softmax(logits.float(), dim=-1).numpy()}
                if self.want_features:
                    f = self._captured.get("features", pooled)
                    if f is None:
                        raise UserError(f"{self.description}: no pooled features found; set teacher.features: false")
                    out["features"] = f.float().reshape(len(images), -1).numpy().astype(np.float32, copy=False)
                if self.attention_layers:
                    maps = [self._captured[f"attention:{name}"] for name in self.attention_layers]
                    out["attention"] = torch.cat([F.normalize(q, p=2, dim=1, eps=1e-30) for q, _ in maps], 1).numpy()
                    out["_shapes"] = [s for _, s in maps]
        finally:
            self._captured.clear()
        return out

    def predict(self, images: Sequence) -> dict[str, np.ndarray]:
        out = self._run(images)
        out.pop("_shapes", None)
        out["probs"] = check_probs(out["probs"], len(images), self.labels, self.description)
        return out


def _first_tensor(output):
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output:
        return _first_tensor(output[0])
    if hasattr(output, "to_tuple"):  # a transformers ModelOutput
        return _first_tensor(output.to_tuple())
    return None


def _some_layers(model, at_most: int = 12) -> list[str]:
    names = [n for n, m in model.named_modules() if n and len(list(m.children()))]
    step = max(1, len(names) // at_most)
    return names[::step][:at_most]


# ------------------------------------------------------------------------------------------ understudy's folder


def lite_attention_layers(model) -> list[str]:
    """An EfficientNet-Lite's default layers: the last block of each of its last three resolution stages."""
    stages: list[list[int]] = []
    for i, block in enumerate(model._blocks):
        stride = block._block_args.stride
        stride = stride[0] if isinstance(stride, (list, tuple)) else stride
        if not stages or int(stride) > 1:
            stages.append([])
        stages[-1].append(i)
    return [f"_blocks.{stage[-1]}" for stage in stages[-3:]]


def make_efficientnet_lite(architecture: str, num_classes: int, image_size: int | None, channels: int = 3):
    """An EfficientNet-Lite with random weights. Its TensorFlow-style 'same' padding is fixed at build for
    `image_size` (None: worked out at each call); the padding has no weights, but it changes what the net computes
    at sizes whose halvings differ in parity from that one, so a saved net is rebuilt padded as it was trained."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite_pytorch.utils import get_same_padding_conv2d
    except ImportError:
        raise UserError(
            "an understudy image folder holds an EfficientNet-Lite: pip install efficientnet_lite_pytorch"
        ) from None
    size = None if image_size is None else int(image_size)
    model = EfficientNet.from_name(architecture, num_classes=int(num_classes), image_size=size)
    if channels != 3:  # the package's own in_channels path miscounts the stem of lite2-4 (fixed at 32)
        stem = model._conv_stem
        conv = get_same_padding_conv2d(image_size=size)
        model._conv_stem = conv(channels, stem.out_channels, kernel_size=3, stride=2, bias=False)
    # No set_swish here: on a Lite it would swap its ReLU6 for Swish.
    return model


class LiteImageTeacher(TorchImageTeacher):
    """understudy's own image folder: an EfficientNet-Lite (efficientnet_lite_pytorch) and its config.json."""

    def __init__(self, folder: Path, config: dict, spec):
        from safetensors.torch import load_file

        self.folder = folder
        arch = config["architecture"]
        own = [str(x) for x in config["labels"]]
        labels = _labels_for(own, spec_value(spec, "labels"), str(folder))
        size = int(spec_value(spec, "image_size", config["image_size"]))
        channels = int(config.get("channels", 3))
        where = f"image model {folder}"
        prep = Preprocess(
            size, channels, spec_value(spec, "mean", config["mean"]), spec_value(spec, "std", config["std"]), where
        )
        self.description = f"{arch} image classifier {folder.name} ({len(labels)} classes)"
        padded_for = config.get("padded_for", config["image_size"])
        model = make_efficientnet_lite(arch, len(own), padded_for, channels)
        try:
            weights = load_file(str(folder / "model.safetensors"))
        except Exception as exc:
            raise UserError(f"{folder}/model.safetensors cannot be read as safetensors: {exc}") from None
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise UserError(
                f"{folder}/model.safetensors does not fit an {arch} with {len(own)} classes and {channels} "
                f"channel(s) (its config.json): {str(exc).strip()[:400]}"
            ) from None
        layers = spec_value(spec, "attention_layers")
        layers = lite_attention_layers(model) if layers is None else list(layers)
        super().__init__(model, model._fc, labels, prep, layers, spec_value(spec, "features", True))
        self.architecture = arch
        self.files = files_of(folder)
        self.fingerprint = _fingerprint(folder, "image-classifier", prep, self.attention_layers, self.want_features)

    def forward(self, x):
        return self.model(x), None


def save_image_folder(model, architecture: str, labels, image_size: int, channels: int, mean, std, folder) -> Path:
    """Write an EfficientNet-Lite as understudy's image folder: config.json and model.safetensors (no pickle)."""
    from safetensors.torch import save_file

    if architecture not in ARCHITECTURES:
        raise UserError(f"architecture '{architecture}': an understudy image folder holds one of {ARCHITECTURES}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "understudy_image_model": OWN_FORMAT,
        "architecture": architecture,
        "labels": [str(x) for x in labels],
        "image_size": int(image_size),
        "channels": int(channels),
        "mean": [float(x) for x in mean],
        "std": [float(x) for x in std],
        # the size its 'same' padding was fixed for (None: worked out at each call); see make_efficientnet_lite
        "padded_for": _padded_for(model),
    }
    # channels_last weights are strided: safetensors stores plain contiguous tensors
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def _padded_for(model) -> int | None:
    size = getattr(getattr(model, "_global_params", None), "image_size", None)
    if isinstance(size, (list, tuple)):
        size = size[0]
    return None if size is None else int(size)


def _check_own_config(config: dict, folder: Path) -> None:
    where = f"{folder}/config.json"
    if config.get("understudy_image_model") != OWN_FORMAT:
        raise UserError(
            f"{where}: understudy_image_model is {config.get('understudy_image_model')!r}; this understudy reads "
            f"version {OWN_FORMAT}"
        )
    missing = [k for k in ("architecture", "labels", "image_size", "mean", "std") if k not in config]
    if missing:
        raise UserError(f"{where} lacks {', '.join(missing)}; save the model with save_image_folder")
    if config["architecture"] not in ARCHITECTURES:
        raise UserError(f"{where}: architecture '{config['architecture']}' is not one of {', '.join(ARCHITECTURES)}")
    labels = config["labels"]
    if not isinstance(labels, list) or len(labels) < 1 or len({str(x) for x in labels}) != len(labels):
        raise UserError(f"{where}: labels must be a list of distinct class names, got {labels!r}")
    if not isinstance(config["image_size"], int) or config["image_size"] < 8:
        raise UserError(f"{where}: image_size must be a whole number of pixels, at least 8")
    padded = config.get("padded_for")
    if padded is not None and (not isinstance(padded, int) or padded < 1):
        raise UserError(f"{where}: padded_for must be a whole number of pixels or null, got {padded!r}")
    if not (folder / "model.safetensors").is_file():
        raise UserError(f"{folder} has an understudy config.json but no model.safetensors beside it")


# ------------------------------------------------------------------------------------------ transformers folder


class HFImageTeacher(TorchImageTeacher):
    """A transformers image-classification folder, loaded from its safetensors only (never remote code)."""

    def __init__(self, folder: Path, config: dict, spec):
        from transformers import AutoModelForImageClassification

        from .encoder import quiet_transformers

        self.folder = folder
        if config.get("auto_map"):
            raise UserError(
                f"{folder}/config.json asks for the folder's own Python code (auto_map); understudy never runs "
                "remote code: use a model whose architecture transformers ships"
            )
        if not any((folder / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json")):
            pickled = [f for f in ("pytorch_model.bin", "pytorch_model.bin.index.json") if (folder / f).is_file()]
            if pickled:
                raise UserError(
                    f"{folder} holds its weights only as {pickled[0]} (a pickle, which understudy does not load): "
                    "save it with model.save_pretrained(folder, safe_serialization=True) to get model.safetensors"
                )
            raise UserError(f"{folder} has a transformers config.json but no model.safetensors")
        import torch

        quiet_transformers()
        try:
            model = AutoModelForImageClassification.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
            )
        except Exception as exc:
            raise UserError(
                f"cannot load {folder} as a transformers image classifier ({config.get('model_type')}): "
                f"{str(exc).strip()[:300]}"
            ) from None
        id2label = model.config.id2label or {}
        own = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(model.config.num_labels)]
        labels = _labels_for(own, spec_value(spec, "labels"), str(folder))
        size, channels, mean, std, scale = _hf_preprocessing(folder, model.config, spec)
        prep = Preprocess(size, channels, mean, std, f"image model {folder}", scale)
        self.description = (
            f"transformers image classifier {folder.name} ({config.get('model_type')}, {len(labels)} classes)"
        )
        head = getattr(model, "classifier", None)
        head = head if isinstance(head, torch.nn.Module) and not isinstance(head, torch.nn.Identity) else None
        self._pool_hidden = head is None
        layers = list(spec_value(spec, "attention_layers", []))
        super().__init__(model, head, labels, prep, layers, spec_value(spec, "features", True))
        self.files = files_of(folder)
        self.fingerprint = _fingerprint(folder, "image-classifier", prep, self.attention_layers, self.want_features)

    def forward(self, x):
        want = self.want_features and self._pool_hidden
        out = self.model(pixel_values=x, output_hidden_states=want)
        pooled = None
        if want:
            h = out.hidden_states[-1]
            pooled = h.mean(dim=(2, 3)) if h.ndim == 4 else h[:, 0]  # a CNN's map averaged; a ViT's CLS token
        return out.logits, pooled


def _hf_preprocessing(folder: Path, config, spec):
    """(size, channels, mean, std, scale): the recipe's, else preprocessor_config.json's, else the model config's."""
    pre = {}
    path = folder / "preprocessor_config.json"
    if path.is_file():
        try:
            pre = json.loads(path.read_text())
        except ValueError as exc:
            raise UserError(f"{path} is not valid JSON: {exc}") from None
    size = spec_value(spec, "image_size")
    if size is None:
        found = pre.get("crop_size") if pre.get("do_center_crop") and pre.get("crop_size") else pre.get("size")
        size = _side(found, path)
    if size is None and isinstance(getattr(config, "image_size", None), int):
        size = config.image_size
    if size is None:
        raise UserError(f"{folder}: no input size in preprocessor_config.json or config.json; set teacher.image_size")
    channels = int(getattr(config, "num_channels", 3) or 3)
    if pre.get("do_normalize") is False:
        mean, std = [0.0], [1.0]
    else:
        mean, std = pre.get("image_mean"), pre.get("image_std")
    mean, std = spec_value(spec, "mean", mean), spec_value(spec, "std", std)
    if mean is None or std is None:
        raise UserError(
            f"{folder}: no image_mean/image_std in preprocessor_config.json; set teacher.mean and teacher.std "
            "(per channel, on 0-1 pixels)"
        )
    scale = float(pre.get("rescale_factor", RESCALE)) if pre.get("do_rescale", True) else 1.0
    return int(size), channels, mean, std, scale


def _side(size, where: Path) -> int | None:
    if size is None:
        return None
    if isinstance(size, int):
        return size
    if isinstance(size, dict):
        if "height" in size and "width" in size:
            if size["height"] != size["width"]:
                raise UserError(
                    f"{where}: the model reads {size['height']}x{size['width']} pictures; understudy feeds square "
                    "ones: set teacher.image_size"
                )
            return int(size["height"])
        if "shortest_edge" in size:
            return int(size["shortest_edge"])
    raise UserError(f"{where}: cannot read the input size from {size!r}; set teacher.image_size")


def _fingerprint(path: Path, kind: str, prep: Preprocess, layers, features: bool) -> str:
    extra = {"kind": kind, **prep.identity(), "attention_layers": list(layers), "features": bool(features)}
    return fingerprint_files(path, extra=json.dumps(extra, sort_keys=True))


def build_image_classifier(spec, resolve=lambda p: p, head_builder=...):
    """Teacher kind 'image-classifier': understudy's own image folder or a transformers image-classification
    folder. (A text recipe's call passes head_builder: refused, this kind answers pictures.)"""
    if head_builder is not ...:
        raise UserError("teacher kind image-classifier answers pictures: use it with task image-classification")
    path = getattr(spec, "path", None)
    if not path:
        raise UserError("teacher kind 'image-classifier' needs 'path' (a model folder)")
    folder = Path(resolve(path))
    if not folder.is_dir():
        raise UserError(f"teacher.path: no model folder at {folder}")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError(
            f"{folder} has no config.json: an image-classifier folder is understudy's own (save_image_folder) or a "
            "transformers image-classification folder (save_pretrained)"
        )
    try:
        config = json.loads(config_path.read_text())
    except ValueError as exc:
        raise UserError(f"{config_path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise UserError(f"{config_path} is not a JSON object")
    if "understudy_image_model" in config:
        _check_own_config(config, folder)
        return LiteImageTeacher(folder, config, spec)
    if "model_type" in config:
        return HFImageTeacher(folder, config, spec)
    raise UserError(
        f"{config_path} has neither 'understudy_image_model' (understudy's own folder) nor 'model_type' (a "
        "transformers folder); save the model with save_image_folder or save_pretrained"
    )


# ------------------------------------------------------------------------------------------ onnx

ONNX_OPTIONS = {
    "threads": "ONNX Runtime's threads within an operator (default 2)",
    "output_is": "logits or probs: what the first output holds (default: read from its rows)",
    "features_output": "the name of an output holding pooled features",
    "channels": "the channels a model with a dynamic channel axis reads (1 or 3)",
}
ONNX_FLOATS = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _check_options(spec, kind: str, known: dict) -> dict:
    options = dict(getattr(spec, "options", None) or {})
    wrong = sorted(set(options) - set(known))
    if wrong:
        lines = "; ".join(f"{k}: {v}" for k, v in known.items())
        raise UserError(f"teacher.options: {', '.join(wrong)} is not a setting of kind {kind} (its settings: {lines})")
    return options


class OnnxImageTeacher:
    """An ONNX image classifier: NCHW float input, first output logits or probabilities (n, classes)."""

    def __init__(self, path: Path, spec):
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError("teacher kind onnx needs ONNX Runtime: pip install onnxruntime") from None
        self.path = path
        options = _check_options(spec, "onnx", ONNX_OPTIONS)
        self.where = f"ONNX model {path}"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(options.get("threads", 2))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise UserError(f"{path}: ONNX Runtime cannot load it ({str(exc).strip()[:200]})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise UserError(f"{self.where} has {len(inputs)} inputs; an image model takes one (N, C, H, W) tensor")
        x = inputs[0]
        if x.type not in ONNX_FLOATS or len(x.shape or []) != 4:
            raise UserError(f"{self.where}: its input '{x.name}' is {x.type} {x.shape}; a float (N, C, H, W) is read")
        self.input, self.dtype = x.name, ONNX_FLOATS[x.type]
        batch, c, h, w = x.shape
        self.batch = batch if isinstance(batch, int) and batch > 0 else None  # a fixed batch size: run in chunks
        if isinstance(c, int) and c not in (1, 3) and isinstance(x.shape[3], int) and x.shape[3] in (1, 3):
            raise UserError(f"{self.where} takes {x.shape} (channels last?); export it channels first (N, C, H, W)")
        channels = c if isinstance(c, int) else int(options.get("channels", 3))
        size = spec_value(spec, "image_size")
        fixed = [d for d in (h, w) if isinstance(d, int)]
        if size is None:
            if len(fixed) != 2:
                raise UserError(f"{self.where} takes pictures of any size ({x.shape}); set teacher.image_size")
            if h != w:
                raise UserError(f"{self.where} takes {h}x{w} pictures; understudy feeds square ones")
            size = h
        elif any(d != size for d in fixed):
            raise UserError(f"{self.where} takes {h}x{w} pictures, but teacher.image_size is {size}")
        prep = Preprocess(
            int(size), channels, spec_value(spec, "mean", [0.0]), spec_value(spec, "std", [1.0]), self.where
        )
        self.prep, self.image_size, self.channels, self.input_note = prep, prep.image_size, prep.channels, prep.note()
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = outputs[0]
        self.features_output = options.get("features_output")
        if self.features_output is not None and self.features_output not in outputs:
            raise UserError(
                f"teacher.options.features_output: {self.where} has no output '{self.features_output}'; it has "
                f"{', '.join(outputs)}"
            )
        labels = spec_value(spec, "labels")
        if not labels:
            raise UserError(f"{self.where}: an ONNX model names no classes; list them in teacher.labels, in order")
        self.labels = [str(v) for v in labels]
        self.output_is = options.get("output_is")
        if self.output_is not in (None, "logits", "probs"):
            raise UserError(f"teacher.options.output_is is '{self.output_is}'; it is 'logits' or 'probs'")
        self.description = f"ONNX image model {path.name} ({len(self.labels)} classes)"
        self.provides = frozenset({"probs", "features"} if self.features_output else {"probs"})
        self.attention_layers: list[str] = []
        self.attention_shapes: list[tuple[int, int]] = []
        self.files = [path]
        self._probe()
        extra = {
            "kind": "onnx-image",
            **prep.identity(),
            "attention_layers": [],
            "features": self.features_output,
            "output_is": self.output_is,
        }
        self.fingerprint = fingerprint_files(path, extra=json.dumps(extra, sort_keys=True))

    def _probe(self) -> None:
        """One grey picture: the output has one score per label, and (unless told) whether they are logits."""
        blank = Image(np.full((self.image_size, self.image_size, self.channels), 128, dtype=np.uint8), "probe")
        raw = self._raw([blank])[0]
        if raw.ndim != 2 or raw.shape[1] != len(self.labels):
            raise UserError(
                f"{self.where} gives {raw.shape[1:] if raw.ndim == 2 else raw.shape} scores per picture; teacher.labels "
                f"lists {len(self.labels)} classes ({', '.join(self.labels[:10])})"
            )
        if self.output_is is None:
            rows = raw.astype(np.float64)
            is_probs = (rows >= -1e-6).all() and np.allclose(rows.sum(axis=1), 1.0, atol=1e-3)
            self.output_is = "probs" if is_probs else "logits"

    def _raw(self, images) -> list[np.ndarray]:
        x = np.ascontiguousarray(self.prep.array(images), dtype=self.dtype)
        names = [self.output] + ([self.features_output] if self.features_output else [])
        step = self.batch or len(x)
        parts = []
        try:
            for start in range(0, len(x), step):
                chunk = x[start : start + step]
                if len(chunk) < step:  # a fixed batch size: pad the last chunk, then drop the padding
                    chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)])
                got = self.session.run(names, {self.input: chunk})
                parts.append([np.asarray(g)[: len(x) - start] for g in got])
        except Exception as exc:
            raise UserError(f"{self.where} failed on {len(x)} pictures: {str(exc).strip()[:300]}") from None
        return [np.concatenate([p[i] for p in parts]).reshape(len(x), -1) for i in range(len(names))]

    def predict(self, images: Sequence) -> dict[str, np.ndarray]:
        got = self._raw(images)
        scores = got[0].astype(np.float64)
        if self.output_is == "logits":
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        out = {"probs": check_probs(scores, len(images), self.labels, self.description)}
        if self.features_output:
            out["features"] = got[1].astype(np.float32)
        return out


def build_onnx_image(spec, resolve=lambda p: p):
    """Teacher kind 'onnx' for image-classification."""
    path = getattr(spec, "path", None)
    if not path:
        raise UserError("teacher kind 'onnx' needs 'path' (the .onnx file)")
    path = Path(resolve(path))
    if not path.is_file():
        raise UserError(f"teacher.path: no ONNX file at {path}")
    return OnnxImageTeacher(path, spec)


# ------------------------------------------------------------------------------------------ callable

CALLABLE_OPTIONS = {"channels": "the channels the function gets: 1 (grey) or 3 (RGB); default: the pictures'"}


class CallableImageTeacher:
    """Any Python function from uint8 pixels (N, H, W, C) to probabilities (n, classes)."""

    def __init__(self, target: str, spec):
        from .python import CallableTeacher

        labels = spec_value(spec, "labels")
        if not labels:
            raise UserError("teacher kind 'callable' needs 'labels' (the class names, in the order it returns them)")
        options = _check_options(spec, "callable", CALLABLE_OPTIONS)
        inner = CallableTeacher(target, [str(x) for x in labels])  # its import, fingerprint and source file
        self.fn, self.target, self.labels, self.files = inner.fn, inner.target, inner.labels, inner.files
        self.image_size = spec_value(spec, "image_size")
        self.channels = options.get("channels")
        if self.channels not in (None, 1, 3):
            raise UserError(f"teacher.options.channels is {self.channels!r}; it is 1 (grey) or 3 (RGB)")
        self.description = f"python callable {inner.target} on pictures ({len(self.labels)} classes)"
        side = f"{self.image_size}x{self.image_size}" if self.image_size else "the first picture's size"
        self.input_note = f"{side}, uint8 (N, H, W, C)"
        self.provides = frozenset({"probs"})
        self.attention_layers: list[str] = []
        self.attention_shapes: list[tuple[int, int]] = []
        extra = json.dumps({"kind": "callable-image", "image_size": self.image_size, "channels": self.channels})
        self.fingerprint = fingerprint_files(*self.files, extra=f"{inner.fingerprint}:{extra}")

    def predict(self, images: Sequence) -> dict[str, np.ndarray]:
        images = [as_image(im) for im in images]
        if not images:
            return {"probs": np.zeros((0, len(self.labels)), dtype=np.float32)}
        size = self.image_size or (images[0].height, images[0].width)
        channels = self.channels or (3 if any(im.channels == 3 for im in images) else 1)
        try:
            raw = self.fn(stack(images, size, channels))
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"{self.description} failed on {len(images)} pictures: {exc}") from None
        return {"probs": check_probs(raw, len(images), self.labels, self.description)}


def build_callable_image(spec, resolve=lambda p: p):
    """Teacher kind 'callable' for image-classification: 'module:function' or 'path/file.py:function'."""
    target = getattr(spec, "target", None)
    if not target:
        raise UserError("teacher kind 'callable' needs 'target' ('module:function' or 'file.py:function')")
    if ".py:" in target:
        file, name = target.rsplit(":", 1)
        target = f"{resolve(file)}:{name}"
    return CallableImageTeacher(target, spec)


# ------------------------------------------------------------------------------------------ dispatch


def _build_api_image(spec, resolve):
    from .api_image import build_api_image

    return build_api_image(spec, resolve)


IMAGE_BUILDERS = {
    "image-classifier": build_image_classifier,
    "onnx": build_onnx_image,
    "callable": build_callable_image,
    "openai-api": _build_api_image,
}


def build_image_teacher(spec, resolve=lambda p: p):
    """The teacher of an image recipe: one of IMAGE_BUILDERS, or a plug-in kind (its factory's `image_builder`,
    else the factory itself, given pictures as they come)."""
    builder = IMAGE_BUILDERS.get(spec.kind)
    if builder is not None:
        return builder(spec, resolve)
    from .. import registry

    factory = registry.load(registry.TEACHERS, spec.kind)
    image = getattr(factory, "image_builder", None)
    return image(spec, resolve) if image is not None else factory(spec, resolve)
