"""`quantbot registry rebuild`: a real `dbt build` of the real lake; tampered lakes fail by name."""

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantbot_dbt import lake
from quantbot_dbt.ids import artifact_id_for, run_id_for, run_identity
from quantbot_dbt.project import project_dir
from quantbot_dbt.records import (
    RunInput,
    dataset_record,
    register_dataset,
    register_runs,
)
from quantbot_dbt.registry import rebuild
from quantbot_dbt.resolver import change_state, create_runset, event_record, resolution_id_for, runset_spec

RUN_FOLDER = "engine_version=1.0.0/month=2025-10"  # where the base lake's first run is
REGISTRY_TABLES = [
    "artifacts", "dataset_coverage", "datasets", "event_log", "experiments", "resolution_members", "resolutions",
    "run_datasets", "runs", "runs_with_artifacts", "runset_membership", "runset_names", "runsets",
    "runsets_with_resolution", "tags",
]


def failing_contracts(stderr: str) -> set[str]:
    return set(re.findall(r"^  (?:test|unit_test|model) ([\w:]+):", stderr, flags=re.MULTILINE))


def registry_rows(db_file, table):
    with duckdb.connect(str(db_file), read_only=True) as con:
        return con.execute(f"select * from registry.{table} order by all").fetchall()


def base_lake(lake_root, outputs):
    """Two datasets, two runs (one failed), three artifacts: a small, consistent lake."""
    register_dataset(lake_root, dataset_record("ohlcv_q4", "ohlcv", "2025-10-01", "2025-12-31"))
    register_dataset(lake_root, dataset_record("alerts_h2", "alerts"))
    outputs.mkdir(parents=True)
    pq.write_table(pa.table({"trade_id": [1, 2, 3], "pnl": [1.0, -0.5, 2.0]}), outputs / "trades.parquet")
    pq.write_table(pa.table({"metric": ["pnl"], "value": [2.5]}), outputs / "metrics.parquet")
    run = {"dataset_ids": ["ohlcv_q4", "alerts_h2"], "strategy_hash": "s1", "engine_version": "1.0.0",
           "callers": ["brook"], "window_from": "2025-10-01", "window_to": "2025-10-31"}
    register_runs(lake_root, [
        RunInput({**run, "seed": 1, "status": "completed", "artifacts": [
            {"kind": "trades", "uri": str(outputs / "trades.parquet")},
            {"kind": "metrics", "uri": str(outputs / "metrics.parquet")}]}),
        RunInput({**run, "seed": 2, "status": "failed", "window_from": "2025-11-01", "window_to": "2025-11-30",
                  "artifacts": [{"kind": "metrics", "uri": str(outputs / "metrics.parquet")}]}),
    ])
    create_runset(lake_root, "q4_all", runset_spec(["ohlcv_q4"], status="any"))
    change_state(lake_root, "q4_all", "freeze")


@pytest.fixture(scope="module")
def built_base(tmp_path_factory):
    """The base lake and its registry, built once; each test gets a copy to tamper with."""
    folder = tmp_path_factory.mktemp("base")
    base_lake(folder / "lake", folder / "outputs")
    result = rebuild(folder / "lake", folder / "lake" / "quantbot.duckdb")
    assert result.ok, result.failures
    duckdb.connect(str(folder / "lake" / "quantbot.duckdb")).close()  # released: opens read-write at once
    return folder / "lake"


@pytest.fixture
def base(built_base, lake_root):
    shutil.copytree(built_base, lake_root)
    return lake_root


@pytest.fixture
def worker_registry(built_base, tmp_path_factory):
    """The base registry at one fixed path per worker: in-process rebuilds into the same path keep
    dbt's partial parse warm (a new database path is a new profile to dbt: a full re-parse)."""
    db_file = tmp_path_factory.getbasetemp() / "worker-registry" / "quantbot.duckdb"
    db_file.parent.mkdir(exist_ok=True)
    shutil.copyfile(built_base / "quantbot.duckdb", db_file)
    return db_file


