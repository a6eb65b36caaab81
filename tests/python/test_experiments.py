"""`quantbot research experiments ...`: an experiment is pinned to one resolution of a RunSet.

The lake of datasets, runs and RunSets is built once per module in-process and copied for each
test; every command under test runs through the real CLI. Expected ids and hashes are computed
here with hashlib, never with the library's own id functions. The registry is rebuilt by a real
`dbt build` once per module, and tampered copies of it must fail by the contract's name.
"""

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_error_line, lake_files

from quantbot_dbt import experiments, lake, resolver
from quantbot_dbt.output import json_value
from quantbot_dbt.records import RunInput, dataset_record, register_dataset, register_runs
from quantbot_dbt.registry import rebuild

Q4 = "ohlcv_q4"
NAME_RULE = "use letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-')"


# ---------------------------------------------------------------- independent ids


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def experiment_id(name, params, resolution_id, runset_id) -> str:
    return sha(canonical({"name": name, "params": params, "resolution_id": resolution_id, "runset_id": runset_id}))


def run_id(fields) -> str:
    identity = {key: fields[key] for key in ("engine_version", "seed", "strategy_hash", "window_from", "window_to")}
    identity.update(callers=sorted(fields["callers"]), dataset_ids=sorted(fields["dataset_ids"]))
    return sha(canonical(identity))


def resolution_hash(run_ids) -> str:
    return sha("\n".join(sorted(run_ids)))


# ---------------------------------------------------------------- the lake


def q4_run(seed, **overrides):
    fields = {"dataset_ids": [Q4], "strategy_hash": "momentum_v3", "engine_version": "1.0.0", "seed": seed,
              "callers": ["whale_watcher"], "window_from": "2025-10-01", "window_to": "2025-10-31", "status": "completed"}
    return {**fields, **overrides}


RUNS = {
    1: q4_run(1),
    2: q4_run(2, window_from="2025-11-01", window_to="2025-11-30"),
    3: q4_run(3, status="failed"),
    4: q4_run(4, window_from="2025-12-01", window_to="2025-12-31"),  # registered after the first resolutions
    5: q4_run(5, window_from="2025-12-01", window_to="2025-12-15"),  # registered by the tests that re-resolve
}
R = {seed: run_id(fields) for seed, fields in RUNS.items()}


def register(lake_root, *seeds, artifacts=None):
    runs = [RunInput({**RUNS[seed], **({"artifacts": artifacts[seed]} if artifacts and seed in artifacts else {})})
            for seed in seeds]
    assert register_runs(lake_root, runs).written == [R[seed] for seed in seeds]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Runs 1, 2 (completed) and 3 (failed), run 1 with two artifacts; then RunSets:

    explore       completed runs of ohlcv_q4, resolved once before run 4: {1, 2} (latest)
    pinned_set    every status, resolved {1, 2, 3}, then after run 4 {1, 2, 3, 4}; frozen on the first
    unresolved    never resolved
    doomed        deleted
    """
    folder = tmp_path_factory.mktemp("experiments")
    root = folder / "lake"
    register_dataset(root, dataset_record(Q4, "ohlcv", "2025-10-01", "2025-12-31"))
    pq.write_table(pa.table({"trade_id": [1, 2, 3]}), folder / "trades.parquet")
    (folder / "metrics.csv").write_text("pnl,1.5\n")
    register(root, 1, 2, 3, artifacts={1: [{"kind": "trades", "uri": str(folder / "trades.parquet")},
                                           {"kind": "metrics", "uri": str(folder / "metrics.csv")}]})
    resolver.create_runset(root, "explore", resolver.runset_spec([Q4]))
    resolver.resolve(root, "explore")
    resolver.create_runset(root, "pinned_set", resolver.runset_spec([Q4], status="any"))
    first = resolver.resolve(root, "pinned_set")["resolution_id"]
    register(root, 4)
    resolver.resolve(root, "pinned_set", force=True)
    resolver.change_state(root, "pinned_set", "freeze", first)
    resolver.create_runset(root, "unresolved", resolver.runset_spec([Q4], strategy_hashes=["momentum_v3"]))
    resolver.create_runset(root, "doomed", resolver.runset_spec([Q4], callers=["whale_watcher"]))
    resolver.change_state(root, "doomed", "delete")
    return root


@pytest.fixture
def lab(template, lake_root):
    """A copy of the template lake; the RunSets' ids and resolutions as the resolver reports them."""
    shutil.copytree(template, lake_root)
    return {name: resolver.get_runset(lake_root, name, include_deleted=True)
            for name in ("explore", "pinned_set", "unresolved", "doomed")}


