"""`quantbot lab query` and `quantbot lab report`: scoped relations, the guard, formats, templates.

The demo lake is built once per module (no registry rebuild: the lab reads the lake). Expected
rows are computed here straight from the lake's and the artifacts' Parquet files with pyarrow,
never through the lab's own code. Behaviours run through the real CLI; the guard's table of
refusals and the locked-down connection are also exercised in-process (fast).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_error_line, write_parquet

from quantbot_dbt import lab, resolver
from quantbot_dbt.demo import build_demo
from quantbot_dbt.ids import InputError
from quantbot_dbt.records import (
    RunInput,
    dataset_record,
    register_dataset,
    register_runs,
)

FROZEN = "brook_baseline_2025Q4"
EXPLORING = "brook_2025Q3_overlap"  # resolved, not frozen
WITH_FAILED = "momentum_all_engines"  # status any: a failed member has metrics but no trades
READ_ONLY = "a lab query is one read-only SELECT"
SCOPE = "a lab query reads only the RunSet's relations (runs, artifacts, membership, one per artifact kind)"
UNRESOLVED = "lab_never_resolved"
REPORTS = Path(__file__).resolve().parents[2] / "reports"


# ---------------------------------------------------------------- fixtures and independent readers


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake_root = tmp_path_factory.mktemp("lab") / "lake"
    build_demo(lake_root)
    # A RunSet nobody resolves: a refused query must not record its first resolution.
    resolver.create_runset(lake_root, UNRESOLVED, resolver.runset_spec(["ohlcv_v2_2025Q4"], callers=["degen_dan"]))
    return lake_root


@pytest.fixture
def lab_cli(quantbot, demo_lake):
    return lambda *args: quantbot("lab", *args, lake=demo_lake)


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file under the folders (hidden ones too) with the sha256 of its bytes."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders for path in sorted(folder.rglob("*")) if path.is_file()
    }


def read_rows(path: Path | str) -> list[dict]:
    return pq.ParquetFile(path).read().to_pylist()  # ParquetFile: no hive partition guessing


def lake_rows(lake_root: Path, table: str) -> list[dict]:
    return [row for path in sorted((lake_root / "registry" / table).rglob("*.parquet")) for row in read_rows(path)]


def current_members(lake_root: Path, name: str) -> tuple[dict, list[str]]:
    """The current resolution of a RunSet read from the lake files: pinned if frozen, else the latest."""
    (runset_id,) = {row["runset_id"] for row in lake_rows(lake_root, "runset_names") if row["name"] == name}
    resolutions = sorted((row for row in lake_rows(lake_root, "resolutions") if row["runset_id"] == runset_id),
                         key=lambda row: row["event_seq"])
    events = sorted((row for row in lake_rows(lake_root, "runset_events")
                     if row["runset_id"] == runset_id and row["event"] in ("frozen", "unfrozen")),
                    key=lambda row: row["event_seq"])
    current = resolutions[-1]
    if events and events[-1]["event"] == "frozen":
        (current,) = [row for row in resolutions if row["resolution_id"] == events[-1]["resolution_id"]]
    return current, sorted(current["run_ids"])


def kind_rows(lake_root: Path, kind: str, run_ids: list[str]) -> list[dict]:
    rows = []
    for artifact in lake_rows(lake_root, "artifacts"):
        if artifact["kind"] == kind and artifact["run_id"] in run_ids:
            rows += [{**row, "run_id": artifact["run_id"]} for row in read_rows(artifact["uri"])]
    return rows


def as_json_time(value: dt.datetime) -> str:
    return value.isoformat() + "Z"


def citation(resolution: dict, name: str) -> str:
    return (f"RunSet {name} ({resolution['runset_id']}) resolution {resolution['resolution_id']} "
            f"resolution_hash={resolution['resolution_hash']}")


# ---------------------------------------------------------------- scoped relations


@pytest.mark.parametrize("name, frozen", [(FROZEN, True), (EXPLORING, False)])
def test_query_returns_exactly_the_members_rows(lab_cli, demo_lake, name, frozen):
    resolution, members = current_members(demo_lake, name)
    sql = "SELECT run_id, trade_id, ts, symbol, pnl FROM trades ORDER BY run_id, trade_id"
    document = lab_cli("query", "--runset", name, "--sql", sql, "--format", "json").json()

    assert (document["runset_id"], document["resolution_id"], document["resolution_hash"], document["frozen"]) == (
        resolution["runset_id"], resolution["resolution_id"], resolution["resolution_hash"], frozen)
    expected = sorted(
        ({"run_id": row["run_id"], "trade_id": row["trade_id"], "ts": as_json_time(row["ts"]),
          "symbol": row["symbol"], "pnl": row["pnl"]} for row in kind_rows(demo_lake, "trades", members)),
        key=lambda row: (row["run_id"], row["trade_id"]),
    )
    assert document["rows"] == expected and document["row_count"] == len(expected) > 0
    assert document["truncated"] is False
    assert document["columns"] == [{"name": "run_id", "type": "VARCHAR"}, {"name": "trade_id", "type": "BIGINT"},
                                   {"name": "ts", "type": "TIMESTAMP"}, {"name": "symbol", "type": "VARCHAR"},
                                   {"name": "pnl", "type": "DOUBLE"}]

    relations = lab_cli("query", "--runset", name, "--format", "json", "--sql", """
        SELECT 'runs' AS relation, run_id FROM runs
        UNION ALL SELECT 'membership', run_id FROM membership
        UNION ALL SELECT 'artifacts', artifact_id FROM artifacts
        ORDER BY ALL""").json()["rows"]
    by_relation = defaultdict(list)
    for row in relations:
        by_relation[row["relation"]].append(row["run_id"])
    assert by_relation["runs"] == by_relation["membership"] == members
    assert by_relation["artifacts"] == sorted(
        row["artifact_id"] for row in lake_rows(demo_lake, "artifacts") if row["run_id"] in members)


def test_members_without_an_artifact_kind_stay_in_runs(lab_cli, demo_lake):
    """A failed member with metrics only: in runs and metrics, absent from trades, nothing multiplied."""
    _, members = current_members(demo_lake, WITH_FAILED)
    document = lab_cli("query", "--runset", WITH_FAILED, "--format", "json", "--sql", """
        SELECT (SELECT count(*) FROM runs) AS runs,
               (SELECT count(DISTINCT run_id) FROM trades) AS runs_with_trades,
               (SELECT count(*) FROM trades) AS trades,
               (SELECT count(*) FROM metrics) AS metric_rows""").json()
    trades = kind_rows(demo_lake, "trades", members)
    assert document["rows"] == [{
        "runs": len(members), "runs_with_trades": len({row["run_id"] for row in trades}), "trades": len(trades),
        "metric_rows": len(kind_rows(demo_lake, "metrics", members)),
    }]
    assert len({row["run_id"] for row in trades}) < len(members)


def test_table_output_cites_the_resolution_first(lab_cli, demo_lake):
    resolution, members = current_members(demo_lake, FROZEN)
    result = lab_cli("query", "--runset", FROZEN, "--sql", "SELECT run_id FROM runs ORDER BY run_id")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [citation(resolution, FROZEN), "run_id", *members, f"({len(members)} rows)"]


def test_a_never_resolved_runset_is_resolved_and_recorded_once_like_runset_resolve(quantbot, lab_cli, demo_lake):
    resolver.create_runset(demo_lake, "lab_first_resolve", resolver.runset_spec(["ohlcv_v2_2025Q3"], callers=["brook"]))
    assert not (demo_lake / "quantbot.duckdb").exists()  # no rebuild, ever
    first = lab_cli("query", "--runset", "lab_first_resolve", "--sql", "SELECT run_id FROM runs ORDER BY run_id",
                    "--format", "json").json()
    history = quantbot("runset", "history", "lab_first_resolve", "--json", lake=demo_lake).json()["resolutions"]
    assert [item["resolution_id"] for item in history] == [first["resolution_id"]]
    resolution, members = current_members(demo_lake, "lab_first_resolve")
    assert [row["run_id"] for row in first["rows"]] == members and first["resolution_hash"] == resolution["resolution_hash"]

    before = snapshot(demo_lake)
    again = lab_cli("query", "--runset", "lab_first_resolve", "--sql", "SELECT 1 AS one", "--format", "json").json()
    assert again["resolution_id"] == first["resolution_id"]
    assert snapshot(demo_lake) == before  # the latest resolution is reused, nothing recorded


# ---------------------------------------------------------------- the guard


@pytest.mark.parametrize("sql, error", [
    ("DROP TABLE runs", f"DROP is not allowed: {READ_ONLY}"),
    ("INSERT INTO runs SELECT * FROM runs", f"INSERT is not allowed: {READ_ONLY}"),
    ("COPY runs TO 'copied.csv'", f"COPY is not allowed: {READ_ONLY}"),
    ("ATTACH 'attached.duckdb' AS other", f"ATTACH is not allowed: {READ_ONLY}"),
    ("SELECT * FROM read_csv('/etc/passwd')", f"table function read_csv is not allowed: {SCOPE}"),
    ("SELECT * FROM runs; DROP TABLE runs", "a lab query is one statement; found 2"),
    ("SELECT * FROM '/etc/passwd'", f"reading the file '/etc/passwd' is not allowed: {SCOPE}"),
])
def test_refused_queries_change_nothing(lab_cli, demo_lake, tmp_path, sql, error):
    before = snapshot(demo_lake, tmp_path)
    assert_one_error_line(lab_cli("query", "--runset", UNRESOLVED, "--sql", sql), f"error: {error}")
    assert snapshot(demo_lake, tmp_path) == before  # the CLI runs in tmp_path: no copied.csv either
    assert resolver.history(demo_lake, UNRESOLVED)["resolutions"] == []  # the guard ran before resolve


@pytest.mark.parametrize("sql, error", [
    ("drop table runs", f"DROP is not allowed: {READ_ONLY}"),
    ("CREATE TABLE x AS SELECT 1", f"CREATE is not allowed: {READ_ONLY}"),
    ("CREATE MACRO m(x) AS x", f"CREATE is not allowed: {READ_ONLY}"),
    ("UPDATE runs SET status = 'failed'", f"UPDATE is not allowed: {READ_ONLY}"),
    ("DELETE FROM runs", f"DELETE is not allowed: {READ_ONLY}"),
    ("WITH gone AS (DELETE FROM runs RETURNING *) SELECT * FROM gone", f"DELETE is not allowed: {READ_ONLY}"),
    ("COPY (SELECT * FROM trades) TO 'x.parquet' (FORMAT parquet)", f"COPY is not allowed: {READ_ONLY}"),
    ("DETACH other", f"DETACH is not allowed: {READ_ONLY}"),
    ("PRAGMA version", f"PRAGMA is not allowed: {READ_ONLY}"),
    ("SET enable_external_access = true", f"SET is not allowed: {READ_ONLY}"),
    ("RESET memory_limit", f"RESET is not allowed: {READ_ONLY}"),
    ("INSTALL httpfs", f"INSTALL is not allowed: {READ_ONLY}"),
    ("LOAD httpfs", f"LOAD is not allowed: {READ_ONLY}"),
    ("EXPORT DATABASE 'exported'", f"EXPORT is not allowed: {READ_ONLY}"),
    ("USE memory", f"USE is not allowed: {READ_ONLY}"),
    ("CALL pragma_version()", f"CALL is not allowed: {READ_ONLY}"),
    ("EXPLAIN SELECT 1", f"EXPLAIN is not allowed: {READ_ONLY}"),
    ("DESCRIBE runs", f"DESCRIBE is not allowed: {READ_ONLY}"),
    ("CHECKPOINT", f"CHECKPOINT is not allowed: {READ_ONLY}"),
    ("BEGIN", f"BEGIN is not allowed: {READ_ONLY}"),
    ("SELECT 1 INTO copy_of_one", f"SELECT ... INTO is not allowed: {READ_ONLY}"),
    ("SELECT 1; SELECT 2;", "a lab query is one statement; found 2"),
    ("SELECT 1;;  ;", None),
    ("SELECT ';' AS semicolon", None),
    ("", "the lab query is empty"),
    ("-- nothing but a comment", "the lab query is empty"),
    ("SELECT * FROM read_parquet('/x.parquet')", f"table function read_parquet is not allowed: {SCOPE}"),
    ("SELECT * FROM glob('/etc/*')", f"table function glob is not allowed: {SCOPE}"),
    ("SELECT * FROM query('SELECT 1')", f"table function query is not allowed: {SCOPE}"),
    ("SELECT * FROM duckdb_settings()", f"table function duckdb_settings is not allowed: {SCOPE}"),
    ("SELECT * FROM runs WHERE run_id IN (SELECT * FROM read_csv('/x'))", f"table function read_csv is not allowed: {SCOPE}"),
    ("SELECT read_text('/etc/passwd')", f"function read_text is not allowed: {SCOPE}"),
    ("SELECT getenv('HOME')", f"function getenv is not allowed: {SCOPE}"),
    ("SELECT * FROM 'runs.csv'", f"reading the file 'runs.csv' is not allowed: {SCOPE}"),
    ("SELECT * FROM main.runs", f"qualified name main.runs is not allowed: {SCOPE}"),
    ("SELECT * FROM information_schema.tables", f"qualified name information_schema.tables is not allowed: {SCOPE}"),
    ("SELECT * FROM lake_runs", ("unknown relation 'lake_runs': a lab query reads runs, artifacts, membership "
                                 "and one relation per artifact kind (curve, diagnostics, metrics, trades)")),
    ("SELEC * FROM runs", f"SELEC is not allowed: {READ_ONLY}"),
    ("WITH t AS (SELECT run_id FROM Runs) SELECT * FROM t JOIN trades USING (run_id)", None),
    ("SELECT * FROM range(3) UNION ALL SELECT * FROM generate_series(1, 2)", None),
    ("SELECT caller FROM runs, unnest(callers) AS c(caller)", None),
    ("FROM runs SELECT run_id QUALIFY row_number() OVER (ORDER BY run_id) = 1", None),
    ("SELECT list_transform(callers, lambda c: upper(c)) FROM runs", None),
    ("(SELECT 1) EXCEPT (SELECT 2)", None),
])
def test_the_guard_names_what_it_refuses(sql, error):
    if error is None:
        lab.check_query(sql)
    else:
        with pytest.raises(InputError) as refused:
            lab.check_query(sql)
        assert str(refused.value) == error


def test_the_guard_reports_the_relations_a_query_reads():
    checked = lab.check_query("WITH trades AS (SELECT 1 AS x) SELECT * FROM trades, metrics, Runs")
    assert checked.relations == {"metrics", "runs"}  # `trades` is the CTE here


def test_a_relation_the_members_lack_is_refused_naming_those_that_exist(lab_cli):
    assert_one_error_line(
        lab_cli("query", "--runset", FROZEN, "--sql", "SELECT * FROM curve"),
        f"error: RunSet {FROZEN} has no relation 'curve': its members have no curve Parquet artifacts; "
        "its relations are artifacts, membership, metrics, runs, trades",
    )


def test_the_locked_down_connection_refuses_files_even_past_the_guard(demo_lake, tmp_path):
    """Layer 2, measured on DuckDB 2.0.1: the views keep reading the members' files, nothing else opens."""
    resolution = resolver.resolve(demo_lake, FROZEN)
    runs, artifacts = lab.member_records(demo_lake, resolution["run_ids"])
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with lab.open_lab(resolution, runs, artifacts, {"trades"}) as con:
        assert con.execute("SELECT count(*) FROM trades").fetchall() == [
            (len(kind_rows(demo_lake, "trades", resolution["run_ids"])),)]
        for statement in (f"SELECT * FROM read_csv('{secret}')", f"SELECT * FROM '{secret}'",
                          f"ATTACH '{tmp_path / 'other.duckdb'}' AS other", f"COPY runs TO '{tmp_path / 'out.csv'}'",
                          "INSTALL httpfs", "LOAD httpfs"):
            with pytest.raises(duckdb.PermissionException):
                con.execute(statement).fetchall()
        with pytest.raises(duckdb.InvalidInputException, match="the configuration has been locked"):
            con.execute("SET enable_external_access = true")
    assert sorted(os.listdir(tmp_path)) == ["secret.csv"]


