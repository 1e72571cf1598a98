"""The GUI family: ``mulligan/Gui-v0``, simulated phone apps with a widget tree, screenshots and an expert."""

from mulligan.envs.gui.actions import ACTION_HELP, GuiAction, parse
from mulligan.envs.gui.env import GuiEnv
from mulligan.envs.gui.expert import ExpertAction, plan
from mulligan.envs.gui.suites import ENV_ID, SPLITS, GuiSuite, build_task, combo_held_out
from mulligan.envs.gui.templates import TEMPLATES
from mulligan.envs.gui.widgets import Element, Screen

__all__ = [
    "ACTION_HELP",
    "ENV_ID",
    "SPLITS",
    "TEMPLATES",
    "Element",
    "ExpertAction",
    "GuiAction",
    "GuiEnv",
    "GuiSuite",
    "Screen",
    "build_task",
    "combo_held_out",
    "parse",
    "plan",
]
