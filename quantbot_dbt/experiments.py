"""Experiments: a name and parameters pinned to one resolution of a RunSet, forever.

An experiment records what a piece of research was run on: the RunSet's resolution at the
time (pinned if frozen, else the latest, else a fresh one, exactly as `runset resolve`
answers), not the RunSet itself, so that it keeps the same runs however the RunSet moves on.

Identity: experiment_id = sha256 of {"name","params","resolution_id","runset_id"} (canonical
JSON). Names are not unique: the same name created after the RunSet was re-resolved pins the
new resolution and is a new experiment. The description is content: sent again with the same
identity, the same description is a no-op and another one is refused.

Executing a backtest is the engine's job; this module only records and reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from . import lake, resolver
from .ids import InputError, canonical_json, sha256_hex, validate_name
from .records import without_registered_at

# DuckDB's to_json escapes a few control characters with upper-case hex (\u001F) where Python's
# json writes lower case, so an id built from them would not recompute in SQL: they are refused.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
ARTIFACT_FIELDS = ("artifact_id", "run_id", "kind", "uri", "content_hash", "row_count")


def experiment_identity(name: str, params: dict[str, str], resolution_id: str, runset_id: str) -> dict[str, Any]:
    """Everything the experiment is; its id is the hash of exactly this (see experiment_identity_json)."""
    return {"name": name, "params": dict(sorted(params.items())), "resolution_id": resolution_id, "runset_id": runset_id}


def experiment_id_for(identity: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(identity))


def experiment_params(params: Any) -> dict[str, str]:
    """Params are text, keys are names, sorted by key (the JSON port sends an object)."""
    if not isinstance(params, dict):
        raise InputError(f"invalid params {params!r}: expected an object of KEY: text")
    checked = {}
    for key, value in sorted(params.items()):
        validate_name(key, "--param key")
        if not isinstance(value, str):
            raise InputError(f"invalid --param {key}={value!r}: the value must be text")
        if CONTROL_CHARACTERS.search(value):
            raise InputError(f"invalid --param {key}={value!r}: the value must not contain control characters")
        checked[key] = value
    return checked


# ---------------------------------------------------------------- create


def create(
    lake_root: Path, name: str, runset_ref: str, description: str | None = None, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """Record an experiment pinned to the RunSet's current resolution (resolving it first if it
    never was). The same identity and description again: nothing written (`written` false)."""
    validate_name(name, "experiment name")
    params = experiment_params(params or {})
    if description is not None and not isinstance(description, str):
        raise InputError(f"invalid description {description!r}: expected text")
    resolution = resolver.resolve(lake_root, runset_ref)  # refuses a deleted or unknown RunSet
    identity = experiment_identity(name, params, resolution["resolution_id"], resolution["runset_id"])
    record = {
        "experiment_id": experiment_id_for(identity),
        "name": name,
        "runset_id": resolution["runset_id"],
        "resolution_id": resolution["resolution_id"],
        "resolution_hash": resolution["resolution_hash"],
        "params": params,
        "description": description,
    }
    with lake.write_lock(lake_root), lake.connect() as con:
        existing = lake.records(con, lake_root, lake.EXPERIMENTS, "experiment_id = $id", {"id": record["experiment_id"]})
        if existing:
            refuse_if_different(without_registered_at(existing[0]), record)
            stored = existing[0]
        else:
            stored = {**record, "registered_at": lake.utc_now()}
            lake.append(lake_root, [lake.Batch(lake.EXPERIMENTS, {(): [stored]})])
    return {
        **experiment_view(stored, resolution["name"], resolution["run_count"]),
        "written": not existing,
    }


def refuse_if_different(existing: dict[str, Any], new: dict[str, Any]) -> None:
    """Under one id only the description can differ (everything else is its identity or follows
    from it): refused, because records are immutable."""
    differing = sorted(field for field in new if existing.get(field) != new[field])
    if differing:
        shown = "; ".join(f"recorded: {shown_value(existing.get(field))}, sent: {shown_value(new[field])}"
                          for field in differing)
        raise InputError(
            f"experiment {new['experiment_id']} ({new['name']}) is already recorded with a different "
            f"{', '.join(differing)} ({shown}); records are immutable: record the change under another --name"
        )


def shown_value(value: Any) -> str:
    return "none" if value is None else repr(value)


# ---------------------------------------------------------------- reads


def list_experiments(lake_root: Path, runset_ref: str | None = None) -> list[dict[str, Any]]:
    """Every experiment, oldest first; with a RunSet (name, id or prefix), only its experiments."""
    with lake.connect() as con:
        where, params = "TRUE", {}
        if runset_ref is not None:
            runset_id, _ = resolver.find_runset(con, lake_root, runset_ref)  # an unknown ref is refused
            where, params = "runset_id = $runset_id", {"runset_id": runset_id}
        rows = lake.records(con, lake_root, lake.EXPERIMENTS, where, params, order_by="registered_at, experiment_id")
        return describe(con, lake_root, rows)


def get_experiment(lake_root: Path, ref: str) -> dict[str, Any]:
    """One experiment by full id or unique prefix (8+ hex), with the runs and artifacts of the
    resolution it pinned: read from that resolution, never from the RunSet's current state."""
    with lake.connect() as con:
        rows = [lake.record_by_prefix(con, lake_root, lake.EXPERIMENTS, ref, "experiment")]
        (experiment,) = describe(con, lake_root, rows)
        run_ids = pinned_resolutions(con, lake_root, rows)[experiment["resolution_id"]]["run_ids"]
        runs = lake.records(con, lake_root, lake.RUNS, "run_id IN (SELECT unnest($ids))", {"ids": run_ids},
                            order_by="run_id")
        missing = sorted(set(run_ids) - {run["run_id"] for run in runs})
        if missing:
            raise InputError(f"resolution {experiment['resolution_id']} has member runs that are not in the lake "
                             f"({', '.join(run_id[:16] for run_id in missing)}); "
                             "`quantbot registry rebuild` names the contract it breaks")
        artifacts = lake.records(con, lake_root, lake.ARTIFACTS, "run_id IN (SELECT unnest($ids))", {"ids": run_ids},
                                 order_by="run_id, kind, artifact_id")
    return {
        **experiment,
        "runs": runs,
        "artifacts": [{field: artifact[field] for field in ARTIFACT_FIELDS} for artifact in artifacts],
    }


