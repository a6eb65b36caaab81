"""A deterministic synthetic lake of N runs, written through the project's own writers.

    .venv/bin/python benchmarks/generate.py --runs 10000 --lake /tmp/bench-lake [--json]

Shapes (every choice comes from a seeded `random.Random` and fixed dates):

- 7 datasets: OHLCV per quarter of 2025, one candles dataset, two alerts datasets.
- Each run: 1-3 callers out of 48 (a few callers are far more popular than the rest), one of 5
  engine versions, one of 30 strategy hashes in 5 families, a window of 1, 7, 14 or 30 days
  starting on any day of 2025, the OHLCV quarter(s) its window touches plus an alerts dataset
  (and sometimes candles), params and metrics, ~3% failed.
- ~5 artifacts per run: completed runs have trades, metrics, a curve and 1-3 diagnostics;
  failed runs a diagnostics file and sometimes partial trades.
- Compacted at the end (`quantbot registry compact`), as a lake is kept after a bulk load:
  the measured lake has one file per partition folder (`--no-compact` keeps the batch files).
- ~100 RunSets of six kinds, all with distinct specs (a caller over a quarter, two callers
  overlapping, a strategy family on one engine, a strategy hash over half a year, the failures
  of a family on one engine, candles over a month on one engine), each resolved ~10 times
  while the lake grows, every tenth one frozen at the end.
  RunSet 0, `bench_1pct`, selects ~1% of the runs: the benchmark resolves that one.

Artifacts: the writer hashes every artifact file (records.artifact_record), so each needs a real
local file, but 5 files per run is 5M files at 1M runs. The artifacts point into a fixed pool of
POOL_SIZE small, distinct, realistic Parquet files per kind (<lake>/outputs/pool/ unless told).
The writer reads a file once per call however many artifacts name it, so with the pool a batch
hashes ~160 files: what one distinct file costs is measured apart (benchmarks/run.py,
`bulk_register` details). An artifact id hashes the run id with the content hash, so ids stay
unique; two runs pointing at the same file is legal (a registry only points).

Deterministic: each run is drawn from its own `random.Random(f"{seed}:run:{number}")`, so run N
is the same whatever the batch size or the number of runs, and any range of runs can be made
again (the benchmark appends runs N, N+1, ...). Run ids, artifact ids, RunSet ids, resolution
hashes and resolution ids repeat exactly; only registration times and part-file names differ.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from quantbot_dbt import lake
from quantbot_dbt.compaction import compact as compact_lake
from quantbot_dbt.records import RunInput, dataset_record, register_dataset, register_runs
from quantbot_dbt.resolver import change_state, create_runset, resolve, runset_spec

SEED = 20250101
YEAR_START, YEAR_END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
H2_START = dt.date(2025, 7, 1)
POOL_SIZE = 40  # distinct files per artifact kind
FAILED_SHARE = 0.03

DATASETS = (
    *(
        dict(dataset_id=f"ohlcv_v2_2025Q{quarter}", kind="ohlcv",
             window_from=dt.date(2025, 3 * quarter - 2, 1).isoformat(), window_to=quarter_end.isoformat(),
             schema_version="2", source="binance-spot", meta={"interval": "1m", "timezone": "UTC"})
        for quarter, quarter_end in enumerate(
            (dt.date(2025, 3, 31), dt.date(2025, 6, 30), dt.date(2025, 9, 30), dt.date(2025, 12, 31)), start=1)
    ),
    dict(dataset_id="candles_binance_2025", kind="candles", window_from="2025-01-01", window_to="2025-12-31",
         schema_version="1", source="binance-spot", meta={"interval": "1s"}),
    dict(dataset_id="alerts_v1_2025", kind="alerts", window_from="2025-01-01", window_to="2025-12-31",
         schema_version="1", source="caller-feed", meta={"dedup": "per_caller_symbol_1h"}),
    dict(dataset_id="alerts_v2_2025H2", kind="alerts", window_from="2025-07-01", window_to="2025-12-31",
         schema_version="2", source="caller-feed", meta={"dedup": "per_caller_symbol_15m"}),
)
CALLERS = tuple(f"caller_{number:02d}" for number in range(48))
CALLER_WEIGHTS = tuple(1 / (rank + 1) ** 0.7 for rank in range(len(CALLERS)))  # a few popular callers
ENGINES = ("1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0")
ENGINE_WEIGHTS = (0.10, 0.20, 0.30, 0.25, 0.15)
FAMILIES = ("momentum", "meanrev", "breakout", "carry", "pairs")
STRATEGIES = tuple(
    (f"{family}_{hashlib.sha256(f'{family}:{version}'.encode()).hexdigest()[:10]}", family)
    for family in FAMILIES for version in range(6)
)
WINDOW_DAYS, WINDOW_WEIGHTS = (1, 7, 14, 30), (0.15, 0.35, 0.30, 0.20)
SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "AVAX-USD", "DOGE-USD")

MEASURED_RUNSET = "bench_1pct"
MEASURED_SPEC = dict(datasets=["alerts_v1_2025"], callers=["caller_07"], window_from="2025-01-01",
                     window_to="2025-06-30")


# ---------------------------------------------------------------- the artifact pool


def pool_tables(kind: str, number: int) -> pa.Table:
    """The content of pool file `number` of `kind`: small, distinct, shaped like a backtest's output."""
    rng = random.Random(f"pool:{kind}:{number}")
    start = dt.datetime(2025, 1, 1) + dt.timedelta(days=rng.randrange(365))
    if kind == "trades":
        count = rng.randint(10, 300)
        stamps = sorted(start + dt.timedelta(seconds=rng.randrange(30 * 86400)) for _ in range(count))
        entries = [round(rng.uniform(1, 60_000), 2) for _ in range(count)]
        return pa.table({
            "trade_id": pa.array(range(1, count + 1), pa.int64()),
            "ts": pa.array(stamps, pa.timestamp("us")),
            "symbol": [rng.choice(SYMBOLS) for _ in range(count)],
            "side": [rng.choice(("buy", "sell")) for _ in range(count)],
            "entry_price": entries,
            "exit_price": [round(price * (1 + rng.gauss(0.001, 0.02)), 2) for price in entries],
            "qty": [round(rng.uniform(0.01, 10), 6) for _ in range(count)],
        })
    if kind == "metrics":
        names = ("pnl", "win_rate", "trades", "max_drawdown", "sharpe", "sortino")
        return pa.table({"metric": list(names), "value": [round(rng.gauss(0, 10), 4) for _ in names]})
    if kind == "curve":
        days = rng.randint(30, 365)
        equity, values = 10_000.0, []
        for _ in range(days):
            equity *= 1 + rng.gauss(0.0005, 0.01)
            values.append(round(equity, 2))
        return pa.table({"day": pa.array([start.date() + dt.timedelta(days=d) for d in range(days)], pa.date32()),
                         "equity": values})
    count = rng.randint(5, 40)  # diagnostics: an engine log
    return pa.table({
        "ts": pa.array(sorted(start + dt.timedelta(seconds=rng.randrange(86400)) for _ in range(count)), pa.timestamp("us")),
        "level": [rng.choice(("INFO", "INFO", "INFO", "WARN", "ERROR")) for _ in range(count)],
        "message": [f"step {step}: fill ratio {rng.random():.3f}" for step in range(count)],
    })


