"""`quantbot run register|list|get`: ids, artifacts, immutability, bulk all-or-nothing, bad input."""

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_error_line, lake_files, write_parquet

from quantbot_dbt.ids import artifact_id_for

# The identity of test_ids.py: its run id is pinned there and here.
RUN_ID = "079c9be379aa40ade5d17174e12cdc6a3bdc28b688fd41fccf91fb4d2db282dd"
RUN = ["run", "register", "--datasets", "ohlcv_v2_2025Q4,alerts_v1", "--strategy-hash", "momentum_v3a1",
       "--engine-version", "1.0.0", "--seed", "42", "--caller", "whale_watcher", "--caller", "brook",
       "--from", "2025-10-01", "--to", "2025-12-31"]
NAME_RULE = "use letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-')"


@pytest.fixture
def datasets(quantbot):
    quantbot("dataset", "register", "--id", "ohlcv_v2_2025Q4", "--kind", "ohlcv", check=True)
    quantbot("dataset", "register", "--id", "alerts_v1", "--kind", "alerts", check=True)


@pytest.fixture
def trades_file(tmp_path):
    return write_parquet(tmp_path / "out" / "trades.parquet", [{"trade_id": i, "pnl": i * 1.5} for i in range(7)])


def run_line(seed, **overrides):
    record = {"dataset_ids": ["ohlcv_v2_2025Q4"], "strategy_hash": "s1", "engine_version": "1.0.0", "seed": seed,
              "callers": ["brook"], "window_from": "2025-10-01", "window_to": "2025-10-31", "status": "completed"}
    return json.dumps({**record, **overrides})


def test_register_get_round_trip_with_an_artifact(quantbot, datasets, trades_file, lake_root):
    result = quantbot(*RUN, "--strategy-family", "momentum", "--param", "lookback=20", "--metric", "pnl=12.5",
                      "--artifact", f"trades={trades_file}", "--id", RUN_ID, "--json")
    assert result.code == 0, result.stderr
    assert result.json() == {"registered": [RUN_ID], "unchanged": [], "artifacts_registered": 1}

    run = quantbot("run", "get", RUN_ID[:8], "--json", check=True).json()
    assert run["run_id"] == RUN_ID
    assert run["callers"] == ["brook", "whale_watcher"]
    assert run["dataset_ids"] == ["alerts_v1", "ohlcv_v2_2025Q4"]
    assert (run["status"], run["strategy_family"], run["seed"]) == ("completed", "momentum", 42)
    assert (run["params"], run["metrics"]) == ({"lookback": "20"}, {"pnl": 12.5})
    content_hash = hashlib.sha256(trades_file.read_bytes()).hexdigest()
    (artifact,) = run["artifacts"]
    artifact.pop("registered_at")
    assert artifact == {
        "artifact_id": artifact_id_for(RUN_ID, "trades", content_hash), "run_id": RUN_ID, "kind": "trades",
        "uri": str(trades_file), "content_hash": content_hash, "size_bytes": trades_file.stat().st_size, "row_count": 7,
    }
    # Layout: runs by engine_version and month, artifacts by kind and month (of the run's first simulated day).
    visible = [name for name in lake_files(lake_root) if name.endswith(".parquet")]
    assert [name.rsplit("/", 1)[0] for name in visible] == [
        "artifacts/kind=trades/month=2025-10", "datasets", "datasets", "runs/engine_version=1.0.0/month=2025-10",
    ]


def test_same_run_again_is_a_no_op_and_a_changed_run_is_refused(quantbot, datasets, trades_file, lake_root):
    quantbot(*RUN, "--artifact", f"trades={trades_file}", check=True)
    before = lake_files(lake_root)
    again = quantbot(*RUN, "--artifact", f"trades={trades_file}")
    assert again.stdout == f"run {RUN_ID} is already registered with the same content (nothing written)\n"
    assert_one_error_line(
        quantbot(*RUN, "--status", "failed", "--artifact", f"trades={trades_file}"),
        f"error: run {RUN_ID} is already registered with different status; "
        "records are immutable: register the change under a new id",
    )
    assert_one_error_line(
        quantbot(*RUN),
        f"error: run {RUN_ID} is already registered with different artifacts; "
        "records are immutable: register the change under a new id",
    )
    assert lake_files(lake_root) == before


