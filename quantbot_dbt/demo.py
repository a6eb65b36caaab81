"""`quantbot demo`: a deterministic sample lake, built through the public write path, and a tour.

build_demo writes three datasets and one batch of 48 runs (4 callers, 2 engine versions,
3 strategies, half-monthly windows over 2025 H2, 5 failed runs) with real Parquet outputs
under <lake>/outputs/<run id prefix>/. Everything derives from fixed tables and each run's
seed through random.Random(seed): two builds, in any folder, give the same run ids and the
same artifact ids. Only registration times (and the lake's part-file names) differ.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .experiments import create as create_experiment
from .ids import InputError, run_id_for, run_identity
from .output import table
from .project import project_dir
from .records import RunInput, dataset_record, register_dataset, register_runs
from .resolver import change_state, create_runset, resolve, runset_spec

OUTPUTS = "outputs"
ALERTS = "alerts_v1_2025H2"
SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "AVAX-USD")
BASE_PRICE = {"BTC-USD": 62_000.0, "ETH-USD": 3_100.0, "SOL-USD": 145.0, "AVAX-USD": 27.0}
NOTIONAL = 1_000.0  # quote currency per trade

DATASETS = (
    dict(
        dataset_id="ohlcv_v2_2025Q3", kind="ohlcv", window_from="2025-07-01", window_to="2025-09-30",
        schema_version="2", source="binance-spot",
        meta={"interval": "1m", "symbols": ",".join(SYMBOLS), "timezone": "UTC", "vendor_batch": "2025-10-02"},
    ),
    dict(
        dataset_id="ohlcv_v2_2025Q4", kind="ohlcv", window_from="2025-10-01", window_to="2025-12-31",
        schema_version="2", source="binance-spot",
        meta={"interval": "1m", "symbols": ",".join(SYMBOLS), "timezone": "UTC", "vendor_batch": "2026-01-03"},
    ),
    dict(
        dataset_id=ALERTS, kind="alerts", window_from="2025-07-01", window_to="2025-12-31",
        schema_version="1", source="caller-feed",
        meta={"callers": "alpha_anna,brook,degen_dan,whale_watcher", "dedup": "per_caller_symbol_1h", "timezone": "UTC"},
    ),
)


def _quarter_dataset(day: dt.date) -> str:
    return "ohlcv_v2_2025Q3" if day.month <= 9 else "ohlcv_v2_2025Q4"


# strategy hash -> (family, params as text, per-trade edge in return units)
STRATEGIES = {
    "momentum_v3a1": ("momentum", {"lookback": "20", "stop_loss": "0.02", "take_profit": "0.05"}, 0.0020),
    "meanrev_v2b7": ("meanrev", {"lookback": "48", "stop_loss": "0.03", "zscore_entry": "2.0"}, 0.0010),
    "breakout_v1c2": ("breakout", {"lookback": "55", "stop_loss": "0.015", "confirm_bars": "3"}, -0.0005),
}
STRATEGY_ORDER = ("momentum_v3a1", "meanrev_v2b7", "breakout_v1c2")
CALLER_SETS = (
    ("whale_watcher",),
    ("brook",),
    ("whale_watcher", "brook"),
    ("degen_dan",),
    ("alpha_anna",),
    ("degen_dan", "alpha_anna"),
    ("brook", "alpha_anna"),
)
# name, selection, labels, frozen: the seed's example RunSet and a few a researcher would keep.
RUNSETS = (
    ("brook_baseline_2025Q4",
     dict(datasets=["ohlcv_v2_2025Q4"], callers=["whale_watcher"], window_from="2025-10-01", window_to="2025-12-31"),
     ["baseline", "q4"], True),
    ("brook_2025Q3_overlap",
     dict(datasets=["ohlcv_v2_2025Q3"], callers=["brook"], match="overlap"), ["q3"], False),
    ("momentum_all_engines", dict(datasets=[ALERTS], strategy_family="momentum", status="any"), ["momentum"], False),
    ("engine_110_failures", dict(datasets=[ALERTS], engine_versions=["1.1.0"], status="failed"), ["debug"], False),
)
# name, RunSet, params, description: recorded after the RunSets, so pinned to the frozen resolution.
EXPERIMENTS = (
    ("momentum-test", "brook_baseline_2025Q4", {"lookback": "20", "position_size": "0.1"},
     "momentum on whale_watcher's Q4 baseline, pinned to the frozen resolution"),
)
FAILED = {6: "metrics", 15: None, 22: "metrics", 33: None, 41: "metrics"}  # demo run number -> artifacts kept
RUNS_PER_WINDOW = 4


def half_months() -> list[tuple[dt.date, dt.date]]:
    """Jul 1-15, Jul 16-31, ..., Dec 16-31: twelve windows, the last ending on 2025-12-31."""
    windows = []
    for month in range(7, 13):
        first = dt.date(2025, month, 1)
        last = (dt.date(2025, month + 1, 1) if month < 12 else dt.date(2026, 1, 1)) - dt.timedelta(days=1)
        windows += [(first, dt.date(2025, month, 15)), (dt.date(2025, month, 16), last)]
    return windows


def demo_plan() -> list[dict[str, Any]]:
    """The runs, numbered 1..48: identity, status and what the engine "did" (fixed, no randomness)."""
    plan = []
    for w, (start, end) in enumerate(half_months()):
        q4 = start.month >= 10
        for k in range(RUNS_PER_WINDOW):
            number = w * RUNS_PER_WINDOW + k + 1
            strategy_hash = STRATEGY_ORDER[(w + k) % len(STRATEGY_ORDER)]
            # Q3 ran on 1.0.0 with one shadow run per window on 1.1.0; Q4 the other way round.
            engine_version = ("1.1.0" if k < 3 else "1.0.0") if q4 else ("1.0.0" if k < 3 else "1.1.0")
            plan.append({
                "number": number,
                "identity": run_identity(
                    dataset_ids=[_quarter_dataset(start), ALERTS],
                    strategy_hash=strategy_hash,
                    engine_version=engine_version,
                    seed=20250 + 7 * number,
                    callers=CALLER_SETS[(w * RUNS_PER_WINDOW + k) % len(CALLER_SETS)],
                    window_from=start,
                    window_to=end,
                ),
                "status": "failed" if number in FAILED else "completed",
            })
    return plan


# ---------------------------------------------------------------- simulated outputs


TRADES_SCHEMA = pa.schema([
    pa.field("trade_id", pa.int64(), nullable=False),
    pa.field("ts", pa.timestamp("us"), nullable=False),  # UTC
    pa.field("symbol", pa.string(), nullable=False),
    pa.field("side", pa.string(), nullable=False),
    pa.field("qty", pa.float64(), nullable=False),
    pa.field("entry_price", pa.float64(), nullable=False),
    pa.field("exit_price", pa.float64(), nullable=False),
    pa.field("pnl", pa.float64(), nullable=False),
])
METRICS_SCHEMA = pa.schema([
    pa.field("metric", pa.string(), nullable=False),
    pa.field("value", pa.float64(), nullable=False),
])


def simulate_trades(identity: dict[str, Any], failed: bool) -> list[dict[str, Any]]:
    """Trades of one run from random.Random(seed) only; a failed run stops part-way."""
    rng = random.Random(identity["seed"])
    _, _, edge = STRATEGIES[identity["strategy_hash"]]
    if identity["engine_version"] == "1.1.0":
        edge += 0.0005  # 1.1.0 fixed a fill-price bug: slightly better fills
    start = dt.datetime.fromisoformat(identity["window_from"])
    seconds = int((dt.datetime.fromisoformat(identity["window_to"]) + dt.timedelta(days=1) - start).total_seconds())
    count = rng.randint(12, 40)
    if failed:
        count = max(1, count // 3)
    stamps = sorted(rng.randrange(seconds) for _ in range(count))
    trades = []
    for trade_id, offset in enumerate(stamps, start=1):
        symbol = rng.choice(SYMBOLS)
        side = rng.choice(("buy", "sell"))
        entry = round(BASE_PRICE[symbol] * (1 + rng.gauss(0, 0.08)), 2)
        move = rng.gauss(edge, 0.02)  # the trade's return in its own direction
        exit_ = round(entry * (1 + move if side == "buy" else 1 - move), 2)
        qty = round(NOTIONAL / entry, 6)
        pnl = round((exit_ - entry) * qty * (1 if side == "buy" else -1), 2)
        trades.append({
            "trade_id": trade_id, "ts": start + dt.timedelta(seconds=offset), "symbol": symbol, "side": side,
            "qty": qty, "entry_price": entry, "exit_price": exit_, "pnl": pnl,
        })
    return trades


def metrics_of(trades: list[dict[str, Any]]) -> dict[str, float]:
    """pnl, win_rate, trades and max_drawdown (largest fall of cumulative PnL from a peak)."""
    cumulative, peak, drawdown = 0.0, 0.0, 0.0
    for trade in trades:
        cumulative += trade["pnl"]
        peak = max(peak, cumulative)
        drawdown = max(drawdown, peak - cumulative)
    wins = sum(1 for trade in trades if trade["pnl"] > 0)
    return {
        "max_drawdown": round(drawdown, 2),
        "pnl": round(cumulative, 2),
        "trades": float(len(trades)),
        "win_rate": round(wins / len(trades), 4) if trades else 0.0,
    }


def write_parquet(rows: list[dict[str, Any]], schema: pa.Schema, path: Path) -> None:
    """Same rows, same bytes: no pandas metadata, fixed compression, one row group."""
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="zstd")


# ---------------------------------------------------------------- the demo lake


def build_demo(lake_root: Path) -> dict[str, Any]:
    """Write the sample lake under lake_root; refused if lake_root already holds a lake."""
    lake_root = Path(lake_root).expanduser().absolute()
    registry_dir = lake_root / "registry"
    if registry_dir.is_dir() and any(path.is_file() for path in registry_dir.rglob("*")):
        raise InputError(f"{lake_root} already holds a lake ({registry_dir} is not empty); the demo needs a new folder")
    if lake_root.exists() and not lake_root.is_dir():
        raise InputError(f"{lake_root} exists and is not a folder")

    for spec in DATASETS:
        register_dataset(lake_root, dataset_record(**spec))

    run_inputs, artifact_count, failed_count = [], 0, 0
    for run in demo_plan():
        identity, number = run["identity"], run["number"]
        failed = run["status"] == "failed"
        family, params, _ = STRATEGIES[identity["strategy_hash"]]
        run_id = run_id_for(identity)
        trades = simulate_trades(identity, failed)
        kept = ("trades", "metrics") if not failed else ((FAILED[number],) if FAILED[number] else ())
        metrics = metrics_of(trades) if "metrics" in kept else {}
        artifacts = []
        if kept:
            folder = lake_root / OUTPUTS / run_id[:16]
            folder.mkdir(parents=True, exist_ok=True)
            for kind in kept:
                path = folder / f"{kind}.parquet"
                if kind == "trades":
                    write_parquet(trades, TRADES_SCHEMA, path)
                else:
                    write_parquet([{"metric": k, "value": v} for k, v in metrics.items()], METRICS_SCHEMA, path)
                artifacts.append({"kind": kind, "uri": str(path)})
        run_inputs.append(RunInput(
            {
                **identity, "run_id": run_id, "status": run["status"], "strategy_family": family,
                "params": params, "metrics": metrics, "artifacts": artifacts,
            },
            f"demo run {number}",
        ))
        artifact_count += len(artifacts)
        failed_count += failed

    registration = register_runs(lake_root, run_inputs)  # one batch, all or nothing
    for name, spec_args, tags, freeze in RUNSETS:
        create_runset(lake_root, name, runset_spec(**spec_args), tags)
        resolve(lake_root, name)
        if freeze:
            change_state(lake_root, name, "freeze")
    for name, runset, params, description in EXPERIMENTS:
        create_experiment(lake_root, name, runset, description, params)
    return {
        "lake": str(lake_root),
        "datasets": len(DATASETS),
        "runs": len(registration.written),
        "failed_runs": failed_count,
        "artifacts": registration.artifacts_written,
        "runsets": len(RUNSETS),
        "experiments": len(EXPERIMENTS),
    }


# ---------------------------------------------------------------- the tour


TOUR_QUERIES = (
    (
        "RunSets and their current resolution (pinned if frozen, else the latest)",
        """select names[1] as name, left(runset_id, 12) as runset_id, frozen, run_count, artifact_count,
       left(resolution_hash, 16) as resolution_hash
