"""The language-model distillation losses, checked for their properties."""

import math

import pytest
import torch

from understudy.lm.losses import (
    answer_cross_entropy,
    divergence,
    forward_kl,
    generalized_jsd,
    reverse_kl,
    topk_buckets,
    topk_divergence,
)


def logits(seed, shape=(2, 5, 11)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 2


def kl(p_logits, q_logits):  # KL(p || q) by hand, mean over positions
    p, lp, lq = p_logits.softmax(-1), p_logits.log_softmax(-1), q_logits.log_softmax(-1)
    return float((p * (lp - lq)).sum(-1).mean())


def test_zero_on_identical_distributions():
    x = logits(0)
    for beta in (0.0, 0.3, 0.5, 1.0):
        assert float(generalized_jsd(x, x.clone(), beta=beta)) == pytest.approx(0.0, abs=1e-6)
    ids, lp = x.log_softmax(-1).topk(4, dim=-1)[1], x.log_softmax(-1).topk(4, dim=-1)[0]
    assert float(topk_divergence(x, ids, lp)) == pytest.approx(0.0, abs=1e-5)


def test_beta_limits_are_the_two_kls():
    s, t = logits(1), logits(2)
    assert float(forward_kl(s, t)) == pytest.approx(kl(t, s), rel=1e-4)  # beta 0: KL(teacher || student)
    assert float(reverse_kl(s, t)) == pytest.approx(kl(s, t), rel=1e-4)  # beta 1: KL(student || teacher)
    assert float(divergence(s, t, kind="forward-kl")) == pytest.approx(kl(t, s), rel=1e-4)
    # near the limits the generalised JSD, divided by its beta factor, tends to the KLs
    assert float(generalized_jsd(s, t, beta=1e-3)) / 1e-3 == pytest.approx(kl(t, s), rel=0.05)
    assert float(generalized_jsd(s, t, beta=1 - 1e-3)) / 1e-3 == pytest.approx(kl(s, t), rel=0.05)


def test_jsd_is_symmetric_and_bounded():
    s, t = logits(3), logits(4)
    a, b = float(generalized_jsd(s, t, beta=0.5)), float(generalized_jsd(t, s, beta=0.5))
    assert a == pytest.approx(b, rel=1e-5)
    assert 0 < a <= math.log(2) + 1e-6


def test_temperature_softens():
    s, t = logits(5), logits(6)
    hot = float(forward_kl(s, t, temperature=4.0))
    assert hot < float(forward_kl(s, t, temperature=1.0))
    # dividing the logits by T by hand is the same as passing T
    assert hot == pytest.approx(float(forward_kl(s / 4, t / 4)), rel=1e-5)


def test_mask_leaves_positions_out():
    s, t = logits(7), logits(8)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[:, :2] = True
    assert float(forward_kl(s, t, mask)) == pytest.approx(kl(t[:, :2], s[:, :2]), rel=1e-4)


def test_topk_tail_bucket_is_a_distribution():
    s, t = logits(9), logits(10)
    lp, ids = t.log_softmax(-1).topk(3, dim=-1)
    sb, tb = topk_buckets(s, ids, lp)
    assert sb.shape == tb.shape == (2, 5, 4)
    assert torch.allclose(tb.exp().sum(-1), torch.ones(2, 5), atol=1e-4)
    assert torch.allclose(sb.exp().sum(-1), torch.ones(2, 5), atol=1e-4)
    # with k = the whole vocabulary the tail is empty and the loss is the full forward KL
    lp_all, ids_all = t.log_softmax(-1).topk(11, dim=-1)
    assert float(topk_divergence(s, ids_all, lp_all)) == pytest.approx(kl(t, s), rel=1e-3)


def test_losses_give_gradients():
    s = logits(11).requires_grad_()
    t = logits(12)
    lp, ids = t.log_softmax(-1).topk(3, dim=-1)
    (forward_kl(s, t) + topk_divergence(s, ids, lp) + answer_cross_entropy(s, t.argmax(-1))).backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
