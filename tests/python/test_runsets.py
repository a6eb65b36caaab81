"""`quantbot runset ...` and `quantbot run tag|untag`: identity, filters, the seed's two workflows,
--as-of, delete/revive, diff, list, state ordering and the empty selection.

Lakes of datasets and runs are set up in-process (records.register_*, fast); every command under
test runs through the real CLI. Expected ids and hashes are computed here with hashlib, never with
the library's own id functions. ENGINEERING-NOTES.md lists the 13 failures of the first
implementation; the test that would catch each one says so ("#N").
"""

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_error_line, lake_files

from quantbot_dbt import lake as lake_module
from quantbot_dbt import resolver
from quantbot_dbt.records import RunInput, dataset_record, register_dataset, register_runs, run_batches, run_records

NAME_RULE = "use letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-')"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()


# ---------------------------------------------------------------- independent ids


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run_id(fields: dict) -> str:
    identity = {
        "callers": sorted(set(fields["callers"])), "dataset_ids": sorted(set(fields["dataset_ids"])),
        "engine_version": fields["engine_version"], "seed": fields["seed"], "strategy_hash": fields["strategy_hash"],
        "window_from": fields["window_from"], "window_to": fields["window_to"],
    }
    return sha(canonical(identity))


def resolution_hash(run_ids) -> str:
    return sha("\n".join(sorted(run_ids)))


def colliding_strategy_hashes() -> tuple[str, str, str]:
    """Two --strategy-hash values whose RunSet ids share their first 8 hex digits (birthday search)."""
    seen: dict[str, str] = {}
    number = 0
    while True:
        value = f"h{number}"
        prefix = sha('{"datasets":["D1"],"status":"completed","strategy_hashes":["%s"]}' % value)[:8]
        if prefix in seen:
            return seen[prefix], value, prefix
        seen[prefix] = value
        number += 1


COLLIDING = colliding_strategy_hashes()


# ---------------------------------------------------------------- a universe of runs for the filters
#
# key  datasets  strategy engine  callers     window                    status     family
# a    D1        s1       1.0.0   alice       2025-10-01..2025-10-31    completed  momentum
# b    D1,D2     s1       1.0.0   alice,bob   2025-10-01..2025-12-31    completed  momentum  (ends on --to)
# c    D1        s2       1.1.0   bob         2025-09-30..2025-10-15    completed  meanrev   (starts before --from)
# d    D1        s2       1.1.0   carol       2025-11-01..2025-11-30    failed     meanrev
# e    D2        s3       2.0.0   alice       2025-12-15..2026-01-15    completed  -
# f    D1        s1       1.0.0   carol,dave  2025-10-05..2025-10-06    completed  momentum
# g    D1        s3       2.0.0   alice       2025-09-01..2025-09-30    completed  -         (ends before --from)
# h    D1        s3       1.0.0   bob         2025-12-31..2026-01-31    completed  meanrev   (starts on --to)
# i    D1        s1       1.1.0   alice       2026-01-01..2026-01-31    completed  momentum  (starts after --to)
#
# Artifacts: a has 1, b has 2 (b is in two datasets: a join through datasets would count 4).


def universe_run(seed, datasets, strategy, engine, callers, window_from, window_to, status, family):
    fields = {"dataset_ids": datasets, "strategy_hash": strategy, "engine_version": engine, "seed": seed,
              "callers": callers, "window_from": window_from, "window_to": window_to, "status": status}
    if family:
        fields["strategy_family"] = family
    return fields


UNIVERSE = {
    "a": universe_run(1, ["D1"], "s1", "1.0.0", ["alice"], "2025-10-01", "2025-10-31", "completed", "momentum"),
    "b": universe_run(2, ["D1", "D2"], "s1", "1.0.0", ["alice", "bob"], "2025-10-01", "2025-12-31", "completed", "momentum"),
    "c": universe_run(3, ["D1"], "s2", "1.1.0", ["bob"], "2025-09-30", "2025-10-15", "completed", "meanrev"),
    "d": universe_run(4, ["D1"], "s2", "1.1.0", ["carol"], "2025-11-01", "2025-11-30", "failed", "meanrev"),
    "e": universe_run(5, ["D2"], "s3", "2.0.0", ["alice"], "2025-12-15", "2026-01-15", "completed", None),
    "f": universe_run(6, ["D1"], "s1", "1.0.0", ["carol", "dave"], "2025-10-05", "2025-10-06", "completed", "momentum"),
    "g": universe_run(7, ["D1"], "s3", "2.0.0", ["alice"], "2025-09-01", "2025-09-30", "completed", None),
    "h": universe_run(8, ["D1"], "s3", "1.0.0", ["bob"], "2025-12-31", "2026-01-31", "completed", "meanrev"),
    "i": universe_run(9, ["D1"], "s1", "1.1.0", ["alice"], "2026-01-01", "2026-01-31", "completed", "momentum"),
}
U = {key: run_id(fields) for key, fields in UNIVERSE.items()}
ARTIFACTS_OF = {"a": 1, "b": 2}


def ids(keys: str) -> list[str]:
    return sorted(U[key] for key in keys)


def register(lake_root, *runs) -> list[str]:
    """Register runs in-process; their ids must be the ones computed here."""
    registration = register_runs(lake_root, [RunInput(dict(run)) for run in runs])
    assert registration.written == [run_id(run) for run in runs]
    return registration.written


def register_datasets(lake_root, *dataset_ids, kind="ohlcv"):
    for dataset_id in dataset_ids:
        register_dataset(lake_root, dataset_record(dataset_id, kind))


@pytest.fixture(scope="module")
def universe_template(tmp_path_factory):
    """The universe registered once per test worker; each test gets a copy of it (fast)."""
    folder = tmp_path_factory.mktemp("universe")
    template = folder / "lake"
    register_datasets(template, "D1", "D2", "D3")
    files = {}
    for name in ("a-trades", "b-trades", "b-metrics"):
        files[name] = folder / f"{name}.csv"
        files[name].write_text(f"content of {name}\n")
    with_artifacts = dict(UNIVERSE)
    with_artifacts["a"] = {**UNIVERSE["a"], "artifacts": [{"kind": "trades", "uri": str(files["a-trades"])}]}
    with_artifacts["b"] = {**UNIVERSE["b"], "artifacts": [{"kind": "trades", "uri": str(files["b-trades"])},
                                                          {"kind": "metrics", "uri": str(files["b-metrics"])}]}
    register(template, *with_artifacts.values())
    return template


