"""The `harness` command line. User errors print one line and exit 2; bugs keep tracebacks."""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harness._errors import UserError
from harness._version import __version__

if TYPE_CHECKING:  # asyncio and yaml load when a command needs them: `--help` starts faster
    import asyncio

    from harness._report_worker import EndOfRunReport
    from harness.runner import RunSummary
    from harness.store import Manifest

app: typer.Typer = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Adversarial safety evaluation under controlled deployment configurations.",
)
list_app = typer.Typer(no_args_is_help=True, help="List installed components.")
app.add_typer(list_app, name="list")

ConfigArg = Annotated[Path, typer.Argument(help="experiment YAML file")]
RunArg = Annotated[Path, typer.Argument(help="run directory (holds store.sqlite)")]
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BUDGET = 3
EXIT_MODEL_CRASHED = 4
EXIT_FLAGGED = 5  # `harness report --strict`: a shown rate carries a flag


def main() -> None:
    faulthandler.enable()  # a native crash names its place instead of ending in silence
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USER_ERROR) from None
    finally:
        # Python's exit collects every object the imports made: 0.15 s once the HTTP stack is
        # loaded, for memory the process is about to give back anyway. Frozen, they are not
        # walked; files, the store and threads are closed by then, so nothing waits on it.
        gc.freeze()


@app.command()
def version() -> None:
    """Print the harness version."""
    typer.echo(__version__)


@app.command()
def validate(config: ConfigArg) -> None:
    """Check a config and print the resolved plan, without sending anything."""
    from harness.config import load_config, missing_secrets
    from harness.runner import check_config, describe_plan

    loaded = load_config(config)
    typer.echo(describe_plan(check_config(loaded, secrets=False)))
    # every unset key at once, after the plan: `run` refuses to start until they are set
    for env, field in missing_secrets(loaded):
        typer.echo(
            f"warning: {loaded.path}: {field}: environment variable {env} is not set "
            f"(export {env}=<your key> before harness run)",
            err=True,
        )


@app.command()
def run(
    config: ConfigArg,
    force: Annotated[
        bool, typer.Option(help="accept a changed config; re-send what changed")
    ] = False,
    retry_errors: Annotated[bool, typer.Option(help="re-send attempts stored as ERROR")] = False,
    output: Annotated[
        Path | None, typer.Option(help="run directory (default: config output)")
    ] = None,
    progress: Annotated[bool | None, typer.Option(help="progress bar (default: on a TTY)")] = None,
    report: Annotated[bool, typer.Option(help="print the table at the end")] = True,
    shard: Annotated[
        str | None,
        typer.Option(help="run only slice i of N (0 <= i < N), e.g. 0/4; merge with harness merge"),
    ] = None,
) -> None:
    """Run an experiment (resuming whatever a previous run left unfinished)."""
    from harness._report_worker import EndOfRunReport

    # the report's libraries load in another process while the run sends (see _report_worker)
    end = EndOfRunReport(sys.stdout) if report else None
    try:
        run_dir, summary = _run(config, force, retry_errors, output, progress, shard, end)
        _end_of_run(config, run_dir, summary, end)
    finally:
        if end is not None:
            end.cancel()


