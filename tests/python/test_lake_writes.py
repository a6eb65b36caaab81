"""Atomic, concurrent-safe appends: real processes, real files."""

import subprocess
import sys
import textwrap

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import lake_files

from quantbot_dbt import lake
from quantbot_dbt.records import dataset_record, register_dataset

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from quantbot_dbt.records import RunInput, register_runs
    lake_root, first_seed, count, start_at = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    while time.time() < start_at:  # both writers start at the same instant
        time.sleep(0.001)
    for seed in range(first_seed, first_seed + count):  # one batch per run: many small appends
        register_runs(lake_root, [RunInput({
            "dataset_ids": ["d1"], "strategy_hash": "s1", "engine_version": "1.0.0", "seed": seed,
            "callers": ["c1"], "window_from": "2025-01-01", "window_to": "2025-01-31", "status": "completed"})])
""")


def start_writers(lake_root, seed_ranges):
    import time
    register_dataset(lake_root, dataset_record("d1", "ohlcv"))
    start_at = str(time.time() + 1.0)
    return [
        subprocess.Popen([sys.executable, "-c", WRITER, str(lake_root), str(first), str(count), start_at])
        for first, count in seed_ranges
    ]


def lake_run_rows(lake_root):
    return sum(pq.ParquetFile(path).metadata.num_rows for path in lake.files(lake_root, lake.RUNS))


def distinct_run_ids(lake_root):
    with duckdb.connect() as con:
        return {row["run_id"] for row in lake.records(con, lake_root, lake.RUNS)}


def test_two_writers_of_different_runs_both_land(lake_root):
    writers = start_writers(lake_root, [(0, 25), (1000, 25)])
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    assert lake_run_rows(lake_root) == 50
    assert len(distinct_run_ids(lake_root)) == 50


def test_two_writers_of_the_same_runs_append_each_run_once(lake_root):
    writers = start_writers(lake_root, [(0, 25), (0, 25)])
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    assert lake_run_rows(lake_root) == 25  # the lock made the second sender's check see the first's write
    assert len(distinct_run_ids(lake_root)) == 25


CRASH_BEFORE_RENAME = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from quantbot_dbt.records import dataset_record, register_dataset
    os.rename = lambda *args: os._exit(9)  # the process dies after fsync, before the file is published
    register_dataset(Path(sys.argv[1]), dataset_record("d1", "ohlcv"))
""")


def test_a_write_interrupted_before_its_rename_leaves_no_visible_file(lake_root):
    crashed = subprocess.run([sys.executable, "-c", CRASH_BEFORE_RENAME, str(lake_root)])
    assert crashed.returncode == 9
    leftovers = lake_files(lake_root)
    assert [name for name in leftovers if name.endswith(".parquet")] == []
    assert any(name.startswith("datasets/.part-") and name.endswith(".parquet.tmp") for name in leftovers)
    assert lake.files(lake_root, lake.DATASETS) == []
    # The next writer is not confused by the leftover: the record lands once.
    assert register_dataset(lake_root, dataset_record("d1", "ohlcv")).written == ["d1"]
    assert len(lake.files(lake_root, lake.DATASETS)) == 1


def test_part_file_names_never_repeat():
    names = {lake.part_file_name() for _ in range(10_000)}
    assert len(names) == 10_000


def test_an_append_that_fails_part_way_leaves_no_file(lake_root):
    # The first file is being written (in the writer thread) when the second batch's rows fail
    # to convert: neither is published and no temp file is left behind.
    good = {"dataset_id": "d1", "kind": "ohlcv", "meta": {}, "registered_at": lake.utc_now()}
    bad = {**good, "dataset_id": "d2", "registered_at": "not a time"}
    batches = [lake.Batch(lake.DATASETS, {(): [good] * 1000}), lake.Batch(lake.DATASETS, {(): [bad]})]
    with pytest.raises(pa.ArrowTypeError, match="object of type <class 'str'> cannot be converted to int"):
        lake.append(lake_root, batches)
    assert lake_files(lake_root) == []


def test_records_given_column_by_column_are_the_records_given_as_rows():
    # Bulk registration converts its records column by column (lake.arrow_table); every kind of
    # value a run record holds must come out as from_pylist makes it of the same rows.
    day, stamp = lake.utc_now().date(), lake.utc_now()
    rows = [
        {"run_id": "r1", "dataset_ids": ["d1", "d2"], "strategy_hash": "s", "engine_version": "1.0.0", "seed": -(2**63),
         "callers": ["c"], "window_from": day, "window_to": day, "status": "completed", "strategy_family": None,
         "params": {"b": "2", "a": "x"}, "metrics": {}, "artifact_count": 0, "registered_at": stamp},
        {"run_id": "r2", "dataset_ids": ["d1"], "strategy_hash": "s", "engine_version": "1.0.0", "seed": 2**63 - 1,
         "callers": ["c", "é"], "window_from": day, "window_to": day, "status": "failed", "strategy_family": "f",
         "params": None, "metrics": {"pnl": -1.5}, "artifact_count": None, "registered_at": stamp},
    ]
    columns = {column.name: [row[column.name] for row in rows] for column in lake.RUNS.columns}
    assert lake.record_count(columns) == 2
    by_columns = lake.arrow_table(lake.RUNS, columns)
    assert by_columns.equals(pa.Table.from_pylist(rows, schema=lake.RUNS.schema))
    assert by_columns.to_pylist()[0]["params"] == [("b", "2"), ("a", "x")]  # key order kept
    # A batch's registration time is given once (lake.Repeated), and comes out once per record.
    stamped_once = lake.arrow_table(lake.RUNS, {**columns, "registered_at": lake.Repeated(stamp, 2)})
    assert stamped_once.equals(by_columns)
    assert stamped_once["registered_at"].to_pylist() == [stamp, stamp]
