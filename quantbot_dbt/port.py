"""The JSON port: one request per line on stdin, one answer per line on stdout.

Every operation runs the CLI command it names with `--json`, so a port result and the CLI's
`--json` output are the same document by construction. Requests are checked against the JSON
Schema that `quantbot schema` publishes (derived from the commands' own options) before anything
runs, and no request, however malformed, stops the loop.
"""

from __future__ import annotations

import contextlib
import io
import json
import pathlib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

import duckdb
import typer
import typer.main
from typer._click.exceptions import ClickException  # typer vendors click

from . import schemas
from .ids import InputError
from .lake import ConflictingRecords
from .output import one_line

SCHEMA_VERSION = "2"  # 2: the rebuild document says which kind of build ran, and why

# Positional CLI arguments get request keys from their metavar (options use their long name in
# snake_case); an argument without a metavar uses its parameter name.
ARGUMENT_KEYS = {"REF": "runset", "RUN_ID": "run_id", "EXPERIMENT_ID": "experiment_id", "TAG...": "tags"}
# The port serves one lake, chosen when it starts; `--json` is always on.
PORT_OPTIONS = frozenset({"lake", "db", "json"})


@dataclass(frozen=True)
class Operation:
    name: str
    command: tuple[str, ...]  # the CLI path, e.g. ("runset", "create")
    description: str
    result: dict[str, Any]  # JSON Schema of the result (the command's --json document)
    fixed_args: tuple[str, ...] = ("--json",)  # appended to every call
    hidden_options: frozenset[str] = frozenset()  # CLI options the port does not offer


OPERATIONS = {operation.name: operation for operation in (
    Operation("createRunSet", ("runset", "create"), "Create a RunSet (a named, content-addressed selection).",
              schemas.RUNSET_CREATED),
    Operation("resolveRunSet", ("runset", "resolve"), "The RunSet's runs: pinned, cached, or freshly resolved.",
              schemas.RESOLUTION),
    Operation("freezeRunSet", ("runset", "freeze"), "Pin a resolution forever.", schemas.RUNSET_CHANGED),
    Operation("unfreezeRunSet", ("runset", "unfreeze"), "Release the pin.", schemas.RUNSET_CHANGED),
    Operation("deleteRunSet", ("runset", "delete"), "Tombstone a RunSet.", schemas.RUNSET_CHANGED),
    Operation("tagRunSet", ("runset", "tag"), "Add labels to a RunSet.", schemas.RUNSET_TAGGED),
    Operation("untagRunSet", ("runset", "untag"), "Remove labels from a RunSet.", schemas.RUNSET_TAGGED),
    Operation("getRunSet", ("runset", "get"), "Spec, names, labels, state and resolutions of a RunSet.",
              schemas.RUNSET),
    Operation("queryRunSets", ("runset", "list"), "RunSets by name, filtered.", schemas.RUNSET_LIST),
    Operation("getResolutionHistory", ("runset", "history"), "Every resolution of a RunSet, newest first.",
              schemas.HISTORY),
    Operation("diffRunSet", ("runset", "diff"), "Runs added and removed between two resolutions.", schemas.DIFF),
    Operation("registerDataset", ("dataset", "register"), "Register an immutable dataset.",
              schemas.DATASET_REGISTERED),
    Operation("getDataset", ("dataset", "get"), "One dataset.", schemas.DATASET),
    Operation("listDatasets", ("dataset", "list"), "Datasets by id.", schemas.DATASET_LIST),
    Operation("registerRun", ("run", "register"), "Register one run (options) or many (file).",
              schemas.RUNS_REGISTERED),
    Operation("getRun", ("run", "get"), "One run with its artifacts.", schemas.RUN_WITH_ARTIFACTS),
    Operation("listRuns", ("run", "list"), "Runs in simulated-time order, filtered.", schemas.RUN_LIST),
    Operation("tagRun", ("run", "tag"), "Add tags to a run.", schemas.RUN_TAGGED),
    Operation("untagRun", ("run", "untag"), "Remove tags from a run.", schemas.RUN_TAGGED),
    Operation("createExperiment", ("research", "experiments", "create"),
              "Record an experiment pinned to the RunSet's current resolution.", schemas.EXPERIMENT_CREATED),
    Operation("listExperiments", ("research", "experiments", "list"), "Experiments, oldest first.",
              schemas.EXPERIMENT_LIST),
    Operation("getExperiment", ("research", "experiments", "get"),
              "One experiment with the runs and artifacts of the resolution it pinned.", schemas.EXPERIMENT_WITH_RUNS),
    Operation("labQuery", ("lab", "query"), "One read-only SQL query over a RunSet's members and their artifacts.",
              schemas.LAB_RESULT, hidden_options=frozenset({"format", "out"})),
    Operation("labReport", ("lab", "report"), "A report template run like a lab query.", schemas.REPORT_RESULT,
              hidden_options=frozenset({"format", "out", "list"})),
    Operation("listReportTemplates", ("lab", "report"), "The report templates, each with its description.",
              schemas.REPORT_TEMPLATES, fixed_args=("--list", "--json"),
              hidden_options=frozenset({"runset", "template", "format", "out", "list"})),
    Operation("rebuildRegistry", ("registry", "rebuild"), "Rebuild the DuckDB registry with dbt.",
              schemas.REBUILD),
    Operation("compactRegistry", ("registry", "compact"), "Merge each partition's part files; no record changes.",
              schemas.COMPACTION),
)}