from registry.runsets_with_resolution
order by name""",
    ),
    (
        "The magic join: the runs of a RunSet, by name, without listing one id",
        """select left(run_id, 12) as run_id, strategy_family, window_from, window_to, metrics['pnl'] as pnl
from registry.runs
where run_id in (select run_id from registry.runset_membership
                 where runset_id = (select runset_id from registry.runset_names
                                    where name = 'brook_baseline_2025Q4'))
order by run_id""",
    ),
    (
        "Experiments, each pinned to one resolution of a RunSet (its runs stay, whatever the RunSet does next)",
        """select experiments.name, left(experiments.experiment_id, 12) as experiment_id, names[1] as runset,
       left(experiments.resolution_id, 12) as resolution_id, experiments.run_count, experiments.params
from registry.experiments as experiments
inner join registry.runsets as runsets on runsets.runset_id = experiments.runset_id
order by experiments.created_at, experiments.experiment_id""",
    ),
    (
        "Runs per caller and engine version (a run with two callers counts for both)",
        """select caller, engine_version, count(*) as runs,
       count(*) filter (where status = 'failed') as failed
from (select unnest(callers) as caller, engine_version, status from registry.runs)
group by all
order by caller, engine_version""",
    ),
    (
        "How each dataset is covered by runs",
        """select dataset_id, kind, window_from, window_to, run_count, failed_run_count,
       runs_window_from, runs_window_to, runs_outside_window, artifact_count
