"""The report in real Chromium (Playwright driving /usr/bin/chromium, headless): from disk and live.

Every test fails on a console error or an uncaught exception in the page. Screenshots of each view
are left in the test's tmp folder.
"""

from __future__ import annotations

import json
import re
import threading

import pytest
from report_helpers import CHROMIUM, CHROMIUM_ARGS, needs_browser

from mulligan.records import Trajectory
from mulligan.report import write_report
from mulligan.report.server import make_server
from mulligan.runner.rundir import RunDir


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    yield page
    page.close()
    assert not errors, errors


def ready(page, view):
    page.wait_for_selector(f"body[data-ready='1'][data-view='{view}']")


def open_first_failed_episode(page, run):
    """From the summary: the run's failed-tasks link, then the first row."""
    page.click("[data-tab=summary]")
    ready(page, "summary")
    page.click(f"[data-testid=failed-{run}]")
    ready(page, "episodes")
    rows = page.locator("[data-testid=episode-row]")
    assert rows.count() > 0
    assert all(text.strip() == "failed" for text in rows.locator("td:nth-child(5)").all_inner_texts())
    rows.first.click()
    page.wait_for_selector("[data-testid=episode]")
    episode = page.locator("[data-testid=episode]")
    assert episode.get_attribute("data-won") == "false"
    assert page.locator("[data-testid=step]").count() > 0


def filter_to_recovered(page):
    page.select_option("[data-testid=filter-outcome]", "recovered")
    ready(page, "episodes")
    rows = page.locator("[data-testid=episode-row]")
    assert rows.count() > 0
    assert all(text.strip() == "recovered" for text in rows.locator("td:nth-child(5)").all_inner_texts())
    return rows


@needs_browser
def test_report_from_disk(page, report_runs, tmp_path):
    out = write_report([report_runs[n] for n in ("expert", "reflexion", "critic")], tmp_path / "report.html").out
    page.goto(out.as_uri())
    ready(page, "summary")
    assert page.locator("[data-testid=run-table] th").all_inner_texts()[1:4] == ["expert", "reflexion", "critic"]
    page.screenshot(path=tmp_path / "summary.png", full_page=True)

    open_first_failed_episode(page, 0)
    assert page.locator("[data-testid=first-error]").count() == 1
    page.screenshot(path=tmp_path / "failed.png", full_page=True)

    page.click("[data-testid=back]")
    ready(page, "episodes")
    page.select_option("[data-testid=filter-run]", "")
    rows = filter_to_recovered(page)
    total = rows.count()
    page.fill("[data-testid=search]", "unseen-4")
    page.press("[data-testid=search]", "Enter")
    ready(page, "episodes")
    rows = page.locator("[data-testid=episode-row]")
    assert 0 < rows.count() < total
    assert set(rows.locator("td:nth-child(2)").all_inner_texts()) == {"unseen-4"}
    assert set(rows.locator("td:nth-child(1)").all_inner_texts()) == {"expert", "reflexion", "critic"}
    page.screenshot(path=tmp_path / "recovered.png", full_page=True)

    rows.filter(has_text="reflexion").first.click()
    page.wait_for_selector("[data-testid=episode][data-recovered=true]")
    assert "open bed 1" in page.locator("[data-testid=lesson]").inner_text()
    page.click("[data-testid=back]")
    ready(page, "episodes")
    page.locator("[data-testid=episode-row]").filter(has_text="critic").first.click()
    page.wait_for_selector("[data-testid=episode][data-recovered=true]")
    assert page.locator("[data-testid=first-error]").count() == 1 and page.locator("[data-testid=recovery]").count() == 1
    assert "rejected 1" in page.locator("[data-testid=step]").first.inner_text()
    page.screenshot(path=tmp_path / "critic.png", full_page=True)

    page.click("[data-tab=compare]")
    ready(page, "compare")
    assert page.locator("[data-testid=compare-table] tbody tr").count() > 0


def _serve(paths):
    server = make_server(paths, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@needs_browser
def test_view_follows_a_run_in_progress(page, report_runs, tmp_path):
    from playwright.sync_api import expect

    source = RunDir(report_runs["expert"])
    lines = source.trajectories_path.read_text().splitlines()
    run = RunDir(tmp_path / "growing")
    run.write_config(source.load_config())
    run.append([Trajectory.model_validate_json(line) for line in lines[:10]])
    server, url = _serve([run.path])
    try:
        page.goto(url + "#episodes")
        ready(page, "episodes")
        assert page.inner_text("[data-testid=count]").startswith("10 episodes")
        assert "running" in page.inner_text("#live")

        run.append([Trajectory.model_validate_json(line) for line in lines[10:]])
        with open(run.trajectories_path, "a") as f:
            f.write(lines[0][:100])  # a line still being written
        expect(page.locator("[data-testid=count]")).to_have_text(re.compile(r"^30 episodes"), timeout=15_000)
        page.screenshot(path=tmp_path / "live.png", full_page=True)
        filter_to_recovered(page)
        open_first_failed_episode(page, 0)

        run.write_summary({**json.loads(source.summary_path.read_text())})
        expect(page.locator("#live")).to_contain_text("all finished", timeout=15_000)
        assert page.locator("[data-testid=step]").count() > 0  # the open episode stays open
    finally:
        server.shutdown()
        server.server_close()
