"""Registering datasets, runs and artifacts: validate, compute ids, refuse conflicts, append.

Every check happens before the first byte is written, so a refused command writes nothing.
The check against what is already in the lake and the append happen under the lake's write
lock, so two processes sending the same record cannot both append it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb

from . import lake
from .ids import (
    InputError,
    artifact_id_for,
    canonical_json,
    parse_date,
    parse_number,
    parse_seed,
    parse_window,
    run_id_for,
    run_identity,
    validate_name,
    validate_names,
)
from .project import vocabulary

RUN_REQUIRED_FIELDS = (
    "dataset_ids", "strategy_hash", "engine_version", "seed", "callers", "window_from", "window_to", "status",
)
RUN_OPTIONAL_FIELDS = ("strategy_family", "params", "metrics", "run_id", "artifacts")
RUN_FIELDS = frozenset(RUN_REQUIRED_FIELDS + RUN_OPTIONAL_FIELDS)


@dataclass
class Registration:
    """What a register call did: ids newly written, ids that were already there unchanged."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    artifacts_written: int = 0


@dataclass(frozen=True)
class RunInput:
    """A run as the user sent it, with where it came from for error messages ("line 3")."""

    fields: dict[str, Any]
    where: str = ""


# ---------------------------------------------------------------- datasets


def dataset_record(
    dataset_id: str,
    kind: str,
    window_from: str | None = None,
    window_to: str | None = None,
    schema_version: str | None = None,
    source: str | None = None,
    uri: str | None = None,
    meta: dict[str, str] | None = None,
) -> dict[str, Any]:
    validate_name(dataset_id, "dataset id")
    check_vocabulary(kind, "dataset_kinds", "dataset kind")
    start, end = parse_window(window_from, window_to, required=False)
    return {
        "dataset_id": dataset_id,
        "kind": kind,
        "window_from": start,
        "window_to": end,
        "schema_version": schema_version,
        "source": source,
        "uri": uri,
        "meta": dict(sorted((meta or {}).items())),
    }


def register_dataset(lake_root: Path, record: dict[str, Any]) -> Registration:
    registration = Registration()
    with lake.write_lock(lake_root):
        con = lake.connect()
        try:
            existing = existing_records(con, lake_root, lake.DATASETS, [record["dataset_id"]])
        finally:
            con.close()
        if record["dataset_id"] in existing:
            refuse_if_different("dataset", record["dataset_id"], existing[record["dataset_id"]], record)
            registration.unchanged.append(record["dataset_id"])
            return registration
        stamped = {**record, "registered_at": lake.utc_now()}
        lake.append(lake_root, [lake.Batch(lake.DATASETS, {(): [stamped]})])
        registration.written.append(record["dataset_id"])
    return registration


# ---------------------------------------------------------------- runs and artifacts


