"""The `quantbot` command: parses, calls the library, prints. Nothing else happens here."""

# No `from __future__ import annotations` here: typer reads every command's annotations at
# start-up, and string annotations cost ~40 ms of eval() per process.

import atexit
import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional

import duckdb
import typer
from typer._click.exceptions import ClickException  # typer vendors click; this is its base error

from . import experiments, registry, resolver
from .output import fields, json_value, one_line, table
from .ids import InputError, parse_pairs, parse_timestamp
from .lake import ConflictingRecords, reading
from .project import resolve_paths
from .records import RunInput, dataset_record, read_run_file, register_dataset, register_runs

if TYPE_CHECKING:
    from . import lab

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="A registry for quantitative research runs.")
dataset_app = typer.Typer(no_args_is_help=True, help="Register and read immutable datasets.")
run_app = typer.Typer(no_args_is_help=True, help="Register and read immutable runs and their artifacts.")
registry_app = typer.Typer(no_args_is_help=True, help="The DuckDB registry, rebuilt from the lake by dbt.")
runset_app = typer.Typer(no_args_is_help=True, help="Named, declarative selections of runs: resolve, freeze, diff.")
lab_app = typer.Typer(no_args_is_help=True, help="Read-only SQL over a RunSet's members: ad-hoc queries and report templates.")
app.add_typer(dataset_app, name="dataset")
app.add_typer(run_app, name="run")
app.add_typer(runset_app, name="runset")
app.add_typer(lab_app, name="lab")
app.add_typer(registry_app, name="registry")
research_app = typer.Typer(no_args_is_help=True, help="Research on top of the registry: experiments.")
experiments_app = typer.Typer(no_args_is_help=True, help="Experiments pinned to one resolution of a RunSet.")
research_app.add_typer(experiments_app, name="experiments")
app.add_typer(research_app, name="research")

