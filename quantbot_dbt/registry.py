"""Reads straight from the Parquet lake (always current, no rebuild needed), and the rebuild
of the DuckDB registry by dbt (the only place dbt is imported)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb

from . import lake
from .ids import InputError, validate_name
from .project import REGISTRY_SCHEMA, project_dir
from .records import check_vocabulary

# ---------------------------------------------------------------- reads


def list_datasets(lake_root: Path, kind: str | None = None) -> list[dict[str, Any]]:
    with duckdb.connect() as con:
        if kind is None:
            return lake.records(con, lake_root, lake.DATASETS)
        check_vocabulary(kind, "dataset_kinds", "dataset kind")
        return lake.records(con, lake_root, lake.DATASETS, "kind = $kind", {"kind": kind})


def get_dataset(lake_root: Path, dataset_id: str) -> dict[str, Any]:
    validate_name(dataset_id, "dataset id")
    with duckdb.connect() as con:
        rows = lake.records(con, lake_root, lake.DATASETS, "dataset_id = $id", {"id": dataset_id})
    if not rows:
        raise InputError(f"dataset {dataset_id!r} is not registered")
    return rows[0]


def list_runs(
    lake_root: Path,
    dataset: str | None = None,
    caller: str | None = None,
    engine_version: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Runs in simulated-time order; every filter given applies (values are bound, not pasted)."""
    conditions, params, partition = ["TRUE"], {}, {}
    if dataset is not None:
        get_dataset(lake_root, dataset)  # an unknown dataset is refused, not an empty answer
        conditions.append("list_contains(dataset_ids, $dataset)")
        params["dataset"] = dataset
    if caller is not None:
        conditions.append("list_contains(callers, $caller)")
        params["caller"] = validate_name(caller, "caller")
    if engine_version is not None:
        partition["engine_version"] = validate_name(engine_version, "engine version")
        conditions.append("engine_version = $engine_version")
        params["engine_version"] = engine_version
    if status is not None:
        conditions.append("status = $status")
        params["status"] = check_vocabulary(status, "run_statuses", "status")
    if limit is not None and limit < 1:
        raise InputError(f"invalid --limit {limit}: must be at least 1")
    with duckdb.connect() as con:
        return lake.records(
            con, lake_root, lake.RUNS, " AND ".join(conditions), params, partition,
            order_by="window_from, window_to, run_id", limit=limit,
        )


def get_run(lake_root: Path, run_ref: str) -> dict[str, Any]:
    """A run by full id or unique prefix, with its artifacts."""
    with duckdb.connect() as con:
        run = lake.record_by_prefix(con, lake_root, lake.RUNS, run_ref, "run")
        run["artifacts"] = lake.records(
            con, lake_root, lake.ARTIFACTS, "run_id = $run_id", {"run_id": run["run_id"]}, order_by="kind, artifact_id"
        )
    return run


# ---------------------------------------------------------------- rebuild


@dataclass
class Rebuild:
    ok: bool
    db_file: Path
    row_counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def rebuild(lake_root: Path, db_file: Path) -> Rebuild:
    """`dbt build` into a new file; it replaces the registry only if every model and contract passed."""
    # The new file has the registry's own name (DuckDB names the database after it, and views
    # refer to it) in a fixed folder (a constant profile path keeps dbt's partial parse warm);
    # the lock makes the fixed folder safe.
    build_dir = db_file.parent / f".{db_file.name}.build"
    build_dir.mkdir(parents=True, exist_ok=True)
    new_file = build_dir / db_file.name
    with lake.exclusive_lock(build_dir / "lock"):
        for stale in (new_file, new_file.with_name(new_file.name + ".wal")):
            stale.unlink(missing_ok=True)  # a build that died before the swap
        failures = _dbt_build(lake_root, new_file)
        if failures:
            new_file.unlink(missing_ok=True)
            return Rebuild(False, db_file, failures=failures)
        os.replace(new_file, db_file)
    return Rebuild(True, db_file, row_counts=registry_row_counts(db_file))


def registry_row_counts(db_file: Path) -> dict[str, int]:
    with duckdb.connect(str(db_file), read_only=True) as con:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $schema ORDER BY table_name",
                {"schema": REGISTRY_SCHEMA},
            ).fetchall()
        ]
        return {
            name: con.execute(f'SELECT count(*) FROM {REGISTRY_SCHEMA}."{name}"').fetchall()[0][0] for name in tables
        }


def _dbt_build(lake_root: Path, db_file: Path) -> list[str]:
    """Run `dbt build` in-process; returns what failed (empty when everything passed)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager  # dbt only here: ~1.5 s to import
    from dbt.cli.main import dbtRunner

    project = str(project_dir())
    with _environment(QUANTBOT_LAKE=str(lake_root), QUANTBOT_DB=str(db_file), DBT_SEND_ANONYMOUS_USAGE_STATS="false"):
        try:
            result = dbtRunner().invoke(
                ["build", "--project-dir", project, "--profiles-dir", project, "--log-level", "none"]
            )
        finally:
            DuckDBConnectionManager.close_all_connections()  # release the file: no lingering lock
    if result.exception is not None:
        return [f"dbt: {str(result.exception).strip()}"]
    failures = [
        f"{node_result.node.resource_type} {node_result.node.name}: {(node_result.message or '').strip()}"
        for node_result in result.result.results
        if str(node_result.status) in ("error", "fail")
    ]
    if not result.success and not failures:
        failures = ["dbt build failed (see logs/dbt.log)"]
    return failures


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """dbt reads the lake and database paths from the environment (profiles.yml, read_lake)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
