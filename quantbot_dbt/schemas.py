"""JSON Schema of every `--json` document (and so of every port result), and of the port envelopes.

Written by hand, next to nothing else: these are the shapes other languages generate their types
from, so a change here is an API change (bump port.SCHEMA_VERSION). tests/python/test_port.py
validates real answers and real CLI output against them.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
DATE: Schema = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
TIMESTAMP: Schema = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
                     "description": "UTC"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def mapping(values: Schema) -> Schema:
    return {"type": "object", "additionalProperties": values}


def record(properties: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with exactly these keys (the optional ones may be absent)."""
    return {
        "type": "object",
        "properties": {**properties, **(optional or {})},
        "required": sorted(properties),
        "additionalProperties": False,
    }


def extended(base: Schema, properties: dict[str, Schema]) -> Schema:
    return record({**{key: value for key, value in base["properties"].items() if key in base["required"]},
                   **properties})


# ---------------------------------------------------------------- datasets and runs

DATASET = record({
    "dataset_id": STRING, "kind": STRING, "meta": mapping(STRING), "registered_at": TIMESTAMP,
    "schema_version": nullable(STRING), "source": nullable(STRING), "uri": nullable(STRING),
    "window_from": nullable(DATE), "window_to": nullable(DATE),
})
DATASET_LIST = record({"datasets": array(DATASET)})
DATASET_REGISTERED = record({"dataset_id": STRING, "result": {"enum": ["registered", "unchanged"]}})

RUN = record({
    "run_id": SHA256, "dataset_ids": array(STRING), "strategy_hash": STRING, "engine_version": STRING,
    "seed": INTEGER, "callers": array(STRING), "window_from": DATE, "window_to": DATE, "status": STRING,
    "strategy_family": nullable(STRING), "params": mapping(STRING), "metrics": mapping(NUMBER),
    "artifact_count": nullable(INTEGER), "registered_at": TIMESTAMP,
})
ARTIFACT = record({
    "artifact_id": SHA256, "run_id": SHA256, "kind": STRING, "uri": STRING, "content_hash": SHA256,
    "size_bytes": INTEGER, "row_count": nullable(INTEGER), "registered_at": TIMESTAMP,
})
RUN_WITH_ARTIFACTS = extended(RUN, {"artifacts": array(ARTIFACT)})
RUN_LIST = record({"runs": array(RUN)})
RUNS_REGISTERED = record({"registered": array(SHA256), "unchanged": array(SHA256), "artifacts_registered": INTEGER})
RUN_TAGGED = record({"run_id": SHA256, "tags": array(STRING), "changed": array(STRING)})

# ---------------------------------------------------------------- RunSets

SPEC = record(
    {"datasets": array(STRING), "status": STRING},
    {
        "callers": array(STRING), "window_from": DATE, "window_to": DATE, "match": {"enum": ["within", "overlap"]},
        "strategy_hashes": array(STRING), "strategy_family": STRING, "engine_versions": array(STRING),
        "run_tags": array(STRING), "run_ids": array(SHA256),
    },
)
RUNSET = record({
    "runset_id": SHA256, "name": STRING, "names": array(STRING), "spec": SPEC, "spec_json": STRING,
    "tags": array(STRING), "description": nullable(STRING), "frozen": BOOLEAN, "deleted": BOOLEAN,
    "created_at": TIMESTAMP, "pinned_resolution_id": nullable(SHA256), "latest_resolution_id": nullable(SHA256),
    "current_resolution_id": nullable(SHA256), "run_count": nullable(INTEGER), "resolution_hash": nullable(SHA256),
})
RUNSET_LIST = record({"runsets": array(RUNSET)})
RUNSET_CHANGED = extended(RUNSET, {"changed": BOOLEAN})
RUNSET_TAGGED = extended(RUNSET, {"changed": array(STRING)})

