"""Policy-gradient losses on padded ``[B, T]`` token tensors with a loss mask (torch).

Shapes: ``logp`` (current policy, requires grad), ``old_logp`` (the policy the clip is anchored to:
the learner's recomputation of the sampling policy, or AReaL's proximal policy), optional
``rollout_logp`` (what the inference engine reported, or AReaL's behaviour policy), optional
``ref_logp``; ``advantages`` ``[B, T]`` or ``[B]``; ``mask`` ``[B, T]`` (1 on trained tokens).
Every function returns ``(loss, metrics)`` where ``metrics`` holds plain floats.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "AggMode",
    "aggregate_loss",
    "decoupled_ppo_loss",
    "gspo_log_ratio",
    "importance_weights",
    "kl_k3",
    "masked_mean",
    "policy_loss",
    "ppo_clip_loss_matrix",
]

AggMode = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``Σ x·m / max(Σ m, 1)``."""
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def aggregate_loss(loss_mat: torch.Tensor, mask: torch.Tensor, mode: AggMode = "token-mean", norm_const: float | None = None) -> torch.Tensor:
    """Reduce a per-token loss ``ℓ[B, T]`` to a scalar.

    * ``token-mean``: ``Σ_{i,t} m ℓ / Σ_{i,t} m`` (every token weighs the same);
    * ``seq-mean-token-mean``: ``(1/B') Σ_i (Σ_t m ℓ / Σ_t m)`` over the ``B'`` rows with a real token;
    * ``seq-mean-token-sum-norm`` (Dr.GRPO): ``(1/B) Σ_i Σ_t m ℓ / C`` with the constant
      ``C = norm_const`` or ``T`` (the padded length), independent of response lengths.
    """
    m = mask.to(loss_mat.dtype)
    if mode == "token-mean":
        return (loss_mat * m).sum() / m.sum().clamp_min(1.0)
    if mode == "seq-mean-token-mean":
        tok = m.sum(dim=-1)
        seq = (loss_mat * m).sum(dim=-1) / tok.clamp_min(1.0)
        has = (tok > 0).to(loss_mat.dtype)
        return (seq * has).sum() / has.sum().clamp_min(1.0)
    if mode == "seq-mean-token-sum-norm":
        const = float(norm_const) if norm_const is not None else float(loss_mat.shape[-1])
        return (loss_mat * m).sum() / (loss_mat.shape[0] * const)
    raise ValueError(f"unknown aggregation mode {mode!r}")


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of ``KL(π_θ ‖ π_ref)`` on samples from π_θ:
    ``k3 = exp(log π_ref − log π_θ) − (log π_ref − log π_θ) − 1 ≥ 0``."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def gspo_log_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """GSPO-token log ratio ``log s_{i,t} = sg[log s_i] + log π_θ(y_t) − sg[log π_θ(y_t)]``.

    ``log s_i = (1/|y_i|) Σ_t m_t (log π_θ − log π_old)`` (mean over real tokens), so every token's
    value is the sequence ratio ``s_i = exp(mean_t log π_θ/π_old)`` while its gradient is
    ``s_i ∇ log π_θ(y_t)``.  With advantages (and importance weights) constant within a sequence the
    loss built on it is an exact gradient of its value, and with ``seq-mean-token-mean`` aggregation it
    equals GSPO's sequence objective ``−mean_i min(s_i A_i, clip(s_i) A_i)``; per-token advantages are
    allowed (GSPO-token) and then weight each token's ``∇ log π_θ`` by ``s_i A_t``.
    """
    m = mask.to(logp.dtype)
    seq = ((logp - old_logp) * m).sum(dim=-1) / m.sum(dim=-1).clamp_min(1.0)
    return seq.detach().unsqueeze(-1) + logp - logp.detach()


def ppo_clip_loss_matrix(log_ratio: torch.Tensor, advantages: torch.Tensor, eps_low: float, eps_high: float,
                         clip_ratio_c: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token PPO-clip loss with asymmetric clip range and optional dual clip.

    ``ρ = exp(log_ratio)``; ``ℓ = −min(ρ A, clip(ρ, 1 − ε_low, 1 + ε_high) A)``.
    Dual clip (verl's ``clip_ratio_c = c > 1``, Ye et al. 2020): for ``A < 0`` the loss is also capped,
    ``ℓ = min(ℓ, −c·A)``, so a token whose ratio exploded (``ρ > c``) under a negative advantage stops
    pushing (its gradient is 0).
    Returns ``(ℓ, ρ, clipped)`` where ``clipped`` marks tokens whose gradient a clip removed
    (``A > 0 ∧ ρ > 1 + ε_high``, ``A < 0 ∧ ρ < 1 − ε_low``, or ``A < 0 ∧ ρ > c``).
    """
    ratio = torch.exp(log_ratio)
    surr1 = ratio * advantages
    surr2 = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * advantages
    loss = -torch.minimum(surr1, surr2)
    clipped = ((advantages > 0) & (ratio > 1.0 + eps_high)) | ((advantages < 0) & (ratio < 1.0 - eps_low))
    if clip_ratio_c is not None:
        if clip_ratio_c <= 1.0:
            raise ValueError(f"clip_ratio_c must be > 1, got {clip_ratio_c}")
        negative = advantages < 0
        loss = torch.where(negative, torch.minimum(loss, -clip_ratio_c * advantages), loss)
        clipped = clipped | (negative & (ratio > clip_ratio_c))
    return loss, ratio, clipped