def describe(con: duckdb.DuckDBPyConnection, lake_root: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Experiment records as documents: with their RunSet's name and their resolution's run count."""
    if not rows:
        return []
    resolutions = pinned_resolutions(con, lake_root, rows)
    runset_ids = sorted({row["runset_id"] for row in rows})
    names: dict[str, str] = {}
    for row in lake.records(con, lake_root, lake.RUNSET_NAMES, "runset_id IN (SELECT unnest($ids))",
                            {"ids": runset_ids}, order_by="name"):
        names.setdefault(row["runset_id"], row["name"])  # the first name, as `runset list` shows it
    return [
        experiment_view(row, names.get(row["runset_id"], row["runset_id"]), resolutions[row["resolution_id"]]["run_count"])
        for row in rows
    ]


def pinned_resolutions(
    con: duckdb.DuckDBPyConnection, lake_root: Path, rows: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The resolutions the experiments pin, by id. One that is missing, of another RunSet or with
    another hash is a broken lake, reported as such rather than shown."""
    runset_ids = sorted({row["runset_id"] for row in rows})
    resolution_ids = sorted({row["resolution_id"] for row in rows})
    found = {
        resolution["resolution_id"]: resolution
        for resolution in lake.records(
            con, lake_root, lake.RESOLUTIONS, "resolution_id IN (SELECT unnest($ids))", {"ids": resolution_ids},
            partition={"runset_id": lambda folder: folder in runset_ids},
        )
    }
    for row in rows:
        resolution = found.get(row["resolution_id"])
        if resolution is None or (resolution["runset_id"], resolution["resolution_hash"]) != (
                row["runset_id"], row["resolution_hash"]):
            raise InputError(
                f"experiment {row['experiment_id']} pins resolution {row['resolution_id']}, which the lake does not "
                f"hold for RunSet {row['runset_id']} with resolution_hash {row['resolution_hash']}; "
                "`quantbot registry rebuild` names the contract it breaks"
            )
    return found


def experiment_view(record: dict[str, Any], runset_name: str, run_count: int) -> dict[str, Any]:
    """The document of one experiment (CLI --json and the JSON port): stable keys, plain values."""
    return {
        "experiment_id": record["experiment_id"],
        "name": record["name"],
        "runset_id": record["runset_id"],
        "runset_name": runset_name,
        "resolution_id": record["resolution_id"],
        "resolution_hash": record["resolution_hash"],
        "run_count": run_count,
        "params": dict(record["params"]),
        "description": record["description"],
        "created_at": record["registered_at"],
    }
