"""Agent turn overhead, model time excluded: prints JSON.

An :class:`envgym.agents.llm.LLMAgent` (and the HiPER agent) run against a :class:`ScriptedBackend` that
returns a fixed completion instantly; only the agent's own work per turn is timed — building the
prompt ids (``prepare``: user message, chat-template delta, tokenising it, window rebuilds) and reading
the completion (``finish``: decode, parse, masks).  For each history length ``H`` the agent plays
``H`` turns of an episode; we report the mean over all turns and the cost of the last turn (whose
history is ``H - 1`` turns long), repeated ``--repeats`` times (median of the repeats).

    python bench/agent_overhead.py [--repeats 5] [--histories 1 10 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from envgym.agents.backends import ScriptedBackend  # noqa: E402
from envgym.agents.hierarchical import HierarchicalAgent  # noqa: E402
from envgym.agents.llm import LLMAgent  # noqa: E402
from envgym.agents.tiny_policy import build_tiny_policy  # noqa: E402

OBSERVATION_TEXT = (
    "You are in the kitchen. Looking around, you see a fridge 1, a countertop 1, a countertop 2, "
    "a cabinet 1, a drawer 1, a sinkbasin 1 and a microwave 1. On the countertop 1 you see an apple 1 "
    "and a mug 2. The fridge 1 is closed."
)
ADMISSIBLE = ["go to fridge 1", "open fridge 1", "take apple 1 from countertop 1", "look", "inventory"]


def _observation(turn: int) -> dict:
    return {"text": f"Turn {turn}. {OBSERVATION_TEXT}", "instruction": "put a clean apple in the fridge",
            "admissible_actions": ADMISSIBLE}


def _one_run(make_agent, history: int) -> tuple[list[float], int]:
    agent = make_agent()
    agent.reset(_observation(0), {})
    times = []
    prompt_len = 0
    for turn in range(history):
        observation = _observation(turn)
        start = time.perf_counter()
        request = agent.prepare(observation, {})
        mid = time.perf_counter()
        generation = agent.backend.generate([request])[0]  # not timed: the "model"
        resume = time.perf_counter()
        agent.finish(generation)
        end = time.perf_counter()
        times.append((mid - start) + (end - resume))
        prompt_len = len(request.prompt_ids)
    return times, prompt_len


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--histories", type=int, nargs="+", default=[1, 10, 50])
    args = parser.parse_args()

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(build_tiny_policy()))
    flat = "Go for the apple first. <action>take apple 1 from countertop 1</action>"
    hiper = "<switch>KEEP</switch><subgoal>take the apple</subgoal><action>take apple 1 from countertop 1</action>"

    def backend(reply: str) -> ScriptedBackend:
        return ScriptedBackend(tokenizer, [reply], cycle=True)

    configs = {
        "llm_full_history": lambda: LLMAgent(backend(flat), window=None),
        "llm_window_8": lambda: LLMAgent(backend(flat), window=8),
        "llm_summary_8": lambda: LLMAgent(backend(flat), memory="summary", window=8),
        "hiper_window_8": lambda: HierarchicalAgent(backend(hiper), window=8),
    }
    results = {}
    for name, make_agent in configs.items():
        rows = {}
        for history in args.histories:
            means, lasts, prompt_len = [], [], 0
            for _ in range(args.repeats):
                times, prompt_len = _one_run(make_agent, history)
                means.append(statistics.fmean(times))
                lasts.append(times[-1])
            rows[str(history)] = {
                "mean_turn_us": round(statistics.median(means) * 1e6, 1),
                "last_turn_us": round(statistics.median(lasts) * 1e6, 1),
                "last_prompt_tokens": prompt_len,
            }
        results[name] = rows
    print(json.dumps({
        "bench": "agent_overhead",
        "what": "agent-side time per turn (prepare + finish), model time excluded; median of repeats",
        "completion_tokens": {"llm": len(tokenizer.encode(flat)) + 1, "hiper": len(tokenizer.encode(hiper)) + 1},
        "repeats": args.repeats,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()