COVERAGE = record(
    {"datasets": array(STRING), "runs_excluded_by_status": INTEGER,
     "members_window_from": nullable(DATE), "members_window_to": nullable(DATE)},
    {"requested_days": INTEGER, "covered_days": INTEGER, "uncovered": array(array(DATE)),
     "callers_with_runs": array(STRING), "callers_without_runs": array(STRING)},
)
RESOLUTION = record({
    "runset_id": SHA256, "name": STRING,
    "resolution_id": {**nullable(SHA256), "description": "null for --as-of, which records nothing"},
    "resolution_hash": SHA256, "resolved_at": nullable(TIMESTAMP), "resolver_version": STRING,
    "run_count": INTEGER, "artifact_count": INTEGER, "run_ids": array(SHA256), "frozen": BOOLEAN,
    "recorded": BOOLEAN, "as_of": nullable(TIMESTAMP), "coverage": COVERAGE, "warnings": array(STRING),
})
RUNSET_CREATED = record(
    {"runset_id": SHA256, "name": STRING, "spec_json": STRING,
     "written": array({"enum": ["spec", "name", "revived", "tags", "description"]})},
    {"resolution": RESOLUTION},
)
HISTORY = record({
    "runset_id": SHA256, "name": STRING,
    "resolutions": array(record({
        "resolution_id": SHA256, "resolved_at": TIMESTAMP, "resolution_hash": SHA256, "run_count": INTEGER,
        "artifact_count": INTEGER, "frozen": BOOLEAN, "resolver_version": STRING,
    })),
})
DIFF = record({
    "runset_id": SHA256, "name": STRING, "from_resolution_id": SHA256,
    "to_resolution_id": {**nullable(SHA256), "description": "null: compared with a fresh resolve"},
    "added": array(SHA256), "removed": array(SHA256), "unchanged_count": INTEGER,
})

# ---------------------------------------------------------------- experiments

EXPERIMENT = record({
    "experiment_id": SHA256, "name": STRING, "runset_id": SHA256, "runset_name": STRING, "resolution_id": SHA256,
    "resolution_hash": SHA256, "run_count": INTEGER, "params": mapping(STRING), "description": nullable(STRING),
    "created_at": TIMESTAMP,
})
EXPERIMENT_CREATED = extended(EXPERIMENT, {"written": BOOLEAN})
EXPERIMENT_LIST = record({"experiments": array(EXPERIMENT)})
EXPERIMENT_WITH_RUNS = extended(EXPERIMENT, {
    "runs": array(RUN),
    "artifacts": array(record({
        "artifact_id": SHA256, "run_id": SHA256, "kind": STRING, "uri": STRING, "content_hash": SHA256,
        "row_count": nullable(INTEGER),
    })),
})

# ---------------------------------------------------------------- lab

LAB_RESULT = record({
    "runset_id": SHA256, "name": STRING, "resolution_id": SHA256, "resolution_hash": SHA256, "frozen": BOOLEAN,
    "columns": array(record({"name": STRING, "type": {**STRING, "description": "the DuckDB type"}})),
    "rows": array({"type": "object", "description": "one row: column name -> JSON value"}),
    "row_count": INTEGER, "truncated": {**BOOLEAN, "description": "--limit cut more rows"},
})
REPORT_RESULT = extended(LAB_RESULT, {"template": STRING, "description": STRING})
REPORT_TEMPLATES = record({"templates": array(record({"name": STRING, "description": STRING, "path": STRING}))})

# ---------------------------------------------------------------- registry

REBUILD = record({
    "ok": BOOLEAN, "db": STRING, "row_counts": mapping(INTEGER), "failures": array(STRING),
    "build": record({
        "kind": {"enum": ["full", "incremental", "none"],
                 "description": "none: no lake file was added since the last build, nothing was built"},
        "reason": STRING,
    }),
})
COMPACTION = record({
    "dry_run": BOOLEAN, "files_before": INTEGER, "files_after": INTEGER,
    "folders": array(record({
        "table": STRING, "folder": {**STRING, "description": "relative to the lake root"},
        "files": {**INTEGER, "description": "part files merged into one"},
        "rows": {**INTEGER, "description": "distinct rows, in the merged file"},
        "skipped": {**array(STRING), "description": "files left alone: not in the lake's schema"},
    })),
})

# ---------------------------------------------------------------- the port's envelopes

REQUEST = record(
    {"op": STRING},
    {"id": {"description": "Echoed in the answer.", "type": ["string", "integer", "null"]},
     "args": {"type": "object", "description": "The operation's args: CLI option names in snake_case."}},
)
ANSWER = {
    "oneOf": [
        record({"id": {}, "ok": {"const": True}, "result": {}, "schema_version": STRING}),
        record({
            "id": {}, "ok": {"const": False}, "schema_version": STRING,
            "error": record(
                {"code": {"enum": ["invalid_json", "invalid_request", "unknown_operation", "invalid_arguments",
                                   "refused", "storage_error", "failed", "internal_error"]},
                 "message": STRING},
                {"details": {}},
            ),
        }),
    ],
}
