"""Incremental rebuilds: a rebuild after an append reads only the new lake files, and gives exactly
the tables of a full build. Real lakes, real `dbt build`s, no mocks.

Each dbt build costs seconds, so the lakes are built once per module, and every in-process build
goes to one registry path per worker (a constant path keeps dbt's partial parse warm); a test
keeps what it compares in memory, never in that file.
"""

import datetime as dt
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantbot_dbt import lake, registry
from quantbot_dbt.compaction import compact
from quantbot_dbt.ids import artifact_id_for
from quantbot_dbt.project import project_dir
from quantbot_dbt.records import RunInput, dataset_record, register_dataset, register_runs
from quantbot_dbt.registry import rebuild
from quantbot_dbt.resolver import change_state, resolve, tag_run
from test_rebuild import a_run, an_artifact, base_lake, tamper, with_identity

SEEDS = ("artifact_kinds", "dataset_kinds", "run_statuses")


def registry_tables(db_file: Path) -> dict[str, list[tuple]]:
    """Every table of the registry schema, every row, in a stable order."""
    with duckdb.connect(str(db_file), read_only=True) as con:
        names = [name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'registry' ORDER BY 1").fetchall()]
        return {name: con.execute(f"SELECT * FROM registry.{name} ORDER BY ALL").fetchall() for name in names}


def primary_keys(db_file: Path) -> set[str]:
    with duckdb.connect(str(db_file), read_only=True) as con:
        return {table for (table,) in con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE schema_name = 'registry' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()}


def run_folder(lake_root: Path) -> str:
    """The folder of the base lake's first run file, relative to the runs table (whatever the layout)."""
    return str(Path(lake.files(lake_root, lake.RUNS)[0]).parent.relative_to(lake.RUNS.folder(lake_root)))


def artifact_folder_of(lake_root: Path, run_id: str) -> str:
    with duckdb.connect() as con:
        kind = lake.records(con, lake_root, lake.ARTIFACTS, "run_id = $id", {"id": run_id})[0]["kind"]
    folders = {str(Path(path).parent.relative_to(lake.ARTIFACTS.folder(lake_root)))
               for path in lake.files(lake_root, lake.ARTIFACTS)}
    return next(folder for folder in sorted(folders) if folder.startswith(f"kind={kind}/"))


@pytest.fixture(scope="module")
def worker_db(tmp_path_factory) -> Path:
    """The one registry path of this worker's in-process builds."""
    folder = tmp_path_factory.getbasetemp() / "incremental-registry"
    folder.mkdir(exist_ok=True)
    return folder / "quantbot.duckdb"


def append_a_bit_of_everything(lake_root: Path, outputs: Path) -> str:
    """New runs and artifacts (in a month the lake had no folder for), a run record sent again by
    hand with an earlier registration time (the fold must keep it), a dataset, a RunSet unfrozen and
    resolved again, a run tag. Returns the id of the new completed run."""
    new_runs = register_runs(lake_root, [
        RunInput({"dataset_ids": ["ohlcv_q4"], "strategy_hash": "s2", "engine_version": "1.0.0", "seed": 7,
                  "callers": ["brook"], "window_from": "2025-12-01", "window_to": "2025-12-15", "status": "completed",
                  "artifacts": [{"kind": "trades", "uri": str(outputs / "trades.parquet")},
                                {"kind": "metrics", "uri": str(outputs / "metrics.parquet")}]}),
        RunInput({"dataset_ids": ["alerts_h2"], "strategy_hash": "s2", "engine_version": "2.0.0", "seed": 8,
                  "callers": ["whale_watcher"], "window_from": "2025-12-02", "window_to": "2025-12-03",
                  "status": "failed", "artifacts": [{"kind": "metrics", "uri": str(outputs / "metrics.parquet")}]}),
    ])
    resent = a_run(lake_root)
    resent_file = lake.RUNS.folder(lake_root) / run_folder(lake_root) / "part-resent-by-hand.parquet"
    pq.write_table(pa.Table.from_pylist([{**resent, "registered_at": resent["registered_at"] - dt.timedelta(days=1)}],
                                        schema=lake.RUNS.schema), resent_file)
    register_dataset(lake_root, dataset_record("candles_q4", "candles", "2025-10-01", "2025-12-31"))
    change_state(lake_root, "q4_all", "unfreeze")
    resolve(lake_root, "q4_all", force=True)
    tag_run(lake_root, new_runs.written[0], ["reviewed"])
    return new_runs.written[0]


def append_a_run(lake_root: Path, outputs: Path) -> None:
    register_runs(lake_root, [RunInput({
        "dataset_ids": ["ohlcv_q4"], "strategy_hash": "s3", "engine_version": "1.0.0", "seed": 9, "callers": ["brook"],
        "window_from": "2025-11-10", "window_to": "2025-11-20", "status": "completed",
        "artifacts": [{"kind": "trades", "uri": str(outputs / "trades.parquet")}]})])


@pytest.fixture(scope="module")
def grown(tmp_path_factory, worker_db):
    """A lake built in full, appended to, rebuilt incrementally (from a copy of the registry), then
    rebuilt in full; appended to again, rebuilt incrementally from the registry before the current
    one (the way large registries are), then in full: each build's report and every registry table
    it left, kept in memory."""
    folder = tmp_path_factory.mktemp("grown")
    lake_root = folder / "lake"
    base_lake(lake_root, folder / "outputs")
    first = rebuild(lake_root, worker_db)
    assert first.ok, first.failures
    tables_before = registry_tables(worker_db)
    files_before = set(registry.lake_files(lake_root))
    new_run_id = append_a_bit_of_everything(lake_root, folder / "outputs")
    new_files = {path: state.lake_table for path, state in registry.lake_files(lake_root).items()
                 if path not in files_before}

    incremental = rebuild(lake_root, worker_db)
    assert incremental.ok, incremental.failures
    incremental_tables = registry_tables(worker_db)
    incremental_keys = primary_keys(worker_db)
    modified = os.stat(worker_db).st_mtime_ns
    again = rebuild(lake_root, worker_db)
    untouched = os.stat(worker_db).st_mtime_ns == modified

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "EARLIER_REGISTRY_MIN_BYTES", 0)  # this small registry counts as large
        full = rebuild(lake_root, worker_db, full_refresh=True)  # keeps the incremental build's registry
        assert full.ok, full.failures
        full_tables, full_keys = registry_tables(worker_db), primary_keys(worker_db)
        append_a_run(lake_root, folder / "outputs")
        from_earlier = rebuild(lake_root, worker_db)
        assert from_earlier.ok, from_earlier.failures
        from_earlier_tables = registry_tables(worker_db)
    full_again = rebuild(lake_root, worker_db, full_refresh=True)
    assert full_again.ok, full_again.failures
    return {
        "lake": lake_root, "db": worker_db, "new_run_id": new_run_id, "new_files": new_files, "first": first,
        "before": tables_before, "incremental": incremental, "incremental_tables": incremental_tables,
        "incremental_keys": incremental_keys, "again": again, "again_untouched": untouched, "full": full,
        "full_tables": full_tables, "full_keys": full_keys, "from_earlier": from_earlier,
        "from_earlier_tables": from_earlier_tables, "full_again_tables": registry_tables(worker_db),
    }