@pytest.fixture
def universe(universe_template, lake_root):
    shutil.copytree(universe_template, lake_root)
    return U


# ---------------------------------------------------------------- the seed's RunSet

Q4 = "ohlcv_v2_2025Q4"
BROOK = "brook_baseline_2025Q4"
BROOK_CREATE = ["runset", "create", "--id", BROOK, "--dataset", Q4, "--caller", "whale_watcher",
                "--from", "2025-10-01", "--to", "2025-12-31", "--tags", "baseline,q4"]


def q4_run(seed, **overrides):
    fields = {"dataset_ids": [Q4], "strategy_hash": "momentum_v3", "engine_version": "1.0.0", "seed": seed,
              "callers": ["whale_watcher"], "window_from": "2025-10-01", "window_to": "2025-10-31", "status": "completed"}
    return {**fields, **overrides}


@pytest.fixture
def q4(lake_root):
    register_datasets(lake_root, Q4)


def no_temp_files(lake_root):
    """#7: every write is a temp file renamed into place; none may be left behind."""
    assert [name for name in lake_files(lake_root) if name.endswith(".tmp")] == []


# ---------------------------------------------------------------- 1. identity and names


def test_runset_id_is_the_sha256_of_the_stored_canonical_spec_and_labels_do_not_change_it(universe, cli, lake_root):
    # Lists given unsorted and with duplicates; labels (--tags, --description) given too.
    created = cli(
        "runset", "create", "--id", "messy", "--dataset", "D2", "--dataset", "D1", "--dataset", "D1",
        "--caller", "bob", "--caller", "alice", "--caller", "bob", "--from", "2025-10-01", "--to", "2025-12-31",
        "--strategy-hash", "s2", "--strategy-hash", "s1", "--engine-version", "1.1.0", "--engine-version", "1.0.0",
        "--strategy-family", "momentum", "--run-tag", "y", "--run-tag", "x",
        "--run", U["b"], "--run", U["a"], "--run", U["b"], "--tags", "q4,baseline", "--description", "Q4 baseline",
    )
    first, second = sorted([U["a"], U["b"]])
    spec_json = (
        '{"callers":["alice","bob"],"datasets":["D1","D2"],"engine_versions":["1.0.0","1.1.0"],"match":"within",'
        f'"run_ids":["{first}","{second}"],"run_tags":["x","y"],"status":"completed","strategy_family":"momentum",'
        '"strategy_hashes":["s1","s2"],"window_from":"2025-10-01","window_to":"2025-12-31"}'
    )
    runset_id = sha(spec_json)
    assert created == {"runset_id": runset_id, "name": "messy", "spec_json": spec_json,
                       "written": ["spec", "name", "tags", "description"]}

    got = cli("runset", "get", "messy")
    assert (got["runset_id"], got["spec_json"], sha(got["spec_json"])) == (runset_id, spec_json, runset_id)  # #2
    assert got["spec"] == json.loads(spec_json)
    assert (got["name"], got["names"], got["tags"], got["description"]) == ("messy", ["messy"], ["baseline", "q4"], "Q4 baseline")
    assert (got["frozen"], got["deleted"], got["current_resolution_id"], got["run_count"]) == (False, False, None, None)

    # The stored record itself: one file, in the folder named by its own id (#5), holding exactly that string.
    (spec_file,) = [name for name in lake_files(lake_root) if name.startswith("runsets/")]
    assert spec_file.startswith(f"runsets/runset_id={runset_id}/part-")
    stored = pq.read_table(lake_root / "registry" / spec_file).to_pylist()
    assert [(row["runset_id"], row["spec_json"]) for row in stored] == [(runset_id, spec_json)]

    # The same selection in another order, with the defaults spelled out and no labels: same id.
    alias = cli(
        "runset", "create", "--id", "tidy", "--dataset", "D1", "--dataset", "D2", "--caller", "alice", "--caller", "bob",
        "--from", "2025-10-01", "--to", "2025-12-31", "--strategy-hash", "s1", "--strategy-hash", "s2",
        "--engine-version", "1.0.0", "--engine-version", "1.1.0", "--strategy-family", "momentum",
        "--run-tag", "x", "--run-tag", "y", "--run", U["a"], "--run", U["b"], "--status", "completed", "--match", "within",
    )
    assert (alias["runset_id"], alias["spec_json"], alias["written"]) == (runset_id, spec_json, ["name"])
    # Two names, one spec: the second name finds it too, and it knows both.
    got = cli("runset", "get", "tidy")
    assert (got["runset_id"], got["name"], got["names"]) == (runset_id, "tidy", ["messy", "tidy"])


def test_same_name_and_spec_again_writes_nothing_and_same_name_other_spec_is_refused(universe, quantbot, cli, lake_root):
    created = cli("runset", "create", "--id", "q4", "--dataset", "D1", "--caller", "alice", "--tags", "baseline")
    before = lake_files(lake_root)
    again = quantbot("runset", "create", "--id", "q4", "--dataset", "D1", "--caller", "alice", "--tags", "baseline")
    assert (again.code, again.stderr) == (0, "")
    assert again.stdout == f"RunSet q4 already exists with this spec ({created['runset_id']}); nothing written\n"
    assert lake_files(lake_root) == before
    assert_one_error_line(
        quantbot("runset", "create", "--id", "q4", "--dataset", "D1", "--caller", "bob"),
        f"error: RunSet name 'q4' already points at {created['runset_id']} with another spec; "
        "names are permanent: choose a new name for a new selection",
    )
    assert lake_files(lake_root) == before


def test_references_by_name_full_id_and_unique_prefix_and_unknown_or_too_short(universe, quantbot, cli):
    runset_id = cli("runset", "create", "--id", BROOK, "--dataset", "D1")["runset_id"]
    assert runset_id == sha('{"datasets":["D1"],"status":"completed"}')
    for ref in (BROOK, runset_id, runset_id[:8]):
        got = cli("runset", "get", ref)
        assert (got["runset_id"], got["name"]) == (runset_id, BROOK)  # #1: the name is kept and shown
    assert_one_error_line(quantbot("runset", "get", "nope"), "error: no RunSet matches 'nope' (by name, id or id prefix)")
    assert_one_error_line(
        quantbot("runset", "get", runset_id[:7]),
        f"error: no RunSet matches '{runset_id[:7]}' (by name, id or id prefix); an id prefix needs at least 8 characters"
    )