def create_args(name, runset, *extra):
    return ("research", "experiments", "create", "--name", name, "--runset", runset, *extra)


def listed(created):
    """An experiment as `list` and `get` show it: as `create` answered, without `written`."""
    return {key: value for key, value in created.items() if key != "written"}


def as_json(document):
    return json.loads(json.dumps(document, default=json_value))


def experiment_files(lake_root):
    return [name for name in lake_files(lake_root) if name.startswith("experiments/")]


# ---------------------------------------------------------------- create


def test_create_pins_the_current_resolution_and_the_same_again_writes_nothing(lab, cli, quantbot, lake_root):
    explore = lab["explore"]
    args = create_args("momentum-test", "explore", "--param", "lookback=20", "--param", "label=é 日本 \"q\" \\ /",
                       "--description", "first look")
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    created = cli(*args)
    created_at = dt.datetime.fromisoformat(created["created_at"].removesuffix("Z"))  # UTC, when first recorded
    assert before <= created_at <= dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    params = {"label": "é 日本 \"q\" \\ /", "lookback": "20"}
    expected_id = experiment_id("momentum-test", params, explore["current_resolution_id"], explore["runset_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", created.pop("created_at"))
    assert created == {
        "experiment_id": expected_id, "name": "momentum-test", "runset_id": explore["runset_id"],
        "runset_name": "explore", "resolution_id": explore["current_resolution_id"],
        "resolution_hash": resolution_hash([R[1], R[2]]), "run_count": 2, "params": params,
        "description": "first look", "written": True,
    }
    (stored_file,) = experiment_files(lake_root)
    stored = pq.read_table(lake_root / "registry" / stored_file).to_pylist()
    assert [(row["experiment_id"], row["resolution_id"], dict(row["params"])) for row in stored] == [
        (expected_id, explore["current_resolution_id"], params)]

    # Again, by id prefix of the RunSet: the same experiment, nothing written.
    files = lake_files(lake_root)
    again = quantbot(*create_args("momentum-test", explore["runset_id"][:10], "--param", "lookback=20",
                                  "--param", "label=é 日本 \"q\" \\ /", "--description", "first look"))
    assert (again.code, again.stderr) == (0, "")
    assert again.stdout == (
        f"experiment momentum-test ({expected_id}) is already recorded (nothing written) pinned to resolution "
        f"{explore['current_resolution_id']} of RunSet explore: 2 runs, "
        f"resolution_hash={resolution_hash([R[1], R[2]])}\n")
    assert lake_files(lake_root) == files
    assert cli("research", "experiments", "list")["experiments"][0]["created_at"] == created_at.isoformat() + "Z"


def test_the_human_line_and_a_create_without_params(lab, quantbot, lake_root):
    explore = lab["explore"]
    result = quantbot(*create_args("bare", "explore"))
    assert (result.code, result.stderr) == (0, "")
    expected_id = experiment_id("bare", {}, explore["current_resolution_id"], explore["runset_id"])
    assert result.stdout == (
        f"recorded experiment bare ({expected_id}) pinned to resolution {explore['current_resolution_id']} "
        f"of RunSet explore: 2 runs, resolution_hash={resolution_hash([R[1], R[2]])}\n")


def test_a_different_description_for_the_same_experiment_is_refused_and_writes_nothing(lab, cli, quantbot, lake_root):
    created = cli(*create_args("momentum-test", "explore", "--param", "lookback=20", "--description", "first look"))
    before = lake_files(lake_root)
    prefix = f"error: experiment {created['experiment_id']} (momentum-test) is already recorded with a different description"
    rule = "records are immutable: record the change under another --name"
    assert_one_error_line(
        quantbot(*create_args("momentum-test", "explore", "--param", "lookback=20", "--description", "second look")),
        f"{prefix} (recorded: 'first look', sent: 'second look'); {rule}")
    assert_one_error_line(
        quantbot(*create_args("momentum-test", "explore", "--param", "lookback=20")),
        f"{prefix} (recorded: 'first look', sent: none); {rule}")
    assert lake_files(lake_root) == before
    # Another param value is another experiment, recorded next to the first.
    other = cli(*create_args("momentum-test", "explore", "--param", "lookback=40", "--description", "second look"))
    assert other["written"] is True and other["experiment_id"] != created["experiment_id"]


@pytest.mark.parametrize("args, message", [
    (create_args("../x", "explore"), f"invalid experiment name '../x': {NAME_RULE}"),
    (create_args("", "explore"), f"invalid experiment name '': {NAME_RULE}"),
    (create_args("ok", "explore", "--param", "lookback"), "invalid --param 'lookback': expected KEY=VALUE"),
    (create_args("ok", "explore", "--param", "a b=1"), f"invalid --param key 'a b': {NAME_RULE}"),
    (create_args("ok", "explore", "--param", "k=1", "--param", "k=2"), "--param key 'k' given twice"),
    (create_args("ok", "explore", "--param", "k=a\x1fb"),
     "invalid --param k='a\\x1fb': the value must not contain control characters"),
    (create_args("ok", "nope"), "no RunSet matches 'nope' (by name, id or id prefix)"),
    (create_args("ok", "doomed"), "RunSet doomed is deleted; create it again to revive it"),
    (("research", "experiments", "create", "--runset", "explore"), "Missing option '--name'."),
])
def test_bad_input_is_one_line_and_writes_nothing(lab, quantbot, lake_root, args, message):
    before = lake_files(lake_root)
    assert_one_error_line(quantbot(*args), f"error: {message}")
    assert lake_files(lake_root) == before


def test_a_never_resolved_runset_is_resolved_and_recorded_first(lab, cli, lake_root):
    created = cli(*create_args("first-look", "unresolved"))
    (resolution,) = resolver.history(lake_root, "unresolved")["resolutions"]
    assert (created["resolution_id"], created["resolution_hash"], created["run_count"]) == (
        resolution["resolution_id"], resolution_hash([R[1], R[2], R[4]]), 3)
    # What `runset resolve` answers now is what the experiment pinned: nothing new recorded.
    answer = cli("runset", "resolve", "unresolved")
    assert (answer["resolution_id"], answer["recorded"]) == (created["resolution_id"], False)


def test_a_frozen_runset_pins_its_pinned_resolution_not_its_latest(lab, cli):
    pinned = lab["pinned_set"]
    assert pinned["frozen"] and pinned["pinned_resolution_id"] != pinned["latest_resolution_id"]
    created = cli(*create_args("frozen-look", "pinned_set"))
    assert (created["resolution_id"], created["resolution_hash"], created["run_count"]) == (
        pinned["pinned_resolution_id"], resolution_hash([R[1], R[2], R[3]]), 3)
    got = cli("research", "experiments", "get", created["experiment_id"])
    assert [run["run_id"] for run in got["runs"]] == sorted([R[1], R[2], R[3]])


def test_two_processes_creating_the_same_experiment_record_it_once(lab, quantbot, lake_root, tmp_path):
    command = [sys.executable, "-m", "quantbot_dbt", *create_args("race", "explore", "--param", "k=v"),
               "--lake", str(lake_root), "--json"]
    env = {name: value for name, value in os.environ.items() if name not in ("QUANTBOT_LAKE", "QUANTBOT_DB")}
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
                 for _ in range(2)]
    results = [(process.wait(), *process.communicate()) for process in processes]
    assert [code for code, _, _ in results] == [0, 0], results
    documents = [json.loads(stdout) for _, stdout, _ in results]
    assert sorted(document["written"] for document in documents) == [False, True]
    assert len({document["experiment_id"] for document in documents}) == 1
    assert len(experiment_files(lake_root)) == 1


