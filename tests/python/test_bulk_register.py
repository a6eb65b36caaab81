"""Bulk registration gathers plain batches column by column (records.gathered_runs) and takes
everything else record by record (records.run_records). Both must write the same records and
refuse with the same message: each batch here goes both ways, into two lakes, and is compared."""

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from conftest import write_parquet

from quantbot_dbt import lake, records
from quantbot_dbt.ids import InputError
from quantbot_dbt.records import RunInput


@pytest.fixture
def files(tmp_path):
    return {name: str(write_parquet(tmp_path / "out" / f"{name}.parquet", [{"row": number} for number in range(rows)]))
            for name, rows in (("trades", 3), ("curve", 5), ("log", 1))}


def plain_run(files, seed, **overrides):
    fields = {
        "dataset_ids": ["ohlcv_q4", "alerts"], "strategy_hash": "momentum_1", "engine_version": "1.0.0", "seed": seed,
        "callers": ["whale", "brook", "whale"], "window_from": "2025-10-01", "window_to": "2025-10-31",
        "status": "completed", "strategy_family": "momentum", "params": {"symbols": "BTC-USD", "lookback": "20"},
        "metrics": {"sharpe": 1.25, "pnl": -3.5},
        "artifacts": [{"kind": "trades", "uri": files["trades"]}, {"kind": "curve", "uri": files["curve"]}],
    }
    return {**fields, **overrides}


def new_lake(tmp_path, name):
    lake_root = tmp_path / name
    for dataset_id, kind in (("ohlcv_q4", "ohlcv"), ("alerts", "alerts")):
        records.register_dataset(lake_root, records.dataset_record(dataset_id, kind))
    return lake_root


def record_by_record(lake_root, run_inputs):
    """The path every refused batch takes, forced."""
    files_read = records.files_read_ahead(records.artifact_uris(run_inputs))
    runs, artifacts_by_run, where_by_run = records.validated_runs(run_inputs, files_read)
    return records.append_new_runs(lake_root, runs, artifacts_by_run, where_by_run)


def outcome(register, lake_root, run_inputs):
    """What a registration answered and what the lake then holds: every record but its
    registration time, and the folder of each file."""
    try:
        registration = register(lake_root, run_inputs)
        answer = (registration.written, registration.unchanged, registration.artifacts_written)
    except InputError as error:
        answer = str(error)
    held = {}
    with duckdb.connect() as con:
        for table in (lake.RUNS, lake.ARTIFACTS):
            paths = lake.files(lake_root, table)
            rows = con.execute(f"SELECT * EXCLUDE (registered_at) FROM read_parquet($paths) ORDER BY {table.id_column}",
                               {"paths": paths}).fetchall() if paths else []
            # A map as its entries in the order stored: a dict would compare equal in any order.
            held[table.name] = [tuple(list(value.items()) if isinstance(value, dict) else value for value in row)
                                for row in rows]
            held[f"{table.name} folders"] = sorted(str(Path(path).parent.relative_to(lake_root)) for path in paths)
    return answer, held


def both_ways(tmp_path, run_inputs, registered_first=()):
    """The outcome of register_runs and of the record-by-record path, each in a fresh lake that
    already holds `registered_first`; and whether gathered_runs took the batch."""
    outcomes = []
    for register in (records.register_runs, record_by_record):
        lake_root = new_lake(tmp_path, register.__name__)
        if registered_first:
            records.register_runs(lake_root, list(registered_first))
        outcomes.append(outcome(register, lake_root, run_inputs))
    files_read = records.files_read_ahead(records.artifact_uris(run_inputs))
    return outcomes, records.gathered_runs(run_inputs, files_read) is not None


def test_a_plain_batch_is_gathered_and_writes_what_record_by_record_writes(tmp_path, files):
    run_inputs = [RunInput(plain_run(files, seed), f"line {seed}") for seed in (1, 2, 3)]
    run_inputs.append(RunInput(plain_run(
        files, 4, engine_version="2.0.0", window_from="2025-11-30", window_to="2025-12-02", strategy_family="",
        params=None, metrics={}, artifacts=[{"kind": "diagnostics", "uri": files["log"]}], status="failed"), ""))
    (gathered, one_by_one), taken = both_ways(tmp_path, run_inputs)
    assert taken
    assert gathered == one_by_one
    (written, unchanged, artifacts_written), held = gathered
    assert (len(written), unchanged, artifacts_written) == (4, [], 7)
    assert held["runs folders"] == ["registry/runs/engine_version=1.0.0/month=2025-10",
                                    "registry/runs/engine_version=2.0.0/month=2025-11"]
    assert held["artifacts folders"] == ["registry/artifacts/kind=curve/month=2025-10",
                                         "registry/artifacts/kind=diagnostics/month=2025-11",
                                         "registry/artifacts/kind=trades/month=2025-10"]
    first = next(row for row in held["runs"] if row[4] == 1)
    assert first[1:12] == (["alerts", "ohlcv_q4"], "momentum_1", "1.0.0", 1, ["brook", "whale"], dt.date(2025, 10, 1),
                           dt.date(2025, 10, 31), "completed", "momentum", [("lookback", "20"), ("symbols", "BTC-USD")],
                           [("pnl", -3.5), ("sharpe", 1.25)])
    assert first[12] == 2  # artifact_count
    last = next(row for row in held["runs"] if row[4] == 4)
    assert (last[9], last[10], last[11], last[12]) == (None, [], [], 1)