def run_records(
    run_input: RunInput, files_read: dict[str, FileFacts] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A validated run record and its artifact records (ids computed, local files hashed).

    `files_read` is the batch's memo of files already hashed: one file named by several
    artifacts of a call is read once."""
    fields = run_input.fields
    try:
        if not fields.keys() <= RUN_FIELDS:
            raise InputError(f"unknown field(s) {', '.join(sorted(fields.keys() - RUN_FIELDS))}")
        missing = [name for name in RUN_REQUIRED_FIELDS if fields.get(name) in (None, "", [])]
        if missing:
            raise InputError(f"missing field(s) {', '.join(missing)}")
        window_from, window_to = parse_window(fields["window_from"], fields["window_to"], required=True)
        identity = run_identity(
            dataset_ids=validate_names(as_list(fields["dataset_ids"], "dataset_ids"), "dataset id"),
            strategy_hash=validate_name(fields["strategy_hash"], "strategy hash"),
            engine_version=validate_name(fields["engine_version"], "engine version"),
            seed=parse_seed(fields["seed"]),
            callers=validate_names(as_list(fields["callers"], "callers"), "caller"),
            window_from=window_from,
            window_to=window_to,
        )
        run_id = run_id_for(identity)
        given_id = fields.get("run_id")
        if given_id not in (None, "") and given_id != run_id:
            raise InputError(f"run id {given_id!r} does not match the computed run id {run_id}")
        family = fields.get("strategy_family")
        record = {
            "run_id": run_id,
            **identity,
            "window_from": window_from,
            "window_to": window_to,
            "status": check_vocabulary(fields["status"], "run_statuses", "status"),
            "strategy_family": validate_name(family, "strategy family") if family not in (None, "") else None,
            "params": param_values(fields.get("params") or {}),
            "metrics": metric_values(fields.get("metrics") or {}),
        }
        artifacts = [artifact_record(run_id, spec, files_read)
                     for spec in as_list(fields.get("artifacts") or [], "artifacts")]
    except InputError as error:
        raise InputError(f"{run_input.where}: {error}" if run_input.where else str(error)) from None
    return record, artifacts


def register_runs(lake_root: Path, run_inputs: Iterable[RunInput]) -> Registration:
    """All or nothing: any bad record refuses the whole call before anything is written.

    New runs in the plain shape of a bulk file are gathered column by column (gathered_runs);
    anything else, and every refusal, goes record by record (run_records, append_new_runs), which
    names the line at fault. Both write the same records."""
    run_inputs = list(run_inputs)
    with cyclic_gc_paused():
        files_read = files_read_ahead(artifact_uris(run_inputs))
        gathered = gathered_runs(run_inputs, files_read)
        if gathered is not None:
            registration = append_gathered_runs(lake_root, gathered)
            if registration is not None:
                return registration
        runs, artifacts_by_run, where_by_run = validated_runs(run_inputs, files_read)
        return append_new_runs(lake_root, runs, artifacts_by_run, where_by_run)


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """A bulk registration allocates millions of small dicts and lists, none of them in a cycle,
    and every burst of allocations made Python's cycle collector walk all live objects again
    (one call of 100,000 runs: 12.6 s with it, 10.9 s without). Reference counting still frees
    everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


RunsById = dict[str, dict[str, Any]]
ArtifactsByRun = dict[str, dict[str, dict[str, Any]]]


def validated_runs(
    run_inputs: list[RunInput], files_read: dict[str, FileFacts]
) -> tuple[RunsById, ArtifactsByRun, dict[str, str]]:
    """Each distinct run's record, its artifacts by id, and where it was given ("line 3")."""
    runs: RunsById = {}
    artifacts_by_run: ArtifactsByRun = {}
    where_by_run: dict[str, str] = {}
    for run_input in run_inputs:
        record, artifacts = run_records(run_input, files_read)
        run_artifacts = {artifact["artifact_id"]: artifact for artifact in artifacts}
        run_id = record["run_id"]
        if run_id in runs:  # the same run twice in one batch: fine if identical
            where = f"{where_by_run[run_id]} and {run_input.where}".strip()
            refuse_if_different(f"run (sent twice: {where})", run_id, runs[run_id], record)
            refuse_if_different(
                f"run (sent twice: {where})", run_id,
                {"artifacts": artifacts_by_run[run_id]}, {"artifacts": run_artifacts},
            )
            continue
        runs[run_id] = record
        artifacts_by_run[run_id] = run_artifacts
        where_by_run[run_id] = run_input.where
    if not runs:
        raise InputError("no runs to register")
    return runs, artifacts_by_run, where_by_run


def append_new_runs(
    lake_root: Path, runs: RunsById, artifacts_by_run: ArtifactsByRun, where_by_run: dict[str, str]
) -> Registration:
    """Under the write lock: refuse unknown datasets and changed runs, skip unchanged ones,
    append the rest with their artifacts."""
    registration = Registration()
    with lake.write_lock(lake_root):
        con = lake.connect()
        try:
            known_datasets = existing_records(
                con, lake_root, lake.DATASETS, sorted({d for run in runs.values() for d in run["dataset_ids"]})
            )
            # Only the folders the new runs would go to: a lake-wide scan made each single-run
            # registration cost O(lake size).
            existing_runs = existing_records(con, lake_root, lake.RUNS, list(runs), run_folders(runs.values()))
            existing_artifacts = artifacts_of_runs(con, lake_root, [runs[run_id] for run_id in existing_runs])
        finally:
            con.close()
        new_runs, new_artifacts = [], []
        for run_id, record in runs.items():
            prefix = f"{where_by_run[run_id]}: " if where_by_run[run_id] else ""
            unknown = [d for d in record["dataset_ids"] if d not in known_datasets]
            if unknown:
                raise InputError(f"{prefix}dataset(s) not registered: {', '.join(unknown)}")
            if run_id in existing_runs:
                # artifact_count is derived from the artifacts, which are compared next.
                existing_run = {name: value for name, value in existing_runs[run_id].items() if name != "artifact_count"}
                refuse_if_different(f"{prefix}run", run_id, existing_run, record)
                refuse_if_different(
                    f"{prefix}run", run_id,
                    {"artifacts": existing_artifacts.get(run_id, {})}, {"artifacts": artifacts_by_run[run_id]},
                )
                registration.unchanged.append(run_id)
                continue
            new_runs.append(record)
            new_artifacts.extend(artifacts_by_run[run_id].values())
            registration.written.append(run_id)
        if new_runs:
            lake.append(lake_root, run_batches(new_runs, artifacts_by_run, lake.utc_now()))
            registration.artifacts_written = len(new_artifacts)
    return registration


# ---------------------------------------------------------------- bulk: new runs, column by column

# The order of the values gathered_runs collects for a run and an artifact: their lake columns
# without registered_at (stamped when appended).
GATHERED_RUN_COLUMNS = (
    "run_id", "dataset_ids", "strategy_hash", "engine_version", "seed", "callers", "window_from", "window_to",
    "status", "strategy_family", "params", "metrics", "artifact_count",
)
GATHERED_ARTIFACT_COLUMNS = ("artifact_id", "run_id", "kind", "uri", "content_hash", "size_bytes", "row_count")


@dataclass
class GatheredRuns:
    """A batch of distinct runs and their artifacts, grouped by partition folder, ready to append."""

    run_groups: dict[tuple[str, ...], lake.Columns]
    artifact_groups: dict[tuple[str, ...], lake.Columns]
    run_ids: list[str]  # in the order given
    dataset_ids: set[str]
    artifact_count: int

    def folders(self) -> lake.Partition:
        """The run folders these runs go to (see run_folders)."""
        return {"engine_version": {engine_version for engine_version, _ in self.run_groups}.__contains__,
                "month": {month for _, month in self.run_groups}.__contains__}


def gathered_runs(run_inputs: list[RunInput], files_read: dict[str, FileFacts]) -> GatheredRuns | None:
    """The batch column by column, when every input has the plain shape of a bulk file (names in
    lists, dates as text or dates, an integer seed, artifacts as {"kind", "uri"} of files read
    ahead) and passes run_records' own validators, each distinct value checked once (10,000 runs
    name a few hundred). None for anything else, and for a run or an artifact given twice:
    run_records then takes the batch record by record and refuses or accepts it exactly as it
    would have.

    Why: record by record, a bulk registration spent most of its time building and checking a
    dict per record; here each run is one tuple and each artifact another. register_runs of the
    benchmark's first runs into a fresh lake, in alternating processes: 10,000 runs 1.12-1.37 s
    record by record, 0.97-1.38 s gathered; 100,000 runs 10.5-13.1 s and 8.2-8.8 s."""
    run_rows: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    artifact_rows: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    run_ids: list[str] = []
    names: set[Any] = set()
    windows: set[tuple[str, str]] = set()
    statuses: set[Any] = set()
    kinds: set[Any] = set()
    try:  # a TypeError (an unhashable or unsortable value) means "not the plain shape"
        for run_input in run_inputs:
            fields = run_input.fields
            dataset_ids, callers, seed = fields.get("dataset_ids"), fields.get("callers"), fields.get("seed")
            strategy_hash, engine_version = fields.get("strategy_hash"), fields.get("engine_version")
            window_from, window_to, status = fields.get("window_from"), fields.get("window_to"), fields.get("status")
            if type(window_from) is dt.date and type(window_to) is dt.date:  # a Parquet file's DATE columns
                window_from, window_to = window_from.isoformat(), window_to.isoformat()
            if not (fields.keys() <= RUN_FIELDS and type(dataset_ids) is list and type(callers) is list
                    and type(seed) is int and -(2**63) <= seed < 2**63
                    and type(strategy_hash) is str and type(engine_version) is str
                    and type(window_from) is str and type(window_to) is str):
                return None
            dataset_ids, callers = sorted(set(dataset_ids)), sorted(set(callers))
            if not dataset_ids or not callers:
                return None
            names.update(dataset_ids, callers, (strategy_hash, engine_version))
            windows.add((window_from, window_to))
            statuses.add(status)
            family = fields.get("strategy_family")
            if family in (None, ""):
                family = None
            else:
                names.add(family)
            params, metrics = fields.get("params") or {}, fields.get("metrics") or {}
            if type(params) is not dict or type(metrics) is not dict:
                return None
            if all(type(value) is str for value in params.values()):
                names.update(params)
                params = dict(sorted(params.items()))
            else:
                params = param_values(params)
            if all(type(value) is float and math.isfinite(value) for value in metrics.values()):
                names.update(metrics)
                metrics = dict(sorted(metrics.items()))
            else:
                metrics = metric_values(metrics)
            # The dates are checked below to be their own isoformat, so this is run_identity's.
            run_id = run_id_for({"callers": callers, "dataset_ids": dataset_ids, "engine_version": engine_version,
                                 "seed": seed, "strategy_hash": strategy_hash,
                                 "window_from": window_from, "window_to": window_to})
            given_id = fields.get("run_id")
            if given_id not in (None, "") and given_id != run_id:
                return None
            month = window_from[:7]
            specs = fields.get("artifacts") or []
            if type(specs) is not list:
                return None
            artifact_ids = set()
            for spec in specs:
                if type(spec) is not dict or spec.keys() != ARTIFACT_SPEC_KEYS:
                    return None
                kind, facts = spec["kind"], files_read.get(spec["uri"])
                if facts is None:
                    return None
                artifact_id = artifact_id_for(run_id, kind, facts.content_hash)
                if artifact_id in artifact_ids:
                    return None
                artifact_ids.add(artifact_id)
                kinds.add(kind)
                artifact_rows.setdefault((kind, month), []).append(
                    (artifact_id, run_id, kind, facts.path, facts.content_hash, facts.size_bytes, facts.row_count))
            run_rows.setdefault((engine_version, month), []).append(
                (run_id, dataset_ids, strategy_hash, engine_version, seed, callers, window_from, window_to,
                 status, family, params, metrics, len(artifact_ids)))
            run_ids.append(run_id)
        for name in names:
            validate_name(name, "name")
        dates = {text: parse_date(text, "date") for window in windows for text in window}
        for status in statuses:
            check_vocabulary(status, "run_statuses", "status")
        for kind in kinds:
            check_vocabulary(kind, "artifact_kinds", "artifact kind")
    except (InputError, TypeError):
        return None
    if (len(set(run_ids)) < len(run_ids) or not run_ids
            or any(date.isoformat() != text for text, date in dates.items())
            or any(dates[window_from] > dates[window_to] for window_from, window_to in windows)):
        return None
    run_groups = {values: columns_of(rows, GATHERED_RUN_COLUMNS) for values, rows in run_rows.items()}
    for columns in run_groups.values():
        for name in ("window_from", "window_to"):
            columns[name] = [dates[text] for text in columns[name]]
    artifact_groups = {values: columns_of(rows, GATHERED_ARTIFACT_COLUMNS) for values, rows in artifact_rows.items()}
    dataset_ids = {dataset_id for columns in run_groups.values() for run_datasets in columns["dataset_ids"]
                   for dataset_id in run_datasets}
    artifact_count = sum(len(rows) for rows in artifact_rows.values())
    return GatheredRuns(run_groups, artifact_groups, run_ids, dataset_ids, artifact_count)


def columns_of(rows: list[tuple[Any, ...]], names: tuple[str, ...]) -> lake.Columns:
    return dict(zip(names, map(list, zip(*rows))))


def append_gathered_runs(lake_root: Path, gathered: GatheredRuns) -> Registration | None:
    """Under the write lock: append the runs when every dataset they name is registered and none of
    them is in the lake yet. None otherwise: append_new_runs then refuses or skips them, naming
    the run."""
    with lake.write_lock(lake_root):
        con = lake.connect()
        try:
            known_datasets = existing_records(con, lake_root, lake.DATASETS, sorted(gathered.dataset_ids))
            if len(known_datasets) < len(gathered.dataset_ids):
                return None
            if any_registered(con, lake_root, lake.RUNS, gathered.run_ids, gathered.folders()):
                return None
        finally:
            con.close()
        lake.append(lake_root, stamped_batches(gathered.artifact_groups, gathered.run_groups, lake.utc_now()))
    return Registration(written=gathered.run_ids, artifacts_written=gathered.artifact_count)


@dataclass(frozen=True)
class FileFacts:
    """What registration records of an artifact's file: where it is (absolute), its bytes' sha256,
    size and Parquet rows."""

    path: str
    content_hash: str
    size_bytes: int
    row_count: int | None


def run_batches(runs: list[dict[str, Any]], artifacts_by_run: ArtifactsByRun, registered_at: Any) -> list[lake.Batch]:
    """The lake batches of new runs and their artifacts, stamped, in their partition folders.
    Gathered column by column (see lake.Batch): a bulk registration writes millions of them."""
    stamps = ("artifact_count", "registered_at")
    run_fields = [column.name for column in lake.RUNS.columns if column.name not in stamps]
    artifact_fields = [column.name for column in lake.ARTIFACTS.columns if column.name not in stamps]
    run_groups: dict[tuple[str, ...], lake.Columns] = {}
    artifact_groups: dict[tuple[str, ...], lake.Columns] = {}
    for run in runs:
        month = lake.month_of(run["window_from"])
        artifacts = artifacts_by_run[run["run_id"]]
        run_columns = group_columns(run_groups, (run["engine_version"], month), lake.RUNS)
        for name in run_fields:
            run_columns[name].append(run[name])
        run_columns["artifact_count"].append(len(artifacts))
        for artifact in artifacts.values():
            artifact_columns = group_columns(artifact_groups, (artifact["kind"], month), lake.ARTIFACTS)
            for name in artifact_fields:
                artifact_columns[name].append(artifact[name])
    return stamped_batches(artifact_groups, run_groups, registered_at)


def stamped_batches(
    artifact_groups: dict[tuple[str, ...], lake.Columns], run_groups: dict[tuple[str, ...], lake.Columns],
    registered_at: Any,
) -> list[lake.Batch]:
    """Artifacts first: once a run is visible, all of its artifacts already are."""
    batches = []
    for table, groups in ((lake.ARTIFACTS, artifact_groups), (lake.RUNS, run_groups)):
        for columns in groups.values():
            columns["registered_at"] = lake.Repeated(registered_at, len(columns[table.id_column]))
        batches.append(lake.Batch(table, groups))
    return batches


def group_columns(groups: dict[tuple[str, ...], lake.Columns], values: tuple[str, ...], table: lake.Table) -> lake.Columns:
    """The column lists of one partition's records, started empty when the partition is new."""
    columns = groups.get(values)
    if columns is None:
        columns = groups[values] = {column.name: [] for column in table.columns}
    return columns


ARTIFACT_SPEC_KEYS = frozenset({"kind", "uri"})


def artifact_spec(spec: Any) -> dict[str, Any]:
    """An artifact as given, {"kind", "uri"}: an object, or KIND=URI as on the command line."""
    if isinstance(spec, str):
        kind, sep, uri = spec.partition("=")
        if not sep:
            raise InputError(f"invalid artifact {spec!r}: expected KIND=URI")
        spec = {"kind": kind, "uri": uri}
    if not isinstance(spec, dict) or spec.keys() != ARTIFACT_SPEC_KEYS:
        raise InputError(f"invalid artifact {spec!r}: expected an object with exactly 'kind' and 'uri'")
    return spec


def artifact_record(run_id: str, spec: Any, files_read: dict[str, FileFacts] | None = None) -> dict[str, Any]:
    """An artifact of a local file: its bytes are hashed, a Parquet file's rows counted."""
    spec = artifact_spec(spec)
    kind = check_vocabulary(spec["kind"], "artifact_kinds", "artifact kind")
    # Keyed by the uri as given: the same text names the same file within one call.
    facts = files_read.get(spec["uri"]) if files_read is not None and isinstance(spec["uri"], str) else None
    if facts is None:
        facts = file_facts(local_path(spec["uri"]))
        if files_read is not None:
            files_read[spec["uri"]] = facts
    return {
        "artifact_id": artifact_id_for(run_id, kind, facts.content_hash),
        "run_id": run_id,
        "kind": kind,
        "uri": facts.path,
        "content_hash": facts.content_hash,
        "size_bytes": facts.size_bytes,
        "row_count": facts.row_count,
    }


def artifact_uris(run_inputs: list[RunInput]) -> list[str]:
    """The distinct artifact uris the inputs name, as given. A malformed artifact is skipped here:
    run_records refuses it, naming the run that gives it."""
    uris: dict[str, None] = {}
    for run_input in run_inputs:
        try:
            for spec in as_list(run_input.fields.get("artifacts") or [], "artifacts"):
                # A dict is taken as it is (artifact_spec's checks cost 0.2 s per 100,000 runs);
                # one with other keys is refused by run_records all the same.
                uri = spec.get("uri") if type(spec) is dict else artifact_spec(spec)["uri"]
                if isinstance(uri, str) and uri:
                    uris[uri] = None
        except InputError:
            continue
    return list(uris)


def files_read_ahead(uris: list[str]) -> dict[str, FileFacts]:
    """The facts of each file, by uri as given, read in threads (one per core; a single file in
    line): reading and hashing release the GIL, and a batch of distinct output files is bound by
    them (200 files of 2 MiB, warm cache, 2 cores: 0.34 s one after another, 0.19 s ahead). A file
    that cannot be read is left out, for run_records to report it in the line that names it."""

    def facts_or_none(uri: str) -> FileFacts | None:
        try:
            return file_facts(local_path(uri))
        except (InputError, OSError):
            return None

    if len(uris) < 2:
        return {uri: facts for uri in uris if (facts := facts_or_none(uri)) is not None}
    with ThreadPoolExecutor(max_workers=min(len(uris), os.cpu_count() or 1)) as readers:
        return {uri: facts for uri, facts in zip(uris, readers.map(facts_or_none, uris)) if facts is not None}


def file_facts(path: Path) -> FileFacts:
    if not path.is_file():
        raise InputError(f"artifact file not found: {path}")
    content_hash, size_bytes = file_sha256(path)
    row_count = None
    if path.suffix == ".parquet":
        try:
            row_count = parquet_row_count(path)
        except Exception as error:  # pyarrow raises several types for a broken file
            raise InputError(f"artifact {path} is not a readable Parquet file: {error}") from None
    return FileFacts(str(path), content_hash, size_bytes, row_count)


def parquet_row_count(path: Path) -> int:
    import pyarrow.parquet as pq  # here, not at the top: ~70 ms a read-only command never needs

    return pq.ParquetFile(path).metadata.num_rows


def local_path(uri: Any) -> Path:
    if not isinstance(uri, str) or not uri:
        raise InputError(f"invalid artifact uri {uri!r}")
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    elif "://" in uri:
        raise InputError(f"artifact uri {uri!r}: only local files (a path or file://) are supported")
    return Path(uri).expanduser().absolute()


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as content:
        while chunk := content.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# ---------------------------------------------------------------- bulk input


def read_run_file(path: Path) -> list[RunInput]:
    """runs.jsonl (one JSON object per line) or runs.parquet (one run per row)."""
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq  # only bulk registration reads Parquet input

            rows = pq.read_table(path).to_pylist()
        except Exception as error:
            raise InputError(f"{path} is not a readable Parquet file: {error}") from None
        return [RunInput(parquet_row(row), f"row {number}") for number, row in enumerate(rows, start=1)]
    run_inputs = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"line {number}: not valid JSON ({error.msg})") from None
            if not isinstance(fields, dict):
                raise InputError(f"line {number}: expected a JSON object")
            run_inputs.append(RunInput(fields, f"line {number}"))
    return run_inputs