def test_a_wrong_id_is_refused_with_the_computed_one(quantbot, datasets, lake_root):
    assert_one_error_line(
        quantbot(*RUN, "--id", "0" * 64),
        f"error: run id '{'0' * 64}' does not match the computed run id {RUN_ID}",
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--datasets": "ohlcv_v2_2025Q4,nope"}, "error: dataset(s) not registered: nope"),
        ({"--from": "2025-31-12"}, "error: invalid --from date '2025-31-12': not a calendar date"),
        ({"--from": "2026-01-01"}, "error: --from 2026-01-01 is after --to 2025-12-31"),
        ({"--engine-version": "../1.0"}, f"error: invalid engine version '../1.0': {NAME_RULE}"),
        ({"--engine-version": "1.0/x"}, f"error: invalid engine version '1.0/x': {NAME_RULE}"),
        # Python's $ matches before a final newline; the name rules must not.
        ({"--engine-version": "1.0\n"}, f"error: invalid engine version '1.0\\n': {NAME_RULE}"),
        ({"--caller": "o'brien"}, f"error: invalid caller \"o'brien\": {NAME_RULE}"),
        ({"--seed": "4.2"}, "error: invalid seed '4.2': expected an integer"),
        ({"--status": "done"}, "error: unknown status 'done': expected one of completed, failed"),
        ({"--artifact": "trades=/no/such/file.parquet"}, "error: artifact file not found: /no/such/file.parquet"),
        ({"--artifact": "pnl=/etc/hostname"},
         "error: unknown artifact kind 'pnl': expected one of curve, diagnostics, metrics, trades"),
        ({"--artifact": "trades=s3://bucket/x.parquet"},
         "error: artifact uri 's3://bucket/x.parquet': only local files (a path or file://) are supported"),
        ({"--metric": "pnl=lots"}, "error: invalid metric pnl 'lots': expected a number"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(quantbot, datasets, lake_root, change, message):
    args = list(RUN)
    for option, value in change.items():
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    before = lake_files(lake_root)
    assert_one_error_line(quantbot(*args), message)
    assert lake_files(lake_root) == before


def test_bulk_register_jsonl_then_list_with_filters(quantbot, datasets, tmp_path, trades_file):
    lines = [
        run_line(1, artifacts=[{"kind": "trades", "uri": str(trades_file)}]),
        run_line(2, callers=["whale_watcher"], engine_version="1.1.0"),
        run_line(3, status="failed", dataset_ids=["ohlcv_v2_2025Q4", "alerts_v1"], window_from="2025-11-01",
                 window_to="2025-11-30", params={"lookback": 20, "fast": True}, metrics={"pnl": -3}),
        run_line(1, artifacts=[{"kind": "trades", "uri": str(trades_file)}]),  # the same run twice: one run
    ]
    runs_file = tmp_path / "runs.jsonl"
    runs_file.write_text("\n".join(lines) + "\n")
    registered = quantbot("run", "register", "--file", str(runs_file), "--json", check=True).json()
    assert (len(registered["registered"]), registered["unchanged"], registered["artifacts_registered"]) == (3, [], 1)

    def listed(*filters):
        return [(run["seed"], run["status"]) for run in quantbot("run", "list", *filters, "--json", check=True).json()["runs"]]

    assert listed() == [(1, "completed"), (2, "completed"), (3, "failed")]
    assert listed("--caller", "whale_watcher") == [(2, "completed")]
    assert listed("--engine-version", "1.1.0") == [(2, "completed")]
    assert listed("--status", "failed") == [(3, "failed")]
    assert listed("--dataset", "alerts_v1") == [(3, "failed")]
    assert listed("--limit", "2") == [(1, "completed"), (2, "completed")]
    failed = quantbot("run", "list", "--status", "failed", "--json", check=True).json()["runs"][0]
    assert (failed["params"], failed["metrics"]) == ({"fast": "true", "lookback": "20"}, {"pnl": -3.0})

    again = quantbot("run", "register", "--file", str(runs_file), "--json", check=True).json()
    assert (again["registered"], len(again["unchanged"])) == ([], 3)


def test_one_file_named_by_two_runs_of_a_batch_gets_the_same_artifact_facts(quantbot, datasets, tmp_path, trades_file):
    """The batch reads a file once; the uri as written (relative or file://) still ends up absolute."""
    lines = [run_line(1, artifacts=[{"kind": "trades", "uri": str(trades_file)}]),
             run_line(2, artifacts=[{"kind": "trades", "uri": f"file://{trades_file}"}]),
             run_line(3, artifacts=[{"kind": "trades", "uri": "out/trades.parquet"}])]
    runs_file = tmp_path / "runs.jsonl"
    runs_file.write_text("\n".join(lines) + "\n")
    quantbot("run", "register", "--file", str(runs_file), check=True)  # from tmp_path

    content_hash = hashlib.sha256(trades_file.read_bytes()).hexdigest()
    artifacts = [artifact for run in quantbot("run", "list", "--json", check=True).json()["runs"]
                 for artifact in quantbot("run", "get", run["run_id"], "--json", check=True).json()["artifacts"]]
    assert [(a["uri"], a["content_hash"], a["size_bytes"], a["row_count"]) for a in artifacts] == [
        (str(trades_file), content_hash, trades_file.stat().st_size, 7)] * 3
    assert len({a["artifact_id"] for a in artifacts}) == 3


def test_distinct_artifact_files_of_a_batch_are_read_ahead_and_a_missing_one_names_its_line(
        quantbot, datasets, tmp_path, lake_root):
    """A batch reads its distinct artifact files in threads before validating; what it records is
    the bytes' own hash, and a file that cannot be read is still refused in the line that names it."""
    outputs = [tmp_path / f"out-{number}.csv" for number in range(4)]
    for number, path in enumerate(outputs):
        path.write_text(f"output {number}\n" * (number + 1))
    runs_file = tmp_path / "runs.jsonl"
    missing = tmp_path / "never-written.csv"
    lines = [run_line(number, artifacts=[{"kind": "diagnostics", "uri": str(path)}]) for number, path in enumerate(outputs)]
    runs_file.write_text("\n".join([*lines[:2], run_line(9, artifacts=[f"diagnostics={missing}"]), *lines[2:]]) + "\n")
    before = lake_files(lake_root)
    assert_one_error_line(quantbot("run", "register", "--file", str(runs_file)),
                          f"error: line 3: artifact file not found: {missing}")
    assert lake_files(lake_root) == before

    runs_file.write_text("\n".join(lines) + "\n")
    quantbot("run", "register", "--file", str(runs_file), check=True)
    artifacts = [artifact for run in quantbot("run", "list", "--json", check=True).json()["runs"]
                 for artifact in quantbot("run", "get", run["run_id"], "--json", check=True).json()["artifacts"]]
    assert sorted((a["uri"], a["content_hash"], a["size_bytes"]) for a in artifacts) == [
        (str(path), hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size) for path in outputs]


def test_bulk_register_is_all_or_nothing_and_names_the_line(quantbot, datasets, tmp_path, lake_root):
    runs_file = tmp_path / "runs.jsonl"
    runs_file.write_text("\n".join([run_line(1), run_line(2), run_line(3, window_to="2025-09-30")]) + "\n")
    before = lake_files(lake_root)
    assert_one_error_line(
        quantbot("run", "register", "--file", str(runs_file)), "error: line 3: --from 2025-10-01 is after --to 2025-09-30"
    )
    runs_file.write_text("\n".join([run_line(1), run_line(2, dataset_ids=["nope"])]) + "\n")
    assert_one_error_line(
        quantbot("run", "register", "--file", str(runs_file)), "error: line 2: dataset(s) not registered: nope"
    )
    runs_file.write_text(run_line(1) + "\n{not json\n")
    result = quantbot("run", "register", "--file", str(runs_file))
    assert result.stderr.startswith("error: line 2: not valid JSON")
    runs_file.write_text(run_line(1, colour="red") + "\n")
    assert_one_error_line(quantbot("run", "register", "--file", str(runs_file)), "error: line 1: unknown field(s) colour")
    runs_file.write_text("\n".join([run_line(1), run_line(1, status="failed")]) + "\n")
    result = quantbot("run", "register", "--file", str(runs_file))
    assert "sent twice: line 1 and line 2" in result.stderr and "different status" in result.stderr
    assert lake_files(lake_root) == before


def test_bulk_register_from_parquet(quantbot, datasets, tmp_path):
    rows = [json.loads(run_line(seed, params={"lookback": "20"}, metrics={"pnl": 1.0})) for seed in (7, 8)]
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("dataset_ids", pa.list_(pa.string())), ("strategy_hash", pa.string()), ("engine_version", pa.string()),
        ("seed", pa.int64()), ("callers", pa.list_(pa.string())), ("window_from", pa.string()),
        ("window_to", pa.string()), ("status", pa.string()), ("params", pa.map_(pa.string(), pa.string())),
        ("metrics", pa.map_(pa.string(), pa.float64())),
    ]))
    pq.write_table(table, tmp_path / "runs.parquet")
    registered = quantbot("run", "register", "--file", str(tmp_path / "runs.parquet"), "--json", check=True).json()
    assert len(registered["registered"]) == 2
    runs = quantbot("run", "list", "--json", check=True).json()["runs"]
    assert [(run["seed"], run["params"], run["metrics"]) for run in runs] == [
        (7, {"lookback": "20"}, {"pnl": 1.0}), (8, {"lookback": "20"}, {"pnl": 1.0}),
    ]