def test_an_ambiguous_id_prefix_is_refused_and_a_longer_one_works(universe, quantbot, cli):
    first_hash, second_hash, prefix = COLLIDING
    first = cli("runset", "create", "--id", "first", "--dataset", "D1", "--strategy-hash", first_hash)["runset_id"]
    second = cli("runset", "create", "--id", "second", "--dataset", "D1", "--strategy-hash", second_hash)["runset_id"]
    assert first[:8] == second[:8] == prefix and first != second
    shown = ", ".join(sorted([first[:16], second[:16]]))
    assert_one_error_line(
        quantbot("runset", "resolve", prefix), f"error: RunSet reference '{prefix}' is ambiguous: it matches {shown}"
    )
    common = next(n for n in range(8, 64) if first[n] != second[n])
    got = cli("runset", "get", second[: common + 1])
    assert (got["runset_id"], got["name"]) == (second, "second")


# ---------------------------------------------------------------- 2. every filter applies

RUN_FILTER = ["--run", U["a"], "--run", U["d"][:10], "--run", U["e"]]  # a unique prefix works as a run id
# (case, filters, members, runs excluded only by status); #10: each case's members differ from
# what it would select with its distinguishing filter ignored.
FILTER_CASES = [
    ("one-dataset", ["--dataset", "D1"], "abcfghi", 1),
    ("all-datasets", ["--dataset", "D1", "--dataset", "D2"], "b", 0),
    ("caller-within", ["--dataset", "D1", "--caller", "alice"], "agi", 0),
    ("caller-overlap", ["--dataset", "D1", "--caller", "alice", "--match", "overlap"], "abgi", 0),
    ("window-within", ["--dataset", "D1", "--from", "2025-10-01", "--to", "2025-12-31"], "abf", 1),  # #9
    ("window-overlap", ["--dataset", "D1", "--from", "2025-10-01", "--to", "2025-12-31", "--match", "overlap"], "abcfh", 1),
    ("strategy-hash", ["--dataset", "D1", "--strategy-hash", "s2", "--strategy-hash", "s3"], "cgh", 1),
    ("strategy-family", ["--dataset", "D1", "--strategy-family", "meanrev"], "ch", 1),
    ("engine-version", ["--dataset", "D1", "--engine-version", "1.1.0", "--engine-version", "2.0.0"], "cgi", 1),
    ("status-failed", ["--dataset", "D1", "--status", "failed"], "d", 7),
    ("status-any", ["--dataset", "D1", "--status", "any"], "abcdfghi", 0),
    ("run-ids", ["--dataset", "D1", *RUN_FILTER], "a", 1),
]


@pytest.mark.parametrize("case, filters, members, excluded", FILTER_CASES, ids=[case[0] for case in FILTER_CASES])
def test_every_filter_applies(universe, cli, case, filters, members, excluded):
    created = cli("runset", "create", "--id", case, *filters, "--resolve")
    assert created["runset_id"] == sha(created["spec_json"])
    resolution = created["resolution"]
    assert resolution["run_ids"] == ids(members)
    assert resolution["run_count"] == len(members)
    assert resolution["resolution_hash"] == resolution_hash(ids(members))
    assert resolution["artifact_count"] == sum(ARTIFACTS_OF.get(key, 0) for key in members)  # #12: b counted once
    assert resolution["coverage"]["runs_excluded_by_status"] == excluded
    assert (resolution["runset_id"], resolution["name"], resolution["recorded"]) == (created["runset_id"], case, True)


def test_a_run_file_without_artifact_counts_is_counted_from_the_artifact_files(universe, cli, lake_root, tmp_path):
    """Runs carry their artifact count (resolve sums it); a run file written without it (an older
    writer, a file made by hand) still counts: resolve reads those runs' artifacts instead."""
    outputs = []
    for number in range(3):
        outputs.append(tmp_path / f"older-{number}.csv")
        outputs[-1].write_text(f"older output {number}\n")
    fields = {**universe_run(10, ["D3"], "s9", "1.0.0", ["zoe"], "2025-10-01", "2025-10-02", "completed", None),
              "artifacts": [{"kind": "diagnostics", "uri": str(path)} for path in outputs]}
    record, artifacts = run_records(RunInput(fields))
    batches = run_batches([record], {record["run_id"]: {a["artifact_id"]: a for a in artifacts}}, lake_module.utc_now())
    for columns in batches[1].groups.values():
        columns["artifact_count"] = [None]  # as a writer without the column
    lake_module.append(lake_root, batches)

    created = cli("runset", "create", "--id", "older", "--dataset", "D3", "--resolve")

    assert (created["resolution"]["run_ids"], created["resolution"]["artifact_count"]) == ([run_id(fields)], 3)
    both = cli("runset", "create", "--id", "both", "--dataset", "D1", "--dataset", "D2", "--status", "any", "--resolve")
    assert both["resolution"]["artifact_count"] == ARTIFACTS_OF["b"]  # counted runs still counted


def test_combined_filters_and_their_coverage(universe, cli):
    resolution = cli("runset", "create", "--id", "combined", "--dataset", "D1", "--caller", "alice", "--caller", "zed",
                     "--from", "2025-10-01", "--to", "2025-12-31", "--resolve")["resolution"]
    assert resolution["run_ids"] == ids("a")  # b has bob; g and i are outside the window
    assert resolution["coverage"] == {
        "datasets": ["D1"], "runs_excluded_by_status": 0,
        "members_window_from": "2025-10-01", "members_window_to": "2025-10-31",
        "requested_days": 92, "covered_days": 31, "uncovered": [["2025-11-01", "2025-12-31"]],
        "callers_with_runs": ["alice"], "callers_without_runs": ["zed"],
    }
    assert resolution["warnings"] == ["61 of 92 requested days have no run: 2025-11-01..2025-12-31",
                                      "callers with no run: zed"]