def parquet_row(row: dict[str, Any]) -> dict[str, Any]:
    """pyarrow gives maps as lists of pairs; the run fields want dicts. Nulls mean absent."""
    fields = {key: value for key, value in row.items() if value is not None}
    for name in ("params", "metrics"):
        if isinstance(fields.get(name), list):
            fields[name] = dict(fields[name])
    return fields


# ---------------------------------------------------------------- checks shared by all records


def check_vocabulary(value: Any, seed_name: str, what: str) -> str:
    accepted = vocabulary(seed_name)
    if value not in accepted:
        raise InputError(f"unknown {what} {value!r}: expected one of {', '.join(sorted(accepted))}")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, str):  # "a,b" as on the command line
        return [part for part in value.split(",") if part]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise InputError(f"invalid {what} {value!r}: expected a list")


def param_values(params: Any) -> dict[str, str]:
    """Params are text; a JSON number or boolean is kept as its JSON text ("20", "true")."""
    if not isinstance(params, dict):
        raise InputError(f"invalid params {params!r}: expected an object")
    values = {}
    for key, value in sorted(params.items()):
        validate_name(key, "param key")
        if isinstance(value, str):
            values[key] = value
        elif isinstance(value, (bool, int, float)):
            values[key] = canonical_json(value)
        else:
            raise InputError(f"invalid param {key}={value!r}: expected text, a number or a boolean")
    return values