# ---------------------------------------------------------------- formats


def test_formats_round_trip_the_same_rows(lab_cli, demo_lake, tmp_path):
    resolution, _ = current_members(demo_lake, FROZEN)
    sql = "SELECT run_id, trade_id, ts, side, qty, pnl FROM trades ORDER BY run_id, trade_id"
    rows = lab_cli("query", "--runset", FROZEN, "--sql", sql, "--format", "json").json()["rows"]
    assert len(rows) > 20

    printed = lab_cli("query", "--runset", FROZEN, "--sql", sql, "--format", "csv")
    assert printed.code == 0 and printed.stderr.splitlines() == [f"# {citation(resolution, FROZEN)}"]
    read_back = [
        {"run_id": row["run_id"], "trade_id": int(row["trade_id"]), "ts": as_json_time(dt.datetime.fromisoformat(row["ts"])),
         "side": row["side"], "qty": float(row["qty"]), "pnl": float(row["pnl"])}
        for row in csv.DictReader(io.StringIO(printed.stdout))
    ]
    assert read_back == rows

    written = lab_cli("query", "--runset", FROZEN, "--sql", sql, "--format", "csv", "--out", str(tmp_path / "rows.csv"))
    assert written.stdout.splitlines() == [f"wrote {len(rows)} rows to {tmp_path / 'rows.csv'}", citation(resolution, FROZEN)]
    assert (tmp_path / "rows.csv").read_text() == printed.stdout

    parquet = lab_cli("query", "--runset", FROZEN, "--sql", sql, "--format", "parquet", "--out", "rows.parquet", "--json")
    assert parquet.json()["out"] == str(tmp_path / "rows.parquet") and parquet.json()["row_count"] == len(rows)
    table = pq.read_table(tmp_path / "rows.parquet")
    assert [{**row, "ts": as_json_time(row["ts"])} for row in table.to_pylist()] == rows
    assert {key: value for key, value in table.schema.metadata.items() if key.startswith(b"quantbot.")} == {
        b"quantbot.runset_id": resolution["runset_id"].encode(),
        b"quantbot.resolution_id": resolution["resolution_id"].encode(),
        b"quantbot.resolution_hash": resolution["resolution_hash"].encode(),
    }
    assert sorted(os.listdir(tmp_path)) == ["rows.csv", "rows.parquet"]  # no temp file left behind

    limited = lab_cli("query", "--runset", FROZEN, "--sql", sql, "--limit", "5", "--json").json()
    assert (limited["rows"], limited["row_count"], limited["truncated"]) == (rows[:5], 5, True)


