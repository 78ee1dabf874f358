"""Every web app's task set: well-formed, deterministic, solved by its oracle through the real browser
(100%), and scored 0 when the agent does nothing or acts at random."""

from __future__ import annotations

import random
import re
from collections import defaultdict

import pytest

import playwright.async_api  # noqa: F401,E402  (installed by scripts/install-browser.sh; never skipped)

from envgym.browser import chromium_path  # noqa: E402

chromium_path()  # raises BrowserUnavailable with install instructions: a missing browser fails the suite

from envgym.agents import run_episode  # noqa: E402
from envgym.agents.oracle import OracleAgent  # noqa: E402
from envgym.hashing import state_hash  # noqa: E402
from envgym.envs.web.calendar import CalendarEnv  # noqa: E402
from envgym.envs.web.mail import MailEnv  # noqa: E402
from envgym.envs.web.shop import ShopEnv  # noqa: E402
from envgym.envs.web.taskboard import TaskBoardEnv  # noqa: E402

APPS = {"envgym/WebShop-v0": ShopEnv, "envgym/WebMail-v0": MailEnv, "envgym/WebCalendar-v0": CalendarEnv,
        "envgym/WebTaskBoard-v0": TaskBoardEnv}
BID_LINE = re.compile(r"^\s*\[([^\]]+)\] (\w+)", re.M)


@pytest.fixture(scope="module", params=list(APPS), ids=lambda i: i.split("/")[1])
def env(request):
    env = APPS[request.param]()
    env.env_id = request.param
    yield env
    env.close()


def initial_state(env, task) -> dict:
    return task.initial_state if task.initial_state is not None else env.app.generate(task.seed or 0).model_dump(mode="json")


def test_task_set_is_well_formed_and_varied(env):
    tasks = list(env.tasks)
    assert len(tasks) >= 25, f"{env.env_id} ships only {len(tasks)} tasks"
    assert all(t.env_id == env.env_id for t in tasks)
    assert all(t.golden.actions and str(t.golden.actions[-1]).startswith("answer(") for t in tasks)
    steps = sorted(t.spec["steps"] for t in tasks)
    assert steps[0] <= 4 and steps[-1] >= 7, steps
    assert len({t.spec["type"] for t in tasks}) >= 4
    for t in tasks:  # the initial state loads (schema-valid) and the seed reproduces it
        env.app.set_state(initial_state(env, t))
    assert state_hash(env.app.generate(1).model_dump(mode="json")) == state_hash(env.app.generate(1).model_dump(mode="json"))
    assert state_hash(env.app.generate(1).model_dump(mode="json")) != state_hash(env.app.generate(2).model_dump(mode="json"))


def test_doing_nothing_scores_zero_on_every_task(env):
    for t in env.tasks:
        state = initial_state(env, t)
        for answer in ("", "done"):
            score, components = env.score(t, state, state, answer)
            assert score == 0.0, (t.task_id, answer, components)
    # and through the browser: answer("") straight away
    for t in list(env.tasks)[:3]:
        env.reset(options={"task": t})
        _, reward, terminated, _, info = env.step('answer("")')
        assert terminated and reward == 0.0 and info["success"] is False


def test_oracle_solves_every_task_through_the_browser(env):
    agent = OracleAgent(env)
    failures = {}
    for t in env.tasks:
        episode = run_episode(env, agent, task=t)
        if not episode.success:
            errors = [(turn.action, turn.info.get("action_error")) for turn in episode.turns if turn.info.get("action_error")]
            failures[t.task_id] = (episode.infra_error, errors[:2], episode.turns[-1].info.get("score") if episode.turns else None)
        else:
            assert episode.turns[-1].reward == 1.0
            assert all(not turn.info.get("action_error") for turn in episode.turns), t.task_id
    assert not failures, failures


def random_action(rng: random.Random, axtree: str) -> str:
    items = BID_LINE.findall(axtree)
    bid, role = rng.choice(items)
    if role in ("textbox", "searchbox", "spinbutton") and rng.random() < 0.7:
        return f'fill("{bid}", "{rng.choice(["test", "42", "hello world", "2024-07-01"])}")'
    if role == "combobox":
        options = re.search(rf"\[{re.escape(bid)}\] combobox .*?options=\[(.*?)\]", axtree)
        labels = re.findall(r"'((?:[^'\\]|\\.)*)'", options.group(1)) if options else []
        if labels:
            return f'select("{bid}", {rng.choice(labels)!r})'
    return f'click("{bid}")'


def test_random_actions_score_zero_on_every_task(env):
    """Random episodes (4 random element actions) from each distinct initial state; every task that
    starts from that state must score 0 on the resulting final states, whatever is answered."""
    groups = defaultdict(list)
    for t in env.tasks:
        groups[(t.seed, state_hash(t.initial_state) if t.initial_state else None, t.spec["start_path"])].append(t)
    rng = random.Random(0)
    for group in groups.values():
        for _ in range(2):
            obs, _ = env.reset(options={"task": group[0]})
            for _ in range(4):
                obs, *_ = env.step(random_action(rng, obs.get("axtree", "")))
            final = env.get_state()
            for t in group:
                for answer in ("", "lorem ipsum"):
                    score, components = env.score(t, env.initial_state, final, answer)
                    assert score == 0.0, (t.task_id, answer, components)
