"""mulligan: tool-using agents that correct themselves and learn from their corrections.

``import mulligan`` stays light: it never imports torch, transformers, litellm or docker. Heavy
packages load when a component that needs them is chosen. It registers mulligan's env ids with
gymnasium, so ``gymnasium.make("mulligan/Household-v0")`` works after it.
"""

import mulligan.envs  # noqa: F401 - registers the env ids with gymnasium (strings only, nothing heavy)
from mulligan.records import FORMAT, Message, Step, ToolCall, Trajectory

__version__ = "0.1.0"
__all__ = ["FORMAT", "Message", "Step", "ToolCall", "Trajectory", "__version__"]
