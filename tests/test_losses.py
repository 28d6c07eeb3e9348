"""Distillation losses against hand computations."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from understudy.losses import (
    EMBEDDING_LOSSES,
    distillation_loss,
    embedding_cosine,
    embedding_mse,
    gold_ce,
    kd_kl,
    soften,
)

torch.manual_seed(0)
PROBS = torch.softmax(torch.randn(6, 4, dtype=torch.float64), dim=-1)
LOGITS = torch.randn(6, 4, dtype=torch.float64)


def manual_kd(logits, probs, T):
    q = torch.softmax(torch.log(probs) / T, dim=-1)
    s = torch.softmax(logits / T, dim=-1)
    return (q * (torch.log(q) - torch.log(s))).sum(-1).mean() * T**2


@pytest.mark.parametrize("T", [0.5, 1.0, 2.0, 4.0])
def test_kd_is_zero_when_student_logits_are_log_teacher_probs(T):
    assert kd_kl(torch.log(PROBS), PROBS, T).item() == pytest.approx(0.0, abs=1e-10)
    # any shift of the logits is the same distribution
    assert kd_kl(torch.log(PROBS) + 3.0, PROBS, T).item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("T", [0.5, 1.0, 2.0, 4.0])
def test_kd_matches_manual_computation_and_is_positive(T):
    value = kd_kl(LOGITS, PROBS, T)
    assert value.item() > 0
    assert value.item() == pytest.approx(manual_kd(LOGITS, PROBS, T).item(), rel=1e-9)


def test_kd_scales_with_temperature_squared():
    # KL at temperature T, times T^2: undo the T^2 and it is the plain KL of the softened distributions
    for T in (1.0, 2.0, 3.0):
        softened_kl = F.kl_div(F.log_softmax(LOGITS / T, -1), soften(PROBS, T), reduction="batchmean")
        assert kd_kl(LOGITS, PROBS, T).item() == pytest.approx(softened_kl.item() * T**2, rel=1e-9)
    # at T=1 it is the plain KL divergence, averaged over rows
    kl = (PROBS * (PROBS.log() - F.log_softmax(LOGITS, -1))).sum(-1).mean()
    assert kd_kl(LOGITS, PROBS, 1.0).item() == pytest.approx(kl.item(), rel=1e-9)


def test_soften_is_temperature_scaling_of_logits():
    logits = torch.randn(3, 5, dtype=torch.float64)
    probs = torch.softmax(logits, -1)
    assert torch.allclose(soften(probs, 2.5), torch.softmax(logits / 2.5, -1))
    assert torch.allclose(soften(probs, 1.0), probs)
    # zeros are clamped, not NaN
    assert torch.isfinite(soften(torch.tensor([[1.0, 0.0]]), 2.0)).all()


def test_kd_gradient_flows_to_the_student():
    logits = LOGITS.clone().requires_grad_(True)
    kd_kl(logits, PROBS, 2.0).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert kd_kl.requires == frozenset({"probs"})


def test_embedding_cosine():
    a = torch.randn(5, 8, dtype=torch.float64)
    assert embedding_cosine(a, a).item() == pytest.approx(0.0, abs=1e-12)
    assert embedding_cosine(a * 7.5, a).item() == pytest.approx(0.0, abs=1e-12)  # scale-free
    assert embedding_cosine(a, a * (torch.rand(5, 1, dtype=torch.float64) + 1e-3)).item() == pytest.approx(
        0.0, abs=1e-12
    )
    assert embedding_cosine(-a, a).item() == pytest.approx(2.0, abs=1e-12)
    orthogonal = embedding_cosine(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    assert orthogonal.item() == pytest.approx(1.0)
    assert embedding_cosine.requires == frozenset({"embedding"})


def test_embedding_mse_and_registry():
    a, b = torch.zeros(2, 3), torch.ones(2, 3) * 2
    assert embedding_mse(a, b).item() == pytest.approx(4.0)
    assert EMBEDDING_LOSSES == {"cosine": embedding_cosine, "mse": embedding_mse}


def test_gold_ce_ignores_unlabelled_rows():
    gold = torch.tensor([2, -1, 0, -1, 3, 1])
    keep = gold >= 0
    expected = F.cross_entropy(LOGITS[keep], gold[keep])
    assert gold_ce(LOGITS, gold).item() == pytest.approx(expected.item(), rel=1e-9)
    # the unlabelled rows' logits do not matter
    changed = LOGITS.clone()
    changed[~keep] = 100.0
    assert gold_ce(changed, gold).item() == pytest.approx(expected.item(), rel=1e-9)


def test_gold_ce_is_zero_without_labels_and_still_differentiable():
    logits = LOGITS.clone().requires_grad_(True)
    loss = gold_ce(logits, torch.full((6,), -1))
    assert loss.item() == 0.0
    loss.backward()  # part of the graph, so a batch with no gold labels does not break training
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def settings(**kw):
    base = dict(kd_weight=1.0, temperature=2.0, embedding_weight=1.0, embedding_loss="cosine", gold_weight=1.0)
    return SimpleNamespace(**{**base, **kw})


def test_distillation_loss_is_the_weighted_sum_of_its_terms():
    emb_pred, emb_t = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    gold = torch.tensor([0, 1, -1, 3, 2, -1])
    batch = {"probs": PROBS, "embedding": emb_t, "gold": gold}
    kd = kd_kl(LOGITS, PROBS, 2.0).item()
    cos = embedding_cosine(emb_pred, emb_t).item()
    mse = embedding_mse(emb_pred, emb_t).item()
    ce = gold_ce(LOGITS, gold).item()
    assert kd > 0 and cos > 0 and ce > 0

    total = distillation_loss(LOGITS, emb_pred, batch, settings(kd_weight=0.5, embedding_weight=2.0, gold_weight=3.0))
    assert total.item() == pytest.approx(0.5 * kd + 2.0 * cos + 3.0 * ce, rel=1e-9)
    # each term alone
    assert distillation_loss(
        LOGITS, emb_pred, batch, settings(embedding_weight=0, gold_weight=0)
    ).item() == pytest.approx(kd)
    assert distillation_loss(LOGITS, emb_pred, batch, settings(kd_weight=0, gold_weight=0)).item() == pytest.approx(cos)
    assert distillation_loss(
        LOGITS, emb_pred, batch, settings(kd_weight=0, embedding_weight=0)
    ).item() == pytest.approx(ce)
    assert (
        distillation_loss(LOGITS, emb_pred, batch, settings(kd_weight=0, embedding_weight=0, gold_weight=0)).item()
        == 0.0
    )
    # mse instead of cosine
    s = settings(kd_weight=0, gold_weight=0, embedding_loss="mse")
    assert distillation_loss(LOGITS, emb_pred, batch, s).item() == pytest.approx(mse)
    # the temperature reaches the KD term
    assert distillation_loss(LOGITS, None, batch, settings(temperature=4.0, gold_weight=0)).item() == pytest.approx(
        kd_kl(LOGITS, PROBS, 4.0).item()
    )


def test_distillation_loss_skips_terms_whose_inputs_are_missing():
    kd = kd_kl(LOGITS, PROBS, 2.0).item()
    # no predicted embedding, or no teacher embedding, or no gold: only the KD term
    assert distillation_loss(
        LOGITS, None, {"probs": PROBS, "embedding": torch.randn(6, 8)}, settings(gold_weight=0)
    ).item() == pytest.approx(kd)
    assert distillation_loss(
        LOGITS, torch.randn(6, 8, dtype=torch.float64), {"probs": PROBS}, settings()
    ).item() == pytest.approx(kd)
