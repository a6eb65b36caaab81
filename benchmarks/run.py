"""Every scale measurement at one lake size: a table on stdout and benchmarks/results/<size>.json.

    .venv/bin/python benchmarks/run.py --runs 10000            # all measurements
    .venv/bin/python benchmarks/run.py --runs 2000 --only resolve_fresh,membership_query

Each figure is printed next to its floor, measured in the same run on the same files (the
machine is shared and noisy: compare ratios, not seconds). What each row measures, and its
floor, is in benchmarks/README.md and in MEASUREMENTS below: one function per measurement, so
a new one (compaction, say) is one function and one line.

How it runs: the synthetic lake of --runs runs (benchmarks/generate.py) is generated once into
--workdir and kept as a pristine copy, keyed by the generator's parameters and the source of
generate.py and quantbot_dbt/ (so a change to the writer regenerates it). Each invocation copies
it into its own run-<pid> folder (removed at the end) and measures on the copy, since some
measurements append to the lake; concurrent invocations share only the locked, cached lakes. Every measurement runs
in its own worker process, so that its peak RSS is its own; a measurement that runs the CLI or
dbt in a subprocess reports that subprocess's peak RSS instead (os.wait4).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

import generate
from quantbot_dbt import compaction, lake, records
from quantbot_dbt.ids import canonical_json
from quantbot_dbt.project import project_dir
from quantbot_dbt.resolver import create_runset, resolve, runset_id_for, runset_spec

BENCHMARKS_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCHMARKS_DIR / "results"
FRAGMENTED_RUNS = 10_000  # "the lake after 10,000 single-run registrations"
APPENDED_RUNS = 1_000  # "rebuild after appending 1,000 runs"
GIB = 1 << 30


# ---------------------------------------------------------------- the context every measurement gets


@dataclass
class Bench:
    """Everything a measurement needs, as plain values: it travels to worker processes as JSON."""

    runs: int
    repetitions: int
    register_repetitions: int
    batch_size: int
    runsets: int
    resolutions: int
    seed: int
    workdir: str
    run_dir: str  # this invocation's scratch folder: concurrent invocations never share one
    pristine: str  # the generated lake, never measured on
    lake: str  # this invocation's copy of it
    pool: str  # the artifact files every lake points at
    fragmented_writer: str  # "append" or "register_runs", see fragmented_lakes()
    generated: dict[str, Any] = field(default_factory=dict)

    @property
    def lake_root(self) -> Path:
        return Path(self.lake)

    @property
    def db_file(self) -> Path:
        return Path(self.run_dir) / "bench.duckdb"

    @property
    def measured_runset_id(self) -> str:
        return runset_id_for(canonical_json(runset_spec(**generate.MEASURED_SPEC)))

    def pool_paths(self) -> dict[str, list[str]]:
        return generate.write_artifact_pool(Path(self.pool))  # already there: only lists the paths

    def environment(self, target: str) -> dict[str, str]:
        """For CLI and dbt subprocesses: one dbt target folder per lake, so that dbt's partial
        parse stays warm for that lake, as it does for a user who rebuilds one lake. Bytecode
        caching on, as in a normal install (a shell with PYTHONDONTWRITEBYTECODE recompiles
        every module of the package at each start, ~50 ms)."""
        env = {name: value for name, value in os.environ.items()
               if name not in ("QUANTBOT_LAKE", "QUANTBOT_DB", "PYTHONDONTWRITEBYTECODE")}
        folder = Path(self.run_dir) / "dbt" / target
        env.update(DBT_TARGET_PATH=str(folder), DBT_LOG_PATH=str(folder / "logs"),
                   DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        return env


@dataclass
class Figures:
    """One measurement's samples (seconds, or a ratio's parts), its floor's, and peak RSS."""

    seconds: list[float]
    floor_seconds: list[float]
    peak_rss_bytes: int | None = None  # None: the worker's own peak is used
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Measurement:
    name: str
    operation: str
    floor: str
    target_10k: float | None  # seconds; None: no target
    target_1m: float | None
    measure: Callable[[Bench], Figures]
    status: str = ""  # a note printed under the table (e.g. a row without a target)
    rss_target_1m: int | None = None
    ratio_target: float | None = None  # the target bounds the ratio to the floor, not seconds


# ---------------------------------------------------------------- timing helpers


def repeat(function: Callable[[], Any], repetitions: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repetitions):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


@dataclass
class Process:
    seconds: float
    peak_rss_bytes: int
    code: int
    stdout: str
    stderr: str


