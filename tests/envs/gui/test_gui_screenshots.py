"""Screenshots of mulligan/Gui-v0: every element the tree names is drawn where its box says."""

from __future__ import annotations

import io

import numpy as np
import pytest

from mulligan.envs.gui import GuiEnv, Screen
from mulligan.envs.gui.render import BACKGROUND, FILLS, IRREVERSIBLE, TITLE_BOX, draw, layout
from mulligan.envs.gui.widgets import button, text

PIL = pytest.importorskip("PIL.Image")


def shot_after(task_id: str, actions: list[str]) -> tuple[GuiEnv, np.ndarray, dict]:
    env = GuiEnv(render_mode="rgb_array")
    _, info = env.reset(options={"task": task_id})
    for a in actions:
        info = env.step(a)[4]
    return env, env.render(), info


def is_background(pixels: np.ndarray) -> np.ndarray:
    return np.all(pixels == np.array(BACKGROUND, dtype=np.uint8), axis=-1)


@pytest.mark.parametrize("task_id, actions", [
    ("train-0", []), ("train-1", ["click(1)"]), ("train-2", ["click(2)"]), ("seen-3", ["click(3)", "click(1)"]),
    ("unseen-4", ["click(4)", "click(2)"]), ("train-5", ["click(1)", "click(7)", "click(6)"]),
])
def test_elements_are_drawn_inside_their_boxes_and_nowhere_else(task_id, actions):
    env, image, info = shot_after(task_id, actions)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[1:] == (360, 3)
    covered = np.zeros(image.shape[:2], dtype=bool)
    x0, y0, x1, y1 = TITLE_BOX
    covered[y0:y1 + 1, x0:x1 + 1] = True
    assert {e["id"]: e["bbox"] for e in info["elements"]} == env.unwrapped.element_boxes()
    for e in info["elements"]:
        x0, y0, x1, y1 = e["bbox"]
        inside = image[y0:y1 + 1, x0:x1 + 1]
        assert (~is_background(inside)).sum() > 20, e
        covered[y0:y1 + 1, x0:x1 + 1] = True
    assert is_background(image[~covered]).all()


def test_the_named_element_has_its_role_colour_and_label_ink_in_its_box():
    env, image, info = shot_after("train-0", [])
    for e in info["elements"]:  # the home screen: four blue buttons with white labels
        x0, y0, x1, y1 = e["bbox"]
        assert tuple(image[y0 + 2, x0 + 2]) == FILLS["button"]
        assert (image[y0:y1, x0:x1] == 255).all(axis=-1).sum() > 10  # white label ink
        assert tuple(image[y0 + 2, x0 - 2]) == BACKGROUND
    env, image, info = shot_after("train-0", ["click(4)", "click(5)"])  # a note: Delete is red
    (delete,) = [e for e in info["elements"] if e["label"] == "Delete"]
    x0, y0, *_ = delete["bbox"]
    assert delete["irreversible"] and tuple(image[y0 + 2, x0 + 2]) == IRREVERSIBLE


def test_a_label_change_changes_pixels_only_in_that_box():
    a = Screen("Test", "Test", [button("Alpha", ("x",)), text("Beta"), text("Gamma")])
    b = Screen("Test", "Test", [button("Alpha", ("x",)), text("Betamax"), text("Gamma")])
    boxes, _ = layout(a)
    diff = np.any(draw(a) != draw(b), axis=-1)
    x0, y0, x1, y1 = boxes[2]
    assert diff[y0:y1 + 1, x0:x1 + 1].sum() > 10
    diff[y0:y1 + 1, x0:x1 + 1] = False
    assert not diff.any()


def test_a_state_change_shows_in_the_screenshot():
    env, before, info = shot_after("train-1", ["click(1)"])
    (wifi,) = [e for e in info["elements"] if e["label"] == "Wi-Fi"]
    after = env.unwrapped.render() if env.step(f"click({wifi['id']})")[4]["valid"] else None
    x0, y0, x1, y1 = wifi["bbox"]
    diff = np.any(before != after, axis=-1)
    assert diff[y0:y1, x0:x1].any() and not diff[:y0].any() and not diff[y1 + 1:].any()


def test_screenshots_are_png_able():
    _, image, _ = shot_after("train-0", [])
    buffer = io.BytesIO()
    PIL.fromarray(image).save(buffer, format="PNG")
    assert buffer.getvalue().startswith(b"\x89PNG")