def test_nested_values_are_json_in_csv_and_objects_in_json(lab_cli, demo_lake):
    _, members = current_members(demo_lake, FROZEN)
    sql = "SELECT run_id, callers, metrics FROM runs ORDER BY run_id"
    document = lab_cli("query", "--runset", FROZEN, "--sql", sql, "--json").json()
    runs = {row["run_id"]: row for row in lake_rows(demo_lake, "runs")}
    assert document["rows"] == [
        {"run_id": run_id, "callers": runs[run_id]["callers"], "metrics": dict(runs[run_id]["metrics"])} for run_id in members
    ]
    printed = lab_cli("query", "--runset", FROZEN, "--sql", sql, "--format", "csv").stdout
    assert [{"run_id": row["run_id"], "callers": json.loads(row["callers"]), "metrics": json.loads(row["metrics"])}
            for row in csv.DictReader(io.StringIO(printed))] == document["rows"]


@pytest.mark.parametrize("args, error", [
    (["--format", "parquet"], "--format parquet writes a binary file: give --out FILE"),
    (["--format", "csv", "--json"], "--json prints the JSON answer; --format csv needs --out FILE with it"),
    (["--out", "missing/rows.csv"], "--out {cwd}/missing/rows.csv: folder {cwd}/missing does not exist"),
])
def test_bad_output_options_are_refused_before_anything_runs(lab_cli, demo_lake, tmp_path, args, error):
    before = snapshot(demo_lake, tmp_path)
    result = lab_cli("query", "--runset", UNRESOLVED, "--sql", "SELECT 1 AS one", *args)
    assert_one_error_line(result, "error: " + error.format(cwd=tmp_path))
    assert snapshot(demo_lake, tmp_path) == before