def timed_process(command: list[str], env: dict[str, str] | None = None) -> Process:
    """Wall time and peak RSS (os.wait4: this child's own) of one subprocess."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped: keep Popen from waiting again
        out.seek(0), err.seek(0)
        return Process(seconds, usage.ru_maxrss * 1024, child.returncode, out.read(), err.read())


def checked(process: Process, what: str) -> Process:
    if process.code != 0:
        raise RuntimeError(f"{what} failed (exit {process.code}): {process.stderr.strip()[-2000:]}")
    return process


def repeat_process(command: list[str], env: dict[str, str], repetitions: int, warmup: int = 1) -> tuple[list[float], int, str]:
    """Samples, the highest peak RSS among them, and the last stdout."""
    for _ in range(warmup):
        checked(timed_process(command, env), " ".join(command[:4]))
    processes = [checked(timed_process(command, env), " ".join(command[:4])) for _ in range(repetitions)]
    return [p.seconds for p in processes], max(p.peak_rss_bytes for p in processes), processes[-1].stdout


def quantbot_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "quantbot"  # the console script a user runs
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "quantbot_dbt", *args]


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------- bulk register


def measure_bulk_register(bench: Bench) -> Figures:
    """The generator's registration, again, into scratch lakes: every run and its artifacts,
    batch by batch through records.register_runs (inputs built before the clock starts).
    Floor: the same rows (read back from the lake) written by plain pyarrow, one file per
    table per batch, zstd, no partitioning, no fsync. Peak RSS: the registrations', taken before
    the floor reads the whole lake back into Python rows (at 1M that read alone took this
    worker to ~3.5 GiB)."""
    pool = bench.pool_paths()
    seconds, scratch_lakes = [], []
    for repetition in range(bench.register_repetitions):
        scratch = Path(bench.run_dir) / f"register-{repetition}"
        shutil.rmtree(scratch, ignore_errors=True)
        generate.register_datasets(scratch)
        elapsed = 0.0
        for first in range(0, bench.runs, bench.batch_size):
            batch = generate.run_inputs(first, min(bench.batch_size, bench.runs - first), pool, bench.seed)
            started = time.perf_counter()
            records.register_runs(scratch, batch)
            elapsed += time.perf_counter() - started
        seconds.append(elapsed)
        scratch_lakes.append(scratch)
    peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    files_written = len(lake.files(scratch_lakes[-1], lake.RUNS)) + len(lake.files(scratch_lakes[-1], lake.ARTIFACTS))
    floor_seconds = []
    for scratch in scratch_lakes:
        floor_seconds.append(plain_write_seconds(scratch, bench.batch_size, Path(bench.run_dir) / "floor"))
        shutil.rmtree(scratch)
    # The pool lets a call read each file once (~160 files a batch); what a distinct file costs
    # (hash + Parquet footer, warm page cache) says what a lake of distinct output files would pay.
    pool_files = [Path(path) for paths in pool.values() for path in paths]
    started = time.perf_counter()
    for path in pool_files:
        records.file_facts(path)
    per_distinct_file = (time.perf_counter() - started) / len(pool_files)
    artifacts = bench.generated.get("artifacts") or 0
    return Figures(seconds, floor_seconds, peak_rss_bytes, details={
        "runs": bench.runs, "artifacts": artifacts, "batch_size": bench.batch_size,
        "batches": -(-bench.runs // bench.batch_size), "lake_files_written": files_written,
        "generation_register_seconds": bench.generated.get("register_seconds"),
        "distinct_artifact_files_read": len(pool_files) * -(-bench.runs // bench.batch_size),
        "seconds_per_distinct_artifact_file": per_distinct_file,
        "extra_seconds_if_every_artifact_were_a_distinct_file": per_distinct_file * artifacts,
        "peak_rss_bytes_with_the_floor": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    })


def plain_write_seconds(lake_root: Path, batch_size: int, folder: Path) -> float:
    """Write the lake's runs and artifacts again with plain pyarrow, in as many batches."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        tables = {table: lake.scan(con, lake_root, table).to_arrow_table() for table in (lake.RUNS, lake.ARTIFACTS)}
    batches = -(-tables[lake.RUNS].num_rows // batch_size)
    elapsed = 0.0
    for number in range(batches):
        for table, arrow_table in tables.items():
            size = -(-arrow_table.num_rows // batches)
            rows = arrow_table.slice(number * size, size).to_pylist()  # Python rows, as the writer gets them
            started = time.perf_counter()
            pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), folder / f"{table.name}-{number}.parquet",
                           compression="zstd")
            elapsed += time.perf_counter() - started
    shutil.rmtree(folder)
    return elapsed


# ---------------------------------------------------------------- resolve


def raw_selection(con: duckdb.DuckDBPyConnection, lake_root: Path) -> tuple[list[str], int]:
    """The measured RunSet's members and their artifact count, straight from every Parquet file
    (no pruning, no state, no recording): the floor of a resolve."""
    spec = generate.MEASURED_SPEC
    runs_glob = sql_string(str(lake_root / "registry" / "runs" / "**" / "*.parquet"))
    artifacts_glob = sql_string(str(lake_root / "registry" / "artifacts" / "**" / "*.parquet"))
    ids = [run_id for (run_id,) in con.execute(
        f"SELECT run_id FROM read_parquet({runs_glob}, hive_partitioning = false) "
        "WHERE list_has_all(dataset_ids, $datasets) AND list_has_all($callers, callers) "
        "AND window_from >= $first AND window_to <= $last AND status = 'completed' ORDER BY run_id",
        {"datasets": spec["datasets"], "callers": spec["callers"],
         "first": dt.date.fromisoformat(spec["window_from"]), "last": dt.date.fromisoformat(spec["window_to"])},
    ).fetchall()]
    (artifacts,) = con.execute(
        f"SELECT count(DISTINCT artifact_id) FROM read_parquet({artifacts_glob}, hive_partitioning = false) "
        "WHERE run_id IN (SELECT unnest($ids))", {"ids": ids},
    ).fetchall()[0]
    return ids, artifacts


def resolve_against_floor(lake_root: Path, repetitions: int) -> tuple[list[float], list[float], dict[str, Any]]:
    """Fresh resolves (each appends a resolution) and raw scans, alternated so both see the same noise."""
    result = resolve(lake_root, generate.MEASURED_RUNSET, force=True)  # warm-up
    # The floor's queries run on a database made before the clock starts, as the resolver's
    # (lake.connect); making one takes ~20 ms.
    floor_database = duckdb.connect()
    with floor_database.cursor() as con:
        floor_ids, floor_artifacts = raw_selection(con, lake_root)
    if (floor_ids, floor_artifacts) != (result["run_ids"], result["artifact_count"]):
        raise RuntimeError("the raw-scan floor does not select the RunSet's members: fix raw_selection()")
    seconds, floor_seconds = [], []
    for _ in range(repetitions):
        started = time.perf_counter()
        resolve(lake_root, generate.MEASURED_RUNSET, force=True)
        seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        with floor_database.cursor() as con:
            raw_selection(con, lake_root)
        floor_seconds.append(time.perf_counter() - started)
    floor_database.close()
    return seconds, floor_seconds, {
        "members": result["run_count"], "member_artifacts": result["artifact_count"],
        "run_files": len(lake.files(lake_root, lake.RUNS)), "artifact_files": len(lake.files(lake_root, lake.ARTIFACTS)),
        "resolution_files": len(lake.files(lake_root, lake.RESOLUTIONS)),
    }


def measure_resolve_fresh(bench: Bench) -> Figures:
    """resolver.resolve(lake, "bench_1pct", force=True) in-process: find the RunSet, read its
    state, select the runs, count their artifacts, append the resolution (under the lock)."""
    seconds, floor_seconds, details = resolve_against_floor(bench.lake_root, bench.repetitions)
    details["selectivity"] = round(details["members"] / bench.runs, 4)
    return Figures(seconds, floor_seconds, details=details)


# ---------------------------------------------------------------- whole CLI processes


