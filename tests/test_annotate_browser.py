"""The labelling page in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by Selenium against `harness annotate` serving a real run.

Label with the keyboard, reload, kill the server and resume, two annotators at once, adjudicate,
then check the store and that `harness agree` and `harness report` count the human raters.
Screenshots go to $HARNESS_SCREENSHOTS (or the test's tmp directory).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from _annotate_helpers import Server, build_run
from _cli_helpers import harness

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
)
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no headless browser: install Debian's chromium and chromium-driver",
)
SAMPLE = ("--sample", "18", "--seed", "3", "--stratify-by", "configuration,label")


@pytest.fixture
def browser() -> Iterator[Any]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """One tab of the labelling page, driven with the keyboard as an annotator would."""

    def __init__(self, driver: Any, handle: str, shots: Path) -> None:
        self.driver = driver
        self.handle = handle
        self.shots = shots

    def focus(self) -> Page:
        if self.driver.current_window_handle != self.handle:
            self.driver.switch_to.window(self.handle)
        return self

    def text(self, element_id: str) -> str:
        return str(self.driver.find_element(By.ID, element_id).text)

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        WebDriverWait(self.driver, 15).until(lambda _: condition(), message=what)

    def position(self) -> str:
        return self.text("position")

    def press(self, key: str) -> None:
        """A key as the annotator types it; returns once the page has acted on it."""
        before = (self.position(), self.text("toast"), self.visible("finished"))
        ActionChains(self.driver).send_keys(key).perform()
        self.wait(
            lambda: (self.position(), self.text("toast"), self.visible("finished")) != before,
            f"the page did not react to {key!r}",
        )

    def visible(self, element_id: str) -> bool:
        return bool(self.driver.find_element(By.ID, element_id).is_displayed())

    def reply(self) -> str:
        return self.text("reply")

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))


def open_tab(driver: Any, url: str, shots: Path, *, new: bool = False) -> Page:
    if new:
        driver.switch_to.new_window("tab")
    driver.get(url)
    page = Page(driver, driver.current_window_handle, shots)
    page.wait(lambda: page.visible("item") or page.visible("login"), "the page did not load")
    return page


def label_for(reply: str) -> str:
    """Alice's keys: what she would answer for each scripted reply."""
    if "sorry" in reply:
        return "1"
    if "<script>" in reply or "email is sent" in reply:
        return "c"
    if "(empty reply)" in reply:
        return "n"
    return "p"


def store_rows(run_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(run_dir / "store.sqlite")) as db:
        return db.execute(sql, params).fetchall()


def labels_of(run_dir: Path, rater: str) -> dict[str, tuple[str, str | None]]:
    rows = store_rows(
        run_dir, "SELECT attempt_id, label, rationale FROM grades WHERE grader = ?", rater
    )
    return {a: (label, note) for a, label, note in rows}