def _run(
    config: Path,
    force: bool,
    retry_errors: bool,
    output: Path | None,
    progress: bool | None,
    shard: str | None,
    end: EndOfRunReport | None,
) -> tuple[Path, RunSummary]:
    """`harness run` up to its report: the run directory and summary of a run that ended
    normally (budget and interrupt end the command here)."""
    import asyncio

    from harness.config import load_config
    from harness.runner import RunOptions, Shard, run_experiment

    slice_ = Shard.parse(shard) if shard else None
    loaded = load_config(config)
    if end is not None:
        end.prepare()
    options = RunOptions(
        retry_errors=retry_errors, progress=sys.stderr.isatty() if progress is None else progress
    )
    stop = asyncio.Event()

    async def go() -> tuple[RunSummary, Path]:
        with _stop_on_signals(stop):
            return await run_experiment(
                loaded, force=force, options=options, stop=stop, output=output, shard=slice_
            )

    summary, run_dir = asyncio.run(go())
    counts = ", ".join(f"{k}={v}" for k, v in sorted(summary.statuses.items())) or "nothing"
    regraded = (
        f"; re-graded {summary.regraded.total()} grades of changed graders"
        if summary.regraded
        else ""
    )
    typer.echo(
        f"{run_dir}: {summary.planned} planned, {summary.already_done} already stored, "
        f"sent {summary.finished} ({counts}) in {summary.elapsed_s:.1f}s{regraded}",
        err=True,
    )
    _print_reach(run_dir)
    if summary.budget_exhausted:
        typer.echo(
            f"budget: {summary.budget_exhausted}; finished attempts are stored; "
            "raise the budget and run again to resume",
            err=True,
        )
        raise SystemExit(EXIT_BUDGET)
    if summary.interrupted:
        typer.echo("interrupted: finished attempts are stored; run again to resume", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    return run_dir, summary


def _end_of_run(
    config: Path, run_dir: Path, summary: RunSummary, end: EndOfRunReport | None
) -> None:
    """The report (unless --no-report), then the exit a local model's crash calls for."""
    crashed = summary.error_kinds.get("model_crashed", 0)
    if end is not None and not crashed:
        status = end.print(run_dir)
        if status:
            raise SystemExit(status)
    elif end is not None:
        end.cancel()  # rare: said here, in this process, beside the crash
        try:
            print_run_report(run_dir)
        except UserError as exc:
            typer.echo(f"no report: {exc}", err=True)  # the crash is what to say, with exit 4
    if crashed:
        typer.echo(
            f"{crashed} attempts ended as ERROR model_crashed: a local model's process died "
            f"(the reason and the fix are in {run_dir / 'harness.log'}); the store is intact; "
            f"after the fix, resume with: harness run {config} --retry-errors",
            err=True,
        )
        raise SystemExit(EXIT_MODEL_CRASHED)


def print_run_report(run_dir: Path) -> None:
    """What `harness run` prints at its end: the report, then the graders' agreement."""
    _print_report(run_dir)
    _print_agreement(run_dir)


def _print_reach(run_dir: Path) -> None:
    """The headline: deployments that may not have reached the model (see `reach_warnings`)."""
    from harness.reporting import reach_warnings
    from harness.store import Manifest, RunStore, read_manifest

    with RunStore(run_dir) as store:
        for line in reach_warnings(store, read_manifest(run_dir) or Manifest()):
            typer.echo(f"warning: {line}", err=True)


def _print_agreement(run_dir: Path) -> None:
    """How far the run's graders agree on attack success, before anyone trusts a rate."""
    from harness._cli_agree import run_label_table
    from harness.stats import agreement_report

    try:
        frame, graders = run_label_table(run_dir, None)
    except UserError:
        return  # fewer than two graders: nothing to compare
    result = agreement_report(frame, graders, collapse="binary_success", n_boot=500, seed=0)
    low, high = result["krippendorff_alpha_ci"]
    typer.echo(
        f"\ngrader agreement on success (binary_success collapse, {result['n']} attempts): "
        f"Krippendorff's alpha {_num(result['krippendorff_alpha'])} "
        f"[{_num(low)}, {_num(high)}]"
    )
    undecided = result["policy"]["undecidable"]
    for grader, count in undecided.items():
        if count:
            typer.echo(f"  {grader}: {count} of {result['n']} labels undecidable (UNPARSEABLE)")
    typer.echo(
        f"  Gwet's AC1 {_num(result['gwet_ac1'])}, "
        f"{_num(result['percent_agreement'], 1)}% agreement"
    )
    for pair in result["pairs"]:
        typer.echo(
            f"  {pair['a']} vs {pair['b']}: {_num(pair['percent_agreement'], 1)}% agree, "
            f"Gwet's AC1 {_num(pair['gwet_ac1'])}, "
            f"Cohen's kappa {_num(pair['cohen_kappa'])} (n={pair['n']})"
        )
    typer.echo(
        f"  details: harness agree {run_dir} --collapse binary_success --group-by configuration"
    )


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    import asyncio

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


REPORT_FORMATS = "md, csv, latex, html, json, or an installed plugin's format"


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="one run directory, or several to compare")],
    fmt: Annotated[str, typer.Option("--format", help=REPORT_FORMATS)] = "md",
    grader: Annotated[
        str | None, typer.Option(help="grader whose labels count (default: primary)")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="grader taken as truth for judge-error correction (default: human)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="html: directory for report.html and the figures")
    ] = None,
    min_agreement: Annotated[
        float,
        typer.Option(help="Gwet's AC1 of the graders below which a rate is flagged low_agreement"),
    ] = 0.667,
    strict: Annotated[
        bool,
        typer.Option(
            help=f"exit {EXIT_FLAGGED} if any shown rate is flagged (unreadable, unvalidated, "
            "low_agreement, small_n): for the CI of a paper"
        ),
    ] = False,
) -> None:
    """The report of a run: per-configuration table, matrices, paired tests, warnings."""
    from harness.reporting import analyse_run, render_comparison, reporter_for

    chosen = reporter_for(fmt)
    reports = [
        analyse_run(run, grader=grader, reference=reference, min_agreement=min_agreement)
        for run in runs
    ]
    several = len(reports) > 1
    typer.echo(render_comparison(reports, fmt) if several else chosen.render(reports[0], out))
    flagged = [f"{r.run_name}: {cell}" for r in reports for cell in r.flagged]
    if strict and flagged:
        typer.echo(
            f"strict: {len(flagged)} flagged cell(s), exit {EXIT_FLAGGED}: " + "; ".join(flagged),
            err=True,
        )
        raise SystemExit(EXIT_FLAGGED)


