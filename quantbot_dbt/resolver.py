"""RunSets: a named, declarative selection of runs; resolving it, freezing it, its history.

The resolver only points: it reads the Parquet lake (the truth, never the DuckDB cache), picks
runs by the spec's filters, and appends what it found. It never alters a run or a dataset.

State is derived from append-only events ordered by the lake-wide `event_seq` (see lake.py):
deleted iff the latest of deleted/revived is `deleted`; frozen iff the latest of
frozen/unfrozen is `frozen` (pinning that event's resolution); the current resolution is the
pinned one if frozen, else the latest. models/registry/ derives the same state in SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import duckdb

from . import lake
from .ids import (
    ID_PREFIX_PATTERN,
    MIN_PREFIX_LENGTH,
    InputError,
    canonical_json,
    parse_window,
    sha256_hex,
    validate_name,
    validate_names,
)
from .project import vocabulary
from .registry import get_dataset, get_run

RESOLVER_VERSION = "1"
MATCHES = ("within", "overlap")


# ---------------------------------------------------------------- specs and ids


def runset_spec(
    datasets: Iterable[str],
    callers: Iterable[str] = (),
    window_from: str | None = None,
    window_to: str | None = None,
    strategy_hashes: Iterable[str] = (),
    strategy_family: str | None = None,
    engine_versions: Iterable[str] = (),
    status: str = "completed",
    run_tags: Iterable[str] = (),
    run_ids: Iterable[str] = (),
    match: str = "within",
) -> dict[str, Any]:
    """The selection, validated and canonical: only the filters given, lists sorted and unique."""
    spec: dict[str, Any] = {"datasets": validate_names(datasets, "dataset id")}
    statuses = sorted(vocabulary("run_statuses") | {"any"})
    if status not in statuses:
        raise InputError(f"unknown status {status!r}: expected one of {', '.join(statuses)}")
    spec["status"] = status
    if match not in MATCHES:
        raise InputError(f"invalid --match {match!r}: expected within or overlap")
    callers, strategy_hashes, engine_versions, run_tags, run_ids = (
        list(callers), list(strategy_hashes), list(engine_versions), list(run_tags), list(run_ids),
    )
    if callers:
        spec["callers"] = validate_names(callers, "caller")
    start, end = parse_window(window_from, window_to, required=False)
    if start is not None:
        spec["window_from"], spec["window_to"] = start.isoformat(), end.isoformat()
    if callers or start is not None:
        spec["match"] = match
    elif match != "within":
        raise InputError("--match applies to --caller and --from/--to; give one of them or drop --match")
    if strategy_hashes:
        spec["strategy_hashes"] = validate_names(strategy_hashes, "strategy hash")
    if strategy_family is not None:
        spec["strategy_family"] = validate_name(strategy_family, "strategy family")
    if engine_versions:
        spec["engine_versions"] = validate_names(engine_versions, "engine version")
    if run_tags:
        spec["run_tags"] = validate_names(run_tags, "run tag")
    if run_ids:
        for run_id in run_ids:
            if not isinstance(run_id, str) or len(run_id) != 64 or not ID_PREFIX_PATTERN.match(run_id):
                raise InputError(f"invalid --run {run_id!r}: expected a full run id (64 hex characters)")
        spec["run_ids"] = sorted(set(run_ids))
    return spec


def runset_id_for(spec_json: str) -> str:
    return sha256_hex(spec_json)


def resolution_hash_for(run_ids: Iterable[str]) -> str:
    """sha256 of the sorted member run ids joined with newlines (the empty set: of "")."""
    return sha256_hex("\n".join(sorted(run_ids)))


def resolution_id_for(runset_id: str, event_seq: int, resolution_hash: str) -> str:
    return sha256_hex(canonical_json({"event_seq": event_seq, "resolution_hash": resolution_hash, "runset_id": runset_id}))


# ---------------------------------------------------------------- state


@dataclass
class RunSetState:
    runset_id: str
    spec: dict[str, Any]
    spec_json: str
    names: list[str]
    created_at: dt.datetime
    events: list[dict[str, Any]]  # ordered by event_seq
    # Ordered by event_seq, without their member lists: at 1M runs each resolution of a 1%
    # RunSet holds ~10k run ids, and reading every one of them made a state grow with its history
    # (16 resolutions: 57 ms, 21 ms without). `with_members` reads the one an answer shows.
    resolutions: list[dict[str, Any]]

    def latest_of(self, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        matching = [event for event in self.events if event["event"] in kinds]
        return matching[-1] if matching else None

    @property
    def deleted(self) -> bool:
        latest = self.latest_of(("deleted", "revived"))
        return latest is not None and latest["event"] == "deleted"

    @property
    def pinned_resolution_id(self) -> str | None:
        latest = self.latest_of(("frozen", "unfrozen"))
        return latest["resolution_id"] if latest is not None and latest["event"] == "frozen" else None

    @property
    def frozen(self) -> bool:
        return self.pinned_resolution_id is not None

    @property
    def latest_resolution(self) -> dict[str, Any] | None:
        return self.resolutions[-1] if self.resolutions else None

    @property
    def current_resolution(self) -> dict[str, Any] | None:
        if self.frozen:
            return self.resolution(self.pinned_resolution_id)
        return self.latest_resolution

    def resolution(self, resolution_id: str) -> dict[str, Any]:
        for resolution in self.resolutions:
            if resolution["resolution_id"] == resolution_id:
                return resolution
        raise InputError(f"resolution {resolution_id!r} is not a resolution of RunSet {self.runset_id}")

    @property
    def tags(self) -> list[str]:
        state: dict[str, str] = {}
        for event in self.events:
            if event["event"] in ("tagged", "untagged"):
                state[event["tag"]] = event["event"]
        return sorted(tag for tag, event in state.items() if event == "tagged")

    @property
    def description(self) -> str | None:
        latest = self.latest_of(("described",))
        return latest["description"] if latest else None


def load_states(con: duckdb.DuckDBPyConnection, lake_root: Path, runset_id: str | None = None) -> dict[str, RunSetState]:
    """Every RunSet's state (or one's), each lake table read once."""
    where, params = ("runset_id = $id", {"id": runset_id}) if runset_id else ("TRUE", {})
    partition = {"runset_id": runset_id} if runset_id else None
    specs = lake.records(con, lake_root, lake.RUNSETS, where, params, partition)
    names = lake.records(con, lake_root, lake.RUNSET_NAMES, where, params)
    events = lake.records(con, lake_root, lake.RUNSET_EVENTS, where, params, order_by="event_seq")
    resolutions = lake.records(con, lake_root, lake.RESOLUTIONS, where, params, partition, order_by="event_seq",
                               without=("run_ids",))
    states = {
        spec["runset_id"]: RunSetState(
            runset_id=spec["runset_id"], spec=json.loads(spec["spec_json"]), spec_json=spec["spec_json"],
            names=[], created_at=spec["registered_at"], events=[], resolutions=[],
        )
        for spec in specs
    }
    for rows, attribute in ((names, "names"), (events, "events"), (resolutions, "resolutions")):
        for row in rows:
            if row["runset_id"] not in states:
                raise InputError(f"the lake has {attribute} of RunSet {row['runset_id']} but not its spec; "
                                 "`quantbot registry rebuild` names the contract it breaks")
            getattr(states[row["runset_id"]], attribute).append(row["name"] if attribute == "names" else row)
    for state in states.values():
        state.names.sort()
    return states


def load_state(con: duckdb.DuckDBPyConnection, lake_root: Path, runset_id: str) -> RunSetState:
    states = load_states(con, lake_root, runset_id)
    if runset_id not in states:
        raise InputError(f"RunSet {runset_id} has no spec in the lake")
    return states[runset_id]


def with_members(con: duckdb.DuckDBPyConnection, lake_root: Path, resolution: dict[str, Any]) -> dict[str, Any]:
    """A resolution of a RunSetState with its member list (`run_ids`), read from its folder."""
    found = lake.records(con, lake_root, lake.RESOLUTIONS, "resolution_id = $id", {"id": resolution["resolution_id"]},
                         {"runset_id": resolution["runset_id"]})
    if not found:
        raise InputError(f"resolution {resolution['resolution_id']} is no longer in the lake")
    return found[0]


def find_runset(con: duckdb.DuckDBPyConnection, lake_root: Path, ref: str) -> tuple[str, str | None]:
    """A RunSet by name, full id or unique id prefix (8+ hex): (runset_id, the name used or None)."""
    if not isinstance(ref, str) or not ref:
        raise InputError("a RunSet reference (name, id or id prefix) is required")
    by_name = lake.records(con, lake_root, lake.RUNSET_NAMES, "name = $ref", {"ref": ref})
    candidates: dict[str, str | None] = {row["runset_id"]: ref for row in by_name}
    if len(ref) >= MIN_PREFIX_LENGTH and ID_PREFIX_PATTERN.match(ref):
        for row in lake.records(con, lake_root, lake.RUNSETS, "starts_with(runset_id, $ref)", {"ref": ref}):
            candidates.setdefault(row["runset_id"], None)
    if not candidates:
        hint = (f"; an id prefix needs at least {MIN_PREFIX_LENGTH} characters"
                if len(ref) < MIN_PREFIX_LENGTH and ID_PREFIX_PATTERN.match(ref.ljust(MIN_PREFIX_LENGTH, "0")) else "")
        raise InputError(f"no RunSet matches {ref!r} (by name, id or id prefix){hint}")
    if len(candidates) > 1:
        shown = ", ".join(sorted(runset_id[:16] for runset_id in candidates))
        raise InputError(f"RunSet reference {ref!r} is ambiguous: it matches {shown}")
    return next(iter(candidates.items()))


def next_event_seq(con: duckdb.DuckDBPyConnection, lake_root: Path) -> int:
    """One more than any event_seq in the lake; only meaningful under the write lock.

    Our writers name each event file after its highest event_seq, so only a file without that
    name (hand-made) is opened: a state change costs a folder listing, not a read of every
    event file written since the last compaction."""
    highest, unnamed = 0, []
    for table in lake.EVENT_TABLES:
        for path in lake.files(lake_root, table):
            stated = lake.event_seq_in_name(path)
            if stated is None:
                unnamed.append(path)
            else:
                highest = max(highest, stated)
    if unnamed:
        (value,) = con.execute("SELECT max(event_seq) FROM read_parquet($paths, union_by_name = true)",
                               {"paths": unnamed}).fetchall()[0]
        highest = max(highest, value or 0)
    return highest + 1


def event_record(runset_id: str, event: str, **values: Any) -> dict[str, Any]:
    return {"runset_id": runset_id, "event": event, "resolution_id": None, "tag": None, "description": None, **values}


def append_events(con: duckdb.DuckDBPyConnection, lake_root: Path, table: lake.Table,
                  records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stamp records with consecutive event_seqs and the time, and append them. Caller holds the lock."""
    if not records:
        return []
    first = next_event_seq(con, lake_root)
    now = lake.utc_now()
    stamped = [{**record, "event_seq": first + offset, "registered_at": now} for offset, record in enumerate(records)]
    lake.append(lake_root, [lake.Batch(table, {(): stamped})])  # event tables are not partitioned
    return stamped


