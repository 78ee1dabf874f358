"""``envgym.adapters.gem``: envgym envs through GEM's own registry (``gem.make``) and its vectorised
loop (``gem.make_vec``, autoreset), with ``gem-llm`` in its own venv (it pins its dependencies)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import envgym
from envgym.interop.peer_venvs import peer_python

DRIVER = Path(__file__).parent / "support" / "gem_driver.py"


def test_maze_through_gem_make_vec_matches_in_process():
    kwargs = {"width": 5, "height": 5, "max_turns": 3}
    rounds = [["north", "east"], ['<tool_call>{"name": "move", "arguments": {"direction": "south"}}</tool_call>', "west"],
              ["east", "east"], ["south", "south"]]
    done = subprocess.run([peer_python("gem"), str(DRIVER), json.dumps(
        {"env_id": "envgym/Maze-v0", "env_kwargs": kwargs, "seed": 7, "rounds": rounds})],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    moves = [["north", {"name": "move", "arguments": {"direction": "south"}}, "east"], ["east", "west", "east"]]
    for index, seed in enumerate((7, 8)):  # make_vec seeds env i with seed + i
        env = envgym.make("envgym/Maze-v0", **kwargs)
        obs, _ = env.reset(seed=seed)
        assert got["reset"][index] == obs["text"]
        if index == 0:
            assert got["single_reset"] == obs["text"]
        for step, action in enumerate(moves[index]):
            obs, reward, terminated, truncated, _ = env.step(action)
            text, *outcome = got["steps"][step][index]
            assert outcome == [reward, terminated, truncated]
            if step < 2:
                assert text == obs["text"]
        assert truncated  # max_turns=3 ends the episode; GEM's same-step autoreset shows the next one's start
        assert got["steps"][2][index][0] != obs["text"] and "Task: Reach the goal" in got["steps"][2][index][0]
        assert got["steps"][3][index][1:] == [0.0, False, False]  # the new episode steps on
        env.close()
