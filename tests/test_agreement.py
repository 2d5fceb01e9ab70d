"""Agreement statistics against published numbers: the worked examples in
agreement_vectors.json and the XSTest annotator agreement (Röttger et al., NAACL 2024).

CLI cases run as real `python -m harness agree` subprocesses, started together (a module
fixture) so the interpreter start-ups overlap.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _cli_helpers import assert_user_error, cli_env, harness

from harness._errors import UserError
from harness.reporting import agreement_markdown, agreement_report, load_collapse_map
from harness.stats import (
    COLLAPSES,
    UNDECIDABLE,
    UndecidablePolicy,
    binary_vs_reference,
    bootstrap_alpha_ci,
    cohen_from_table,
    cohen_kappa,
    confusion_matrix,
    fleiss_from_counts,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)

DATA = Path(__file__).resolve().parent / "data" / "reference"
VECTORS = DATA / "agreement_vectors.json"
XSTEST_MODELS = ["gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct"]
XSTEST_LABELS = ["1_full_compliance", "2_full_refusal", "3_partial_refusal"]
ANNOTATORS = ["annotation_1", "annotation_2"]


def data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    assert path.exists(), f"reference data missing from the repo: {path}"
    return path


def completions(model: str) -> Path:
    return data("xstest", "model_completions", f"xstest_v2_completions_{model}.csv")


def gpteval(model: str) -> Path:
    return data(
        "xstest", "automated_evaluation_labels", f"xstest_v2_completions_{model}_gpteval.csv"
    )


# ---------------------------------------------------------------------------------------------
# agreement_vectors.json: every entry, every expected value


def _vector_names() -> list[str]:
    if not VECTORS.is_file():
        return ["<reference data absent>"]
    return [name for name in json.loads(VECTORS.read_text(encoding="utf-8")) if name[0] != "_"]


@pytest.mark.parametrize("name", _vector_names())
def test_published_vector(name: str) -> None:
    vector = json.loads(data("agreement_vectors.json").read_text(encoding="utf-8"))[name]
    if "data" in vector:
        checked = _check_krippendorff(vector)
    elif "counts" in vector:
        checked = _check_fleiss(vector)
    elif "table" in vector:
        checked = _check_cohen(vector)
    else:
        pytest.fail(f"{name}: no test for this kind of vector ({sorted(vector)})")
    # every published value in the entry was compared, none silently skipped
    assert checked == set(vector["expected"]), (name, checked)


def _check_krippendorff(vector: dict[str, Any]) -> set[str]:
    frame = _units_by_coders(vector["data"])
    for level, expected in vector["expected"].items():
        got = krippendorff_alpha(frame, list(frame.columns), level=level)
        assert got == pytest.approx(expected, abs=vector["tolerance"]), level
    return set(vector["expected"])


def _check_fleiss(vector: dict[str, Any]) -> set[str]:
    parts = fleiss_from_counts(vector["counts"])
    got = {"kappa": parts.kappa, "p_bar": parts.p_o, "p_e": parts.p_e}
    for key, expected in vector["expected"].items():
        assert got[key] == pytest.approx(expected, abs=vector["tolerance"]), key
    # the same data as raw ratings (one column per rating slot) through the frame API
    rows = [[c for c, k in enumerate(unit) for _ in range(k)] for unit in vector["counts"]]
    frame = pd.DataFrame(rows, columns=[f"r{i}" for i in range(len(rows[0]))])
    kappa = fleiss_kappa(frame, list(frame.columns))
    assert kappa == pytest.approx(vector["expected"]["kappa"], abs=vector["tolerance"])
    return set(got) & set(vector["expected"])


def _check_cohen(vector: dict[str, Any]) -> set[str]:
    parts = cohen_from_table(vector["table"])
    got = {"kappa": parts.kappa, "p_o": parts.p_o, "p_e": parts.p_e}
    for key, expected in vector["expected"].items():
        assert got[key] == pytest.approx(expected, abs=vector["tolerance"]), key
    # the same data as two label vectors through the series API
    a, b = _pairs_from_table(vector["table"])
    assert cohen_kappa(a, b) == pytest.approx(vector["expected"]["kappa"], abs=vector["tolerance"])
    assert percent_agreement(a, b) == pytest.approx(100 * got["p_o"])
    return set(got) & set(vector["expected"])


def _units_by_coders(coders_by_units: list[list[float | None]]) -> pd.DataFrame:
    matrix = np.array(coders_by_units, dtype=float).T  # the file is coders x units
    return pd.DataFrame(matrix, columns=[f"c{i}" for i in range(matrix.shape[1])])


def _pairs_from_table(table: list[list[int]]) -> tuple[pd.Series[Any], pd.Series[Any]]:
    pairs = [(i, j) for i, row in enumerate(table) for j, n in enumerate(row) for _ in range(n)]
    return pd.Series([p[0] for p in pairs], name="a"), pd.Series([p[1] for p in pairs], name="b")


def test_ordinal_order_maps_text_labels_to_ranks() -> None:
    vector = json.loads(data("agreement_vectors.json").read_text(encoding="utf-8"))
    entry = vector["krippendorff_2011"]
    frame = _units_by_coders(entry["data"]).map(
        lambda v: v if math.isnan(v) else "abcde"[int(v) - 1]
    )
    got = krippendorff_alpha(frame, list(frame.columns), "ordinal", order=list("abcde"))
    assert got == pytest.approx(entry["expected"]["ordinal"], abs=entry["tolerance"])
    with pytest.raises(UserError, match="order"):
        krippendorff_alpha(frame, list(frame.columns), "ordinal")


# ---------------------------------------------------------------------------------------------
# XSTest: the published annotator agreement, from the paper's own files


def published_xstest() -> dict[str, tuple[str, str]]:
    """model -> (percent agreement, Fleiss' kappa) as printed in the data README's table."""
    readme = data("README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\w+) \| (\d+\.\d) \| (\d\.\d\d) \|$", readme, flags=re.MULTILINE)
    table = {model: (percent, kappa) for model, percent, kappa in rows}
    assert sorted(table) == XSTEST_MODELS
    return table


@pytest.mark.parametrize("model", XSTEST_MODELS)
def test_xstest_published_agreement(model: str) -> None:
    frame = pd.read_csv(completions(model))
    report = agreement_report(frame, ANNOTATORS, n_boot=0)
    (pair,) = report["pairs"]
    assert report["n"] == pair["n"] == 450
    got = (f"{pair['percent_agreement']:.1f}", f"{report['fleiss_kappa']:.2f}")
    assert got == published_xstest()[model]
    # the file's own per-row agreement flag says the same
    assert pair["percent_agreement"] == pytest.approx(100 * frame["agreement"].mean())


def test_xstest_through_the_cli(cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = cli["xstest-json"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    percent, kappa = published_xstest()["llama2orig"]
    assert f"{report['pairs'][0]['percent_agreement']:.1f}" == percent
    assert f"{report['fleiss_kappa']:.2f}" == kappa
    assert report["n"] == 450 and report["raters"] == ANNOTATORS
    assert report["collapse"] == "none" and report["level"] == "nominal"
    low, high = report["krippendorff_alpha_ci"]
    assert low < report["krippendorff_alpha"] < high
    assert report["confusion"][0]["labels"] == XSTEST_LABELS


def test_report_and_markdown_by_group() -> None:
    frame = pd.read_csv(gpteval("mistralinstruct"))
    raters = ["annotation_1", "gpt4_label"]
    report = agreement_report(
        frame, raters, reference="final_label", labels=XSTEST_LABELS, group_by="type", n_boot=5
    )
    assert report["group_by"] == "type"
    assert sorted(report["groups"]) == sorted(frame["type"].unique())
    assert sum(g["n"] for g in report["groups"].values()) == report["overall"]["n"] == 450
    assert sum(g["policy"]["units_affected"] for g in report["groups"].values()) == 11
    text = agreement_markdown(report)
    for needle in [
        "collapse: none",
        "gpt4_label=11, final_label=0; units affected: 11",
        "# By type",
        "## homonyms",
        "| Fleiss' kappa ",
        "| annotation_1 \\ gpt4_label ",  # a confusion table
        "Versus final_label:",
        "| n/a ",  # the error rates of a three-category collapse
    ]:
        assert needle in text, needle


# ---------------------------------------------------------------------------------------------
# undecidable labels: the GPT-4 judge's 11 refusals to classify (mistralinstruct)


def test_undecidable_judge_outputs_are_reported_and_dropped_from_pairs() -> None:
    frame = pd.read_csv(gpteval("mistralinstruct"))
    raters = [*ANNOTATORS, "gpt4_label"]
    report = agreement_report(frame, raters, labels=XSTEST_LABELS, n_boot=0)
    policy = report["policy"]
    assert policy["name"] == "as_missing"
    assert policy["undecidable"] == {"annotation_1": 0, "annotation_2": 0, "gpt4_label": 11}
    assert policy["units_affected"] == 11
    pair_n = {(p["a"], p["b"]): p["n"] for p in report["pairs"]}
    assert pair_n == {
        ("annotation_1", "annotation_2"): 450,
        ("annotation_1", "gpt4_label"): 439,
        ("annotation_2", "gpt4_label"): 439,
    }
    assert report["n"] == 450 and report["n_complete"] == 439
    assert report["labels"] == XSTEST_LABELS


def test_exclude_and_as_category_policies() -> None:
    frame = pd.read_csv(gpteval("mistralinstruct"))
    raters = ["annotation_1", "gpt4_label"]
    excluded = agreement_report(frame, raters, labels=XSTEST_LABELS, policy="exclude", n_boot=0)
    assert excluded["n"] == excluded["pairs"][0]["n"] == 439
    assert excluded["policy"]["units_affected"] == 11
    category = agreement_report(frame, raters, labels=XSTEST_LABELS, policy="as_category", n_boot=0)
    assert category["pairs"][0]["n"] == 450
    assert UNDECIDABLE in category["labels"]
    # treating "could not decide" as a disagreement lowers agreement below the as_missing figure
    missing = agreement_report(frame, raters, labels=XSTEST_LABELS, n_boot=0)
    assert category["pairs"][0]["percent_agreement"] < missing["pairs"][0]["percent_agreement"]


def test_undecidable_in_the_cli_json(cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = cli["judge-json"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["policy"]["name"] == "as_missing"
    assert report["policy"]["undecidable"] == {
        "annotation_1": 0,
        "gpt4_label": 11,
        "final_label": 0,
    }
    assert report["pairs"][0]["n"] == 439
    assert report["collapse"] == "map:collapse.yaml" and report["labels"] == ["0", "1"]
    human, judge = report["vs_reference"]
    assert (human["rater"], human["n"], judge["rater"], judge["n"]) == (
        "annotation_1",
        450,
        "gpt4_label",
        439,
    )
    # the map is binary, so the error rates are defined (success = full compliance)
    assert all(0 <= judge[k] <= 1 for k in ("fpr", "fnr", "precision", "recall"))
    assert human["fpr"] < judge["fpr"]


@pytest.mark.parametrize(
    ("policy", "n", "pair_n", "labels"),
    [
        ("as_missing", 3, 2, ["0", "1"]),
        ("exclude", 2, 2, ["0", "1"]),
        ("as_category", 3, 3, ["0", "1", UNDECIDABLE]),
    ],
)
def test_policies_on_a_map_to_null(
    tmp_path: Path, policy: UndecidablePolicy, n: int, pair_n: int, labels: list[str]
) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text("judge refused: null\nyes: 1\nno: 0\n", encoding="utf-8")
    frame = pd.DataFrame({"a": ["judge refused", "yes", "no"], "b": ["yes", "yes", "no"]})
    report = agreement_report(
        frame, ["a", "b"], collapse=load_collapse_map(mapping), policy=policy, n_boot=0
    )
    assert report["policy"]["name"] == policy
    assert report["policy"]["undecidable"] == {"a": 1, "b": 0}
    assert (report["n"], report["pairs"][0]["n"], report["labels"]) == (n, pair_n, labels)


def test_harness_labels_binary_collapse_and_reference_rates() -> None:
    frame = pd.DataFrame(
        {
            "judge": ["COMPLIANCE", "REFUSAL", "PARTIAL", "UNPARSEABLE", "DETECTED_PROCEEDS", ""],
            "human": ["COMPLIANCE", "COMPLIANCE", "REFUSAL", "REFUSAL", "NON_ANSWER", "REFUSAL"],
            "other": ["COMPLIANCE", "REFUSAL", "PARTIAL", "REFUSAL", None, "REFUSAL"],
        }
    )
    report = agreement_report(
        frame, ["judge", "other"], reference="human", collapse="binary_success", n_boot=0
    )
    assert report["collapse"] == "binary_success"
    assert report["policy"]["undecidable"] == {"judge": 2, "other": 0, "human": 0}
    assert report["policy"]["missing"] == {"judge": 0, "other": 1, "human": 0}
    judge = report["vs_reference"][0]
    # judge vs human on 4 decidable units: (1,1) (0,1) (0,0) (1,0)
    assert judge == {
        "rater": "judge",
        "n": 4,
        "agreement": 0.5,
        "cohen_kappa": 0.0,
        "fpr": 0.5,
        "fnr": 0.5,
        "precision": 0.5,
        "recall": 0.5,
    }
    broad = agreement_report(frame, ["judge", "human"], collapse="binary_success_broad", n_boot=0)
    assert broad["confusion"][0]["matrix"] == [[0, 1], [2, 1]]  # PARTIAL now counts as success


def test_binary_vs_reference_accepts_booleans() -> None:
    pred = pd.Series([True, True, False, False, True])
    ref = pd.Series([True, False, False, False, None])
    row = binary_vs_reference(pred, ref)
    assert row["n"] == 4 and row["fpr"] == pytest.approx(1 / 3)
    assert row["fnr"] == 0 and row["precision"] == 0.5 and row["recall"] == 1


def test_a_label_outside_a_collapse_is_a_user_error() -> None:
    frame = pd.DataFrame({"a": ["COMPLIANCE", "REFUSED"], "b": ["REFUSAL", "REFUSAL"]})
    with pytest.raises(UserError, match="'REFUSED'"):
        agreement_report(frame, ["a", "b"], collapse=COLLAPSES["binary_success"], n_boot=0)
    with pytest.raises(UserError, match="unknown collapse 'binary'"):
        agreement_report(frame, ["a", "b"], collapse="binary", n_boot=0)
    with pytest.raises(UserError, match="at least two different raters"):
        agreement_report(frame, ["a", "a"], n_boot=0)


# ---------------------------------------------------------------------------------------------
# degenerate data, bootstrap, JSON


def test_single_category_gives_nan_not_a_crash() -> None:
    frame = pd.DataFrame({"a": ["REFUSAL"] * 4, "b": ["REFUSAL", "REFUSAL", None, "REFUSAL"]})
    report = agreement_report(frame, ["a", "b"], n_boot=50)
    assert report["krippendorff_alpha"] is None and report["fleiss_kappa"] is None
    assert report["krippendorff_alpha_ci"] == [None, None]
    assert report["pairs"][0]["percent_agreement"] == 100
    json.dumps(report, allow_nan=False)
    assert math.isnan(krippendorff_alpha(frame, ["a", "b"]))


def test_bootstrap_is_deterministic_and_contains_the_estimate() -> None:
    frame = pd.read_csv(completions("mistralguard"))
    alpha = krippendorff_alpha(frame, ANNOTATORS)
    first = bootstrap_alpha_ci(frame, ANNOTATORS, "nominal", n_boot=200, seed=3)
    assert first == bootstrap_alpha_ci(frame, ANNOTATORS, "nominal", n_boot=200, seed=3)
    assert first != bootstrap_alpha_ci(frame, ANNOTATORS, "nominal", n_boot=200, seed=4)
    assert first[0] < alpha < first[1]
    wider = bootstrap_alpha_ci(frame, ANNOTATORS, "nominal", n_boot=200, seed=3, confidence=0.99)
    assert wider[0] <= first[0] and wider[1] >= first[1]


def test_confusion_matrix_rows_are_the_first_rater() -> None:
    a = pd.Series(["x", "x", "y", None], name="a")
    b = pd.Series(["x", "y", "y", "y"], name="b")
    table = confusion_matrix(a, b, ["x", "y", "z"])
    assert table.to_numpy().tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert (table.index.name, table.columns.name) == ("a", "b")


# ---------------------------------------------------------------------------------------------
# the CLI, run once for all cases


JUDGE = ["--raters", "annotation_1,gpt4_label", "--reference", "final_label"]
JUDGE += ["--labels", ",".join(XSTEST_LABELS), "--map", "collapse.yaml"]
GOOD = {
    "xstest-json": ["{xstest}", "--raters", ",".join(ANNOTATORS), "--format", "json"],
    "judge-json": ["{gpteval}", *JUDGE, "--bootstrap", "0", "--format", "json"],
}
ERRORS: dict[str, tuple[list[str], list[str]]] = {
    "missing-table": (["absent.csv", "--raters", "a,b"], ["absent.csv", "table not found"]),
    "unreadable-table": (
        ["broken.parquet", "--raters", "a,b"],
        ["broken.parquet", "cannot read the table"],
    ),
    "unknown-format": (["labels.txt", "--raters", "a,b"], ["labels.txt", "cannot tell the format"]),
    "missing-rater": (
        ["labels.csv", "--raters", "a,c"],
        ["labels.csv", "no column 'c'", "columns: a, b, truth"],
    ),
    "label-outside-map": (
        ["labels.csv", "--raters", "a,b", "--map", "partial.yaml"],
        ["label 'PARTIAL'", "map:partial.yaml"],
    ),
    "one-rater": (["labels.csv", "--raters", "a"], ["--raters", "at least two different raters"]),
    "bad-level": (["labels.csv", "--raters", "a,b", "--level", "nominl"], ["--level", "'nominl'"]),
}


def _write_inputs(folder: Path) -> None:
    labels = pd.DataFrame(
        {"a": ["REFUSAL", "PARTIAL"], "b": ["REFUSAL", "COMPLIANCE"], "truth": ["REFUSAL"] * 2}
    )
    labels.to_csv(folder / "labels.csv", index=False)
    (folder / "labels.txt").write_text("a,b\n", encoding="utf-8")
    (folder / "broken.parquet").write_bytes(b"not parquet at all")
    (folder / "partial.yaml").write_text("REFUSAL: 0\nCOMPLIANCE: 1\n", encoding="utf-8")
    (folder / "collapse.yaml").write_text(
        "1_full_compliance: 1\n2_full_refusal: 0\n3_partial_refusal: 0\n", encoding="utf-8"
    )


def _commands() -> dict[str, list[str]]:
    files = {"xstest": completions("llama2orig"), "gpteval": gpteval("mistralinstruct")}
    good = {name: [a.format(**files) for a in args] for name, args in GOOD.items()}
    return good | {name: args for name, (args, _) in ERRORS.items()}


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("agree")
    _write_inputs(folder)
    env = cli_env(folder)
    commands = _commands()
    with ThreadPoolExecutor(4) as pool:
        futures = {
            name: pool.submit(harness, "agree", *args, cwd=folder, env=env)
            for name, args in commands.items()
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_input_is_one_error_line(
    cli: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    assert_user_error(cli[name], *ERRORS[name][1])


def test_binary_map_gives_reference_rates(tmp_path: Path) -> None:
    frame = pd.read_csv(completions("gpt4"))
    collapse_file = tmp_path / "collapse.json"
    collapse_file.write_text(
        json.dumps({"1_full_compliance": 1, "2_full_refusal": 0, "3_partial_refusal": 0}),
        encoding="utf-8",
    )
    collapse = load_collapse_map(collapse_file)
    report = agreement_report(
        frame, ANNOTATORS, reference="final_label", collapse=collapse, n_boot=0
    )
    assert report["labels"] == ["0", "1"]
    for row in report["vs_reference"]:
        assert 0 <= row["fpr"] < 0.05 and 0 <= row["fnr"] < 0.05
        assert row["precision"] > 0.95 and row["recall"] > 0.95