# ---------------------------------------------------------------- create


@dataclass
class Created:
    runset_id: str
    name: str
    spec_json: str
    written: list[str] = field(default_factory=list)  # what changed: spec, name, revived, tags, description


def create_runset(
    lake_root: Path, name: str, spec: dict[str, Any], tags: Iterable[str] = (), description: str | None = None
) -> Created:
    """Create (or confirm) a RunSet and its name. The same name and spec again: nothing is written
    except labels that differ; a deleted RunSet created again is revived."""
    validate_name(name, "RunSet name")
    tags = validate_names(tags, "tag") if list(tags) else []
    spec_json = canonical_json(spec)
    runset_id = runset_id_for(spec_json)
    created = Created(runset_id, name, spec_json)
    with lake.write_lock(lake_root), lake.connect() as con:
        known = lake.records(con, lake_root, lake.DATASETS, "dataset_id IN (SELECT unnest($ids))",
                             {"ids": spec["datasets"]})
        unknown = sorted(set(spec["datasets"]) - {row["dataset_id"] for row in known})
        if unknown:
            raise InputError(f"dataset(s) not registered: {', '.join(unknown)}")
        named = lake.records(con, lake_root, lake.RUNSET_NAMES, "name = $name", {"name": name})
        if named and named[0]["runset_id"] != runset_id:
            raise InputError(
                f"RunSet name {name!r} already points at {named[0]['runset_id']} with another spec; "
                "names are permanent: choose a new name for a new selection"
            )
        now = lake.utc_now()
        batches = []  # spec before name: a visible name always points at a visible spec
        if not lake.records(con, lake_root, lake.RUNSETS, "runset_id = $id", {"id": runset_id}, {"runset_id": runset_id}):
            batches.append(lake.Batch(lake.RUNSETS, {(runset_id,): [
                {"runset_id": runset_id, "spec_json": spec_json, "registered_at": now}]}))
            created.written.append("spec")
        if not named:
            batches.append(lake.Batch(lake.RUNSET_NAMES, {(): [{"name": name, "runset_id": runset_id, "registered_at": now}]}))
            created.written.append("name")
        lake.append(lake_root, batches)
        state = load_state(con, lake_root, runset_id)
        events = []
        if state.deleted:
            events.append(event_record(runset_id, "revived"))
            created.written.append("revived")
        new_tags = [tag for tag in tags if tag not in state.tags]
        events += [event_record(runset_id, "tagged", tag=tag) for tag in new_tags]
        if new_tags:
            created.written.append("tags")
        if description is not None and description != state.description:
            events.append(event_record(runset_id, "described", description=description))
            created.written.append("description")
        append_events(con, lake_root, lake.RUNSET_EVENTS, events)
    return created