def metric_values(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, dict):
        raise InputError(f"invalid metrics {metrics!r}: expected an object")
    values = {}
    for key, value in sorted(metrics.items()):
        validate_name(key, "metric key")
        # A finite float is already its value; only anything else goes through parse_number (and
        # pays for the text naming the metric in its error message).
        values[key] = value if type(value) is float and math.isfinite(value) else parse_number(value, f"metric {key}")
    return values


def existing_records(
    con: duckdb.DuckDBPyConnection, lake_root: Path, table: lake.Table, ids: list[str],
    partition: lake.Partition | None = None,
) -> dict[str, dict[str, Any]]:
    """The lake's record of each id, without its registration time (not part of the content)."""
    if not ids:
        return {}
    rows = lake.records(con, lake_root, table, f"{table.id_column} IN (SELECT unnest($ids))", {"ids": ids}, partition)
    return {row[table.id_column]: without_registered_at(row) for row in rows}


def any_registered(
    con: duckdb.DuckDBPyConnection, lake_root: Path, table: lake.Table, ids: list[str], partition: lake.Partition
) -> bool:
    """Whether the lake has a record under any of these ids. Reads the id column alone: reading
    whole records, as existing_records does, took 0.6 s instead of 0.3 s to check 100,000 new runs
    against a lake of 1M."""
    (found,) = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM ({lake.scan_sql(lake_root, table, partition)}) "
        f"WHERE {table.id_column} IN (SELECT unnest($ids)) LIMIT 1)",
        {"ids": ids},
    ).fetchall()[0]
    return found > 0


