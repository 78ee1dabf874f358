"""Learner: advantages → policy loss → optimizer step → weights for the rollout service.

One :meth:`Learner.train_step` on a batch of curated groups:

1. rows = one per agent turn (:func:`envgym.trainers.batching.turn_rows`), tokens = the recorded ids;
2. a no-grad pass with the current weights gives ``π_old`` (the proximal policy) per completion
   token, the token entropy and, for critic-based estimators, the values;
3. advantages by ``algo.estimator`` from the registry
   (:data:`envgym.trainers.algorithms.estimators.ESTIMATORS`: ``grpo``, ``dr_grpo``, ``gigpo``,
   ``turn``, ``dual``, and the critic estimators ``gae`` and ``hae``);
4. optional step filter (top-ρ turns by mean token entropy over real tokens);
5. loss (``loss.kind`` = ppo | gspo) with truncated importance weights ``min(π_old/π_rollout, C)``
   from the **stored rollout logprobs**; stale rows (sampled by an older version) use the decoupled
   objective (ratio to ``π_old`` = proximal, weight ``π_prox/π_behav``), so stale data is corrected,
   not dropped.  Replayed successes (``data.replay_weight="one"``) and demonstrations without logprobs
   take ``π_behav = π_old`` (weight 1).  Optional entropy bonus, KL to the initial policy, value loss;
6. Adam step with gradient clipping; ``version += 1``.  A NaN/inf loss, gradient norm or parameter
   raises :class:`NonFiniteError` before anything is published or checkpointed.

Rows whose advantage is exactly 0 carry no policy gradient and are left out of the loss.
Logprobs are computed only at completion positions: the backbone's hidden states are gathered there
and only those go through the LM head (at constrained positions the distribution is masked to the
ids that were allowed when sampling, at the sampling temperature).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dataclasses import dataclass

from envgym.image_store import ImageStore
from envgym.trainers import algorithms as alg
from envgym.trainers.algorithms.estimators import critic_targets_loss, estimate, get_estimator
from envgym.trainers.algorithms.losses import decoupled_ppo_loss, masked_mean, policy_loss
from envgym.trainers.algorithms.value_heads import ThreeHeadValue
from envgym.trainers.batching import TokenBatch, TurnRows, token_batch, turn_rows
from envgym.trainers.config import TrainConfig
from envgym.trainers.data_manager import Group, stable_seed
from envgym.trainers.multimodal import ImageInputs, image_key
from envgym.trainers.turn_stats import turn_stats


class NonFiniteError(FloatingPointError):
    """A loss, gradient or parameter became NaN/inf: training stops (the last checkpoint is kept)."""


@dataclass
class _Proximal:
    """What the no-grad pass of :meth:`Learner.train_step` produced, one row per turn."""

    old: torch.Tensor  # [N, C] π_old logprobs of the completion tokens
    ref: torch.Tensor | None  # [N, C] reference-policy logprobs (KL term) or None
    entropy_rows: np.ndarray  # [N] mean token entropy per row
    token_entropy: list[torch.Tensor]  # per chunk [n, c]
    token_mask: list[torch.Tensor]  # per chunk [n, c]
    values: dict[str, np.ndarray] | None  # critic estimators: v_high, v_low, v_term


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
        hidden = _hidden_size(model.config)
        self.images = _image_inputs(tokenizer, config)
        self.value_head: ThreeHeadValue | None = None
        params = [p for p in self.model.parameters() if p.requires_grad]  # LoRA: the adapter only
        if get_estimator(config.algo.estimator).critic:
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
        self.turn_log: Any = None  # a TurnStatsWriter: per trained turn, its advantage and logprob gap

    # ------------------------------------------------------------------ forward
    def completion_logprobs(self, batch: TokenBatch, *, model: Any = None, need_hidden: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(logp [N, C], entropy [N, C], value hidden states [N, 2, H] or None)`` of the completion
        tokens under ``model`` (default: the learner's), masked/tempered as they were sampled; the
        hidden states are those at the prompt end and at the subgoal end (:meth:`ThreeHeadValue.at_turn`)."""
        lm = _causal_lm(model or self.model)
        images = self.images.inputs(lm, batch.images, batch.input_ids, batch.attention_mask) if self.images else {}
        hidden = lm.base_model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, **images).last_hidden_state
        n, c = batch.comp_index.shape
        pos = (batch.comp_index - 1).clamp(min=0)
        picked = hidden.gather(1, pos.unsqueeze(-1).expand(n, c, hidden.shape[-1]))
        logits = lm.get_output_embeddings()(picked).float() / batch.temperature.view(n, 1, 1)
        if self.images is not None and self.images.banned:  # what the vision backend never samples
            logits[..., self.images.banned] = float("-inf")
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
            where = torch.stack([batch.prompt_end, batch.subgoal_end], dim=1)
            end_hidden = hidden.gather(1, where.view(n, 2, 1).expand(n, 2, hidden.shape[-1]))
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
                   None if allowed is None else tuple(tuple(a) for a in allowed), image_key(rows.images[i] if rows.images else None))
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
        """One policy version: rows → proximal pass → advantages → filter → minibatch updates."""
        cfg = self.config
        lr = self.learning_rate()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        rows = turn_rows(groups, hae_segment_len=cfg.algo.hae_segment_len, default_temperature=cfg.agent.temperature)
        metrics: dict[str, float] = {"train/rows": float(len(rows)), "train/lr": lr}
        if len(rows) == 0:
            return self._finish_step(metrics)
        prox = self._proximal_pass(rows)
        adv, targets = estimate(cfg.algo.estimator, rows.arrays(), cfg.algo, prox.values)
        if self.turn_log is not None:
            self.turn_log.write(turn_stats(rows, adv, prox.old, self.version))
        keep = self._keep_rows(rows, adv, prox, metrics)
        metrics.update(_batch_stats(rows, adv, keep, prox.entropy_rows, self.version))
        # critics learn from every row; the policy only from rows with a non-zero advantage
        selected = np.arange(len(rows)) if self.value_head is not None else np.flatnonzero(keep)
        if selected.size == 0:
            metrics["train/skipped"] = 1.0
            return self._finish_step(metrics)
        metrics.update(self._optimise(rows, selected, adv, keep, targets, prox))
        return self._finish_step(metrics)

    def _finish_step(self, metrics: dict[str, float]) -> dict[str, float]:
        check_finite_parameters(self._trainable())
        self.version += 1
        return metrics

    def _proximal_pass(self, rows: TurnRows) -> _Proximal:
        """No-grad pass with the current weights: ``π_old`` per completion token, token entropies,
        the critic's values and (with a KL term) the reference policy's logprobs."""
        need_values = self.value_head is not None
        parts: dict[str, list[torch.Tensor]] = {"old": [], "ent_tok": [], "mask": [], "ent_row": [], "values": [], "ref": []}
        self.model.eval()
        with torch.no_grad():
            for chunk in self._chunks(len(rows)):
                logp, ent, hid, comp_mask = self.row_logprobs(rows, chunk, need_hidden=need_values)
                parts["old"].append(logp)
                parts["ent_tok"].append(ent.cpu())
                parts["mask"].append(comp_mask.cpu())
                parts["ent_row"].append((ent.sum(-1) / comp_mask.sum(-1).clamp_min(1)).cpu())
                if need_values and hid is not None:
                    v = self.value_head.at_turn(hid)
                    parts["values"].append(torch.stack([v.v_high, v.v_low, v.v_term], -1).float().cpu())
                if self.ref_model is not None:
                    parts["ref"].append(self.row_logprobs(rows, chunk, model=self.ref_model)[0].cpu())
        self.model.train()
        width = max(len(c) for c in rows.completion_ids)
        values = None
        if need_values:
            v = torch.cat(parts["values"]).numpy().astype(np.float64)
            values = {"v_high": v[:, 0], "v_low": v[:, 1], "v_term": v[:, 2]}
        return _Proximal(
            old=torch.cat([_pad_cols(p, width) for p in parts["old"]]),
            ref=torch.cat([_pad_cols(p, width) for p in parts["ref"]]) if parts["ref"] else None,
            entropy_rows=torch.cat(parts["ent_row"]).numpy().astype(np.float64),
            token_entropy=parts["ent_tok"], token_mask=parts["mask"], values=values,
        )

    def _keep_rows(self, rows: TurnRows, adv: np.ndarray, prox: _Proximal, metrics: dict[str, float]) -> np.ndarray:
        """Rows that carry a policy gradient: a non-zero advantage (on some token), kept by the data
        manager's step judge, and in the top-ρ by entropy."""
        keep = (np.abs(np.nan_to_num(adv)) > 1e-8).reshape(len(rows), -1).any(axis=1)
        keep &= np.asarray(rows.step_keep, dtype=bool)
        rho = self.config.data.step_filter_rho
        if rho < 1.0:
            width = max(p.shape[1] for p in prox.token_entropy)
            ent_mat = torch.cat([_pad_cols(e, width) for e in prox.token_entropy]).numpy()
            mask_mat = torch.cat([_pad_cols(m, width) for m in prox.token_mask]).numpy()
            filt = alg.entropy_step_filter(ent_mat, mask_mat, np.arange(len(rows)), rho, group_ids=np.asarray(rows.group))
            keep &= filt.keep
            metrics["train/step_filter_kept"] = float(filt.keep.mean())
        return keep

    def _optimise(self, rows: TurnRows, selected: np.ndarray, adv: np.ndarray, keep: np.ndarray,
                  targets: dict[str, np.ndarray], prox: _Proximal) -> dict[str, float]:
        """``optim.epochs`` passes of ``optim.minibatches`` Adam steps over ``selected`` rows."""
        cfg = self.config
        arr = rows.arrays()
        stale = (arr["version"] < self.version) & ~arr["replay"]  # replayed successes are not "stale rollouts"
        use_decoupled = cfg.loss.objective == "decoupled" or (cfg.loss.objective == "auto" and bool(stale.any()))
        rng = np.random.default_rng(stable_seed(cfg.run.seed, "minibatch", self.version))
        step_metrics: list[dict[str, float]] = []
        for _epoch in range(cfg.optim.epochs):
            order = rng.permutation(selected)
            for mb in np.array_split(order, min(cfg.optim.minibatches, order.size)):
                if mb.size:
                    step_metrics.append(self._minibatch_step(rows, mb, adv, keep, targets, prox, use_decoupled))
        out = {f"train/{key}": float(np.mean([m[key] for m in step_metrics if key in m])) for key in step_metrics[0]}
        out["train/decoupled"] = float(use_decoupled)
        return out

    def _minibatch_step(self, rows: TurnRows, mb: np.ndarray, adv: np.ndarray, keep: np.ndarray,
                        targets: dict[str, np.ndarray], prox: _Proximal, use_decoupled: bool) -> dict[str, float]:
        loss, m = self._minibatch_loss(rows, mb, adv, keep, targets, prox, use_decoupled)
        if not torch.isfinite(loss):
            raise NonFiniteError(f"policy version {self.version}: the loss is {float(loss.detach())} ({_describe(m)})")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self._trainable(), self.config.optim.grad_clip))
        if not math.isfinite(grad_norm):
            raise NonFiniteError(f"policy version {self.version}: the gradient norm is {grad_norm} ({_describe(m)})")
        m["grad_norm"] = grad_norm
        self.optimizer.step()
        return m

    def _minibatch_loss(self, rows: TurnRows, mb: np.ndarray, adv: np.ndarray, keep: np.ndarray,
                        targets: dict[str, np.ndarray], prox: _Proximal, use_decoupled: bool) -> tuple[torch.Tensor, dict[str, float]]:
        """Policy loss (+ entropy bonus, KL, critic loss) of rows ``mb``."""
        lc = self.config.loss
        logp, ent, hid, comp_mask = self.row_logprobs(rows, mb, need_hidden=self.value_head is not None)
        c = comp_mask.shape[1]
        old = prox.old[mb, :c].to(self.device)
        behav = self._behaviour_logp(rows, mb, c, old)
        mask = comp_mask * torch.tensor(keep[mb], dtype=torch.float32, device=self.device).view(-1, 1)
        advantages, token_mask = _advantage_tensor(adv, mb, c, self.device)
        if token_mask is not None:
            mask = mask * token_mask
        ref = prox.ref[mb, :c].to(self.device) if prox.ref is not None else None
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
            tgt = {k: torch.tensor(val[mb], dtype=torch.float32, device=self.device) for k, val in targets.items()}
            v_loss = critic_targets_loss(self.value_head.at_turn(hid.float()), tgt)
            loss = loss + lc.value_coef * v_loss
            m["value_loss"] = float(v_loss.detach())
        return loss, m

    def _behaviour_logp(self, rows: TurnRows, mb: np.ndarray, width: int, old: torch.Tensor) -> torch.Tensor:
        """The stored rollout logprobs; ``π_old`` where unknown (demonstrations) and for replayed
        successes when ``data.replay_weight = "one"`` (weight 1)."""
        behav = _rollout_logp(rows, mb, width).to(self.device)
        unknown = torch.isnan(behav)
        if self.config.data.replay_weight == "one":
            replay = torch.tensor(np.asarray(rows.replay)[mb], device=self.device)
            unknown = unknown | replay.view(-1, 1)
        return torch.where(unknown, old, behav)

    def _trainable(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    # ------------------------------------------------------------------ weights / state
    @property
    def lora(self) -> bool:
        return hasattr(self.model, "peft_config")

    def policy_state_dict(self) -> dict[str, torch.Tensor]:
        """The policy weights to publish to the rollout backend (keys of a plain model).

        Full fine-tuning: a detached copy of every weight.  LoRA: the merged weights
        ``W + (α/r)·B·A`` of the adapted layers, computed without touching the base weights (a
        merge/unmerge in place would drift by rounding), the other weights shared as they are."""
        if not self.lora:
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        from peft.tuners.lora import LoraLayer

        lm = self.model.get_base_model()
        deltas = {f"{name}.weight": module.get_delta_weight(module.active_adapter[0]).detach()
                  for name, module in lm.named_modules() if isinstance(module, LoraLayer)}
        out: dict[str, torch.Tensor] = {}
        for key, value in lm.state_dict().items():
            if ".lora_" in key:
                continue
            key = key.replace(".base_layer.", ".")
            out[key] = (value + deltas[key].to(value.dtype)) if key in deltas else value.detach()
        return out

    def serving_model(self) -> Any:
        """The model the rollout backend starts from (it serves its own copy): the learner's model,
        or with LoRA a plain model holding the merged weights."""
        if not self.lora:
            return self.model
        return copy.deepcopy(self.model).merge_and_unload()

    def save_merged(self, path: str) -> None:
        """Write the trained model + tokenizer as a Hugging Face directory (``from_pretrained`` loads
        it; LoRA adapters merged into the weights)."""
        self.serving_model().save_pretrained(path)
        self.tokenizer.save_pretrained(path)

    def _model_state(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds of the model: every weight, or with LoRA the adapter only."""
        if not self.lora:
            return self.model.state_dict()
        return {name: p.detach() for name, p in self.model.named_parameters() if p.requires_grad}

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self._model_state(),
            "optimizer": self.optimizer.state_dict(),
            "value_head": self.value_head.state_dict() if self.value_head is not None else None,
            "ref_model": self.ref_model.state_dict() if self.ref_model is not None else None,
            "version": self.version,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.lora:
            result = self.model.load_state_dict(state["model"], strict=False)
            missing = [k for k in result.missing_keys if k in self._model_state()]
            if result.unexpected_keys or missing:
                raise KeyError(f"checkpoint does not match the LoRA adapter: missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}")
        else:
            self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.value_head is not None and state.get("value_head") is not None:
            self.value_head.load_state_dict(state["value_head"])
        if self.ref_model is not None and state.get("ref_model") is not None:
            self.ref_model.load_state_dict(state["ref_model"])
        self.version = int(state["version"])


def _hidden_size(config: Any) -> int:
    """The language model's hidden size (vision-language configs keep it in their text config)."""
    size = getattr(config, "hidden_size", None)
    return int(size if size is not None else config.get_text_config().hidden_size)


def _image_inputs(tokenizer: Any, config: TrainConfig) -> ImageInputs | None:
    """The image inputs of a vision-language policy (its processor comes as the tokenizer), read from
    the run's image store; ``None`` for a text policy."""
    from envgym.agents.vision import VisionProcessor

    if not isinstance(tokenizer, VisionProcessor):
        return None
    return ImageInputs(tokenizer, ImageStore(Path(config.run.out_dir) / "images"))


def _causal_lm(model: Any) -> Any:
    """The ``*ForCausalLM`` inside ``model`` (a PEFT wrapper holds it as its base model)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def check_finite_parameters(params: list[torch.Tensor]) -> None:
    """Raise :class:`NonFiniteError` when any parameter holds a NaN or inf."""
    bad = sum(int((~torch.isfinite(p.detach())).sum()) for p in params)
    if bad:
        raise NonFiniteError(f"{bad} parameter values are NaN or inf after the optimizer step")


def _describe(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())) or "no other metrics"


def _batch_stats(rows: TurnRows, adv: np.ndarray, keep: np.ndarray, entropy_rows: np.ndarray, version: int) -> dict[str, float]:
    """Advantage, entropy, staleness and replay statistics of one batch."""
    arr = rows.arrays()
    fresh = ~arr["replay"]
    lag = (version - arr["version"])[fresh]
    return {
        "train/adv_mean": float(np.nanmean(adv)), "train/adv_std": float(np.nanstd(adv)),
        "train/adv_nonzero": float(keep.mean()), "train/entropy": float(entropy_rows.mean()),
        "train/staleness_mean": float(lag.mean()) if lag.size else 0.0,
        "train/staleness_max": float(lag.max()) if lag.size else 0.0,
        "train/replay_rows": float(arr["replay"].sum()),
    }


def _advantage_tensor(adv: np.ndarray, index: np.ndarray, width: int, device: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Advantages of rows ``index``: ``[n]`` for per-turn advantages, or ``[n, width]`` per token with
    the mask of trained tokens (the estimator's NaN = not trained)."""
    sel = adv[index]
    if sel.ndim == 1:
        return torch.tensor(sel, dtype=torch.float32, device=device), None
    tokens = np.full((len(index), width), np.nan)
    cols = min(width, sel.shape[1])
    tokens[:, :cols] = sel[:, :cols]
    trained = np.isfinite(tokens)
    return (torch.tensor(np.where(trained, tokens, 0.0), dtype=torch.float32, device=device),
            torch.tensor(trained, dtype=torch.float32, device=device))


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
