"""envgym/Maze-v0: API conformance, solvability, robustness to bad actions, state and anchors."""

from __future__ import annotations

import pytest
from gymnasium.utils.env_checker import check_env

import envgym
from envgym.agents import OracleAgent, run_episode
from envgym.agents.base import Agent
from envgym.envs.maze import MazeEnv
from envgym.envs.maze.layout import DIRECTIONS, can_move
from envgym.envs.maze.make_tasks import build_tasks

ENV_ID = "envgym/Maze-v0"
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


class ConstantAgent(Agent):
    """Sends the same action every turn."""

    def __init__(self, action):
        self.action = action

    def act(self, observation, info):
        return self.action


@pytest.fixture
def env():
    return envgym.make(ENV_ID)


@pytest.mark.parametrize("kwargs", [{}, {"view": "local", "width": 9, "height": 7, "loops": 3}])
def test_check_env_passes(kwargs):
    check_env(envgym.make(ENV_ID, **kwargs))


def test_task_file_has_40_tasks_from_3x3_to_12x12(env):
    sizes = {(t.spec["width"], t.spec["height"]) for t in env.tasks}
    assert len(env.tasks) == 40
    assert min(sizes) == (3, 3) and max(sizes) == (12, 12)
    assert {t.spec["difficulty"] for t in env.tasks} == {"easy", "medium", "hard"}


def test_task_generator_reproduces_the_shipped_file(env):
    assert [t.model_dump() for t in build_tasks()] == [t.model_dump() for t in env.tasks]


@pytest.mark.parametrize("prefer_replay", [True, False], ids=["golden", "planner"])
def test_oracle_solves_every_task(env, prefer_replay):
    for task in env.tasks:
        episode = run_episode(env, OracleAgent(env, prefer_replay=prefer_replay), task=task)
        assert episode.success, task.task_id
        assert len(episode.turns) == len(task.golden.actions), task.task_id
        assert episode.turns[-1].reward == 1.0 and episode.turns[-1].terminated


def test_oracle_solves_random_seeds(env):
    for seed in range(20):
        episode = run_episode(env, OracleAgent(env), seed=seed)
        assert episode.success, seed
        assert not any("action_error" in turn.info for turn in episode.turns)


def test_large_mazes_need_dozens_of_moves(env):
    for task in env.tasks.filter(width=12):
        env.reset(options={"task": task})
        assert env.unwrapped.shortest_path_length() >= 40, task.task_id


@pytest.mark.parametrize("kind", ["invalid", "wall"])
def test_idle_or_invalid_agent_fails_and_truncates_at_max_turns(env, kind):
    task = env.tasks["maze-3x3-0"]
    env.reset(options={"task": task})
    maze = env.unwrapped
    blocked = next(d for d in DIRECTIONS if not can_move(maze.rows, maze.pos, d))
    episode = run_episode(env, ConstantAgent("xyzzy" if kind == "invalid" else blocked), task=task)
    assert episode.success is False
    assert len(episode.turns) == env.unwrapped.max_turns == 4 * 3 * 3
    assert episode.turns[-1].truncated and not episode.turns[-1].terminated
    assert episode.turns[-1].info["success"] is False
    assert all(("action_error" in turn.info) == (kind == "invalid") for turn in episode.turns)


ABSURD_ACTIONS = [
    "",
    "   ",
    "x" * 100_000,
    "x" * 100_001,
    "🙃💥 ñöñ ✓ мир",
    "\x00north",
    None,
    42,
    3.5,
    ["north"],
    {"arguments": {"direction": "north"}},
    {"name": "move", "arguments": {"dir": "north"}},
    {"name": "move", "arguments": {"direction": 7}},
    {"name": "move", "arguments": "not json"},
    {"name": "teleport", "arguments": {"direction": "north"}},
    "move()",
    "move(north)",
    "move('sideways')",
    "go",
    "north east",
    b"\xff\xfe",
    "up(", "os.system('rm -rf /')", "f(**{'a': 1})", object(), float("nan"), {}, {"name": ""},
    {"name": "move", "arguments": [1, 2]}, {"name": "act", "arguments": {"command": "look", "x": 1}},
]


def test_absurd_actions_report_errors_and_never_raise(env):
    task = env.tasks["maze-5x5-0"]
    _, info = env.reset(options={"task": task})
    start_anchor = info["anchor"]
    for turn, action in enumerate(ABSURD_ACTIONS, start=1):
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["action_error"], repr(action)[:40]
        assert obs["last_action_error"] == info["action_error"]
        assert obs["text"].startswith("Invalid action:")
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert info["anchor"] == start_anchor and info["turn"] == turn
    episode = run_episode(env, OracleAgent(env, prefer_replay=False), task=task)
    assert episode.success