CLI_FLOOR = """
import glob, sys
import duckdb
lake, runset_id = sys.argv[1], sys.argv[2]
con = duckdb.connect()
for pattern in ("runset_names/*.parquet", f"runsets/runset_id={runset_id}/*.parquet",
                "runset_events/*.parquet", f"resolutions/runset_id={runset_id}/*.parquet"):
    files = glob.glob(f"{lake}/registry/{pattern}")
    if files:
        con.execute("SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false)",
                    {"files": files}).fetchall()
"""


def cli_floor(bench: Bench) -> tuple[list[float], int]:
    """A Python process that imports duckdb and reads the files the command reads, raw."""
    command = [sys.executable, "-c", CLI_FLOOR, bench.lake, bench.measured_runset_id]
    samples, peak, _ = repeat_process(command, bench.environment("floor"), bench.repetitions)
    return samples, peak


def measure_cli(bench: Bench, *args: str) -> Figures:
    command = quantbot_command("runset", *args, generate.MEASURED_RUNSET, "--lake", bench.lake, "--json")
    env = bench.environment("lake")
    samples, peak, stdout = repeat_process(command, env, bench.repetitions)
    floor_samples, floor_peak = cli_floor(bench)
    document = json.loads(stdout)
    return Figures(samples, floor_samples, peak, {
        "command": " ".join(["quantbot", "runset", *args, generate.MEASURED_RUNSET, "--lake", "LAKE", "--json"]),
        "run_count": document.get("run_count"), "floor_peak_rss_bytes": floor_peak,
        **({"recorded": document["recorded"]} if "recorded" in document else {}),
    })


def measure_cli_runset_get(bench: Bench) -> Figures:
    return measure_cli(bench, "get")


def measure_cli_resolve_cached(bench: Bench) -> Figures:
    figures = measure_cli(bench, "resolve")
    if figures.details.get("recorded") is not False:
        raise RuntimeError("`runset resolve` without --force recorded a resolution: it was not the cached path")
    return figures


# ---------------------------------------------------------------- rebuilds and the registry


def rebuild_command(lake_root: Path, db_file: Path, *options: str) -> list[str]:
    return quantbot_command("registry", "rebuild", "--lake", str(lake_root), "--db", str(db_file), "--json", *options)


def empty_rebuilds(bench: Bench) -> tuple[list[float], int]:
    """The floor of a rebuild: the same `dbt build` of the same project on an empty lake
    (--full-refresh: else every rebuild after the first finds nothing new and builds nothing)."""
    empty = Path(bench.run_dir) / "empty-lake"
    empty.mkdir(parents=True, exist_ok=True)
    samples, peak, _ = repeat_process(rebuild_command(empty, empty.parent / "empty.duckdb", "--full-refresh"),
                                      bench.environment("empty"), bench.repetitions)
    return samples, peak


def rebuild_once(bench: Bench, *options: str) -> Process:
    return checked(timed_process(rebuild_command(bench.lake_root, bench.db_file, *options), bench.environment("lake")),
                   "quantbot registry rebuild")


def measure_rebuild_full(bench: Bench) -> Figures:
    """`quantbot registry rebuild --full-refresh`: a whole process, dbt build of every model and contract
    from every lake file."""
    rebuild_once(bench, "--full-refresh")  # warm-up: dbt's parse of this project, the page cache
    processes = [rebuild_once(bench, "--full-refresh") for _ in range(bench.repetitions)]
    floor_samples, floor_peak = empty_rebuilds(bench)
    document = json.loads(processes[-1].stdout)
    return Figures([p.seconds for p in processes], floor_samples, max(p.peak_rss_bytes for p in processes), {
        "row_counts": document["row_counts"], "build": document["build"], "floor_peak_rss_bytes": floor_peak,
    })


def measure_rebuild_after_append(bench: Bench) -> Figures:
    """Register 1,000 new runs (in-process, one register_runs call; not timed), then time
    `quantbot registry rebuild` (incremental: it reads only the new lake files); once per
    repetition, so the lake grows by 1,000 runs each time. Each build's kind and reason are kept."""
    rebuild_once(bench)  # a registry to start from (a full build), and dbt's parse warm
    pool = bench.pool_paths()
    first = bench.runs + appended_so_far(bench)
    seconds, peaks, register_seconds, builds = [], [], [], []
    for repetition in range(bench.repetitions):
        batch = generate.run_inputs(first + repetition * APPENDED_RUNS, APPENDED_RUNS, pool, bench.seed)
        started = time.perf_counter()
        records.register_runs(bench.lake_root, batch)
        register_seconds.append(time.perf_counter() - started)
        process = rebuild_once(bench)
        seconds.append(process.seconds)
        peaks.append(process.peak_rss_bytes)
        builds.append(json.loads(process.stdout)["build"])
    if any(build["kind"] != "incremental" for build in builds):
        raise RuntimeError(f"a rebuild after an append was not incremental: {builds}")
    floor_samples, _ = empty_rebuilds(bench)
    return Figures(seconds, floor_samples, max(peaks), {
        "appended_runs_per_repetition": APPENDED_RUNS, "register_1000_seconds": register_seconds, "builds": builds,
        "registry_bytes": bench.db_file.stat().st_size,
    })


def measure_rebuild_after_compaction(bench: Bench) -> Figures:
    """Per repetition: register 1,000 new runs and rebuild (incremental), then time
    `quantbot registry rebuild` once with nothing new (the floor), compact the lake (`quantbot
    registry compact`, not timed), and time it again: the compaction's record lets it keep the
    registry, which holds the same records (before 15949d5 that rebuild was a full one)."""
    rebuild_once(bench)  # a registry to start from, and dbt's parse warm
    pool = bench.pool_paths()
    first = bench.runs + appended_so_far(bench)
    seconds, floor_seconds, peaks, compactions, builds = [], [], [], [], []
    for repetition in range(bench.repetitions):
        records.register_runs(bench.lake_root, generate.run_inputs(
            first + repetition * APPENDED_RUNS, APPENDED_RUNS, pool, bench.seed))
        rebuild_once(bench)
        floor_seconds.append(rebuild_once(bench).seconds)
        compaction = checked(timed_process(quantbot_command("registry", "compact", "--lake", str(bench.lake_root),
                                                            "--json"), bench.environment("lake")),
                             "quantbot registry compact")
        merged = json.loads(compaction.stdout)
        compactions.append({"seconds": compaction.seconds, "files_before": merged["files_before"],
                            "files_after": merged["files_after"]})
        process = rebuild_once(bench)
        seconds.append(process.seconds)
        peaks.append(process.peak_rss_bytes)
        builds.append(json.loads(process.stdout)["build"])
    if any(build["kind"] != "none" for build in builds):
        raise RuntimeError(f"a rebuild after a compaction built something: {builds}")
    return Figures(seconds, floor_seconds, max(peaks), {
        "appended_runs_per_repetition": APPENDED_RUNS, "compactions": compactions, "builds": builds,
    })