def test_an_incremental_build_gives_exactly_the_tables_of_a_full_build(grown):
    assert grown["first"].build["kind"] == "full"
    per_table = {table: list(grown["new_files"].values()).count(table) for table in set(grown["new_files"].values())}
    assert set(per_table) == {"artifacts", "datasets", "resolutions", "run_tags", "runs", "runset_events"}
    assert grown["incremental"].build == {
        "kind": "incremental",
        "reason": f"{len(grown['new_files'])} lake file(s) added since the previous build ("
                  + ", ".join(f"{table} {count}" for table, count in sorted(per_table.items())) + ")",
    }
    assert grown["full"].build == {"kind": "full", "reason": "asked for (--full-refresh)"}
    incremental, full = grown["incremental_tables"], grown["full_tables"]
    assert sorted(incremental) == sorted(full) and len(full) == 15 + len(SEEDS)
    for table in full:
        assert incremental[table] == full[table], table
    assert grown["incremental"].row_counts == grown["full"].row_counts
    # Built on the registry before the current one (which read the same files here), after one more run.
    assert grown["from_earlier"].build == {"kind": "incremental", "reason": (
        "2 lake file(s) added since the previous build (artifacts 1, runs 1); "
        "built on the registry before it, which reads 2 new lake file(s)")}
    assert grown["from_earlier_tables"] == grown["full_again_tables"] != grown["full_tables"]
    # The tables that changed did change (the comparison is not between two stale copies).
    changed = {table for table in full if full[table] != grown["before"][table]}
    assert changed >= {"runs", "artifacts", "run_datasets", "runs_with_artifacts", "dataset_coverage", "datasets",
                       "resolutions", "resolution_members", "event_log", "runsets", "tags", "runset_membership"}


