"""Batch filters applied to candidates that passed every check (critic vote, rollout band, deduplication).

* :func:`critic_vote` — ``n`` LLM critics vote ``keep`` / ``rewrite`` / ``reject``; the plurality wins,
  ties go to the more conservative choice (reject > rewrite > keep); unreadable votes abstain.  A
  ``rewrite`` decision keeps the task with the first rewriting critic's instruction.
* :func:`rollout_filter` — a reference agent plays the task ``k`` times in the real env and each
  episode is scored with the task's own reward (sandboxed).  ``pass_rate = successes / (successes +
  failures)``; infrastructure failures (env infra errors, agent crashes, reward sandbox errors) are
  counted apart and left out of the rate.  Kept when ``low <= pass_rate <= high``.
* :class:`Deduplicator` — a task is a duplicate of a kept one when its (initial, golden) state hash
  matches, or its instruction similarity ``max(jaccard(tokens), difflib ratio)`` reaches the
  threshold (among all kept tasks, or only those with the same initial state) (``jaccard(A, B) = |A ∩ B| / |A ∪ B|`` over normalised word tokens).
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envgym.hashing import state_hash
from envgym.synth.llm import ChatClient, LLMBadJSON, LLMError
from envgym.synth.roles import Prompt

VOTES = ("keep", "rewrite", "reject")
_CONSERVATIVE = {"reject": 2, "rewrite": 1, "keep": 0}


# ---------------------------------------------------------------------- critics
@dataclass
class VoteResult:
    decision: str  # keep / rewrite / reject / abstain (no usable vote)
    votes: list[dict[str, Any]]
    instruction: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "votes": self.votes, "instruction": self.instruction}


def majority(votes: list[str]) -> str:
    """Plurality of ``votes`` (``keep``/``rewrite``/``reject``); ties → the most conservative."""
    counts = Counter(v for v in votes if v in VOTES)
    if not counts:
        return "abstain"
    top = max(counts.values())
    return max((v for v, c in counts.items() if c == top), key=_CONSERVATIVE.__getitem__)


async def critic_vote(llm: ChatClient, prompt: Prompt, task: dict[str, Any], n: int, context: dict[str, str]) -> VoteResult:
    """Ask ``n`` critics (concurrently) about ``task`` and take the majority."""
    diff = task.get("verification", {}).get("changed_paths", [])
    messages = prompt.messages(**context, instruction=task["instruction"], spec=json.dumps(task["spec"], sort_keys=True),
                               diff=json.dumps(diff), reward_code=(task.get("reward") or {}).get("code") or "")

    async def one(index: int) -> dict[str, Any]:
        try:
            value, _ = await llm.chat_json(messages, role="critic")
        except LLMBadJSON as exc:
            return {"critic": index, "vote": None, "reason": f"unreadable vote: {exc.text[:100]!r}"}
        vote = str(value.get("vote", "")).strip().lower()
        return {"critic": index, "vote": vote if vote in VOTES else None, "reason": str(value.get("reason", ""))[:300],
                "instruction": value.get("instruction") if isinstance(value.get("instruction"), str) else None}

    votes = list(await asyncio.gather(*(one(i) for i in range(n))))
    decision = majority([v["vote"] for v in votes if v["vote"]])
    instruction = None
    if decision == "rewrite":
        instruction = next((v["instruction"].strip() for v in votes if v["vote"] == "rewrite" and v.get("instruction")
                            and v["instruction"].strip()), None)
        if instruction is None:
            decision = "keep"  # nobody said how to rewrite it
    return VoteResult(decision, votes, instruction)


# ---------------------------------------------------------------------- rollouts
@dataclass
class RolloutResult:
    successes: int = 0
    failures: int = 0
    infra: int = 0
    scores: list[float | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def pass_rate(self) -> float | None:
        judged = self.successes + self.failures
        return self.successes / judged if judged else None

    def decision(self, band: tuple[float, float]) -> str | None:
        """``None`` (kept) or the rejection reason."""
        rate = self.pass_rate
        if rate is None:
            return "rollout_infra"
        if rate < band[0]:
            return "rollout_too_hard"
        if rate > band[1]:
            return "rollout_too_easy"
        return None

    def to_json(self) -> dict[str, Any]:
        return {"successes": self.successes, "failures": self.failures, "infra": self.infra,
                "pass_rate": self.pass_rate, "scores": self.scores, "errors": self.errors[:5]}


def rollout_filter(task: Any, make_env: Callable[[], Any], make_agent: Callable[[Any], Any], k: int,
                   *, max_turns: int | None = None) -> RolloutResult:
    """Play ``task`` ``k`` times with fresh agents (one env, reset per episode) and score each final
    state with the task's reward (see the module docstring)."""
    from envgym.errors import InfraError
    from envgym.rewards import RewardResult, score_task
    from envgym.tasks import parse_task

    task = parse_task(task)
    result = RolloutResult()
    env = make_env()
    try:
        for episode in range(k):
            try:
                agent = make_agent(env)
                observation, info = env.reset(seed=episode, options={"task": task})
                initial = env.get_state()
                if hasattr(agent, "reset"):
                    agent.reset(observation, info)
                done, turns, trajectory = False, 0, []
                while not done:
                    action = agent.act(observation, info)
                    action = getattr(action, "action", action)  # envgym.agents.base.Decision
                    observation, reward, terminated, truncated, info = env.step(action)
                    trajectory.append({"action": action, "reward": float(reward)})
                    if info.get("infra_error"):
                        raise InfraError(str(info["infra_error"]))
                    turns += 1
                    done = terminated or truncated or (max_turns is not None and turns >= max_turns)
                final = env.get_state()
            except Exception as exc:  # noqa: BLE001 - env infra errors and agent crashes are infra, not failures
                result.infra += 1
                result.scores.append(None)
                result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            try:
                scored = score_task(task, initial, final, trajectory)
            except InfraError as exc:  # no isolation boundary: infra, never a failure
                scored = RewardResult(None, {}, str(exc))
            if scored.error is not None:
                result.infra += 1
                result.scores.append(None)
                result.errors.append(f"reward: {scored.error}"[:300])
            elif scored.success:
                result.successes += 1
                result.scores.append(scored.score)
            else:
                result.failures += 1
                result.scores.append(scored.score)
    finally:
        close = getattr(env, "close", None)
        if callable(close):
            close()
    return result


