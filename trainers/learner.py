"""Learner: advantages → policy loss → optimizer step → weights for the rollout service.

One :meth:`Learner.train_step` on a batch of curated groups:

1. rows = one per agent turn (:func:`envgym.trainers.batching.turn_rows`), tokens = the recorded ids;
2. a no-grad pass with the current weights gives ``π_old`` (the proximal policy) per completion
   token, the token entropy and, for critic-based estimators, the values;
3. advantages from :mod:`envgym.trainers.algorithms` by ``algo.estimator``:
   ``grpo`` / ``dr_grpo`` (episode), ``gigpo`` (episode + anchor-state step groups), ``turn`` (MARS
   turn level), ``dual`` (MatchTIR), ``hae`` (HiPER, three value heads), ``gae`` (one value head);
4. optional step filter (top-ρ turns by mean token entropy over real tokens);
5. loss (``loss.kind`` = ppo | gspo) with truncated importance weights ``min(π_old/π_rollout, C)``
   from the **stored rollout logprobs**; stale rows (sampled by an older version) use the decoupled
   objective (ratio to ``π_old`` = proximal, weight ``π_prox/π_behav``), so stale data is corrected,
   not dropped.  Replayed successes (``data.replay_weight="one"``) and demonstrations without logprobs
   take ``π_behav = π_old`` (weight 1).  Optional entropy bonus, KL to the initial policy, value loss;
6. Adam step with gradient clipping; ``version += 1``.

Rows whose advantage is exactly 0 carry no policy gradient and are left out of the loss.
Logprobs are computed only at completion positions: the backbone's hidden states are gathered there
and only those go through the LM head (at constrained positions the distribution is masked to the
ids that were allowed when sampling, at the sampling temperature).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from envgym.trainers import algorithms as alg
from envgym.trainers.algorithms.losses import decoupled_ppo_loss, masked_mean, policy_loss
from envgym.trainers.algorithms.value_heads import ThreeHeadValue
from envgym.trainers.batching import TokenBatch, TurnRows, token_batch, turn_rows
from envgym.trainers.config import TrainConfig
from envgym.trainers.data_manager import Group, stable_seed

CRITIC_ESTIMATORS = ("hae", "gae")


class Learner:
    def __init__(self, model: Any, tokenizer: Any, config: TrainConfig, *, device: str = "cpu"):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.device = torch.device(device)
        self.model.to(self.device)
        self.model.train()
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad or 0)
        hidden = int(getattr(model.config, "hidden_size"))
        self.value_head: ThreeHeadValue | None = None
        params = list(self.model.parameters())
        if config.algo.estimator in CRITIC_ESTIMATORS:
            self.value_head = ThreeHeadValue(hidden).to(self.device)
            params += list(self.value_head.parameters())
        o = config.optim
        self.optimizer = torch.optim.Adam(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        self.ref_model = None
        if config.loss.kl_coef > 0:
            self.ref_model = copy.deepcopy(model).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)
        self.version = 0

    # ------------------------------------------------------------------ forward
    def completion_logprobs(self, batch: TokenBatch, *, model: Any = None, need_hidden: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(logp [N, C], entropy [N, C], prompt-end hidden [N, H] or None)`` of the completion
        tokens under ``model`` (default: the learner's), masked/tempered as they were sampled."""
        model = model or self.model
        backbone = model.base_model
        hidden = backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        n, c = batch.comp_index.shape
        pos = (batch.comp_index - 1).clamp(min=0)
        picked = hidden.gather(1, pos.unsqueeze(-1).expand(n, c, hidden.shape[-1]))
        logits = model.get_output_embeddings()(picked).float() / batch.temperature.view(n, 1, 1)
        if batch.constrained:
            rows = torch.tensor([r for r, _, _ in batch.constrained], device=logits.device)
            cols = torch.tensor([j for _, j, _ in batch.constrained], device=logits.device)
            mask = torch.full((len(batch.constrained), logits.shape[-1]), float("-inf"), device=logits.device)
            for k, (_, _, ids) in enumerate(batch.constrained):
                mask[k, ids] = 0.0
            logits = logits.index_put((rows, cols), logits[rows, cols] + mask)
        logp_all = torch.log_softmax(logits, dim=-1)
        logp = logp_all.gather(-1, batch.comp_ids.unsqueeze(-1)).squeeze(-1)
        probs = logp_all.exp()
        entropy = -(probs * torch.where(probs > 0, logp_all, torch.zeros_like(logp_all))).sum(-1)
        end_hidden = None
        if need_hidden:
            end_hidden = hidden.gather(1, batch.prompt_end.view(n, 1, 1).expand(n, 1, hidden.shape[-1])).squeeze(1)
        return logp * batch.comp_mask, entropy * batch.comp_mask, end_hidden

    def row_logprobs(self, rows: TurnRows, index: np.ndarray, *, model: Any = None, need_hidden: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """:meth:`completion_logprobs` for rows ``index``, running each *distinct* sequence once.

        Rows with identical ids (same prompt, completion, temperature and allowed ids — a state that
        recurs across a group, a repeated move) share one forward pass; results are indexed back per
        row, so values and gradients are exactly those of the row-by-row computation.
        Returns ``(logp, entropy, prompt-end hidden or None, comp_mask)``, each with one row per index.
        """
        index = np.asarray(index, dtype=np.int64)
        keys: dict[tuple, int] = {}
        inverse = np.empty(index.size, dtype=np.int64)
        reps: list[int] = []
        for k, i in enumerate(index):
            allowed = rows.allowed[i]
            key = (tuple(rows.prompt_ids[i]), tuple(rows.completion_ids[i]), rows.temperature[i],
                   None if allowed is None else tuple(tuple(a) for a in allowed))
            slot = keys.get(key)
            if slot is None:
                slot = keys[key] = len(reps)
                reps.append(int(i))
            inverse[k] = slot
        tb = token_batch(rows, np.asarray(reps), self.pad_id, self.device)
        logp, ent, hid = self.completion_logprobs(tb, model=model, need_hidden=need_hidden)
        inv = torch.as_tensor(inverse, device=logp.device)
        return logp[inv], ent[inv], (hid[inv] if hid is not None else None), tb.comp_mask[inv]

    def _chunks(self, n: int, size: int = 512) -> list[np.ndarray]:
        return [np.arange(i, min(i + size, n)) for i in range(0, n, size)]

    # ------------------------------------------------------------------ advantages
    def advantages(self, rows: TurnRows, values: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Per-row advantages for ``algo.estimator``; second item: value targets (critic estimators)."""
        a = self.config.algo
        arr = rows.arrays()
        r, g, t, k = arr["reward"], arr["group"], arr["traj"], arr["turn"]
        targets: dict[str, np.ndarray] = {}
        if a.estimator == "grpo":
            adv = alg.grpo_advantages(r, g, t).advantages
        elif a.estimator == "dr_grpo":
            adv = alg.dr_grpo_advantages(r, g, t).advantages
        elif a.estimator == "gigpo":
            adv = alg.gigpo_advantages(r, g, t, k, arr["anchor"], gamma=a.gamma, omega=a.omega, episode_stats=a.gigpo_episode_stats).advantages
        elif a.estimator == "turn":
            adv = alg.turn_level_advantages(r, t, k, gamma=a.gamma).advantages
        elif a.estimator == "dual":
            adv = alg.dual_level_advantages(r, g, t, k, gamma=a.gamma).advantages
        elif a.estimator == "gae":
            assert values is not None
            res = alg.gae_advantages(r, values["v_low"], t, k, gamma=a.gamma, lam=a.lam)
            adv, targets = res.advantages, {"v_low": res.returns}
        elif a.estimator == "hae":
            assert values is not None
            res = alg.hierarchical_advantages(
                r, t, k, arr["switch"], values["v_high"], values["v_low"], values["v_term"],
                gamma=a.gamma, lam=a.lam, lam_seg=a.lam_seg,
            )
            # flat executor: every completion token is an action token, so it takes A^low; the
            # planner's A^H is added on segment-start (SWITCH) turns, where the turn also chose the segment.
            adv = res.a_low + np.where(res.segment_start, res.a_high, 0.0)
            adv = (adv - adv.mean()) / (adv.std() + 1e-6) if adv.size > 1 else adv
            targets = {"v_low": res.returns_low, "v_high": res.returns_high, "v_term": res.returns_term,
                       "segment_start": res.segment_start.astype(np.float64)}
        else:  # pragma: no cover - config validation prevents it
            raise ValueError(a.estimator)
        return np.asarray(adv, dtype=np.float64), targets

    # ------------------------------------------------------------------ training
    def learning_rate(self) -> float:
        """``lr · f(version / T)``: constant, linear or cosine decay to ``lr · lr_final_ratio`` at
        ``T = optim.schedule_steps or run.steps`` (a function of the version: exact on resume)."""
        o = self.config.optim
        total = max(1, o.schedule_steps or self.config.run.steps)
        progress = min(1.0, self.version / total)
        if o.lr_schedule == "linear":
            factor = 1.0 - (1.0 - o.lr_final_ratio) * progress
        elif o.lr_schedule == "cosine":
            factor = o.lr_final_ratio + (1.0 - o.lr_final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            factor = 1.0
        return o.lr * factor

    def train_step(self, groups: list[Group]) -> dict[str, float]:
        cfg = self.config
        lr = self.learning_rate()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        rows = turn_rows(groups, hae_segment_len=cfg.algo.hae_segment_len, default_temperature=cfg.agent.temperature)
        n = len(rows)
        metrics: dict[str, float] = {"train/rows": float(n), "train/lr": lr}
        if n == 0:
            self.version += 1
            return metrics
        need_values = self.value_head is not None
        ref_logp_all: list[torch.Tensor] = []
        old_parts, ent_parts, ent_tok_parts, mask_parts, value_parts = [], [], [], [], []
        self.model.eval()
        with torch.no_grad():
            for chunk in self._chunks(n):
                logp, ent, hid, comp_mask = self.row_logprobs(rows, chunk, need_hidden=need_values)
                old_parts.append(logp)
                ent_tok_parts.append(ent.cpu())
                mask_parts.append(comp_mask.cpu())
                ent_parts.append((ent.sum(-1) / comp_mask.sum(-1).clamp_min(1)).cpu())
                if need_values and hid is not None:
                    v = self.value_head(hid)
                    value_parts.append(torch.stack([v.v_high, v.v_low, v.v_term], -1).cpu())
                if self.ref_model is not None:
                    ref, _, _, _ = self.row_logprobs(rows, chunk, model=self.ref_model)
                    ref_logp_all.append(ref.cpu())
        self.model.train()
        entropy_rows = torch.cat(ent_parts).numpy().astype(np.float64)
        values = None
        if need_values:
            v = torch.cat(value_parts).numpy().astype(np.float64)
            values = {"v_high": v[:, 0], "v_low": v[:, 1], "v_term": v[:, 2]}
        adv, targets = self.advantages(rows, values)
        keep = np.abs(adv) > 1e-8
        rho = cfg.data.step_filter_rho
        if rho < 1.0:
            width = max(p.shape[1] for p in ent_tok_parts)
            ent_mat = torch.cat([_pad_cols(e, width) for e in ent_tok_parts]).numpy()
            mask_mat = torch.cat([_pad_cols(m, width) for m in mask_parts]).numpy()
            filt = alg.entropy_step_filter(ent_mat, mask_mat, np.arange(n), rho, group_ids=np.asarray(rows.group))
            keep &= filt.keep
            metrics["train/step_filter_kept"] = float(filt.keep.mean())
        selected = np.arange(n) if need_values else np.flatnonzero(keep)  # critics learn from every row
        arr = rows.arrays()
        stale = (arr["version"] < self.version) & ~arr["replay"]  # replayed successes are not "stale rollouts"
        metrics.update({
            "train/adv_mean": float(adv.mean()), "train/adv_std": float(adv.std()),
            "train/adv_nonzero": float(keep.mean()), "train/entropy": float(entropy_rows.mean()),
            "train/staleness_mean": float(np.mean((self.version - arr["version"])[~arr["replay"]])) if (~arr["replay"]).any() else 0.0,
            "train/staleness_max": float(np.max((self.version - arr["version"])[~arr["replay"]])) if (~arr["replay"]).any() else 0.0,
            "train/replay_rows": float(arr["replay"].sum()),
        })
        if selected.size == 0:
            self.version += 1
            metrics["train/skipped"] = 1.0
            return metrics
        # per-row tensors aligned with `rows`
        width = max(len(c) for c in rows.completion_ids)
        old_all = torch.cat([_pad_cols(p, width) for p in old_parts])
        ref_all = torch.cat([_pad_cols(p, width) for p in ref_logp_all]) if ref_logp_all else None
        rng = np.random.default_rng(stable_seed(cfg.run.seed, "minibatch", self.version))
        step_metrics: list[dict[str, float]] = []
        use_decoupled = cfg.loss.objective == "decoupled" or (cfg.loss.objective == "auto" and bool(stale.any()))
        for _epoch in range(cfg.optim.epochs):
            order = rng.permutation(selected)
            for mb in np.array_split(order, min(cfg.optim.minibatches, order.size)):
                if mb.size == 0:
                    continue
                m = self._minibatch_loss(rows, mb, adv, keep, targets, old_all, ref_all, use_decoupled)
                step_metrics.append(m)
        for key in step_metrics[0]:
            metrics[f"train/{key}"] = float(np.mean([m[key] for m in step_metrics if key in m]))
        metrics["train/decoupled"] = float(use_decoupled)
        self.version += 1
        return metrics

    def _minibatch_loss(self, rows: TurnRows, mb: np.ndarray, adv: np.ndarray, keep: np.ndarray,
                        targets: dict[str, np.ndarray], old_all: torch.Tensor, ref_all: torch.Tensor | None,
                        use_decoupled: bool) -> dict[str, float]:
        cfg = self.config
        logp, ent, hid, comp_mask = self.row_logprobs(rows, mb, need_hidden=self.value_head is not None)
        c = comp_mask.shape[1]
        old = old_all[mb, :c].to(self.device)
        behav = _rollout_logp(rows, mb, c).to(self.device)
        replay = torch.tensor(np.asarray(rows.replay)[mb], device=self.device)
        unknown = torch.isnan(behav)
        if cfg.data.replay_weight == "one":
            unknown = unknown | replay.view(-1, 1)
        behav = torch.where(unknown, old, behav)
        mask = comp_mask * torch.tensor(keep[mb], dtype=torch.float32, device=self.device).view(-1, 1)
        advantages = torch.tensor(adv[mb], dtype=torch.float32, device=self.device)
        ref = ref_all[mb, :c].to(self.device) if ref_all is not None else None
        lc = cfg.loss
        if use_decoupled and lc.kind == "ppo":
            loss, m = decoupled_ppo_loss(
                logp, old, behav, advantages, mask, eps_low=lc.eps_low, eps_high=lc.eps_high,
                behav_weight_cap=lc.is_cap, behav_weight_mode=lc.is_mode, agg=lc.agg, ref_logp=ref, kl_coef=lc.kl_coef,
            )
        else:
            loss, m = policy_loss(
                logp, old, advantages, mask, algo=lc.kind, eps_low=lc.eps_low, eps_high=lc.eps_high, agg=lc.agg,
                ref_logp=ref, kl_coef=lc.kl_coef, rollout_logp=behav, is_level=lc.is_level, is_mode=lc.is_mode, is_cap=lc.is_cap,
            )
        if lc.entropy_coef and mask.sum() > 0:
            ent_bonus = masked_mean(ent, mask)
            loss = loss - lc.entropy_coef * ent_bonus
            m["entropy_bonus"] = float(ent_bonus.detach())
        if self.value_head is not None and hid is not None and targets:
            v = self.value_head(hid)
            tgt = {k: torch.tensor(val[mb], dtype=torch.float32, device=self.device) for k, val in targets.items()}
            v_loss = ((v.v_low - tgt["v_low"]) ** 2).mean()
            if "v_high" in tgt:
                start = tgt["segment_start"]
                v_loss = v_loss + ((v.v_high - tgt["v_high"]) ** 2 * start).sum() / start.sum().clamp_min(1)
                v_loss = v_loss + ((v.v_term - tgt["v_term"]) ** 2).mean()
            loss = loss + lc.value_coef * v_loss
            m["value_loss"] = float(v_loss.detach())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip)
        m["grad_norm"] = float(grad_norm) if math.isfinite(float(grad_norm)) else -1.0
        self.optimizer.step()
        return m

    # ------------------------------------------------------------------ weights / state
    def policy_state_dict(self) -> dict[str, torch.Tensor]:
        """Detached copy of the policy weights, to publish to the rollout backend."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "value_head": self.value_head.state_dict() if self.value_head is not None else None,
            "ref_model": self.ref_model.state_dict() if self.ref_model is not None else None,
            "version": self.version,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.value_head is not None and state.get("value_head") is not None:
            self.value_head.load_state_dict(state["value_head"])
        if self.ref_model is not None and state.get("ref_model") is not None:
            self.ref_model.load_state_dict(state["ref_model"])
        self.version = int(state["version"])


def _rollout_logp(rows: TurnRows, index: np.ndarray, width: int) -> torch.Tensor:
    """Stored rollout logprobs of rows ``index`` as ``[len, width]`` (NaN where unknown)."""
    out = torch.full((len(index), width), math.nan, dtype=torch.float32)
    for r, i in enumerate(index):
        lp = rows.rollout_logp[i]
        if lp is not None:
            out[r, : len(lp)] = torch.tensor(lp, dtype=torch.float32)
    return out


def _pad_cols(x: torch.Tensor, width: int) -> torch.Tensor:
    if x.shape[1] == width:
        return x
    out = torch.zeros((x.shape[0], width), dtype=x.dtype, device=x.device)
    out[:, : x.shape[1]] = x
    return out