def test_run_tags_select_runs_and_untag_removes_them_at_the_next_forced_resolve(universe, cli):
    assert cli("run", "tag", U["a"], "golden") == {"run_id": U["a"], "tags": ["golden"], "changed": ["golden"]}
    tagged = cli("run", "tag", U["b"][:12], "x", "golden")  # a unique prefix names the run
    assert tagged == {"run_id": U["b"], "tags": ["golden", "x"], "changed": ["golden", "x"]}
    golden = cli("runset", "create", "--id", "golden", "--dataset", "D1", "--run-tag", "golden", "--resolve")["resolution"]
    assert golden["run_ids"] == ids("ab")
    both = cli("runset", "create", "--id", "both", "--dataset", "D1", "--run-tag", "golden", "--run-tag", "x",
               "--resolve")["resolution"]
    assert both["run_ids"] == ids("b")  # every tag, not any
    assert cli("run", "untag", U["a"], "golden") == {"run_id": U["a"], "tags": [], "changed": ["golden"]}
    cached = cli("runset", "resolve", "golden")
    assert (cached["resolution_id"], cached["run_ids"], cached["recorded"]) == (golden["resolution_id"], ids("ab"), False)
    forced = cli("runset", "resolve", "golden", "--force")
    assert (forced["run_ids"], forced["resolution_hash"], forced["recorded"]) == (ids("b"), resolution_hash(ids("b")), True)


BAD_FILTERS = [
    (["--from", "2025-13-01", "--to", "2025-12-31"], "error: invalid --from date '2025-13-01': not a calendar date"),
    (["--from", "2026-01-01", "--to", "2025-12-31"], "error: --from 2026-01-01 is after --to 2025-12-31"),
    (["--caller", "../alice"], f"error: invalid caller '../alice': {NAME_RULE}"),
    (["--caller", "o'brien"], f"error: invalid caller \"o'brien\": {NAME_RULE}"),
    (["--caller", '"alice"'], f"error: invalid caller '\"alice\"': {NAME_RULE}"),
    (["--match", "overlap"], "error: --match applies to --caller and --from/--to; give one of them or drop --match"),
    (["--run", "abc123"], "error: invalid run id 'abc123': expected 8 to 64 lowercase hex characters"),
    (["--dataset", "nope"], "error: dataset(s) not registered: nope"),
]


@pytest.mark.parametrize("filters, message", BAD_FILTERS, ids=[" ".join(case[0])[:40] for case in BAD_FILTERS])
def test_bad_filter_values_are_refused_with_one_line_and_write_nothing(universe, quantbot, lake_root, filters, message):
    before = lake_files(lake_root)
    assert_one_error_line(quantbot("runset", "create", "--id", "bad", "--dataset", "D1", *filters), message)
    assert lake_files(lake_root) == before


def test_an_unknown_status_is_refused_with_one_line(universe, quantbot, lake_root):
    before = lake_files(lake_root)
    result = quantbot("runset", "create", "--id", "bad", "--dataset", "D1", "--status", "done")
    assert result.code == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: unknown status 'done': expected one of ")
    assert lake_files(lake_root) == before


def test_the_unknown_status_message_lists_every_accepted_value(universe, quantbot):
    result = quantbot("runset", "create", "--id", "bad", "--dataset", "D1", "--status", "done")
    (line,) = result.stderr.splitlines()
    accepted = line.split("expected one of ", 1)[1]
    assert sorted(accepted.replace(" or ", ", ").split(", ")) == ["any", "completed", "failed"]


# ---------------------------------------------------------------- 3. exploration workflow


def test_exploration_resolve_is_cached_until_force_picks_up_new_runs(q4, lake_root, cli):
    first_runs = register(lake_root, q4_run(1), q4_run(2), q4_run(3, window_from="2025-12-01", window_to="2025-12-31"),
                          q4_run(4, callers=["someone_else"]), q4_run(5, status="failed"))[:3]
    created = cli(*BROOK_CREATE)
    assert created["written"] == ["spec", "name", "tags"]
    first = cli("runset", "resolve", BROOK)
    assert (first["name"], first["runset_id"]) == (BROOK, created["runset_id"])  # #1
    assert first["run_ids"] == sorted(first_runs)  # #11: an exploration RunSet has members
    assert (first["run_count"], first["resolution_hash"]) == (3, resolution_hash(first_runs))
    assert (first["recorded"], first["frozen"], first["coverage"]["runs_excluded_by_status"]) == (True, False, 1)

    new_runs = register(lake_root, q4_run(6, window_from="2025-11-01", window_to="2025-11-30"), q4_run(7),
                        q4_run(8, window_to="2026-01-01"))[:2]
    cached = cli("runset", "resolve", BROOK)
    assert cached == {**first, "recorded": False}

    forced = cli("runset", "resolve", BROOK, "--force")
    assert forced["run_ids"] == sorted(first_runs + new_runs)
    assert (forced["run_count"], forced["recorded"]) == (5, True)
    assert forced["resolution_hash"] == resolution_hash(first_runs + new_runs)
    assert forced["resolution_id"] != first["resolution_id"]

    history = cli("runset", "history", BROOK)
    assert history["runset_id"] == created["runset_id"]
    listed = [(item["resolution_id"], item["run_count"], item["resolution_hash"], item["frozen"])
              for item in history["resolutions"]]
    assert listed == [
        (forced["resolution_id"], 5, forced["resolution_hash"], False),
        (first["resolution_id"], 3, first["resolution_hash"], False),
    ]
    assert history["resolutions"][0]["resolved_at"] > history["resolutions"][1]["resolved_at"]
    no_temp_files(lake_root)


# ---------------------------------------------------------------- 4. reproducible workflow


