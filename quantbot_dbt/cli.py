"""The `quantbot` command: parses, calls the library, prints. Nothing else happens here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import duckdb
import typer
from typer._click.exceptions import ClickException  # typer vendors click; this is its base error

from . import registry
from .output import fields, json_value, table
from .ids import InputError, parse_pairs
from .lake import ConflictingRecords
from .project import resolve_paths
from .records import RunInput, dataset_record, read_run_file, register_dataset, register_runs

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="A registry for quantitative research runs.")
dataset_app = typer.Typer(no_args_is_help=True, help="Register and read immutable datasets.")
run_app = typer.Typer(no_args_is_help=True, help="Register and read immutable runs and their artifacts.")
registry_app = typer.Typer(no_args_is_help=True, help="The DuckDB registry, rebuilt from the lake by dbt.")
app.add_typer(dataset_app, name="dataset")
app.add_typer(run_app, name="run")
app.add_typer(registry_app, name="registry")

Lake = Annotated[Optional[Path], typer.Option("--lake", help="Lake root [env QUANTBOT_LAKE, default ./lake].")]
Db = Annotated[Optional[Path], typer.Option("--db", help="Registry file [env QUANTBOT_DB, default <lake>/registry.duckdb].")]
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
    sys.exit(exit_code if isinstance(exit_code, int) else 0)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


# ---------------------------------------------------------------- datasets


@dataset_app.command("register")
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
def dataset_get(dataset_id: str, lake: Lake = None, as_json: Json = False) -> None:
    """Show one dataset."""
    lake_root, _ = resolve_paths(lake, None)
    dataset = registry.get_dataset(lake_root, dataset_id)
    emit(dataset, as_json, lambda: fields(dataset))


# ---------------------------------------------------------------- runs


@run_app.command("register")
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
def run_get(run_ref: Annotated[str, typer.Argument(metavar="RUN_ID")], lake: Lake = None, as_json: Json = False) -> None:
    """Show one run (full id or a unique prefix of 8+ characters) with its artifacts."""
    lake_root, _ = resolve_paths(lake, None)
    run = registry.get_run(lake_root, run_ref)
    emit(run, as_json, lambda: fields({k: v for k, v in run.items() if k != "artifacts"}) + "\n\nartifacts:\n" + table(
        run["artifacts"], ["artifact_id", "kind", "row_count", "size_bytes", "uri"]
    ))


# ---------------------------------------------------------------- registry


@registry_app.command("rebuild")
def registry_rebuild(lake: Lake = None, db: Db = None, as_json: Json = False) -> None:
    """Rebuild the DuckDB registry with dbt; the old one stays unless every contract passes."""
    lake_root, db_file = resolve_paths(lake, db)
    result = registry.rebuild(lake_root, db_file)
    document = {"ok": result.ok, "db": str(result.db_file), "row_counts": result.row_counts, "failures": result.failures}
    if not result.ok:
        if as_json:
            print(json.dumps(document, default=json_value, sort_keys=True))
        print(f"error: registry rebuild failed; {db_file} is unchanged", file=sys.stderr)
        for failure in result.failures:
            print(f"  {one_line(failure)}", file=sys.stderr)
        raise typer.Exit(1)
    emit(document, as_json, lambda: f"rebuilt {db_file}\n" + table(
        [{"table": f"registry.{name}", "rows": count} for name, count in result.row_counts.items()], ["table", "rows"]
    ))


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