def test_every_registry_key_is_enforced_after_either_build(grown):
    """Primary keys on every registry table but the four incremental ones, whose keys are the
    key_of_records_read tests' (an ART index of 5M artifact ids costs too much at every build),
    and resolution_members (6M members at 1M runs), kept unique by assert_resolution_hashes_recompute."""
    expected = {"datasets", "dataset_coverage", "runset_names", "event_log", "tags", "runsets", "resolutions",
                "runset_membership", "runsets_with_resolution", "experiments"}
    assert grown["incremental_keys"] == expected and grown["full_keys"] == expected


def test_an_appended_run_shows_up_after_an_incremental_build(grown):
    runs = {row[0]: row for row in grown["incremental_tables"]["runs_with_artifacts"]}
    assert grown["new_run_id"] not in {row[0] for row in grown["before"]["runs"]}
    assert runs[grown["new_run_id"]][-3:] == (2, ["metrics", "trades"], 4)
    # The run sent again by hand a day earlier: one row, keeping the earlier registration time.
    resent_before = {row[0]: row[-1] for row in grown["before"]["runs"]}
    resent_after = {row[0]: row[-1] for row in grown["incremental_tables"]["runs"]}
    earlier = [run_id for run_id in resent_before if resent_after[run_id] != resent_before[run_id]]
    assert len(earlier) == 1 and resent_after[earlier[0]] == resent_before[earlier[0]] - dt.timedelta(days=1)


def test_a_rebuild_with_nothing_new_builds_nothing(grown):
    assert grown["again"].ok and grown["again"].build == {
        "kind": "none", "reason": "no lake file was added, changed or removed since the previous build"}
    assert grown["again"].row_counts == grown["incremental"].row_counts
    assert grown["again_untouched"]


def test_a_registry_built_from_another_lake_or_project_is_rebuilt_in_full(grown, tmp_path):
    """What a registry records about its build decides; no dbt needed to see the plan."""
    lake_now = registry.lake_files(grown["lake"])
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(current_registry(grown).read_bytes())
    assert registry.plan_build(grown["lake"], copy, lake_now, False).kind == "none"
    other_lake = tmp_path / "other-lake"
    assert registry.plan_build(other_lake, copy, registry.lake_files(other_lake), False).reason == (
        f"the registry was built from another lake ({grown['lake']})")
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE build_info.build SET project_digest = 'an older project'")
    assert registry.plan_build(grown["lake"], copy, lake_now, False).reason == (
        "the dbt project (models, macros, tests, seeds) or the dbt or DuckDB version changed since the registry was built")
    with duckdb.connect(str(copy)) as con:
        con.execute("DROP SCHEMA build_info CASCADE")
    assert registry.plan_build(grown["lake"], copy, lake_now, False).reason == (
        "the registry does not record which lake files it was built from")
    assert registry.plan_build(grown["lake"], tmp_path / "none.duckdb", lake_now, False).reason == (
        f"there is no registry at {tmp_path / 'none.duckdb'} yet")


# ---------------------------------------------------------------- tampered new files


def current_registry(grown) -> Path:
    """The worker's registry path, holding the grown lake's registry (another test may have built
    another lake there since)."""
    if registry.plan_build(grown["lake"], grown["db"], registry.lake_files(grown["lake"]), False).kind != "none":
        assert rebuild(grown["lake"], grown["db"], full_refresh=True).ok
    return grown["db"]


@pytest.fixture
def registered(grown):
    """The grown lake and its registry; a tamper test removes its file afterwards, so the lake is
    again exactly what the registry was built from."""
    written = []
    yield grown["lake"], current_registry(grown), written
    for path in written:
        path.unlink()