def write_artifact_pool(pool_dir: Path) -> dict[str, list[str]]:
    """POOL_SIZE distinct Parquet files per artifact kind; same bytes every time (fixed
    compression, no pandas metadata). Returns their absolute paths by kind."""
    pool: dict[str, list[str]] = {}
    for kind in ("trades", "metrics", "curve", "diagnostics"):
        folder = Path(pool_dir).absolute() / kind
        folder.mkdir(parents=True, exist_ok=True)
        pool[kind] = []
        for number in range(POOL_SIZE):
            path = folder / f"{kind}-{number:03d}.parquet"
            if not path.exists():  # written aside and renamed: a concurrent reader never sees half a file
                temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                pq.write_table(pool_tables(kind, number), temp, compression="zstd")
                os.replace(temp, path)
            pool[kind].append(str(path))
    return pool


# ---------------------------------------------------------------- runs


def quarter_of(day: dt.date) -> int:
    return (day.month - 1) // 3 + 1


def run_fields(number: int, pool: dict[str, list[str]], seed: int = SEED) -> dict[str, Any]:
    """Run `number` as `quantbot run register --file` takes it; from its own seeded stream."""
    rng = random.Random(f"{seed}:run:{number}")
    first = YEAR_START + dt.timedelta(days=rng.randrange(365))
    last = min(first + dt.timedelta(days=rng.choices(WINDOW_DAYS, WINDOW_WEIGHTS)[0] - 1), YEAR_END)
    datasets = [f"ohlcv_v2_2025Q{quarter}" for quarter in range(quarter_of(first), quarter_of(last) + 1)]
    datasets.append("alerts_v2_2025H2" if first >= H2_START and rng.random() < 0.6 else "alerts_v1_2025")
    if rng.random() < 0.1:
        datasets.append("candles_binance_2025")
    caller_count = rng.choices((1, 2, 3), (0.80, 0.15, 0.05))[0]
    callers: set[str] = set()
    while len(callers) < caller_count:
        callers.add(rng.choices(CALLERS, CALLER_WEIGHTS)[0])
    strategy_hash, family = rng.choice(STRATEGIES)
    failed = rng.random() < FAILED_SHARE
    if failed:
        kinds = ["diagnostics"] + (["trades"] if rng.random() < 0.5 else [])
        metrics = {"trades": float(rng.randint(0, 20))}
    else:
        kinds = ["trades", "metrics", "curve"] + ["diagnostics"] * rng.choices((1, 2, 3), (0.25, 0.5, 0.25))[0]
        metrics = {"pnl": round(rng.gauss(50, 400), 2), "win_rate": round(rng.uniform(0.3, 0.7), 4),
                   "trades": float(rng.randint(10, 300)), "max_drawdown": round(rng.uniform(0, 900), 2),
                   "sharpe": round(rng.gauss(0.8, 1.0), 3)}
    artifacts = []
    for kind in dict.fromkeys(kinds):  # several diagnostics of one run are distinct files
        for index in rng.sample(range(POOL_SIZE), kinds.count(kind)):
            artifacts.append({"kind": kind, "uri": pool[kind][index]})
    return {
        "dataset_ids": datasets,
        "strategy_hash": strategy_hash,
        "engine_version": rng.choices(ENGINES, ENGINE_WEIGHTS)[0],
        "seed": 1_000_000 + number,  # unique per run: no two generated runs share an id
        "callers": sorted(callers),
        "window_from": first.isoformat(),
        "window_to": last.isoformat(),
        "status": "failed" if failed else "completed",
        "strategy_family": family,
        "params": {"lookback": str(rng.choice((10, 20, 48, 55, 100))), "stop_loss": f"{rng.choice((1, 2, 3)) / 100}",
                   "symbols": ",".join(sorted(rng.sample(SYMBOLS, rng.randint(1, 3))))},
        "metrics": metrics,
        "artifacts": artifacts,
    }