# ---------------------------------------------------------------- list and get


def test_list_every_experiment_or_one_runsets_in_creation_order(lab, cli, quantbot, lake_root):
    # Created in-process (create's CLI is tested above), compared as the JSON documents they are.
    first, second, third = (
        as_json(experiments.create(lake_root, name, runset, None, params))
        for name, runset, params in (("a-test", "pinned_set", {}), ("b-test", "explore", {"x": "1"}),
                                     ("a-test", "explore", {}))
    )
    assert cli("research", "experiments", "list") == {"experiments": [listed(first), listed(second), listed(third)]}
    assert cli("research", "experiments", "list", "--runset", "explore") == {
        "experiments": [listed(second), listed(third)]}
    assert cli("research", "experiments", "list", "--runset", lab["pinned_set"]["runset_id"][:8]) == {
        "experiments": [listed(first)]}
    assert cli("research", "experiments", "list", "--runset", "unresolved") == {"experiments": []}
    assert_one_error_line(quantbot("research", "experiments", "list", "--runset", "nope"),
                          "error: no RunSet matches 'nope' (by name, id or id prefix)")
    human = quantbot("research", "experiments", "list", "--runset", "explore").stdout.splitlines()
    assert re.split(r"\s{2,}", human[0]) == ["experiment_id", "name", "runset_name", "resolution_id", "run_count",
                                             "params", "created_at"]
    assert re.split(r"\s{2,}", human[1])[:6] == [second["experiment_id"][:12], "b-test", "explore",
                                                 second["resolution_id"][:12], "2", "x=1"]
    assert len(human) == 3