# ---------------------------------------------------------------- resolve


@dataclass
class Selection:
    """What the spec selects from the lake now (or as of an instant)."""

    run_ids: list[str]
    artifact_count: int
    coverage: dict[str, Any]
    warnings: list[str]


def select_runs(con: duckdb.DuckDBPyConnection, lake_root: Path, spec: dict[str, Any],
                as_of: dt.datetime | None = None) -> Selection:
    """Apply every filter of the spec to the runs in the lake; values are bound, never pasted.

    Folders are pruned first (engine_version=, month= of the run's window_from), then the
    filters run on the few columns they need."""
    conditions, params = ["list_has_all(dataset_ids, $datasets)"], {"datasets": spec["datasets"]}
    partition: lake.Partition = {}
    within = spec.get("match", "within") == "within"
    if "callers" in spec:
        conditions.append("list_has_all($callers, callers)" if within else "list_has_any(callers, $callers)")
        params["callers"] = spec["callers"]
    if "window_from" in spec:
        first, last = spec["window_from"], spec["window_to"]
        conditions.append("window_from >= $window_from AND window_to <= $window_to" if within
                          else "window_from <= $window_to AND window_to >= $window_from")
        params["window_from"], params["window_to"] = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        partition["month"] = lake.months_between(first, last) if within else (lambda month: month <= last[:7])
    if "strategy_hashes" in spec:
        conditions.append("list_contains($strategy_hashes, strategy_hash)")
        params["strategy_hashes"] = spec["strategy_hashes"]
    if "strategy_family" in spec:
        conditions.append("strategy_family = $strategy_family")
        params["strategy_family"] = spec["strategy_family"]
    if "engine_versions" in spec:
        conditions.append("list_contains($engine_versions, engine_version)")
        params["engine_versions"] = spec["engine_versions"]
        partition["engine_version"] = spec["engine_versions"].__contains__
    if "run_ids" in spec:
        conditions.append("list_contains($run_ids, run_id)")
        params["run_ids"] = spec["run_ids"]
    if as_of is not None:
        conditions.append("registered_at <= $as_of")
        params["as_of"] = as_of
    con.execute(f"CREATE OR REPLACE TEMP VIEW lake_runs AS {lake.scan_sql(lake_root, lake.RUNS, partition)}")
    if "run_tags" in spec:
        current_run_tags_view(con, lake_root, as_of)
        conditions.append(
            "list_has_all((SELECT coalesce(list(tag), []) FROM current_run_tags t WHERE t.run_id = lake_runs.run_id), $run_tags)"
        )
        params["run_tags"] = spec["run_tags"]
    # One statement: a row per selected record without its lists (a hash of them tells two
    # contents of one run apart), then a last row with the datasets and callers of the members,
    # merged. Fetching every member's two lists into Python cost a resolve at 1M runs ~30 ms more.
    params["status"] = spec["status"]
    *rows, (*_, member_datasets, member_callers, _) = con.execute(
        f"""WITH selected AS MATERIALIZED (
                SELECT run_id, status, window_from, window_to, artifact_count, callers, dataset_ids
                FROM lake_runs WHERE {' AND '.join(conditions)}
            )
            SELECT run_id, status, window_from, window_to, artifact_count, hash(callers, dataset_ids),
                   NULL::VARCHAR[], NULL::VARCHAR[], false AS merged
            FROM selected
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, NULL, NULL, list_sort(list_distinct(flatten(list(dataset_ids)))),
                   list_sort(list_distinct(flatten(list(callers)))), true AS merged
            FROM selected WHERE $status = 'any' OR status = $status
            ORDER BY merged, run_id""",
        params,
    ).fetchall()
    rows = one_row_per_run(rows)
    members = [row for row in rows if spec["status"] == "any" or row[1] == spec["status"]]
    excluded_by_status = len(rows) - len(members)
    run_ids = [row[0] for row in members]
    # A run carries the count of the artifacts registered with it (registered with it, so --as-of
    # needs no second filter). Only a run file written without the count sends us to the artifacts.
    artifact_count = sum(row[4] for row in members if row[4] is not None)
    uncounted = [row for row in members if row[4] is None]
    if uncounted:
        months = {lake.month_of(row[2]) for row in uncounted}  # artifacts sit in their run's month folder
        artifacts_sql = lake.scan_sql(lake_root, lake.ARTIFACTS, {"month": months.__contains__})
        con.execute(f"CREATE OR REPLACE TEMP VIEW lake_artifacts AS {artifacts_sql}")
        as_of_filter = " AND registered_at <= $as_of" if as_of is not None else ""
        (uncounted_artifacts,) = con.execute(
            f"SELECT count(DISTINCT artifact_id) FROM lake_artifacts WHERE run_id IN (SELECT unnest($ids)){as_of_filter}",
            {"ids": [row[0] for row in uncounted], **({"as_of": as_of} if as_of is not None else {})},
        ).fetchall()[0]
        artifact_count += uncounted_artifacts
    windows = sorted((row[2], row[3]) for row in members)
    coverage, warnings = coverage_of(spec, windows, member_datasets or [], member_callers or [], excluded_by_status)
    return Selection(run_ids, artifact_count, coverage, warnings)