def tamper_new_file(lake_root: Path, table: lake.Table, folder: str, records: list[dict], written: list[Path]) -> None:
    tamper(lake_root, table, folder, records)
    written.append(table.folder(lake_root) / folder / "part-tampered.parquet")


INCREMENTAL_TAMPERS = {
    "run id that does not recompute": (
        lambda root: [(lake.RUNS, run_folder(root), [a_run(root, run_id="f" * 64)])],
        {"assert_run_ids_recompute"},
    ),
    "conflicting record under an id an earlier build registered": (
        lambda root: [(lake.RUNS, run_folder(root), [a_run(root, status="failed")])],
        {"stg_runs_one_content_per_run_id"},
    ),
    "run of an unregistered dataset": (
        lambda root: [(lake.RUNS, run_folder(root), [with_identity(a_run(root, seed=99, dataset_ids=["nope"]))])],
        {"run_dataset_is_registered"},
    ),
    # Both contracts check only the records this build read: these show they read the new ones.
    "artifact of an unregistered run": (
        lambda root: [(lake.ARTIFACTS, artifact_folder_of(root, a_run(root)["run_id"]), [
            {**an_artifact(root), "run_id": "e" * 64, "artifact_id": artifact_id_for("e" * 64, "trades", "0" * 64),
             "content_hash": "0" * 64}])],
        {"artifact_run_is_registered"},
    ),
    "new run whose artifact_count is not its artifacts'": (
        lambda root: [(lake.RUNS, run_folder(root), [{**with_identity(a_run(root, seed=98)), "artifact_count": 5}])],
        {"assert_run_artifact_counts_match_artifacts"},
    ),
}


@pytest.mark.parametrize("case", sorted(INCREMENTAL_TAMPERS))
def test_a_tampered_new_file_fails_the_incremental_build_and_keeps_the_registry(registered, case):
    lake_root, db_file, written = registered
    bad_files, expected = INCREMENTAL_TAMPERS[case]
    before = registry_tables(db_file)
    for table, folder, records in bad_files(lake_root):
        tamper_new_file(lake_root, table, folder, records, written)
    result = rebuild(lake_root, db_file)
    assert not result.ok and result.build["kind"] == "incremental"
    assert {failure.split(":")[0].split(" ", 1)[1] for failure in result.failures} == expected, result.failures
    assert registry_tables(db_file) == before


def test_full_refresh_from_the_cli(quantbot, grown):
    """On the worker's registry path, so that dbt's parse is warm; a full build gives the same tables."""
    db_file = current_registry(grown)
    result = quantbot("registry", "rebuild", "--full-refresh", "--db", str(db_file), lake=grown["lake"])
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"full rebuild of {db_file}: asked for (--full-refresh)"
    assert f"registry.runs {len(grown['full_again_tables']['runs'])}" in [" ".join(line.split()) for line in lines]
    assert registry_tables(db_file) == grown["full_again_tables"]


def project_graph(worker_db: Path, monkeypatch) -> dict[str, list[str]]:
    """Each dbt node's parents, from an in-process `dbt parse` (with the environment of the
    worker's rebuilds, so that its partial parse stays warm)."""
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv("QUANTBOT_DB", str(worker_db.parent / f".{worker_db.name}.build" / worker_db.name))
    project = str(project_dir())
    result = dbtRunner().invoke(["parse", "--project-dir", project, "--profiles-dir", project, "--log-level", "none",
                                 "--no-write-json"])
    assert result.success, result.exception
    nodes = {**result.result.nodes, **result.result.unit_tests}
    return {node_id: list(getattr(node.depends_on, "nodes", [])) for node_id, node in nodes.items()}  # seeds: none