def test_list_on_an_empty_lake_is_empty(cli):
    assert cli("research", "experiments", "list") == {"experiments": []}


def test_get_by_full_id_and_by_prefix_with_its_runs_and_artifacts(lab, cli, quantbot, template):
    created = cli(*create_args("momentum-test", "explore", "--param", "lookback=20"))
    for ref in (created["experiment_id"], created["experiment_id"][:8]):
        got = cli("research", "experiments", "get", ref)
        assert {key: value for key, value in got.items() if key not in ("runs", "artifacts")} == listed(created)
        assert [run["run_id"] for run in got["runs"]] == sorted([R[1], R[2]])
        assert [(a["run_id"], a["kind"], a["row_count"]) for a in got["artifacts"]] == [
            (R[1], "metrics", None), (R[1], "trades", 3)]
        assert all(set(a) == {"artifact_id", "run_id", "kind", "uri", "content_hash", "row_count"} for a in got["artifacts"])
        assert got["artifacts"][1]["uri"] == str(template.parent / "trades.parquet")
    human = quantbot("research", "experiments", "get", created["experiment_id"][:8]).stdout
    assert f"experiment_id    {created['experiment_id']}\n" in human
    assert "\nruns:\nrun_id " in human and R[1][:12] in human and "\nartifacts:\n" in human


def test_get_refuses_unknown_invalid_and_ambiguous_prefixes(lab, cli, quantbot, lake_root):
    explore = lab["explore"]
    # Two names whose experiment ids share their first 8 hex digits (birthday search, ~80k hashes).
    seen, number = {}, 0
    while True:
        name = f"e{number}"
        prefix = experiment_id(name, {}, explore["current_resolution_id"], explore["runset_id"])[:8]
        if prefix in seen:
            break
        seen[prefix], number = name, number + 1
    first = experiments.create(lake_root, seen[prefix], "explore")  # in-process: the CLI path is tested above
    second = experiments.create(lake_root, name, "explore")
    assert first["experiment_id"][:8] == second["experiment_id"][:8] == prefix
    shown = ", ".join(sorted([first["experiment_id"][:16], second["experiment_id"][:16]]))
    assert_one_error_line(quantbot("research", "experiments", "get", prefix),
                          f"error: experiment id prefix '{prefix}' is ambiguous: it matches {shown}")
    assert cli("research", "experiments", "get", second["experiment_id"][:16])["name"] == name
    unknown = "0123abcd" if not first["experiment_id"].startswith("0123abcd") else "3210abcd"
    assert_one_error_line(quantbot("research", "experiments", "get", unknown), f"error: no experiment matches '{unknown}'")
    assert_one_error_line(quantbot("research", "experiments", "get", "momentum"),
                          "error: invalid experiment id 'momentum': expected 8 to 64 lowercase hex characters")


