"""Every desktop task, in its app in the desktop container: answering at once (a no-op agent) scores 0,
the oracle — the task's plan played through pixel and keyboard actions located on the live screen —
scores 1, and a random agent scores 0."""

from __future__ import annotations

import pytest

import envgym
from envgym.agents.loop import run_episode
from envgym.agents.random_agent import RandomAgent
from envgym.containers.images import build_image
from envgym.oracle import roll_out

pytestmark = pytest.mark.timeout(1500)
APPS = ["envgym/DesktopMousepad-v0", "envgym/DesktopGnumeric-v0", "envgym/DesktopPCManFM-v0"]


@pytest.fixture(scope="module")
def desktop_tag(engine):
    return build_image("desktop")


@pytest.mark.parametrize("env_id", APPS, ids=lambda i: i.split("/")[1])
def test_every_task_scores_0_untouched_and_1_with_the_oracle(desktop_tag, env_id):
    reader = envgym.make(env_id)  # here: the task set only (the apps run in the container)
    tasks = list(reader.unwrapped.tasks)
    reader.close()
    env = envgym.make(env_id, runtime="container", image=desktop_tag)
    steps = sorted(t.spec["steps"] for t in tasks)
    assert len(tasks) >= 20 and steps[0] == 1 and steps[-1] >= 15, steps
    failures = {}
    try:
        for task in tasks:
            env.reset(options={"task": task.task_id})
            _, reward, terminated, _, info = env.step('answer("done")')
            if not terminated or reward != 0.0:
                failures[task.task_id] = f"answering at once scored {reward}: {info.get('score')}"
                continue
            env.reset(options={"task": task.task_id})
            run = roll_out(env)
            if not run.success or run.info.get("score", {}).get("reward") != 1.0:
                failures[task.task_id] = f"oracle: {run.error or run.info.get('score')} after {run.actions[-3:]}"
        for task in tasks[:3]:
            episode = run_episode(env, RandomAgent(seed=7), task=task.task_id)
            if episode.success or episode.total_return > 0 or episode.infra_error:
                failures[f"random {task.task_id}"] = f"return {episode.total_return}, {episode.infra_error}"
    finally:
        env.close()
    assert not failures, failures