def test_file_and_single_run_options_do_not_mix(quantbot, datasets, tmp_path):
    assert_one_error_line(
        quantbot("run", "register", "--file", str(tmp_path / "x.jsonl"), "--seed", "1"),
        "error: --file registers runs from the file; remove the other run options (seed)",
    )


def test_run_references_unknown_ambiguous_and_malformed(quantbot, datasets, tmp_path):
    # Seeds 60545 and 79176 give run ids that share their first 8 hex digits (86ee8f60).
    runs_file = tmp_path / "runs.jsonl"
    common = {"dataset_ids": ["ohlcv_v2_2025Q4"], "strategy_hash": "s1", "engine_version": "1.0.0",
              "callers": ["c1"], "window_from": "2025-01-01", "window_to": "2025-01-02", "status": "completed"}
    runs_file.write_text("\n".join(json.dumps({**common, "seed": seed}) for seed in (60545, 79176)) + "\n")
    ids = quantbot("run", "register", "--file", str(runs_file), "--json", check=True).json()["registered"]
    assert {run_id[:8] for run_id in ids} == {"86ee8f60"}
    result = quantbot("run", "get", "86ee8f60")
    assert result.code == 2 and result.stderr.startswith("error: run id prefix '86ee8f60' is ambiguous: it matches ")
    for run_id in ids:
        assert quantbot("run", "get", run_id[:12], "--json", check=True).json()["run_id"] == run_id
    assert_one_error_line(quantbot("run", "get", "deadbeef"), "error: no run matches 'deadbeef'")
    assert_one_error_line(
        quantbot("run", "get", "b59c"), "error: invalid run id 'b59c': expected 8 to 64 lowercase hex characters"
    )
    assert_one_error_line(
        quantbot("run", "list", "--dataset", "nope"), "error: dataset 'nope' is not registered"
    )