def run_folders(runs: Iterable[dict[str, Any]]) -> lake.Partition:
    """The folders that can hold these runs (and, by `month`, their artifacts). A run id fixes its
    engine_version and window_from, and the partition contracts fix a record's folder, so a
    check against these folders alone sees every record the lake has under those ids."""
    runs = list(runs)
    return {"engine_version": {run["engine_version"] for run in runs}.__contains__,
            "month": {lake.month_of(run["window_from"]) for run in runs}.__contains__}


def artifacts_of_runs(
    con: duckdb.DuckDBPyConnection, lake_root: Path, runs: list[dict[str, Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    if not runs:
        return {}
    run_ids = [run["run_id"] for run in runs]
    by_run: dict[str, dict[str, dict[str, Any]]] = {}
    for row in lake.records(con, lake_root, lake.ARTIFACTS, "run_id IN (SELECT unnest($ids))", {"ids": run_ids},
                            {"month": run_folders(runs)["month"]}):
        by_run.setdefault(row["run_id"], {})[row["artifact_id"]] = without_registered_at(row)
    return by_run


def without_registered_at(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name != "registered_at"}


def refuse_if_different(what: str, record_id: str, existing: dict[str, Any], new: dict[str, Any]) -> None:
    """Same id, same content: fine. Same id, other content: refused, naming the fields."""
    differing = sorted(name for name in set(existing) | set(new) if existing.get(name) != new.get(name))
    if differing:
        raise InputError(
            f"{what} {record_id} is already registered with different {', '.join(differing)}; "
            "records are immutable: register the change under a new id"
        )
