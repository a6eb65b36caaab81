"""The canonical form and the ids: these values are documented in README.md and must never change."""

import datetime as dt

import pytest

from quantbot_dbt.ids import (
    InputError,
    artifact_id_for,
    canonical_json,
    parse_window,
    run_id_for,
    run_identity,
    sha256_hex,
    validate_name,
)

IDENTITY = run_identity(
    dataset_ids=["ohlcv_v2_2025Q4", "alerts_v1", "ohlcv_v2_2025Q4"],
    strategy_hash="momentum_v3a1",
    engine_version="1.0.0",
    seed=42,
    callers=["whale_watcher", "brook"],
    window_from=dt.date(2025, 10, 1),
    window_to=dt.date(2025, 12, 31),
)
CANONICAL = (
    '{"callers":["brook","whale_watcher"],"dataset_ids":["alerts_v1","ohlcv_v2_2025Q4"],'
    '"engine_version":"1.0.0","seed":42,"strategy_hash":"momentum_v3a1",'
    '"window_from":"2025-10-01","window_to":"2025-12-31"}'
)
RUN_ID = "079c9be379aa40ade5d17174e12cdc6a3bdc28b688fd41fccf91fb4d2db282dd"


def test_canonical_form_is_sorted_compact_and_deduplicated():
    assert canonical_json(IDENTITY) == CANONICAL


def test_run_id_is_the_sha256_of_the_canonical_form():
    assert run_id_for(IDENTITY) == RUN_ID


@pytest.mark.parametrize("text", ["trades", 'quo"te\\slash', "é\u2028\n\x00"])
@pytest.mark.parametrize("seed", [0, -(2**63), 2**63 - 1])
def test_run_id_hashes_exactly_the_canonical_json_of_the_identity(text, seed):
    # run_id_for spells the JSON out for speed; it must stay the canonical form.
    identity = run_identity([text, "b"], text, text, seed, ["a", text], dt.date(2025, 1, 1), dt.date(2025, 1, 2))
    assert run_id_for(identity) == sha256_hex(canonical_json(identity))


def test_order_of_callers_and_datasets_does_not_change_the_id():
    reordered = run_identity(
        ["alerts_v1", "ohlcv_v2_2025Q4"], "momentum_v3a1", "1.0.0", 42,
        ["brook", "whale_watcher", "brook"], dt.date(2025, 10, 1), dt.date(2025, 12, 31),
    )
    assert run_id_for(reordered) == RUN_ID


def test_every_identity_field_changes_the_id():
    base = dict(dataset_ids=["d"], strategy_hash="s", engine_version="1", seed=1, callers=["c"],
                window_from=dt.date(2025, 1, 1), window_to=dt.date(2025, 1, 2))
    changes = dict(dataset_ids=["e"], strategy_hash="t", engine_version="2", seed=2, callers=["d"],
                   window_from=dt.date(2024, 12, 31), window_to=dt.date(2025, 1, 3))
    ids = {run_id_for(run_identity(**base))}
    for name, value in changes.items():
        ids.add(run_id_for(run_identity(**{**base, name: value})))
    assert len(ids) == 1 + len(changes)


def test_artifact_id_is_the_sha256_of_run_kind_and_content():
    assert artifact_id_for(RUN_ID, "trades", "0" * 64) == (
        "fd4091628415929add12c4c675bb6cb04e7e996b4be8743c1350406f5313b4e4"
    )


@pytest.mark.parametrize("text", ["trades", 'quo"te\\slash', "é\u2028\n\x00"])
def test_artifact_id_hashes_exactly_the_canonical_json_of_its_fields(text):
    # artifact_id_for spells the JSON out for speed; it must stay the canonical form.
    fields = {"content_hash": text, "kind": text, "run_id": text}
    assert artifact_id_for(text, text, text) == sha256_hex(canonical_json(fields))


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "o'brien", "a b", "x" * 129, "-x", "é", "v1\n"])
def test_names_that_could_escape_a_path_or_a_quote_are_refused(bad):
    with pytest.raises(InputError):
        validate_name(bad, "id")


def test_window_accepts_one_day_and_refuses_reversed():
    assert parse_window("2025-12-31", "2025-12-31", required=True) == (dt.date(2025, 12, 31), dt.date(2025, 12, 31))
    with pytest.raises(InputError, match="--from 2026-01-01 is after --to 2025-12-31"):
        parse_window("2026-01-01", "2025-12-31", required=True)
