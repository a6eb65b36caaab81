"""`quantbot registry compact`: merge the small part files of each partition folder into one.

The only code that removes a lake file, and it never changes a record: the merged file holds
exactly the distinct rows of the files it replaces (verified by reading it back before any
source is removed), every column kept, `registered_at` included, so every id and hash the
registry derives stays the same.

Safe while others work on the lake:
- the heavy part (read, merge, write hidden temp files) runs with no lock that blocks anyone;
- the swap (temp files renamed into place, sources removed) happens under the exclusive
  `lake.swapping` lock, which waits for every CLI/port process reading or writing (they hold
  `lake.reading`), so no reader sees a half-swapped folder or opens a removed file;
- files appended after the plan was made are not touched; two compactions never overlap.

Each compaction that merges files leaves a record of it under `<lake>/compactions/` (which
file replaced which, and each one's size and times): the next registry rebuild reads it to keep
the registry it has, which holds the same records, instead of rebuilding it in full.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import lake
from .output import one_line


# Row groups of a merged file: small enough that min/max statistics skip most of a sorted file
# on a lookup by id, large enough that a full scan does not pay per group.
ROW_GROUP_ROWS = 100_000


@dataclass
class FolderPlan:
    table: str
    folder: Path
    sources: list[Path]
    skipped: list[Path]  # files whose schema is not the lake's: left as they are
    rows: int = 0  # distinct rows of the sources (what the merged file holds)


@dataclass
class Compaction:
    folders: list[FolderPlan] = field(default_factory=list)
    files_before: int = 0
    files_after: int = 0
    dry_run: bool = False

    @property
    def merged_folders(self) -> list[FolderPlan]:
        return [plan for plan in self.folders if len(plan.sources) > 1]


def plan(lake_root: Path) -> Compaction:
    """Every partition folder of every table, the files a compaction would merge, and those it cannot."""
    compaction = Compaction()
    for table in lake.TABLES.values():
        by_folder: dict[Path, list[Path]] = {}
        for path in lake.files(lake_root, table):
            by_folder.setdefault(Path(path).parent, []).append(Path(path))
        for folder, paths in sorted(by_folder.items()):
            sources = [path for path in paths if has_lake_schema(path, table)]
            compaction.folders.append(FolderPlan(table.name, folder, sources, sorted(set(paths) - set(sources))))
            compaction.files_before += len(paths)
    compaction.files_after = sum(
        (1 if len(plan.sources) > 1 else len(plan.sources)) + len(plan.skipped) for plan in compaction.folders
    )
    return compaction


def has_lake_schema(path: Path, table: lake.Table) -> bool:
    """Only files written with the table's exact schema are merged: anything else (a hand-made
    file, extra columns) is left alone rather than reshaped."""
    return pq.read_schema(path).remove_metadata().equals(table.schema.remove_metadata())


def compact(lake_root: Path, dry_run: bool = False) -> Compaction:
    with lake.exclusive_lock(lake.lock_path(lake_root, "compact")):
        compaction = plan(lake_root)
        compaction.dry_run = dry_run
        with lake.connect() as con:
            if dry_run:
                for folder_plan in compaction.merged_folders:
                    folder_plan.rows = distinct_row_count(con, folder_plan.sources)
                return compaction
            pending = [(folder_plan, *merge(con, folder_plan)) for folder_plan in compaction.merged_folders]
        try:
            with lake.swapping(lake_root):
                # A crash inside this loop can leave a merged file beside its sources: the same
                # records twice, which every reader folds and the next compaction merges.
                merges = []
                for folder_plan, temp_path, final_path in pending:
                    # The sources' state as they are removed: a file edited since the merge read it
                    # then differs from what any build read, and the record accounts for nothing.
                    sources = [lake.LakeFile.of(source, folder_plan.table) for source in folder_plan.sources]
                    os.rename(temp_path, final_path)
                    for source in folder_plan.sources:
                        source.unlink()
                    lake.fsync_dir(folder_plan.folder)
                    merges.append((final_path, lake.LakeFile.of(final_path, folder_plan.table),
                                   dict(zip(folder_plan.sources, sources))))
                if merges:
                    # A crash before this line leaves no record: the next rebuild is a full one.
                    try:
                        write_record(lake_root, merges)
                    except OSError as error:
                        raise OSError(f"the lake was compacted, but the record of it could not be written "
                                      f"({one_line(error)}): the next registry rebuild is a full one") from None
        finally:
            for _, temp_path, _ in pending:
                temp_path.unlink(missing_ok=True)  # left only if the swap failed before renaming it
    return compaction


# ---------------------------------------------------------------- records of compactions

RECORD_FORMAT = 1


@dataclass(frozen=True)
class MergedFile:
    """A file a compaction wrote, as it left it, and the files whose records it holds, as they were."""

    state: lake.LakeFile
    sources: dict[str, lake.LakeFile]


def records_folder(lake_root: Path) -> Path:
    return lake_root / "compactions"


def write_record(lake_root: Path, merges: list[tuple[Path, lake.LakeFile, dict[Path, lake.LakeFile]]]) -> Path:
    """One JSON file per compaction, written as lake files are (temp file, fsync, rename): which
    file replaced which, paths relative to the lake root."""

    def entry(path: Path, state: lake.LakeFile) -> dict[str, object]:
        return {"path": str(path.relative_to(lake_root)), "lake_table": state.lake_table,
                "size_bytes": state.size_bytes, "modified_ns": state.modified_ns, "changed_ns": state.changed_ns}

    document = {"format": RECORD_FORMAT, "merged": [
        {**entry(path, state), "sources": [entry(source, source_state) for source, source_state in sources.items()]}
        for path, state, sources in merges
    ]}
    folder = records_folder(lake_root)
    folder.mkdir(exist_ok=True)
    final_path = folder / f"compaction-{lake.utc_now():%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}.json"
    temp_path = folder / f".{final_path.name}.tmp"
    try:
        with open(temp_path, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.rename(temp_path, final_path)
    finally:
        temp_path.unlink(missing_ok=True)
    lake.fsync_dir(folder)
    return final_path


def merged_files(lake_root: Path) -> dict[str, MergedFile]:
    """Every file any compaction of this lake wrote (whether it is still there or not), by path
    as lake.files spells it. Raises ValueError, naming the record, for one that cannot be read."""
    merged: dict[str, MergedFile] = {}

    def lake_file(entry: dict[str, object]) -> tuple[str, lake.LakeFile]:
        return str(lake_root / str(entry["path"])), lake.LakeFile(
            str(entry["lake_table"]), int(entry["size_bytes"]), int(entry["modified_ns"]), int(entry["changed_ns"]))

    folder = records_folder(lake_root)
    for record in sorted(folder.glob("compaction-*.json")) if folder.is_dir() else []:
        try:
            document = json.loads(record.read_text(encoding="utf-8"))
            if document["format"] != RECORD_FORMAT:
                raise ValueError(f"format {document['format']!r}, not {RECORD_FORMAT}")
            for entry in document["merged"]:
                path, state = lake_file(entry)
                merged[path] = MergedFile(state, dict(lake_file(source) for source in entry["sources"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"the compaction record {record} cannot be read: {error}") from None
    return merged


# ---------------------------------------------------------------- merging


def distinct_row_count(con: duckdb.DuckDBPyConnection, sources: list[Path]) -> int:
    con.read_parquet([str(path) for path in sources], hive_partitioning=False).create_view("source_rows")
    return con.sql("SELECT count(*) FROM (SELECT DISTINCT * FROM source_rows)").fetchall()[0][0]


def merge(con: duckdb.DuckDBPyConnection, folder_plan: FolderPlan) -> tuple[Path, Path]:
    """Write the distinct rows of the sources to a hidden temp file in their folder, fsynced,
    and prove it holds exactly those rows. Returns the temp file and the name it takes at the swap."""
    table = lake.TABLES[folder_plan.table]
    sources = [str(path) for path in folder_plan.sources]
    con.read_parquet(sources, hive_partitioning=False).create_view("source_rows")
    # Sorted by id: deterministic, and row-group statistics then prune lookups by id.
    merged = con.sql(f"SELECT DISTINCT * FROM source_rows ORDER BY {table.id_column}, registered_at")
    arrow_table = merged.to_arrow_table().cast(table.schema)
    highest_event_seq = pc.max(arrow_table["event_seq"]).as_py() if table in lake.EVENT_TABLES else None
    final_path = folder_plan.folder / lake.part_file_name(highest_event_seq)
    temp_path = folder_plan.folder / f".{final_path.name}.tmp"
    try:
        lake.write_synced(arrow_table, temp_path, ROW_GROUP_ROWS)
        con.read_parquet(str(temp_path), hive_partitioning=False).create_view("written")
        (missing, extra, count) = con.sql(
            "SELECT (SELECT count(*) FROM (SELECT * FROM source_rows EXCEPT SELECT * FROM written)),"
            "       (SELECT count(*) FROM (SELECT * FROM written EXCEPT SELECT * FROM source_rows)),"
            "       (SELECT count(*) FROM written)"
        ).fetchall()[0]
        if missing or extra or count != arrow_table.num_rows:
            raise RuntimeError(f"compaction of {folder_plan.folder} would change records "
                               f"({missing} missing, {extra} extra); nothing was replaced")
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    folder_plan.rows = arrow_table.num_rows
    return temp_path, final_path


def document(lake_root: Path, compaction: Compaction) -> dict[str, object]:
    """The --json answer: the folders merged (or to merge), paths relative to the lake."""
    return {
        "dry_run": compaction.dry_run,
        "files_before": compaction.files_before,
        "files_after": compaction.files_after,
        "folders": [
            {
                "table": plan.table,
                "folder": str(plan.folder.relative_to(lake_root)),
                "files": len(plan.sources),
                "rows": plan.rows,
                "skipped": [path.name for path in plan.skipped],
            }
            for plan in compaction.merged_folders
        ],
    }