def one_row_per_run(rows: list[tuple]) -> list[tuple]:
    """Rows sorted by run id (first), a record sent twice folded into one; a run id left with two
    different rows has two different records, an error. Folded here, not with SQL DISTINCT: grouping
    by the list columns cost a resolve at 1M runs ~20 ms, comparing neighbours ~1 ms."""
    folded: list[tuple] = []
    for row in rows:
        if folded and folded[-1][0] == row[0]:
            if folded[-1] != row:
                raise lake.ConflictingRecords(f"run_id {row[0]} has two different records in the lake; "
                                              "`quantbot registry rebuild` names the contract it breaks")
            continue
        folded.append(row)
    return folded


def current_run_tags_view(con: duckdb.DuckDBPyConnection, lake_root: Path, as_of: dt.datetime | None) -> None:
    """current_run_tags(run_id, tag): tags whose latest event (as of an instant) is `tagged`."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW lake_run_tags AS {lake.distinct_sql(lake_root, lake.RUN_TAGS)}")
    as_of_filter = "WHERE registered_at <= $as_of" if as_of is not None else ""
    # A view cannot take parameters: materialise the (small) current state instead.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE current_run_tags AS SELECT run_id, tag FROM ("
        f"  SELECT run_id, tag, arg_max(event, event_seq) AS event FROM lake_run_tags {as_of_filter} GROUP BY ALL"
        f") WHERE event = 'tagged'",
        {"as_of": as_of} if as_of is not None else {},
    )


def coverage_of(spec: dict[str, Any], windows: list[tuple[dt.date, dt.date]], datasets: list[str], callers: list[str],
                excluded_by_status: int) -> tuple[dict[str, Any], list[str]]:
    """Requested days and callers against what the members cover (their windows, sorted, and the
    datasets and callers any of them has); warnings for the gaps."""
    warnings = []
    coverage: dict[str, Any] = {
        "datasets": datasets,
        "runs_excluded_by_status": excluded_by_status,
        "members_window_from": windows[0][0].isoformat() if windows else None,
        "members_window_to": max(end for _, end in windows).isoformat() if windows else None,
    }
    if "window_from" in spec:
        start, end = dt.date.fromisoformat(spec["window_from"]), dt.date.fromisoformat(spec["window_to"])
        gaps, cursor = [], start  # cursor: first requested day not yet covered
        for window_start, window_end in windows:
            if window_end < cursor or window_start > end:
                continue
            if window_start > cursor:
                gaps.append((cursor, window_start - dt.timedelta(days=1)))
            cursor = max(cursor, window_end + dt.timedelta(days=1))
        if cursor <= end:
            gaps.append((cursor, end))
        requested_days = (end - start).days + 1
        uncovered_days = sum((gap_end - gap_start).days + 1 for gap_start, gap_end in gaps)
        coverage.update({
            "requested_days": requested_days,
            "covered_days": requested_days - uncovered_days,
            "uncovered": [[gap_start.isoformat(), gap_end.isoformat()] for gap_start, gap_end in gaps],
        })
        if windows and gaps:
            shown = ", ".join(f"{a}..{b}" if a != b else f"{a}" for a, b in gaps[:5])
            warnings.append(f"{uncovered_days} of {requested_days} requested days have no run: {shown}"
                            + (" ..." if len(gaps) > 5 else ""))
    if "callers" in spec:
        seen = set(callers)
        coverage["callers_with_runs"] = [caller for caller in spec["callers"] if caller in seen]
        coverage["callers_without_runs"] = [caller for caller in spec["callers"] if caller not in seen]
        if windows and coverage["callers_without_runs"]:
            warnings.append(f"callers with no run: {', '.join(coverage['callers_without_runs'])}")
    if not windows:
        warnings.insert(0, "no run matches the selection"
                        + (f" ({excluded_by_status} match every filter but --status)" if excluded_by_status else ""))
    return coverage, warnings


def resolve(lake_root: Path, ref: str, force: bool = False, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """The RunSet's members: pinned if frozen, cached if resolved, else resolved and recorded.

    --as-of computes what the spec selected at that instant and records nothing."""
    if force and as_of is not None:
        raise InputError("--as-of computes a past selection without recording it; drop --force")
    with lake.connect() as con:
        runset_id, used_name = find_runset(con, lake_root, ref)
        if force:
            # State read, checked and recorded under one lock: a freeze cannot slip in between.
            with lake.write_lock(lake_root):
                state = resolvable_state(con, lake_root, runset_id, used_name, force=True)
                return resolution_view(state, used_name, record_resolution(con, lake_root, state), recorded=True)
        state = resolvable_state(con, lake_root, runset_id, used_name, force=False)
        if as_of is not None:
            selection = select_runs(con, lake_root, state.spec, as_of)
            return resolution_view(state, used_name, None, selection=selection, as_of=as_of)
        if state.frozen:
            return resolution_view(state, used_name, with_members(con, lake_root, state.current_resolution))
        if state.latest_resolution is not None:
            return resolution_view(state, used_name, with_members(con, lake_root, state.latest_resolution))
        with lake.write_lock(lake_root):  # the first resolution: recorded on the state under the lock
            state = resolvable_state(con, lake_root, runset_id, used_name, force=False)
            return resolution_view(state, used_name, record_resolution(con, lake_root, state), recorded=True)


def resolvable_state(con: duckdb.DuckDBPyConnection, lake_root: Path, runset_id: str, used_name: str | None,
                     force: bool) -> RunSetState:
    """The RunSet's state, refused if it is deleted (or frozen, when a fresh resolution is asked)."""
    state = load_state(con, lake_root, runset_id)
    if state.deleted:
        raise InputError(f"RunSet {display(state, used_name)} is deleted; create it again to revive it")
    if force and state.frozen:
        raise InputError(
            f"RunSet {display(state, used_name)} is frozen; `quantbot runset unfreeze` it before --force"
        )
    return state


