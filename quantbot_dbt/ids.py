"""Deterministic identity: canonical JSON, sha256 ids and the validation of user values.

The canonical form (documented in README.md, recomputed in SQL by the dbt contracts):
keys sorted, no whitespace (separators "," and ":"), UTF-8 without \\u escapes of
non-ASCII characters, dates as YYYY-MM-DD, lists of names sorted and de-duplicated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from typing import Any, Iterable

# Names that may become a folder (partition value), a glob or a SQL literal: no separators,
# no quotes, no leading dot, so `../x`, `a/b` and `o'brien` are refused before they go anywhere.
# Anchored with \Z, not $: Python's $ also matches before a final newline, which let "v1\n" in.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
ID_PREFIX_PATTERN = re.compile(r"^[0-9a-f]{8,64}\Z")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
MIN_PREFIX_LENGTH = 8


class InputError(ValueError):
    """Bad user input: the CLI prints it as one line on stderr and exits non-zero."""


# One encoder, built once: json.dumps with these options builds a new one per call, which was
# a third of the cost of hashing an artifact id in a bulk registration.
CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# The encoder's own string escaper (ensure_ascii=False), for text built without the encoder.
JSON_STRING = json.encoder.encode_basestring


def canonical_json(value: Any) -> str:
    """The one serialisation that ids are hashed from and that is stored where it is hashed."""
    return CANONICAL_ENCODER.encode(value)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_identity(
    dataset_ids: Iterable[str],
    strategy_hash: str,
    engine_version: str,
    seed: int,
    callers: Iterable[str],
    window_from: dt.date,
    window_to: dt.date,
) -> dict[str, Any]:
    """Everything the engine replays; the run id is the hash of exactly this."""
    return {
        "callers": sorted(set(callers)),
        "dataset_ids": sorted(set(dataset_ids)),
        "engine_version": engine_version,
        "seed": seed,
        "strategy_hash": strategy_hash,
        "window_from": window_from.isoformat(),
        "window_to": window_to.isoformat(),
    }


def run_id_for(identity: dict[str, Any]) -> str:
    """sha256 of canonical_json(identity) for an identity made by run_identity, spelled out as
    artifact_id_for is: the encoder's dict walk was a tenth of a bulk registration's validation."""
    return sha256_hex(
        f'{{"callers":{json_names(identity["callers"])},"dataset_ids":{json_names(identity["dataset_ids"])},'
        f'"engine_version":{JSON_STRING(identity["engine_version"])},"seed":{int(identity["seed"])},'
        f'"strategy_hash":{JSON_STRING(identity["strategy_hash"])},'
        f'"window_from":{JSON_STRING(identity["window_from"])},"window_to":{JSON_STRING(identity["window_to"])}}}'
    )


def json_names(names: list[str]) -> str:
    return "[" + ",".join(map(JSON_STRING, names)) + "]"


def artifact_id_for(run_id: str, kind: str, content_hash: str) -> str:
    """sha256 of canonical_json({"content_hash", "kind", "run_id"}), spelled out: a bulk
    registration hashes one per artifact, and the encoder's dict walk was most of its cost.
    The strings are escaped by the same function the encoder uses, so the text is identical."""
    return sha256_hex(
        f'{{"content_hash":{JSON_STRING(content_hash)},"kind":{JSON_STRING(kind)},"run_id":{JSON_STRING(run_id)}}}'
    )


def validate_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InputError(
            f"invalid {what} {value!r}: use letters, digits, '.', '_' or '-' "
            "(at most 128, not starting with '.', '_' or '-')"
        )
    return value


def validate_names(values: Iterable[str], what: str) -> list[str]:
    """Validated, sorted, de-duplicated: the canonical form of a set of names."""
    names = sorted({validate_name(value, what) for value in values})
    if not names:
        raise InputError(f"at least one {what} is required")
    return names


def parse_date(value: str | dt.date, what: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        raise InputError(f"invalid {what} {value!r}: expected a date YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"invalid {what} {value!r}: not a calendar date") from None


def parse_window(window_from: Any, window_to: Any, *, required: bool) -> tuple[dt.date | None, dt.date | None]:
    if window_from is None and window_to is None and not required:
        return None, None
    if window_from is None or window_to is None:
        raise InputError("--from and --to must be given together")
    start, end = parse_date(window_from, "--from date"), parse_date(window_to, "--to date")
    if start > end:
        raise InputError(f"--from {start} is after --to {end}")
    return start, end


def parse_timestamp(value: str, what: str) -> dt.datetime:
    """An instant as ISO 8601 (a date means its midnight); naive times are UTC. Returned naive UTC."""
    try:
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"invalid {what} {value!r}: expected an ISO time such as 2026-01-29T12:00:00Z") from None
    if instant.tzinfo is not None:
        instant = instant.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return instant


def parse_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        else:
            raise InputError(f"invalid seed {value!r}: expected an integer")
    if not -(2**63) <= value < 2**63:
        raise InputError(f"invalid seed {value}: outside the 64-bit integer range")
    return value


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """KEY=VALUE options (--param, --meta) into a dict; a key given twice is refused."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"invalid {what} {pair!r}: expected KEY=VALUE")
        validate_name(key, f"{what} key")
        if key in result:
            raise InputError(f"{what} key {key!r} given twice")
        result[key] = value
    return result


def parse_number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise InputError(f"invalid {what} {value!r}: expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"invalid {what} {value!r}: expected a number") from None
    if not math.isfinite(number):
        raise InputError(f"invalid {what} {value!r}: must be finite")
    return number


def validate_id_prefix(value: str, what: str) -> str:
    if not isinstance(value, str) or not ID_PREFIX_PATTERN.match(value):
        raise InputError(
            f"invalid {what} {value!r}: expected {MIN_PREFIX_LENGTH} to 64 lowercase hex characters"
        )
    return value