def test_what_reads_the_new_records_of_runs_or_artifacts_reads_no_other_lake_table(grown, worker_db, monkeypatch):
    """stg_runs and stg_artifacts hold only the records an incremental build read, and an incremental
    build rebuilds what descends from the lake tables with new files (both of them together, when
    either has some). So a node that reads them must descend from no other lake table's staging:
    else a build with new files only there would run it on the records of an earlier build."""
    parents = project_graph(worker_db, monkeypatch)

    def ancestors(node_id: str) -> set[str]:
        found, stack = set(), list(parents.get(node_id, []))
        while stack:
            parent = stack.pop()
            if parent not in found:
                found.add(parent)
                stack.extend(parents.get(parent, []))
        return found

    incremental_staging = {f"model.quantbot.stg_{name}" for name in registry.INCREMENTAL_TABLES}
    readers = [node_id for node_id, node_parents in parents.items() if set(node_parents) & incremental_staging]
    assert len(readers) > 10  # the staging contracts, runs, artifacts, run_datasets, runs_with_artifacts ...
    for node_id in readers:
        staging = {parent for parent in ancestors(node_id) if parent.startswith("model.quantbot.stg_")}
        assert staging <= incremental_staging, node_id


# ---------------------------------------------------------------- lakes that need a full build


def test_changed_or_removed_files_and_late_artifacts_force_a_full_build(tmp_path, worker_db):
    lake_root = tmp_path / "lake"
    base_lake(lake_root, tmp_path / "outputs")
    assert rebuild(lake_root, worker_db).ok
    full_tables = registry_tables(worker_db)

    # A file replaced by hand, even with the same records: its size or times change. (The plan is
    # what rebuild reports; the full build it leads to is the one after the compaction below.)
    replaced = lake.files(lake_root, lake.DATASETS)[0]
    pq.write_table(pq.read_table(replaced), replaced)
    plan = registry.plan_build(lake_root, worker_db, registry.lake_files(lake_root), False)
    assert (plan.kind, plan.reason) == ("full", f"1 lake file(s) read by the previous build have changed since, e.g. {replaced}")

    # Compacted after that edit: the compaction's record accounts for the other files it merged,
    # not for the edited one, which is not the file the registry was built from.
    merged = compact(lake_root)
    assert merged.files_after < merged.files_before
    result = rebuild(lake_root, worker_db)
    assert result.ok and result.build == {"kind": "full", "reason": (
        "1 lake file(s) read by the previous build are gone, and no record of a compaction says which file of "
        f"the lake holds their records now, e.g. {replaced}")}
    assert registry_tables(worker_db) == full_tables

    # An artifact added by hand to a run an earlier build registered: the incremental build cannot
    # check it against its run, so the rebuild starts over in full, which refuses it.
    run_id = a_run(lake_root)["run_id"]
    late = {"artifact_id": artifact_id_for(run_id, "trades", "2" * 64), "run_id": run_id, "kind": "trades",
            "uri": "/late/trades.parquet", "content_hash": "2" * 64, "size_bytes": 10, "row_count": 1,
            "registered_at": lake.utc_now()}
    tamper(lake_root, lake.ARTIFACTS, artifact_folder_of(lake_root, run_id), [late])
    result = rebuild(lake_root, worker_db)
    assert result.build == {"kind": "full", "reason": (
        "an artifact was added to a run registered by an earlier build: its contracts need every record")}
    # The full build it fell back to names what is wrong: the run says how many artifacts it has.
    assert not result.ok
    assert [failure.split(":")[0] for failure in result.failures] == ["test assert_run_artifact_counts_match_artifacts"]


# ---------------------------------------------------------------- compacted lakes


def compacted_after_a_build(tmp_path: Path, worker_db: Path) -> tuple[Path, dict[str, list[tuple]], list[str], int]:
    """A lake of several files per folder, built in full, appended to, built again, then compacted:
    the lake, the registry's tables, the files the builds read that the compaction removed, and
    the number of files it wrote. The registry before the current one (the full build's) has not
    read the appended files, which the compaction merged with older ones."""
    lake_root = tmp_path / "lake"
    base_lake(lake_root, tmp_path / "outputs")
    assert rebuild(lake_root, worker_db, full_refresh=True).ok
    append_a_run(lake_root, tmp_path / "outputs")  # a second file in the runs folder of 2025-11
    assert rebuild(lake_root, worker_db).build["kind"] == "incremental"
    read_by_the_build = registry.lake_files(lake_root)
    merged = compact(lake_root)
    gone = sorted(set(read_by_the_build) - set(registry.lake_files(lake_root)))
    return lake_root, registry_tables(worker_db), gone, len(merged.merged_folders)


