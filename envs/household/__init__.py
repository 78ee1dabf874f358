"""``envgym/Household-v0``: an ALFWorld-style text household (see :mod:`envgym.envs.household.env`)."""

from envgym.envs.household.env import HouseholdEnv, command_text
from envgym.envs.household.generate import build_world, choose_goal
from envgym.envs.household.goals import GOAL_TYPES, Goal
from envgym.envs.household.world import World

__all__ = ["GOAL_TYPES", "Goal", "HouseholdEnv", "World", "build_world", "choose_goal", "command_text"]
