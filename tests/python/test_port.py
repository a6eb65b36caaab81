"""`quantbot port` and `quantbot schema`: every operation over JSON lines, answers checked against
the published schemas, the same documents as the CLI's --json, and a loop no line can kill."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantbot_dbt import lake
from quantbot_dbt.demo import build_demo
from quantbot_dbt.ids import run_id_for, run_identity
from quantbot_dbt.port import OPERATIONS
from quantbot_dbt.records import dataset_record

from conftest import lake_files
from test_incremental_rebuild import registry_tables

FROZEN = "brook_baseline_2025Q4"


def port(lake_root: Path, *lines: str, cwd: Path) -> list[dict[str, Any]]:
    """Feed lines to a real `quantbot port` process; every line of its stdout must be one JSON answer."""
    completed = subprocess.run(
        [sys.executable, "-m", "quantbot_dbt", "port", "--lake", str(lake_root)],
        input="".join(line + "\n" for line in lines), capture_output=True, text=True, cwd=cwd, check=True,
    )
    return [json.loads(line) for line in completed.stdout.splitlines()]


def request(request_id: Any, op: str, **args: Any) -> str:
    return json.dumps({"id": request_id, "op": op, "args": args})


def cli_json(lake_root: Path, *args: str, cwd: Path) -> Any:
    completed = subprocess.run([sys.executable, "-m", "quantbot_dbt", *args, "--lake", str(lake_root), "--json"],
                               capture_output=True, text=True, cwd=cwd, check=True)
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def schema_document(tmp_path_factory) -> dict[str, Any]:
    completed = subprocess.run([sys.executable, "-m", "quantbot_dbt", "schema"], capture_output=True, text=True,
                               check=True, cwd=tmp_path_factory.mktemp("schema"))
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory) -> Path:
    lake_root = tmp_path_factory.mktemp("demo") / "lake"
    build_demo(lake_root)
    return lake_root


@pytest.fixture
def demo(built_demo: Path, lake_root: Path) -> Path:
    shutil.copytree(built_demo, lake_root)
    return lake_root


def assert_valid_answers(answers: list[dict[str, Any]], requests: list[str], schema_document: dict[str, Any]) -> None:
    assert len(answers) == len(requests)
    for line, answer in zip(requests, answers):
        sent = json.loads(line)
        jsonschema.validate(answer, schema_document["answer"])
        assert answer["id"] == sent["id"] and answer["schema_version"] == "2"
        assert answer["ok"], (sent, answer)
        jsonschema.validate(answer["result"], schema_document["operations"][sent["op"]]["result"])


def test_schema_covers_every_operation_with_valid_json_schemas(schema_document):
    validator = jsonschema.Draft202012Validator
    assert schema_document["schema_version"] == "2"
    assert sorted(schema_document["operations"]) == sorted(OPERATIONS)
    assert {"createRunSet", "resolveRunSet", "freezeRunSet", "unfreezeRunSet", "deleteRunSet", "getRunSet",
            "queryRunSets", "getResolutionHistory", "registerDataset", "getDataset", "listDatasets", "registerRun",
            "getRun", "listRuns", "rebuildRegistry"} <= set(OPERATIONS)
    for schema in (schema_document["request"], schema_document["answer"]):
        validator.check_schema(schema)
    for operation in schema_document["operations"].values():
        validator.check_schema(operation["args"])
        validator.check_schema(operation["result"])


def test_args_are_the_cli_option_names_in_snake_case(schema_document):
    create = schema_document["operations"]["createRunSet"]
    assert sorted(create["args"]["properties"]) == [
        "caller", "dataset", "description", "engine_version", "from", "id", "match", "resolve", "run", "run_tag",
        "status", "strategy_family", "strategy_hash", "tags", "to",
    ]
    assert create["args"]["required"] == ["id", "dataset"]
    assert create["args"]["properties"]["dataset"]["type"] == "array"
    assert create["command"] == "quantbot runset create --json"
    resolve = schema_document["operations"]["resolveRunSet"]["args"]
    assert sorted(resolve["properties"]) == ["as_of", "force", "runset"] and resolve["required"] == ["runset"]
    assert schema_document["operations"]["getRun"]["args"]["required"] == ["run_id"]
    assert schema_document["operations"]["listRuns"]["args"]["properties"]["limit"]["type"] == "integer"
    assert sorted(schema_document["operations"]["rebuildRegistry"]["args"]["properties"]) == ["full_refresh"]


def test_every_operation_answers_in_its_schema(demo, tmp_path, schema_document):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    pq.write_table(pa.table({"trade_id": [1, 2], "pnl": [1.5, -0.5]}), outputs / "trades.parquet")
    run = {"datasets": "ohlcv_v2_2025Q4,alerts_v1_2025H2", "strategy_hash": "port_probe", "engine_version": "9.9.9",
           "seed": "7", "caller": ["brook"], "from": "2025-11-03", "to": "2025-11-09"}
    run_id = run_id_for(run_identity(
        dataset_ids=["ohlcv_v2_2025Q4", "alerts_v1_2025H2"], strategy_hash="port_probe", engine_version="9.9.9",
        seed=7, callers=["brook"], window_from=dt.date(2025, 11, 3), window_to=dt.date(2025, 11, 9),
    ))
    requests = [
        request(1, "registerDataset", id="port_ds", kind="ohlcv", **{"from": "2025-01-01", "to": "2025-01-31"},
                meta=["interval=1m"]),
        request(2, "getDataset", dataset_id="port_ds"),
        request(3, "listDatasets", kind="ohlcv"),
        request(4, "registerRun", **run, artifact=[f"trades={outputs / 'trades.parquet'}"], metric=["pnl=1.0"]),
        request(5, "getRun", run_id=run_id[:12]),
        request(6, "listRuns", engine_version="9.9.9"),
        request(7, "tagRun", run_id=run_id, tags=["probe"]),
        request(8, "untagRun", run_id=run_id, tags=["probe"]),
        request(9, "createRunSet", id="port_probe", dataset=["ohlcv_v2_2025Q4"], engine_version=["9.9.9"],
                resolve=True, tags="probe"),
        request(10, "resolveRunSet", runset="port_probe", force=True),
        request(11, "freezeRunSet", runset="port_probe"),
        request(12, "getRunSet", runset="port_probe"),
        request(13, "queryRunSets", tags="probe", frozen=True),
        request(14, "getResolutionHistory", runset="port_probe"),
        request(15, "diffRunSet", runset="port_probe"),
        request(16, "tagRunSet", runset="port_probe", tags=["checked"]),
        request(17, "untagRunSet", runset="port_probe", tags=["checked"]),
        request(18, "unfreezeRunSet", runset="port_probe"),
        request(22, "createExperiment", name="port-exp", runset="port_probe", param=["lookback=20"]),
        request(23, "listExperiments", runset="port_probe"),
        request(25, "labQuery", runset="port_probe", sql="select run_id, sum(pnl) as pnl from trades group by run_id"),
        request(26, "labReport", runset="port_probe", template="per_run_summary"),
        request(27, "listReportTemplates"),
        request(19, "deleteRunSet", runset="port_probe"),
        request(20, "rebuildRegistry"),
        request(21, "compactRegistry", dry_run=True),
    ]
    assert {json.loads(line)["op"] for line in requests} | {"getExperiment"} == set(OPERATIONS)

    answers = port(demo, *requests, cwd=tmp_path)
    experiment_id = answers[[json.loads(line)["id"] for line in requests].index(22)]["result"]["experiment_id"]
    requests.append(request(24, "getExperiment", experiment_id=experiment_id[:10]))
    answers += port(demo, requests[-1], cwd=tmp_path)

    assert_valid_answers(answers, requests, schema_document)
    result = {answer["id"]: answer["result"] for answer in answers}
    assert result[1] == {"dataset_id": "port_ds", "result": "registered"}
    assert result[2]["meta"] == {"interval": "1m"} and result[2]["window_to"] == "2025-01-31"
    assert [dataset["dataset_id"] for dataset in result[3]["datasets"]] == [
        "ohlcv_v2_2025Q3", "ohlcv_v2_2025Q4", "port_ds"]
    assert result[4] == {"registered": [run_id], "unchanged": [], "artifacts_registered": 1}
    assert result[5]["run_id"] == run_id and [a["kind"] for a in result[5]["artifacts"]] == ["trades"]
    assert [listed["run_id"] for listed in result[6]["runs"]] == [run_id]
    assert (result[7]["tags"], result[8]["tags"]) == (["probe"], [])
    assert result[9]["written"] == ["spec", "name", "tags"] and result[9]["resolution"]["run_ids"] == [run_id]
    assert result[10]["recorded"] is True and result[10]["run_ids"] == [run_id]
    assert result[11]["frozen"] is True and result[11]["pinned_resolution_id"] == result[10]["resolution_id"]
    assert result[12]["frozen"] is True and result[12]["tags"] == ["probe"]
    assert [listed["name"] for listed in result[13]["runsets"]] == ["port_probe"]
    assert [item["resolution_id"] for item in result[14]["resolutions"]] == [
        result[10]["resolution_id"], result[9]["resolution"]["resolution_id"]]
    assert (result[15]["added"], result[15]["removed"], result[15]["unchanged_count"]) == ([], [], 1)
    assert (result[16]["changed"], result[17]["changed"]) == (["checked"], ["checked"])
    assert (result[18]["frozen"], result[19]["deleted"]) == (False, True)
    assert result[20]["ok"] is True and result[20]["row_counts"]["runs"] == 49
    assert result[22]["written"] is True and result[22]["resolution_id"] == result[10]["resolution_id"]
    assert result[22]["params"] == {"lookback": "20"}
    assert [item["experiment_id"] for item in result[23]["experiments"]] == [result[22]["experiment_id"]]
    assert result[24]["runs"][0]["run_id"] == run_id and result[24]["experiment_id"] == result[22]["experiment_id"]
    assert result[25]["rows"] == [{"run_id": run_id, "pnl": 1.0}]
    assert result[25]["resolution_hash"] == result[10]["resolution_hash"]
    assert result[26]["template"] == "per_run_summary" and [row["run_id"] for row in result[26]["rows"]] == [run_id]
    assert {"per_run_summary", "per_caller_summary", "coverage"} <= {item["name"] for item in result[27]["templates"]}
    assert result[21]["dry_run"] is True and result[21]["files_after"] < result[21]["files_before"]


def test_port_results_are_the_cli_json_documents(built_demo, tmp_path, schema_document):
    run_id = cli_json(built_demo, "run", "list", "--limit", "1", cwd=tmp_path)["runs"][0]["run_id"]
    pairs = [
        (request("a", "getRunSet", runset=FROZEN), ["runset", "get", FROZEN]),
        (request("b", "resolveRunSet", runset=FROZEN), ["runset", "resolve", FROZEN]),
        (request("c", "queryRunSets", frozen=False), ["runset", "list", "--not-frozen"]),
        (request("d", "getResolutionHistory", runset=FROZEN), ["runset", "history", FROZEN]),
        (request("e", "getRun", run_id=run_id), ["run", "get", run_id]),
        (request("f", "listRuns", caller="brook", limit=3), ["run", "list", "--caller", "brook", "--limit", "3"]),
        (request("g", "listDatasets"), ["dataset", "list"]),
        (request("h", "getDataset", dataset_id="alerts_v1_2025H2"), ["dataset", "get", "alerts_v1_2025H2"]),
    ]
    lake_before = lake_files(built_demo)

    answers = port(built_demo, *(line for line, _ in pairs), cwd=tmp_path)

    assert_valid_answers(answers, [line for line, _ in pairs], schema_document)
    for answer, (_, argv) in zip(answers, pairs):
        assert answer["result"] == cli_json(built_demo, *argv, cwd=tmp_path), argv
    assert lake_files(built_demo) == lake_before  # reads (and a cached resolve) write nothing


def test_malformed_lines_get_error_answers_and_the_loop_survives(built_demo, tmp_path, schema_document):
    lines = [
        "not json",
        "[1, 2]",
        '{"id": 1}',
        '{"id": 2, "op": "dropEverything"}',
        '{"id": 3, "op": "getRunSet", "args": {"runset": "nope"}}',
        '{"id": 4, "op": "getRunSet", "args": {}}',
        '{"id": 5, "op": "listRuns", "args": {"limit": "ten"}}',
        '{"id": 6, "op": "listRuns", "args": {"lake": "/"}}',
        '{"id": 7, "op": "listRuns", "args": {"status": "exploded"}}',
        '{"id": 8, "op": "listRuns", "args": {"limit": -1}}',
        '{"id": 9, "op": "getRunSet", "args": {"runset": "' + FROZEN + '"}, "extra": true}',
        "",
        '{"id": 10, "op": "getRunSet", "args": {"runset": "' + FROZEN + '"}}',
    ]

    answers = port(built_demo, *lines, cwd=tmp_path)

    for answer in answers:
        jsonschema.validate(answer, schema_document["answer"])
    assert [(answer["id"], answer["ok"], answer.get("error")) for answer in answers[:-1]] == [
        (None, False, {"code": "invalid_json", "message": "the line is not JSON (Expecting value at column 1)"}),
        (None, False, {"code": "invalid_request", "message": "request: [1, 2] is not of type 'object'"}),
        (1, False, {"code": "invalid_request", "message": "request: 'op' is a required property"}),
        (2, False, {"code": "unknown_operation",
                    "message": f"unknown op 'dropEverything'; `quantbot schema` lists the {len(OPERATIONS)} operations"}),
        (3, False, {"code": "refused", "message": "no RunSet matches 'nope' (by name, id or id prefix)"}),
        (4, False, {"code": "invalid_arguments", "message": "args: 'runset' is a required property"}),
        (5, False, {"code": "invalid_arguments", "message": "args/limit: 'ten' is not of type 'integer'"}),
        (6, False, {"code": "invalid_arguments",
                    "message": "args: Additional properties are not allowed ('lake' was unexpected)"}),
        (7, False, {"code": "refused", "message": "unknown status 'exploded': expected one of completed, failed"}),
        (8, False, {"code": "refused", "message": "invalid --limit -1: must be at least 1"}),
        (9, False, {"code": "invalid_request",
                    "message": "request: Additional properties are not allowed ('extra' was unexpected)"}),
    ]
    assert answers[-1]["id"] == 10 and answers[-1]["ok"] and answers[-1]["result"]["name"] == FROZEN


def test_a_refused_write_writes_nothing(demo, tmp_path):
    before = lake_files(demo)

    answers = port(demo, request(1, "registerDataset", id="bad", kind="ohlcv", **{"from": "2025-13-01", "to": "2025-12-31"}),
                   request(2, "registerDataset", id="ohlcv_v2_2025Q4", kind="alerts"), cwd=tmp_path)

    assert [answer["error"]["code"] for answer in answers] == ["refused", "refused"]
    assert answers[0]["error"]["message"] == "invalid --from date '2025-13-01': not a calendar date"
    assert answers[1]["error"]["message"].startswith("dataset ohlcv_v2_2025Q4 is already registered with different")
    assert lake_files(demo) == before


def test_a_failed_rebuild_is_an_error_answer_with_the_failures(demo, tmp_path):
    bogus = {**dataset_record("bogus_kind", "ohlcv"), "kind": "not_a_kind", "registered_at": lake.utc_now()}
    lake.append(demo, [lake.Batch(lake.DATASETS, {(): [bogus]})])

    (answer,) = port(demo, request(1, "rebuildRegistry"), cwd=tmp_path)

    assert answer["ok"] is False and answer["error"]["code"] == "failed"
    assert answer["error"]["message"] == (f"registry rebuild failed; {demo / 'quantbot.duckdb'} is unchanged; "
                                          "test dataset_kind_is_a_dataset_kind: Got 1 result, configured to fail if != 0")
    assert answer["error"]["details"]["ok"] is False
    assert answer["error"]["details"]["failures"] == [
        "test dataset_kind_is_a_dataset_kind: Got 1 result, configured to fail if != 0"]


class PortSession:
    """A real `quantbot port` kept open, as the seed's client keeps it: one request at a time, so
    the test can change the lake between two answers."""

    def __init__(self, lake_root: Path, cwd: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "quantbot_dbt", "port", "--lake", str(lake_root)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd)
        self.sent = 0

    def ask(self, op: str, **args: Any) -> dict[str, Any]:
        self.sent += 1
        self.process.stdin.write(request(self.sent, op, **args) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> int:
        self.process.stdin.close()
        self.process.stdout.close()
        return self.process.wait()


def test_rebuilds_in_one_port_see_every_write_between_them(demo, tmp_path):
    """The port's later rebuilds run dbt in a process that has run it before (dbt already
    imported): each sees what was written since, a failed one leaves the registry as it was, and
    the registry they leave is the one a fresh process builds in full."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    pq.write_table(pa.table({"trade_id": [1], "pnl": [2.5]}), outputs / "trades.parquet")

    def new_run(seed: int) -> dict[str, Any]:
        return {"datasets": "ohlcv_v2_2025Q4", "strategy_hash": "port_rebuilds", "engine_version": "1.0.0",
                "seed": str(seed), "caller": ["brook"], "from": "2025-11-03", "to": "2025-11-09",
                "artifact": [f"trades={outputs / 'trades.parquet'}"]}

    session = PortSession(demo, tmp_path)
    try:
        first = session.ask("rebuildRegistry")
        registered = session.ask("registerRun", **new_run(1))
        after_one_run = session.ask("rebuildRegistry")
        bogus = {**dataset_record("bogus_kind", "ohlcv"), "kind": "not_a_kind", "registered_at": lake.utc_now()}
        tampered = lake.append(demo, [lake.Batch(lake.DATASETS, {(): [bogus]})])
        failed = session.ask("rebuildRegistry")
        for path in tampered:  # a test may take its own bad file back; the port never would
            path.unlink()
        session.ask("registerRun", **new_run(2))
        after_two_runs = session.ask("rebuildRegistry")
    finally:
        assert session.close() == 0

    assert first["result"]["build"]["kind"] == "full" and first["result"]["row_counts"]["runs"] == 48
    assert len(registered["result"]["registered"]) == 1 and registered["result"]["artifacts_registered"] == 1
    assert after_one_run["result"]["build"] == {
        "kind": "incremental", "reason": "2 lake file(s) added since the previous build (artifacts 1, runs 1)"}
    assert after_one_run["result"]["row_counts"]["runs"] == 49
    assert failed["ok"] is False and failed["error"]["details"]["failures"] == [
        "test dataset_kind_is_a_dataset_kind: Got 1 result, configured to fail if != 0"]
    # Built on the registry of after_one_run: had the failed build replaced it, the tampered file
    # it read would be gone from the lake, and this build would be a full one.
    assert after_two_runs["result"]["build"] == after_one_run["result"]["build"]
    assert after_two_runs["result"]["row_counts"]["runs"] == 50
    in_the_port = registry_tables(demo / "quantbot.duckdb")
    fresh = subprocess.run([sys.executable, "-m", "quantbot_dbt", "registry", "rebuild", "--full-refresh",
                            "--lake", str(demo), "--db", str(tmp_path / "fresh.duckdb")],
                           capture_output=True, text=True, cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert in_the_port == registry_tables(tmp_path / "fresh.duckdb")
