"""The credit-assignment study (``python -m envgym.trainers.compare --suite credit --mode quick|full``):
which methods, on which envs, with which budgets and seeds.

Methods — every one trains the same from-scratch policy with the same config; only the credit
assignment differs:

=================  ============================================================================
``grpo``           GRPO, episode-level group advantage
``dr_grpo``        Dr.GRPO (no std division)
``gigpo``          GiGPO, episode + anchor-state step groups (ω = 1, γ = 0.95)
``turn``           turn-level advantage with per-agent whitening (MARS)
``dual``           (A^traj + A^turn) / 2 (MatchTIR)
``hae``            HiPER: the hierarchical choice agent (switch / subgoal / action in one
                   completion) trained with HAE and a three-head critic (λ = λ_seg = 0.95)
``gigpo_filter``   GiGPO, and the turns the env's step grade calls wrong are dropped
                   (``data.step_judge.kind=env``)
=================  ============================================================================

Envs — held-out evaluation on tasks never trained on:

* ``maze`` (``configs/credit_maze.yaml``): procedural 6x6 mazes (the shortest path takes 22–33 moves),
  train split vs held-out test layouts;
* ``household`` (``configs/credit_household.yaml``): the ALFWorld-like Household, train split vs the
  held-out split (other goal instances in other houses), all six goal types.

Every run starts from the same behaviour-cloned policy of its agent format (``policy.warm_start``:
the env's oracle on the training tasks, cloned once and cached; seeds vary the RL only).

Hyper-parameter search, the same for every method: the learning rate is chosen from
:data:`SEARCH_GRID` by one run per candidate (seed :data:`SEARCH_SEED`, half the budget), the one
with the best success on the *training* tasks wins (ties: the first); the held-out split is never
used to choose.  Then five seeds run with the chosen learning rate.

Modes: ``quick`` (CI: one seed, one update per run, tiny evaluations, a 3-step warm start — checks
that every cell and the search run, says nothing about which method is better) and ``full`` (five
seeds, the budgets below).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class StudyEnv:
    name: str
    config: str
    #: env steps per run, per mode
    budget: dict[str, int]
    #: the observation formatter the hierarchical agent reads (the flat agents' formatter is the config's)
    hierarchical_observation: str
    #: extra overrides per mode (smaller evaluations in quick mode)
    mode_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)


METHODS: tuple[Method, ...] = (
    Method("grpo", "GRPO", ("algo.estimator=grpo",)),
    Method("dr_grpo", "Dr.GRPO", ("algo.estimator=dr_grpo",)),
    Method("gigpo", "GiGPO", ("algo.estimator=gigpo",)),
    Method("turn", "Turn-level (MARS)", ("algo.estimator=turn",)),
    Method("dual", "Dual-level (MatchTIR)", ("algo.estimator=dual",)),
    Method("hae", "HAE + hierarchical agent (HiPER)", ("algo.estimator=hae", "agent.kind=hierarchical_choice")),
    Method("gigpo_filter", "GiGPO + step filter (env judge)", ("algo.estimator=gigpo", "data.step_judge.kind=env")),
)

QUICK = ("eval.episodes_per_task=1", "eval.tasks.limit=2", "eval.train_tasks=2", "eval.every=0", "policy.warm_start.steps=3")

ENVS: tuple[StudyEnv, ...] = (
    StudyEnv("maze", "configs/credit_maze.yaml", {"quick": 300, "full": 24_000}, "maze_rooms",
             {"quick": QUICK}),
    StudyEnv("household", "configs/credit_household.yaml", {"quick": 300, "full": 12_000}, "household",
             {"quick": QUICK}),
)

SEEDS = {"quick": (0,), "full": (0, 1, 2, 3, 4)}

#: The learning rates every method chooses from (one search run each), the search run's seed (not
#: one of the study's) and its share of the budget.
SEARCH_GRID = ("optim.lr=5e-5", "optim.lr=2e-4")
SEARCH_SEED = 100
SEARCH_BUDGET = 0.5

_DEFAULTS = ("everything else is the env's shared config as written, each method's own parameters at its paper's "
             "defaults (GiGPO ω=1, γ=0.95; HAE λ=λ_seg=0.95 with HiPER's per-level normalisation; MARS/MatchTIR γ=0.95)")


def hp_search(grid: tuple[str, ...] = SEARCH_GRID) -> str:
    """The report's sentence on the hyper-parameter budget (the same for every method)."""
    if len(grid) == 1:
        return f"none: every method runs `{grid[0]}`; {_DEFAULTS}"
    return (f"{len(grid)} runs per method and env ({', '.join(grid)}; seed {SEARCH_SEED}, {SEARCH_BUDGET:.0%} of the "
            f"budget), the best training-task success chooses; {_DEFAULTS}")


def method(name: str) -> Method:
    for m in METHODS:
        if m.name == name:
            return m
    raise ValueError(f"unknown method {name!r}; known: {', '.join(m.name for m in METHODS)}")


def study_env(name: str) -> StudyEnv:
    for e in ENVS:
        if e.name == name:
            return e
    raise ValueError(f"unknown study env {name!r}; known: {', '.join(e.name for e in ENVS)}")


def run_overrides(env: StudyEnv, m: Method, mode: str) -> list[str]:
    """Overrides of one (env, method) cell: the method's, the hierarchical agent's formatter, the mode's."""
    extra = [f"agent.observation={env.hierarchical_observation}"] if "agent.kind=hierarchical_choice" in m.overrides else []
    return [*m.overrides, *extra, *env.mode_overrides.get(mode, ())]