def test_more_bad_options_are_refused_before_anything_runs(demo_lake, tmp_path):
    with pytest.raises(InputError, match="^invalid --format 'xml': expected one of table, json, csv, parquet$"):
        lab.check_output("xml", None, lab.QUERY_FORMATS, demo_lake)
    with pytest.raises(InputError, match="^--out .* is inside the lake's registry folder, which only the lake writes$"):
        lab.check_output("csv", demo_lake / "registry" / "rows.csv", lab.QUERY_FORMATS, demo_lake)
    with pytest.raises(InputError, match="^invalid --limit 0: must be at least 1$"):
        lab.run_query(demo_lake, UNRESOLVED, "SELECT 1", limit=0)
    assert resolver.history(demo_lake, UNRESOLVED)["resolutions"] == []


def test_query_comes_from_a_file_or_the_command_line_not_both(lab_cli, demo_lake, tmp_path):
    (tmp_path / "runs.sql").write_text("-- the members\nSELECT run_id FROM runs ORDER BY run_id;\n")
    from_file = lab_cli("query", "--runset", FROZEN, "--query", "runs.sql", "--json").json()
    assert [row["run_id"] for row in from_file["rows"]] == current_members(demo_lake, FROZEN)[1]
    assert_one_error_line(lab_cli("query", "--runset", FROZEN, "--query", "runs.sql", "--sql", "SELECT 1"),
                          "error: give the query once: --query FILE or --sql TEXT, not both")
    assert_one_error_line(lab_cli("query", "--runset", FROZEN),
                          "error: give the query once: --query FILE or --sql TEXT")