def test_a_rebuild_after_a_compaction_keeps_the_registry_and_reads_only_new_files(tmp_path, worker_db, monkeypatch):
    monkeypatch.setattr(registry, "EARLIER_REGISTRY_MIN_BYTES", 0)  # this small registry counts as large
    lake_root, tables, gone, merged_files = compacted_after_a_build(tmp_path, worker_db)
    assert (len(gone), merged_files) == (4, 2)  # datasets 2 -> 1, runs of 2025-11 2 -> 1
    built = os.stat(worker_db).st_mtime_ns

    result = rebuild(lake_root, worker_db)

    assert result.ok and result.build == {"kind": "none", "reason": (
        "no lake file was added since the previous build, and the 4 it read that are gone were compacted into 2 "
        "holding the same records")}
    assert os.stat(worker_db).st_mtime_ns == built and registry_tables(worker_db) == tables

    # A run appended after the compaction: only its two files are read, not the compacted ones.
    files_before = set(registry.lake_files(lake_root))
    register_runs(lake_root, [RunInput({
        "dataset_ids": ["ohlcv_q4"], "strategy_hash": "s4", "engine_version": "1.0.0", "seed": 10, "callers": ["brook"],
        "window_from": "2025-11-03", "window_to": "2025-11-04", "status": "completed",
        "artifacts": [{"kind": "metrics", "uri": str(tmp_path / "outputs" / "metrics.parquet")}]})])
    new_files = set(registry.lake_files(lake_root)) - files_before
    plan = registry.plan_build(lake_root, worker_db, registry.lake_files(lake_root), False)
    assert (plan.kind, plan.new_files) == ("incremental", new_files)
    assert plan.reason == ("2 lake file(s) added since the previous build (artifacts 1, runs 1); "
                           "the 4 it read that are gone were compacted into files of the lake")
    # Built on a copy of the registry, not on the one before it, which would read the compacted
    # runs file of 2025-11 again (it holds the run appended after that registry was built).
    incremental = rebuild(lake_root, worker_db)
    assert incremental.ok and incremental.build == {"kind": "incremental", "reason": plan.reason}
    incremental_tables = registry_tables(worker_db)
    assert rebuild(lake_root, worker_db, full_refresh=True).ok
    assert incremental_tables == registry_tables(worker_db) != tables


def test_files_appended_then_compacted_with_older_ones_are_read_again(tmp_path, worker_db):
    """The merged file also holds records the registry does not have: it is read as a new file,
    and its older records fold into the rows already there."""
    lake_root = tmp_path / "lake"
    base_lake(lake_root, tmp_path / "outputs")
    assert rebuild(lake_root, worker_db, full_refresh=True).ok
    register_dataset(lake_root, dataset_record("candles_q4", "candles", "2025-10-01", "2025-12-31"))
    merged = compact(lake_root)
    (datasets_file,) = lake.files(lake_root, lake.DATASETS)

    plan = registry.plan_build(lake_root, worker_db, registry.lake_files(lake_root), False)

    assert (plan.kind, plan.new_files) == ("incremental", {datasets_file})
    assert plan.reason == ("1 lake file(s) added since the previous build (datasets 1); "
                           "the 2 it read that are gone were compacted into files of the lake")
    assert [(folder.table, len(folder.sources)) for folder in merged.merged_folders] == [("datasets", 3)]  # one new
    result = rebuild(lake_root, worker_db)
    assert result.ok and result.build["kind"] == "incremental"
    incremental_tables = registry_tables(worker_db)
    assert [row[0] for row in incremental_tables["datasets"]] == ["alerts_h2", "candles_q4", "ohlcv_q4"]
    assert rebuild(lake_root, worker_db, full_refresh=True).ok
    assert registry_tables(worker_db) == incremental_tables