def appended_so_far(bench: Bench) -> int:
    """Runs beyond the generated ones already in this copy (so appended runs are always new)."""
    with duckdb.connect() as con:
        (count,) = con.execute("SELECT count(*) FROM read_parquet($files)",
                               {"files": lake.files(bench.lake_root, lake.RUNS)}).fetchall()[0]
    return count - bench.runs


# ---------------------------------------------------------------- rebuilds in a running port


class Port:
    """A running `quantbot port` on one lake and registry, as the seed's TypeScript client keeps one
    open: its first rebuild imports dbt, the next ones reuse it (each still loads dbt's saved
    parse of the project, ~0.4 s)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.requests = 0
        self.peak_rss_bytes: int | None = None  # known once the port has ended

    def rebuild(self, full_refresh: bool) -> tuple[float, dict[str, Any]]:
        """One rebuildRegistry request: its round trip in seconds, and its result."""
        self.requests += 1
        request = {"id": self.requests, "op": "rebuildRegistry", "args": {"full_refresh": full_refresh}}
        started = time.perf_counter()
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        seconds = time.perf_counter() - started
        if not line:
            raise RuntimeError("the port ended without answering (its stderr is above)")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"rebuildRegistry through the port failed: {answer['error']}")
        return seconds, answer["result"]

    def end(self) -> None:
        """Close its input (the port then exits) and keep its peak RSS (os.wait4: its own)."""
        if self.peak_rss_bytes is not None:
            return
        self.process.stdin.close()
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)  # reaped: keep Popen from waiting again
        self.process.stdout.close()
        self.peak_rss_bytes = usage.ru_maxrss * 1024
        if self.process.returncode != 0:
            raise RuntimeError(f"the port exited with {self.process.returncode}")


@contextlib.contextmanager
def running_port(bench: Bench, lake_root: Path, db_file: Path, target: str) -> Iterator[Port]:
    process = subprocess.Popen(quantbot_command("port", "--lake", str(lake_root), "--db", str(db_file)),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env=bench.environment(target), cwd=tempfile.gettempdir())
    port = Port(process)
    try:
        yield port
    finally:
        port.end()


def empty_port_rebuilds(bench: Bench) -> tuple[list[float], int]:
    """The floor of a rebuild through a running port: full rebuilds of an empty lake, in one port,
    after one that loads dbt."""
    empty = Path(bench.run_dir) / "empty-lake"
    empty.mkdir(parents=True, exist_ok=True)
    with running_port(bench, empty, empty.parent / "empty-port.duckdb", "empty") as port:
        port.rebuild(full_refresh=True)
        samples = [port.rebuild(full_refresh=True)[0] for _ in range(bench.repetitions)]
    return samples, port.peak_rss_bytes


def measure_port_rebuild_full(bench: Bench) -> Figures:
    """A full rebuild (rebuildRegistry, full_refresh) through a running `quantbot port`, after a
    first one in the same port: the full rebuild without Python's start and `import dbt`."""
    with running_port(bench, bench.lake_root, bench.db_file, "lake") as port:
        first_seconds, _ = port.rebuild(full_refresh=True)
        timed = [port.rebuild(full_refresh=True) for _ in range(bench.repetitions)]
    floor_samples, floor_peak = empty_port_rebuilds(bench)
    return Figures([seconds for seconds, _ in timed], floor_samples, port.peak_rss_bytes, {
        "first_rebuild_in_the_port_seconds": first_seconds, "row_counts": timed[-1][1]["row_counts"],
        "build": timed[-1][1]["build"], "floor_peak_rss_bytes": floor_peak,
    })


def measure_port_rebuild_after_append(bench: Bench) -> Figures:
    """rebuild_after_append through a running `quantbot port`: register 1,000 new runs (in-process,
    not timed), then rebuildRegistry; once per repetition, after one untimed append and rebuild
    in the same port (it loads dbt and compiles what an incremental build runs)."""
    pool = bench.pool_paths()
    first = bench.runs + appended_so_far(bench)
    seconds, builds = [], []
    with running_port(bench, bench.lake_root, bench.db_file, "lake") as port:
        for repetition in range(bench.repetitions + 1):
            records.register_runs(bench.lake_root, generate.run_inputs(
                first + repetition * APPENDED_RUNS, APPENDED_RUNS, pool, bench.seed))
            elapsed, result = port.rebuild(full_refresh=False)
            if repetition == 0:
                first_seconds, first_build = elapsed, result["build"]
                continue
            seconds.append(elapsed)
            builds.append(result["build"])
    if any(build["kind"] != "incremental" for build in builds):
        raise RuntimeError(f"a rebuild after an append was not incremental: {builds}")
    floor_samples, floor_peak = empty_port_rebuilds(bench)
    return Figures(seconds, floor_samples, port.peak_rss_bytes, {
        "appended_runs_per_repetition": APPENDED_RUNS, "builds": builds,
        "first_rebuild_in_the_port_seconds": first_seconds, "first_build": first_build,
        "floor_peak_rss_bytes": floor_peak,
    })


MINIMAL_DBT_PROJECT = {
    "dbt_project.yml": 'name: minimal\nversion: "0.1.0"\nconfig-version: 2\nprofile: minimal\nmodel-paths: ["models"]\n',
    "profiles.yml": ("minimal:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
                     "      path: \"{{ env_var('MINIMAL_DB') }}\"\n      threads: 2\n"),
    "models/one.sql": "select 1 as one\n",
}


