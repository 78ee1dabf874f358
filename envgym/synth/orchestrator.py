"""The generator–discriminator loop for one candidate task.

Roles are prompts (:mod:`envgym.synth.roles`); this module is the code around them:

1. the **proposer** writes ``{"instruction", "spec"}``; the adapter validates the spec;
2. the **generator** (spec + state schema) writes ``{"initial_state", "golden_state"}`` and, at the
   same time, the **discriminator** (spec + instruction + state schema — never the generator's
   output) writes ``{"reward_code"}``;
3. :func:`envgym.synth.checks.verify` runs every check; the first failure becomes a structured review
   (check, reason code, message, expected vs actual) appended to the conversation of the side at
   fault, which answers again — up to ``max_rounds`` rounds in all.

Blindness is enforced, not just intended: the discriminator's messages are built from the proposal
and reviews only, reviews sent to it carry paths and scores but no state values, and
:func:`assert_blind` refuses to send a discriminator request that contains the generator's reply or
a generated state.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from envgym.hashing import canonical_json
from envgym.rewards import IsolationUnavailable
from envgym.synth.adapters import GenericAdapter, SpecError
from envgym.synth.checks import DISCRIMINATOR, GENERATOR, CheckConfig, CheckFailure, Verification, verify
from envgym.synth.llm import ChatClient, LLMBadJSON, LLMError
from envgym.synth.roles import Prompt, load_prompt


class BlindnessViolation(AssertionError):
    """A discriminator request would have shown it the generator's output."""


@dataclass
class SynthConfig:
    max_rounds: int = 3
    prompt_version: str = "v1"
    task_prefix: str | None = None
    checks: CheckConfig = field(default_factory=CheckConfig)
    temperature: float | None = None
    avoid_examples: int = 12


@dataclass
class Outcome:
    """The result of one candidate: accepted (with its task) or rejected (with the reason), or
    ``infra`` when the LLM endpoint failed (not a rejection; retried on resume)."""

    candidate: int
    status: str
    reason: str | None = None
    side: str | None = None
    task: dict[str, Any] | None = None
    instruction: str | None = None
    spec: dict[str, Any] | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    check_seconds: float = 0.0
    llm_seconds: float = 0.0
    error: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"stage": "candidate", "candidate": self.candidate, "status": self.status, "reason": self.reason,
                "side": self.side, "instruction": self.instruction, "spec": self.spec, "rounds": self.rounds,
                "task": self.task, "check_seconds": round(self.check_seconds, 4),
                "llm_seconds": round(self.llm_seconds, 4), "error": self.error}


@dataclass
class _Dialogue:
    """The generator's and the discriminator's conversations about one candidate, and their latest
    replies (the generator's raw text and JSON, the discriminator's reward code)."""

    generator: list[dict[str, Any]]
    discriminator: list[dict[str, Any]]
    gen_text: str = ""
    gen_reply: dict[str, Any] | None = None
    code: str | None = None


def _round_record(round_index: int, failure: CheckFailure | None, verification: Verification | None) -> dict[str, Any]:
    return {"round": round_index, "code": failure.code if failure else None,
            "side": failure.side if failure else None, "check": failure.check if failure else None,
            "message": failure.message[:300] if failure else None,
            "passed": verification.passed if verification else []}