def record_resolution(con: duckdb.DuckDBPyConnection, lake_root: Path, state: RunSetState) -> dict[str, Any]:
    """Resolve fresh and append the resolution. The caller holds the write lock and read `state`
    under it (the resolution's event_seq orders it among every state change)."""
    selection = select_runs(con, lake_root, state.spec)
    event_seq = next_event_seq(con, lake_root)
    resolution_hash = resolution_hash_for(selection.run_ids)
    record = {
        "resolution_id": resolution_id_for(state.runset_id, event_seq, resolution_hash),
        "runset_id": state.runset_id,
        "event_seq": event_seq,
        "resolver_version": RESOLVER_VERSION,
        "run_ids": selection.run_ids,
        "resolution_hash": resolution_hash,
        "run_count": len(selection.run_ids),
        "artifact_count": selection.artifact_count,
        "coverage_json": canonical_json(selection.coverage),
        "warnings": selection.warnings,
        "registered_at": lake.utc_now(),
    }
    lake.append(lake_root, [lake.Batch(lake.RESOLUTIONS, {(state.runset_id,): [record]})])
    return record


def display(state: RunSetState, used_name: str | None) -> str:
    return used_name or (state.names[0] if state.names else state.runset_id)


def resolution_view(state: RunSetState, used_name: str | None, resolution: dict[str, Any] | None, *,
                    recorded: bool = False, selection: Selection | None = None,
                    as_of: dt.datetime | None = None) -> dict[str, Any]:
    """The resolve answer (CLI --json and port): stable keys, registry column names."""
    if selection is not None:  # computed, not recorded (--as-of)
        run_ids = selection.run_ids
        resolution = {
            "resolution_id": None, "resolution_hash": resolution_hash_for(run_ids), "registered_at": None,
            "run_ids": run_ids, "run_count": len(run_ids), "artifact_count": selection.artifact_count,
            "coverage_json": canonical_json(selection.coverage), "warnings": selection.warnings,
            "resolver_version": RESOLVER_VERSION,
        }
    return {
        "runset_id": state.runset_id,
        "name": display(state, used_name),
        "resolution_id": resolution["resolution_id"],
        "resolution_hash": resolution["resolution_hash"],
        "resolved_at": resolution["registered_at"],
        "resolver_version": resolution["resolver_version"],
        "run_count": resolution["run_count"],
        "artifact_count": resolution["artifact_count"],
        "run_ids": list(resolution["run_ids"]),
        "frozen": state.frozen,
        "recorded": recorded,
        "as_of": as_of,
        "coverage": json.loads(resolution["coverage_json"]),
        "warnings": list(resolution["warnings"]),
    }