# ---------------------------------------------------------------- artifact files: quotes, globs, own run_id


@pytest.fixture
def small_lake(lake_root: Path, tmp_path: Path):
    """One dataset; runs registered in-process with trades files at awkward paths."""
    register_dataset(lake_root, dataset_record("D1", "ohlcv", "2025-01-01", "2025-01-31", None, None, None, {}))

    def add_run(seed: int, trades_path: Path, trades: list[dict], strategy_hash: str = "s1") -> str:
        write_parquet(trades_path, trades)
        fields = {"dataset_ids": ["D1"], "strategy_hash": strategy_hash, "engine_version": "1.0.0", "seed": seed,
                  "callers": ["c1"], "window_from": "2025-01-01", "window_to": "2025-01-31", "status": "completed",
                  "artifacts": [{"kind": "trades", "uri": str(trades_path)}]}
        return register_runs(lake_root, [RunInput(fields)]).written[0]

    return add_run


def test_artifact_paths_with_quotes_are_read_and_the_registry_run_id_wins(quantbot, small_lake, lake_root, tmp_path):
    quoted = tmp_path / "o'brien's outputs" / "trades.parquet"
    run_id = small_lake(1, quoted, [{"trade_id": 1, "pnl": 2.5, "run_id": "not-this-run"},
                                    {"trade_id": 2, "pnl": -1.0, "run_id": "not-this-run"}])
    resolver.create_runset(lake_root, "quoted", resolver.runset_spec(["D1"]))
    document = quantbot("lab", "query", "--runset", "quoted", "--json",
                        "--sql", "SELECT * FROM trades ORDER BY trade_id").json()
    assert [column["name"] for column in document["columns"]] == ["run_id", "trade_id", "pnl"]
    assert document["rows"] == [{"run_id": run_id, "trade_id": 1, "pnl": 2.5}, {"run_id": run_id, "trade_id": 2, "pnl": -1.0}]
    assert not (lake_root / "quantbot.duckdb").exists()