def test_a_compacted_file_edited_since_or_a_broken_record_force_a_full_build(tmp_path, worker_db):
    lake_root, tables, gone, _ = compacted_after_a_build(tmp_path, worker_db)
    (record,) = sorted((lake_root / "compactions").iterdir())
    (datasets_file,) = lake.files(lake_root, lake.DATASETS)
    pq.write_table(pq.read_table(datasets_file), datasets_file)  # the same records, written again by hand

    plan = registry.plan_build(lake_root, worker_db, registry.lake_files(lake_root), False)

    gone_datasets = [path for path in gone if "/datasets/" in path]
    assert (plan.kind, plan.reason) == ("full", (
        "2 lake file(s) read by the previous build are gone, and no record of a compaction says which file of "
        f"the lake holds their records now, e.g. {gone_datasets[0]}"))

    record.write_text(record.read_text()[:-20])  # cut short, as by a full disk
    plan = registry.plan_build(lake_root, worker_db, registry.lake_files(lake_root), False)
    assert plan.kind == "full" and plan.reason.startswith(f"the compaction record {record} cannot be read: ")
    result = rebuild(lake_root, worker_db)
    assert result.ok and result.build["kind"] == "full" and registry_tables(worker_db) == tables

    # A file removed by hand: no record accounts for it.
    record.unlink()
    removed = lake.files(lake_root, lake.RUNS)[0]
    os.unlink(removed)
    plan = registry.plan_build(lake_root, worker_db, registry.lake_files(lake_root), False)
    assert (plan.kind, plan.reason) == ("full", (
        "1 lake file(s) read by the previous build are gone, and no record of a compaction says which file of "
        f"the lake holds their records now, e.g. {removed}"))


def test_a_build_that_reads_much_of_the_lake_is_built_one_node_at_a_time():
    """At 1M runs two memory-heavy nodes at once ran a full build out of DuckDB's memory limit. An
    incremental build counts only what it reads: a small append to a large lake keeps two at a time."""
    large = registry.ONE_NODE_AT_A_TIME_MIN_BYTES

    def plan(kind, new_files, earlier_files=()):
        lake_files = {path: registry.LakeFile(path.split("/")[0], size, 0, 0)
                      for path, size in [*new_files, *earlier_files]}
        return registry.BuildPlan(kind, "a reason", lake_files, frozenset(path for path, _ in new_files))

    runs_and_artifacts = ["--select", "stg_artifacts+", "stg_runs+", "--exclude", "test_type:unit",
                          "resolution_member_is_a_registered_run", "run_tag_targets_a_registered_run"]
    assert plan("full", [("runs/1.parquet", large - 1)]).dbt_arguments() == ["--exclude", "test_type:unit"]
    assert plan("full", [("runs/1.parquet", large)]).dbt_arguments() == ["--threads", "1", "--exclude", "test_type:unit"]
    assert plan("incremental", [("runs/2.parquet", large)]).dbt_arguments() == ["--threads", "1", *runs_and_artifacts]
    # The earlier files of runs and artifacts are not read again, nor those of a table not rebuilt.
    small_append = plan("incremental", [("runs/2.parquet", 1)],
                        [("artifacts/1.parquet", large), ("resolutions/1.parquet", large)])
    assert small_append.bytes_read() == 1
    assert small_append.dbt_arguments() == runs_and_artifacts
    # A table read in full (resolutions) counts with every file.
    new_resolution = plan("incremental", [("resolutions/2.parquet", 1)], [("resolutions/1.parquet", large - 1)])
    assert new_resolution.bytes_read() == large
    assert new_resolution.dbt_arguments() == ["--threads", "1", "--select", "stg_resolutions+",
                                              "--exclude", "test_type:unit", "run_tag_targets_a_registered_run"]


def test_an_incremental_build_skips_only_the_contracts_that_appended_runs_cannot_break():
    """What points at a registered run is checked again only when it is read again: runs are never
    removed from the registry an incremental build starts from."""
    def arguments(*tables):
        lake_files = {f"{table}/part-1.parquet": registry.LakeFile(table, 1, 0, 0) for table in tables}
        return registry.BuildPlan("incremental", "a reason", lake_files, frozenset(lake_files)).dbt_arguments()

    assert arguments("resolutions") == ["--select", "stg_resolutions+", "--exclude", "test_type:unit",
                                        "run_tag_targets_a_registered_run"]
    assert arguments("run_tags", "runs") == ["--select", "stg_artifacts+", "stg_run_tags+", "stg_runs+",
                                             "--exclude", "test_type:unit", "resolution_member_is_a_registered_run"]
