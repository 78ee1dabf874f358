"""``envgym/Household-v0``: an ALFWorld-style text household (see :mod:`envs.household.env`)."""

from envs.household.env import HouseholdEnv, command_text
from envs.household.generate import build_world, choose_goal
from envs.household.goals import GOAL_TYPES, Goal
from envs.household.world import World

__all__ = ["GOAL_TYPES", "Goal", "HouseholdEnv", "World", "build_world", "choose_goal", "command_text"]
