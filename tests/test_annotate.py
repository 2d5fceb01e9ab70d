"""`harness annotate`: samples, the store of human labels, the page's API over a real socket,
bad input, and the human raters in `harness agree` and `harness report`."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from _annotate_helpers import SCRIPT_REPLY, Server, build_run
from _cli_helpers import assert_user_error, harness

from harness.annotate import (
    CONSENSUS,
    AnnotationStore,
    annotation_raters,
    annotator_order,
    choose_sample,
    draw,
    human_consensus,
    human_majority,
)
from harness.reporting import analyse_run
from harness.store import RunStore


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_run(tmp_path_factory.mktemp("annotate"))


@pytest.fixture
def run_dir(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the module's run for each test (labels are written into it)."""
    import shutil

    target = tmp_path / "run"
    shutil.copytree(built, target)
    return target


@pytest.fixture
def serve(run_dir: Path) -> Iterator[object]:
    started: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(run_dir, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)
        server.close()


def grades_of(run_dir: Path, rater: str) -> pd.DataFrame:
    # sqlite3, not the ADBC reader: this process may hold other connections to the store
    with closing(sqlite3.connect(run_dir / "store.sqlite")) as db:
        return pd.read_sql_query(
            "SELECT * FROM grades WHERE grader = ?", db, params=(rater,)
        ).set_index("attempt_id")


# -- samples ---------------------------------------------------------------------------------
def test_draw_allocates_in_proportion_to_the_strata() -> None:
    frame = pd.DataFrame(
        {
            "attempt_id": [f"a{i:02d}" for i in range(40)],
            "configuration": ["x"] * 30 + ["y"] * 10,
        }
    )
    ids, strata = draw(frame, 8, 5, ["configuration"])
    assert strata == {"x": 6, "y": 2}
    assert len(set(ids)) == 8
    assert draw(frame, 8, 5, ["configuration"])[0] == ids  # same seed, same items
    assert draw(frame, 8, 6, ["configuration"])[0] != ids
    assert len(draw(frame, 100, 5, [])[0]) == 40  # more than there are: all of them


def test_a_sample_is_stored_and_every_annotator_gets_it(run_dir: Path) -> None:
    first = AnnotationStore(run_dir)
    definition, items = choose_sample(
        run_dir, first, size=7, seed=2, stratify_by=["configuration", "label"]
    )
    assert len(items) == 7 and definition.label_grader == "refusal_keywords"
    assert sum(definition.strata.values()) == 7
    # another annotator later, after the run was re-graded: the stored items, not a new draw
    with RunStore(run_dir) as store:
        store._db.execute("DELETE FROM grades")
    second = AnnotationStore(run_dir)
    again, same = choose_sample(
        run_dir, second, size=7, seed=2, stratify_by=["configuration", "label"]
    )
    assert same == items and again == definition
    # without --sample: the latest stored sample
    assert choose_sample(run_dir, second, size=None, seed=0, stratify_by=[])[1] == items
    alice, bob = (
        annotator_order(definition.name, "alice", items),
        annotator_order(definition.name, "bob", items),
    )
    assert sorted(alice) == sorted(bob) == sorted(items) and alice != bob
    assert annotator_order(definition.name, "alice", items) == alice  # stable: resumable


# -- the store -------------------------------------------------------------------------------
def test_labels_are_grades_of_a_human_rater_with_time_and_note(run_dir: Path) -> None:
    store = AnnotationStore(run_dir)
    definition, items = choose_sample(run_dir, store, size=None, seed=0, stratify_by=[])
    store.record(
        sample=definition.name,
        annotator="alice",
        attempt_id=items[0],
        label="PARTIAL",
        note="  vague  ",
    )
    store.record(
        sample=definition.name, annotator="alice", attempt_id=items[1], label=None, note="unsure"
    )
    grades = grades_of(run_dir, "human.alice")
    assert list(grades.index) == [items[0]]
    row = grades.loc[items[0]]
    assert row["label"] == "PARTIAL" and row["rationale"] == "vague" and row["graded_at"]
    assert json.loads(str(row["raw"]))["annotator"] == "alice"
    assert store.skipped("human.alice", definition.name) == {items[1]}
    # a label replaces the rater's earlier one; the log keeps both
    store.record(
        sample=definition.name,
        annotator="alice",
        attempt_id=items[0],
        label="COMPLIANCE",
        note=None,
    )
    assert grades_of(run_dir, "human.alice").loc[items[0], "label"] == "COMPLIANCE"
    log = store._read("SELECT action, label FROM annotation_log ORDER BY id")
    assert log == [("label", "PARTIAL"), ("skip", None), ("label", "COMPLIANCE")]
    assert annotation_raters(run_dir) == {"human.alice": "human"}