def run_inputs(first: int, count: int, pool: dict[str, list[str]], seed: int = SEED) -> list[RunInput]:
    return [RunInput(run_fields(number, pool, seed), f"run {number}") for number in range(first, first + count)]


# ---------------------------------------------------------------- RunSets


def quarter_window(quarter: int) -> tuple[str, str]:
    return next((d["window_from"], d["window_to"]) for d in DATASETS if d["dataset_id"] == f"ohlcv_v2_2025Q{quarter}")


def month_window(month: int) -> tuple[str, str]:
    last = (dt.date(2025, month + 1, 1) if month < 12 else dt.date(2026, 1, 1)) - dt.timedelta(days=1)
    return f"2025-{month:02d}-01", last.isoformat()


def runset_choices(kind: int) -> list[tuple[str, dict[str, Any]]]:
    """Every (name, runset_spec arguments) of one kind of RunSet; all specs distinct."""
    if kind == 0:  # one caller over a quarter
        return [(f"{caller}_2025Q{quarter}",
                 dict(datasets=[f"ohlcv_v2_2025Q{quarter}"], callers=[caller], window_from=quarter_window(quarter)[0],
                      window_to=quarter_window(quarter)[1]))
                for caller in CALLERS for quarter in range(1, 5)]
    if kind == 1:  # two less popular callers, any overlap, no window
        return [(f"{first}_{second}_overlap", dict(datasets=["alerts_v1_2025"], callers=[first, second], match="overlap"))
                for index, first in enumerate(CALLERS[10:], start=10) for second in CALLERS[index + 1:]]
    if kind == 2:  # a strategy family on one engine, any status
        return [(f"{family}_engine_{engine}", dict(datasets=["alerts_v1_2025"], strategy_family=family,
                                                   engine_versions=[engine], status="any"))
                for family in FAMILIES for engine in ENGINES]
    if kind == 3:  # one strategy over half a year
        return [(f"{strategy_hash}_2025H{half}", dict(datasets=["alerts_v1_2025"], strategy_hashes=[strategy_hash],
                                                      window_from=first, window_to=last))
                for strategy_hash, _ in STRATEGIES
                for half, (first, last) in ((1, ("2025-01-01", "2025-06-30")), (2, ("2025-07-01", "2025-12-31")))]
    if kind == 4:  # the failures of one strategy family on one engine
        return [(f"failures_{family}_engine_{engine}", dict(datasets=["alerts_v1_2025"], strategy_family=family,
                                                            engine_versions=[engine], status="failed"))
                for family in FAMILIES for engine in ENGINES]
    return [(f"candles_2025_{month:02d}_engine_{engine}",  # candles over one month, on one engine
             dict(datasets=["candles_binance_2025"], engine_versions=[engine], window_from=month_window(month)[0],
                  window_to=month_window(month)[1]))
            for month in range(1, 13) for engine in ENGINES]