def measure_dbt_floor(bench: Bench) -> Figures:
    """What any rebuild costs before it builds anything: `dbt build` of a project of one model
    (`select 1`, no test, no source), as a process, with the output options `quantbot registry
    rebuild` passes and dbt's partial parse warm. Floor: a process that only imports dbt. The
    same at every lake size: it reads no lake."""
    project = Path(bench.run_dir) / "minimal-dbt-project"
    for name, text in MINIMAL_DBT_PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    env = {**bench.environment("minimal"), "MINIMAL_DB": str(project / "minimal.duckdb")}
    dbt = Path(sys.executable).parent / "dbt"  # the console script a user runs
    command = [str(dbt), "build", "--project-dir", str(project), "--profiles-dir", str(project),
               "--log-level", "none", "--no-write-json"]
    samples, peak, _ = repeat_process(command, env, bench.repetitions)
    floor_samples, floor_peak, _ = repeat_process([sys.executable, "-c", "import dbt.cli.main"], env, bench.repetitions)
    return Figures(samples, floor_samples, peak, {"command": "dbt build (one model: select 1)",
                                                  "floor_peak_rss_bytes": floor_peak})


def measure_membership_query(bench: Bench) -> Figures:
    """The seed's membership query on the rebuilt registry (an open read-only connection):
    the runs of one RunSet, by name, joined to registry.runs. Floor: the same rows of
    registry.runs fetched by their ids, given (no membership, no names)."""
    if not bench.db_file.exists():
        rebuild_once(bench)
    query = """SELECT * FROM registry.runs
               WHERE run_id IN (SELECT run_id FROM registry.runset_membership
                                WHERE runset_id = (SELECT runset_id FROM registry.runset_names WHERE name = $name))"""
    with duckdb.connect(str(bench.db_file), read_only=True) as con:
        rows = con.execute(query, {"name": generate.MEASURED_RUNSET}).fetchall()
        ids = [row[0] for row in rows]
        repetitions = max(bench.repetitions, 20)
        seconds = repeat(lambda: con.execute(query, {"name": generate.MEASURED_RUNSET}).fetchall(), repetitions)
        floor = repeat(lambda: con.execute("SELECT * FROM registry.runs WHERE run_id IN (SELECT unnest($ids))",
                                           {"ids": ids}).fetchall(), repetitions)
        # Where the time goes: the query alone (rows counted, none fetched), and the rows fetched
        # as Arrow (what a DataFrame user gets) instead of Python tuples.
        query_only = repeat(lambda: con.execute(f"SELECT count(*) FROM ({query})",
                                                {"name": generate.MEASURED_RUNSET}).fetchall(), repetitions)
        as_arrow = repeat(lambda: con.sql(query, params={"name": generate.MEASURED_RUNSET}).to_arrow_table(),
                          repetitions)
        (registry_runs,) = con.execute("SELECT count(*) FROM registry.runs").fetchall()[0]
    return Figures(seconds, floor, details={
        "members": len(ids), "registry_runs": registry_runs,
        "query_only_median_s": statistics.median(query_only), "fetched_as_arrow_median_s": statistics.median(as_arrow),
    })


# ---------------------------------------------------------------- a lake of single-run registrations


def fragmented_lakes(bench: Bench) -> tuple[Path, Path]:
    """Two lakes of the same first min(runs, 10,000) runs and the measured RunSet: one written
    one run per call (the file layout of that many `quantbot run register` calls), one written
    in batches. Cached next to the pristine lake.

    register_runs checks each new run against the files of its engine and month folders, which
    grow with the lake: 10,000 single-run calls would take an estimated ten minutes or more
    (0.05-0.07 s each at 10k runs: single_register; not measured end to end). The default writer ("append") builds the
    same records with records.run_records and appends each run exactly as register_runs groups
    a one-run batch (artifacts per kind and month, then the run in its engine and month folder),
    without that check. --fragmented-writer register_runs uses the real call."""
    runs = min(bench.runs, FRAGMENTED_RUNS)
    folder = Path(bench.pristine).parent / f"fragmented-{runs}-{bench.fragmented_writer}"
    with lake.exclusive_lock(folder.parent / f".{folder.name}.lock"):  # one writer at a time
        if not (folder / "done").exists():
            write_fragmented_lakes(bench, folder, runs)
    return folder / "single", folder / "batched"


def write_fragmented_lakes(bench: Bench, folder: Path, runs: int) -> None:
    single, batched = folder / "single", folder / "batched"
    shutil.rmtree(folder, ignore_errors=True)
    pool = bench.pool_paths()
    for lake_root in (single, batched):
        generate.register_datasets(lake_root)
        create_runset(lake_root, generate.MEASURED_RUNSET, runset_spec(**generate.MEASURED_SPEC))
    started = time.perf_counter()
    for number in range(runs):
        (run_input,) = generate.run_inputs(number, 1, pool, bench.seed)
        if bench.fragmented_writer == "register_runs":
            records.register_runs(single, [run_input])
        else:
            append_like_register_runs(single, run_input)
        if number % 1000 == 999:
            progress(f"  single-run lake: {number + 1}/{runs} runs ({time.perf_counter() - started:.0f} s)")
    single_seconds = time.perf_counter() - started
    for first in range(0, runs, bench.batch_size):
        records.register_runs(batched, generate.run_inputs(first, min(bench.batch_size, runs - first), pool, bench.seed))
    (folder / "done").write_text(json.dumps({"single_run_writes_seconds": single_seconds}))


def append_like_register_runs(lake_root: Path, run_input: records.RunInput) -> None:
    """What register_runs writes for a batch of one new run (records.run_batches), without its check."""
    record, artifacts = records.run_records(run_input)
    artifacts_by_run = {record["run_id"]: {artifact["artifact_id"]: artifact for artifact in artifacts}}
    with lake.write_lock(lake_root):
        lake.append(lake_root, records.run_batches([record], artifacts_by_run, lake.utc_now()))