from registry.dataset_coverage
order by dataset_id""",
    ),
    (
        "Top runs by artifact rows",
        """select left(run_id, 12) as run_id, strategy_family, engine_version, window_from, window_to,
       artifact_count, artifact_rows, metrics['pnl'] as pnl
from registry.runs_with_artifacts
order by artifact_rows desc nulls last, run_id
limit 5""",
    ),
    (
        "Completed runs: PnL by strategy family and engine version",
        """select strategy_family, engine_version, count(*) as runs,
       round(sum(metrics['pnl']), 2) as total_pnl, round(avg(metrics['win_rate']), 3) as avg_win_rate
from registry.runs
where status = 'completed'
group by all
order by strategy_family, engine_version""",
    ),
)


def tour(lake_root: Path, db_file: Path, summary: dict[str, Any]) -> str:
    completed = summary["runs"] - summary["failed_runs"]
    lines = [
        f"Built a sample lake in {summary['lake']}:",
        f"  {summary['datasets']} datasets, {summary['runs']} runs ({completed} completed, "
        f"{summary['failed_runs']} failed), {summary['artifacts']} artifacts "
        f"(Parquet files under {Path(summary['lake']) / OUTPUTS}), {summary['runsets']} RunSets "
        f"(brook_baseline_2025Q4 frozen), {summary['experiments']} experiment (momentum-test, pinned to "
        "brook_baseline_2025Q4's frozen resolution)",
        f"and rebuilt its registry with dbt: {db_file}",
    ]
    with duckdb.connect(str(db_file), read_only=True) as con:
        for title, sql in TOUR_QUERIES:
            cursor = con.execute(sql)
            columns = [column[0] for column in cursor.description]
            lines += ["", f"-- {title}", sql + ";", table([dict(zip(columns, row)) for row in cursor.fetchall()], columns)]
        (example,) = con.execute("select left(run_id, 12) from registry.runs order by window_to desc, run_id limit 1").fetchall()[0]
        experiment = con.execute("select left(experiment_id, 12) from registry.experiments order by all limit 1").fetchall()
    from .lab import render, run_report  # sqlglot: only the demo and the lab commands need it

    template, report = run_report(lake_root, "brook_2025Q3_overlap", "per_caller_summary")
    lines += ["", f"-- quantbot lab report --runset brook_2025Q3_overlap --template {template.name}"
                  f"   ({template.description})", render(report, "table").decode().rstrip()]
    project = project_dir()
    lines += [
        "",
        "Try it yourself:",
        f"  quantbot runset resolve --lake {lake_root} brook_baseline_2025Q4",
        f"  quantbot runset history --lake {lake_root} brook_baseline_2025Q4",
        f"  quantbot research experiments list --lake {lake_root}",
        *([f"  quantbot research experiments get --lake {lake_root} {experiment[0][0]}"] if experiment else []),
        f"  quantbot lab query --lake {lake_root} --runset brook_baseline_2025Q4 "
        "--sql \"select run_id, count(*) as trades, round(sum(pnl), 2) as pnl from trades group by all\"",
        f"  quantbot lab report --lake {lake_root} --runset brook_2025Q3_overlap --template per_run_summary --format markdown",
        f"  quantbot run list --lake {lake_root} --caller brook --limit 5",
        f"  quantbot run get --lake {lake_root} {example}",
        f"  duckdb -readonly {db_file} \"select engine_version, status, count(*) from registry.runs group by all\"",
        f"  cd {project} && QUANTBOT_LAKE={lake_root} QUANTBOT_DB=/tmp/scratch-registry.duckdb "
        "dbt build --profiles-dir .   # what `quantbot registry rebuild` runs",
    ]
    return "\n".join(lines)