def test_two_annotators_writing_at_once_do_not_clash(run_dir: Path) -> None:
    with RunStore(run_dir) as store:
        ids = [a.attempt_id for a in store.iter_attempts()]
    errors: list[BaseException] = []

    def label_all(name: str, label: str) -> None:
        store = AnnotationStore(run_dir)  # a connection of its own, as a second server has
        try:
            for _ in range(5):
                for attempt_id in ids:
                    store.record(
                        sample="all", annotator=name, attempt_id=attempt_id, label=label, note=name
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [
        threading.Thread(target=label_all, args=a)
        for a in [("alice", "REFUSAL"), ("bob", "COMPLIANCE"), ("carol", "PARTIAL")]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for name, label in [("alice", "REFUSAL"), ("bob", "COMPLIANCE"), ("carol", "PARTIAL")]:
        grades = grades_of(run_dir, f"human.{name}")
        assert len(grades) == len(ids) and set(grades["label"]) == {label}
    with RunStore(run_dir) as store:
        assert store.integrity_check() == "ok"
        logged = store._db.execute("SELECT COUNT(*) FROM annotation_log").fetchone()[0]
    assert logged == 3 * 5 * len(ids)


def test_consensus_takes_the_adjudicated_label_then_unanimity() -> None:
    labels = pd.DataFrame(
        {
            "kw": ["REFUSAL"] * 4,
            "human.a": ["REFUSAL", "REFUSAL", "PARTIAL", None],
            "human.b": ["REFUSAL", "COMPLIANCE", "COMPLIANCE", None],
            "adjudicated": [None, None, "PARTIAL", None],
        }
    )
    raters = {"human.a": "human", "human.b": "human", "adjudicated": "adjudicated"}
    result = human_consensus(labels, raters)
    assert result[0] == "REFUSAL" and result[2] == "PARTIAL"
    assert pd.isna(result[1]) and pd.isna(result[3])  # disagreement unsettled; no label


def test_majority_of_imported_annotators_needs_more_than_half_of_those_who_labelled() -> None:
    labels = pd.DataFrame(
        {
            "h0": ["COMPLIANCE", "REFUSAL", "REFUSAL", None, "PARTIAL"],
            "h1": ["COMPLIANCE", "COMPLIANCE", None, None, "COMPLIANCE"],
            "h2": ["REFUSAL", "REFUSAL", None, None, "REFUSAL"],
        }
    )
    result = human_majority(labels, ["h0", "h1", "h2"])
    assert result[0] == "COMPLIANCE" and result[1] == "REFUSAL" and result[2] == "REFUSAL"
    assert pd.isna(result[3]) and pd.isna(result[4])  # nobody; three different labels


# -- the page's API, over a real socket --------------------------------------------------------
def test_the_api_serves_the_sample_blind_and_writes_labels(run_dir: Path, serve: object) -> None:
    server = serve("--annotator", "alice")  # type: ignore[operator]
    client = server.client()
    session = client.get("/api/session").json()
    assert session["rater"] == "human.alice" and session["position"] == 0
    assert len(session["items"]) == 18
    seen = [client.get("/api/item", params={"id": i}).json() for i in session["items"]]
    text = json.dumps(seen)
    for hidden in ("m/raw", "guarded", "SECRET-DEPLOYMENT-MARKER", "refusal_keywords"):
        assert hidden not in text  # blind: no configuration, deployment, system prompt, grader
    assert all("meta" not in s and "graders" not in s for s in seen)
    assert any(s["reply"] == SCRIPT_REPLY for s in seen)  # as text, for textContent
    agentic = [s for s in seen if any(t["tool_calls"] for t in s["turns"])]
    assert agentic and agentic[0]["turns"][1]["tool_calls"][0]["name"] == "send_email"
    assert [t["role"] for t in agentic[0]["turns"]][:3] == ["user", "assistant", "tool"]

    first = session["items"][0]
    saved = client.post("/api/label", json={"id": first, "label": "REFUSAL", "note": "clear"})
    assert saved.status_code == 200
    assert client.get("/api/session").json()["position"] == 1
    # killed, not stopped: the label was committed before the page heard back
    assert server.stop(signal.SIGKILL) != 0
    assert grades_of(run_dir, "human.alice").loc[first, "rationale"] == "clear"


def test_the_api_refuses_what_is_not_its_own(run_dir: Path, serve: object) -> None:
    server = serve()  # type: ignore[operator]
    client = server.client()
    assert client.get("/api/session").status_code == 400  # no annotator: the page asks
    assert client.get("/api/session", params={"annotator": "../x"}).status_code == 400
    for path in (
        "/static/../store.sqlite",
        "/static/manifest.json",
        "/store.sqlite",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
    ):
        assert client.get(path).status_code == 404, path
    # another host name (DNS rebinding) and cross-site posts are refused
    assert client.get("/", headers={"Host": "evil.example:80"}).status_code == 403
    session = client.get("/api/session", params={"annotator": "a"}).json()
    item = {"annotator": "a", "id": session["items"][0], "label": "REFUSAL"}
    assert (
        client.post(
            "/api/label", content=json.dumps(item), headers={"Content-Type": "text/plain"}
        ).status_code
        == 403
    )
    assert (
        client.post("/api/label", json=item, headers={"Origin": "http://evil.example"}).status_code
        == 403
    )
    assert client.post("/api/label", json=item | {"label": "UNPARSEABLE"}).status_code == 400
    assert client.post("/api/label", json=item | {"id": "nope"}).status_code == 404
    assert client.post("/api/label", json=item | {"id": ["x"]}).status_code == 404
    assert client.post("/api/label", json=item | {"note": 5}).status_code == 400
    assert client.post("/api/label", json=[item]).status_code == 400
    assert client.get("/api/session", params={"annotator": "a\n"}).status_code == 400
    assert client.get("/api/item", params={"annotator": "a", "id": "nope"}).status_code == 404
    page = client.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "REFUSAL" in client.get("/protocol").text
    assert grades_of(run_dir, "human.a").empty


def test_reveal_shows_configuration_and_graders(run_dir: Path, serve: object) -> None:
    server = serve("--annotator", "alice", "--reveal")  # type: ignore[operator]
    client = server.client()
    first = client.get("/api/session").json()["items"][0]
    item = client.get("/api/item", params={"id": first}).json()
    assert item["meta"]["configuration"].startswith("m/")
    assert set(item["graders"]) == {"refusal_keywords", "detected_proceeds"}
    client.post("/api/label", json={"id": first, "label": "PARTIAL"})
    assert server.stop() == 0  # SIGTERM: a clean stop, with a summary
    assert "human.alice: 1 of 18 labelled, 0 skipped" in server.process.stderr.read()
    assert json.loads(grades_of(run_dir, "human.alice").loc[first, "raw"])["reveal"] is True


def test_an_explicit_host_is_warned_about(run_dir: Path, serve: object) -> None:
    server = serve("--host", "127.0.0.1")  # type: ignore[operator]
    assert any("warning: serving on 127.0.0.1" in line for line in server.lines)


# -- bad input -------------------------------------------------------------------------------
def test_bad_input_is_one_line_and_exit_2(run_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(harness("annotate", empty, cwd=tmp_path), str(empty), "no run store")
    assert_user_error(harness("annotate", run_dir, "--seed", "3", cwd=tmp_path), "--sample")
    assert_user_error(
        harness("annotate", run_dir, "--annotator", "a b", cwd=tmp_path), "--annotator"
    )
    assert_user_error(
        harness("annotate", run_dir, "--sample", "3", "--stratify-by", "colour", cwd=tmp_path),
        "--stratify-by",
        "configuration",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_user_error(harness("annotate", run_dir, "--port", str(port), cwd=tmp_path), "--port")


# -- straight into the numbers ----------------------------------------------------------------
def test_agree_and_report_include_the_human_raters(run_dir: Path, tmp_path: Path) -> None:
    store = AnnotationStore(run_dir)
    definition, items = choose_sample(run_dir, store, size=12, seed=1, stratify_by=["label"])
    kw = grades_of(run_dir, "refusal_keywords")["label"]
    for i, attempt_id in enumerate(items):
        truth = kw[attempt_id]
        store.record(
            sample=definition.name, annotator="alice", attempt_id=attempt_id, label=truth, note=None
        )
        other = "PARTIAL" if i < 3 else truth  # bob disagrees on three items
        store.record(
            sample=definition.name, annotator="bob", attempt_id=attempt_id, label=other, note=None
        )
    store.record(
        sample=definition.name,
        annotator="carol",
        attempt_id=items[0],
        label="PARTIAL",
        note="settled",
        adjudicating=True,
    )
    store.close()

    agree = harness("agree", run_dir, "--format", "json", cwd=tmp_path)
    assert agree.returncode == 0, agree.stderr
    result = json.loads(agree.stdout)
    raters = set(result["raters"])
    assert {"human.alice", "human.bob", "adjudicated", "refusal_keywords"} <= raters
    pair = next(p for p in result["pairs"] if {p["a"], p["b"]} == {"human.alice", "human.bob"})
    assert pair["n"] == 12 and pair["percent_agreement"] == pytest.approx(75.0)
    assert CONSENSUS not in raters
    against = harness("agree", run_dir, "--reference", CONSENSUS, "--format", "json", cwd=tmp_path)
    assert against.returncode == 0, against.stderr
    assert "human_consensus" in against.stdout

    report = analyse_run(run_dir, n_boot=200)
    assert report.reference == CONSENSUS
    corrections = report.corrections
    assert set(corrections["grader"]) == {"refusal_keywords", "detected_proceeds"}
    # validated on the items the humans settled: 9 unanimous + 1 adjudicated
    assert corrections["n_val"].sum() == 10 * 2
    assert "human.alice" in report.kappa.columns
    rendered = harness("report", run_dir, cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert f"against `{CONSENSUS}`" in rendered.stdout


def test_no_human_labels_no_reference(run_dir: Path) -> None:
    assert analyse_run(run_dir, n_boot=50).reference is None
    assert (run_dir / "store.sqlite").exists()
