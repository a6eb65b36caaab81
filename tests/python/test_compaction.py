"""`quantbot registry compact`: fewer files, the very same records, registry and resolution hashes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantbot_dbt import compaction, lake
from quantbot_dbt.records import RunInput, dataset_record, register_dataset, register_runs
from quantbot_dbt.registry import rebuild
from quantbot_dbt.resolver import change_state, create_runset, resolve, runset_spec, tag_run

from conftest import lake_files

RUNS = 24


def one_run(seed: int, outputs: Path) -> RunInput:
    """A run registered on its own, as a single CLI call would: one run file, one artifact file."""
    trades = outputs / f"trades-{seed}.parquet"
    pq.write_table(pa.table({"trade_id": [seed], "pnl": [seed / 10]}), trades)
    month = 10 + seed % 3  # a third of the runs in each month folder
    return RunInput({
        "dataset_ids": ["ohlcv_q4"], "strategy_hash": "s1", "engine_version": "1.0.0", "seed": seed,
        "callers": ["brook"], "window_from": f"2025-{month}-01", "window_to": "2025-12-31",
        "status": "failed" if seed % 7 == 0 else "completed",
        "artifacts": [{"kind": "trades", "uri": str(trades)}],
    })


def small_files_lake(lake_root: Path, outputs: Path) -> None:
    outputs.mkdir(parents=True)
    register_dataset(lake_root, dataset_record("ohlcv_q4", "ohlcv", "2025-10-01", "2025-12-31"))
    run_ids = [register_runs(lake_root, [one_run(seed, outputs)]).written[0] for seed in range(RUNS)]
    for name, status in (("q4_completed", "completed"), ("q4_any", "any")):
        create_runset(lake_root, name, runset_spec(["ohlcv_q4"], status=status), tags=["q4"])
        resolve(lake_root, name)
    tag_run(lake_root, run_ids[0], ["golden"])
    tag_run(lake_root, run_ids[1], ["golden"])
    create_runset(lake_root, "golden", runset_spec(["ohlcv_q4"], run_tags=["golden"]))
    resolve(lake_root, "golden")
    change_state(lake_root, "golden", "freeze")
    resolve(lake_root, "q4_completed", force=True)


def registry_snapshot(db_file: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db_file), read_only=True) as con:
        tables = [name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'registry'").fetchall()]
        return {name: con.execute(f"SELECT * FROM registry.{name} ORDER BY ALL").fetchall() for name in tables}


def lake_rows(lake_root: Path) -> dict[str, list[tuple]]:
    with duckdb.connect() as con:
        return {name: lake.scan(con, lake_root, table).order("ALL").fetchall() for name, table in lake.TABLES.items()}


def data_files(lake_root: Path) -> list[str]:
    return [name for name in lake_files(lake_root) if not name.endswith(".lock")]


def part_files_per_folder(lake_root: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in lake_files(lake_root):
        if name.endswith(".parquet"):
            folder = str(Path(name).parent)
            counts[folder] = counts.get(folder, 0) + 1
    return counts


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("small-files")
    small_files_lake(folder / "lake", folder / "outputs")
    return folder / "lake"


@pytest.fixture
def small_lake(built_lake: Path, lake_root: Path) -> Path:
    shutil.copytree(built_lake, lake_root)
    return lake_root


def test_compaction_keeps_every_record_the_registry_and_every_resolution_hash(small_lake, quantbot, tmp_path):
    before = rebuild(small_lake, tmp_path / "before.duckdb")
    assert before.ok, before.failures
    rows_before, files_before = lake_rows(small_lake), part_files_per_folder(small_lake)
    history_before = {name: quantbot("runset", "history", name, "--json", check=True).json()
                      for name in ("q4_completed", "q4_any", "golden")}
    assert files_before["runs/engine_version=1.0.0/month=2025-10"] == RUNS // 3

    result = quantbot("registry", "compact", "--json", check=True).json()

    files_after = part_files_per_folder(small_lake)
    assert set(files_after) == set(files_before) and set(files_after.values()) == {1}
    assert result["dry_run"] is False
    assert result["files_before"] == sum(files_before.values()) and result["files_after"] == len(files_before)
    merged = {folder["folder"]: (folder["files"], folder["rows"]) for folder in result["folders"]}
    assert merged["registry/runs/engine_version=1.0.0/month=2025-10"] == (RUNS // 3, RUNS // 3)
    assert merged["registry/resolutions/runset_id=" + history_before["q4_completed"]["runset_id"]] == (2, 2)
    assert lake_rows(small_lake) == rows_before  # every record, registered_at included
    after = rebuild(small_lake, tmp_path / "after.duckdb")
    assert after.ok, after.failures
    assert registry_snapshot(tmp_path / "after.duckdb") == registry_snapshot(tmp_path / "before.duckdb")
    for name, history in history_before.items():
        assert quantbot("runset", "history", name, "--json", check=True).json() == history
    # A fresh resolve still selects exactly what it selected before compaction.
    fresh = quantbot("runset", "resolve", "q4_completed", "--force", "--json", check=True).json()
    assert fresh["resolution_hash"] == history_before["q4_completed"]["resolutions"][0]["resolution_hash"]


def test_a_compaction_records_which_file_replaced_which(small_lake, quantbot):
    before = {path: lake.LakeFile.of(path, table.name) for table in lake.TABLES.values()
              for path in lake.files(small_lake, table)}

    result = quantbot("registry", "compact", "--json", check=True).json()

    (record,) = sorted((small_lake / "compactions").iterdir())
    assert record.name.startswith("compaction-") and record.suffix == ".json"
    merged = compaction.merged_files(small_lake)
    after = {path: lake.LakeFile.of(path, table.name) for table in lake.TABLES.values()
             for path in lake.files(small_lake, table)}
    assert {path: merged_file.state for path, merged_file in merged.items()} == {
        path: state for path, state in after.items() if path not in before}
    assert len(merged) == len(result["folders"])
    for path, merged_file in merged.items():
        assert {Path(source).parent for source in merged_file.sources} == {Path(path).parent}
        assert merged_file.sources == {source: before[source] for source in merged_file.sources}
    assert sorted(source for merged_file in merged.values() for source in merged_file.sources) == sorted(
        set(before) - set(after))
    # Nothing merged, nothing recorded: a dry run, or a second compaction.
    quantbot("registry", "compact", "--dry-run", check=True)
    quantbot("registry", "compact", check=True)
    assert sorted((small_lake / "compactions").iterdir()) == [record]


def test_a_record_that_cannot_be_written_is_one_line_and_the_lake_stays_compacted(small_lake, quantbot):
    (small_lake / "compactions").write_text("a file where the folder of records goes")
    rows_before = lake_rows(small_lake)

    result = quantbot("registry", "compact")

    assert result.code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: the lake was compacted, but the record of it could not be written ([Errno 17] ")
    assert result.stderr.endswith("): the next registry rebuild is a full one\n") and result.stderr.count("\n") == 1
    assert set(part_files_per_folder(small_lake).values()) == {1} and lake_rows(small_lake) == rows_before


def test_merged_event_files_state_their_highest_event_seq_and_the_sequence_goes_on(small_lake):
    compaction.compact(small_lake)

    highest_in_lake = 0
    for table in lake.EVENT_TABLES:
        for path in lake.files(small_lake, table):
            highest_in_file = max(pq.read_table(path, columns=["event_seq"]).column(0).to_pylist())
            assert lake.event_seq_in_name(path) == highest_in_file, path
            highest_in_lake = max(highest_in_lake, highest_in_file)
    assert highest_in_lake == 9
    change_state(small_lake, "golden", "unfreeze")
    (unfrozen,) = [row for row in pq.read_table(lake.RUNSET_EVENTS.folder(small_lake)).to_pylist()
                   if row["event"] == "unfrozen"]
    assert unfrozen["event_seq"] == 10


def test_compacting_a_compacted_lake_changes_nothing(small_lake, quantbot):
    quantbot("registry", "compact", check=True)
    files = lake_files(small_lake)

    result = quantbot("registry", "compact", "--json", check=True).json()

    assert result["folders"] == [] and result["files_before"] == result["files_after"] == len(
        [name for name in files if name.endswith(".parquet")])
    assert lake_files(small_lake) == files


def test_dry_run_reports_the_plan_and_changes_nothing(small_lake, quantbot):
    files = data_files(small_lake)

    result = quantbot("registry", "compact", "--dry-run", "--json", check=True).json()

    assert data_files(small_lake) == files
    assert result["dry_run"] is True
    assert {folder["folder"]: (folder["files"], folder["rows"]) for folder in result["folders"]}[
        "registry/runs/engine_version=1.0.0/month=2025-11"] == (RUNS // 3, RUNS // 3)
    assert result["files_after"] == compaction.plan(small_lake).files_after


def test_a_file_not_in_the_lake_schema_is_left_alone(small_lake, quantbot):
    folder = small_lake / "registry" / "runs" / "engine_version=1.0.0" / "month=2025-10"
    foreign = folder / "hand-made.parquet"
    pq.write_table(pa.table({"run_id": ["x" * 64], "note": ["not a lake schema"]}), foreign)

    result = quantbot("registry", "compact", "--json", check=True).json()

    (runs_folder,) = [item for item in result["folders"] if item["folder"] == str(folder.relative_to(small_lake))]
    assert runs_folder["skipped"] == ["hand-made.parquet"] and runs_folder["files"] == RUNS // 3
    assert foreign.is_file() and len(list(folder.glob("*.parquet"))) == 2


def test_writers_and_readers_during_compaction_lose_nothing(small_lake, tmp_path):
    """A writer registers runs one by one and a port answers reads while compactions run."""
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from pathlib import Path
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_compaction import one_run
        from quantbot_dbt.records import register_runs
        outputs = Path({str(tmp_path / 'more')!r})
        outputs.mkdir()
        for seed in range(1000, 1030):
            register_runs(Path({str(small_lake)!r}), [one_run(seed, outputs)])
    """)])
    reads = "".join(json.dumps({"id": n, "op": "listRuns", "args": {"dataset": "ohlcv_q4"}}) + "\n" for n in range(40))
    reader = subprocess.Popen([sys.executable, "-m", "quantbot_dbt", "port", "--lake", str(small_lake)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    compactions = 0
    while writer.poll() is None or compactions < 3:
        compaction.compact(small_lake)
        compactions += 1
    answers = [json.loads(line) for line in reader.communicate(reads)[0].splitlines()]
    assert writer.wait() == 0

    assert [answer["ok"] for answer in answers] == [True] * 40
    assert all(len(answer["result"]["runs"]) >= RUNS for answer in answers)
    compaction.compact(small_lake)
    with duckdb.connect() as con:
        seeds = sorted(row["seed"] for row in lake.records(con, small_lake, lake.RUNS))
    assert seeds == list(range(RUNS)) + list(range(1000, 1030))
    assert set(part_files_per_folder(small_lake).values()) == {1}


def test_every_cli_command_on_a_lake_holds_its_lock():
    """Compaction is safe only against commands holding `lake.reading`; compact itself must not
    (it takes the exclusive lock), nor the long-lived port (it locks per request)."""
    import inspect

    from quantbot_dbt.cli import app

    def commands(typer_app, path=()):
        for info in typer_app.registered_commands:
            yield path + (info.name,), info.callback
        for group in typer_app.registered_groups:
            yield from commands(group.typer_instance, path + (group.name,))

    unlocked = {" ".join(path) for path, callback in commands(app)
                if "lake" in inspect.signature(callback).parameters and not hasattr(callback, "__wrapped__")}
    assert unlocked == {"registry compact", "demo", "port"}