def importance_weights(
    old_logp: torch.Tensor,
    rollout_logp: torch.Tensor,
    mask: torch.Tensor,
    *,
    level: Literal["token", "sequence"] = "token",
    mode: Literal["truncate", "mask"] = "truncate",
    cap: float = 2.0,
    band: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Importance weights correcting a rollout/learner (or behaviour/proximal) mismatch; no gradient.

    Raw weight: token level ``w_t = π_old(y_t)/π_roll(y_t)``; sequence level
    ``w_i = Π_t w_t = exp(Σ_t m_t (log π_old − log π_roll))`` broadcast over the row.
    ``mode="truncate"``: ``w ← min(w, C)`` (C = ``cap``);
    ``mode="mask"``: ``w ← w · 1[lo ≤ w ≤ hi]`` with ``(lo, hi) = band`` or ``(1/C, C)``.
    Returns ``(w [B, T], metrics)``; metrics are over real tokens before/after the correction.
    """
    with torch.no_grad():
        m = mask.to(old_logp.dtype)
        log_w = (old_logp - rollout_logp) * m
        if level == "sequence":
            log_w = log_w.sum(dim=-1, keepdim=True).expand_as(old_logp)
        elif level != "token":
            raise ValueError(f"level must be 'token' or 'sequence', got {level!r}")
        raw = torch.exp(log_w)
        if mode == "truncate":
            w = torch.clamp(raw, max=cap)
            affected = raw > cap
        elif mode == "mask":
            lo, hi = band if band is not None else (1.0 / cap, cap)
            inside = (raw >= lo) & (raw <= hi)
            w = torch.where(inside, raw, torch.zeros_like(raw))
            affected = ~inside
        else:
            raise ValueError(f"mode must be 'truncate' or 'mask', got {mode!r}")
        w = w * m
        real = m > 0
        n_real = max(int(real.sum()), 1)
        metrics = {
            "is_weight_mean": float(w[real].mean()) if real.any() else 0.0,
            "is_weight_max": float(w[real].max()) if real.any() else 0.0,
            "is_weight_min": float(w[real].min()) if real.any() else 0.0,
            "is_raw_weight_mean": float(raw[real].mean()) if real.any() else 0.0,
            ("is_frac_truncated" if mode == "truncate" else "is_frac_masked"): float((affected & real).sum()) / n_real,
        }
    return w, metrics


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    algo: Literal["ppo", "gspo"] = "ppo",
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    clip_ratio_c: float | None = None,
    agg: AggMode = "token-mean",
    norm_const: float | None = None,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    rollout_logp: torch.Tensor | None = None,
    is_level: Literal["token", "sequence"] = "token",
    is_mode: Literal["truncate", "mask"] = "truncate",
    is_cap: float = 2.0,
    is_band: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped policy-gradient loss (PPO or GSPO) with optional KL and importance correction.

    ``log ρ = log π_θ − log π_old`` (``algo="ppo"``) or the GSPO-token log ratio (``algo="gspo"``,
    value ``log s_i = mean_t log π_θ/π_old`` per sequence, see :func:`gspo_log_ratio`);
    ``ℓ_t = −w_t · min(ρ_t A_t, clip(ρ_t, 1 − ε_low, 1 + ε_high) A_t)`` (capped at ``−c·A_t`` for
    ``A_t < 0`` with the dual clip ``clip_ratio_c = c``, see :func:`ppo_clip_loss_matrix`) with ``w`` from
    :func:`importance_weights` (``old_logp`` vs ``rollout_logp``; ``w = 1`` without ``rollout_logp``);
    ``loss = agg(ℓ) + β · agg(k3(π_θ, π_ref))`` (β = ``kl_coef``, same mask and aggregation).
    Metrics: ``pg_loss``, ``clip_frac`` (tokens whose gradient the clip removed), ``ratio_mean``,
    ``approx_kl`` (``mean(ρ − 1 − log ρ)``, k3 of KL(π_old‖π_θ)), ``kl_ref`` and IS weight stats.
    """
    if logp.shape != old_logp.shape or logp.shape != mask.shape or logp.dim() != 2:
        raise ValueError("logp, old_logp and mask must share one [B, T] shape")
    adv = advantages.to(logp.dtype)
    if adv.dim() == 1:
        adv = adv.unsqueeze(-1)
    adv = adv.expand_as(logp)
    if algo == "ppo":
        log_ratio = logp - old_logp
    elif algo == "gspo":
        log_ratio = gspo_log_ratio(logp, old_logp, mask)
    else:
        raise ValueError(f"algo must be 'ppo' or 'gspo', got {algo!r}")
    loss_mat, ratio, clipped = ppo_clip_loss_matrix(log_ratio, adv, eps_low, eps_high, clip_ratio_c)
    metrics: dict[str, float] = {}
    if rollout_logp is not None:
        w, is_metrics = importance_weights(old_logp, rollout_logp, mask, level=is_level, mode=is_mode, cap=is_cap, band=is_band)
        loss_mat = loss_mat * w
        metrics.update(is_metrics)
    pg = aggregate_loss(loss_mat, mask, agg, norm_const)
    loss = pg
    with torch.no_grad():
        lr = log_ratio.detach()
        metrics["pg_loss"] = float(pg.detach())
        metrics["clip_frac"] = float(masked_mean(clipped.to(logp.dtype), mask))
        metrics["ratio_mean"] = float(masked_mean(ratio.detach(), mask))
        metrics["approx_kl"] = float(masked_mean(torch.expm1(lr) - lr, mask))
    if ref_logp is not None:
        kl_mat = kl_k3(logp, ref_logp)
        kl = aggregate_loss(kl_mat, mask, agg, norm_const)
        metrics["kl_ref"] = float(kl.detach())
        if kl_coef:
            loss = loss + kl_coef * kl
    metrics["loss"] = float(loss.detach())
    return loss, metrics


def decoupled_ppo_loss(
    logp: torch.Tensor,
    prox_logp: torch.Tensor,
    behav_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    clip_ratio_c: float | None = None,
    behav_weight_cap: float | None = None,
    behav_weight_mode: Literal["mask", "truncate"] = "mask",
    agg: AggMode = "token-mean",
    norm_const: float | None = None,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Decoupled PPO objective for stale (off-policy) data (AReaL).

    ``ℓ_t = −(π_prox/π_behav)(y_t) · min(r_t A_t, clip(r_t, 1 − ε_low, 1 + ε_high) A_t)`` with
    ``r_t = π_θ(y_t)/π_prox(y_t)``: the trust region is centred on the proximal policy π_prox (the
    policy before this update) while the behaviour policy π_behav that generated the tokens is
    corrected by the (no-gradient) weight.  With ``behav_weight_cap = C`` the weight is masked to 0
    where it exceeds C (AReaL's behaviour; ``behav_weight_mode="truncate"`` caps it at C instead).
    """
    cap = float("inf") if behav_weight_cap is None else float(behav_weight_cap)
    if behav_weight_mode == "mask":
        return policy_loss(
            logp, prox_logp, advantages, mask, eps_low=eps_low, eps_high=eps_high, clip_ratio_c=clip_ratio_c, agg=agg, norm_const=norm_const,
            ref_logp=ref_logp, kl_coef=kl_coef, rollout_logp=behav_logp, is_mode="mask", is_band=(0.0, cap),
        )
    return policy_loss(
        logp, prox_logp, advantages, mask, eps_low=eps_low, eps_high=eps_high, clip_ratio_c=clip_ratio_c, agg=agg, norm_const=norm_const,
        ref_logp=ref_logp, kl_coef=kl_coef, rollout_logp=behav_logp, is_mode="truncate", is_cap=cap,
    )