def measure_fragmented_resolve(bench: Bench) -> Figures:
    """resolve --force (in-process) on the single-run lake; floor: the same on the batched lake
    of the same runs. Both are copies (a resolve appends a resolution)."""
    single, batched = fragmented_lakes(bench)
    copies = Path(bench.run_dir) / "fragmented"
    shutil.rmtree(copies, ignore_errors=True)
    single_copy, batched_copy = copies / "single", copies / "batched"
    shutil.copytree(single, single_copy), shutil.copytree(batched, batched_copy)
    files_before = len(lake.files(single_copy, lake.RUNS)) + len(lake.files(single_copy, lake.ARTIFACTS))
    started = time.perf_counter()
    compaction.compact(single_copy)
    compaction_seconds = time.perf_counter() - started
    seconds, _, single_details = resolve_against_floor(single_copy, bench.repetitions)
    floor_seconds, _, batched_details = resolve_against_floor(batched_copy, bench.repetitions)
    if single_details["members"] != batched_details["members"]:
        raise RuntimeError("the single-run and batched lakes resolve to different members")
    # What one more single-run registration costs in that lake (why 10,000 real ones take hours).
    (run_input,) = generate.run_inputs(FRAGMENTED_RUNS + 10**6, 1, bench.pool_paths(), bench.seed)
    started = time.perf_counter()
    records.register_runs(single_copy, [run_input])
    register_seconds = time.perf_counter() - started
    shutil.rmtree(copies)
    return Figures(seconds, floor_seconds, details={
        "runs": min(bench.runs, FRAGMENTED_RUNS), "writer": bench.fragmented_writer,
        "single_run_lake": single_details, "batched_lake": batched_details,
        "compaction_s": compaction_seconds, "run_and_artifact_files_before_compaction": files_before,
        "register_one_more_run_into_single_run_lake_s": register_seconds,
        "single_run_writes_s": json.loads((Path(single).parent / "done").read_text())["single_run_writes_seconds"],
    })


def measure_fragmented_rebuild(bench: Bench) -> Figures:
    """`quantbot registry rebuild --full-refresh` of the single-run lake as written, before any
    compaction (one file per run and per artifact kind: ~49,000 files at 10,000 runs); floor: the
    same rebuild of the batched lake of the same runs. What someone who registers run by run and
    never compacts waits for: every model or contract that reads the lake opens every file, so
    this row shows when staging reads the files more than once (as views, 190 s against 40 s)."""
    single, batched = fragmented_lakes(bench)
    copies = Path(bench.run_dir) / "fragmented-rebuild"
    shutil.rmtree(copies, ignore_errors=True)
    samples: dict[str, tuple[list[float], int, str]] = {}
    for name, lake_root in (("single", single), ("batched", batched)):
        copy = copies / name  # a rebuild takes the lake's read lock, which writes a lock file
        shutil.copytree(lake_root, copy)
        command = rebuild_command(copy, copies / f"{name}.duckdb", "--full-refresh")
        samples[name] = repeat_process(command, bench.environment(f"fragmented-{name}"), bench.repetitions)
    files = len(lake.files(copies / "single", lake.RUNS)) + len(lake.files(copies / "single", lake.ARTIFACTS))
    shutil.rmtree(copies)
    (seconds, peak, stdout), (floor_seconds, floor_peak, _) = samples["single"], samples["batched"]
    return Figures(seconds, floor_seconds, peak, details={
        "runs": min(bench.runs, FRAGMENTED_RUNS), "run_and_artifact_files": files,
        "row_counts": json.loads(stdout)["row_counts"], "floor_peak_rss_bytes": floor_peak,
    })


def measure_single_register(bench: Bench) -> Figures:
    """One more run (and its artifacts) through records.register_runs, in-process, into this
    lake: what each `quantbot run register` pays on top of process start. Floor: a plain
    pyarrow write of the same rows (one run file, one artifact file)."""
    pool = bench.pool_paths()
    first = bench.runs + appended_so_far(bench)
    seconds, floor_seconds = [], []
    folder = Path(bench.run_dir) / "floor-single"
    folder.mkdir(parents=True, exist_ok=True)
    for repetition in range(bench.repetitions + 1):  # the first is a warm-up
        (run_input,) = generate.run_inputs(first + repetition, 1, pool, bench.seed)
        started = time.perf_counter()
        records.register_runs(bench.lake_root, [run_input])
        elapsed = time.perf_counter() - started
        record, artifacts = records.run_records(run_input)
        rows = {lake.RUNS: [{**record, "registered_at": lake.utc_now()}],
                lake.ARTIFACTS: [{**artifact, "registered_at": lake.utc_now()} for artifact in artifacts]}
        started = time.perf_counter()
        for table, table_rows in rows.items():
            pq.write_table(pa.Table.from_pylist(table_rows, schema=table.schema), folder / f"{table.name}.parquet",
                           compression="zstd")
        floor_elapsed = time.perf_counter() - started
        if repetition:
            seconds.append(elapsed)
            floor_seconds.append(floor_elapsed)
    shutil.rmtree(folder)
    return Figures(seconds, floor_seconds, details={"run_files": len(lake.files(bench.lake_root, lake.RUNS))})


# ---------------------------------------------------------------- the registry of measurements


