"""``envgym/Household-v0``: an ALFWorld-style text household.

**World.**  Built from the task seed (:mod:`envgym.envs.household.generate`): a kitchen plus bedroom,
living room and/or bathroom, each with receptacles (countertop, fridge, microwave, sinkbasin,
cabinet 1..n, drawer 1..n, diningtable, shelf, desk with desklamp 1, garbagecan, ...).  Fridges,
microwaves, cabinets and drawers start closed and hide what they hold.  Objects (apple, mug, book,
cd, ...) lie in receptacles.  The agent starts in the middle of the house and holds one object at
a time.

**Goals** (ALFWorld's six types, :mod:`envgym.envs.household.goals`): ``pick_and_place``,
``pick_clean_then_place``, ``pick_heat_then_place``, ``pick_cool_then_place``,
``look_at_obj_in_light`` and ``pick_two_obj_and_place``.  A task's ``spec`` names the type and
optionally the object and receptacle kinds and ``difficulty`` (easy / medium / hard).

**Actions** (:mod:`envgym.envs.household.commands`): ALFWorld commands as text — ``go to fridge 1``,
``open fridge 1``, ``take apple 1 from countertop 1``, ``put apple 1 in/on fridge 1``,
``clean apple 1 with sinkbasin 1``, ``heat ...``, ``cool ...``, ``use desklamp 1``, ``examine X``,
``inventory``, ``look`` — or the tool call ``{"name": "act", "arguments": {"command": "..."}}``.
Unknown verbs or names and impossible commands are invalid actions whose message says why
("Nothing happens: the fridge 1 is closed.").

**Observations.**  ``text``: the feedback of the last command, what the agent sees where it stands
("On the countertop 1, you see a apple 1, and a mug 2."), where it is and what it carries, and the
task ("Your task is to: put a clean apple in fridge.").  ``admissible_actions``: every command that
succeeds now.  ``instruction``: the task.  ``tools``: the ``act`` schema.

**Rewards.**  ``1.0`` and ``success=True`` when the goal holds (the episode terminates).  Each task
decomposes into subgoals (find -> take -> clean/heat/cool -> place, ...); ``info["subgoal"]`` names
the current one at reset and after every step, and each completed intermediate subgoal pays
``subgoal_reward`` (default ``0``; subgoals never count twice).

**Subgoals for planners.**  ``admissible_subgoals`` (observation): every subgoal that can be stated
about the task's object and receptacle (:func:`envgym.envs.household.goals.candidate_subgoals`, the
same list all episode long), so a hierarchical agent chooses its subgoal among them.

**Step grade.**  ``info["step_grade"]`` after every step: ``1.0`` when the step completed a subgoal
or was the reference planner's next command, else ``0.0`` (a step judge for step filtering).

**State.**  ``get_state()`` is the full JSON state; ``anchor()`` hashes the goal and the world (agent
location, held object, object places and states, open receptacles, lamp) without the turn count.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from envgym import Env, InvalidAction, Task, Transition, function_tool
from envgym.actions import Call
from envgym.hashing import state_hash
from envgym.observation import Observation
from envgym.tasks import TaskSet, check_split, split_of

from envgym.envs.household import commands, planner
from envgym.envs.household.generate import DIFFICULTIES, build_world, choose_goal, spec_for
from envgym.envs.household.goals import GOAL_TYPES, Goal, candidate_subgoals
from envgym.envs.household.world import World

ENV_ID = "envgym/Household-v0"
ACT_TOOL = function_tool(
    "act",
    "Carry out one household command, e.g. 'go to fridge 1' or 'take apple 1 from countertop 1'.",
    {"command": {"type": "string"}},
)


def command_text(call: Call) -> str:
    """The command text of an action: the text itself, or the ``command`` of an ``act`` tool call."""
    if not call.is_call:
        return call.text
    if call.name != "act":
        raise InvalidAction(
            f"unknown tool {call.name[:40]!r}. Send a command as text (e.g. 'go to fridge 1') "
            "or call the tool act with {\"command\": \"go to fridge 1\"}."
        )
    unexpected = set(call.kwargs) - {"command"}
    if unexpected:
        raise InvalidAction(f"act() takes only 'command', got {sorted(unexpected)[:3]}")
    command = call.argument(0, "command")
    if not isinstance(command, str) or not command.strip():
        raise InvalidAction(f"act() needs a non-empty command string, got {command!r:.40}")
    return command


class HouseholdEnv(Env):
    """ALFWorld-style household; see the module docstring."""

    default_task_file = "tasks.jsonl"
    default_max_turns = 50

    def __init__(
        self,
        *,
        difficulty: str | None = None,
        goal_types: tuple[str, ...] | list[str] = GOAL_TYPES,
        subgoal_reward: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if difficulty is not None and difficulty not in DIFFICULTIES:
            raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
        unknown = set(goal_types) - set(GOAL_TYPES)
        if unknown or not goal_types:
            raise ValueError(f"goal_types must be a non-empty subset of {GOAL_TYPES}, got {goal_types!r}")
        self.difficulty = difficulty
        self.goal_types = tuple(goal_types)
        self.subgoal_reward = float(subgoal_reward)
        self.world: World | None = None
        self.goal: Goal | None = None
        self.instruction = ""
        self.subgoals_done = 0

    # ------------------------------------------------------------------ tasks
    def sample_task(self) -> Task:
        """A fresh procedural task drawn with ``np_random`` (so ``reset(seed=s)`` is deterministic)."""
        rng = self.np_random
        goal_type = self.goal_types[int(rng.integers(len(self.goal_types)))]
        difficulty = self.difficulty or DIFFICULTIES[int(rng.integers(len(DIFFICULTIES)))]
        seed = int(rng.integers(2**31))
        goal = choose_goal(seed, goal_type)
        return Task(
            task_id=f"household-{goal_type}-seed{seed}",
            env_id=ENV_ID,
            instruction=goal.instruction(),
            seed=seed,
            spec=spec_for(goal, difficulty),
        )

    def task_split(self, name: str, limit: int | None = None) -> TaskSet:
        """Procedural split ``name``: the goal instance (type, object, receptacle) decides the split
        (a test goal is never a training goal) and the two splits draw their houses from disjoint seed
        ranges (unseen room layouts and object placements).  Goal types round-robin over the env's
        ``goal_types``, difficulty is the env's (or cycles easy/medium/hard).  ``limit`` = number of
        tasks (default 1,200 train / 240 test).  Ids resolve anywhere (:meth:`task_from_id`)."""
        check_split(name)
        total = limit or (1200 if name == "train" else 240)
        tasks: list[Task] = []
        seed = SPLIT_SEED_BASE[name]
        while len(tasks) < total:
            goal_type = self.goal_types[len(tasks) % len(self.goal_types)]
            difficulty = self.difficulty or DIFFICULTIES[(len(tasks) // len(self.goal_types)) % len(DIFFICULTIES)]
            task = split_task(name, goal_type, difficulty, seed)
            seed += 1
            if goal_split(task) == name:
                tasks.append(task)
        return TaskSet(tasks, source=f"{ENV_ID} [{name}]")

    def task_from_id(self, task_id: str) -> Task:
        match = _SPLIT_ID.match(task_id)
        if match is None:
            return super().task_from_id(task_id)
        split, goal_type, difficulty, seed = match[1], match[2], match[3], int(match[4])
        if goal_type not in GOAL_TYPES or difficulty not in DIFFICULTIES:
            raise KeyError(f"no task {task_id!r}: unknown goal type or difficulty")
        task = split_task(split, goal_type, difficulty, seed)
        if goal_split(task) != split or not SPLIT_SEED_BASE[split] <= seed < SPLIT_SEED_BASE[split] + SPLIT_SEED_SPAN:
            raise KeyError(f"no task {task_id!r}: seed {seed} does not belong to the {split} split")
        return task

    def tool_names(self) -> list[str]:
        return ["act"]

    # ------------------------------------------------------------------ hooks
    def _reset(self, task: Task) -> dict[str, Any]:
        self.instruction = task.instruction
        if task.initial_state is not None:
            self._load_state(task.initial_state)
        else:
            seed = _task_seed(task)
            spec = task.spec
            if "type" not in spec:
                raise ValueError(f"task {task.task_id!r}: spec needs a goal 'type' ({', '.join(GOAL_TYPES)})")
            self.goal = choose_goal(seed, spec["type"], spec.get("object"), spec.get("receptacle"))
            difficulty = spec.get("difficulty") or self.difficulty or "medium"
            self.world = build_world(seed, self.goal, difficulty)
            self.subgoals_done = self.goal.advance(self.world, 0)
        return {}

    def _step(self, call: Call) -> Transition:
        command = command_text(call)
        planned = planner.next_command(self.world, self.goal)
        feedback = commands.execute(self.world, command)
        before = self.subgoals_done
        self.subgoals_done = self.goal.advance(self.world, before)
        success = self.goal.satisfied(self.world)
        last = len(self.goal.subgoals()) - 1  # the goal itself pays 1.0, not the subgoal reward
        reward = self.subgoal_reward * (min(self.subgoals_done, last) - min(before, last))
        if success:
            reward += 1.0
        if success:
            feedback = f"{feedback} You completed the task!".strip()
        on_plan = self.subgoals_done > before or " ".join(command.split()) == planned
        return Transition(reward=reward, terminated=success, success=success, feedback=feedback,
                          info={"step_grade": 1.0 if on_plan else 0.0})

    def _info(self) -> dict[str, Any]:
        """``info["subgoal"]`` and progress on every step, invalid ones included."""
        return self._subgoal_info()

    def _observe(self) -> Observation:
        world = self.world
        text = "\n".join([world.describe_location(), world.status_line(), f"Your task is to: {self.instruction}"])
        return {
            "text": text,
            "admissible_actions": commands.admissible(world),
            "admissible_subgoals": candidate_subgoals(self.goal),
            "instruction": self.instruction,
            "tools": [ACT_TOOL],
        }

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        return {
            "task_id": self.task.task_id if self.task is not None else None,
            "instruction": self.instruction,
            "goal": _goal_json(self.goal),
            "world": self.world.to_json(),
            "subgoals_done": self.subgoals_done,
            "turn": self.turn,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Load a state from :meth:`get_state`.  On an env without a task (or with another task), a
        task is made from the state, so the env can step right away."""
        self._load_state(state)
        self.instruction = str(state.get("instruction") or self.goal.instruction())
        if self.task is None or (state.get("task_id") and state["task_id"] != self.task.task_id):
            self.task = Task(
                task_id=str(state.get("task_id") or f"household-state-{state_hash(state)[:12]}"),
                env_id=ENV_ID,
                instruction=self.instruction,
                spec=spec_for(self.goal, self.difficulty or "medium"),
            )
        self._set_progress(turn=int(state.get("turn", 0)), episode_over=self.goal.satisfied(self.world))

    def anchor(self) -> str:
        """Hash of the goal and the world (no turn count, no subgoal progress)."""
        return "household:" + state_hash({"goal": _goal_json(self.goal), "world": self.world.to_json()})[:24]

    def oracle_action(self) -> str | None:
        """The reference planner's next command (:mod:`envgym.envs.household.planner`)."""
        return planner.next_command(self.world, self.goal)

    # ------------------------------------------------------------------ helpers
    def _load_state(self, state: dict[str, Any]) -> None:
        goal = state["goal"]
        self.goal = Goal(goal["type"], goal["object"], goal.get("receptacle"))
        self.world = World.from_json(state["world"])
        self.subgoals_done = self.goal.advance(self.world, int(state.get("subgoals_done", 0)))

    def _subgoal_info(self) -> dict[str, Any]:
        return {"subgoal": self.goal.current_subgoal(self.subgoals_done), "subgoals_done": self.subgoals_done}


SPLIT_SEED_BASE = {"train": 100_000_000, "test": 200_000_000}
SPLIT_SEED_SPAN = 100_000_000
_SPLIT_ID = re.compile(r"household-(train|test)-([a-z_]+)-(easy|medium|hard)-s(\d+)$")


def split_task(split: str, goal_type: str, difficulty: str, seed: int) -> Task:
    goal = choose_goal(seed, goal_type)
    return Task(task_id=f"household-{split}-{goal_type}-{difficulty}-s{seed}", env_id=ENV_ID,
                instruction=goal.instruction(), seed=seed, spec={**spec_for(goal, difficulty), "split": split})


def goal_split(task: Task) -> str:
    """The split of a task's goal instance: ``type/object/receptacle``."""
    spec = task.spec
    return split_of(f"{spec['type']}/{spec['object']}/{spec.get('receptacle', '')}")


def _goal_json(goal: Goal) -> dict[str, Any]:
    return {"type": goal.type, "object": goal.object, "receptacle": goal.receptacle}


def _task_seed(task: Task) -> int:
    if task.seed is not None:
        return int(task.seed)
    return int(hashlib.sha256(task.task_id.encode()).hexdigest()[:8], 16)