def test_freeze_pins_the_resolution_the_user_saw_and_resolve_stays_pinned(q4, lake_root, quantbot, cli):
    seen_runs = register(lake_root, q4_run(1), q4_run(2))
    seen = cli(*BROOK_CREATE, "--resolve")["resolution"]
    assert (seen["run_ids"], seen["resolution_hash"]) == (sorted(seen_runs), resolution_hash(seen_runs))
    register(lake_root, q4_run(3))  # registered after the user looked, before the freeze: #4

    froze = quantbot("runset", "freeze", BROOK)
    assert (froze.code, froze.stderr) == (0, "")
    assert froze.stdout == (f"froze RunSet {BROOK} at resolution {seen['resolution_id']}: "
                            f"2 runs, resolution_hash={seen['resolution_hash']}\n")
    history = cli("runset", "history", BROOK)["resolutions"]
    assert [(item["resolution_id"], item["frozen"]) for item in history] == [(seen["resolution_id"], True)]  # no re-resolve

    more_runs = register(lake_root, q4_run(4))
    pinned = cli("runset", "resolve", BROOK)
    assert (pinned["resolution_id"], pinned["resolution_hash"], pinned["run_ids"]) == (
        seen["resolution_id"], seen["resolution_hash"], seen["run_ids"])
    assert (pinned["frozen"], pinned["recorded"]) == (True, False)

    before = lake_files(lake_root)
    assert_one_error_line(
        quantbot("runset", "resolve", BROOK, "--force"),
        f"error: RunSet {BROOK} is frozen; `quantbot runset unfreeze` it before --force",
    )
    assert lake_files(lake_root) == before

    unfrozen = cli("runset", "unfreeze", BROOK)
    assert (unfrozen["changed"], unfrozen["frozen"], unfrozen["pinned_resolution_id"]) == (True, False, None)
    fresh = cli("runset", "resolve", BROOK, "--force")
    everything = seen_runs + [run_id(q4_run(3))] + more_runs
    assert (fresh["run_ids"], fresh["run_count"]) == (sorted(everything), 4)
    assert (fresh["resolution_hash"], fresh["frozen"], fresh["recorded"]) == (resolution_hash(everything), False, True)
    no_temp_files(lake_root)


def test_freeze_an_older_resolution_and_refreezing_elsewhere_is_refused(q4, lake_root, quantbot, cli):
    register(lake_root, q4_run(1))
    older = cli(*BROOK_CREATE, "--resolve")["resolution"]
    register(lake_root, q4_run(2))
    newer = cli("runset", "resolve", BROOK, "--force")
    assert (older["run_count"], newer["run_count"]) == (1, 2)

    frozen = cli("runset", "freeze", BROOK, "--resolution", older["resolution_id"])
    assert (frozen["changed"], frozen["frozen"], frozen["pinned_resolution_id"]) == (True, True, older["resolution_id"])
    assert (frozen["current_resolution_id"], frozen["latest_resolution_id"]) == (older["resolution_id"], newer["resolution_id"])
    assert (frozen["run_count"], frozen["resolution_hash"]) == (1, older["resolution_hash"])

    before = lake_files(lake_root)
    assert_one_error_line(
        quantbot("runset", "freeze", BROOK, "--resolution", newer["resolution_id"]),
        f"error: RunSet {BROOK} is already frozen at resolution {older['resolution_id']}; unfreeze it first",
    )
    again = cli("runset", "freeze", BROOK, "--resolution", older["resolution_id"])
    assert (again["changed"], again["pinned_resolution_id"]) == (False, older["resolution_id"])
    assert lake_files(lake_root) == before


def test_freezing_a_never_resolved_runset_resolves_it_first(q4, lake_root, quantbot, cli):
    runs = register(lake_root, q4_run(1), q4_run(2), q4_run(3))
    resolver.create_runset(lake_root, BROOK, resolver.runset_spec([Q4], callers=["whale_watcher"]))
    runset_id = sha('{"callers":["whale_watcher"],"datasets":["%s"],"match":"within","status":"completed"}' % Q4)
    assert_one_error_line(
        quantbot("runset", "freeze", BROOK, "--resolution", "0" * 64),
        f"error: resolution '{'0' * 64}' is not a resolution of RunSet {runset_id}",
    )
    frozen = cli("runset", "freeze", BROOK)
    assert (frozen["changed"], frozen["frozen"], frozen["run_count"]) == (True, True, 3)
    assert frozen["resolution_hash"] == resolution_hash(runs)
    (only,) = cli("runset", "history", BROOK)["resolutions"]
    assert (only["resolution_id"], only["frozen"], only["run_count"]) == (frozen["pinned_resolution_id"], True, 3)


# ---------------------------------------------------------------- 5. --as-of


def test_as_of_gives_the_earlier_selection_and_records_nothing(q4, lake_root, quantbot, cli):
    earlier = register(lake_root, q4_run(1), q4_run(2))
    first = cli(*BROOK_CREATE, "--resolve")["resolution"]
    time.sleep(0.02)
    instant = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.02)
    later = register(lake_root, q4_run(3))
    second = cli("runset", "resolve", BROOK, "--force")
    assert second["run_ids"] == sorted(earlier + later)

    before = lake_files(lake_root)
    as_z = instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    as_plus_two = instant.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    for as_of in (as_z, as_plus_two):
        past = cli("runset", "resolve", BROOK, "--as-of", as_of)
        assert past["run_ids"] == sorted(earlier)
        assert past["resolution_hash"] == first["resolution_hash"] == resolution_hash(earlier)
        assert (past["resolution_id"], past["resolved_at"], past["recorded"]) == (None, None, False)
        assert dt.datetime.fromisoformat(past["as_of"].replace("Z", "+00:00")) == instant
    assert lake_files(lake_root) == before
    history = cli("runset", "history", BROOK)["resolutions"]
    assert [item["resolution_id"] for item in history] == [second["resolution_id"], first["resolution_id"]]
    assert_one_error_line(
        quantbot("runset", "resolve", BROOK, "--as-of", as_z, "--force"),
        "error: --as-of computes a past selection without recording it; drop --force",
    )


# ---------------------------------------------------------------- 6. delete and revive