def test_unknown_word_lists_valid_moves(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step("jump")
    assert "north, south, east, west" in info["action_error"]


def test_every_action_form_moves_the_same_way(env):
    env.reset(options={"task": "maze-6x6-0"})
    direction = env.unwrapped.oracle_action()
    short = direction[0]
    arrow = {"north": "up", "south": "down", "east": "right", "west": "left"}[direction]
    forms = [direction, direction.upper(), short, arrow, f"go {direction}", f'move("{direction}")',
             f"move(direction='{direction}')", f"{direction}()",
             {"name": "move", "arguments": {"direction": direction}},
             {"name": "move", "arguments": f'{{"direction": "{short}"}}'}]
    state = env.unwrapped.get_state()
    _, _, _, _, expected = env.step(direction)
    for form in forms:
        env.unwrapped.set_state(state)
        _, _, _, _, info = env.step(form)
        assert "action_error" not in info, form
        assert info["anchor"] == expected["anchor"], form


def test_walking_into_a_wall_is_a_legal_no_op(env):
    _, info = env.reset(options={"task": "maze-4x4-0"})
    maze = env.unwrapped
    blocked = next(d for d in DIRECTIONS if not can_move(maze.rows, maze.pos, d))
    obs, reward, _, _, step_info = env.step(blocked)
    assert "action_error" not in step_info and obs["last_action_error"] == ""
    assert obs["text"].startswith("You bump into a wall.")
    assert step_info["anchor"] == info["anchor"]


def test_step_penalty_applies_to_every_move_but_the_last():
    env = envgym.make(ENV_ID, step_penalty=0.01)
    episode = run_episode(env, OracleAgent(env), task="maze-4x4-1")
    rewards = [turn.reward for turn in episode.turns]
    assert rewards[:-1] == [-0.01] * (len(rewards) - 1) and rewards[-1] == 1.0


def test_observation_shows_map_position_and_moves(env):
    obs, _ = env.reset(options={"task": "maze-3x3-0"})
    lines = obs["text"].splitlines()
    grid = lines[1:8]
    assert all(len(row) == 7 for row in grid)
    assert sum(row.count("A") for row in grid) == 1 and sum(row.count("G") for row in grid) == 1
    assert obs["admissible_actions"] == ["north", "south", "east", "west"]
    assert obs["instruction"].startswith("Reach the goal G")
    assert obs["tools"][0]["function"]["name"] == "move"


def test_local_view_hides_the_far_goal():
    env = envgym.make(ENV_ID, view="local", view_radius=1)
    obs, _ = env.reset(options={"task": "maze-12x12-0"})
    map_rows = [line for line in obs["text"].splitlines() if line and set(line) <= set("#.AG")]
    assert len(map_rows) <= 7 and all(len(row) <= 7 for row in map_rows)
    assert "G" not in "".join(map_rows) and "The goal is at" not in obs["text"]


def test_task_spec_sets_the_size(env):
    task = {"task_id": "tiny", "env_id": ENV_ID, "instruction": "Reach the goal G.", "seed": 3,
            "spec": {"width": 5, "height": 3, "max_turns": 11}}
    env.reset(options={"task": task})
    assert len(env.unwrapped.rows) == 7 and len(env.unwrapped.rows[0]) == 11
    assert env.unwrapped.max_turns == 11


def test_constructor_size_and_seed_determinism():
    first, second = envgym.make(ENV_ID, width=7, height=5), envgym.make(ENV_ID, width=7, height=5)
    obs_a, info_a = first.reset(seed=11)
    obs_b, info_b = second.reset(seed=11)
    assert obs_a == obs_b and info_a == info_b
    assert first.unwrapped.task.spec["width"] == 7 and first.unwrapped.task.spec["height"] == 5
    obs_c, info_c = first.reset(seed=12)
    assert info_c["task_id"] != info_a["task_id"] and obs_c["text"] != obs_a["text"]


def test_state_round_trip_on_a_fresh_env(env):
    task = env.tasks["maze-8x8-0"]
    env.reset(options={"task": task})
    for action in task.golden.actions[:10]:
        env.step(action)
    state = env.unwrapped.get_state()
    fresh = MazeEnv()
    fresh.set_state(state)
    assert fresh._observe() == env.unwrapped._observe()
    assert fresh.get_state() == state and fresh.anchor() == env.unwrapped.anchor()
    for action in task.golden.actions[10:]:
        assert fresh.step(action)[1:] == env.step(action)[1:]
    assert fresh.get_state() == env.unwrapped.get_state()


def test_anchor_depends_on_layout_and_position_only(env):
    task = env.tasks["maze-5x5-1"]
    _, first = env.reset(options={"task": task})
    direction = env.unwrapped.oracle_action()
    _, _, _, _, moved = env.step(direction)
    _, _, _, _, back = env.step(OPPOSITE[direction])
    assert moved["anchor"] != first["anchor"]
    assert back["anchor"] == first["anchor"] and back["turn"] != first["turn"]
    _, again = env.reset(options={"task": task})
    _, _, _, _, moved_again = env.step(direction)
    assert again["anchor"] == first["anchor"] and moved_again["anchor"] == moved["anchor"]
    _, other = env.reset(options={"task": "maze-5x5-2"})
    assert other["anchor"] != first["anchor"]


def test_info_subgoal_is_the_next_quarter_on_a_shortest_path_then_the_goal():
    from envgym.envs.maze.env import quarter

    env = envgym.make("envgym/Maze-v0", width=6, height=6).unwrapped
    _, info = env.reset(seed=3)
    subgoals, quarters = [info["subgoal"]], [quarter(env.pos, 6, 6)]
    while (move := env.oracle_action()) is not None:
        *_, info = env.step(move)
        subgoals.append(info["subgoal"])
        quarters.append(quarter(env.pos, 6, 6))
    assert subgoals[0] != "reach the goal" and subgoals[-1] == "reach the goal"
    for subgoal, here, there in zip(subgoals, quarters, quarters[1:]):
        if subgoal != "reach the goal":  # the path leaves this quarter: the subgoal names another one
            assert subgoal != f"reach the {here} quarter"
        if there != here:  # a shortest-path move into another quarter enters the one the subgoal named
            assert subgoal in (f"reach the {there} quarter", "reach the goal")
    _, info = env.reset(seed=4)  # another maze: nothing remembered from the last one
    assert env._subgoals == {env.pos: info["subgoal"]}
