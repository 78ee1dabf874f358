"""Policy losses (torch): aggregation, clipping, GSPO, KL, importance weights, decoupled objective."""

from __future__ import annotations

import math

import pytest

import torch

from envgym.trainers.algorithms.losses import (  # noqa: E402
    aggregate_loss,
    decoupled_ppo_loss,
    gspo_log_ratio,
    importance_weights,
    kl_k3,
    policy_loss,
)
from envgym.trainers.algorithms.value_heads import ThreeHeadValue  # noqa: E402

D = torch.float64


def _batch(seed: int = 0, B: int = 3, T: int = 5):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(B, T, generator=g, dtype=D) * 2 - 0.1
    logp = (old + 0.3 * torch.randn(B, T, generator=g, dtype=D)).requires_grad_(True)
    adv = torch.randn(B, T, generator=g, dtype=D)
    lengths = torch.tensor([T, 2, 4][:B])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(D)
    return logp, old, adv, mask


def test_aggregation_modes_hand_computed():
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]], dtype=D)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=D)
    assert aggregate_loss(loss, mask, "token-mean").item() == pytest.approx(10 / 4)
    assert aggregate_loss(loss, mask, "seq-mean-token-mean").item() == pytest.approx((2 + 4) / 2)
    assert aggregate_loss(loss, mask, "seq-mean-token-sum-norm").item() == pytest.approx(10 / (2 * 3))
    assert aggregate_loss(loss, mask, "seq-mean-token-sum-norm", norm_const=5).item() == pytest.approx(1.0)
    empty_row = torch.tensor([[1, 1, 1], [0, 0, 0]], dtype=D)
    assert aggregate_loss(loss, empty_row, "seq-mean-token-mean").item() == pytest.approx(2.0)
    with pytest.raises(ValueError):
        aggregate_loss(loss, mask, "sum")


def test_ppo_clip_inactive_when_ratio_is_one():
    _, old, adv, mask = _batch()
    logp = old.clone().requires_grad_(True)
    loss, metrics = policy_loss(logp, old, adv, mask, eps_low=0.2, eps_high=0.28)
    loss.backward()
    expected = -(adv * mask).sum() / mask.sum()
    assert loss.item() == pytest.approx(expected.item())
    torch.testing.assert_close(logp.grad, -adv * mask / mask.sum())
    assert metrics["clip_frac"] == 0.0
    assert metrics["ratio_mean"] == pytest.approx(1.0)
    assert metrics["approx_kl"] == pytest.approx(0.0)


def test_asymmetric_clip_values_and_gradients():
    old = torch.zeros(1, 4, dtype=D)
    ratio = torch.tensor([[1.5, 0.5, 0.5, 1.5]], dtype=D)
    adv = torch.tensor([[1.0, -2.0, 1.0, -1.0]], dtype=D)
    logp = ratio.log().requires_grad_(True)
    mask = torch.ones(1, 4, dtype=D)
    loss, metrics = policy_loss(logp, old, adv, mask, eps_low=0.2, eps_high=0.28)
    # per token: -min(1.5, 1.28) = -1.28 (clipped at 1 + eps_high); -min(-1, -1.6) = 1.6 (clipped at
    #            1 - eps_low); -min(.5, .8) = -.5 (not clipped); -min(-1.5, -1.28) = 1.5 (not clipped)
    assert loss.item() == pytest.approx((-1.28 + 1.6 - 0.5 + 1.5) / 4)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, 0.0, -0.5 / 4, 1.5 / 4]], dtype=D))
    assert metrics["clip_frac"] == pytest.approx(0.5)