def test_an_artifact_path_duckdb_would_glob_is_refused(quantbot, small_lake, lake_root, tmp_path):
    globbed = tmp_path / "run[1]" / "trades.parquet"
    small_lake(1, globbed, [{"trade_id": 1, "pnl": 2.5}])
    write_parquet(tmp_path / "run1" / "trades.parquet", [{"trade_id": 9, "pnl": 99.0}])  # what [1] would match
    resolver.create_runset(lake_root, "globbed", resolver.runset_spec(["D1"]))
    assert_one_error_line(
        quantbot("lab", "query", "--runset", "globbed", "--sql", "SELECT * FROM trades"),
        f"error: trades artifact '{globbed}': its path holds a glob character (*, ? or [), which DuckDB's "
        "read_parquet would expand to other files; it cannot be read exactly",
    )
    assert quantbot("lab", "query", "--runset", "globbed", "--sql", "SELECT count(*) AS n FROM runs",
                    "--json").json()["rows"] == [{"n": 1}]


def test_frozen_keeps_its_pinned_members_and_exploration_follows_its_latest_resolution(quantbot, small_lake,
                                                                                       lake_root, tmp_path):
    first = small_lake(1, tmp_path / "a" / "trades.parquet", [{"trade_id": 1, "pnl": 1.0}])
    resolver.create_runset(lake_root, "pinned", resolver.runset_spec(["D1"], strategy_hashes=["s1"]))
    resolver.create_runset(lake_root, "exploring", resolver.runset_spec(["D1"]))
    for name in ("pinned", "exploring"):
        resolver.resolve(lake_root, name)
    resolver.change_state(lake_root, "pinned", "freeze")
    second = small_lake(2, tmp_path / "b" / "trades.parquet", [{"trade_id": 1, "pnl": 2.0}], strategy_hash="s1")
    resolver.resolve(lake_root, "exploring", force=True)

    def members(name: str) -> list[str]:
        return [row["run_id"] for row in quantbot("lab", "query", "--runset", name, "--json", "--sql",
                                                  "SELECT DISTINCT run_id FROM trades ORDER BY run_id").json()["rows"]]

    assert members("pinned") == [first]
    assert members("exploring") == sorted([first, second])


