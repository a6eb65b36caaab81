"""`quantbot dataset register|list|get`: round trip, immutability, bad input."""

import pytest
from conftest import assert_one_error_line, lake_files

Q4 = ["dataset", "register", "--id", "ohlcv_v2_2025Q4", "--kind", "ohlcv", "--from", "2025-10-01", "--to", "2025-12-31",
      "--source", "binance", "--schema-version", "2", "--meta", "interval=1m", "--meta", "venue=spot"]


def test_register_get_list_round_trip(quantbot, lake_root):
    assert quantbot(*Q4).stdout == "registered dataset ohlcv_v2_2025Q4\n"
    quantbot("dataset", "register", "--id", "alerts_v1", "--kind", "alerts", check=True)

    dataset = quantbot("dataset", "get", "ohlcv_v2_2025Q4", "--json", check=True).json()
    registered_at = dataset.pop("registered_at")
    assert registered_at.endswith("Z")
    assert dataset == {
        "dataset_id": "ohlcv_v2_2025Q4", "kind": "ohlcv", "window_from": "2025-10-01", "window_to": "2025-12-31",
        "schema_version": "2", "source": "binance", "uri": None, "meta": {"interval": "1m", "venue": "spot"},
    }
    listed = quantbot("dataset", "list", "--json", check=True).json()["datasets"]
    assert [d["dataset_id"] for d in listed] == ["alerts_v1", "ohlcv_v2_2025Q4"]
    only_alerts = quantbot("dataset", "list", "--kind", "alerts", "--json", check=True).json()["datasets"]
    assert [d["dataset_id"] for d in only_alerts] == ["alerts_v1"]
    assert len(lake_files(lake_root)) == 4  # two part files, the write lock and the swap lock


def test_same_content_again_is_a_no_op(quantbot, lake_root):
    quantbot(*Q4, check=True)
    before = lake_files(lake_root)
    again = quantbot(*Q4, "--json")
    assert again.code == 0
    assert again.json() == {"dataset_id": "ohlcv_v2_2025Q4", "result": "unchanged"}
    assert lake_files(lake_root) == before


def test_different_content_is_refused_naming_the_fields_and_writes_nothing(quantbot, lake_root):
    quantbot(*Q4, check=True)
    before = lake_files(lake_root)
    changed = [*Q4[:9], "2025-12-30", "--source", "bybit"]
    assert_one_error_line(
        quantbot(*changed),
        "error: dataset ohlcv_v2_2025Q4 is already registered with different meta, schema_version, source, "
        "window_to; records are immutable: register the change under a new id",
    )
    assert lake_files(lake_root) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--id", "../x", "--kind", "ohlcv"],
         "error: invalid dataset id '../x': use letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-')"),
        (["--id", "a/b", "--kind", "ohlcv"],
         "error: invalid dataset id 'a/b': use letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-')"),
        (["--id", "x", "--kind", "ohlc"], "error: unknown dataset kind 'ohlc': expected one of alerts, candles, ohlcv"),
        (["--id", "x", "--kind", "ohlcv", "--from", "2025-02-30", "--to", "2025-03-01"],
         "error: invalid --from date '2025-02-30': not a calendar date"),
        (["--id", "x", "--kind", "ohlcv", "--from", "2025-10-01"], "error: --from and --to must be given together"),
        (["--id", "x", "--kind", "ohlcv", "--from", "2025-10-02", "--to", "2025-10-01"],
         "error: --from 2025-10-02 is after --to 2025-10-01"),
        (["--id", "x", "--kind", "ohlcv", "--meta", "novalue"], "error: invalid --meta 'novalue': expected KEY=VALUE"),
        (["--kind", "ohlcv"], "error: Missing option '--id'."),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(quantbot, lake_root, args, message):
    assert_one_error_line(quantbot("dataset", "register", *args), message)
    assert lake_files(lake_root) == []


def test_unknown_dataset_and_kind_filters_are_refused(quantbot):
    assert_one_error_line(quantbot("dataset", "get", "nope"), "error: dataset 'nope' is not registered")
    assert_one_error_line(
        quantbot("dataset", "list", "--kind", "trades"),
        "error: unknown dataset kind 'trades': expected one of alerts, candles, ohlcv",
    )


def test_empty_lake_lists_nothing(quantbot):
    assert quantbot("dataset", "list", "--json", check=True).json() == {"datasets": []}
    assert quantbot("dataset", "list", check=True).stdout == "(none)\n"