# In the order they run: reads first, then the measurements that append runs to the lake copy.
MEASUREMENTS = (
    Measurement("bulk_register", "bulk register (runs + artifacts), all batches",
                "plain pyarrow write_table of the same rows, one file per table per batch",
                1.0, 60.0, measure_bulk_register),
    Measurement("resolve_fresh", "resolve ~1% RunSet, fresh (--force), in-process",
                "raw DuckDB scan of every run and artifact file selecting the same members",
                0.1, 0.3, measure_resolve_fresh),
    Measurement("cli_runset_get", "`quantbot runset get NAME`, whole process",
                "python -c 'import duckdb' + raw scan of the RunSet files it reads",
                0.5, 0.7, measure_cli_runset_get),
    Measurement("cli_resolve_cached", "`quantbot runset resolve NAME` (cached), whole process",
                "python -c 'import duckdb' + raw scan of the RunSet files it reads",
                0.5, 0.7, measure_cli_resolve_cached),
    Measurement("rebuild_full", "`quantbot registry rebuild --full-refresh`",
                "the same rebuild (process, dbt build) on an empty lake",
                5.0, 30.0, measure_rebuild_full, rss_target_1m=2 * GIB),
    Measurement("port_rebuild_full", "full rebuild through a running `quantbot port`",
                "the same (a running port) on an empty lake",
                5.0, 30.0, measure_port_rebuild_full, rss_target_1m=2 * GIB,
                status="the port's process: dbt started by an earlier rebuild in it, as for the seed's client"),
    Measurement("dbt_floor", "`dbt build` of a one-model project, whole process",
                "a process that only imports dbt", None, None, measure_dbt_floor,
                status="context: no target; what any rebuild costs before it builds anything"),
    Measurement("membership_query", "membership query (runs of one RunSet joined to registry.runs)",
                "the same registry.runs rows fetched by their ids",
                0.010, 0.010, measure_membership_query),
    Measurement("single_register", "register one more run (in-process) into this lake",
                "plain pyarrow write_table of the same rows", None, None, measure_single_register,
                status="context: no target in the issue"),
    Measurement("rebuild_after_append", "rebuild after appending 1,000 runs",
                "the same rebuild (process, dbt build) on an empty lake",
                5.0, 10.0, measure_rebuild_after_append),
    Measurement("port_rebuild_after_append", "rebuild after appending 1,000 runs, through a running `quantbot port`",
                "the same (a running port) on an empty lake",
                5.0, 10.0, measure_port_rebuild_after_append,
                status="the port's process: dbt started by an earlier rebuild in it, as for the seed's client"),
    Measurement("rebuild_after_compaction", "rebuild after appending 1,000 runs, rebuilding, and compacting",
                "the same rebuild before the compaction (nothing new)",
                None, None, measure_rebuild_after_compaction,
                status="context: no target in the issue; before 15949d5 this rebuild was a full one"),
    Measurement("fragmented_resolve", "resolve, lake of 10,000 single-run registrations, compacted",
                "the same resolve on the same runs written in batches",
                None, None, measure_fragmented_resolve, ratio_target=2.0),
    Measurement("fragmented_rebuild", "full rebuild, lake of 10,000 single-run registrations, not compacted",
                "the same rebuild of the same runs written in batches",
                None, None, measure_fragmented_rebuild, status="context: no target in the issue"),
)
BY_NAME = {measurement.name: measurement for measurement in MEASUREMENTS}


# ---------------------------------------------------------------- the lake, generated once


# The modules whose code decides what the generator writes (it calls records, resolver and
# compaction): a change to one of them regenerates the cached lakes; the CLI, the registry's
# rebuild or the lab do not.
WRITER_MODULES = ("ids.py", "lake.py", "records.py", "resolver.py", "compaction.py", "project.py")


def source_digest() -> str:
    """The generator and the library it writes through: a change to either regenerates."""
    digest = hashlib.sha256()
    library = project_dir() / "quantbot_dbt"
    for path in sorted([BENCHMARKS_DIR / "generate.py", *(library / name for name in WRITER_MODULES)]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def prepare(args: argparse.Namespace) -> Bench:
    workdir = args.workdir.absolute()
    key = hashlib.sha256(canonical_json({
        "runs": args.runs, "seed": args.seed, "batch_size": args.batch_size, "runsets": args.runsets,
        "resolutions": args.resolutions, "source": source_digest(),
    }).encode()).hexdigest()[:12]
    cached = workdir / "lakes" / f"{size_label(args.runs)}-{key}"
    run_dir = workdir / f"run-{os.getpid()}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    bench = Bench(
        runs=args.runs, repetitions=args.repetitions, register_repetitions=args.register_repetitions,
        batch_size=args.batch_size, runsets=args.runsets, resolutions=args.resolutions, seed=args.seed,
        workdir=str(workdir), run_dir=str(run_dir), pristine=str(cached / "lake"), lake=str(run_dir / "lake"),
        pool=str(workdir / "pool"), fragmented_writer=args.fragmented_writer,
    )
    summary_file = cached / "generated.json"
    cached.parent.mkdir(parents=True, exist_ok=True)
    with lake.exclusive_lock(cached.parent / f".{cached.name}.lock"):  # one generation per key at a time
        if not summary_file.exists():
            shutil.rmtree(cached, ignore_errors=True)
            cached.mkdir(parents=True)
            progress(f"generating {args.runs} runs into {cached} (cached for later invocations)")
            figures, peak = in_worker("generate", bench)
            summary_file.write_text(json.dumps({**figures.details, "peak_rss_bytes": peak}, sort_keys=True))
    bench.generated = json.loads(summary_file.read_text())
    shutil.copytree(bench.pristine, bench.lake)
    return bench


def generate_in_worker(bench: Bench) -> Figures:
    generated = generate.generate(Path(bench.pristine), bench.runs, seed=bench.seed, batch_size=bench.batch_size,
                                  runsets=bench.runsets, resolutions=bench.resolutions, pool_dir=Path(bench.pool),
                                  progress=lambda message: progress(f"  {message}"))
    return Figures([], [], details=asdict(generated))


WORKER_FUNCTIONS = {"generate": generate_in_worker, **{m.name: m.measure for m in MEASUREMENTS}}


def in_worker(name: str, bench: Bench) -> tuple[Figures, int]:
    """Run one measurement in a fresh process; its figures, and the peak RSS that belongs to it."""
    context = Path(bench.run_dir) / f"context-{name}.json"
    context.write_text(json.dumps(asdict(bench)))
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([sys.executable, __file__, "--worker", name, "--context", str(context)], stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    context.unlink()
    if child.returncode != 0:
        raise RuntimeError(f"measurement {name} failed (exit {child.returncode}); see the traceback above")
    figures = Figures(**json.loads(output.strip().splitlines()[-1]))
    return figures, figures.peak_rss_bytes if figures.peak_rss_bytes is not None else usage.ru_maxrss * 1024


def worker_main(name: str, context: Path) -> None:
    bench = Bench(**json.loads(context.read_text()))
    figures = WORKER_FUNCTIONS[name](bench)
    print(json.dumps(asdict(figures), default=str))


# ---------------------------------------------------------------- results


def trimmed(generated: dict[str, Any]) -> dict[str, Any]:
    """The generation summary without its per-RunSet hash lists (a digest of them instead)."""
    hashes = canonical_json(generated.get("resolution_hashes", {}))
    return {**{key: value for key, value in generated.items() if key not in ("resolution_hashes", "resolution_ids")},
            "resolution_hashes_sha256": hashlib.sha256(hashes.encode()).hexdigest()}


def size_label(runs: int) -> str:
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if runs >= unit and runs % unit == 0:
            return f"{runs // unit}{suffix}"
    return str(runs)


def summary(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"median_s": None, "min_s": None, "max_s": None}
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}