# ---------------------------------------------------------------- pinned, whatever the RunSet does next


def test_an_experiment_stays_pinned_after_the_runset_is_re_resolved(lab, cli, quantbot, lake_root):
    created = cli(*create_args("momentum-test", "explore", "--param", "lookback=20"))
    old_runs, old_hash = sorted([R[1], R[2]]), resolution_hash([R[1], R[2]])
    assert (created["run_count"], created["resolution_hash"]) == (2, old_hash)

    register(lake_root, 5)  # more matching runs (4 is already there, registered after the first resolve)
    moved = cli("runset", "resolve", "explore", "--force")
    assert (moved["recorded"], moved["run_ids"]) == (True, sorted([R[1], R[2], R[4], R[5]]))

    got = cli("research", "experiments", "get", created["experiment_id"])
    assert [run["run_id"] for run in got["runs"]] == old_runs
    assert {artifact["run_id"] for artifact in got["artifacts"]} == {R[1]}
    assert (got["resolution_id"], got["resolution_hash"], got["run_count"]) == (
        created["resolution_id"], old_hash, 2)

    # The same name again pins the new resolution: a new experiment; both are listed.
    renewed = cli(*create_args("momentum-test", "explore", "--param", "lookback=20"))
    assert (renewed["written"], renewed["resolution_id"], renewed["run_count"]) == (True, moved["resolution_id"], 4)
    assert renewed["experiment_id"] == experiment_id("momentum-test", {"lookback": "20"}, moved["resolution_id"],
                                                     lab["explore"]["runset_id"])
    items = cli("research", "experiments", "list", "--runset", "explore")["experiments"]
    assert [(item["experiment_id"], item["resolution_hash"]) for item in items] == [
        (created["experiment_id"], old_hash), (renewed["experiment_id"], moved["resolution_hash"])]

    # Even a deleted RunSet keeps its experiments' runs.
    cli("runset", "delete", "explore")
    again = cli("research", "experiments", "get", created["experiment_id"])
    assert ([run["run_id"] for run in again["runs"]], again["resolution_hash"]) == (old_runs, old_hash)


# ---------------------------------------------------------------- the registry


@pytest.fixture(scope="module")
def built(template, tmp_path_factory):
    """The template with experiments (one pinned, one whose RunSet moved on), and its registry."""
    root = tmp_path_factory.mktemp("built") / "lake"
    shutil.copytree(template, root)
    experiments.create(root, "momentum-test", "explore", "first look", {"lookback": "20", "label": "é \"q\" \\"})
    experiments.create(root, "frozen-look", "pinned_set")
    register(root, 5)
    resolver.resolve(root, "explore", force=True)
    experiments.create(root, "momentum-test", "explore", None, {"lookback": "20", "label": "é \"q\" \\"})
    db_file = worker_db(tmp_path_factory)
    result = rebuild(root, db_file)
    assert result.ok, result.failures
    shutil.copyfile(db_file, root / "quantbot.duckdb")
    return root


def worker_db(tmp_path_factory):
    """One registry path per worker, shared with test_rebuild.py: dbt's partial parse stays warm."""
    db_file = tmp_path_factory.getbasetemp() / "worker-registry" / "quantbot.duckdb"
    db_file.parent.mkdir(exist_ok=True)
    return db_file


def test_registry_experiments_agrees_with_list(built, quantbot):
    items = quantbot("research", "experiments", "list", "--json", lake=built).json()["experiments"]
    assert len(items) == 3
    with duckdb.connect(str(built / "quantbot.duckdb"), read_only=True) as con:
        rows = con.execute("""
            select experiment_id, name, runset_id, resolution_id, resolution_hash, run_count, params, description,
                   strftime(created_at, '%Y-%m-%dT%H:%M:%S.%fZ')
            from registry.experiments order by created_at, experiment_id""").fetchall()
        members = con.execute("""
            select experiments.experiment_id, list(members.run_id order by members.run_id)
            from registry.experiments as experiments
            inner join registry.resolution_members as members on members.resolution_id = experiments.resolution_id
            group by all order by all""").fetchall()
    assert rows == [
        (item["experiment_id"], item["name"], item["runset_id"], item["resolution_id"], item["resolution_hash"],
         item["run_count"], item["params"], item["description"], item["created_at"])
        for item in items
    ]
    for experiment, run_ids in members:
        got = quantbot("research", "experiments", "get", experiment, "--json", lake=built).json()
        assert [run["run_id"] for run in got["runs"]] == run_ids