Lake = Annotated[Optional[Path], typer.Option("--lake", help="Lake root [env QUANTBOT_LAKE, default ./lake].")]
Db = Annotated[Optional[Path], typer.Option("--db", help="Registry file [env QUANTBOT_DB, default <lake>/quantbot.duckdb].")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
DateFrom = Annotated[Optional[str], typer.Option("--from", help="First day, YYYY-MM-DD (inclusive).")]
DateTo = Annotated[Optional[str], typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive).")]

EXPECTED_ERRORS = (InputError, ConflictingRecords, duckdb.Error, OSError)


def emit(document: Any, as_json: bool, human: Callable[[], str]) -> None:
    print(json.dumps(document, default=json_value, sort_keys=True) if as_json else human())


def main() -> None:
    """Console entry point: any usage error or refused input is one line on stderr, exit 2."""
    try:
        exit_code = app(standalone_mode=False)
    except typer.Abort:
        exit_code = 130
    except ClickException as error:
        if error.format_message():  # empty when help was shown for a bare group
            print(f"error: {one_line(error.format_message())}", file=sys.stderr)
        exit_code = error.exit_code
    except EXPECTED_ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        exit_code = 2
    exit_code = exit_code if isinstance(exit_code, int) else 0
    if "dbt" in sys.modules:
        exit_without_teardown(exit_code)
    sys.exit(exit_code)


def exit_without_teardown(exit_code: int) -> None:
    """End a process that ran dbt (`registry rebuild`, `demo`) without the interpreter's teardown
    of the ~1,600 modules loaded once dbt is: it took ~0.6 s after every rebuild, at any lake
    size. By then the registry is swapped in and every DuckDB connection closed; the exit
    handlers (logging, multiprocessing's) still run and the output is flushed, as in a normal
    exit. Only the console entry point (`main`) calls it: in-process callers use `app`."""
    atexit._run_exitfuncs()  # what sys.exit would run first; no public name for it
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a reader that went away (`| head`): the output has nowhere to go
            pass
    os._exit(exit_code)


def holding_lake_lock(command: Callable[..., None]) -> Callable[..., None]:
    """Run a command holding its lake's shared lock (`lake.reading`): a compaction waits to swap
    files until the command is done, so no file it listed disappears before it reads it."""

    @functools.wraps(command)
    def run_holding_lock(*args: Any, **kwargs: Any) -> None:
        lake_root, _ = resolve_paths(kwargs.get("lake"), None)
        with reading(lake_root):
            command(*args, **kwargs)

    return run_holding_lock


# ---------------------------------------------------------------- datasets


@dataset_app.command("register")
@holding_lake_lock
def dataset_register(
    dataset_id: Annotated[str, typer.Option("--id", help="Dataset id: letters, digits, ._- (max 128).")],
    kind: Annotated[str, typer.Option("--kind", help="A kind from seeds/dataset_kinds.csv.")],
    window_from: DateFrom = None,
    window_to: DateTo = None,
    schema_version: Annotated[Optional[str], typer.Option("--schema-version")] = None,
    source: Annotated[Optional[str], typer.Option("--source")] = None,
    uri: Annotated[Optional[str], typer.Option("--uri")] = None,
    meta: Annotated[Optional[list[str]], typer.Option("--meta", help="KEY=VALUE, repeatable.")] = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Register an immutable dataset (same id, same content: no-op; different content: refused)."""
    lake_root, _ = resolve_paths(lake, None)
    record = dataset_record(
        dataset_id, kind, window_from, window_to, schema_version, source, uri, parse_pairs(meta or [], "--meta")
    )
    registration = register_dataset(lake_root, record)
    result = "registered" if registration.written else "unchanged"
    emit(
        {"dataset_id": dataset_id, "result": result}, as_json,
        lambda: f"registered dataset {dataset_id}" if registration.written
        else f"dataset {dataset_id} is already registered with the same content (nothing written)",
    )


@dataset_app.command("list")
@holding_lake_lock
def dataset_list(
    kind: Annotated[Optional[str], typer.Option("--kind")] = None, lake: Lake = None, as_json: Json = False
) -> None:
    """List datasets, by id."""
    lake_root, _ = resolve_paths(lake, None)
    datasets = registry.list_datasets(lake_root, kind)
    emit({"datasets": datasets}, as_json, lambda: table(
        datasets, ["dataset_id", "kind", "window_from", "window_to", "schema_version", "source", "registered_at"]
    ))


@dataset_app.command("get")
@holding_lake_lock
def dataset_get(dataset_id: str, lake: Lake = None, as_json: Json = False) -> None:
    """Show one dataset."""
    lake_root, _ = resolve_paths(lake, None)
    dataset = registry.get_dataset(lake_root, dataset_id)
    emit(dataset, as_json, lambda: fields(dataset))


# ---------------------------------------------------------------- runs


@run_app.command("register")
@holding_lake_lock
def run_register(
    datasets: Annotated[Optional[str], typer.Option("--datasets", help="Dataset ids, comma-separated.")] = None,
    strategy_hash: Annotated[Optional[str], typer.Option("--strategy-hash")] = None,
    engine_version: Annotated[Optional[str], typer.Option("--engine-version")] = None,
    seed: Annotated[Optional[str], typer.Option("--seed")] = None,
    callers: Annotated[Optional[list[str]], typer.Option("--caller", help="Repeatable.")] = None,
    window_from: DateFrom = None,
    window_to: DateTo = None,
    status: Annotated[Optional[str], typer.Option("--status", help="completed (default) or failed.")] = None,
    strategy_family: Annotated[Optional[str], typer.Option("--strategy-family")] = None,
    params: Annotated[Optional[list[str]], typer.Option("--param", help="KEY=VALUE, repeatable.")] = None,
    metrics: Annotated[Optional[list[str]], typer.Option("--metric", help="KEY=NUMBER, repeatable.")] = None,
    artifacts: Annotated[Optional[list[str]], typer.Option("--artifact", help="KIND=PATH, repeatable.")] = None,
    run_id: Annotated[Optional[str], typer.Option("--id", help="Must equal the computed run id.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="runs.jsonl or runs.parquet: bulk, all or nothing.")] = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Register one run (options) or many (--file), with their artifacts."""
    lake_root, _ = resolve_paths(lake, None)
    single = {
        "dataset_ids": datasets, "strategy_hash": strategy_hash, "engine_version": engine_version, "seed": seed,
        "callers": callers, "window_from": window_from, "window_to": window_to, "status": status,
        "strategy_family": strategy_family, "run_id": run_id,
        "params": parse_pairs(params or [], "--param"), "metrics": parse_pairs(metrics or [], "--metric"),
        "artifacts": artifacts,
    }
    given = {name: value for name, value in single.items() if value not in (None, {}, [])}
    if file is not None:
        if given:
            raise InputError(f"--file registers runs from the file; remove the other run options ({', '.join(sorted(given))})")
        run_inputs = read_run_file(file.expanduser().absolute())
    else:
        run_inputs = [RunInput({"status": "completed", **given})]
    registration = register_runs(lake_root, run_inputs)
    document = {
        "registered": registration.written,
        "unchanged": registration.unchanged,
        "artifacts_registered": registration.artifacts_written,
    }

    def human() -> str:
        if file is None:
            (the_run_id,) = registration.written or registration.unchanged
            if registration.written:
                return f"registered run {the_run_id} ({registration.artifacts_written} artifacts)"
            return f"run {the_run_id} is already registered with the same content (nothing written)"
        return (f"registered {len(registration.written)} runs ({registration.artifacts_written} artifacts); "
                f"{len(registration.unchanged)} already registered unchanged")

    emit(document, as_json, human)


@run_app.command("list")
@holding_lake_lock
def run_list(
    dataset: Annotated[Optional[str], typer.Option("--dataset")] = None,
    caller: Annotated[Optional[str], typer.Option("--caller")] = None,
    engine_version: Annotated[Optional[str], typer.Option("--engine-version")] = None,
    status: Annotated[Optional[str], typer.Option("--status")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit")] = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """List runs in simulated-time order."""
    lake_root, _ = resolve_paths(lake, None)
    runs = registry.list_runs(lake_root, dataset, caller, engine_version, status, limit)
    emit({"runs": runs}, as_json, lambda: table(
        [{**run, "run_id": run["run_id"][:12]} for run in runs],
        ["run_id", "engine_version", "window_from", "window_to", "callers", "dataset_ids", "status", "strategy_family"],
    ))


@run_app.command("get")
@holding_lake_lock
def run_get(run_ref: Annotated[str, typer.Argument(metavar="RUN_ID")], lake: Lake = None, as_json: Json = False) -> None:
    """Show one run (full id or a unique prefix of 8+ characters) with its artifacts."""
    lake_root, _ = resolve_paths(lake, None)
    run = registry.get_run(lake_root, run_ref)
    emit(run, as_json, lambda: fields({k: v for k, v in run.items() if k != "artifacts"}) + "\n\nartifacts:\n" + table(
        run["artifacts"], ["artifact_id", "kind", "row_count", "size_bytes", "uri"]
    ))


@run_app.command("tag")
@holding_lake_lock
def run_tag(
    run_ref: Annotated[str, typer.Argument(metavar="RUN_ID")], tags: Annotated[list[str], typer.Argument(metavar="TAG...")],
    lake: Lake = None, as_json: Json = False,
) -> None:
    """Add tags to a run (append-only events; RunSets select on them with --run-tag)."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.tag_run(lake_root, run_ref, tags)
    emit(result, as_json, lambda: f"run {result['run_id'][:12]} tags: {', '.join(result['tags']) or '(none)'}")


@run_app.command("untag")
@holding_lake_lock
def run_untag(
    run_ref: Annotated[str, typer.Argument(metavar="RUN_ID")], tags: Annotated[list[str], typer.Argument(metavar="TAG...")],
    lake: Lake = None, as_json: Json = False,
) -> None:
    """Remove tags from a run."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.tag_run(lake_root, run_ref, tags, untag=True)
    emit(result, as_json, lambda: f"run {result['run_id'][:12]} tags: {', '.join(result['tags']) or '(none)'}")


# ---------------------------------------------------------------- runsets

RunSetRef = Annotated[str, typer.Argument(metavar="REF", help="RunSet name, id, or unique id prefix (8+ hex).")]


@runset_app.command("create")
@holding_lake_lock
def runset_create(
    name: Annotated[str, typer.Option("--id", help="The RunSet's name (a pointer to its content id).")],
    datasets: Annotated[list[str], typer.Option("--dataset", help="Runs use every named dataset. Repeatable.")],
    callers: Annotated[Optional[list[str]], typer.Option("--caller", help="Repeatable; see --match.")] = None,
    window_from: DateFrom = None,
    window_to: DateTo = None,
    strategy_hashes: Annotated[Optional[list[str]], typer.Option("--strategy-hash", help="Any of. Repeatable.")] = None,
    strategy_family: Annotated[Optional[str], typer.Option("--strategy-family")] = None,
    engine_versions: Annotated[Optional[list[str]], typer.Option("--engine-version", help="Any of. Repeatable.")] = None,
    status: Annotated[str, typer.Option("--status", help="completed (default), failed or any.")] = "completed",
    run_tags: Annotated[Optional[list[str]], typer.Option("--run-tag", help="Runs carrying every tag. Repeatable.")] = None,
    run_ids: Annotated[Optional[list[str]], typer.Option("--run", help="Explicit run ids or unique prefixes. Repeatable.")] = None,
    match: Annotated[str, typer.Option("--match", help="within (default) or overlap, for --caller and --from/--to.")] = "within",
    tags: Annotated[Optional[str], typer.Option("--tags", help="Labels, comma-separated (not part of the spec).")] = None,
    description: Annotated[Optional[str], typer.Option("--description")] = None,
    then_resolve: Annotated[bool, typer.Option("--resolve", help="Resolve right away.")] = False,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Create a RunSet: a named selection whose id is the sha256 of its canonical spec."""
    lake_root, _ = resolve_paths(lake, None)
    full_run_ids = [registry.get_run(lake_root, run_ref)["run_id"] for run_ref in run_ids or []]  # prefixes too
    spec = resolver.runset_spec(
        datasets, callers or [], window_from, window_to, strategy_hashes or [], strategy_family,
        engine_versions or [], status, run_tags or [], full_run_ids, match,
    )
    created = resolver.create_runset(lake_root, name, spec, split_list(tags), description)
    document: dict[str, Any] = {"runset_id": created.runset_id, "name": name, "spec_json": created.spec_json,
                                "written": created.written}
    if then_resolve:
        document["resolution"] = resolver.resolve(lake_root, created.runset_id)
    def human() -> str:
        line = (f"created RunSet {name} ({created.runset_id})" if "spec" in created.written or "name" in created.written
                else f"RunSet {name} already exists with this spec ({created.runset_id})"
                + (f"; recorded: {', '.join(created.written)}" if created.written else "; nothing written"))
        return line + ("\n" + resolution_text(document["resolution"]) if then_resolve else "")
    emit(document, as_json, human)


@runset_app.command("resolve")
@holding_lake_lock
def runset_resolve(
    ref: RunSetRef,
    force: Annotated[bool, typer.Option("--force", help="Resolve again even if a resolution exists.")] = False,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Only runs registered by then (ISO time, UTC); records nothing.")] = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """The RunSet's runs: pinned if frozen, the latest resolution if any, else a new one."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.resolve(lake_root, ref, force, parse_timestamp(as_of, "--as-of") if as_of else None)
    emit(result, as_json, lambda: resolution_text(result))


@runset_app.command("freeze")
@holding_lake_lock
def runset_freeze(
    ref: RunSetRef,
    resolution_id: Annotated[Optional[str], typer.Option("--resolution", help="Pin this resolution, not the latest.")] = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Pin the latest resolution (the one you have seen), or the one named, forever."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.change_state(lake_root, ref, "freeze", resolution_id)
    emit(result, as_json, lambda: (f"froze RunSet {result['name']}" if result["changed"] else f"RunSet {result['name']} was already frozen")
         + f" at resolution {result['pinned_resolution_id']}: {result['run_count']} runs, resolution_hash={result['resolution_hash']}")


@runset_app.command("unfreeze")
@holding_lake_lock
def runset_unfreeze(ref: RunSetRef, lake: Lake = None, as_json: Json = False) -> None:
    """Release the pin: the next `resolve --force` resolves again."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.change_state(lake_root, ref, "unfreeze")
    emit(result, as_json, lambda: f"unfroze RunSet {result['name']}" if result["changed"] else f"RunSet {result['name']} was not frozen")


@runset_app.command("delete")
@holding_lake_lock
def runset_delete(ref: RunSetRef, lake: Lake = None, as_json: Json = False) -> None:
    """Tombstone a RunSet: it leaves `list` and membership; its history stays readable."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.change_state(lake_root, ref, "delete")
    emit(result, as_json, lambda: f"deleted RunSet {result['name']}" if result["changed"] else f"RunSet {result['name']} was already deleted")


@runset_app.command("tag")
@holding_lake_lock
def runset_tag(ref: RunSetRef, tags: Annotated[list[str], typer.Argument(metavar="TAG...")],
               lake: Lake = None, as_json: Json = False) -> None:
    """Add labels to a RunSet (not part of its spec: its id does not change)."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.tag_runset(lake_root, ref, tags)
    emit(result, as_json, lambda: f"RunSet {result['name']} tags: {', '.join(result['tags']) or '(none)'}")


@runset_app.command("untag")
@holding_lake_lock
def runset_untag(ref: RunSetRef, tags: Annotated[list[str], typer.Argument(metavar="TAG...")],
                 lake: Lake = None, as_json: Json = False) -> None:
    """Remove labels from a RunSet."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.tag_runset(lake_root, ref, tags, untag=True)
    emit(result, as_json, lambda: f"RunSet {result['name']} tags: {', '.join(result['tags']) or '(none)'}")


@runset_app.command("list")
@holding_lake_lock
def runset_list(
    tags: Annotated[Optional[str], typer.Option("--tags", help="Carrying every tag, comma-separated.")] = None,
    frozen: Annotated[Optional[bool], typer.Option("--frozen/--not-frozen", show_default=False)] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset")] = None,
    include_deleted: Annotated[bool, typer.Option("--include-deleted")] = False,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """List RunSets by name."""
    lake_root, _ = resolve_paths(lake, None)
    runsets = resolver.list_runsets(lake_root, split_list(tags), frozen, dataset, include_deleted)
    emit({"runsets": runsets}, as_json, lambda: table(
        [{**item, "runset_id": item["runset_id"][:12], "names": item["names"]} for item in runsets],
        ["name", "runset_id", "names", "tags", "frozen", "deleted", "run_count"],
    ))


@runset_app.command("get")
@holding_lake_lock
def runset_get(
    ref: RunSetRef, include_deleted: Annotated[bool, typer.Option("--include-deleted")] = False,
    lake: Lake = None, as_json: Json = False,
) -> None:
    """Spec, names, labels, state, and the latest and pinned resolutions."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.get_runset(lake_root, ref, include_deleted)
    emit(result, as_json, lambda: fields({key: value for key, value in result.items() if key != "spec_json"}))


@runset_app.command("history")
@holding_lake_lock
def runset_history(ref: RunSetRef, lake: Lake = None, as_json: Json = False) -> None:
    """Every resolution, newest first."""
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.history(lake_root, ref)
    emit(result, as_json, lambda: f"RunSet {result['name']} ({result['runset_id']})\n" + table(
        result["resolutions"], ["resolution_id", "resolved_at", "resolution_hash", "run_count", "artifact_count", "frozen"]
    ))


@runset_app.command("diff")
@holding_lake_lock
def runset_diff(
    ref: RunSetRef,
    from_id: Annotated[Optional[str], typer.Option("--from", help="A resolution id [default: the current one].")] = None,
    to_id: Annotated[Optional[str], typer.Option("--to", help="A resolution id.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Compare with a fresh resolve now (the default without --to).")] = False,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Runs added and removed between two resolutions, or between the current one and now."""
    if fresh and to_id:
        raise InputError("--to and --fresh are two different targets; give one")
    lake_root, _ = resolve_paths(lake, None)
    result = resolver.diff(lake_root, ref, from_id, to_id)
    emit(result, as_json, lambda: "\n".join(
        [f"RunSet {result['name']}: {result['from_resolution_id']} -> {result['to_resolution_id'] or 'fresh resolve'}",
         f"added {len(result['added'])}, removed {len(result['removed'])}, unchanged {result['unchanged_count']}"]
        + [f"+ {run_id}" for run_id in result["added"]] + [f"- {run_id}" for run_id in result["removed"]]
    ))


def resolution_text(result: dict[str, Any]) -> str:
    lines = [
        f"RunSet {result['name']} ({result['runset_id']})" + (" [frozen]" if result["frozen"] else ""),
        f"resolution {result['resolution_id'] or '(as of ' + str(result['as_of']) + ', not recorded)'}",
        f"resolution_hash={result['resolution_hash']}",
        f"{result['run_count']} runs, {result['artifact_count']} artifacts",
    ]
    coverage = result["coverage"]
    if "requested_days" in coverage:
        lines.append(f"coverage: {coverage['covered_days']} of {coverage['requested_days']} requested days")
    if coverage.get("runs_excluded_by_status"):
        lines.append(f"{coverage['runs_excluded_by_status']} runs excluded only by their status")
    lines += [f"warning: {warning}" for warning in result["warnings"]]
    return "\n".join(lines)


def split_list(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


# ---------------------------------------------------------------- research experiments

EXPERIMENT_COLUMNS = ["experiment_id", "name", "runset_name", "resolution_id", "run_count", "params", "created_at"]


@experiments_app.command("create")
@holding_lake_lock
def experiments_create(
    name: Annotated[str, typer.Option("--name", help="The experiment's name (not unique: see the id).")],
    runset: Annotated[str, typer.Option("--runset", help="RunSet name, id, or unique id prefix (8+ hex).")],
    description: Annotated[Optional[str], typer.Option("--description")] = None,
    params: Annotated[Optional[list[str]], typer.Option("--param", help="KEY=VALUE, repeatable.")] = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Record an experiment pinned to the RunSet's current resolution (pinned if frozen, else the latest)."""
    lake_root, _ = resolve_paths(lake, None)
    result = experiments.create(lake_root, name, runset, description, parse_pairs(params or [], "--param"))
    emit(result, as_json, lambda: (
        f"recorded experiment {result['name']} ({result['experiment_id']})" if result["written"]
        else f"experiment {result['name']} ({result['experiment_id']}) is already recorded (nothing written)")
        + f" pinned to resolution {result['resolution_id']} of RunSet {result['runset_name']}: "
        f"{result['run_count']} runs, resolution_hash={result['resolution_hash']}")


@experiments_app.command("list")
@holding_lake_lock
def experiments_list(
    runset: Annotated[Optional[str], typer.Option("--runset", help="Only this RunSet's experiments.")] = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """List experiments, oldest first."""
    lake_root, _ = resolve_paths(lake, None)
    items = experiments.list_experiments(lake_root, runset)
    emit({"experiments": items}, as_json, lambda: table(
        [{**item, "experiment_id": item["experiment_id"][:12], "resolution_id": item["resolution_id"][:12]}
         for item in items],
        EXPERIMENT_COLUMNS,
    ))


@experiments_app.command("get")
@holding_lake_lock
def experiments_get(
    ref: Annotated[str, typer.Argument(metavar="EXPERIMENT_ID", help="Full id or unique prefix (8+ hex).")],
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Show one experiment with the runs and artifacts of the resolution it pinned."""
    lake_root, _ = resolve_paths(lake, None)
    result = experiments.get_experiment(lake_root, ref)
    emit(result, as_json, lambda: "\n".join([
        fields({key: value for key, value in result.items() if key not in ("runs", "artifacts")}),
        "", "runs:",
        table([{**run, "run_id": run["run_id"][:12]} for run in result["runs"]],
              ["run_id", "engine_version", "window_from", "window_to", "callers", "status", "strategy_family"]),
        "", "artifacts:",
        table([{**artifact, "run_id": artifact["run_id"][:12]} for artifact in result["artifacts"]],
              ["artifact_id", "run_id", "kind", "row_count", "uri"]),
    ]))


# ---------------------------------------------------------------- lab

LabRunSet = Annotated[Optional[str], typer.Option("--runset", help="RunSet name, id, or unique id prefix (8+ hex).")]
Out = Annotated[Optional[Path], typer.Option("--out", help="Write the rows to this file (atomically) instead of stdout.")]


@lab_app.command("query")
@holding_lake_lock
def lab_query(
    runset: LabRunSet = None,
    query_file: Annotated[Optional[Path], typer.Option("--query", help="A .sql file holding one read-only query.")] = None,
    sql: Annotated[Optional[str], typer.Option("--sql", help="One read-only query, inline.")] = None,
    output_format: Annotated[Optional[str], typer.Option("--format", help="table (default), json, csv or parquet (needs --out).")] = None,
    out: Out = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="At most N rows (the answer says if there were more).")] = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """One read-only SQL query over the RunSet's runs, artifacts, membership and artifact rows."""
    # Imported here: sqlglot takes ~0.15 s to import, and only the lab commands need it.
    from . import lab

    lake_root, _ = resolve_paths(lake, None)
    if runset is None:
        raise InputError("--runset REF is required: the RunSet whose members the query reads")
    if (query_file is None) == (sql is None):
        raise InputError("give the query once: --query FILE or --sql TEXT" + (", not both" if sql is not None else ""))
    output_format, out = lab_output(output_format, out, as_json, lab.QUERY_FORMATS, lake_root)
    if query_file is not None:
        try:
            sql = query_file.expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read --query {query_file}: {getattr(error, 'strerror', None) or error}") from None
    result = lab.run_query(lake_root, runset, sql, limit)
    print_lab_result(result, output_format, out, as_json)


@lab_app.command("report")
@holding_lake_lock
def lab_report(
    runset: LabRunSet = None,
    template: Annotated[Optional[str], typer.Option("--template", help="A template name (see --list).")] = None,
    templates_dir: Annotated[Optional[Path], typer.Option("--templates", help="A folder of your own NAME.sql templates.")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="List the templates, each with its description.")] = False,
    output_format: Annotated[Optional[str], typer.Option("--format", help="table (default), markdown, json or csv.")] = None,
    out: Out = None,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Run a report template (a SQL file in reports/ or --templates DIR) like a lab query."""
    from . import lab

    lake_root, _ = resolve_paths(lake, None)
    if list_only:
        given = [option for option, value in (("--runset", runset), ("--template", template), ("--out", out),
                                              ("--format", output_format)) if value is not None]
        if given:
            raise InputError(f"--list lists the templates; remove {', '.join(given)}")
        templates = lab.list_templates(templates_dir)
        emit({"templates": [{"name": item.name, "description": item.description, "path": str(item.path)}
                            for item in templates]},
             as_json, lambda: table([vars(item) for item in templates], ["name", "description"]))
        return
    if runset is None or template is None:
        raise InputError("--runset REF and --template NAME are required (or --list)")
    output_format, out = lab_output(output_format, out, as_json, lab.REPORT_FORMATS, lake_root)
    the_template, result = lab.run_report(lake_root, runset, template, templates_dir)
    print_lab_result(result, output_format, out, as_json, the_template)


def lab_output(output_format: str | None, out: Path | None, as_json: bool, formats: tuple[str, ...],
               lake_root: Path) -> tuple[str, Path | None]:
    """--format (default table; --json alone means json) and --out, checked before anything runs."""
    from . import lab

    if as_json and out is None and output_format not in (None, "json"):
        raise InputError(f"--json prints the JSON answer; --format {output_format} needs --out FILE with it")
    output_format = output_format or ("json" if as_json else "table")
    return output_format, lab.check_output(output_format, out, formats, lake_root)


def print_lab_result(result: "lab.LabResult", output_format: str, out: Path | None, as_json: bool,
                     template: "lab.Template | None" = None) -> None:
    from . import lab

    rendered = lab.render(result, output_format, template)
    if out is not None:
        lab.write_file(out, rendered)
        emit(lab.written_document(result, out, output_format), as_json,
             lambda: f"wrote {lab.rows_text(result)}{' (cut at --limit)' if result.truncated else ''} to {out}\n"
                     f"{lab.citation(result)}")
    elif output_format == "csv":
        print(f"# {lab.citation(result)}", file=sys.stderr)  # stdout stays pure CSV
        sys.stdout.flush()
        sys.stdout.buffer.write(rendered)
    else:
        sys.stdout.write(rendered.decode())


# ---------------------------------------------------------------- registry


@registry_app.command("rebuild")
@holding_lake_lock
def registry_rebuild(
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Build every table from every lake file, even when an incremental build would do.")] = False,
    lake: Lake = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Rebuild the DuckDB registry with dbt; the old one stays unless every contract passes."""
    lake_root, db_file = resolve_paths(lake, db)
    result = registry.rebuild(lake_root, db_file, full_refresh)
    document = {"ok": result.ok, "db": str(result.db_file), "row_counts": result.row_counts,
                "failures": result.failures, "build": result.build}
    if not result.ok:
        if as_json:
            print(json.dumps(document, default=json_value, sort_keys=True))
        print(f"error: registry rebuild failed; {db_file} is unchanged", file=sys.stderr)
        for failure in result.failures:
            print(f"  {one_line(failure)}", file=sys.stderr)
        raise typer.Exit(1)
    done = "nothing to rebuild in" if result.build["kind"] == "none" else f"{result.build['kind']} rebuild of"
    emit(document, as_json, lambda: f"{done} {db_file}: {result.build['reason']}\n" + table(
        [{"table": f"registry.{name}", "rows": count} for name, count in result.row_counts.items()], ["table", "rows"]
    ))


@registry_app.command("compact")
def registry_compact(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be merged; change nothing.")] = False,
    lake: Lake = None,
    as_json: Json = False,
) -> None:
    """Merge the part files of each partition folder into one; no record, id or hash changes."""
    from . import compaction  # pyarrow.parquet: only this command needs it at start-up

    lake_root, _ = resolve_paths(lake, None)
    result = compaction.compact(lake_root, dry_run)
    document = compaction.document(lake_root, result)
    emit(document, as_json, lambda: table(
        [{**folder, "skipped": len(folder["skipped"])} for folder in document["folders"]],
        ["table", "folder", "files", "rows", "skipped"],
    ) + f"\n{'would merge' if dry_run else 'merged'} {len(document['folders'])} folders: "
        f"{document['files_before']} files -> {document['files_after']}")


@app.command("demo")
def demo(
    lake: Annotated[Path, typer.Option("--lake", help="Folder for the sample lake (must not hold a lake yet).")] = Path("demo-lake"),
    as_json: Json = False,
) -> None:
    """Build a deterministic sample lake, rebuild its registry, and show a short tour."""
    from .demo import build_demo, tour

    lake_root, db_file = resolve_paths(lake, None)
    summary = build_demo(lake_root)
    result = registry.rebuild(lake_root, db_file)
    if not result.ok:
        raise InputError("the demo registry failed its contracts: " + "; ".join(result.failures))
    emit({**summary, "row_counts": result.row_counts}, as_json, lambda: tour(lake_root, db_file, summary))


# ---------------------------------------------------------------- other languages


@app.command("port")
def port(
    lake: Lake = None,
    db: Db = None,
) -> None:
    """Answer JSON requests from stdin, one per line: {"id", "op", "args"} -> {"id", "ok", "result" | "error"}."""
    from .port import Port

    lake_root, db_file = resolve_paths(lake, db)
    Port(app, lake_root, db_file).serve(sys.stdin, sys.stdout)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of every port request and result (the same shapes as --json)."""
    from .port import Port

    print(json.dumps(Port(app).schema(), indent=2, sort_keys=True))