def test_delete_hides_the_runset_and_create_revives_it_with_its_resolutions(q4, lake_root, quantbot, cli):
    runs = register(lake_root, q4_run(1), q4_run(2))
    resolution = cli(*BROOK_CREATE, "--resolve")["resolution"]
    deleted = cli("runset", "delete", BROOK)
    assert (deleted["changed"], deleted["deleted"]) == (True, True)
    assert cli("runset", "list") == {"runsets": []}
    assert_one_error_line(quantbot("runset", "get", BROOK), f"error: RunSet {BROOK} is deleted (see it with --include-deleted)")
    got = cli("runset", "get", BROOK, "--include-deleted")
    assert (got["deleted"], got["current_resolution_id"], got["run_count"]) == (True, resolution["resolution_id"], 2)
    history = cli("runset", "history", BROOK)["resolutions"]
    assert [item["resolution_id"] for item in history] == [resolution["resolution_id"]]
    before = lake_files(lake_root)
    assert_one_error_line(quantbot("runset", "resolve", BROOK), f"error: RunSet {BROOK} is deleted; create it again to revive it")
    assert lake_files(lake_root) == before

    revived = cli(*BROOK_CREATE)
    assert (revived["runset_id"], revived["written"]) == (resolution["runset_id"], ["revived"])
    (listed,) = cli("runset", "list")["runsets"]
    assert (listed["name"], listed["deleted"], listed["tags"]) == (BROOK, False, ["baseline", "q4"])
    assert (listed["current_resolution_id"], listed["resolution_hash"]) == (resolution["resolution_id"], resolution_hash(runs))


def test_freezing_a_deleted_runset_is_refused_and_writes_nothing(q4, lake_root, quantbot):
    register(lake_root, q4_run(1))
    resolver.create_runset(lake_root, BROOK, resolver.runset_spec([Q4]))
    resolver.change_state(lake_root, BROOK, "delete")
    before = lake_files(lake_root)
    assert_one_error_line(quantbot("runset", "freeze", BROOK), f"error: RunSet {BROOK} is deleted; create it again to revive it")
    assert lake_files(lake_root) == before


# ---------------------------------------------------------------- 7. diff


def test_diff_between_resolutions_and_against_a_fresh_resolve(q4, lake_root, quantbot, cli):
    a, b, c = register(lake_root, q4_run(1), q4_run(2), q4_run(3))
    resolver.tag_run(lake_root, a, ["golden"])
    resolver.tag_run(lake_root, b, ["golden"])
    resolver.create_runset(lake_root, "never", resolver.runset_spec([Q4], callers=["nobody"]))
    assert_one_error_line(quantbot("runset", "diff", "never"), "error: RunSet never has no resolution yet: resolve it first")

    first = cli("runset", "create", "--id", "golden", "--dataset", Q4, "--run-tag", "golden", "--resolve")["resolution"]
    resolver.tag_run(lake_root, a, ["golden"], untag=True)
    resolver.tag_run(lake_root, c, ["golden"])
    second = cli("runset", "resolve", "golden", "--force")
    assert (first["run_ids"], second["run_ids"]) == (sorted([a, b]), sorted([b, c]))

    forward = cli("runset", "diff", "golden", "--from", first["resolution_id"], "--to", second["resolution_id"])
    assert forward == {"runset_id": first["runset_id"], "name": "golden", "from_resolution_id": first["resolution_id"],
                       "to_resolution_id": second["resolution_id"], "added": [c], "removed": [a], "unchanged_count": 1}

    (d,) = register(lake_root, q4_run(4))  # registered since the current resolution
    resolver.tag_run(lake_root, d, ["golden"])
    before = lake_files(lake_root)
    fresh = cli("runset", "diff", "golden")
    assert (fresh["from_resolution_id"], fresh["to_resolution_id"]) == (second["resolution_id"], None)
    assert (fresh["added"], fresh["removed"], fresh["unchanged_count"]) == ([d], [], 2)
    assert_one_error_line(
        quantbot("runset", "diff", "golden", "--to", first["resolution_id"], "--fresh"),
        "error: --to and --fresh are two different targets; give one",
    )
    assert lake_files(lake_root) == before  # a diff records nothing


# ---------------------------------------------------------------- 8. list


def test_list_filters_and_orders_by_name(lake_root, cli, quantbot):
    register_datasets(lake_root, "D1", "D2")
    for name, dataset, extra, tags in (("gamma", "D1", [], []), ("beta", "D1", ["s1"], ["q4", "baseline"]),
                                       ("delta", "D1", ["s2"], ["q4"]), ("alpha", "D2", [], ["q4"]),
                                       ("zeta", "D1", ["s1"], [])):
        resolver.create_runset(lake_root, name, resolver.runset_spec([dataset], strategy_hashes=extra), tags)
    resolver.change_state(lake_root, "gamma", "freeze")
    resolver.change_state(lake_root, "delta", "delete")

    def listed(*filters):
        return [(item["name"], item["names"]) for item in cli("runset", "list", *filters)["runsets"]]

    beta = ("beta", ["beta", "zeta"])  # two names, one RunSet: listed once, under its first name
    assert listed() == [("alpha", ["alpha"]), beta, ("gamma", ["gamma"])]
    assert listed("--tags", "baseline,q4") == [beta]
    assert listed("--frozen") == [("gamma", ["gamma"])]
    assert listed("--not-frozen") == [("alpha", ["alpha"]), beta]
    assert listed("--dataset", "D1") == [beta, ("gamma", ["gamma"])]
    assert listed("--include-deleted") == [("alpha", ["alpha"]), beta, ("delta", ["delta"]), ("gamma", ["gamma"])]
    assert_one_error_line(quantbot("runset", "list", "--dataset", "nope"), "error: dataset 'nope' is not registered")


# ---------------------------------------------------------------- 9. state changes never tie