class Orchestrator:
    """Runs candidates through propose → generate ∥ discriminate → verify → review rounds."""

    def __init__(self, adapter: GenericAdapter, llm: ChatClient, config: SynthConfig | None = None):
        self.adapter = adapter
        self.llm = llm
        self.config = config or SynthConfig()
        version = self.config.prompt_version
        family = adapter.family
        self.prompts: dict[str, Prompt] = {
            role: load_prompt(family, role, version, adapter.prompt_dir)
            for role in ("proposer", "generator", "discriminator", "critic", "review")
        }
        self.context = adapter.prompt_context()
        self.prefix = self.config.task_prefix or f"synth-{family}-"

    def task_id(self, candidate: int) -> str:
        return f"{self.prefix}{candidate:05d}"

    # ------------------------------------------------------------------ one candidate
    async def run_candidate(self, candidate: int, avoid: list[str] | None = None) -> Outcome:
        outcome = Outcome(candidate=candidate, status="rejected")
        try:
            await self._run(candidate, avoid or [], outcome)
        except LLMError as exc:
            outcome.status, outcome.reason, outcome.error = "infra", "llm_error", str(exc)[:500]
        except IsolationUnavailable as exc:  # no jail for reward code: infra, not a rejection
            outcome.status, outcome.reason, outcome.error = "infra", "isolation_unavailable", str(exc)[:500]
        return outcome

    async def _run(self, candidate: int, avoid: list[str], outcome: Outcome) -> None:
        proposal = await self._propose(candidate, avoid, outcome)
        if proposal is None:
            return
        instruction, spec = proposal
        outcome.instruction, outcome.spec = instruction, spec
        task_id = self.task_id(candidate)
        values = {**self.context, "spec": json.dumps(spec, indent=1, sort_keys=True), "instruction": instruction}
        talk = _Dialogue(self.prompts["generator"].messages(**values), self.prompts["discriminator"].messages(**values))
        redo = {GENERATOR, DISCRIMINATOR}
        last: CheckFailure | None = None
        for round_index in range(1, self.config.max_rounds + 1):
            await self._ask_round(talk, redo, outcome)
            failure, verification = await self._check_round(talk, spec, instruction, task_id, outcome)
            outcome.rounds.append(_round_record(round_index, failure, verification))
            if failure is None:
                assert verification is not None and talk.code is not None
                outcome.status, outcome.reason = "accepted", None
                outcome.task = self._task(candidate, task_id, instruction, spec, verification, talk.code, round_index)
                return
            last = failure
            redo = {failure.side}
            review = self._review(failure)
            (talk.generator if failure.side == GENERATOR else talk.discriminator).append({"role": "user", "content": review})
        assert last is not None
        outcome.status, outcome.reason, outcome.side = "rejected", last.code, last.side
        outcome.error = last.message[:500]

    async def _ask_round(self, talk: _Dialogue, redo: set[str], outcome: Outcome) -> None:
        """Ask the sides in ``redo`` (in parallel) and record their replies; the discriminator's
        messages are checked blind to everything the generator wrote."""
        jobs = []
        if GENERATOR in redo:
            jobs.append(self._ask(GENERATOR, talk.generator, outcome))
        if DISCRIMINATOR in redo:
            forbidden = [talk.gen_text] if talk.gen_text else []
            if talk.gen_reply is not None:
                forbidden += [canonical_json(v) for v in talk.gen_reply.values() if isinstance(v, dict)]
            assert_blind(talk.discriminator, forbidden)
            jobs.append(self._ask(DISCRIMINATOR, talk.discriminator, outcome))
        replies = await asyncio.gather(*jobs)
        for side, (value, text) in zip(sorted(redo, key=[GENERATOR, DISCRIMINATOR].index), replies):
            if side == GENERATOR:
                talk.generator.append({"role": "assistant", "content": text})
                talk.gen_text = text
                talk.gen_reply = value if isinstance(value, dict) else None
            else:
                talk.discriminator.append({"role": "assistant", "content": text})
                code = value.get("reward_code") if isinstance(value, dict) else None
                talk.code = code if isinstance(code, str) and code.strip() else None

    async def _check_round(self, talk: _Dialogue, spec: dict[str, Any], instruction: str, task_id: str,
                           outcome: Outcome) -> tuple[CheckFailure | None, Verification | None]:
        """The replies' shape, then (if usable) every check on the candidate they make."""
        failure = self._reply_problem(talk.gen_reply, talk.code)
        if failure is not None:
            return failure, None
        assert talk.gen_reply is not None
        verification = await asyncio.to_thread(
            verify, self.adapter, spec, instruction, talk.gen_reply["initial_state"], talk.gen_reply["golden_state"],
            talk.code, task_id=task_id, config=self.config.checks)
        outcome.check_seconds += verification.seconds
        return verification.failure, verification

    async def _propose(self, candidate: int, avoid: list[str], outcome: Outcome) -> tuple[str, dict[str, Any]] | None:
        recent = avoid[-self.config.avoid_examples:]
        messages = self.prompts["proposer"].messages(
            **self.context, index=str(candidate), avoid="\n".join(f"- {a}" for a in recent) if recent else "(none yet)")
        value, text = await self._ask("proposer", messages, outcome)
        problem = None
        if not isinstance(value, dict):
            problem = f"the reply holds no JSON object: {text[:200]!r}"
        elif not isinstance(value.get("instruction"), str) or not value["instruction"].strip():
            problem = "the reply needs a non-empty 'instruction'"
        elif not isinstance(value.get("spec"), dict):
            problem = "the reply needs a 'spec' object"
        if problem is None:
            try:
                spec = self.adapter.validate_spec(value["spec"])
            except SpecError as exc:
                problem = str(exc)
        if problem is not None:
            outcome.reason, outcome.side, outcome.error = "proposal_invalid", "proposer", problem[:500]
            outcome.rounds.append({"round": 0, "code": "proposal_invalid", "side": "proposer", "message": problem[:300]})
            return None
        return value["instruction"].strip(), spec

    async def _ask(self, role: str, messages: list[dict[str, Any]], outcome: Outcome) -> tuple[Any, str]:
        """``(parsed JSON object or None, reply text)``; endpoint failures raise :class:`LLMError`."""
        start = time.perf_counter()
        try:
            value, reply = await self.llm.chat_json(list(messages), role=role, temperature=self.config.temperature)
            return value, reply.text
        except LLMBadJSON as exc:
            return None, exc.text
        finally:
            outcome.llm_seconds += time.perf_counter() - start

    def _reply_problem(self, gen_reply: dict[str, Any] | None, code: str | None) -> CheckFailure | None:
        if gen_reply is None or "initial_state" not in gen_reply or "golden_state" not in gen_reply:
            return CheckFailure("generator_bad_reply", GENERATOR, "reply",
                                "reply with ONE JSON object {\"initial_state\": {...}, \"golden_state\": {...}}",
                                expected="initial_state and golden_state", actual=sorted(gen_reply) if gen_reply else "no JSON object")
        if code is None:
            return CheckFailure("discriminator_bad_reply", DISCRIMINATOR, "reply",
                                "reply with ONE JSON object {\"reward_code\": \"def reward(initial, final, trajectory=None): ...\"}",
                                expected="reward_code", actual="missing")
        return None

    def _review(self, failure: CheckFailure) -> str:
        """The review for the side at fault.  The discriminator's carries no state values."""
        expected, actual = failure.expected, failure.actual
        if failure.side == DISCRIMINATOR:
            expected, actual = _scores_only(expected), _scores_only(actual)
        return self.prompts["review"].render_user(
            check=failure.check, code=failure.code, message=failure.message,
            expected=json.dumps(expected, default=str)[:1500], actual=json.dumps(actual, default=str)[:1500])

    def _task(self, candidate: int, task_id: str, instruction: str, spec: dict[str, Any], verification: Verification,
              code: str, rounds: int) -> dict[str, Any]:
        from envgym.tasks import Golden, RewardSpec, Task

        solution = verification.solution
        task = Task(
            task_id=task_id,
            env_id=self.adapter.env_id,
            instruction=instruction,
            spec=spec,
            initial_state=verification.initial,
            golden=Golden(state=verification.golden, actions=list(solution.actions) if solution and solution.actions else None),
            # no limits in the task: whoever scores it sets them (envgym.rewards.RewardLimits)
            reward=RewardSpec(kind="python", code=code),
            verification={
                "checks": list(verification.passed),
                "scores": verification.scores,
                "changed_paths": [c.path for c in verification.changes],
                "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            provenance={
                "source": "envgym.synth",
                "model": self.llm.model,
                "prompts": {role: p.id for role, p in self.prompts.items()},
                "candidate": candidate,
                "rounds": rounds,
            },
        )
        return json.loads(task.model_dump_json())


def assert_blind(messages: list[dict[str, Any]], forbidden: list[str]) -> None:
    """Raise :class:`BlindnessViolation` if any ``forbidden`` text (the generator's reply, a generated
    state's canonical JSON) occurs in ``messages``."""
    blob = "\n".join(str(m.get("content", "")) for m in messages)
    compact = blob.replace(" ", "").replace("\n", "")
    for text in forbidden:
        if not text or len(text) < 16:
            continue
        if text in blob or text.replace(" ", "").replace("\n", "") in compact:
            raise BlindnessViolation("a discriminator request would contain the generator's output")


def _scores_only(value: Any) -> Any:
    """Keep numbers, paths and messages; drop anything that looks like a state."""
    if isinstance(value, dict):
        return {k: _scores_only(v) for k, v in value.items() if k in ("score", "components", "code", "message", "line", "path")}
    if isinstance(value, list):
        return [_scores_only(v) for v in value]
    return value