# ---------------------------------------------------------------- freeze, unfreeze, delete, tags


def change_state(lake_root: Path, ref: str, change: str, resolution_id: str | None = None) -> dict[str, Any]:
    """freeze / unfreeze / delete: append the event if it changes something; say what happened."""
    if change == "freeze":
        with lake.connect() as con:
            runset_id, used_name = find_runset(con, lake_root, ref)
            state = resolvable_state(con, lake_root, runset_id, used_name, force=False)
            if resolution_id is None and state.latest_resolution is None:
                with lake.write_lock(lake_root):  # nothing seen yet: pin a fresh one
                    record_resolution(con, lake_root, resolvable_state(con, lake_root, runset_id, used_name, False))
    with lake.write_lock(lake_root), lake.connect() as con:
        runset_id, used_name = find_runset(con, lake_root, ref)
        state = load_state(con, lake_root, runset_id)
        name = display(state, used_name)
        if state.deleted and change != "delete":
            raise InputError(f"RunSet {name} is deleted; create it again to revive it")
        event = None
        if change == "freeze":
            pinned = state.resolution(resolution_id) if resolution_id else state.latest_resolution
            if state.frozen and state.pinned_resolution_id != pinned["resolution_id"]:
                raise InputError(f"RunSet {name} is already frozen at resolution {state.pinned_resolution_id}; "
                                 "unfreeze it first")
            if not state.frozen:
                event = event_record(runset_id, "frozen", resolution_id=pinned["resolution_id"])
        elif change == "unfreeze" and state.frozen:
            event = event_record(runset_id, "unfrozen")
        elif change == "delete" and not state.deleted:
            event = event_record(runset_id, "deleted")
        append_events(con, lake_root, lake.RUNSET_EVENTS, [event] if event else [])
        state = load_state(con, lake_root, runset_id)
    return {**summary(state, used_name), "changed": event is not None}