def test_state_changes_at_the_same_instant_are_ordered_by_sequence(q4, lake_root, cli, monkeypatch):
    """#3 and #6: every record below carries the very same registered_at; the state must still be right.
    (Ordered by time instead of sequence, ties fall in file-name order, which is random: many
    resolutions and many freeze/unfreeze events make a lucky pass unlikely.)"""
    register(lake_root, q4_run(1))
    instant = dt.datetime(2026, 1, 29, 12, 0, 0)
    monkeypatch.setattr(lake_module, "utc_now", lambda: instant)
    resolver.create_runset(lake_root, "tie", resolver.runset_spec([Q4]))
    resolutions = [resolver.resolve(lake_root, "tie")]
    for seed in range(2, 6):
        register(lake_root, q4_run(seed))
        resolutions.append(resolver.resolve(lake_root, "tie", force=True))
    assert [resolution["run_count"] for resolution in resolutions] == [1, 2, 3, 4, 5]
    first, latest = resolutions[0]["resolution_id"], resolutions[-1]["resolution_id"]

    for resolution in resolutions[1:]:  # freeze, unfreeze, freeze, ... ending frozen at the first
        resolver.change_state(lake_root, "tie", "freeze", resolution["resolution_id"])
        resolver.change_state(lake_root, "tie", "unfreeze")
    resolver.change_state(lake_root, "tie", "freeze", first)
    got = cli("runset", "get", "tie")
    assert (got["frozen"], got["pinned_resolution_id"], got["current_resolution_id"]) == (True, first, first)
    assert (got["latest_resolution_id"], got["run_count"]) == (latest, 1)
    history = cli("runset", "history", "tie")["resolutions"]
    assert [(item["resolution_id"], item["frozen"]) for item in history] == [
        (resolution["resolution_id"], resolution["resolution_id"] == first) for resolution in reversed(resolutions)]

    resolver.change_state(lake_root, "tie", "unfreeze")
    got = cli("runset", "get", "tie")
    assert (got["frozen"], got["pinned_resolution_id"], got["current_resolution_id"]) == (False, None, latest)

    # The mechanism: one file per event (none overwrote another), one instant, a sequence that never repeats.
    def rows(table):
        paths = [lake_root / "registry" / name for name in lake_files(lake_root) if name.startswith(f"{table}/")]
        return paths, [row for path in paths for row in pq.read_table(path).to_pylist()]

    event_files, events = rows("runset_events")
    _, recorded = rows("resolutions")
    assert (len(event_files), len(events), len(recorded)) == (10, 10, 5)
    assert {row["registered_at"] for row in events + recorded} == {instant}
    sequence = sorted(row["event_seq"] for row in events + recorded)
    assert len(set(sequence)) == len(sequence) == 15
    # Each file's name states its event_seq: the next one comes from a folder listing.
    resolution_files, _ = rows("resolutions")
    stated = sorted(lake_module.event_seq_in_name(str(path)) for path in event_files + resolution_files)
    assert stated == sequence


def test_an_event_file_without_a_stated_event_seq_is_read_for_the_next_one(q4, lake_root):
    """A file not named by our writers (by hand, an older lake) cannot be skipped: its records count."""
    register(lake_root, q4_run(1))
    runset_id = resolver.create_runset(lake_root, "by_hand", resolver.runset_spec([Q4])).runset_id
    resolver.change_state(lake_root, "by_hand", "freeze", resolver.resolve(lake_root, "by_hand")["resolution_id"])
    hand_made = lake_module.RUNSET_EVENTS.folder(lake_root) / "part-by-hand.parquet"
    pq.write_table(pa.Table.from_pylist(
        [{**resolver.event_record(runset_id, "described", description="by hand"), "event_seq": 41,
          "registered_at": dt.datetime(2026, 1, 1)}], schema=lake_module.RUNSET_EVENTS.schema), hand_made)

    resolver.change_state(lake_root, "by_hand", "unfreeze")

    events = pq.read_table(lake_module.RUNSET_EVENTS.folder(lake_root)).to_pylist()
    assert sorted((row["event_seq"], row["event"]) for row in events) == [
        (2, "frozen"), (41, "described"), (42, "unfrozen")]


# ---------------------------------------------------------------- 10. empty selection


def test_an_empty_selection_has_the_hash_of_nothing_and_says_so(universe, quantbot, cli):
    nothing = cli("runset", "create", "--id", "nothing", "--dataset", "D3", "--from", "2025-10-01", "--to", "2025-10-31",
                  "--resolve")["resolution"]
    assert (nothing["run_ids"], nothing["run_count"], nothing["artifact_count"]) == ([], 0, 0)
    assert nothing["resolution_hash"] == EMPTY_HASH == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert nothing["warnings"] == ["no run matches the selection"]
    shown = quantbot("runset", "resolve", "nothing")
    assert (shown.code, shown.stderr) == (0, "")
    assert shown.stdout.splitlines() == [
        f"RunSet nothing ({nothing['runset_id']})", f"resolution {nothing['resolution_id']}",
        f"resolution_hash={EMPTY_HASH}", "0 runs, 0 artifacts", "coverage: 0 of 31 requested days",
        "warning: no run matches the selection",
    ]
    only_failed = cli("runset", "create", "--id", "only_failed", "--dataset", "D1", "--caller", "carol",
                      "--resolve")["resolution"]
    assert (only_failed["run_count"], only_failed["resolution_hash"]) == (0, EMPTY_HASH)
    assert only_failed["warnings"] == ["no run matches the selection (1 match every filter but --status)"]


# ---------------------------------------------------------------- an unreadable lake is an error


def test_an_unreadable_run_file_fails_the_resolve_instead_of_matching_nothing(universe, lake_root, quantbot, cli):
    """#5: a read error must surface, not become "no matching runs"."""
    cli("runset", "create", "--id", "all", "--dataset", "D1", "--resolve")
    broken = lake_root / "registry" / "runs" / "engine_version=1.0.0" / "month=2025-10" / "part-broken.parquet"
    broken.write_bytes(b"not parquet")
    before = lake_files(lake_root)
    result = quantbot("runset", "resolve", "all", "--force")
    assert result.code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and str(broken) in line
    assert lake_files(lake_root) == before


def test_a_resolution_whose_member_list_was_altered_by_hand_is_refused_when_shown(q4, lake_root, quantbot, cli):
    """States hold resolutions without their member lists; the one an answer shows is read in full,
    so a second record of it with other run ids is an error, never a silent pick."""
    register(lake_root, q4_run(1), q4_run(2))
    cli(*BROOK_CREATE)
    first = cli("runset", "resolve", BROOK)
    folder = lake_module.RESOLUTIONS.folder(lake_root) / f"runset_id={first['runset_id']}"
    (recorded,) = pq.read_table(folder, schema=lake_module.RESOLUTIONS.schema).to_pylist()
    altered = {**recorded, "run_ids": recorded["run_ids"][:1]}
    pq.write_table(pa.Table.from_pylist([altered], schema=lake_module.RESOLUTIONS.schema),
                   folder / f"part-by-hand-seq{recorded['event_seq']:019d}.parquet")
    assert cli("runset", "history", BROOK)["resolutions"][0]["run_count"] == 2  # history shows no member list
    assert_one_error_line(
        quantbot("runset", "resolve", BROOK),
        f"error: resolution_id {first['resolution_id']} has two different records in the lake; "
        "`quantbot registry rebuild` names the contract it breaks",
    )


