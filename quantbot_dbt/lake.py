"""The Parquet lake: layout, one explicit schema per record type, atomic appends, and scans.

Layout under the lake root (partition folders carry the same value as the record's column
of the same name; `month` is the month of the run's simulated start day, `window_from`):

    registry/datasets/part-*.parquet
    registry/runs/engine_version=<v>/month=<YYYY-MM>/part-*.parquet
    registry/artifacts/kind=<k>/month=<YYYY-MM>/part-*.parquet
    registry/runsets/runset_id=<id>/part-*.parquet            (specs)
    registry/runset_names/part-*.parquet
    registry/runset_events/part-*.parquet
    registry/resolutions/runset_id=<id>/part-*.parquet
    registry/run_tags/part-*.parquet
    registry/experiments/part-*.parquet                        (pinned to a resolution)
    compactions/compaction-*.json                              (what each compaction merged: compaction.py)

Files are only ever added: written to a hidden temp file in their final folder, fsynced,
then renamed to a name no other writer can produce. Nothing here rewrites or deletes one;
only `quantbot registry compact` (compaction.py) replaces files, never changing a record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import duckdb

from .ids import NAME_PATTERN, InputError, validate_id_prefix

if TYPE_CHECKING:
    import pyarrow as pa


# Column types are DuckDB's (the staging models declare the same, a test checks it); the
# pyarrow schema is built from them only when a file is written, so reads never import pyarrow.
@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True


REGISTERED_AT = Column("registered_at", "TIMESTAMP", nullable=False)  # UTC


@dataclass(frozen=True)
class Table:
    name: str
    id_column: str
    columns: tuple[Column, ...]
    partition_keys: tuple[str, ...] = ()

    def folder(self, lake_root: Path) -> Path:
        return lake_root / "registry" / self.name

    @functools.cached_property
    def schema(self) -> pa.Schema:
        """The pyarrow schema every file of the table is written with."""
        import pyarrow as pa  # here, not at the top: ~60 ms a read-only command never needs

        return pa.schema([pa.field(column.name, arrow_type(column.type), nullable=column.nullable)
                          for column in self.columns])



DATASETS = Table(
    "datasets",
    "dataset_id",
    (
        Column("dataset_id", "VARCHAR", nullable=False),
        Column("kind", "VARCHAR", nullable=False),
        Column("window_from", "DATE"),
        Column("window_to", "DATE"),
        Column("schema_version", "VARCHAR"),
        Column("source", "VARCHAR"),
        Column("uri", "VARCHAR"),
        Column("meta", "MAP(VARCHAR, VARCHAR)"),
        REGISTERED_AT,
    ),
)

RUNS = Table(
    "runs",
    "run_id",
    (
        Column("run_id", "VARCHAR", nullable=False),
        Column("dataset_ids", "VARCHAR[]", nullable=False),
        Column("strategy_hash", "VARCHAR", nullable=False),
        Column("engine_version", "VARCHAR", nullable=False),
        Column("seed", "BIGINT", nullable=False),
        Column("callers", "VARCHAR[]", nullable=False),
        Column("window_from", "DATE", nullable=False),
        Column("window_to", "DATE", nullable=False),
        Column("status", "VARCHAR", nullable=False),
        Column("strategy_family", "VARCHAR"),
        Column("params", "MAP(VARCHAR, VARCHAR)"),
        Column("metrics", "MAP(VARCHAR, DOUBLE)"),
        # How many artifacts were registered with the run (they only ever come with it), so that
        # a resolve counts its members' artifacts without reading the artifact files; a dbt
        # contract checks it. NULL in a run file written without it.
        Column("artifact_count", "BIGINT"),
        REGISTERED_AT,
    ),
    # By month, not day: a year of day folders made one 10,000-run batch write 3,250 files,
    # and every scan pays per file (benchmarks/README.md).
    partition_keys=("engine_version", "month"),
)

ARTIFACTS = Table(
    "artifacts",
    "artifact_id",
    (
        Column("artifact_id", "VARCHAR", nullable=False),
        Column("run_id", "VARCHAR", nullable=False),
        Column("kind", "VARCHAR", nullable=False),
        Column("uri", "VARCHAR", nullable=False),
        Column("content_hash", "VARCHAR", nullable=False),
        Column("size_bytes", "BIGINT", nullable=False),
        Column("row_count", "BIGINT"),
        REGISTERED_AT,
    ),
    partition_keys=("kind", "month"),
)

# RunSets. A spec is content-addressed and immutable; names point at specs; everything that
# changes (freeze, unfreeze, delete, revive, labels) is an event. Events, resolutions and run
# tags share one lake-wide `event_seq`, assigned under the write lock, so state changes are
# totally ordered and can never tie.
RUNSETS = Table(
    "runsets",
    "runset_id",
    (
        Column("runset_id", "VARCHAR", nullable=False),
        Column("spec_json", "VARCHAR", nullable=False),  # the exact string runset_id hashes
        REGISTERED_AT,
    ),
    partition_keys=("runset_id",),
)

RUNSET_NAMES = Table(
    "runset_names",
    "name",
    (
        Column("name", "VARCHAR", nullable=False),
        Column("runset_id", "VARCHAR", nullable=False),
        REGISTERED_AT,
    ),
)

RUNSET_EVENTS = Table(
    "runset_events",
    "event_seq",
    (
        Column("event_seq", "BIGINT", nullable=False),
        Column("runset_id", "VARCHAR", nullable=False),
        Column("event", "VARCHAR", nullable=False),  # frozen unfrozen deleted revived tagged untagged described
        Column("resolution_id", "VARCHAR"),  # frozen: the resolution it pins
        Column("tag", "VARCHAR"),  # tagged, untagged
        Column("description", "VARCHAR"),  # described
        REGISTERED_AT,
    ),
)

RESOLUTIONS = Table(
    "resolutions",
    "resolution_id",
    (
        Column("resolution_id", "VARCHAR", nullable=False),
        Column("runset_id", "VARCHAR", nullable=False),
        Column("event_seq", "BIGINT", nullable=False),
        Column("resolver_version", "VARCHAR", nullable=False),
        Column("run_ids", "VARCHAR[]", nullable=False),  # sorted
        Column("resolution_hash", "VARCHAR", nullable=False),
        Column("run_count", "BIGINT", nullable=False),
        Column("artifact_count", "BIGINT", nullable=False),
        Column("coverage_json", "VARCHAR", nullable=False),
        Column("warnings", "VARCHAR[]", nullable=False),
        REGISTERED_AT,  # when it was resolved
    ),
    partition_keys=("runset_id",),
)

RUN_TAGS = Table(
    "run_tags",
    "event_seq",
    (
        Column("event_seq", "BIGINT", nullable=False),
        Column("run_id", "VARCHAR", nullable=False),
        Column("tag", "VARCHAR", nullable=False),
        Column("event", "VARCHAR", nullable=False),  # tagged, untagged
        REGISTERED_AT,
    ),
)

# An experiment pins one resolution of a RunSet (what it was run on, forever). Its id is the
# sha256 of {"name","params","resolution_id","runset_id"}; the description is content, not identity.
EXPERIMENTS = Table(
    "experiments",
    "experiment_id",
    (
        Column("experiment_id", "VARCHAR", nullable=False),
        Column("name", "VARCHAR", nullable=False),
        Column("runset_id", "VARCHAR", nullable=False),
        Column("resolution_id", "VARCHAR", nullable=False),
        Column("resolution_hash", "VARCHAR", nullable=False),  # of that resolution, checked in SQL
        Column("params", "MAP(VARCHAR, VARCHAR)", nullable=False),  # sorted by key; {} when none
        Column("description", "VARCHAR"),
        REGISTERED_AT,
    ),
)

TABLES = {
    table.name: table
    for table in (DATASETS, RUNS, ARTIFACTS, RUNSETS, RUNSET_NAMES, RUNSET_EVENTS, RESOLUTIONS, RUN_TAGS, EXPERIMENTS)
}
EVENT_TABLES = (RUNSET_EVENTS, RESOLUTIONS, RUN_TAGS)


class ConflictingRecords(Exception):
    """The lake holds two different records under one id: tampering, or a bypassed lock."""


@dataclass(frozen=True)
class Repeated:
    """A column of one value for every record of its group (a batch's registration time): made
    into Arrow once, not once per record (0.17 s of a registration of 100,000 runs)."""

    value: Any
    count: int

    def __len__(self) -> int:
        return self.count


Rows = list[dict[str, Any]]
Columns = dict[str, list[Any] | Repeated]  # column name -> values, one per record


@dataclass(frozen=True)
class Batch:
    """Records of one table, grouped by their partition values (in `table.partition_keys` order).
    A group is a list of record dicts, or its records column by column (every column of the table;
    one with the same value for every record may be a Repeated): bulk registration gathers
    millions of records, and converting row dicts (pa.Table.from_pylist) cost more than building
    them, because each dict is visited scattered across the heap; column lists convert in half
    the time. The event tables take rows (their file names state their highest event_seq)."""

    table: Table
    groups: dict[tuple[str, ...], Rows | Columns]


def arrow_table(table: Table, records: Rows | Columns) -> pa.Table:
    """The records of one file in the table's schema (a map column given as dicts)."""
    import pyarrow as pa  # here, not at the top: ~70 ms a read-only command never needs

    if isinstance(records, list):
        return pa.Table.from_pylist(records, schema=table.schema)

    def column_array(values: list[Any] | Repeated, type_: pa.DataType) -> pa.Array:
        if isinstance(values, Repeated):
            return pa.repeat(pa.scalar(values.value, type_), values.count)
        return pa.array(values, type_)

    return pa.Table.from_arrays([column_array(records[field.name], field.type) for field in table.schema],
                                schema=table.schema)


def record_count(records: Rows | Columns) -> int:
    return len(records) if isinstance(records, list) else len(next(iter(records.values()), []))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def month_of(day: dt.date) -> str:
    """The `month=` folder of a run and its artifacts: the month of the run's `window_from`."""
    return day.isoformat()[:7]  # not f"{day:%Y-%m}": strftime cost a bulk registration ~5 us a run


def months_between(first: str, last: str) -> Callable[[str], bool]:
    """A `month=` folder test: the folder's month overlaps the days first..last (ISO dates)."""
    return lambda month: first[:7] <= month <= last[:7]


def part_file_name(highest_event_seq: int | None = None) -> str:
    # Timestamp for humans and ordering, uuid4 so that no two writers (processes, threads,
    # the same microsecond) can ever produce the same name.
    stated_seq = "" if highest_event_seq is None else f"-seq{highest_event_seq:019d}"
    return f"part-{utc_now():%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}{stated_seq}.parquet"


# An event table's file states its highest event_seq in its name (`...-seq<19 digits>.parquet`),
# so the next event_seq comes from a folder listing instead of opening every event file (one
# per state change until a compaction). A dbt contract checks every name against its records.
EVENT_SEQ_IN_NAME = re.compile(r"-seq(\d{19})\.parquet\Z")


def event_seq_in_name(path: str) -> int | None:
    """The highest event_seq a file's name states, or None (a file not named by our writers)."""
    match = EVENT_SEQ_IN_NAME.search(path)
    return int(match.group(1)) if match else None


def highest_event_seq(records: Rows | Columns, table: Table) -> int | None:
    """What an event table's file name states about these records; None for other tables."""
    if table not in EVENT_TABLES:
        return None
    if not isinstance(records, list):
        raise TypeError(f"{table.name} records are written as rows: their file name states their highest event_seq")
    return max(record["event_seq"] for record in records)


def partition_folder(table: Table, lake_root: Path, values: tuple[str, ...]) -> Path:
    if len(values) != len(table.partition_keys):
        raise ValueError(f"{table.name} is partitioned by {table.partition_keys}, got {values}")
    folder = table.folder(lake_root)
    for key, value in zip(table.partition_keys, values):
        # Values were validated as names upstream; checked again here because a bad one
        # would become a path outside the table folder.
        if not NAME_PATTERN.match(value):
            raise ValueError(f"unsafe partition value {key}={value!r}")
        folder = folder / f"{key}={value}"
    return folder


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """An advisory lock between processes, released when the block ends (or the process dies)."""
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def lock_path(lake_root: Path, name: str) -> Path:
    registry_dir = lake_root / "registry"
    registry_dir.mkdir(parents=True, exist_ok=True)
    return registry_dir / f".{name}.lock"


@contextlib.contextmanager
def write_lock(lake_root: Path) -> Iterator[None]:
    """One writer at a time per lake, so that check-then-append cannot race with another
    process registering the same id. Readers never take it. A writer also holds `reading`:
    compaction cannot swap away a file while the writer checks against it."""
    lock_path(lake_root, "swap").touch()  # made with the lake, so that readers find it (see `reading`)
    with reading(lake_root), exclusive_lock(lock_path(lake_root, "write")):
        yield


@contextlib.contextmanager
def reading(lake_root: Path) -> Iterator[None]:
    """Held (shared) by every CLI command and port request while it reads or writes the lake:
    compaction swaps files only when no one holds it, so a file listed is still there when read.
    Reading creates nothing: a lake without the lock file has never been written, so there is
    nothing to compact; a read-only lake works too (flock needs only a read handle)."""
    try:
        lock_file = open(lake_root / "registry" / ".swap.lock")
    except FileNotFoundError:
        yield
        return
    with lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_SH)
        yield  # closing the file releases the lock