class RequestError(Exception):
    """A request the port answers with ok: false."""

    def __init__(self, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


# ---------------------------------------------------------------- requests from the CLI's options


@dataclass(frozen=True)
class Argument:
    key: str  # the request key
    flag: str | None  # the option ("--caller"), or None for a positional argument
    negative_flag: str | None  # "--not-frozen" for a --frozen/--not-frozen switch
    item_type: type
    is_list: bool
    required: bool
    help: str | None


class Port:
    """The port over one CLI app and one lake: derives requests from the app's commands and runs them."""

    def __init__(self, app: typer.Typer, lake: Path | None = None, db: Path | None = None):
        self.app, self.lake, self.db = app, lake, db
        self.root = typer.main.get_command(app)  # the click command tree, built once

    def command(self, path: tuple[str, ...]) -> tuple[Any, Callable[..., Any]]:
        """The click command of a CLI path and the Python function behind it."""
        command, typer_app = self.root, self.app
        for part in path:
            command = command.commands[part]
            typer_app = next((info.typer_instance for info in typer_app.registered_groups if info.name == part),
                             typer_app)
        (callback,) = [info.callback for info in typer_app.registered_commands if info.name == path[-1]]
        return command, callback

    def arguments(self, operation: Operation) -> list[Argument]:
        command, callback = self.command(operation.command)
        hints = typing.get_type_hints(callback)
        arguments = []
        for param in command.params:
            is_option = param.opts[0].startswith("-")
            key = (param.opts[0].lstrip("-").replace("-", "_") if is_option
                   else ARGUMENT_KEYS.get(param.metavar or "", param.name))
            if key in PORT_OPTIONS or key in operation.hidden_options:
                continue
            item_type, is_list = python_type(hints[param.name])
            arguments.append(Argument(
                key=key,
                flag=param.opts[0] if is_option else None,
                negative_flag=param.secondary_opts[0] if is_option and param.secondary_opts else None,
                item_type=item_type,
                is_list=is_list,
                required=bool(param.required),
                help=getattr(param, "help", None),
            ))
        return arguments

    def request_schema(self, operation: Operation) -> dict[str, Any]:
        """The JSON Schema of an operation's `args`, from the CLI command's own options."""
        properties, required = {}, []
        for argument in self.arguments(operation):
            value = json_type(argument.item_type)
            if argument.is_list:
                value = {"type": "array", "items": value}
            if argument.help:
                value["description"] = argument.help
            properties[argument.key] = value
            if argument.required:
                required.append(argument.key)
        return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}

    def argv(self, operation: Operation, args: dict[str, Any]) -> list[str]:
        """The command line a request stands for (args already checked against the request schema)."""
        argv, positionals = list(operation.command), []
        for argument in self.arguments(operation):
            if argument.key not in args:
                continue
            value = args[argument.key]
            if argument.flag is None:
                positionals += [str(item) for item in value] if argument.is_list else [str(value)]
            elif argument.item_type is bool:
                flag = argument.flag if value else argument.negative_flag
                argv += [flag] if flag else []
            else:
                for item in value if argument.is_list else [value]:
                    argv += [argument.flag, str(item)]
        offered = {option for param in self.command(operation.command)[0].params for option in param.opts}
        for option, path in (("--lake", self.lake), ("--db", self.db)):
            if path is not None and option in offered:
                argv += [option, str(path)]
        # "--" keeps a positional value that starts with "-" from being read as an option.
        return argv + list(operation.fixed_args) + (["--", *positionals] if positionals else [])

    def answer(self, line: str) -> dict[str, Any]:
        """One answer for one request line; never raises."""
        request_id = None
        try:
            try:
                request = json.loads(line)
            except json.JSONDecodeError as error:
                raise RequestError("invalid_json", f"the line is not JSON ({error.msg} at column {error.colno})")
            if isinstance(request, dict):
                request_id = request.get("id")
            check(schemas.REQUEST, request, "request")
            operation = OPERATIONS.get(request["op"])
            if operation is None:
                raise RequestError("unknown_operation",
                                   f"unknown op {request['op']!r}; `quantbot schema` lists the {len(OPERATIONS)} operations")
            args = request.get("args", {})
            check(self.request_schema(operation), args, "args")
            result = self.run(self.argv(operation, args))
            return {"id": request_id, "ok": True, "result": result, "schema_version": SCHEMA_VERSION}
        except RequestError as error:
            body = {"code": error.code, "message": error.message}
            if error.details is not None:
                body["details"] = error.details
            return {"id": request_id, "ok": False, "error": body, "schema_version": SCHEMA_VERSION}
        except Exception as error:  # the loop survives anything; the answer says what went wrong
            return {"id": request_id, "ok": False, "schema_version": SCHEMA_VERSION,
                    "error": {"code": "internal_error", "message": f"{type(error).__name__}: {one_line(error)}"}}

    def run(self, argv: list[str]) -> Any:
        """Run a CLI command in this process, its output captured; a non-zero exit is an error."""
        stdout, stderr = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                exit_code = self.root.main(args=argv, prog_name="quantbot", standalone_mode=False)
        except typer.Exit as error:
            exit_code = error.exit_code
        except ClickException as error:
            raise RequestError("invalid_arguments", one_line(error.format_message())) from None
        except (InputError, ConflictingRecords) as error:
            raise RequestError("refused", one_line(error)) from None
        except (duckdb.Error, OSError) as error:
            raise RequestError("storage_error", one_line(error)) from None
        document = json.loads(stdout.getvalue()) if stdout.getvalue().strip() else None
        if exit_code not in (None, 0):
            message = "; ".join(one_line(line).removeprefix("error: ") for line in stderr.getvalue().splitlines()
                                if line.strip())
            raise RequestError("failed", message or f"the command exited with code {exit_code}", document)
        return document

    def serve(self, lines: TextIO, out: TextIO) -> int:
        """Answer every non-blank line in order, flushing each answer; returns how many were answered."""
        answered = 0
        for line in lines:
            if line.strip():
                out.write(json.dumps(self.answer(line), sort_keys=True) + "\n")
                out.flush()
                answered += 1
        return answered

    def schema(self) -> dict[str, Any]:
        """Everything another language needs to generate its types: envelopes, every request and result."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "schema_version": SCHEMA_VERSION,
            "request": schemas.REQUEST,
            "answer": schemas.ANSWER,
            "operations": {
                operation.name: {
                    "description": operation.description,
                    "command": " ".join(["quantbot", *operation.command, *operation.fixed_args]),
                    "args": self.request_schema(operation),
                    "result": operation.result,
                }
                for operation in OPERATIONS.values()
            },
        }


def python_type(hint: Any) -> tuple[type, bool]:
    """(item type, is a list) of an Optional[...] / list[...] annotation."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) is list:
        return typing.get_args(hint)[0], True
    return hint, False


def json_type(item_type: type) -> dict[str, Any]:
    if item_type is bool:
        return {"type": "boolean"}
    if item_type is int:
        return {"type": "integer"}
    if item_type is float:
        return {"type": "number"}
    if isinstance(item_type, type) and issubclass(item_type, pathlib.PurePath):
        return {"type": "string", "description": "A path on the port's machine."}
    return {"type": "string"}


def check(schema: dict[str, Any], value: Any, what: str) -> None:
    import jsonschema  # only the port needs it

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda error: list(error.path))
    if errors:
        where = "/".join(str(part) for part in errors[0].path)
        raise RequestError("invalid_request" if what == "request" else "invalid_arguments",
                           f"{what}{'/' + where if where else ''}: {errors[0].message}")