@pytest.mark.parametrize("algo", ["ppo", "gspo"])
@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_policy_loss_gradcheck(algo, agg):
    logp, old, adv, mask = _batch(seed=1)
    g = torch.Generator().manual_seed(7)
    rollout = old + 0.2 * torch.randn(old.shape, generator=g, dtype=D)
    ref = old + 0.1 * torch.randn(old.shape, generator=g, dtype=D)

    # GSPO-token is the gradient of its value when advantages and IS weights are constant per
    # sequence (per-token ones are allowed but then, by design, it is not a true gradient).
    if algo == "gspo":
        adv = adv[:, 0]
    is_level = "sequence" if algo == "gspo" else "token"

    def f(lp):
        loss, _ = policy_loss(lp, old, adv, mask, algo=algo, agg=agg, eps_low=0.2, eps_high=0.3,
                              ref_logp=ref, kl_coef=0.1, rollout_logp=rollout, is_level=is_level, is_cap=1.5)
        return loss

    assert torch.autograd.gradcheck(f, (logp.detach().clone().requires_grad_(True),), eps=1e-6, atol=1e-6)


def test_gspo_sequence_ratio_is_exp_of_mean_log_ratio_over_real_tokens():
    logp, old, adv, mask = _batch(seed=2)
    padded_logp = logp.detach().clone()
    padded_logp[mask == 0] = 50.0  # garbage on padding must not matter
    lr = gspo_log_ratio(padded_logp, old, mask)
    for i in range(mask.shape[0]):
        n = int(mask[i].sum())
        expected = (padded_logp[i, :n] - old[i, :n]).mean()
        torch.testing.assert_close(lr[i, :n], expected.expand(n))
    _, metrics = policy_loss(padded_logp, old, adv, mask, algo="gspo")
    s = torch.exp(((padded_logp - old) * mask).sum(-1) / mask.sum(-1))
    assert metrics["ratio_mean"] == pytest.approx(((s[:, None] * mask).sum() / mask.sum()).item())


def test_gspo_gradient_equals_sequence_level_objective():
    logp, old, _, mask = _batch(seed=3)
    seq_adv = torch.tensor([1.0, -0.5, 2.0], dtype=D)
    loss, _ = policy_loss(logp, old, seq_adv, mask, algo="gspo", agg="seq-mean-token-mean", eps_low=0.1, eps_high=0.1)
    (g_token,) = torch.autograd.grad(loss, logp)
    lp2 = logp.detach().clone().requires_grad_(True)
    s = torch.exp(((lp2 - old) * mask).sum(-1) / mask.sum(-1))
    seq_obj = -torch.minimum(s * seq_adv, s.clamp(0.9, 1.1) * seq_adv).mean()
    (g_seq,) = torch.autograd.grad(seq_obj, lp2)
    assert loss.item() == pytest.approx(seq_obj.item())
    torch.testing.assert_close(g_token, g_seq)
    assert g_seq.abs().sum() > 0


def test_kl_k3_values_and_penalty():
    logp = torch.tensor([[0.0, -1.0]], dtype=D)
    ref = torch.tensor([[1.0, -1.0]], dtype=D)
    torch.testing.assert_close(kl_k3(logp, ref), torch.tensor([[math.e - 2.0, 0.0]], dtype=D))
    mask = torch.ones(1, 2, dtype=D)
    adv = torch.zeros(1, 2, dtype=D)
    loss, metrics = policy_loss(logp, logp, adv, mask, ref_logp=ref, kl_coef=0.5)
    assert metrics["kl_ref"] == pytest.approx((math.e - 2.0) / 2)
    assert loss.item() == pytest.approx(0.5 * (math.e - 2.0) / 2)