def computed_run_id(files, seed):
    return records.run_records(RunInput(plain_run(files, seed)))[0]["run_id"]


# Each batch: the plain run 1, then run 2 with these fields as given. `taken`: whether
# gathered_runs takes the batch (an unknown dataset is then found by append_gathered_runs); when
# it does not, the record-by-record path does.
SHAPES = {
    "numbers and booleans as params, integers as metrics": (
        lambda files: {"params": {"lookback": 20, "stop": 0.5, "short": True}, "metrics": {"trades": 42, "pnl": 1.5}},
        True),
    "the run id given": (lambda files: {"run_id": computed_run_id(files, 2)}, True),
    "an unknown dataset": (lambda files: {"dataset_ids": ["ohlcv_q4", "nowhere"]}, True),
    "datasets as comma-separated text": (lambda files: {"dataset_ids": "alerts,ohlcv_q4"}, False),
    "the seed as text": (lambda files: {"seed": "7"}, False),
    "a window given as dates (a Parquet file's DATE columns)": (
        lambda files: {"window_from": dt.date(2025, 10, 1), "window_to": dt.date(2025, 10, 31)}, True),
    "a window given as a date and a text": (lambda files: {"window_from": dt.date(2025, 10, 1)}, False),
    "an artifact as KIND=URI": (lambda files: {"artifacts": f"trades={files['trades']}"}, False),
    "the same artifact twice": (lambda files: {"artifacts": [{"kind": "trades", "uri": files["trades"]}] * 2}, False),
    "the same run twice": (lambda files: {"seed": 1}, False),
    "a run sent twice with another status": (lambda files: {"seed": 1, "status": "failed"}, False),
    "a date in fullwidth digits": (lambda files: {"window_from": "\uff12\uff10\uff12\uff15-10-01"}, False),
    "a bad caller": (lambda files: {"callers": ["brook", "../x"]}, False),
    "a bad param key": (lambda files: {"params": {"a b": "1"}}, False),
    "a metric that is not finite": (lambda files: {"metrics": {"pnl": float("nan")}}, False),
    "an unknown status": (lambda files: {"status": "running"}, False),
    "an unknown artifact kind": (lambda files: {"artifacts": [{"kind": "video", "uri": files["trades"]}]}, False),
    "a window that ends before it starts": (lambda files: {"window_from": "2025-11-01"}, False),
    "a missing artifact file": (
        lambda files: {"artifacts": [{"kind": "trades", "uri": "/nowhere/trades.parquet"}]}, False),
    "an unknown field": (lambda files: {"colour": "red"}, False),
    "a seed outside 64 bits": (lambda files: {"seed": 2**63}, False),
    "a boolean seed": (lambda files: {"seed": True}, False),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_other_shape_registers_or_is_refused_the_same_way(tmp_path, files, shape):
    fields_of, taken_expected = SHAPES[shape]
    run_inputs = [RunInput(plain_run(files, 1), "line 1"),
                  RunInput({**plain_run(files, 2), **fields_of(files)}, "line 2")]
    (gathered, one_by_one), taken = both_ways(tmp_path, run_inputs)
    assert gathered == one_by_one
    # A refused batch is refused whole, naming the line at fault, and writes nothing.
    if isinstance(gathered[0], str):
        assert "line 2" in gathered[0], gathered[0]
        assert gathered[1] == {"runs": [], "runs folders": [], "artifacts": [], "artifacts folders": []}
    assert taken is taken_expected


def test_runs_already_in_the_lake_go_record_by_record(tmp_path, files):
    first = RunInput(plain_run(files, 1), "line 1")
    (gathered, one_by_one), taken = both_ways(tmp_path, [first, RunInput(plain_run(files, 2), "line 2")],
                                              registered_first=[first])
    assert taken  # gathered, then handed on by append_gathered_runs: run 1 is in the lake
    assert gathered == one_by_one
    written, unchanged, artifacts_written = gathered[0]
    assert (len(written), len(unchanged), artifacts_written) == (1, 1, 2)
    assert len(gathered[1]["runs"]) == 2


def test_any_registered_finds_an_id_in_the_folders_it_is_given(tmp_path, files):
    # The check that hands a gathered batch on: a wrong False appends a run twice (the test
    # above), a wrong True sends every batch record by record. Both are checked here.
    lake_root = new_lake(tmp_path, "lake")
    registration = records.register_runs(lake_root, [RunInput(plain_run(files, 1), "")])
    (run_id,) = registration.written
    october = {"engine_version": "1.0.0", "month": "2025-10"}
    with duckdb.connect() as con:
        assert records.any_registered(con, lake_root, lake.RUNS, ["f" * 64, run_id], october)
        assert not records.any_registered(con, lake_root, lake.RUNS, ["f" * 64], october)
        assert not records.any_registered(con, lake_root, lake.RUNS, [run_id], {**october, "month": "2025-11"})
