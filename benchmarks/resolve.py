"""Resolve a RunSet over a synthetic lake of N runs, against the floor of a raw DuckDB scan.

    .venv/bin/python benchmarks/resolve.py --runs 10000

Prints one JSON document: medians, min and max over repetitions, and the ratio to the floor
measured in the same run on the same files (this machine is shared and noisy: compare ratios).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from quantbot_dbt import lake
from quantbot_dbt.records import RunInput, dataset_record, register_dataset, register_runs
from quantbot_dbt.resolver import create_runset, record_resolution, runset_spec

CALLERS = [f"caller_{number:02d}" for number in range(40)]


def synthetic_runs(count: int) -> list[RunInput]:
    """Deterministic: a year of windows, 40 callers, 2 engines, 3 strategies, ~5% failed."""
    start = dt.date(2025, 1, 1)
    runs = []
    for number in range(count):
        first_day = start + dt.timedelta(days=number % 350)
        runs.append(RunInput({
            "dataset_ids": ["ohlcv_2025", "alerts_2025"], "strategy_hash": f"strategy_{number % 3}",
            "engine_version": f"1.{number % 2}.0", "seed": number, "callers": [CALLERS[number % len(CALLERS)]],
            "window_from": first_day.isoformat(), "window_to": (first_day + dt.timedelta(days=14)).isoformat(),
            "status": "failed" if number % 20 == 0 else "completed",
        }))
    return runs


def timed(function, repetitions: int) -> dict[str, float]:
    seconds = []
    for _ in range(repetitions):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        lake_root = Path(folder) / "lake"
        register_dataset(lake_root, dataset_record("ohlcv_2025", "ohlcv"))
        register_dataset(lake_root, dataset_record("alerts_2025", "alerts"))
        started = time.perf_counter()
        register_runs(lake_root, synthetic_runs(args.runs))
        register_seconds = time.perf_counter() - started
        # ~1% of runs: one caller of 40, one engine of 2, ~half the year
        spec = runset_spec(["ohlcv_2025"], callers=["caller_07"], engine_versions=["1.1.0"],
                           window_from="2025-01-01", window_to="2025-06-30")
        runset_id = create_runset(lake_root, "bench", spec).runset_id
        members = record_resolution(lake_root, runset_id)["run_count"]
        resolve = timed(lambda: record_resolution(lake_root, runset_id), args.repetitions)
        paths = lake.files(lake_root, lake.RUNS)

        def floor() -> None:
            with duckdb.connect() as con:
                con.execute("SELECT count(*) FROM read_parquet($paths)", {"paths": paths}).fetchall()

        scan = timed(floor, args.repetitions)
    print(json.dumps({
        "runs": args.runs, "run_files": len(paths), "members": members, "repetitions": args.repetitions,
        "bulk_register_s": round(register_seconds, 3),
        "resolve_force_in_process": resolve, "floor_raw_duckdb_scan": scan,
        "ratio_resolve_to_floor": round(resolve["median_s"] / scan["median_s"], 1),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
    }, indent=2))


if __name__ == "__main__":
    main()
