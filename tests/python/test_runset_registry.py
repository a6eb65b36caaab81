"""The rebuilt registry agrees with the resolver, and frozen RunSets survive `rm` + rebuild."""

import duckdb
import pytest

from quantbot_dbt import resolver
from quantbot_dbt.demo import build_demo
from quantbot_dbt.records import RunInput, register_runs
from quantbot_dbt.registry import rebuild


def registry_query(db_file, sql, params=None):
    with duckdb.connect(str(db_file), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def extra_q4_run(seed):
    """A completed whale_watcher run inside 2025-Q4: brook_baseline_2025Q4 selects it."""
    return RunInput({
        "dataset_ids": ["ohlcv_v2_2025Q4", "alerts_v1_2025H2"], "strategy_hash": "momentum_v3a1",
        "engine_version": "1.1.0", "seed": seed, "callers": ["whale_watcher"],
        "window_from": "2025-12-31", "window_to": "2025-12-31", "status": "completed",
    })


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory):
    """The demo lake, then every kind of state change: more runs, a forced re-resolve, a delete,
    an unfreeze and re-freeze, run tags, a second name."""
    lake_root = tmp_path_factory.mktemp("demo") / "lake"
    build_demo(lake_root)
    register_runs(lake_root, [extra_q4_run(1), extra_q4_run(2)])
    resolver.resolve(lake_root, "brook_baseline_2025Q4", force=False)  # frozen: pinned, nothing new
    resolver.resolve(lake_root, "momentum_all_engines", force=True)
    resolver.change_state(lake_root, "engine_110_failures", "delete")
    resolver.change_state(lake_root, "brook_2025Q3_overlap", "freeze")
    resolver.change_state(lake_root, "brook_2025Q3_overlap", "unfreeze")
    resolver.resolve(lake_root, "brook_2025Q3_overlap", force=True)
    resolver.change_state(lake_root, "brook_2025Q3_overlap", "freeze")
    state = resolver.get_runset(lake_root, "momentum_all_engines")
    resolver.create_runset(lake_root, "momentum_alias", state["spec"], tags=["alias"])
    run_id = resolver.resolve(lake_root, "brook_baseline_2025Q4")["run_ids"][0]
    resolver.tag_run(lake_root, run_id, ["reviewed", "figure2"])
    resolver.tag_run(lake_root, run_id, ["figure2"], untag=True)
    result = rebuild(lake_root, lake_root / "quantbot.duckdb")
    assert result.ok, result.failures
    return lake_root


def test_runsets_table_agrees_with_the_resolver(demo_lake):
    db_file = demo_lake / "quantbot.duckdb"
    rows = registry_query(db_file, """
        select runset_id, names, tags, frozen, deleted, pinned_resolution_id, latest_resolution_id,
               current_resolution_id, spec_json
        from registry.runsets order by runset_id""")
    expected = sorted(
        (item["runset_id"], item["names"], item["tags"], item["frozen"], item["deleted"], item["pinned_resolution_id"],
         item["latest_resolution_id"], item["current_resolution_id"], item["spec_json"])
        for item in resolver.list_runsets(demo_lake, include_deleted=True)
    )
    assert rows == expected
    assert len(rows) == 4  # momentum_alias names an existing spec: no new RunSet
    assert [row[1] for row in rows if "momentum_alias" in row[1]] == [["momentum_alias", "momentum_all_engines"]]


def test_membership_is_what_resolve_answers_for_every_live_runset(demo_lake):
    db_file = demo_lake / "quantbot.duckdb"
    for item in resolver.list_runsets(demo_lake, include_deleted=True):
        members = [run_id for (run_id,) in registry_query(
            db_file, "select run_id from registry.runset_membership where runset_id = $id order by run_id",
            {"id": item["runset_id"]})]
        if item["deleted"]:
            assert members == []
            continue
        answer = resolver.resolve(demo_lake, item["runset_id"])
        assert answer["recorded"] is False  # every live RunSet is resolved: reading never writes
        assert members == answer["run_ids"]
        (hash_in_registry,) = registry_query(
            db_file, "select resolution_hash from registry.runsets_with_resolution where runset_id = $id",
            {"id": item["runset_id"]})[0]
        assert hash_in_registry == answer["resolution_hash"]


def test_the_seeds_magic_join_works_by_id_and_by_name(demo_lake):
    db_file = demo_lake / "quantbot.duckdb"
    answer = resolver.resolve(demo_lake, "brook_baseline_2025Q4")
    by_id = registry_query(db_file, f"""
        SELECT run_id FROM registry.runs
        WHERE run_id IN (SELECT run_id FROM registry.runset_membership WHERE runset_id = '{answer["runset_id"]}')
        ORDER BY run_id""")
    by_name = registry_query(db_file, """
        SELECT run_id FROM registry.runs
        WHERE run_id IN (SELECT run_id FROM registry.runset_membership WHERE runset_id =
                         (SELECT runset_id FROM registry.runset_names WHERE name = 'brook_baseline_2025Q4'))
        ORDER BY run_id""")
    assert [row[0] for row in by_id] == [row[0] for row in by_name] == answer["run_ids"]
    assert answer["run_count"] == 3  # pinned before the two extra Q4 runs were registered


def test_history_and_tags_tables_agree(demo_lake):
    db_file = demo_lake / "quantbot.duckdb"
    for item in resolver.list_runsets(demo_lake, include_deleted=True):
        history = resolver.history(demo_lake, item["runset_id"])["resolutions"]
        rows = registry_query(db_file, """
            select resolution_id, resolution_hash, run_count, is_pinned from registry.resolutions
            where runset_id = $id order by event_seq desc""", {"id": item["runset_id"]})
        assert rows == [(r["resolution_id"], r["resolution_hash"], r["run_count"], r["frozen"]) for r in history]
    run_tags = registry_query(db_file, "select target_id, tag from registry.tags where target_type = 'run'")
    run_id = resolver.resolve(demo_lake, "brook_baseline_2025Q4")["run_ids"][0]
    assert run_tags == [(run_id, "reviewed")]


def test_reproducible_workflow_survives_deleting_the_registry(quantbot, lake_root):
    """The seed's reproducible mode, end to end with the CLI: freeze, register more, the answer
    does not move; delete the DuckDB file, rebuild: membership and hash unchanged."""
    assert quantbot("demo").code == 0
    frozen = quantbot("runset", "resolve", "brook_baseline_2025Q4", "--json", check=True).json()
    assert frozen["frozen"] is True and frozen["run_count"] == 3
    register_runs(lake_root, [extra_q4_run(7)])
    again = quantbot("runset", "resolve", "brook_baseline_2025Q4", "--json", check=True).json()
    assert (again["resolution_id"], again["resolution_hash"], again["run_ids"]) == (
        frozen["resolution_id"], frozen["resolution_hash"], frozen["run_ids"])
    db_file = lake_root / "quantbot.duckdb"
    db_file.unlink()
    assert quantbot("registry", "rebuild").code == 0
    members = registry_query(db_file, """
        select run_id from registry.runset_membership
        where runset_id = (select runset_id from registry.runset_names where name = 'brook_baseline_2025Q4')
        order by run_id""")
    assert [row[0] for row in members] == frozen["run_ids"]
    (registry_hash,) = registry_query(db_file, """
        select resolution_hash from registry.runsets_with_resolution
        where runset_id = $id""", {"id": frozen["runset_id"]})[0]
    assert registry_hash == frozen["resolution_hash"]
