"""Tiny causal LMs for the language-model tests: byte-level BPE tokenizers trained in memory, random Llama and
GPT-2 configurations, and prompt files. Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)
CORPUS = [
    "my order arrived late and the box was damaged",
    "please refund my payment for the broken kettle",
    "how do i reset my password on the app",
    "the courier left the parcel at the wrong address",
    "thank you for waiting, we are sorry about the delay",
    "we will send a replacement within three days",
    "your refund has been issued to the original card",
    "can i change the delivery date of my order",
    "the hotel room was not clean when we arrived",
    "i was charged twice for the same subscription",
]


def prompt_rows(n: int = 24, n_test: int = 4) -> list[dict]:
    rows = []
    for i in range(n):
        text = CORPUS[i % len(CORPUS)] + f" (ticket {i})"
        row = (
            {"id": f"p{i}", "prompt": text}
            if i % 2
            else {"id": f"p{i}", "messages": [{"role": "user", "content": text}]}
        )
        if i >= n - n_test:
            row["split"] = "test"
        rows.append(row)
    return rows


def write_prompts(path: str | Path, rows: list[dict] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in (rows or prompt_rows())), encoding="utf-8")
    return path


def build_lm_tokenizer(
    folder: str | Path | None = None, vocab_size: int = 300, chat_template: str | None = CHAT_TEMPLATE
):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 3 + ["user assistant system role: content"], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
    )
    if folder is not None:
        fast.save_pretrained(str(folder))
    return fast


def build_tiny_llama(folder: str | Path, *, layers: int = 4, vocab_size: int = 300, seed: int = 0) -> Path:
    """A random 4-layer, 32-wide Llama with tied embeddings and a chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    tok = build_lm_tokenizer(folder, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).eval().save_pretrained(str(folder))
    _card(folder)
    return folder


def build_tiny_gpt2(folder: str | Path, *, vocab_size: int = 280, seed: int = 1) -> Path:
    """A random 2-layer GPT-2 with a different tokenizer (another vocabulary size) and no chat template."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = Path(folder)
    tok = build_lm_tokenizer(folder, vocab_size, chat_template=None)
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).eval().save_pretrained(str(folder))
    _card(folder)
    return folder


def _card(folder) -> None:
    """A model card saying MIT, as a model from a hub would carry: the licence gate reads it."""
    (Path(folder) / "README.md").write_text("---\nlicense: mit\n---\n# a tiny test model\n", encoding="utf-8")


def lm_recipe_text(teacher: Path, prompts: Path, **over) -> str:
    """A small text-generation recipe as YAML; `over` replaces whole sections."""
    import yaml

    recipe = {
        "name": "tiny-replies",
        "task": "text-generation",
        "teacher": {
            "path": str(teacher),
            "max_new_tokens": 8,
            "top_logprobs": 5,
            "batch_size": 8,
            "licence": "apache-2.0",
        },
        "student": {"base": "teacher", "layers": 2},
        "prompts": {"path": str(prompts)},
        "training": {"method": "sequence", "epochs": 2, "batch_size": 4, "learning_rate": 3e-3},
        "evaluation": {
            "speed_prompts": 1,
            "speed_tokens": 4,
            "judge_prompts": 2,
            "examples": 2,
            "measure_memory": False,
            "refusal_prompts": 6,
        },
    }
    recipe.update(over)
    return yaml.safe_dump(recipe, sort_keys=False)


def build_tiny_gguf(path: str | Path, hf_folder: str | Path, licence: str | None = "mit") -> Path:
    """The tiny Llama written as a GGUF file the way llama.cpp converts one (q/k rows permuted, BPE tokenizer)."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(hf_folder), AutoTokenizer.from_pretrained(hf_folder)
    cfg = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    if licence:
        w.add_license(licence)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(getattr(cfg, "rope_theta", None) or 10000.0)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    spec = json.loads((Path(hf_folder) / "tokenizer.json").read_text())
    tokens = [t for t, _ in sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in ("<pad>", "<s>", "</s>") else 1 for t in tokens])
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]])
    w.add_bos_token_id(tok.bos_token_id)
    w.add_eos_token_id(tok.eos_token_id)
    w.add_pad_token_id(tok.pad_token_id)
    if tok.chat_template:
        w.add_chat_template(tok.chat_template)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)

    def permute(x, heads):  # llama.cpp's row order for q and k; transformers undoes it on load
        return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)

    for name, tensor in model.state_dict().items():
        arr = tensor.float().numpy()
        if name.endswith("q_proj.weight"):
            arr = permute(arr, cfg.num_attention_heads)
        elif name.endswith("k_proj.weight"):
            arr = permute(arr, cfg.num_key_value_heads)
        w.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)