# ---------------------------------------------------------------- reports


def shipped_descriptions() -> dict[str, str]:
    return {path.stem: path.read_text().splitlines()[0].removeprefix("--").strip() for path in REPORTS.glob("*.sql")}


def test_report_list_needs_no_runset_and_shows_each_description(quantbot, tmp_path):
    assert set(shipped_descriptions()) >= {"per_run_summary", "per_caller_summary", "coverage"}
    listed = quantbot("lab", "report", "--list", "--json", lake=None).json()["templates"]
    assert listed == [{"name": name, "description": description, "path": str(REPORTS / f"{name}.sql")}
                      for name, description in sorted(shipped_descriptions().items())]
    human = quantbot("lab", "report", "--list", lake=None)
    assert human.code == 0 and human.stdout.splitlines()[0].split() == ["name", "description"]


def test_per_run_summary_renders_on_the_demo_lake(lab_cli, demo_lake):
    resolution, members = current_members(demo_lake, WITH_FAILED)
    document = lab_cli("report", "--runset", WITH_FAILED, "--template", "per_run_summary", "--json").json()
    assert (document["template"], document["resolution_id"]) == ("per_run_summary", resolution["resolution_id"])
    trades = defaultdict(list)
    for row in kind_rows(demo_lake, "trades", members):
        trades[row["run_id"]].append(row["pnl"])
    runs = {row["run_id"]: row for row in lake_rows(demo_lake, "runs") if row["run_id"] in members}
    assert sorted(row["run_id"] for row in document["rows"]) == members
    for row in document["rows"]:
        pnls, run = trades.get(row["run_id"], []), runs[row["run_id"]]
        assert (row["strategy_family"], row["status"], row["window_from"], row["trades"]) == (
            run["strategy_family"], run["status"], run["window_from"].isoformat(), len(pnls))
        assert row["metrics"] == dict(run["metrics"]) and row["max_drawdown"] == dict(run["metrics"]).get("max_drawdown")
        if pnls:
            assert row["total_pnl"] == pytest.approx(sum(pnls), abs=0.0051)
            assert row["win_rate"] == pytest.approx(sum(pnl > 0 for pnl in pnls) / len(pnls), abs=0.00006)
        else:
            assert (row["total_pnl"], row["win_rate"]) == (None, None)
    assert any(row["trades"] == 0 for row in document["rows"])  # the failed member is listed, not dropped


def test_per_caller_summary_counts_each_run_once_per_caller(lab_cli, demo_lake):
    _, members = current_members(demo_lake, WITH_FAILED)
    trades = defaultdict(list)
    for row in kind_rows(demo_lake, "trades", members):
        trades[row["run_id"]].append(row["pnl"])
    expected = defaultdict(lambda: {"runs": 0, "failed_runs": 0, "trades": 0, "pnl": 0.0})
    for run in lake_rows(demo_lake, "runs"):
        if run["run_id"] in members:
            for caller in run["callers"]:
                expected[caller]["runs"] += 1
                expected[caller]["failed_runs"] += run["status"] == "failed"
                expected[caller]["trades"] += len(trades[run["run_id"]])
                expected[caller]["pnl"] += sum(trades[run["run_id"]])
    rows = lab_cli("report", "--runset", WITH_FAILED, "--template", "per_caller_summary", "--json").json()["rows"]
    assert [row["caller"] for row in rows] == sorted(expected)
    for row in rows:
        wanted = expected[row["caller"]]
        assert (row["runs"], row["failed_runs"], row["completed_runs"], row["trades"]) == (
            wanted["runs"], wanted["failed_runs"], wanted["runs"] - wanted["failed_runs"], wanted["trades"])
        assert row["total_pnl"] == pytest.approx(wanted["pnl"], abs=0.0051)


def test_coverage_report_has_a_row_per_month_with_the_days_runs_cover(lab_cli, demo_lake):
    _, members = current_members(demo_lake, FROZEN)
    days = set()
    for run in lake_rows(demo_lake, "runs"):
        if run["run_id"] in members:
            day = run["window_from"]
            while day <= run["window_to"]:
                days.add(day)
                day += dt.timedelta(days=1)
    rows = lab_cli("report", "--runset", FROZEN, "--template", "coverage", "--json").json()["rows"]
    months = sorted({day.replace(day=1) for day in days})
    assert [row["month"] for row in rows] == [month.isoformat() for month in months]
    assert [row["covered_days"] for row in rows] == [sum(day.replace(day=1) == month for day in days) for month in months]
    assert all(row["callers"] == ["whale_watcher"] and row["datasets"] == ["alerts_v1_2025H2", "ohlcv_v2_2025Q4"]
               for row in rows)


