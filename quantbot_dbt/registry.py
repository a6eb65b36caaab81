"""Reads straight from the Parquet lake (always current, no rebuild needed), and the rebuild
of the DuckDB registry by dbt (the only place dbt is imported)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb

from . import compaction, lake
from .lake import LakeFile
from .ids import InputError, validate_name
from .output import one_line
from .project import REGISTRY_SCHEMA, project_dir
from .records import check_vocabulary

# ---------------------------------------------------------------- reads


def list_datasets(lake_root: Path, kind: str | None = None) -> list[dict[str, Any]]:
    with lake.connect() as con:
        if kind is None:
            return lake.records(con, lake_root, lake.DATASETS)
        check_vocabulary(kind, "dataset_kinds", "dataset kind")
        return lake.records(con, lake_root, lake.DATASETS, "kind = $kind", {"kind": kind})


def get_dataset(lake_root: Path, dataset_id: str) -> dict[str, Any]:
    validate_name(dataset_id, "dataset id")
    with lake.connect() as con:
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
    with lake.connect() as con:
        return lake.records(
            con, lake_root, lake.RUNS, " AND ".join(conditions), params, partition,
            order_by="window_from, window_to, run_id", limit=limit,
        )


def get_run(lake_root: Path, run_ref: str) -> dict[str, Any]:
    """A run by full id or unique prefix, with its artifacts."""
    with lake.connect() as con:
        run = lake.record_by_prefix(con, lake_root, lake.RUNS, run_ref, "run")
        run["artifacts"] = lake.records(
            con, lake_root, lake.ARTIFACTS, "run_id = $run_id", {"run_id": run["run_id"]}, order_by="kind, artifact_id"
        )
    return run


# ---------------------------------------------------------------- rebuild

# What a registry records about its own build, next to its tables but outside the `registry`
# schema: the lake files it holds the records of (with their size and times) and the project it
# was built with. The next rebuild compares them with the lake and the project now.
BUILD_SCHEMA = "build_info"
BUILD_FORMAT = "1"  # bump when what build_info records, or how a build is planned, changes
# The lake tables an incremental build reads only the new files of (their staging models hold
# this build's records; the registry models they feed are dbt incremental models). Always read
# together: a contract compares an artifact with its run (assert_artifact_partitions_match_records).
INCREMENTAL_TABLES = ("runs", "artifacts")
# An incremental build that fails this contract starts over as a full build (see its SQL).
FULL_BUILD_NEEDED = "assert_incremental_artifacts_come_with_their_runs"
# An incremental build starts from a copy of the registry, or, when the registry is at least this
# large, from the registry before it (kept in the build folder at each swap): renaming that costs
# nothing, where copying gigabytes costs seconds, and as many again when the copy is written back
# to disk. It then reads the lake files added since that older build (two appends' worth).
EARLIER_REGISTRY_MIN_BYTES = 256 << 20
# From this many bytes of lake files read, dbt builds one node at a time: in a full build at 1M
# runs several nodes (the resolutions' 6M members, 5M artifacts grouped per run) each need most of
# DuckDB's memory limit, and two of them at once ran the build out of memory. Below it, two at a
# time hide dbt's own per-node cost, which is most of a small build, and of an incremental build
# after a small append to a large lake (+1,000 runs onto 1M built in-process in 7.1 s instead of
# 7.7 s, with the same peak RSS).
ONE_NODE_AT_A_TIME_MIN_BYTES = 256 << 20


# Contracts that what a lake table holds points at registered runs. Runs are only ever added to
# a registry an incremental build starts from, so these cannot start failing unless their own
# table was read again; dbt would select them anyway (they also depend on registry.runs), and at
# 1M runs the resolutions' 6M members took 1.3 s of a 9 s incremental build.
TESTS_OF_POINTERS_TO_RUNS = {
    "resolutions": "resolution_member_is_a_registered_run",
    "run_tags": "run_tag_targets_a_registered_run",
}


@dataclass
class BuildPlan:
    kind: str  # "full", "incremental", or "none" (the registry is current: nothing to build)
    reason: str
    lake_files: dict[str, LakeFile]  # every file of the lake now: what the registry will hold
    new_files: frozenset[str] = frozenset()  # for an incremental build, the files added since the last
    # Of those, the files a compaction wrote: each holds a whole partition folder's records.
    compacted_new_files: frozenset[str] = frozenset()

    def reads(self, path: str) -> bool:
        """Whether dbt reads this lake file: every file in a full build; in an incremental one, only
        the new files of the INCREMENTAL_TABLES (and every file of the others)."""
        return self.kind == "full" or self.lake_files[path].lake_table not in INCREMENTAL_TABLES or path in self.new_files

    def dbt_arguments(self) -> list[str]:
        """A full build builds everything. An incremental one rebuilds what reads a lake table with
        new files (its staging model and everything downstream, with their contracts); the rest of
        the registry is already right in the copy it starts from. Neither runs the unit tests: they
        check the project's SQL on fixed inputs, not the lake (~1-2 s of a 10k-run build); a
        `dbt build` by hand and the test suite run them."""
        threads = ["--threads", "1"] if self.bytes_read() >= ONE_NODE_AT_A_TIME_MIN_BYTES else []
        if self.kind != "incremental":
            return [*threads, "--exclude", "test_type:unit"]
        tables = self.rebuilt_tables()
        unaffected = sorted(test for table, test in TESTS_OF_POINTERS_TO_RUNS.items() if table not in tables)
        return [*threads, "--select", *(f"stg_{name}+" for name in sorted(tables)),
                "--exclude", "test_type:unit", *unaffected]

    def rebuilt_tables(self) -> set[str]:
        """The lake tables whose staging model, and everything downstream, this build runs."""
        if self.kind != "incremental":
            return set(lake.TABLES)
        tables = {self.lake_files[path].lake_table for path in self.new_files}
        if tables & set(INCREMENTAL_TABLES):
            tables |= set(INCREMENTAL_TABLES)
        return tables

    def bytes_read(self) -> int:
        """The bytes of the lake files dbt reads: every file in a full build; in an incremental one,
        the new files of the INCREMENTAL_TABLES and every file of the other tables it rebuilds."""
        tables = self.rebuilt_tables()
        return sum(lake_file.size_bytes for path, lake_file in self.lake_files.items()
                   if lake_file.lake_table in tables and self.reads(path))

    def document(self) -> dict[str, str]:
        return {"kind": self.kind, "reason": self.reason}


@dataclass
class Rebuild:
    ok: bool
    db_file: Path
    row_counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    build: dict[str, str] = field(default_factory=dict)  # {"kind", "reason"}: BuildPlan.document()


def rebuild(lake_root: Path, db_file: Path, full_refresh: bool = False) -> Rebuild:
    """`dbt build` into a new file; it replaces the registry only if every model and contract passed.

    The new file starts as a copy of the registry when that was built from this lake by this
    project and every lake file it read is still there unchanged: then only the files added since
    are read (an incremental build). Otherwise, or with `full_refresh`, it starts empty (a full
    build). Both give the same tables. When no lake file was added, nothing is built.
    """
    # The new file has the registry's own name (DuckDB names the database after it, and views
    # refer to it) in a fixed folder (a constant profile path keeps dbt's partial parse warm);
    # the lock makes the fixed folder safe. `reading` keeps a compaction from swapping away a
    # file between the plan listing it and dbt reading it.
    build_dir = db_file.parent / f".{db_file.name}.build"
    build_dir.mkdir(parents=True, exist_ok=True)
    new_file = build_dir / db_file.name
    earlier_file = build_dir / "earlier.duckdb"  # the registry before the current one (see keep_as_earlier)
    with lake.reading(lake_root), lake.exclusive_lock(build_dir / "lock"):
        lake_now = lake_files(lake_root)
        plan = plan_build(lake_root, db_file, lake_now, full_refresh)
        if plan.kind == "none":
            return Rebuild(True, db_file, row_counts=registry_row_counts(db_file), build=plan.document())
        failures, plan = build_into(new_file, db_file, earlier_file, lake_root, plan)
        if plan.kind == "incremental" and any(failure.startswith(f"test {FULL_BUILD_NEEDED}:") for failure in failures):
            plan = BuildPlan("full", "an artifact was added to a run registered by an earlier build: "
                                     "its contracts need every record", lake_now)
            failures, plan = build_into(new_file, db_file, earlier_file, lake_root, plan)
        if failures:
            new_file.unlink(missing_ok=True)
            return Rebuild(False, db_file, failures=failures, build=plan.document())
        keep_as_earlier(db_file, earlier_file)
        os.replace(new_file, db_file)
    return Rebuild(True, db_file, row_counts=registry_row_counts(db_file), build=plan.document())


def lake_files(lake_root: Path) -> dict[str, LakeFile]:
    """Every Parquet file of every lake table, with what identifies its content on disk."""
    found = {}
    for table in lake.TABLES.values():
        for path in lake.files(lake_root, table):
            found[path] = LakeFile.of(path, table.name)
    return found


def plan_build(lake_root: Path, db_file: Path, lake_now: dict[str, LakeFile], full_refresh: bool) -> BuildPlan:
    """Full, incremental or none, and why (the reason is shown to the user)."""

    def full(reason: str) -> BuildPlan:
        return BuildPlan("full", reason, lake_now)

    if full_refresh:
        return full("asked for (--full-refresh)")
    if not db_file.exists():
        return full(f"there is no registry at {db_file} yet")
    if db_file.with_name(db_file.name + ".wal").exists():
        return full("the registry has a write-ahead log (it is open for writing elsewhere, or was not closed cleanly)")
    try:
        built = previous_build(db_file)
    except duckdb.Error as error:
        return full(f"the registry could not be read: {one_line(error)}")
    if built is None:
        return full("the registry does not record which lake files it was built from")
    recorded_root, recorded_digest, earlier_files = built
    if recorded_root != str(lake_root):
        return full(f"the registry was built from another lake ({recorded_root})")
    if recorded_digest != project_digest():
        return full("the dbt project (models, macros, tests, seeds) or the dbt or DuckDB version changed since the registry was built")
    changed = sorted(path for path, state in earlier_files.items() if path in lake_now and lake_now[path] != state)
    if changed:
        return full(f"{len(changed)} lake file(s) read by the previous build have changed since, e.g. {changed[0]}")
    gone = sorted(path for path in earlier_files if path not in lake_now)
    merged: dict[str, compaction.MergedFile] = {}
    merged_since: frozenset[str] = frozenset()
    if gone:
        try:
            merged = compaction.merged_files(lake_root)
            accounted, merged_since = compacted_since(merged, earlier_files, lake_now)
        except ValueError as error:
            return full(str(error))
        unaccounted = [path for path in gone if path not in accounted]
        if unaccounted:
            return full(f"{len(unaccounted)} lake file(s) read by the previous build are gone, and no record of a "
                        f"compaction says which file of the lake holds their records now, e.g. {unaccounted[0]}")
    new_files = frozenset(lake_now) - frozenset(earlier_files) - merged_since
    if not new_files:
        return BuildPlan("none", (
            f"no lake file was added since the previous build, and the {len(gone)} it read that are gone were "
            f"compacted into {len(merged_since)} holding the same records" if gone else
            "no lake file was added, changed or removed since the previous build"), lake_now)
    per_table: dict[str, int] = {}
    for path in new_files:
        per_table[lake_now[path].lake_table] = per_table.get(lake_now[path].lake_table, 0) + 1
    counts = ", ".join(f"{name} {count}" for name, count in sorted(per_table.items()))
    compacted = f"; the {len(gone)} it read that are gone were compacted into files of the lake" if gone else ""
    return BuildPlan("incremental", f"{len(new_files)} lake file(s) added since the previous build ({counts}){compacted}",
                     lake_now, new_files, new_files & merged.keys())


def compacted_since(merged: dict[str, compaction.MergedFile], earlier_files: dict[str, LakeFile],
                    lake_now: dict[str, LakeFile]) -> tuple[set[str], frozenset[str]]:
    """What the compactions recorded in `merged` did to the files the previous build read: those
    of its files whose records are all in a file of the lake now (accounted for), and the lake's
    files that hold nothing else (the registry already has their records, so they are not new).

    A compacted file counts only as the compaction left it, and each of its sources only as the
    previous build, or an earlier compaction, left it: a file edited since accounts for nothing,
    and the gone files then lead to a full build. A compacted file that also holds records the
    previous build did not read (a file appended since was merged in too) accounts for its
    sources and is read as a new file: the incremental models fold the records sent again."""
    accounted: set[str] = set()

    def holds_only_records_read(path: str, state: LakeFile) -> bool:
        if earlier_files.get(path) == state:
            accounted.add(path)
            return True
        merged_file = merged.get(path)
        if merged_file is None or merged_file.state != state:
            return False
        # Every source is walked (no short cut), so that each one read before is accounted for.
        return all([holds_only_records_read(source, source_state) for source, source_state in merged_file.sources.items()])

    merged_since = frozenset(path for path, state in lake_now.items()
                             if path not in earlier_files and path in merged and holds_only_records_read(path, state))
    return accounted, merged_since


def previous_build(db_file: Path) -> tuple[str, str, dict[str, LakeFile]] | None:
    """The lake root, project digest and lake files a registry was built from; None if it does not say."""
    with duckdb.connect(str(db_file), read_only=True) as con:
        (recorded,) = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $schema AND table_name IN ('build', 'lake_files')",
            {"schema": BUILD_SCHEMA},
        ).fetchall()[0]
        if recorded != 2:
            return None
        (lake_root, digest), *_ = con.execute(f"SELECT lake_root, project_digest FROM {BUILD_SCHEMA}.build").fetchall()
        rows = con.execute(
            f"SELECT path, lake_table, size_bytes, modified_ns, changed_ns FROM {BUILD_SCHEMA}.lake_files"
        ).fetchall()
    return lake_root, digest, {path: LakeFile(*state) for path, *state in rows}


def project_digest() -> str:
    """What the registry's tables are a function of, besides the lake: the dbt project's files,
    and the versions of what runs them. A registry built with another digest is rebuilt in full."""
    from importlib.metadata import version

    root = project_dir()
    digest = hashlib.sha256(f"build_format={BUILD_FORMAT}\n".encode())
    for package in ("dbt-core", "dbt-duckdb", "duckdb"):
        digest.update(f"{package}={version(package)}\n".encode())
    paths = [root / "dbt_project.yml", root / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        paths += [path for path in (root / folder).rglob("*") if path.suffix in (".sql", ".yml", ".yaml", ".csv")]
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_into(new_file: Path, db_file: Path, earlier_file: Path, lake_root: Path, plan: BuildPlan) -> tuple[list[str], BuildPlan]:
    """Build the registry into new_file; what failed, and the plan that was built."""
    for stale in (new_file, new_file.with_name(new_file.name + ".wal")):
        stale.unlink(missing_ok=True)  # a build that died before the swap, or a failed attempt
    if plan.kind == "incremental":
        plan = start_incremental_build(new_file, db_file, earlier_file, lake_root, plan)
    record_build(new_file, lake_root, plan)
    return _dbt_build(lake_root, new_file, plan.kind, plan.dbt_arguments()), plan


def start_incremental_build(new_file: Path, db_file: Path, earlier_file: Path, lake_root: Path, plan: BuildPlan) -> BuildPlan:
    """Put the registry the build starts from at new_file: a copy of the registry, or for a large
    one the registry before it, when that can still be built on (its lake files unchanged, the
    same project) and no one has it open. Returns the plan for the file it starts from."""
    if earlier_file.exists() and db_file.stat().st_size >= EARLIER_REGISTRY_MIN_BYTES:
        earlier = plan_build(lake_root, earlier_file, plan.lake_files, False)
        # Not when it would read a file a compaction wrote since it was built: a whole partition
        # folder's records, which the registry holds already (at 1M runs, a rebuild after 1,000
        # runs appended to a compacted lake took 184 s that way instead of ~13 s).
        if earlier.kind == "incremental" and not earlier.compacted_new_files and not in_use(earlier_file):
            os.rename(earlier_file, new_file)
            return BuildPlan("incremental", f"{plan.reason}; built on the registry before it, which reads "
                                            f"{len(earlier.new_files)} new lake file(s)", plan.lake_files, earlier.new_files)
    shutil.copyfile(db_file, new_file)
    return plan


def in_use(db_file: Path) -> bool:
    """Someone has this DuckDB file open (a reader of the registry before the last swap)."""
    try:
        duckdb.connect(str(db_file)).close()
    except duckdb.IOException:
        return True
    return False


def keep_as_earlier(db_file: Path, earlier_file: Path) -> None:
    """Before the swap, keep a large registry being replaced (a hard link: no copy), for the next
    incremental build to start from (see EARLIER_REGISTRY_MIN_BYTES). Not one with a write-ahead
    log next to it: its file alone is not all of it."""
    earlier_file.unlink(missing_ok=True)
    if (db_file.exists() and db_file.stat().st_size >= EARLIER_REGISTRY_MIN_BYTES
            and not db_file.with_name(db_file.name + ".wal").exists()):
        try:
            os.link(db_file, earlier_file)
        except OSError:
            pass  # no hard links here: incremental builds start from a copy


def record_build(db_file: Path, lake_root: Path, plan: BuildPlan) -> None:
    """Write build_info into the file dbt builds into: the lake files the registry will hold the
    records of (the next rebuild compares them with the lake), marking those this build reads
    (read_lake reads exactly those), and the project it is built with."""
    paths = sorted(plan.lake_files)
    states = [plan.lake_files[path] for path in paths]
    with duckdb.connect(str(db_file)) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {BUILD_SCHEMA}")
        con.execute(
            f"CREATE OR REPLACE TABLE {BUILD_SCHEMA}.build AS SELECT $kind AS kind, $reason AS reason, "
            "$lake_root AS lake_root, $digest AS project_digest, current_timestamp AS started_at",
            {"kind": plan.kind, "reason": plan.reason, "lake_root": str(lake_root), "digest": project_digest()},
        )
        con.execute(
            f"CREATE OR REPLACE TABLE {BUILD_SCHEMA}.lake_files AS SELECT unnest($tables) AS lake_table, "
            "unnest($paths) AS path, unnest($sizes) AS size_bytes, unnest($modified) AS modified_ns, "
            "unnest($changed) AS changed_ns, unnest($read) AS read_by_this_build",
            {"tables": [state.lake_table for state in states], "paths": paths,
             "sizes": [state.size_bytes for state in states], "modified": [state.modified_ns for state in states],
             "changed": [state.changed_ns for state in states], "read": [plan.reads(path) for path in paths]},
        )


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


def _dbt_build(lake_root: Path, db_file: Path, kind: str, arguments: list[str]) -> list[str]:
    """Run `dbt build` in-process; returns what failed (empty when everything passed)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager  # dbt only here: ~1.5 s to import
    from dbt.cli.main import dbtRunner

    project = str(project_dir())
    # QUANTBOT_REBUILD (full or incremental): read the lake files build_info plans (see
    # macros/read_lake.sql); only read when a model runs, so dbt's parse does not depend on it.
    with _environment(QUANTBOT_LAKE=str(lake_root), QUANTBOT_DB=str(db_file), QUANTBOT_REBUILD=kind,
                      DBT_SEND_ANONYMOUS_USAGE_STATS="false"):
        try:
            result = dbtRunner().invoke(
                # --no-write-json: manifest.json is written twice per build otherwise (~0.4 s each)
                ["build", "--project-dir", project, "--profiles-dir", project, "--log-level", "none", "--no-write-json",
                 *arguments]
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