def swapping(lake_root: Path) -> contextlib.AbstractContextManager[None]:
    """Exclusive: waits for every `reading` holder; only compaction takes it, for its swap."""
    return exclusive_lock(lock_path(lake_root, "swap"))


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LakeFile:
    """A lake file as it is on disk: any change to it (compaction, a hand edit) shows here."""

    lake_table: str
    size_bytes: int
    modified_ns: int
    changed_ns: int  # ctime: also moves when a file is rewritten and its mtime set back

    @classmethod
    def of(cls, path: str | Path, lake_table: str) -> LakeFile:
        stat = os.stat(path)
        return cls(lake_table, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def append(lake_root: Path, batches: list[Batch]) -> list[Path]:
    """Append every batch, all files written and fsynced before the first becomes visible.

    Files become visible in the order of `batches` (callers put artifacts before runs, so a
    visible run always has all of its artifacts). Returns the new files.
    """
    pending: list[tuple[Path, Path]] = []
    try:
        # Encoding, compressing and fsyncing a file release the GIL, so threads write the files
        # while the next one's rows are converted: a bulk registration writes ~100 files. Two
        # writers kept up with the conversion of a 10k-run batch (append 0.63 s -> 0.50 s; one
        # writer fell behind, four slowed the conversion down).
        with ThreadPoolExecutor(max_workers=2) as writer:
            writes = []
            for batch in batches:
                for values, records in batch.groups.items():
                    if not record_count(records):
                        continue
                    folder = partition_folder(batch.table, lake_root, values)
                    folder.mkdir(parents=True, exist_ok=True)
                    final_path = folder / part_file_name(highest_event_seq(records, batch.table))
                    temp_path = folder / f".{final_path.name}.tmp"
                    pending.append((temp_path, final_path))
                    writes.append(writer.submit(write_synced, arrow_table(batch.table, records), temp_path))
            for write in writes:
                write.result()  # raises the first write's error
    except BaseException:
        # Leaving the `with` waited for every write, so no temp file can appear after this.
        for temp_path, _ in pending:
            temp_path.unlink(missing_ok=True)
        raise
    for temp_path, final_path in pending:
        os.rename(temp_path, final_path)
    for folder in {final_path.parent for _, final_path in pending}:
        fsync_dir(folder)
    return [final_path for _, final_path in pending]


def write_synced(contents: pa.Table, path: Path, row_group_size: int | None = None) -> None:
    """Write a Parquet file and fsync it. Arrow's own file, not a Python one: writing through a
    Python file object takes the GIL for every chunk, so the writer threads of `append` waited
    on the conversion of the next file (a batch of 100,000 runs appended in 1.9 s instead of
    2.2 s)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pa.OSFile(str(path), "wb") as out:
        pq.write_table(contents, out, compression="zstd", row_group_size=row_group_size)
    fd = os.open(path, os.O_RDONLY)  # fsync applies to the file, whichever descriptor asks
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def connect() -> duckdb.DuckDBPyConnection:
    """A new connection (close it when done) to this process's in-memory DuckDB database.

    Creating a database costs ~20 ms (its catalog of built-in functions), closing it a few more, a
    connection to one well under 1 ms: a port or a Python session that reads again pays it once
    (a fresh resolve of the 10k benchmark lake, alternated in one process: a median of 130 ms with
    a database of its own, 105 ms with this one). Connections share the database's settings,
    which nothing here changes (the lab locks down a database of its own), not their temp views."""
    return process_database(os.getpid()).cursor()


@functools.cache
def process_database(pid: int) -> duckdb.DuckDBPyConnection:
    """One per process id: a child forked after the first read gets a database of its own, since
    DuckDB's threads do not survive a fork; the parent's is never closed there."""
    return duckdb.connect()


Partition = dict[str, "str | Callable[[str], bool]"]


def files(lake_root: Path, table: Table, partition: Partition | None = None) -> list[str]:
    """Every Parquet file of a table, whatever its name: a hand-written file counts too.

    `partition` prunes by folder: a value (`{"engine_version": "1.0.0"}`) or a test of the
    folder's value (`{"month": lambda month: month <= "2025-06"}`); a pruned folder is never
    listed. The dbt partition contracts guarantee that a record's folders agree with its
    columns, so pruning never loses a record. A file outside the layout (no such folder above
    it: a hand-made file, a lake of an older layout) cannot be pruned, so it is always listed:
    pruning only saves reads, the query's own filters decide.
    """
    tests = {
        key: (wanted if callable(wanted) else (lambda value, wanted=wanted: value == wanted))
        for key, wanted in (partition or {}).items()
    }
    selected: list[str] = []

    def walk(folder: Path) -> None:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.is_dir():
                key, sep, value = entry.name.partition("=")
                if sep and key in tests and not tests[key](value):
                    continue
                walk(Path(entry.path))
            elif entry.name.endswith(".parquet") and entry.is_file():
                selected.append(entry.path)

    walk(table.folder(lake_root))
    return sorted(selected)


def scan_sql(lake_root: Path, table: Table, partition: Partition | None = None) -> str:
    """SQL for the table's records exactly as written, typed by the lake schema; an empty
    lake gives zero rows. A column no file has yet reads as NULL; one the schema lacks is dropped.

    Plain SQL with the file list inlined, not a chain of relations: each relation step binds
    (reads every file footer) again, which cost more than the scan on a small table."""
    paths = files(lake_root, table, partition)
    typed = [(quoted(column.name), column.type) for column in table.columns]
    if not paths:
        return "SELECT " + ", ".join(f"CAST(NULL AS {type_}) AS {name}" for name, type_ in typed) + " WHERE false"
    file_list = ", ".join(literal(path) for path in paths)
    shape = ", ".join(f"CAST(NULL AS {type_}) AS {name}" for name, type_ in typed)
    columns = ", ".join(f"CAST({name} AS {type_}) AS {name}" for name, type_ in typed)
    return (f"SELECT {columns} FROM (SELECT * FROM read_parquet([{file_list}], union_by_name = true, "
            f"hive_partitioning = false) UNION ALL BY NAME SELECT {shape} WHERE false)")


def distinct_sql(lake_root: Path, table: Table, partition: Partition | None = None, without: tuple[str, ...] = ()) -> str:
    """One row per distinct record; a record sent twice keeps its first registration time.
    Columns `without` are not read at all (records differing only there fold into one)."""
    excluded = ", ".join(quoted(name) for name in ("registered_at", *without))
    return (f"SELECT * EXCLUDE ({excluded}), min(registered_at) AS registered_at "
            f"FROM ({scan_sql(lake_root, table, partition)}) GROUP BY ALL")


def scan(
    con: duckdb.DuckDBPyConnection, lake_root: Path, table: Table, partition: Partition | None = None
) -> duckdb.DuckDBPyRelation:
    """`scan_sql` as a relation. Duplicates (the same record written twice) are kept."""
    return con.sql(scan_sql(lake_root, table, partition))


def records(
    con: duckdb.DuckDBPyConnection,
    lake_root: Path,
    table: Table,
    where: str = "TRUE",
    params: dict[str, Any] | None = None,
    partition: Partition | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    without: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Records of a table as dicts; `where` is SQL written by this package, user values go in
    `params`. An id with two different records is an error, never a silent pick (`without`:
    columns left unread, see distinct_sql)."""
    sql = (f"SELECT * FROM ({distinct_sql(lake_root, table, partition, without)}) "
           f"WHERE {where} ORDER BY {order_by or table.id_column}")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cursor = con.execute(sql, params or {})
    columns = [column[0] for column in cursor.description]
    rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    seen: set[str] = set()
    for row in rows:
        if row[table.id_column] in seen:
            raise ConflictingRecords(
                f"{table.id_column} {row[table.id_column]} has two different records in the lake; "
                "`quantbot registry rebuild` names the contract it breaks"
            )
        seen.add(row[table.id_column])
    return rows


def record_by_prefix(con: duckdb.DuckDBPyConnection, lake_root: Path, table: Table, ref: str, what: str) -> dict[str, Any]:
    """The one record whose id is `ref` or starts with it (8+ hex); none or several is refused."""
    validate_id_prefix(ref, f"{what} id")
    found = records(con, lake_root, table, f"starts_with({table.id_column}, $ref)", {"ref": ref}, limit=11)
    if not found:
        raise InputError(f"no {what} matches {ref!r}")
    if len(found) > 1:
        shown = ", ".join(row[table.id_column][:16] for row in found[:10])
        raise InputError(f"{what} id prefix {ref!r} is ambiguous: it matches {shown}{' ...' if len(found) > 10 else ''}")
    return found[0]


def literal(text: str) -> str:
    """A SQL string literal (file paths are listed in SQL; views cannot take parameters)."""
    return "'" + text.replace("'", "''") + "'"


def quoted(identifier: str) -> str:
    """A SQL identifier, double-quoted (the lab names artifact columns with it too)."""
    return '"' + identifier.replace('"', '""') + '"'


def arrow_type(duckdb_type: str) -> pa.DataType:
    """The pyarrow type of a lake column type (the few the lake schema uses)."""
    import pyarrow as pa

    if duckdb_type.endswith("[]"):
        return pa.list_(arrow_type(duckdb_type[:-2]))
    if duckdb_type.startswith("MAP("):
        key_type, item_type = duckdb_type[len("MAP("):-1].split(", ")
        return pa.map_(arrow_type(key_type), arrow_type(item_type))
    return {
        "VARCHAR": pa.string(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us"),
    }[duckdb_type]
