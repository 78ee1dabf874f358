"""Behaviour cloning before RL (``policy.warm_start``): the policy imitates the env's reference
actions on the *training* tasks, so RL starts from a weak prior instead of a policy that never
succeeds (a from-scratch model's stand-in for a pretrained one).

The demonstrations are the env's ``oracle_action()`` episodes, recorded by the training agent itself
(its own prompt and completion ids, :meth:`BatchedAgent.force`), one per training task — the same
episodes ``data.seed_with_oracle`` banks.  Each step takes ``batch_rows`` turns at random and
minimises the negative log-likelihood of their decision tokens under the distribution they are sampled
from (constrained positions masked to the allowed ids, as in the RL loss):

    ``L = − Σ_{i,t} m_{i,t} log π_θ(y_{i,t} | x_i, y_{i,<t}) / Σ_{i,t} m_{i,t}``

with its own Adam (``lr``); the RL optimizer starts fresh afterwards.  Value heads are not trained.

The cloning does not depend on ``run.seed`` (its batches are drawn with ``policy.warm_start.seed``),
so runs that differ only in their seed or in their credit assignment start from the *same* policy.
With ``cache`` the cloned weights are kept under ``~/.cache/envgym/warm_start/<key>`` where the key
hashes the initial weights, the demonstrations' token ids and the cloning settings: a second run
with the same inputs loads them instead of cloning again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envgym.trajectory import Episode
from envgym.trainers.batching import turn_rows
from envgym.trainers.data_manager import Group, TaskRef, stable_seed


def warm_start(learner: Any, episodes: list[Episode], config: Any) -> dict[str, float]:
    """Clone the oracle ``episodes`` into ``learner``'s policy (``config`` = ``policy.warm_start``),
    through the cache when it is on."""
    demos = [ep for ep in episodes if ep.success and not ep.infra_error]
    rows = turn_rows([Group("warm-start", (0, 0), TaskRef("-", "-"), demos, 0)])
    if len(rows) == 0:
        raise ValueError("policy.warm_start: the env's oracle solved no training task, nothing to imitate")
    path = cache_path(learner, rows, config) if config.cache else None
    if path is not None and path.exists():
        learner.model.load_state_dict(torch.load(path / "model.pt", map_location=learner.device))
        stats = {**json.loads((path / "stats.json").read_text()), "cached": 1.0}
    else:
        stats = behaviour_clone(learner, rows, steps=config.steps, lr=config.lr, batch_rows=config.batch_rows, seed=config.seed)
        stats.update(demos=float(len(demos)), cached=0.0)
        if path is not None:
            _save(path, learner.model.state_dict(), stats)
    if learner.ref_model is not None:  # the KL term anchors to the cloned policy, not to the random init
        learner.ref_model.load_state_dict(learner.model.state_dict())
    return stats


def cache_path(learner: Any, rows: Any, config: Any) -> Path:
    """``~/.cache/envgym/warm_start/<sha256 of the initial weights, the demonstrations and the settings>``."""
    digest = hashlib.sha256()
    for name, tensor in sorted(learner.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    demos = [rows.prompt_ids, rows.completion_ids, rows.allowed]
    digest.update(json.dumps([demos, config.model_dump(exclude={"cache"})], sort_keys=True).encode())
    root = Path(os.environ.get("ENVGYM_CACHE", Path.home() / ".cache" / "envgym"))
    return root / "warm_start" / digest.hexdigest()[:24]


def _save(path: Path, state: dict[str, Any], stats: dict[str, float]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp / "model.pt")
    (tmp / "stats.json").write_text(json.dumps(stats))
    try:
        os.replace(tmp, path)
    except OSError:  # another run saved the same weights first
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def behaviour_clone(learner: Any, rows: Any, *, steps: int, lr: float, batch_rows: int, seed: int) -> dict[str, float]:
    """``steps`` behaviour-cloning steps of ``learner``'s policy on the demonstration ``rows``."""
    params = [p for p in learner.model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(stable_seed(seed, "warm-start"))
    losses: list[float] = []
    start = time.perf_counter()
    for _ in range(steps):
        index = rng.choice(len(rows), size=min(batch_rows, len(rows)), replace=False)
        logp, _entropy, _hidden, mask = learner.row_logprobs(rows, index)
        loss = -(logp * mask).sum() / mask.sum().clamp_min(1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, learner.config.optim.grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
    return {"rows": float(len(rows)), "steps": float(steps), "loss_first": losses[0] if losses else float("nan"),
            "loss_last": losses[-1] if losses else float("nan"), "seconds": round(time.perf_counter() - start, 2)}
