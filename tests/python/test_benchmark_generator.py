"""The benchmark generator (benchmarks/generate.py) at a tiny size: exact counts, and the same
ids and resolution hashes every time. Correctness only; its speed is measured by benchmarks/run.py."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

from quantbot_dbt import lake
from quantbot_dbt.project import project_dir

RUNS, BATCH_SIZE, RUNSETS, RESOLUTIONS = 200, 100, 4, 2


def load_generator() -> ModuleType:
    """benchmarks/ is not a package: load generate.py by path (dataclasses need it in sys.modules)."""
    spec = importlib.util.spec_from_file_location("benchmark_generate", project_dir() / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = load_generator()


@pytest.fixture(scope="module")
def two_lakes(tmp_path_factory: pytest.TempPathFactory):
    """The same tiny lake generated twice, in two folders, with two artifact pools."""
    lakes = []
    for name in ("first", "second"):
        folder = tmp_path_factory.mktemp(name)
        lakes.append(generate.generate(folder / "lake", RUNS, batch_size=BATCH_SIZE, runsets=RUNSETS,
                                       resolutions=RESOLUTIONS, pool_dir=folder / "pool"))
    return lakes


def lake_ids(lake_root: Path, table: lake.Table, column: str, where: str = "TRUE") -> list:
    with duckdb.connect() as con:
        return [row[0] for row in con.execute(
            f"SELECT DISTINCT {column} FROM read_parquet($files) WHERE {where} ORDER BY 1",
            {"files": lake.files(lake_root, table)}).fetchall()]


def test_generator_counts_are_exact(two_lakes) -> None:
    generated = two_lakes[0]
    lake_root = Path(generated.lake)
    assert (generated.runs, generated.failed_runs, generated.artifacts) == (200, 9, 989)
    assert (generated.datasets, generated.runsets, generated.resolutions, generated.frozen_runsets) == (7, 4, 8, 0)
    assert len(generated.batch_seconds) == 2
    # What the summary says is what the lake holds.
    assert len(lake_ids(lake_root, lake.RUNS, "run_id")) == 200
    assert len(lake_ids(lake_root, lake.RUNS, "run_id", "status = 'failed'")) == 9
    assert len(lake_ids(lake_root, lake.ARTIFACTS, "artifact_id")) == 989
    assert len(lake_ids(lake_root, lake.DATASETS, "dataset_id")) == 7
    assert lake_ids(lake_root, lake.RUNSET_NAMES, "name") == [
        "bench_1pct", "rs001_caller_23_caller_36_overlap", "rs002_breakout_engine_1.2.0", "rs003_breakout_372fb62abc_2025H1",
    ]
    assert len(lake_ids(lake_root, lake.RESOLUTIONS, "resolution_id")) == 8
    assert generated.measured_members == 1
    # Every artifact points into the bounded pool of files.
    assert len(lake_ids(lake_root, lake.ARTIFACTS, "uri")) <= 4 * generate.POOL_SIZE


def test_generator_is_deterministic(two_lakes) -> None:
    first, second = two_lakes
    first_root, second_root = Path(first.lake), Path(second.lake)
    assert lake_ids(first_root, lake.RUNS, "run_id") == lake_ids(second_root, lake.RUNS, "run_id")
    assert first.run_ids_sha256 == second.run_ids_sha256 == hashlib.sha256(
        "\n".join(lake_ids(first_root, lake.RUNS, "run_id")).encode()).hexdigest()
    # Run ids hash only the run's identity: the same on any machine, whatever pyarrow writes.
    assert first.run_ids_sha256 == "691a9daccb02548905392cb844eec11a2b84242f8a8c1cb1e3a2d49caaafae56"
    assert lake_ids(first_root, lake.ARTIFACTS, "artifact_id") == lake_ids(second_root, lake.ARTIFACTS, "artifact_id")
    assert first.resolution_hashes == second.resolution_hashes
    assert first.resolution_ids == second.resolution_ids
    assert first.resolution_hashes["bench_1pct"] == ["16dcd34a53370428673139005eb768663bef9fae7352319057ea615bed1c40b7"] * 2
    # Resolution rounds see the lake grow: no run of either caller after 100 runs, some after 200.
    assert first.resolution_hashes["rs001_caller_23_caller_36_overlap"] == [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # sha256 of "": no runs
        "85a8f673c0bf5ae5760c761c88a8c98d467d348292f142634a39eda70c2b7f44",
    ]


def test_runs_do_not_depend_on_batching() -> None:
    """Run N is drawn from its own stream: appending runs N.. later gives the same runs."""
    pool = {kind: [f"/pool/{kind}-{n}" for n in range(generate.POOL_SIZE)] for kind in ("trades", "metrics", "curve", "diagnostics")}
    together = generate.run_inputs(0, 30, pool)
    apart = generate.run_inputs(0, 10, pool) + generate.run_inputs(10, 20, pool)
    assert [run.fields for run in together] == [run.fields for run in apart]