def tamper(lake_root, table, folder, records, name="part-tampered.parquet"):
    """Write a file by hand, as a tamperer (or a buggy tool) would: no checks, no lock."""
    path = table.folder(lake_root) / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records, schema=table.schema), path)


def a_run(lake_root, **changes):
    with duckdb.connect() as con:
        run = lake.records(con, lake_root, lake.RUNS, "seed = 1")[0]
    return {**run, **changes}


def test_rebuild_on_an_empty_lake(quantbot, lake_root):
    result = quantbot("registry", "rebuild", "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["ok"] is True and document["failures"] == []
    assert document["build"] == {"kind": "full", "reason": f"there is no registry at {lake_root / 'quantbot.duckdb'} yet"}
    assert document["row_counts"] == {
        **{table: 0 for table in REGISTRY_TABLES}, "artifact_kinds": 4, "dataset_kinds": 3, "run_statuses": 2,
    }
    # The process ends without the interpreter's teardown (cli.exit_without_teardown), cleanly:
    # nothing on stderr, no write-ahead log left (the next rebuild finds the registry current).
    assert result.stderr == ""
    assert not (lake_root / "quantbot.duckdb.wal").exists()
    again = quantbot("registry", "rebuild", "--json")
    assert (again.code, again.stderr) == (0, "")
    assert again.json()["build"] == {
        "kind": "none", "reason": "no lake file was added, changed or removed since the previous build"}
    # The CLI released the file: it opens read-write at once.
    duckdb.connect(str(lake_root / "quantbot.duckdb")).close()


def test_demo_lake_rebuilds_to_the_same_tables_after_the_cache_is_deleted(quantbot, lake_root):
    demo = quantbot("demo", "--json")
    assert demo.code == 0, demo.stderr
    summary = demo.json()
    assert (summary["datasets"], summary["runs"], summary["failed_runs"], summary["artifacts"], summary["runsets"]) == (
        3, 48, 5, 89, 4)
    assert summary["row_counts"]["runs"] == 48 and summary["row_counts"]["artifacts"] == 89
    db_file = lake_root / "quantbot.duckdb"
    before = {table: registry_rows(db_file, table) for table in REGISTRY_TABLES}
    db_file.unlink()
    assert quantbot("registry", "rebuild").code == 0
    assert {table: registry_rows(db_file, table) for table in REGISTRY_TABLES} == before
    # Human output: one line per table with its row count.
    assert re.search(r"^registry\.runs +48$", quantbot("registry", "rebuild").stdout, flags=re.MULTILINE)


def test_runs_with_artifacts_and_coverage_count_each_thing_once(base):
    db_file = base / "quantbot.duckdb"
    with duckdb.connect(str(db_file), read_only=True) as con:
        per_run = con.execute(
            "select seed, artifact_count, artifact_kinds, artifact_rows from registry.runs_with_artifacts order by seed"
        ).fetchall()
        coverage = con.execute(
            "select dataset_id, run_count, completed_run_count, failed_run_count, runs_window_from, runs_window_to,"
            " artifact_count from registry.dataset_coverage order by dataset_id"
        ).fetchall()
    assert per_run == [(1, 2, ["metrics", "trades"], 4), (2, 1, ["metrics"], 1)]
    assert [row[:4] for row in coverage] == [("alerts_h2", 2, 1, 1), ("ohlcv_q4", 2, 1, 1)]
    assert {row[6] for row in coverage} == {3}


def test_a_record_sent_twice_folds_into_one_row(quantbot, base):
    run = a_run(base)
    tamper(base, lake.RUNS, RUN_FOLDER, [run])  # identical content, new file
    result = quantbot("registry", "rebuild", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["row_counts"]["runs"] == 2


def test_a_run_sent_again_with_its_maps_in_another_key_order_is_the_same_record(quantbot, base):
    run = with_identity(a_run(base, seed=8, params=[("b", "2"), ("a", "1")], metrics=[("z", 1.0), ("y", 2.0)]))
    tamper(base, lake.RUNS, RUN_FOLDER, [run])
    tamper(base, lake.RUNS, RUN_FOLDER, [{**run, "params": run["params"][::-1], "metrics": run["metrics"][::-1]}],
           name="part-tampered-again.parquet")
    result = quantbot("registry", "rebuild", "--json")
    assert result.code == 0, result.stderr
    with duckdb.connect(str(base / "quantbot.duckdb"), read_only=True) as con:
        rows = con.execute("select map_entries(params), map_entries(metrics) from registry.runs where run_id = $id",
                           {"id": run["run_id"]}).fetchall()
    assert rows == [([{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
                     [{"key": "y", "value": 2.0}, {"key": "z", "value": 1.0}])]


def test_a_resolution_sent_twice_is_one_row_and_one_member_list(quantbot, base):
    """resolutions, event_log and resolution_members each fold the copy (resolution_members
    unnests the records read, not registry.resolutions, which keeps no member list)."""
    resolution = a_resolution(base)
    tamper(base, lake.RESOLUTIONS, f"runset_id={resolution['runset_id']}", [resolution],
           name=f"part-tampered-seq{resolution['event_seq']:019d}.parquet")
    result = quantbot("registry", "rebuild", "--json")
    assert result.code == 0, result.stderr
    with duckdb.connect(str(base / "quantbot.duckdb"), read_only=True) as con:
        def count(sql):
            return con.execute(sql, {"id": resolution["resolution_id"]}).fetchall()[0][0]
        assert count("select count(*) from registry.resolutions where resolution_id = $id") == 1
        assert count("select count(*) from registry.event_log where resolution_id = $id and event = 'resolved'") == 1
        members = con.execute("select run_id from registry.resolution_members where resolution_id = $id "
                              "order by run_id", {"id": resolution["resolution_id"]}).fetchall()
        columns = {name for (name,) in con.execute(
            "select column_name from information_schema.columns where table_name = 'resolutions'").fetchall()}
    assert [run_id for (run_id,) in members] == resolution["run_ids"] != []
    assert "run_ids" not in columns and "resolution_hash" in columns


def test_a_failed_rebuild_names_the_contract_and_keeps_the_old_registry(quantbot, base):
    db_file = base / "quantbot.duckdb"
    before = {table: registry_rows(db_file, table) for table in REGISTRY_TABLES}
    tamper(base, lake.RUNS, RUN_FOLDER, [a_run(base, status="failed")])
    result = quantbot("registry", "rebuild")
    assert result.code == 1
    assert result.stderr.splitlines()[0] == f"error: registry rebuild failed; {db_file} is unchanged"
    assert failing_contracts(result.stderr) == {"stg_runs_one_content_per_run_id"}, result.stderr
    assert {table: registry_rows(db_file, table) for table in REGISTRY_TABLES} == before


def with_identity(run):
    """A tampered run whose id still recomputes, so that only the intended contract breaks: a new
    run, so it has no artifact and says so."""
    identity = run_identity(run["dataset_ids"], run["strategy_hash"], run["engine_version"], run["seed"],
                            run["callers"], run["window_from"], run["window_to"])
    return {**run, "run_id": run_id_for(identity), "artifact_count": 0}


TAMPERS = {
    "conflicting duplicate id": (
        lambda root: tamper(root, lake.RUNS, RUN_FOLDER, [a_run(root, status="failed")]),
        {"stg_runs_one_content_per_run_id"},
    ),
    "dangling dataset reference": (
        lambda root: tamper(root, lake.RUNS, RUN_FOLDER, [with_identity(a_run(root, dataset_ids=["never_registered"]))]),
        {"run_dataset_is_registered"},
    ),
    "artifact of an unregistered run": (
        lambda root: tamper(root, lake.ARTIFACTS, "kind=trades/month=2025-10", [
            {**an_artifact(root), "run_id": "e" * 64, "artifact_id": artifact_id_for("e" * 64, "trades", "0" * 64),
             "content_hash": "0" * 64}]),
        {"artifact_run_is_registered"},
    ),
    "run id that does not recompute": (
        lambda root: tamper(root, lake.RUNS, RUN_FOLDER, [a_run(root, run_id="f" * 64)]),
        {"assert_run_ids_recompute"},
    ),
    "run in another engine's folder": (
        lambda root: tamper(root, lake.RUNS, "engine_version=9.9.9/month=2025-10", [with_identity(a_run(root, seed=3))]),
        {"assert_run_partitions_match_records"},
    ),
    "run file outside any partition folder": (
        lambda root: tamper(root, lake.RUNS, "", [with_identity(a_run(root, seed=7))]),
        {"assert_run_partitions_match_records"},
    ),
    "artifact outside its run's month folder": (
        lambda root: tamper(root, lake.ARTIFACTS, "kind=trades/month=2025-11", [
            {**an_artifact(root), "artifact_id": artifact_id_for(an_artifact(root)["run_id"], "trades", "1" * 64),
             "content_hash": "1" * 64}]),
        # One more artifact of that run, too: its run's artifact_count no longer matches.
        {"assert_artifact_partitions_match_records", "assert_run_artifact_counts_match_artifacts"},
    ),
    "artifact of a kind outside the artifact_kinds seed": (
        lambda root: tamper(root, lake.ARTIFACTS, "kind=orderbook/month=2025-10", [
            {**an_artifact(root), "kind": "orderbook", "content_hash": "2" * 64,
             "artifact_id": artifact_id_for(an_artifact(root)["run_id"], "orderbook", "2" * 64)}]),
        # One more artifact of that run, too; runs_with_artifacts (kinds as seed bits) is skipped.
        {"artifact_kind_is_an_artifact_kind", "assert_run_artifact_counts_match_artifacts"},
    ),
    "run whose artifact_count is not its artifacts'": (
        lambda root: tamper(root, lake.RUNS, RUN_FOLDER, [{**with_identity(a_run(root, seed=6)), "artifact_count": 5}]),
        {"assert_run_artifact_counts_match_artifacts"},
    ),
    "unknown status": (
        lambda root: tamper(root, lake.RUNS, RUN_FOLDER, [with_identity(a_run(root, seed=4, status="exploded"))]),
        {"run_status_is_a_run_status"},
    ),
    "RunSet spec edited after its id was computed": (
        lambda root: tamper(root, lake.RUNSETS, f"runset_id={a_runset(root)['runset_id']}", [
            {**a_runset(root), "spec_json": a_runset(root)["spec_json"].replace('"any"', '"failed"')}]),
        {"assert_runset_ids_recompute", "stg_runsets_one_content_per_runset_id"},
    ),
    "resolution whose member list was edited": (
        lambda root: tamper(root, lake.RESOLUTIONS, f"runset_id={a_resolution(root)['runset_id']}", [
            {**a_resolution(root), "run_ids": a_resolution(root)["run_ids"][:1], "event_seq": 1000,
             "resolution_id": "d" * 64}]),
        {"assert_resolution_hashes_recompute"},
    ),
    "resolution id that does not recompute": (
        lambda root: tamper(root, lake.RESOLUTIONS, f"runset_id={a_resolution(root)['runset_id']}", [
            {**a_resolution(root), "event_seq": 1001, "resolution_id": "c" * 64}]),
        {"assert_resolution_hashes_recompute"},
    ),
    "event file whose name understates its highest event_seq": (
        lambda root: tamper(root, lake.RUNSET_EVENTS, "", [
            {**event_record(a_runset(root)["runset_id"], "described", description="edited by hand"),
             "event_seq": 2000, "registered_at": a_runset(root)["registered_at"]}],
            name=f"part-tampered-seq{1:019d}.parquet"),
        {"assert_event_file_names_state_their_highest_event_seq"},
    ),
    "resolution that lists a run twice": (
        lambda root: tamper(root, lake.RESOLUTIONS, f"runset_id={a_resolution(root)['runset_id']}", [
            relisted(a_resolution(root), [a_resolution(root)["run_ids"][0]] * 2, event_seq=1002)]),
        # What keeps registry.resolution_members unique (it has no primary key).
        {"assert_resolution_hashes_recompute"},
    ),
    "resolution whose members are out of order": (
        lambda root: tamper(root, lake.RESOLUTIONS, f"runset_id={a_resolution(root)['runset_id']}", [
            relisted(a_resolution(root), sorted(every_run_id(root), reverse=True), event_seq=1003)]),
        {"assert_resolution_hashes_recompute"},
    ),
    "resolution with a null member": (
        lambda root: tamper(root, lake.RESOLUTIONS, f"runset_id={a_resolution(root)['runset_id']}", [
            relisted(a_resolution(root), with_null_between(sorted(every_run_id(root))), event_seq=1004)]),
        {"assert_resolution_hashes_recompute"},
    ),
    "window that ends before it starts": (
        lambda root: tamper(root, lake.RUNS, RUN_FOLDER, [with_identity(
            a_run(root, seed=5, window_to=dt.date(2025, 9, 30)))]),
        {"runs_window_is_ordered"},
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_each_tampered_lake_fails_exactly_its_contract(base, worker_registry, case):
    """In-process (the CLI's output is checked above): one dbt import per worker, not per case."""
    write_bad_file, expected_contracts = TAMPERS[case]
    write_bad_file(base)
    db_file = worker_registry
    before = {table: registry_rows(db_file, table) for table in REGISTRY_TABLES}
    result = rebuild(base, db_file)
    assert not result.ok
    assert {failure.split(":")[0].split(" ", 1)[1] for failure in result.failures} == expected_contracts, result.failures
    assert {table: registry_rows(db_file, table) for table in REGISTRY_TABLES} == before


def a_runset(lake_root):
    with duckdb.connect() as con:
        return lake.records(con, lake_root, lake.RUNSETS)[0]


def relisted(resolution, run_ids, event_seq):
    """The resolution with another member list, and an id, hash and count that agree with that list
    as stored (the hash joins its members in their order, a null left out, as DuckDB's
    array_to_string does): only the list's order, repeats or nulls can be at fault."""
    resolution_hash = hashlib.sha256("\n".join(run_id for run_id in run_ids if run_id is not None).encode()).hexdigest()
    return {**resolution, "run_ids": run_ids, "run_count": len(run_ids), "event_seq": event_seq,
            "resolution_hash": resolution_hash,
            "resolution_id": resolution_id_for(resolution["runset_id"], event_seq, resolution_hash)}


def with_null_between(run_ids):
    """[first, None, second]: each neighbour comparison is null, and the hash (nulls left out) agrees."""
    return [run_ids[0], None, run_ids[1]]


def every_run_id(lake_root):
    with duckdb.connect() as con:
        return [run["run_id"] for run in lake.records(con, lake_root, lake.RUNS)]


def a_resolution(lake_root):
    with duckdb.connect() as con:
        return lake.records(con, lake_root, lake.RESOLUTIONS)[0]


def an_artifact(lake_root):
    with duckdb.connect() as con:
        return lake.records(con, lake_root, lake.ARTIFACTS, "kind = 'trades'")[0]


def test_dbt_build_by_hand_from_the_project_root_builds_the_same_registry(base, tmp_path):
    """profiles.yml reads QUANTBOT_LAKE / QUANTBOT_DB, so plain `dbt build` rebuilds the same tables."""
    by_hand = tmp_path / "by-hand.duckdb"
    env = {**os.environ, "QUANTBOT_LAKE": str(base), "QUANTBOT_DB": str(by_hand)}
    dbt = Path(sys.executable).parent / "dbt"
    completed = subprocess.run([str(dbt), "build", "--profiles-dir", "."], cwd=project_dir(), env=env,
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout[-3000:]
    for table in REGISTRY_TABLES:
        assert registry_rows(by_hand, table) == registry_rows(base / "quantbot.duckdb", table)