RUNSET_KINDS = 6


def runset_plan(count: int, seed: int = SEED) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(name, runset_spec arguments, tags) of each RunSet; the first is the measured one.
    RunSet n is of kind n % 6; the choices of each kind are shuffled once and taken in order,
    so no two RunSets share a spec (up to 25 of each kind)."""
    choices = []
    for kind in range(RUNSET_KINDS):
        options = runset_choices(kind)
        random.Random(f"{seed}:runsets:{kind}").shuffle(options)
        choices.append(options)
    plan = [(MEASURED_RUNSET, dict(MEASURED_SPEC), ["benchmark"])]
    for number in range(1, count):
        kind = number % RUNSET_KINDS
        options = choices[kind]
        name, args = options[(number // RUNSET_KINDS) % len(options)]
        label = random.Random(f"{seed}:runset:{number}").choice(("baseline", "sweep", "review"))
        plan.append((f"rs{number:03d}_{name}", args, [f"kind{kind}", label]))
    return plan


# ---------------------------------------------------------------- the lake


@dataclass
class Generated:
    """What generate() wrote, and how long the bulk writer took for each batch."""

    lake: str
    runs: int = 0
    failed_runs: int = 0
    artifacts: int = 0
    datasets: int = 0
    runsets: int = 0
    resolutions: int = 0
    frozen_runsets: int = 0
    batch_size: int = 0
    batch_seconds: list[float] = field(default_factory=list)  # register_runs, per batch
    register_seconds: float = 0.0  # sum of batch_seconds
    resolve_seconds: float = 0.0  # create_runset + resolve(force=True) + freeze, all of them
    compact_seconds: float = 0.0  # compaction.compact at the end (0 with compact=False)
    files_before_compaction: int = 0
    total_seconds: float = 0.0
    run_ids_sha256: str = ""  # sha256 of the sorted run ids, one per line
    resolution_hashes: dict[str, list[str]] = field(default_factory=dict)  # RunSet name -> hash per round
    resolution_ids: dict[str, list[str]] = field(default_factory=dict)
    measured_runset: str = MEASURED_RUNSET
    measured_members: int = 0  # runs in the measured RunSet's last resolution
    files: dict[str, int] = field(default_factory=dict)  # Parquet files per lake table


def register_datasets(lake_root: Path) -> None:
    for spec in DATASETS:
        register_dataset(lake_root, dataset_record(**spec))


def generate(
    lake_root: Path,
    runs: int,
    *,
    seed: int = SEED,
    batch_size: int = 10_000,
    runsets: int = 100,
    resolutions: int = 10,
    pool_dir: Path | None = None,
    compact: bool = True,
    progress: Callable[[str], None] = lambda message: None,
) -> Generated:
    """Write a fresh lake of `runs` runs in batches through records.register_runs.

    The RunSets are created first; resolution round r (of `resolutions`) resolves every RunSet
    with --force once (r+1)/resolutions of the runs are registered, so successive resolutions see
    the lake grow (a batch that crosses several thresholds is followed by several rounds)."""
    lake_root = Path(lake_root).absolute()
    if (lake_root / "registry").exists():
        raise SystemExit(f"{lake_root} already holds a lake; generate into a new folder")
    started = time.perf_counter()
    generated = Generated(lake=str(lake_root), batch_size=batch_size, datasets=len(DATASETS))
    register_datasets(lake_root)
    pool = write_artifact_pool(pool_dir or lake_root / "outputs" / "pool")
    plan = runset_plan(runsets, seed)
    resolve_started = time.perf_counter()
    for name, args, tags in plan:
        create_runset(lake_root, name, runset_spec(**args), tags)
    generated.resolve_seconds += time.perf_counter() - resolve_started
    generated.runsets = len(plan)
    thresholds = [-(-(round_number + 1) * runs // resolutions) for round_number in range(resolutions)]  # ceil
    run_ids: list[str] = []
    for first in range(0, runs, batch_size):
        batch = run_inputs(first, min(batch_size, runs - first), pool, seed)
        batch_started = time.perf_counter()
        registration = register_runs(lake_root, batch)
        generated.batch_seconds.append(time.perf_counter() - batch_started)
        run_ids += registration.written
        generated.runs += len(registration.written)
        generated.artifacts += registration.artifacts_written
        generated.failed_runs += sum(run_input.fields["status"] == "failed" for run_input in batch)
        progress(f"registered {generated.runs}/{runs} runs ({generated.batch_seconds[-1]:.2f} s)")
        while thresholds and thresholds[0] <= generated.runs:
            thresholds.pop(0)
            resolve_started = time.perf_counter()
            for name, _, _ in plan:
                result = resolve(lake_root, name, force=True)
                generated.resolution_hashes.setdefault(name, []).append(result["resolution_hash"])
                generated.resolution_ids.setdefault(name, []).append(result["resolution_id"])
                generated.resolutions += 1
            generated.resolve_seconds += time.perf_counter() - resolve_started
            progress(f"resolution round {resolutions - len(thresholds)}/{resolutions} "
                     f"({time.perf_counter() - resolve_started:.1f} s)")
    resolve_started = time.perf_counter()
    for number, (name, _, _) in enumerate(plan):
        if number % 10 == 9:  # every tenth RunSet frozen at its latest resolution; never the measured one
            change_state(lake_root, name, "freeze")
            generated.frozen_runsets += 1
    generated.resolve_seconds += time.perf_counter() - resolve_started
    generated.register_seconds = sum(generated.batch_seconds)
    if compact:
        compact_started = time.perf_counter()
        compaction = compact_lake(lake_root)
        generated.compact_seconds = time.perf_counter() - compact_started
        generated.files_before_compaction = compaction.files_before
        progress(f"compacted {compaction.files_before} files into {compaction.files_after} "
                 f"({generated.compact_seconds:.1f} s)")
    generated.run_ids_sha256 = hashlib.sha256("\n".join(sorted(run_ids)).encode()).hexdigest()
    if generated.resolution_hashes:
        generated.measured_members = resolve(lake_root, MEASURED_RUNSET)["run_count"]
    generated.files = {name: len(lake.files(lake_root, table)) for name, table in lake.TABLES.items()}
    generated.total_seconds = time.perf_counter() - started
    return generated


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a deterministic synthetic lake.")
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--lake", type=Path, required=True, help="a new folder")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--runsets", type=int, default=100)
    parser.add_argument("--resolutions", type=int, default=10, help="resolutions per RunSet")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--pool", type=Path, help="folder of the artifact files (default <lake>/outputs/pool)")
    parser.add_argument("--no-compact", dest="compact", action="store_false", help="keep the batch files")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    args = parser.parse_args(argv)
    generated = generate(args.lake, args.runs, seed=args.seed, batch_size=args.batch_size, runsets=args.runsets,
                         resolutions=args.resolutions, pool_dir=args.pool, compact=args.compact, progress=lambda message: print(message, file=sys.stderr))
    summary = asdict(generated)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        for key in ("lake", "runs", "failed_runs", "artifacts", "runsets", "resolutions", "frozen_runsets",
                    "register_seconds", "resolve_seconds", "compact_seconds", "total_seconds", "measured_members", "files"):
            print(f"{key}: {summary[key]}")


if __name__ == "__main__":
    main()