def tag_runset(lake_root: Path, ref: str, tags: Iterable[str], untag: bool = False) -> dict[str, Any]:
    """Add or remove RunSet labels (events; the spec and its id never change)."""
    tags = validate_names(tags, "tag")
    with lake.write_lock(lake_root), lake.connect() as con:
        runset_id, used_name = find_runset(con, lake_root, ref)
        state = load_state(con, lake_root, runset_id)
        if state.deleted:
            raise InputError(f"RunSet {display(state, used_name)} is deleted; create it again to revive it")
        changing = [tag for tag in tags if (tag in state.tags) == untag]
        append_events(con, lake_root, lake.RUNSET_EVENTS, [
            event_record(runset_id, "untagged" if untag else "tagged", tag=tag) for tag in changing
        ])
        state = load_state(con, lake_root, runset_id)
    return {**summary(state, used_name), "changed": changing}


def tag_run(lake_root: Path, run_ref: str, tags: Iterable[str], untag: bool = False) -> dict[str, Any]:
    tags = validate_names(tags, "tag")
    run_id = get_run(lake_root, run_ref)["run_id"]
    with lake.write_lock(lake_root), lake.connect() as con:
        current_run_tags_view(con, lake_root, None)
        current = {tag for (tag,) in con.execute("SELECT tag FROM current_run_tags WHERE run_id = $id", {"id": run_id}).fetchall()}
        changing = [tag for tag in tags if (tag in current) == untag]
        append_events(con, lake_root, lake.RUN_TAGS, [
            {"run_id": run_id, "tag": tag, "event": "untagged" if untag else "tagged"} for tag in changing
        ])
        after = sorted(current - set(changing) if untag else current | set(changing))
    return {"run_id": run_id, "tags": after, "changed": changing}


