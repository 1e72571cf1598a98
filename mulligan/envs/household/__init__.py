"""The ALFWorld-style household family: ``mulligan/Household-v0``, its suite and its expert."""

from mulligan.envs.household.env import HouseholdEnv
from mulligan.envs.household.expert import Demonstration, ExpertAction, ExpertStep, plan, run_expert, solve
from mulligan.envs.household.suites import ENV_ID, SPLITS, HouseholdSuite, build_world

__all__ = [
    "ENV_ID",
    "SPLITS",
    "Demonstration",
    "ExpertAction",
    "ExpertStep",
    "HouseholdEnv",
    "HouseholdSuite",
    "build_world",
    "plan",
    "run_expert",
    "solve",
]
