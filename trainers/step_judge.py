"""Step judges: grade every turn of a curated batch so the learner drops the turns graded wrong
(WebSTAR-style step filtering; ``data.step_judge`` in the config).

* ``env`` — the env's own grade of each step, ``info["step_grade"]`` (Household: the step completed
  a subgoal or was the reference planner's command; Maze: it brought the agent closer to the goal);
* ``llm`` — an LLM behind an OpenAI-compatible endpoint reads the task, what the agent saw, the action
  and what happened, and answers ``GOOD`` or ``BAD`` (1 / 0).

:meth:`StepJudge.annotate` writes ``turn.extra["step_grade"]`` (NaN = not graded) and
``turn.extra["step_keep"]`` (``grade ≥ threshold``; ungraded turns kept unless
``keep_ungraded=false``), and returns the batch's metrics: ``judge/graded`` and ``judge/kept``
(fractions of turns), ``judge/agreement`` (the LLM judge against the env's grade, over turns both
graded) and ``judge/errors`` (LLM calls that failed: those turns stay ungraded, a judge outage never
drops data; the last failure's text is kept in ``LLMStepJudge.last_error`` and logged once).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
from typing import Any

import numpy as np

from envgym.trajectory import Episode, Turn
from envgym.trainers.algorithms.filters import judge_step_filter
from envgym.trainers.config import StepJudgeConfig

JUDGE_SYSTEM = (
    "You grade one step of an agent working on a task in a text environment. Answer with one word: "
    "GOOD if the action moves the agent towards finishing the task (or is a sensible way to look for "
    "what it needs), BAD if it is useless, repeats itself or goes the wrong way."
)
log = logging.getLogger(__name__)
_VERDICT = re.compile(r"\b(GOOD|BAD)\b", re.IGNORECASE)


class StepJudge:
    """Grades turns (see the module docstring); :meth:`grade` is what a kind implements."""

    def __init__(self, config: StepJudgeConfig):
        self.config = config

    def grade(self, episodes: list[Episode]) -> list[list[float]]:
        """One grade in [0, 1] per turn of each episode (NaN = not graded)."""
        raise NotImplementedError

    def annotate(self, episodes: list[Episode]) -> dict[str, float]:
        grades = self.grade(episodes)
        flat = np.array([g for per_episode in grades for g in per_episode], dtype=np.float64)
        keep = judge_step_filter(flat, self.config.threshold, keep_ungraded=self.config.keep_ungraded)
        k = 0
        for episode, per_episode in zip(episodes, grades):
            for turn, grade in zip(episode.turns, per_episode):
                turn.extra["step_grade"] = grade
                turn.extra["step_keep"] = bool(keep[k])
                k += 1
        metrics = {"judge/turns": float(flat.size)}
        if flat.size:
            metrics.update({"judge/graded": float(np.isfinite(flat).mean()), "judge/kept": float(keep.mean())})
        return metrics

    def agreement(self, episodes: list[Episode]) -> dict[str, float]:
        """How often this judge's verdict matches the env's own ``step_grade`` (turns both graded)."""
        grades = np.array([t.extra.get("step_grade", math.nan) for ep in episodes for t in ep.turns], dtype=np.float64)
        env = np.array([_env_grade(t) for ep in episodes for t in ep.turns], dtype=np.float64)
        both = np.isfinite(env) & np.isfinite(grades)
        if not both.any():
            return {}
        thr = self.config.threshold
        return {"judge/agreement": float(((env[both] >= thr) == (grades[both] >= thr)).mean())}

    def close(self) -> None:
        """Release what the judge holds (connections)."""


class EnvStepJudge(StepJudge):
    """The env's ``info["step_grade"]``."""

    def grade(self, episodes: list[Episode]) -> list[list[float]]:
        return [[_env_grade(turn) for turn in episode.turns] for episode in episodes]


class LLMStepJudge(StepJudge):
    """An LLM over an OpenAI-compatible ``/chat/completions`` endpoint (``envgym.synth.llm.ChatClient``:
    retries, timeouts, bounded concurrency); all turns of a batch are graded concurrently."""

    def __init__(self, config: StepJudgeConfig):
        super().__init__(config)
        from envgym.loop_thread import LoopThread

        self.loop = LoopThread("envgym-step-judge")
        self.errors = 0
        self.last_error: str | None = None
        self._client: Any = None

    def grade(self, episodes: list[Episode]) -> list[list[float]]:
        prompts = [[judge_messages(ep, i) for i in range(len(ep.turns))] for ep in episodes]
        flat = [m for per_episode in prompts for m in per_episode]
        verdicts = self.loop.run(self._grade_all(flat), timeout=self.config.timeout_s * 4 + 60)
        out, k = [], 0
        for per_episode in prompts:
            out.append(verdicts[k : k + len(per_episode)])
            k += len(per_episode)
        return out

    def annotate(self, episodes: list[Episode]) -> dict[str, float]:
        before = self.errors
        metrics = super().annotate(episodes)
        metrics["judge/errors"] = float(self.errors - before)
        metrics.update(self.agreement(episodes))
        return metrics

    async def _grade_all(self, messages: list[list[dict[str, str]]]) -> list[float]:
        if self._client is None:
            from envgym.synth.llm import ChatClient

            c = self.config
            key = os.environ.get(c.api_key_env) if c.api_key_env else None
            self._client = ChatClient(c.base_url, c.model, api_key=key, timeout=c.timeout_s, max_concurrency=c.max_concurrency,
                                      json_mode=False, temperature=0.0, max_tokens=8)
        return list(await asyncio.gather(*(self._one(m) for m in messages)))

    async def _one(self, messages: list[dict[str, str]]) -> float:
        from envgym.synth.llm import LLMError

        try:
            reply = await self._client.chat(messages, role="step_judge")
        except LLMError as exc:
            if self.last_error is None:
                log.warning("step judge at %s failed (the step stays ungraded): %s", self.config.base_url, exc)
            self.errors += 1
            self.last_error = str(exc)
            return math.nan
        match = _VERDICT.search(reply.text or "")
        return math.nan if match is None else float(match.group(1).upper() == "GOOD")

    def close(self) -> None:
        if self._client is not None:
            self.loop.run(self._client.aclose(), timeout=10)
            self._client = None
        if self.loop.alive:
            self.loop.stop()


def judge_messages(episode: Episode, index: int) -> list[dict[str, str]]:
    """The chat messages asking for a verdict on turn ``index`` of ``episode``."""
    turn = episode.turns[index]
    after = episode.turns[index + 1].observation if index + 1 < len(episode.turns) else {}
    outcome = _text(after) or ("The task is complete." if turn.terminated and episode.success else "(episode over)")
    error = turn.info.get("action_error")
    user = "\n".join([
        f"Task: {_instruction(episode, turn)}",
        f"What the agent saw:\n{_text(turn.observation) or '(not stored)'}",
        f"Action: {turn.action}",
        f"What happened:\n{'Invalid action: ' + str(error) if error else outcome}",
        "Is this step GOOD or BAD?",
    ])
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def make_step_judge(config: StepJudgeConfig) -> StepJudge | None:
    if config.kind == "none":
        return None
    if config.kind == "env":
        return EnvStepJudge(config)
    return LLMStepJudge(config)


def _env_grade(turn: Turn) -> float:
    value = turn.info.get("step_grade")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _text(observation: dict[str, Any]) -> str:
    return str(observation.get("text", "")).strip() if observation else ""


def _instruction(episode: Episode, turn: Turn) -> str:
    return str(turn.observation.get("instruction") or episode.reset_info.get("instruction") or episode.task_id or "?")