def test_report_formats_render_with_the_citation(lab_cli, demo_lake):
    resolution, members = current_members(demo_lake, FROZEN)
    description = shipped_descriptions()["per_run_summary"]
    table = lab_cli("report", "--runset", FROZEN, "--template", "per_run_summary").stdout.splitlines()
    assert table[:2] == [citation(resolution, FROZEN), f"report per_run_summary: {description}"]
    assert table[2].split()[:3] == ["run_id", "strategy_family", "engine_version"] and table[-1] == f"({len(members)} rows)"

    markdown = lab_cli("report", "--runset", FROZEN, "--template", "per_run_summary", "--format", "markdown").stdout
    lines = markdown.splitlines()
    assert lines[0] == f"## per_run_summary: {description}"
    assert lines[2] == (f"RunSet `{FROZEN}` (`{resolution['runset_id']}`), resolution `{resolution['resolution_id']}`, "
                        f"resolution_hash=`{resolution['resolution_hash']}`")
    assert lines[4].startswith("| run_id | strategy_family |") and set(lines[5]) <= set("|- ")
    assert len([line for line in lines if line.startswith("| ")]) == 2 + len(members)  # header, separator, rows

    printed = lab_cli("report", "--runset", FROZEN, "--template", "per_run_summary", "--format", "csv")
    assert sorted(row["run_id"] for row in csv.DictReader(io.StringIO(printed.stdout))) == members
    assert printed.stderr == f"# {citation(resolution, FROZEN)}\n"


def test_user_templates_come_from_a_folder_and_run_through_the_same_guard(lab_cli, quantbot, demo_lake, tmp_path):
    folder = tmp_path / "my_reports"
    folder.mkdir()
    (folder / "trades_per_side.sql").write_text(
        "-- Trades and PnL per side\nSELECT side, count(*) AS trades FROM trades GROUP BY side ORDER BY side\n")
    listed = quantbot("lab", "report", "--list", "--templates", str(folder), "--json", lake=None).json()["templates"]
    assert {"name": "trades_per_side", "description": "Trades and PnL per side",
            "path": str(folder / "trades_per_side.sql")} in listed
    _, members = current_members(demo_lake, FROZEN)
    sides = defaultdict(int)
    for row in kind_rows(demo_lake, "trades", members):
        sides[row["side"]] += 1
    document = lab_cli("report", "--runset", FROZEN, "--template", "trades_per_side", "--templates", str(folder), "--json").json()
    assert document["rows"] == [{"side": side, "trades": count} for side, count in sorted(sides.items())]

    (folder / "evil.sql").write_text("-- Looks harmless\nCOPY runs TO 'stolen.csv'\n")
    before = snapshot(demo_lake, tmp_path)
    assert_one_error_line(
        lab_cli("report", "--runset", UNRESOLVED, "--template", "evil", "--templates", str(folder)),
        f"error: template evil ({folder / 'evil.sql'}): COPY is not allowed: {READ_ONLY}",
    )
    assert snapshot(demo_lake, tmp_path) == before

    (folder / "coverage.sql").write_text("-- My own coverage\nSELECT 1 AS one\n")
    assert_one_error_line(
        lab_cli("report", "--runset", FROZEN, "--template", "coverage", "--templates", str(folder)),
        f"error: template coverage is defined twice: {folder / 'coverage.sql'} and {REPORTS / 'coverage.sql'}; "
        "rename one of them",
    )


def test_template_files_need_a_name_and_a_description_line(tmp_path):
    (tmp_path / "no_description.sql").write_text("SELECT 1\n")
    with pytest.raises(InputError) as refused:
        lab.list_templates(tmp_path)
    assert str(refused.value) == (f"template file {tmp_path / 'no_description.sql'}: "
                                  "its first line must be `-- <one-line description>`")
    with pytest.raises(InputError, match="unknown template 'nope': expected one of coverage, per_caller_summary"):
        lab.find_template("nope")
    with pytest.raises(InputError, match="--templates .*missing: not a folder"):
        lab.list_templates(tmp_path / "missing")


def test_shipped_templates_pass_the_guard():
    for template in lab.list_templates():
        assert lab.check_query(template.sql).relations <= {"runs", "trades"}