def target_for(measurement: Measurement, runs: int) -> tuple[float | None, str]:
    """The issue gives targets at 10k and 1M runs: at or below 10k the 10k one, above it the
    1M one (in between, a lenient bound: missing it at 100k means missing it at 1M)."""
    if runs <= 10_000:
        return measurement.target_10k, "10k"
    return measurement.target_1m, "1M"


def row(measurement: Measurement, figures: Figures, peak_rss: int, runs: int) -> dict[str, Any]:
    figure, floor = summary(figures.seconds), summary(figures.floor_seconds)
    ratio = figure["median_s"] / floor["median_s"] if figure["median_s"] and floor["median_s"] else None
    target, target_size = target_for(measurement, runs)
    met = None
    if measurement.ratio_target is not None:
        met, target_text = ratio is not None and ratio <= measurement.ratio_target, f"ratio <= {measurement.ratio_target:g}"
    elif target is not None:
        met = figure["median_s"] < target
        target_text = f"< {seconds_text(target)} ({target_size})"
        if measurement.rss_target_1m is not None and target_size == "1M":
            met = met and peak_rss < measurement.rss_target_1m
            target_text += f", RSS < {measurement.rss_target_1m / GIB:g} GiB"
    else:
        target_text = "-"
    return {
        "name": measurement.name, "operation": measurement.operation, "status": measurement.status,
        **figure, "samples_s": figures.seconds,
        "floor": {"what": measurement.floor, **floor, "samples_s": figures.floor_seconds},
        "ratio": ratio, "target": target_text, "met": met, "peak_rss_bytes": peak_rss, "details": figures.details,
    }


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table_text(rows: list[dict[str, Any]]) -> str:
    """A Markdown table; a row whose feature is not there yet gets a numbered note below it."""
    header = ["operation", "median", "min", "max", "floor", "ratio", "target", "met?", "peak RSS"]
    notes: list[str] = []
    lines = []
    for item in rows:
        operation = item["operation"]
        if item["status"]:
            if item["status"] not in notes:
                notes.append(item["status"])
            operation += f" [{notes.index(item['status']) + 1}]"
        lines.append([
            operation, seconds_text(item["median_s"]), seconds_text(item["min_s"]), seconds_text(item["max_s"]),
            seconds_text(item["floor"]["median_s"]), f"{item['ratio']:.1f}x" if item["ratio"] else "-",
            item["target"], {True: "yes", False: "NO", None: "-"}[item["met"]],
            f"{item['peak_rss_bytes'] / (1 << 20):.0f} MiB",
        ])
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)) + " |"

    table = [render(header), render(["-" * width for width in widths]), *map(render, lines)]
    return "\n".join(table + [f"[{number}] {note}" for number, note in enumerate(notes, start=1)])


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), None)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    ram_kib = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), None)
    from importlib.metadata import version

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=project_dir()).stdout.strip()

    return {
        "cpu_count": os.cpu_count(), "cpu_model": model, "ram_bytes": ram_kib * 1024 if ram_kib else None,
        "platform": platform.platform(), "python": platform.python_version(),
        "duckdb": duckdb.__version__, "pyarrow": pa.__version__,
        "dbt_core": version("dbt-core"), "dbt_duckdb": version("dbt-duckdb"),
        # Dirty: a change to the code measured. Results files written by an earlier size do not count.
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")),
        "load_average_at_start": os.getloadavg(),
    }


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--register-repetitions", type=int, default=3,
                        help="bulk registrations of every run into scratch lakes (slow at 1M)")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--runsets", type=int, default=100)
    parser.add_argument("--resolutions", type=int, default=10, help="resolutions per RunSet, while the lake grows")
    parser.add_argument("--seed", type=int, default=generate.SEED)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "quantbot-bench",
                        help="generated lakes (kept between invocations) and scratch files")
    parser.add_argument("--only", help="comma-separated measurement names: " + ", ".join(BY_NAME))
    parser.add_argument("--fragmented-writer", choices=("append", "register_runs"), default="append")
    parser.add_argument("--output", type=Path, help="results file (default benchmarks/results/<size>.json)")
    parser.add_argument("--generate-only", action="store_true",
                        help="generate (and cache) the lake of this size, measure nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--context", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.context)
    names = args.only.split(",") if args.only else list(BY_NAME)
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(unknown)}: expected {', '.join(BY_NAME)}")

    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    info = machine()
    bench = prepare(args)
    if args.generate_only:
        shutil.rmtree(bench.run_dir, ignore_errors=True)
        progress(f"lake of {args.runs} runs ready: {bench.pristine}")
        return
    rows = []
    try:
        for name in names:
            progress(f"measuring {name}")
            measurement_started = time.perf_counter()
            figures, peak = in_worker(name, bench)
            rows.append(row(BY_NAME[name], figures, peak, args.runs))
            progress(f"  {seconds_text(rows[-1]['median_s'])} (floor {seconds_text(rows[-1]['floor']['median_s'])}), "
                     f"{time.perf_counter() - measurement_started:.0f} s")
    finally:
        shutil.rmtree(bench.run_dir, ignore_errors=True)  # the lake copy, scratch lakes, the registry
    info["load_average_at_end"] = os.getloadavg()
    document = {
        "runs": args.runs, "started_at": started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": time.perf_counter() - started,
        "command": "benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "parameters": {"repetitions": args.repetitions, "register_repetitions": args.register_repetitions,
                       "batch_size": args.batch_size, "runsets": args.runsets, "resolutions": args.resolutions,
                       "seed": args.seed, "fragmented_writer": args.fragmented_writer},
        "generated": trimmed(bench.generated), "machine": info, "measurements": rows,
    }
    output = args.output or RESULTS_DIR / f"{size_label(args.runs)}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    print(f"{args.runs} runs ({bench.generated.get('artifacts')} artifacts, "
          f"{bench.generated.get('resolutions')} resolutions); {info['cpu_count']} x {info['cpu_model']}; "
          f"load {info['load_average_at_start'][0]:.1f} -> {info['load_average_at_end'][0]:.1f}")
    print(table_text(rows))
    print(f"results: {output}")


if __name__ == "__main__":
    main()
