"""Data kinds: store keys equal to the old ones, batches that cover every input once, seeded perturbations,
and label() through a modality behaving exactly as before (and over bytes inputs)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from understudy.errors import UserError
from understudy.evaluate import robustness
from understudy.label import label
from understudy.lm.prompts import Prompt, load_prompts
from understudy.modalities import by_size
from understudy.modalities.chat import ChatModality
from understudy.modalities.text import PERTURBATIONS, TextModality, perturb
from understudy.protocols import Modality
from understudy.store import TeacherStore, input_hash, input_key
from understudy.teachers.python import CallableTeacher

TEXTS = [
    "a much longer text than the others, to move it in the sort",
    "short",
    "mid length one",
    "b",
    "short",
    "yet another text here",
    "b",
    "x" * 40,
    "café ☕ naïve",
]
CHATS = [
    [{"role": "user", "content": "Where is my order?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Wie storniere ich, bitte? Danke!"}],
    [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Can I return shoes I've already worn, please?"},
    ],
    [{"content": "Reset my password", "role": "user"}],  # key order in a message does not change its key
]


def old_chat_key(messages):  # lm.teacher.chat_key as it has always been written
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def test_both_kinds_meet_the_protocol():
    for m in (TextModality(), ChatModality()):
        assert isinstance(m, Modality)
    assert (TextModality.name, ChatModality.name) == ("text", "chat")


def test_input_key_is_sha256_over_bytes_and_input_hash_is_unchanged():
    assert input_key(b"") == hashlib.sha256(b"").hexdigest()
    raw = bytes(range(256))  # not UTF-8: an image, a table row, audio
    assert input_key(raw) == hashlib.sha256(raw).hexdigest()
    for t in TEXTS:
        assert input_hash(t) == hashlib.sha256(t.encode("utf-8")).hexdigest() == input_key(t.encode("utf-8"))


def test_text_keys_are_the_stores_old_keys():
    m = TextModality()
    for t in TEXTS:
        assert m.key(t) == input_hash(t) == hashlib.sha256(t.encode("utf-8")).hexdigest()
    assert m.key("short") == m.key("short") and m.key("short") != m.key("short ")


def test_chat_keys_are_the_lm_teachers_old_keys():
    m = ChatModality()
    for chat in CHATS:
        assert m.key(chat) == old_chat_key(chat)
    assert m.key(CHATS[3]) == m.key([{"role": "user", "content": "Reset my password"}])
    assert m.key(Prompt("p1", CHATS[1])) == m.key(CHATS[1])  # a Prompt keys as its messages
    assert m.key(CHATS[0]) != m.key([{"role": "user", "content": "Where is my order? "}])
    with pytest.raises(TypeError, match="role"):
        m.key("just a string")


def test_chat_key_matches_lm_teacher_chat_key():
    pytest.importorskip("torch")
    from understudy.lm.teacher import chat_key

    for chat in CHATS:
        assert ChatModality().key(chat) == chat_key(chat)


@pytest.mark.parametrize("modality, items", [(TextModality(), TEXTS), (ChatModality(), CHATS * 3)])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
def test_batches_cover_every_index_once_in_size_order(modality, items, batch_size):
    batches = list(modality.batches(items, batch_size))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(items)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert all(len(b) == batch_size for b in batches[:-1])
    size = (lambda i: len(items[i])) if modality.name == "text" else (lambda i: len(json.dumps(items[i])))
    assert [size(i) for i in flat] == sorted(size(i) for i in flat)
    assert list(modality.batches([], batch_size)) == []


def test_text_batches_are_todays_order():
    todo = list(TEXTS)
    expected = sorted(range(len(todo)), key=lambda i: len(todo[i]))  # label.py's stable sort by length
    assert [i for b in TextModality().batches(todo, 4) for i in b] == expected


def test_by_size_refuses_a_bad_batch_size():
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="batch_size"):
            list(by_size([1, 2], bad))


def test_text_perturbations_are_the_robustness_ones_seeded_and_change_the_text():
    assert robustness.perturb is perturb and robustness.PERTURBATIONS is PERTURBATIONS
    fns = TextModality().perturbations()
    assert set(fns) == set(PERTURBATIONS)
    text = "Great coffee, I LOVE it. Would buy again!"
    for name, fn in fns.items():
        a, b = fn(text, np.random.default_rng(7)), fn(text, np.random.default_rng(7))
        assert a == b, name  # seeded: the same rng seed gives the same text
        assert a == perturb(text, name, np.random.default_rng(7)), name
        if name != "typos":  # typos at 5% may by chance leave a short text as it is
            assert a != text, name
    long = "the quick brown fox jumps over the lazy dog " * 5
    assert fns["typos"](long, np.random.default_rng(0)) != long
    assert TextModality(typo_rate=1.0).perturbations()["typos"]("abcdefghij", np.random.default_rng(1)) == perturb(
        "abcdefghij", "typos", np.random.default_rng(1), typo_rate=1.0
    )
    with pytest.raises(UserError, match="unknown perturbation"):
        perturb(text, "sideways", np.random.default_rng(0))


def test_chat_perturbations_change_only_the_last_user_message():
    chat = CHATS[2]
    before = json.dumps(chat)
    fns = ChatModality().perturbations()
    assert set(fns) == set(PERTURBATIONS)
    for name, fn in fns.items():
        out = fn(chat, np.random.default_rng(3))
        assert out == fn(chat, np.random.default_rng(3)), name
        assert out[:-1] == chat[:-1], name  # the earlier turns, the first user message included, are kept
        assert out[-1]["role"] == "user"
        assert out[-1]["content"] == perturb(chat[-1]["content"], name, np.random.default_rng(3)), name
        if name != "typos":
            assert out[-1]["content"] != chat[-1]["content"], name
    assert json.dumps(chat) == before  # the input is never changed in place
    prompt = Prompt("p", CHATS[1], split="test")
    out = fns["upper"](prompt, np.random.default_rng(0))
    assert isinstance(out, Prompt) and out.split == "test" and out.last_user == CHATS[1][-1]["content"].upper()
    assert prompt.messages == CHATS[1]


def test_describe_is_short_plain_text():
    t, c = TextModality(), ChatModality()
    assert t.describe("short") == "short"
    long = t.describe("word " * 100 + "\n\tend")
    assert len(long) <= 80 and long.endswith("...") and "\n" not in long
    assert t.describe("   ") == "(empty)"
    assert c.describe(CHATS[2]) == "Can I return shoes I've already worn, please?"
    assert c.describe(Prompt("p", CHATS[1])) == "Wie storniere ich, bitte? Danke!"


def test_read_gives_what_the_readers_give_with_their_errors(tmp_path):
    from understudy.data.readers import load_texts
    from understudy.recipe import DataFile

    csv = tmp_path / "d.csv"
    csv.write_text("text,label\nhello there,yes\n,no\nbye now,no\n", encoding="utf-8")
    spec = DataFile(path=str(csv), text_column="text", label_column="label")
    got = TextModality().read(spec, str(csv), role="transfer")
    want = load_texts(spec, str(csv), role="transfer")
    assert got.texts == want.texts == ["hello there", "bye now"] and got.skipped == want.skipped
    empty = tmp_path / "e.csv"
    empty.write_text("text,label\n,yes\n", encoding="utf-8")
    with pytest.raises(UserError, match="no usable rows"):
        TextModality().read(
            DataFile(path=str(empty), text_column="text", label_column="label"), str(empty), role="transfer"
        )

    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps({"messages": c}) for c in CHATS) + "\n", encoding="utf-8")
    prompts = ChatModality().read(str(jsonl), seed=1)
    assert [p.messages for p in prompts] == [p.messages for p in load_prompts(str(jsonl), seed=1)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "a"}]}\n{"messages": []}\n', encoding="utf-8")
    with pytest.raises(UserError, match="non-empty list"):
        ChatModality().read(str(bad))


class Counting:
    def __init__(self):
        self.batches: list[list] = []

    def __call__(self, texts):
        self.batches.append(list(texts))
        return np.array([[(len(t) % 9 + 1) / 10, 1 - (len(t) % 9 + 1) / 10] for t in texts])


def test_label_with_the_text_modality_is_label_as_before(tmp_path):
    plain, through = Counting(), Counting()
    with TeacherStore(tmp_path / "a.sqlite") as a, TeacherStore(tmp_path / "b.sqlite") as b:
        out1, stats1 = label(CallableTeacher(plain, ["yes", "no"], fingerprint="fp"), TEXTS, a, batch_size=3)
        out2, stats2 = label(
            CallableTeacher(through, ["yes", "no"], fingerprint="fp"), TEXTS, b, batch_size=3, modality=TextModality()
        )
        assert np.array_equal(out1["probs"], out2["probs"])
        assert plain.batches == through.batches  # the same batches, in the same order
        assert (stats1.texts, stats1.asked, stats1.reused) == (stats2.texts, stats2.asked, stats2.reused)
        # both stores hold the old keys
        assert set(b.get("fp", [input_hash(t) for t in TEXTS], "probs")) == {input_hash(t) for t in TEXTS}
    expected = sorted(dict.fromkeys(TEXTS), key=len)
    assert [t for batch in plain.batches for t in batch] == expected


class BytesModality:
    """A data kind over raw bytes, as images or audio will be: keyed by the bytes themselves."""

    name = "blob"

    def key(self, item: bytes) -> str:
        return input_key(item)

    def batches(self, items, batch_size):
        return by_size([len(x) for x in items], batch_size)

    def perturbations(self):
        return {}

    def describe(self, item: bytes) -> str:
        return f"{len(item)} bytes"


def test_label_over_bytes_inputs_keys_by_their_bytes_and_reuses_them(tmp_path):
    blobs = [b"\x89PNG\r\n\x1a\n" + bytes([i]) * i for i in range(1, 6)] + [b"\xff\xfe\x00"] * 2
    asked = []

    def fn(items):
        asked.extend(items)
        return np.array([[len(x) / 100, 1 - len(x) / 100] for x in items])

    teacher = CallableTeacher(fn, ["a", "b"], fingerprint="blob-fp")
    assert isinstance(BytesModality(), Modality)
    with TeacherStore(tmp_path / "s.sqlite") as store:
        out, stats = label(teacher, blobs, store, batch_size=2, modality=BytesModality())
        assert out["probs"].shape == (len(blobs), 2) and stats.asked == len(set(blobs))
        assert store.count("blob-fp", "probs") == len(set(blobs))
        assert set(store.get("blob-fp", [hashlib.sha256(x).hexdigest() for x in blobs], "probs")) == {
            hashlib.sha256(x).hexdigest() for x in blobs
        }
        _, again = label(teacher, blobs, store, batch_size=2, modality=BytesModality())
    assert again.asked == 0 and sorted(asked) == sorted(set(blobs))


def test_a_failing_batch_is_named_in_the_modalitys_words(tmp_path):
    def boom(items):
        raise RuntimeError("no")

    with TeacherStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(UserError, match="batch of 2 texts"):
            label(CallableTeacher(boom, ["a", "b"], fingerprint="x"), ["a", "b"], store)
        with pytest.raises(UserError, match="batch of 1 inputs"):
            label(CallableTeacher(boom, ["a", "b"], fingerprint="x"), [b"\x00"], store, modality=BytesModality())