@pytest.mark.parametrize("other_content", [{"status": "failed"}, {"dataset_ids": [Q4, "D9"]}])
def test_a_run_record_written_twice_is_one_member_and_a_run_with_two_contents_is_refused(
        q4, lake_root, quantbot, cli, other_content):
    """The same run record in two files (re-sent, or copied by hand) is one member. A second record of
    a run id with other content (a value, or a list: resolve compares a hash of the lists) is an
    error naming the run, never a silent pick of one of them."""
    first, second = register(lake_root, q4_run(1), q4_run(2))
    (run_file,) = lake_module.files(lake_root, lake_module.RUNS)
    copy = Path(run_file).with_name("part-by-hand-copy.parquet")
    shutil.copyfile(run_file, copy)
    resolution = cli(*BROOK_CREATE, "--resolve")["resolution"]
    assert (resolution["run_count"], resolution["resolution_hash"]) == (2, resolution_hash([first, second]))
    records = pq.read_table(run_file, schema=lake_module.RUNS.schema).to_pylist()
    altered = [{**record, **other_content} if record["run_id"] == second else record for record in records]
    pq.write_table(pa.Table.from_pylist(altered, schema=lake_module.RUNS.schema), copy)
    assert_one_error_line(
        quantbot("runset", "resolve", BROOK, "--force"),
        f"error: run_id {second} has two different records in the lake; "
        "`quantbot registry rebuild` names the contract it breaks",
    )


def test_a_run_file_outside_the_partition_layout_is_still_selected(universe, lake_root, cli):
    """Resolve prunes month= folders by the window; a file it cannot place (no month= folder above
    it: made by hand, or by an older layout) is read anyway, never silently skipped (#5, #10)."""
    fields = universe_run(11, ["D1"], "s1", "1.0.0", ["alice"], "2025-10-03", "2025-10-04", "completed", None)
    record, _ = run_records(RunInput(fields))
    hand_made = lake_root / "registry" / "runs" / "engine_version=1.0.0" / "hand-made.parquet"
    pq.write_table(pa.Table.from_pylist([{**record, "artifact_count": 0, "registered_at": lake_module.utc_now()}],
                                        schema=lake_module.RUNS.schema), hand_made)

    created = cli("runset", "create", "--id", "q4-alice", "--dataset", "D1", "--caller", "alice",
                  "--from", "2025-10-01", "--to", "2025-12-31", "--resolve")

    assert created["resolution"]["run_ids"] == sorted([*ids("a"), run_id(fields)])


# ---------------------------------------------------------------- labels


def test_runset_labels_are_added_and_removed_as_events_without_changing_the_id(q4, lake_root, cli, quantbot):
    created = cli("runset", "create", "--id", BROOK, "--dataset", Q4, "--tags", "baseline,q4")
    tagged = cli("runset", "tag", BROOK, "paper", "fig2", "baseline")
    assert (tagged["tags"], tagged["changed"]) == (["baseline", "fig2", "paper", "q4"], ["fig2", "paper"])
    untagged = cli("runset", "untag", created["runset_id"][:8], "q4", "never_there")
    assert (untagged["tags"], untagged["changed"]) == (["baseline", "fig2", "paper"], ["q4"])
    assert untagged["runset_id"] == created["runset_id"]
    assert [item["name"] for item in cli("runset", "list", "--tags", "fig2,paper")["runsets"]] == [BROOK]
    assert cli("runset", "list", "--tags", "q4")["runsets"] == []
    cli("runset", "delete", BROOK)
    assert_one_error_line(quantbot("runset", "tag", BROOK, "x"),
                          f"error: RunSet {BROOK} is deleted; create it again to revive it")


# ---------------------------------------------------------------- in-process: one DuckDB database per process
#
# Python sessions and the port call the library again and again; lake.connect() gives each call a
# connection to one in-memory database per process instead of a new database (~20 ms each).

THREAD_CASES = {  # name: (filters, members), from FILTER_CASES
    "caller-within": ({"callers": ["alice"]}, "agi"),
    "window-within": ({"window_from": "2025-10-01", "window_to": "2025-12-31"}, "abf"),
    "strategy-family": ({"strategy_family": "meanrev"}, "ch"),
    "status-any": ({"status": "any"}, "abcdfghi"),
}


def test_resolves_in_threads_of_one_process_each_select_their_own_runs(universe, lake_root):
    """Each call's temp views (lake_runs, ...) live on its own connection: four RunSets resolved at
    once, over and over, in four threads, never see one another's selection."""
    for name, (filters, _) in THREAD_CASES.items():
        resolver.create_runset(lake_root, name, resolver.runset_spec(["D1"], **filters))
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

    def members(name: str) -> list[list[str]]:
        return [resolver.resolve(lake_root, name, as_of=now)["run_ids"] for _ in range(10)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        selected = dict(zip(THREAD_CASES, pool.map(members, THREAD_CASES)))

    assert selected == {name: [ids(keys)] * 10 for name, (_, keys) in THREAD_CASES.items()}


def test_a_child_forked_after_a_resolve_resolves_on_a_database_of_its_own(universe, lake_root):
    """DuckDB's threads do not survive a fork: a child must not use the database its parent made."""
    resolver.create_runset(lake_root, "caller-within", resolver.runset_spec(["D1"], callers=["alice"]))
    first = resolver.resolve(lake_root, "caller-within")
    parent_database = lake_module.process_database(os.getpid())

    def child(answers: multiprocessing.Queue) -> None:
        answers.put((resolver.resolve(lake_root, "caller-within")["run_ids"],
                     lake_module.process_database(os.getpid()) is parent_database))

    fork = multiprocessing.get_context("fork")
    answers = fork.Queue()
    process = fork.Process(target=child, args=(answers,), daemon=True)  # a hung child must not hold pytest's exit
    process.start()
    process.join(timeout=60)

    assert process.exitcode == 0
    assert answers.get(timeout=5) == (ids("agi"), False)
    assert first["run_ids"] == ids("agi")