def test_importance_weights_truncate_and_mask():
    raw = torch.tensor([[0.3, 1.5, 3.0, 10.0]], dtype=D)
    old = torch.zeros(1, 4, dtype=D)
    rollout = -raw.log()  # old - rollout = log raw
    mask = torch.ones(1, 4, dtype=D)
    w, m = importance_weights(old, rollout, mask, mode="truncate", cap=2.0)
    torch.testing.assert_close(w, torch.tensor([[0.3, 1.5, 2.0, 2.0]], dtype=D))
    assert m["is_weight_max"] == pytest.approx(2.0)
    assert m["is_frac_truncated"] == pytest.approx(0.5)
    w, m = importance_weights(old, rollout, mask, mode="mask", cap=2.0)  # band [1/2, 2]
    torch.testing.assert_close(w, torch.tensor([[0.0, 1.5, 0.0, 0.0]], dtype=D))
    assert m["is_frac_masked"] == pytest.approx(0.75)
    w, _ = importance_weights(old, rollout, mask, mode="mask", band=(0.2, 5.0))
    torch.testing.assert_close(w, torch.tensor([[0.3, 1.5, 3.0, 0.0]], dtype=D))
    # sequence level: product of the real tokens' ratios, padding excluded
    seq_mask = torch.tensor([[1, 1, 0, 0]], dtype=D)
    w, _ = importance_weights(old, rollout, seq_mask, level="sequence", mode="truncate", cap=100.0)
    torch.testing.assert_close(w, torch.tensor([[0.45, 0.45, 0.0, 0.0]], dtype=D))
    w, _ = importance_weights(old, rollout, mask, level="sequence", mode="truncate", cap=2.0)
    torch.testing.assert_close(w, torch.full((1, 4), 2.0, dtype=D))


def test_importance_weights_scale_the_policy_loss():
    logp, old, adv, mask = _batch(seed=4)
    rollout = old - 0.5  # every raw weight exp(0.5) = 1.6487 < cap
    plain, _ = policy_loss(logp, old, adv, mask)
    weighted, metrics = policy_loss(logp, old, adv, mask, rollout_logp=rollout, is_cap=2.0)
    assert weighted.item() == pytest.approx(math.exp(0.5) * plain.item())
    assert metrics["is_weight_mean"] == pytest.approx(math.exp(0.5))
    capped, _ = policy_loss(logp, old, adv, mask, rollout_logp=rollout, is_cap=1.2)
    assert capped.item() == pytest.approx(1.2 * plain.item())


def test_decoupled_objective_clips_around_proximal_and_weights_by_behaviour():
    prox = torch.zeros(1, 3, dtype=D)
    behav = torch.tensor([[0.0, -math.log(2.0), -math.log(10.0)]], dtype=D)  # weights 1, 2, 10
    adv = torch.ones(1, 3, dtype=D)
    mask = torch.ones(1, 3, dtype=D)
    logp = torch.tensor([[math.log(1.5), 0.0, 0.0]], dtype=D, requires_grad=True)
    loss, metrics = decoupled_ppo_loss(logp, prox, behav, adv, mask, eps_low=0.2, eps_high=0.2, behav_weight_cap=5.0)
    # token 0: ratio to prox 1.5 clipped at 1.2, weight 1; token 1: ratio 1, weight 2; token 2: weight 10 > cap -> 0
    assert loss.item() == pytest.approx(-(1.2 * 1 + 1.0 * 2 + 0.0) / 3)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -2.0 / 3, 0.0]], dtype=D))
    assert metrics["is_frac_masked"] == pytest.approx(1 / 3)
    trunc, _ = decoupled_ppo_loss(logp.detach(), prox, behav, adv, mask, behav_weight_cap=5.0, behav_weight_mode="truncate")
    assert trunc.item() == pytest.approx(-(1.2 + 2.0 + 5.0) / 3)


def test_three_head_value_shapes_and_gradients():
    torch.manual_seed(0)
    model = ThreeHeadValue(hidden_size=8, head_hidden=4)
    h = torch.randn(2, 5, 8)
    out = model(h)
    assert out.v_high.shape == out.v_low.shape == out.v_term.shape == (2, 5)
    assert not torch.allclose(out.v_high, out.v_low)
    (out.v_high.sum() + out.v_low.sum() + out.v_term.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert ThreeHeadValue(hidden_size=8)(torch.randn(3, 8)).v_term.shape == (3,)
