"""``mulligan/MiniWoB-v0``: the ``miniwob`` package's tasks in real Chromium, through the GUI grammar.

The observation is the task's instruction and its DOM as the same accessibility-tree text as
``mulligan/Gui-v0`` (``[ref] role "label"``, refs are MiniWoB's element refs); actions are the same
strings: ``click(ref)``, ``type(ref, "text")`` (focus the element and type), ``scroll(up|down)``.
``back()`` and ``answer(...)`` have no meaning on a MiniWoB page and are answered as invalid.

Chromium: Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` are used when present
(``MINIWOB_CHROME_BINARY`` / ``MINIWOB_CHROMEDRIVER`` override them); headless, no sandbox.

Task ids are ``"<miniwob task>:<split>-<index>"`` (``"click-button:train-3"``): the index seeds the
page's random generator, the split is MiniWoB's data mode (``train`` or ``test``).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mulligan.envs.contract import TEXT_CHARSET
from mulligan.envs.gui.actions import parse
from mulligan.envs.gui.widgets import tree_line
from mulligan.envs.options import check_env_options
from mulligan.envs.suites import IndexedSuite, checked_task_id
from mulligan.errors import ConfigError, DependencyNotInstalled, EnvError

ENV_ID = "mulligan/MiniWoB-v0"
SPLITS = ["train", "test"]
DEFAULT_TASK = "click-button"
CHROME = ("/usr/bin/chromium", "/usr/bin/chromedriver")
INSTALL_HINT = 'pip install "mulligan[envs]" (the miniwob package) and apt-get install -y chromium chromium-driver'
ROLES = {"button": "button", "input_text": "textbox", "input_password": "textbox", "textarea": "textbox",
         "input_checkbox": "checkbox", "input_radio": "radio", "a": "link", "select": "listbox",
         "input_submit": "button", "input_button": "button", "input_number": "textbox", "input_date": "textbox",
         "label": "text", "t": "text"}
MAX_OBSERVATION_CHARS = 8192


def chrome_paths() -> tuple[str, str] | None:
    """The Chromium binary and chromedriver to use, or None when neither is installed."""
    env = os.environ.get("MINIWOB_CHROME_BINARY"), os.environ.get("MINIWOB_CHROMEDRIVER")
    if all(env):
        return env  # type: ignore[return-value]
    if all(os.path.exists(p) for p in CHROME):
        return CHROME
    found = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    return found if all(found) else None  # type: ignore[return-value]


def _import_miniwob() -> Any:
    try:
        import miniwob
    except ImportError as e:
        raise DependencyNotInstalled(f"MiniWoB++ needs the miniwob package: {INSTALL_HINT}") from e
    gym.register_envs(miniwob)
    return miniwob


def split_task_id(task_id: str) -> tuple[str, str, int]:
    """``"click-button:train-3"`` -> ``("click-button", "train", 3)`` (no prefix: the default task).

    Raises:
        EnvError: Malformed id or unknown split.
    """
    if not isinstance(task_id, str):
        raise EnvError(f"task must be a task id string like 'click-button:train-3', got {task_id!r}")
    name, _, rest = task_id.rpartition(":")
    split, index = checked_task_id(rest, SPLITS, "MiniWoB")
    return name or DEFAULT_TASK, split, index


def dom_text(task: str, utterance: str, elements: list[dict[str, Any]]) -> str:
    """A MiniWoB page as accessibility-tree text: the instruction, then one line per element that
    shows something (leaves with text, and every control), indented by depth."""
    by_ref = {int(e["ref"]): e for e in elements}
    shown: list[tuple[int, str]] = []
    for e in elements:
        tag, text, ref = str(e["tag"]), str(e["text"] or "").strip(), int(e["ref"])
        role = ROLES.get(tag)
        if role is None and not (e["flags"][3] and text):
            continue
        if role == "text" and ref < 0:
            continue  # a text pseudo-element repeats its parent's text
        depth, parent = 0, int(e["parent"])
        while parent in by_ref and depth < 16:
            depth, parent = depth + 1, int(by_ref[parent]["parent"])
        states = ["focused"] if e["flags"][0] else []
        if role in ("checkbox", "radio"):
            states.append("selected" if str(e["value"]).lower() == "true" else "not selected")
        shown.append((depth, ref, role or "text", text, e["value"], states))
    top = min((row[0] for row in shown), default=0)
    lines = [f"Screen: MiniWoB > {task}"]
    lines += [tree_line(ref, role, text, value, states, depth - top) for depth, ref, role, text, value, states in shown]
    return f"Task: {utterance}\n" + "\n".join(lines)


class MiniWoBEnv(gym.Env[str, str]):
    """One MiniWoB++ task at a time in headless Chromium, spoken to in the GUI grammar.

    ``info`` holds ``won`` (MiniWoB's raw reward is positive), ``goal`` (the instruction),
    ``task_id``, ``task_type`` (the MiniWoB task), ``split``, ``valid``, ``step``, ``elements``
    (ref, role, label and bounding box of each element shown) and ``reward`` (MiniWoB's).

    Args:
        max_steps: Steps before truncation.
        task: A task id used when ``reset`` names none.
        render_mode: None, ``"rgb_array"`` (the page's screenshot) or ``"ansi"``.

    Raises:
        DependencyNotInstalled: The miniwob package or Chromium is missing (raised when the browser
            starts, at the first ``reset``).
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4, "blocking_step": True}

    def __init__(self, max_steps: int = 10, task: str | None = None, render_mode: str | None = None):
        check_env_options(max_steps, render_mode, self.metadata["render_modes"])
        self.max_steps = max_steps
        self.default_task = task
        self.render_mode = render_mode
        self.observation_space = spaces.Text(MAX_OBSERVATION_CHARS, min_length=1, charset=TEXT_CHARSET)
        self.action_space = spaces.Text(300, min_length=0, charset=TEXT_CHARSET)
        self.inner: gym.Env | None = None
        self.inner_task: str | None = None
        self.task_id = self.goal = self.split = ""
        self.steps_taken = 0
        self.is_won = False
        self._obs: dict[str, Any] = {}
        self._last = ""

    def _browser(self, name: str) -> gym.Env:
        if self.inner is not None and self.inner_task == name:
            return self.inner
        self.close()
        _import_miniwob()
        paths = chrome_paths()
        if paths is None:
            raise DependencyNotInstalled(f"MiniWoB++ needs Chromium and chromedriver: {INSTALL_HINT}")
        os.environ["MINIWOB_CHROME_BINARY"], os.environ["MINIWOB_CHROMEDRIVER"] = paths
        env_id = f"miniwob/{name}-v1"
        if env_id not in gym.registry:
            raise EnvError(f"unknown MiniWoB task {name!r}")
        self.inner = gym.make(env_id, disable_env_checker=True).unwrapped
        self.inner_task = name
        return self.inner

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Load a task page; ``options={"task": "click-test:train-2"}`` (default: the env's task)."""
        super().reset(seed=seed)
        options = dict(options or {})
        task_id = options.get("task") or self.default_task or f"{DEFAULT_TASK}:train-{seed or 0}"
        name, self.split, index = split_task_id(task_id)
        inner = self._browser(name)
        self._obs, _ = inner.reset(seed=index, options={"data_mode": self.split})
        self.task_id, self.goal = task_id, str(self._obs.get("utterance", ""))
        self.steps_taken, self.is_won = 0, False
        return self._emit(self._page()), self._info(True, 0.0)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Carry out one action in the browser; never raises for any action value."""
        if self.inner is None or not self._obs:
            raise EnvError("call reset() before step()")
        self.steps_taken += 1
        parsed = parse(action)
        refs = {int(e["ref"]) for e in self._obs.get("dom_elements", ()) if int(e["ref"]) > 0}
        reward, terminated, valid = 0.0, False, False
        if isinstance(parsed, str):
            feedback = parsed
        elif parsed.kind in ("back", "answer"):
            feedback = f"{parsed.kind}() does nothing on a MiniWoB page; click, type or scroll."
        elif parsed.kind in ("click", "type") and parsed.target not in refs:
            feedback = f"There is no element [{parsed.target}] on this page."
        else:
            inner = self.inner
            if parsed.kind == "scroll":
                kind = "SCROLL_DOWN_COORDS" if parsed.text == "down" else "SCROLL_UP_COORDS"
                act = inner.create_action(kind, coords=np.array([80.0, 105.0], dtype=np.float32))
            elif parsed.kind == "click":
                act = inner.create_action("CLICK_ELEMENT", ref=parsed.target)
            else:
                act = inner.create_action("FOCUS_ELEMENT_AND_TYPE_TEXT", ref=parsed.target, text=parsed.text or "")
            obs, reward, terminated, _, meta = inner.step(act)
            self._obs = obs if not terminated else self._obs
            self.is_won = bool(terminated and float(meta.get("raw_reward", reward)) > 0)
            valid, feedback = True, f"Done: {str(action).strip()[:80]}."
            if terminated:
                feedback += " The task is over: " + ("success." if self.is_won else "it was not solved.")
        truncated = not terminated and self.steps_taken >= self.max_steps
        page = self._page() if not terminated else ""
        return self._emit(f"{feedback}\n\n{page}".strip()), float(reward), bool(terminated), truncated, \
            self._info(valid, float(reward))

    def _page(self) -> str:
        return dom_text(self.inner_task or "", self.goal, list(self._obs.get("dom_elements", ())))

    def render(self) -> np.ndarray | str | None:
        """The page's screenshot (``"rgb_array"``) or the last observation (``"ansi"``)."""
        if self.render_mode == "ansi":
            return self._last
        if self.render_mode == "rgb_array" and self._obs:
            return np.asarray(self._obs["screenshot"], dtype=np.uint8)
        return None

    def close(self) -> None:
        """Quit the browser."""
        if self.inner is not None:
            self.inner.close()
        self.inner, self.inner_task = None, None

    def _emit(self, text: str) -> str:
        self._last = text[:MAX_OBSERVATION_CHARS]
        return self._last

    def _info(self, valid: bool, reward: float) -> dict[str, Any]:
        elements = [
            {"id": int(e["ref"]), "role": ROLES.get(str(e["tag"]), "text"), "label": str(e["text"] or ""),
             "bbox": (float(e["left"][0]), float(e["top"][0]),
                      float(e["left"][0] + e["width"][0]), float(e["top"][0] + e["height"][0]))}
            for e in self._obs.get("dom_elements", ()) if int(e["ref"]) > 0
        ]
        return {"won": self.is_won, "goal": self.goal, "task_id": self.task_id, "task_type": self.inner_task,
                "split": self.split, "valid": valid, "step": self.steps_taken, "elements": elements,
                "irreversible": [], "reward": reward}


class MiniWoBSuite(IndexedSuite):
    """The tasks of one MiniWoB++ page: ids ``"<task>:<split>-<index>"``, unlimited, splits train/test."""

    def __init__(self, task: str) -> None:
        super().__init__(env_id=ENV_ID, name=task, splits=list(SPLITS), sizes={},
                         description=f"MiniWoB++ task {task!r} in Chromium; the index seeds the page.")

    def task_ids(self, split: str, n: int | None = None, start: int = 0) -> list[str]:
        """Task ids of a split, prefixed with the MiniWoB task name."""
        return [f"{self.name}:{i}" for i in super().task_ids(split, n, start)]


def load_suite(name: str) -> MiniWoBSuite:
    """The suite of any MiniWoB++ task by name (``"click-checkboxes"``); needs the miniwob package.

    Raises:
        ConfigError: No MiniWoB task has this name.
    """
    _import_miniwob()
    known = sorted(k[len("miniwob/"):-len("-v1")] for k in gym.registry if k.startswith("miniwob/"))
    if name not in known:
        from mulligan.envs.suites import suggest

        raise ConfigError(f"unknown MiniWoB task {name!r}.{suggest(name, known)}")
    return MiniWoBSuite(name)


def click_button_suite() -> MiniWoBSuite:
    return MiniWoBSuite("click-button")


def click_test_suite() -> MiniWoBSuite:
    return MiniWoBSuite("click-test")


def enter_text_suite() -> MiniWoBSuite:
    return MiniWoBSuite("enter-text")