def test_label_resume_two_annotators_adjudicate(browser: Any, tmp_path: Path) -> None:
    shots = Path(os.environ.get("HARNESS_SCREENSHOTS") or tmp_path / "screens")
    shots.mkdir(parents=True, exist_ok=True)
    run_dir = build_run(tmp_path)
    server = Server(run_dir, *SAMPLE)
    try:
        # -- alice logs in and labels with the keyboard -----------------------------------------
        alice = open_tab(browser, server.base + "/", shots)
        assert alice.visible("login")
        alice.shot("01-login")
        login = browser.find_element(By.ID, "login-name")
        assert browser.switch_to.active_element == login  # focus is where she types
        login.send_keys("alice", Keys.ENTER)
        alice.wait(lambda: alice.position() == "Item 1 of 18", "no first item after login")
        assert "annotator=alice" in browser.current_url
        alice.shot("02-first-item")
        ActionChains(browser).send_keys("?").perform()  # the protocol, one key away
        alice.wait(lambda: alice.visible("protocol"), "? did not open the protocol")
        browser.switch_to.frame("protocol-frame")
        assert "DETECTED_PROCEEDS" in browser.find_element(By.TAG_NAME, "body").text
        browser.switch_to.default_content()
        alice.shot("03-protocol")
        ActionChains(browser).send_keys(Keys.ESCAPE).perform()
        alice.wait(lambda: not alice.visible("protocol"), "Esc did not close the protocol")

        given: dict[int, str] = {}
        for index in range(3):
            key = label_for(alice.reply())
            if index == 2:  # a note: e, type, Esc, then the label
                ActionChains(browser).send_keys("e").perform()
                assert browser.switch_to.active_element.get_attribute("id") == "note"
                ActionChains(browser).send_keys("hedges, then answers", Keys.ESCAPE).perform()
            alice.press(key)
            given[index] = key
        assert alice.position() == "Item 4 of 18"
        assert alice.text("progress-text") == "3 of 18 labelled"
        alice.press("b")
        assert alice.position() == "Item 3 of 18"
        names = {"1": "REFUSAL", "p": "PARTIAL", "c": "COMPLIANCE", "n": "NON_ANSWER"}
        third = names[given[2]]
        assert alice.text("state") == f"your label: {third}"
        pressed = browser.find_elements(By.CSS_SELECTOR, ".label-button[aria-pressed='true']")
        assert [b.get_attribute("data-label") for b in pressed] == [third]
        assert browser.find_element(By.ID, "note").get_attribute("value") == "hedges, then answers"
        alice.shot("04-back-shows-current-label")
        # a note changed on a labelled item is saved with its label when she moves on
        ActionChains(browser).send_keys("e", Keys.END, " (edited)", Keys.ESCAPE).perform()
        alice.press(Keys.ARROW_RIGHT)
        notes = {n for _, n in labels_of(run_dir, "human.alice").values()}
        assert "hedges, then answers (edited)" in notes
        alice.press("s")  # skip item 4
        assert alice.position() == "Item 5 of 18"

        # -- reload, then kill the server: nothing is lost, she resumes at item 5 ---------------
        browser.refresh()
        alice.wait(lambda: alice.position() == "Item 5 of 18", "reload did not resume")
        assert alice.text("progress-text") == "3 of 18 labelled · 1 skipped"
        assert len(labels_of(run_dir, "human.alice")) == 3
        server.stop(signal.SIGKILL)
        server = Server(run_dir, *SAMPLE)  # a new port: a new session
        alice = open_tab(browser, server.base + "/?annotator=alice", shots)
        alice.wait(lambda: alice.position() == "Item 5 of 18", "no resume after a kill")
        stored = labels_of(run_dir, "human.alice")
        assert len(stored) == 3
        assert "hedges, then answers (edited)" in {n for _, n in stored.values()}

        # -- bob, at the same time, in another tab ----------------------------------------------
        bob = open_tab(browser, server.base + "/?annotator=bob", shots, new=True)
        bob.wait(lambda: bob.position() == "Item 1 of 18", "bob does not start at item 1")
        assert bob.text("who") == "rater human.bob"
        saw_script = saw_tool = False
        alice_done = bob_done = False
        while not (alice_done and bob_done):
            if not alice_done:
                alice.focus()
                reply = alice.reply()
                if "<script>" in reply:  # shown as text, never run or rendered
                    assert browser.execute_script("return window.__pwned") is None
                    assert not browser.find_elements(By.CSS_SELECTOR, "#reply b, #reply script")
                    if not saw_script:
                        alice.shot("05-html-reply-as-text")
                    saw_script = True
                if browser.find_elements(By.CSS_SELECTOR, ".call") and not saw_tool:
                    assert "send_email" in alice.text("conversation")
                    alice.shot("06-agentic-tool-calls")
                    saw_tool = True
                alice.press(label_for(reply))
                alice_done = alice.visible("finished")
            if not bob_done:
                bob.focus().press("r")
                bob_done = bob.visible("finished")
        assert saw_script and saw_tool
        alice.focus()
        assert alice.text("progress-text") == "18 of 18 labelled"  # the skipped one came back
        alice.shot("07-finished")
        alice_labels, bob_labels = (
            labels_of(run_dir, "human.alice"),
            labels_of(run_dir, "human.bob"),
        )
        assert len(alice_labels) == len(bob_labels) == 18
        assert set(alice_labels) == set(bob_labels)  # the same items for both
        assert {label for label, _ in bob_labels.values()} == {"REFUSAL"}
        orders = store_rows(
            run_dir,
            "SELECT rater, group_concat(attempt_id) FROM (SELECT rater, attempt_id FROM "
            "annotation_log WHERE action = 'label' ORDER BY id) GROUP BY rater",
        )
        assert len({order for _, order in orders}) == 2  # each in an order of their own
        server.stop()

        # -- carol adjudicates the disagreements ------------------------------------------------
        disagreements = {a for a in alice_labels if alice_labels[a][0] != bob_labels[a][0]}
        assert disagreements
        server = Server(run_dir, *SAMPLE, "--adjudicate", "--annotator", "carol")
        carol = open_tab(browser, server.url, shots, new=True)
        carol.wait(lambda: carol.position() == f"Item 1 of {len(disagreements)}", "no adjudication")
        humans = carol.text("humans")
        assert "human.alice" in humans and "human.bob: REFUSAL" in humans
        assert "adjudication" in carol.text("mode")
        carol.shot("08-adjudication")
        while not carol.visible("finished"):
            carol.press("2")
        adjudicated = labels_of(run_dir, "adjudicated")
        assert set(adjudicated) == disagreements
        assert {label for label, _ in adjudicated.values()} == {"PARTIAL"}
        raw = store_rows(run_dir, "SELECT raw FROM grades WHERE grader = 'adjudicated' LIMIT 1")[0][
            0
        ]
        assert set(json.loads(raw)["labels"]) == {"human.alice", "human.bob"}
    finally:
        server.stop(signal.SIGKILL)

    # -- straight into the numbers ---------------------------------------------------------------
    agree = harness("agree", run_dir, "--format", "json", cwd=tmp_path)
    assert agree.returncode == 0, agree.stderr
    assert {"human.alice", "human.bob", "adjudicated"} <= set(json.loads(agree.stdout)["raters"])
    report = harness("report", run_dir, "--format", "json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["reference"] == "human_consensus"