def tamper_experiment(lake_root, name, **changes):
    """Write an experiment file by hand (no checks, no lock), its id recomputed from its identity
    unless given, so that only the intended contract breaks."""
    with duckdb.connect() as con:
        record = {**lake.records(con, lake_root, lake.EXPERIMENTS, "name = 'frozen-look'")[0], "name": name}
    record.update(changes)
    if "experiment_id" not in changes:
        record["experiment_id"] = experiment_id(record["name"], dict(record["params"]), record["resolution_id"],
                                                record["runset_id"])
    path = lake.EXPERIMENTS.folder(lake_root) / f"part-tampered-{name}.parquet"
    pq.write_table(pa.Table.from_pylist([record], schema=lake.EXPERIMENTS.schema), path)
    return record


def failing(result):
    """{contract: its message} of a failed rebuild."""
    return dict(failure.split(" ", 1)[1].split(": ", 1) for failure in result.failures)


@pytest.fixture
def tampered(built, lake_root, tmp_path_factory):
    """A copy of the built lake to tamper with, and the built registry at the worker's path."""
    shutil.copytree(built, lake_root)
    db_file = worker_db(tmp_path_factory)
    shutil.copyfile(built / "quantbot.duckdb", db_file)
    return db_file


def assert_registry_kept(db_file):
    with duckdb.connect(str(db_file), read_only=True) as con:
        assert con.execute("select count(*) from registry.experiments").fetchall() == [(3,)]


def test_a_forged_or_missing_resolution_fails_the_rebuild_by_its_contract(tampered, lake_root, quantbot):
    """Both tampered records in one rebuild (a rebuild costs seconds): the contract finds each."""
    forged = tamper_experiment(lake_root, "forged", resolution_hash="0" * 64)
    missing = tamper_experiment(lake_root, "missing", resolution_id="d" * 64)
    result = rebuild(lake_root, tampered)
    assert not result.ok
    assert failing(result) == {"assert_experiments_pin_an_existing_resolution": "Got 2 results, configured to fail if != 0"}
    assert_registry_kept(tampered)
    for record in (forged, missing):  # reads refuse to show a pin that does not hold, rather than guess
        assert_one_error_line(
            quantbot("research", "experiments", "get", record["experiment_id"]),
            f"error: experiment {record['experiment_id']} pins resolution {record['resolution_id']}, which the lake "
            f"does not hold for RunSet {record['runset_id']} with resolution_hash {record['resolution_hash']}; "
            "`quantbot registry rebuild` names the contract it breaks")


def test_an_id_that_does_not_recompute_or_a_changed_record_fails_the_rebuild_by_its_contract(tampered, lake_root):
    tamper_experiment(lake_root, "wrong-id", experiment_id="e" * 64)
    tamper_experiment(lake_root, "frozen-look", description="changed")  # same identity, other content
    result = rebuild(lake_root, tampered)
    assert not result.ok
    assert failing(result) == {
        "assert_experiment_ids_recompute": "Got 1 result, configured to fail if != 0",
        "stg_experiments_one_content_per_experiment_id": "Got 1 result, configured to fail if != 0",
    }
    assert_registry_kept(tampered)


def test_reading_experiments_never_imports_dbt(tmp_path):
    script = (
        "import sys\n"
        "from quantbot_dbt.cli import app\n"
        f"app(['research', 'experiments', 'list', '--lake', {str(tmp_path)!r}], standalone_mode=False)\n"
        "print(sorted({name.split('.')[0] for name in sys.modules if name.split('.')[0] == 'dbt'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"