def _print_report(run_dir: Path) -> None:
    from harness.reporting import analyse_run, render

    typer.echo(render(analyse_run(run_dir), "md"))


@app.command()
def export(
    run_dir: RunArg,
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet")] = "csv",
    out: Annotated[
        Path | None, typer.Option(help="output file (default: RUN/attempts.FORMAT)")
    ] = None,
) -> None:
    """Write one row per attempt, with a label_<grader> column per grader."""
    from harness.reporting import attempt_table, write_table
    from harness.store import RunStore

    chosen = _choice(fmt, ("csv", "jsonl", "parquet"), "--format")
    target = out or run_dir / f"attempts.{chosen}"
    with RunStore(run_dir) as store:
        table = attempt_table(store)
    write_table(table, target, chosen)  # type: ignore[arg-type]
    typer.echo(f"wrote {len(table)} rows to {target}")


@app.command("import")
def import_(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="CSV/JSONL/Parquet file or hf:org/name, or a log of Inspect AI (.eval/.json), "
            "garak (report.jsonl), promptfoo (export JSON), HarmBench or JailbreakBench; "
            "several files make one run (e.g. one log per model)"
        ),
    ],
    out: Annotated[Path, typer.Option(help="run directory to create")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="force a reader: flat, inspect, garak, promptfoo, harmbench, jailbreakbench "
            "(default: recognised from the content)",
        ),
    ] = None,
    label_map: Annotated[
        Path | None,
        typer.Option(help="YAML/JSON {rater or '*': {raw value: label}} for imported scorers"),
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="prompt column (flat tables)")] = None,
    response: Annotated[str | None, typer.Option(help="completion column (flat tables)")] = None,
    id: Annotated[str | None, typer.Option("--id", help="item id column")] = None,
    category: Annotated[str | None, typer.Option(help="category column")] = None,
    harmful: Annotated[str | None, typer.Option(help="harmful flag column")] = None,
    model: Annotated[str | None, typer.Option(help="model column")] = None,
    configuration: Annotated[str | None, typer.Option(help="configuration column")] = None,
    name: Annotated[str | None, typer.Option(help="name for the run (default: file stem)")] = None,
    model_name: Annotated[
        str | None, typer.Option(help="the model, for logs that do not name it (HarmBench)")
    ] = None,
    split: Annotated[str, typer.Option(help="split, for hf: datasets")] = "train",
    subset: Annotated[str | None, typer.Option(help="subset, for hf: datasets")] = None,
    benign: Annotated[bool, typer.Option(help="items not marked harmful are benign")] = False,
    force: Annotated[bool, typer.Option(help="overwrite a run made from other data")] = False,
) -> None:
    """Build a run store from existing completions or another tool's log, to grade and report."""
    from harness.ingest import (
        ImportColumns,
        ImportOptions,
        choose_importer,
        import_file,
        load_label_map,
    )
    from harness.ingest import Source as ImportSource

    given = {
        "prompt": prompt,
        "response": response,
        "id": id,
        "category": category,
        "harmful": harmful,
        "model": model,
        "configuration": configuration,
    }
    named = [k for k, v in given.items() if v is not None]
    for source in sources:
        chosen = choose_importer(ImportSource(source), fmt).name
        if chosen != "flat" and named:
            raise UserError(
                f"--{named[0]} maps a column of a flat table; this file was read as {chosen}",
                file=source,
                field=f"--{named[0]}",
                fix="drop the column options, or pass --format flat for a table",
            )
    columns = ImportColumns(**{k: v for k, v in given.items() if v is not None})
    options = ImportOptions(
        harmful_default=not benign,
        label_map=load_label_map(label_map),
        columns=columns,
        model_name=model_name,
        split=split,
        subset=subset,
    )
    summary = import_file(sources, out, options, file_format=fmt, name=name, force=force)
    for line in summary.lines():
        typer.echo(line)
    for rater, labels in summary.raters.items():
        if labels.get("UNPARSEABLE", 0) == sum(labels.values()):
            typer.echo(
                f"note: no value of {rater} could be mapped onto the labels: say what they "
                "mean with --label-map FILE"
            )
    typer.echo(f"imported {summary.attempts} attempts into {out}")