# ---------------------------------------------------------------------- dedup
_WORD = re.compile(r"[a-z0-9]+")


def normalise_instruction(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def instruction_similarity(a: str, b: str) -> float:
    """``max(jaccard(tokens(a), tokens(b)), SequenceMatcher(norm(a), norm(b)).ratio())``."""
    ta, tb = normalise_instruction(a), normalise_instruction(b)
    sa, sb = set(ta), set(tb)
    jaccard = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
    ratio = difflib.SequenceMatcher(None, " ".join(ta), " ".join(tb)).ratio()
    return max(jaccard, ratio)


class Deduplicator:
    """Keeps the first of each group of duplicates (see the module docstring).

    ``scope`` says which kept tasks an instruction is compared with: ``"global"`` (all of them) or
    ``"initial_state"`` (those with the same initial state) — for envs whose instructions are
    templates (Household: "put a clean apple in fridge." in a hundred different houses), where the
    same words in another world are another task.
    """

    def __init__(self, threshold: float = 0.92, scope: str = "global"):
        if scope not in ("global", "initial_state"):
            raise ValueError(f"scope must be 'global' or 'initial_state', got {scope!r}")
        self.threshold = float(threshold)
        self.scope = scope
        self.hashes: dict[str, str] = {}
        self.instructions: list[tuple[str, str, str]] = []

    @staticmethod
    def state_key(task: dict[str, Any]) -> str:
        return state_hash({"env_id": task.get("env_id"), "initial": _strip(task.get("initial_state")),
                           "golden": _strip((task.get("golden") or {}).get("state"))})

    def check(self, task: dict[str, Any]) -> tuple[str, str] | None:
        """``(reason, id of the kept task it duplicates)`` or ``None``."""
        key = self.state_key(task)
        if key in self.hashes:
            return "duplicate_state", self.hashes[key]
        initial = state_hash(_strip(task.get("initial_state")))
        for task_id, instruction, other_initial in self.instructions:
            if self.scope == "initial_state" and other_initial != initial:
                continue
            if instruction_similarity(instruction, task["instruction"]) >= self.threshold:
                return "duplicate_instruction", task_id
        return None

    def add(self, task: dict[str, Any]) -> None:
        self.hashes[self.state_key(task)] = task["task_id"]
        self.instructions.append((task["task_id"], task["instruction"], state_hash(_strip(task.get("initial_state")))))


def _strip(state: Any) -> Any:
    """A state without the fields that name the task (so two tasks' states compare by content)."""
    if isinstance(state, dict):
        return {k: v for k, v in state.items() if k not in ("task_id", "instruction")}
    return state


__all__ = ["Deduplicator", "LLMError", "RolloutResult", "VoteResult", "critic_vote", "instruction_similarity",
           "majority", "rollout_filter"]