# ---------------------------------------------------------------- reads


def summary(state: RunSetState, used_name: str | None = None) -> dict[str, Any]:
    current = state.current_resolution
    return {
        "runset_id": state.runset_id,
        "name": display(state, used_name),
        "names": state.names,
        "spec": state.spec,
        "spec_json": state.spec_json,
        "tags": state.tags,
        "description": state.description,
        "frozen": state.frozen,
        "deleted": state.deleted,
        "created_at": state.created_at,
        "pinned_resolution_id": state.pinned_resolution_id,
        "latest_resolution_id": state.latest_resolution["resolution_id"] if state.latest_resolution else None,
        "current_resolution_id": current["resolution_id"] if current else None,
        "run_count": current["run_count"] if current else None,
        "resolution_hash": current["resolution_hash"] if current else None,
    }


def get_runset(lake_root: Path, ref: str, include_deleted: bool = False) -> dict[str, Any]:
    with lake.connect() as con:
        runset_id, used_name = find_runset(con, lake_root, ref)
        state = load_state(con, lake_root, runset_id)
    if state.deleted and not include_deleted:
        raise InputError(f"RunSet {display(state, used_name)} is deleted (see it with --include-deleted)")
    return summary(state, used_name)


def list_runsets(lake_root: Path, tags: Iterable[str] = (), frozen: bool | None = None, dataset: str | None = None,
                 include_deleted: bool = False) -> list[dict[str, Any]]:
    """RunSets ordered by their first name; every filter given applies."""
    tags = validate_names(tags, "tag") if list(tags) else []
    if dataset is not None:
        get_dataset(lake_root, dataset)  # an unknown dataset is refused, as by `run list`
    with lake.connect() as con:
        states = load_states(con, lake_root)
    listed = []
    for state in states.values():
        if (state.deleted and not include_deleted) or (frozen is not None and state.frozen != frozen):
            continue
        if not set(tags) <= set(state.tags) or (dataset is not None and dataset not in state.spec["datasets"]):
            continue
        listed.append(summary(state))
    return sorted(listed, key=lambda item: (item["name"], item["runset_id"]))


def history(lake_root: Path, ref: str) -> dict[str, Any]:
    """Every resolution of a RunSet, newest first."""
    with lake.connect() as con:
        runset_id, used_name = find_runset(con, lake_root, ref)
        state = load_state(con, lake_root, runset_id)
    pinned = state.pinned_resolution_id
    return {
        "runset_id": runset_id,
        "name": display(state, used_name),
        "resolutions": [
            {
                "resolution_id": resolution["resolution_id"],
                "resolved_at": resolution["registered_at"],
                "resolution_hash": resolution["resolution_hash"],
                "run_count": resolution["run_count"],
                "artifact_count": resolution["artifact_count"],
                "frozen": resolution["resolution_id"] == pinned,
                "resolver_version": resolution["resolver_version"],
            }
            for resolution in reversed(state.resolutions)
        ],
    }


def diff(lake_root: Path, ref: str, from_id: str | None = None, to_id: str | None = None) -> dict[str, Any]:
    """Runs added and removed from one resolution to another; by default from the current
    resolution to what a fresh resolve would select now (nothing is recorded)."""
    with lake.connect() as con:
        runset_id, used_name = find_runset(con, lake_root, ref)
        state = load_state(con, lake_root, runset_id)
        start = state.resolution(from_id) if from_id else state.current_resolution
        if start is None:
            raise InputError(f"RunSet {display(state, used_name)} has no resolution yet: resolve it first")
        start_runs = set(with_members(con, lake_root, start)["run_ids"])
        if to_id:
            end_id, end_runs = to_id, set(with_members(con, lake_root, state.resolution(to_id))["run_ids"])
        else:
            end_id, end_runs = None, set(select_runs(con, lake_root, state.spec).run_ids)
    return {
        "runset_id": runset_id,
        "name": display(state, used_name),
        "from_resolution_id": start["resolution_id"],
        "to_resolution_id": end_id,
        "added": sorted(end_runs - start_runs),
        "removed": sorted(start_runs - end_runs),
        "unchanged_count": len(start_runs & end_runs),
    }