@app.command()
def grade(
    run_dir: RunArg,
    grader: Annotated[
        list[str] | None,
        typer.Option(
            help="grader: NAME, or ID=NAME to grade as rater ID (NAME: registry name or "
            "module:attr; options then keyed by ID); default: the run's own graders"
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(help="grader option as GRADER.key=value (value parsed as YAML)"),
    ] = None,
    primary: Annotated[str | None, typer.Option(help="make this grader the primary one")] = None,
    models_from: Annotated[
        Path | None,
        typer.Option(help="a config whose models judges may use (e.g. for an imported run)"),
    ] = None,
) -> None:
    """(Re-)grade a stored run; no request is sent to the graded models (judges are called)."""
    import asyncio

    from harness.config import load_config
    from harness.runner import BudgetExhausted, grade_run
    from harness.store import Manifest, read_manifest, write_manifest

    manifest = read_manifest(run_dir) or Manifest()
    specs = _grader_specs(run_dir, manifest, grader or [], _options(option or []))
    judges = load_config(models_from).spec.models if models_from else None
    try:
        labels = asyncio.run(grade_run(run_dir, specs, models=judges))
    except BudgetExhausted as exc:
        typer.echo(
            f"budget: {exc}; what was graded is stored; raise the run's budget (its config) "
            "and grade again",
            err=True,
        )
        raise SystemExit(EXIT_BUDGET) from None
    if primary:
        manifest = read_manifest(run_dir) or Manifest()
        manifest.primary_grader = primary
        write_manifest(run_dir, manifest)
    typer.echo(f"graded: {', '.join(f'{k}={v}' for k, v in sorted(labels.items())) or 'nothing'}")


def _options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    import yaml

    options: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        name, dot, field = key.partition(".")
        if not sep or not dot:
            raise UserError(
                f"malformed option {pair!r}",
                field="--option",
                fix="write GRADER.key=value, e.g. refusal_keywords.list=xstest",
            )
        options.setdefault(name, {})[field] = yaml.safe_load(value)
    return options


def _grader_specs(
    run_dir: Path, manifest: Manifest, names: list[str], options: dict[str, dict[str, Any]]
) -> list[Any]:
    from pydantic import ValidationError

    from harness.config import GraderSpec

    known = manifest.grader_entries()
    if not names:
        # imported raters' verdicts were stored by `harness import` and never change
        names = [r for r, g in known.items() if g.get("name") != "imported"]
        if not names:
            raise UserError(
                "this run names no graders",
                file=run_dir,
                fix="pass --grader NAME (see `harness list graders`)",
            )
    specs = []
    for entry in names:
        rater, sep, name = entry.partition("=")
        base: dict[str, Any] = (
            dict(known.get(rater, {})) if not sep else {"name": name, "id": rater}
        )
        base = base or {"name": rater}
        base.pop("rater", None)
        base["options"] = {**base.get("options", {}), **options.get(rater, {})}
        try:
            specs.append(GraderSpec.model_validate(base))
        except ValidationError as exc:
            raise UserError(
                str(exc.errors()[0]["msg"]), field=f"--grader {entry}", fix="--grader ID=NAME"
            ) from None
    return specs


@app.command()
def merge(
    runs: Annotated[list[Path], typer.Argument(help="the shard run directories")],
    out: Annotated[Path, typer.Option(help="new run directory for the merged run")],
) -> None:
    """Combine the shard runs of one experiment (harness run --shard i/N) into one run."""
    from harness.store import merge_runs

    counts = merge_runs(runs, out)
    typer.echo(
        f"merged {len(runs)} runs into {out}: {counts['attempts']} attempts, "
        f"{counts['grades']} grades, {counts['duplicates']} duplicate attempts skipped"
    )


@app.command()
def annotate(
    run_dir: RunArg,
    annotator: Annotated[
        str | None, typer.Option(help="your name; your labels are rater human.NAME")
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(min=1, help="label a sample of N attempts (stored: every annotator gets it)"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the sample (default 0)")] = None,
    stratify_by: Annotated[
        str | None,
        typer.Option(help="strata of the sample, e.g. configuration,label (label: primary grader)"),
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free one)")] = 8765,
    host: Annotated[
        str | None, typer.Option(help="address to serve on (default 127.0.0.1: this machine only)")
    ] = None,
    adjudicate: Annotated[
        bool, typer.Option(help="label the items annotators disagree on, as rater `adjudicated`")
    ] = False,
    reveal: Annotated[
        bool, typer.Option(help="show configuration, model, deployment and graders' labels")
    ] = False,
) -> None:
    """Serve a local page to label attempts by hand; labels go straight into the run store."""
    import asyncio

    from harness.annotate import (
        AnnotationStore,
        Settings,
        check_annotator,
        choose_sample,
        protocol_html,
        serve,
    )

    if sample is None and (seed is not None or stratify_by):
        raise UserError(
            "--seed and --stratify-by describe a sample", field="--sample", fix="add --sample N"
        )
    if annotator is not None:
        check_annotator(annotator)
    protocol_html()  # a missing protocol fails now, not when the page asks for it
    if host is not None:
        typer.echo(
            f"warning: serving on {host}: anyone who can reach it can read this run's replies "
            "and write labels in it",
            err=True,
        )
    annotations = AnnotationStore(run_dir)
    try:
        strata = [s.strip() for s in (stratify_by or "").split(",") if s.strip()]
        definition, items = choose_sample(
            run_dir, annotations, size=sample, seed=seed or 0, stratify_by=strata
        )
        if not items:
            raise UserError(
                "nothing to label: no attempt of this run has a reply (status OK)",
                file=run_dir,
                fix="annotate a run whose models answered",
            )
        settings = Settings(run_dir, definition, items, annotator, adjudicate, reveal)

        def ready(url: str) -> None:
            # the strata's names stay off the screen: they would tell annotators what is sampled
            typer.echo(
                f"sample {definition.name}: {len(items)} attempts in "
                f"{len(definition.strata)} strata",
                err=True,
            )
            mode = "adjudication" if adjudicate else "labelling"
            typer.echo(f"{mode} page: {url}", err=True)
            typer.echo("every label is saved as it is given; Ctrl-C stops the server", err=True)

        stop = asyncio.Event()

        async def go() -> None:
            with _stop_on_signals(stop):
                await serve(
                    settings,
                    annotations,
                    host=host or "127.0.0.1",
                    port=port,
                    ready=ready,
                    stop=stop,
                )

        asyncio.run(go())
        for rater, labelled, skipped in annotations.progress(definition.name, items):
            typer.echo(
                f"{rater}: {labelled} of {len(items)} labelled, {skipped} skipped", err=True
            )
    finally:
        annotations.close()


@list_app.command("graders")
def list_graders() -> None:
    """Show the graders installed (built-in and plugins)."""
    from harness.grading import UNVALIDATED, cards_of, registered_graders

    for name, cls in registered_graders().items():
        doc = (cls.__doc__ or "").strip().splitlines()
        typer.echo(f"{name:20} {cls.__module__}:{cls.__qualname__}  {doc[0] if doc else ''}")
        cards = cards_of(cls)
        for card in cards:
            typer.echo(f"{'':20} validity ({card.variant}): {card.summary()}")
        if not cards:
            typer.echo(f"{'':20} validity: {getattr(cls, 'validity_note', None) or UNVALIDATED}")


@list_app.command("attacks")
def list_attacks() -> None:
    """Show the built-in attack transforms."""
    from harness.attacks import describe_attacks

    for name, description in describe_attacks():
        typer.echo(f"{name:24} {description}")


@list_app.command("tools")
def list_tools() -> None:
    """Show the simulated tools a tool-access deployment can offer."""
    from harness.tools import CATALOG

    for name, definition in sorted(CATALOG.items()):
        typer.echo(f"{name:22} {definition.spec.description.splitlines()[0]}")


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise UserError(
            f"unknown value {value!r}", field=option, fix=f"use one of {', '.join(allowed)}"
        )
    return value


if __name__ == "__main__":
    # `python -m harness.cli`: run the module as imported, so that the command modules that
    # import it find it whole instead of a second, half-made copy
    from harness.cli import main as imported_main

    imported_main()
else:
    from harness._cli_agree import agree  # noqa: F401  (registers the command)
