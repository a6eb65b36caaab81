"""The lab: read-only SQL over one RunSet's members, for ad-hoc queries and report templates.

A lab query sees only relations scoped to the RunSet's current resolution (pinned if frozen,
else the latest, else a new one is recorded, exactly like `quantbot runset resolve`):

    membership (runset_id, resolution_id, resolution_hash, run_id)
    runs, artifacts                the members' lake records, with the lake tables' columns
    trades, metrics, curve, ...    one per artifact kind the members have: the rows of their
                                   Parquet files, with the registry's `run_id` on every row

"SQL can only interpret", in two layers:

1. Before anything runs (before the RunSet is even looked up, so a refused query touches
   nothing), sqlglot parses the text: it must be one read-only query (SELECT, WITH, set
   operations) whose FROM items are the relations above, CTEs, or harmless generators.
2. The relations live in an in-memory DuckDB connection that is then locked down: external
   access off except the members' artifact files, configuration locked. What slips past the
   parser fails there with a PermissionException.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import io
import json
import logging
import math
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from . import lake, resolver
from .ids import InputError, validate_name
from .lake import fsync_dir, quoted
from .output import json_value, table, text
from .project import project_dir, vocabulary

BASE_RELATIONS = ("artifacts", "membership", "runs")
GENERATORS = frozenset({"range", "generate_series", "unnest"})  # table functions that read nothing
# Scalar functions that read files or the environment, refused wherever they appear (layer 2
# would stop them too; this names them clearly). Every table function but GENERATORS is refused.
FILE_FUNCTIONS = frozenset({"glob", "getenv", "sniff_csv", "query", "query_table", "parquet_scan",
                            "parquet_metadata", "parquet_schema", "parquet_file_metadata",
                            "parquet_kv_metadata"})
FILE_COLUMN = "__quantbot_file"  # read_parquet's filename column in kind views; never shown
GLOB_CHARACTERS = ("*", "?", "[")
NESTED_TYPES = frozenset({"list", "array", "map", "struct", "union"})
SCOPE = "a lab query reads only the RunSet's relations (runs, artifacts, membership, one per artifact kind)"
READ_ONLY = "a lab query is one read-only SELECT"
QUERY_STARTS = frozenset({TokenType.SELECT, TokenType.WITH, TokenType.FROM, TokenType.VALUES, TokenType.L_PAREN})
# Statement nodes and the keyword that names them in an error (first match wins).
STATEMENTS: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Insert, "INSERT"), (exp.Update, "UPDATE"), (exp.Delete, "DELETE"), (exp.Merge, "MERGE"),
    (exp.Copy, "COPY"), (exp.Create, "CREATE"), (exp.Drop, "DROP"), (exp.Alter, "ALTER"),
    (exp.TruncateTable, "TRUNCATE"), (exp.Attach, "ATTACH"), (exp.Detach, "DETACH"), (exp.Use, "USE"),
    (exp.Pragma, "PRAGMA"), (exp.Set, "SET"), (exp.Install, "INSTALL"), (exp.Export, "EXPORT"),
    (exp.Describe, "DESCRIBE"), (exp.Show, "SHOW"), (exp.Summarize, "SUMMARIZE"), (exp.Comment, "COMMENT"),
    (exp.Transaction, "BEGIN"), (exp.Commit, "COMMIT"), (exp.Rollback, "ROLLBACK"), (exp.Analyze, "ANALYZE"),
    (exp.Kill, "KILL"), (exp.Grant, "GRANT"), (exp.Revoke, "REVOKE"), (exp.Refresh, "REFRESH"),
    (exp.Cache, "CACHE"), (exp.Uncache, "UNCACHE"), (exp.Declare, "DECLARE"), (exp.LoadData, "LOAD DATA"),
    (exp.Into, "SELECT ... INTO"), (exp.DDL, "DDL"), (exp.DML, "DML"),
)
MEMBERSHIP_SCHEMA = pa.schema([
    pa.field("runset_id", pa.string(), nullable=False),
    pa.field("resolution_id", pa.string(), nullable=False),
    pa.field("resolution_hash", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])
QUERY_FORMATS = ("table", "json", "csv", "parquet")
REPORT_FORMATS = ("table", "markdown", "json", "csv")

# ---------------------------------------------------------------- layer 1: the guard


@dataclass(frozen=True)
class CheckedQuery:
    sql: str
    relations: frozenset[str]  # the scoped relations it reads (CTE names excluded), lowercase


def check_query(sql: str) -> CheckedQuery:
    """Refuse anything but one read-only query over the lab's relations, naming the construct.

    Reads nothing but the text (and the artifact kinds seed): safe to call before anything."""
    if not isinstance(sql, str):
        raise InputError("the lab query is empty")
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except TokenError as error:
        raise InputError(f"the lab query does not parse: {str(error).splitlines()[0]}") from None
    statements = _statements(tokens)
    if not statements:
        raise InputError("the lab query is empty")
    if len(statements) > 1:
        raise InputError(f"a lab query is one statement; found {len(statements)}")
    first, last = statements[0][0], statements[0][-1]
    # The statement alone, without the `;`s and comments around it: what is parsed is what runs.
    sql = sql[first.start:last.end + 1]
    try:
        with _quiet_sqlglot():
            tree = sqlglot.parse_one(sql, read="duckdb")
    except ParseError as error:
        if first.token_type not in QUERY_STARTS:
            raise InputError(f"{first.text.upper()} is not allowed: {READ_ONLY}") from None
        raise InputError(f"the lab query does not parse: {_parse_error(error)}") from None
    if not isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)):
        raise InputError(f"{_keyword(tree, first.text.upper())} is not allowed: {READ_ONLY}")
    for node in tree.walk():
        if isinstance(node, (exp.Command, *(kind for kind, _ in STATEMENTS))):
            raise InputError(f"{_keyword(node, first.text.upper())} is not allowed: {READ_ONLY}")
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    relations = set()
    for table_node in tree.find_all(exp.Table):
        relations |= _relation_of(table_node, sql, cte_names)
    for node in tree.find_all(exp.Func):
        name = _function_name(node)
        if name.startswith("read_") or name in FILE_FUNCTIONS:
            raise InputError(f"function {name} is not allowed: {SCOPE}")
    known = set(BASE_RELATIONS) | vocabulary("artifact_kinds")
    unknown = sorted(relations - known)
    if unknown:
        raise InputError(f"unknown relation {unknown[0]!r}: a lab query reads runs, artifacts, membership "
                         f"and one relation per artifact kind ({', '.join(sorted(known - set(BASE_RELATIONS)))})")
    return CheckedQuery(sql, frozenset(relations))


def _statements(tokens: list[Any]) -> list[list[Any]]:
    """Tokens split on `;` (a `;` inside a string is part of a STRING token), empty ones dropped."""
    statements: list[list[Any]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return [statement for statement in statements if statement]


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to a raw Command; the refusal says it better."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _parse_error(error: ParseError) -> str:
    if error.errors:
        first = error.errors[0]
        return f"{first.get('description')} (line {first.get('line')}, column {first.get('col')})"
    return str(error).splitlines()[0]


def _keyword(node: exp.Expression, first_word: str) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    for kind, keyword in STATEMENTS:
        if isinstance(node, kind):
            return keyword
    return first_word  # e.g. CHECKPOINT, which sqlglot reads as a bare column


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous) and isinstance(node.this, str):
        return node.this.lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key.lower()


def _relation_of(table_node: exp.Table, sql: str, cte_names: set[str]) -> set[str]:
    """The scoped relation a FROM item reads (none for a CTE or a generator), or a refusal."""
    target = table_node.this
    if not isinstance(target, exp.Identifier):
        name = _function_name(target)
        if name in GENERATORS:
            return set()
        raise InputError(f"table function {name} is not allowed: {SCOPE}")
    if table_node.args.get("db") or table_node.args.get("catalog"):
        qualified = ".".join(part.name for part in table_node.parts)
        raise InputError(f"qualified name {qualified} is not allowed: {SCOPE}")
    start = target.meta.get("start")
    if start is not None and sql[start:start + 1] == "'":  # FROM 'file.csv': DuckDB would read the file
        raise InputError(f"reading the file {target.name!r} is not allowed: {SCOPE}")
    name = target.name.lower()
    return set() if name in cte_names else {name}


# ---------------------------------------------------------------- the relations and layer 2


@dataclass
class LabResult:
    resolution: dict[str, Any]  # resolver.resolve()'s answer: which resolution the rows come from
    columns: list[dict[str, str]]  # name, DuckDB type
    arrow: pa.Table  # the rows (at most --limit)
    rows: list[tuple[Any, ...]]  # the same rows as Python values
    truncated: bool


def run_query(lake_root: Path, ref: str, sql: str, limit: int | None = None) -> LabResult:
    """Check the query, then resolve the RunSet and run it over the members' relations."""
    return run_checked(lake_root, ref, check_query(sql), limit)


def run_checked(lake_root: Path, ref: str, checked: CheckedQuery, limit: int | None = None) -> LabResult:
    if limit is not None and limit < 1:
        raise InputError(f"invalid --limit {limit}: must be at least 1")
    resolution = resolver.resolve(lake_root, ref)
    runs, artifacts = member_records(lake_root, resolution["run_ids"])
    kinds = {artifact["kind"] for artifact in artifacts if is_parquet(artifact)}
    missing = sorted(checked.relations - set(BASE_RELATIONS) - kinds)
    if missing:
        raise InputError(
            f"RunSet {resolution['name']} has no relation {missing[0]!r}: its members have no {missing[0]} "
            f"Parquet artifacts; its relations are {', '.join(sorted(set(BASE_RELATIONS) | kinds))}"
        )
    with open_lab(resolution, runs, artifacts, checked.relations & kinds) as con:
        relation = con.sql(checked.sql)
        if relation is None:
            raise InputError("the lab query returned no rows and no columns")
        names = relation.columns
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise InputError(f"the result has more than one column named {repeated[0]!r}; name them apart with AS")
        columns = [{"name": name, "type": str(column_type)} for name, column_type in zip(names, relation.types)]
        arrow = (relation.limit(limit + 1) if limit is not None else relation).to_arrow_table()
        truncated = limit is not None and arrow.num_rows > limit
        if truncated:
            arrow = arrow.slice(0, limit)
        rows = con.from_arrow(arrow).fetchall()
    return LabResult(resolution, columns, arrow, rows, truncated)


def member_records(lake_root: Path, run_ids: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The members' run and artifact records, read from the lake with the ids bound."""
    if not run_ids:
        return [], []
    with lake.connect() as con:
        runs = lake.records(con, lake_root, lake.RUNS, "run_id IN (SELECT unnest($ids))", {"ids": run_ids})
        missing = sorted(set(run_ids) - {run["run_id"] for run in runs})
        if missing:
            raise InputError(f"the resolution names {len(missing)} run(s) missing from the lake, first {missing[0]}; "
                             "`quantbot registry rebuild` names the contract it breaks")
        months = {lake.month_of(run["window_from"]) for run in runs}  # artifacts sit in their run's month folder
        artifacts = lake.records(con, lake_root, lake.ARTIFACTS, "run_id IN (SELECT unnest($ids))", {"ids": run_ids},
                                 {"month": months.__contains__}, order_by="run_id, kind, artifact_id")
    return runs, artifacts


def is_parquet(artifact: dict[str, Any]) -> bool:
    # The registration counted rows of exactly these (records.artifact_record).
    return Path(artifact["uri"]).suffix == ".parquet"


@contextlib.contextmanager
def open_lab(resolution: dict[str, Any], runs: list[dict[str, Any]], artifacts: list[dict[str, Any]],
             kinds: set[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection holding the scoped relations, then locked down (layer 2)."""
    with duckdb.connect() as con:  # a database of its own, not lake.connect(): lock_down sets it for good
        con.execute("SET python_enable_replacements = false")  # no reading Python variables by name
        membership = [{"runset_id": resolution["runset_id"], "resolution_id": resolution["resolution_id"],
                       "resolution_hash": resolution["resolution_hash"], "run_id": run_id}
                      for run_id in resolution["run_ids"]]
        for name, rows, schema in (("membership", membership, MEMBERSHIP_SCHEMA),
                                   ("runs", runs, lake.RUNS.schema), ("artifacts", artifacts, lake.ARTIFACTS.schema)):
            con.from_arrow(pa.Table.from_pylist(rows, schema=schema)).create(name)
        paths = []
        for kind in sorted(kinds):
            paths += create_kind_view(con, kind, [artifact for artifact in artifacts
                                                  if artifact["kind"] == kind and is_parquet(artifact)])
        lock_down(con, paths)
        yield con


def create_kind_view(con: duckdb.DuckDBPyConnection, kind: str, artifacts: list[dict[str, Any]]) -> list[str]:
    """View `<kind>`: the rows of the artifacts' files, each with its artifact's run_id; the paths read.

    If a file has a run_id column of its own, the registry's run_id replaces it: the registry
    says which run an artifact belongs to, and a file cannot move its rows to another run."""
    paths = sorted({artifact["uri"] for artifact in artifacts})  # one file shared by two runs is read once
    for path in paths:
        if any(character in path for character in GLOB_CHARACTERS):
            raise InputError(f"{kind} artifact {path!r}: its path holds a glob character (*, ? or [), "
                             "which DuckDB's read_parquet would expand to other files; it cannot be read exactly")
    source = f"read_parquet($paths, union_by_name = true, filename = '{FILE_COLUMN}')"
    file_columns = [name for name in con.sql(f"SELECT * FROM {source}", params={"paths": paths}).columns
                    if name != FILE_COLUMN and name.lower() != "run_id"]
    select = ", ".join(["artifact.run_id"] + [f"source.{quoted(name)}" for name in file_columns])
    # Paths and kind are bound parameters, never pasted into the SQL text.
    con.sql(
        f"SELECT {select} FROM {source} AS source "
        f"JOIN artifacts AS artifact ON artifact.uri = source.{FILE_COLUMN} AND artifact.kind = $kind",
        params={"paths": paths, "kind": kind},
    ).create_view(kind)
    return paths


def lock_down(con: duckdb.DuckDBPyConnection, paths: list[str]) -> None:
    """No file but the members' artifacts, no extension, no setting change (DuckDB 2.0.1: views
    created before keep reading their allowed files; read_csv, ATTACH, COPY raise PermissionException)."""
    con.execute("SET allowed_paths = $paths", {"paths": paths})
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


# ---------------------------------------------------------------- output


def citation(result: LabResult) -> str:
    resolution = result.resolution
    return (f"RunSet {resolution['name']} ({resolution['runset_id']}) resolution {resolution['resolution_id']} "
            f"resolution_hash={resolution['resolution_hash']}")


def document(result: LabResult, template: Template | None = None) -> dict[str, Any]:
    """The JSON answer (CLI and port alike): the citation, the columns, the rows as objects."""
    resolution = result.resolution
    names = [column["name"] for column in result.columns]
    answer = {
        "runset_id": resolution["runset_id"],
        "name": resolution["name"],
        "resolution_id": resolution["resolution_id"],
        "resolution_hash": resolution["resolution_hash"],
        "frozen": resolution["frozen"],
        "columns": result.columns,
        "rows": [{name: json_cell(value) for name, value in zip(names, row)} for row in result.rows],
        "row_count": len(result.rows),
        "truncated": result.truncated,
    }
    if template is not None:
        answer.update({"template": template.name, "description": template.description})
    return answer


def written_document(result: LabResult, out: Path, output_format: str) -> dict[str, Any]:
    """What --json prints when the rows went to --out."""
    answer = document(result)
    del answer["rows"]
    return {**answer, "out": str(out), "format": output_format}


def json_cell(value: Any) -> Any:
    """A DuckDB value as JSON: times ISO UTC with Z, decimals as numbers, maps as objects."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN or infinity
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, (dt.datetime, dt.date)):
        return json_value(value)
    if isinstance(value, dict):
        return {str(key): json_cell(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_cell(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (dt.time, dt.timedelta, uuid.UUID)):
        return str(value)
    return str(value)


def render(result: LabResult, output_format: str, template: Template | None = None) -> bytes:
    """The answer in one format, as the bytes that go to stdout or --out."""
    if output_format == "json":
        return (json.dumps(document(result, template), default=json_value, sort_keys=True) + "\n").encode()
    if output_format == "csv":
        buffer = io.BytesIO()
        pa_csv.write_csv(plain_table(result.arrow, nested_as_json=True), buffer)
        return buffer.getvalue()
    if output_format == "parquet":
        buffer = io.BytesIO()
        pq.write_table(with_citation(plain_table(result.arrow, nested_as_json=False), result), buffer)
        return buffer.getvalue()
    if output_format == "markdown":
        return (markdown(result, template) + "\n").encode()
    lines = [citation(result)]
    if template is not None:
        lines.append(f"report {template.name}: {template.description}")
    names = [column["name"] for column in result.columns]
    lines.append(table([dict(zip(names, row)) for row in result.rows], names))
    lines.append(row_count_line(result))
    return ("\n".join(lines) + "\n").encode()


def row_count_line(result: LabResult) -> str:
    return f"({rows_text(result)}; more with a higher --limit)" if result.truncated else f"({rows_text(result)})"


def rows_text(result: LabResult) -> str:
    return f"{len(result.rows)} row{'s' * (len(result.rows) != 1)}"


def markdown(result: LabResult, template: Template | None) -> str:
    resolution = result.resolution
    title = f"{template.name}: {template.description}" if template else "lab query"
    cited = (f"RunSet `{resolution['name']}` (`{resolution['runset_id']}`), "
             f"resolution `{resolution['resolution_id']}`, resolution_hash=`{resolution['resolution_hash']}`")
    lines = [f"## {title}", "", cited, ""]
    names = [column["name"] for column in result.columns]
    lines.append("| " + " | ".join(markdown_cell(name) for name in names) + " |")
    lines.append("|" + "|".join(" --- " for _ in names) + "|")
    lines += ["| " + " | ".join(markdown_cell(text(value)) for value in row) + " |" for row in result.rows]
    lines += ["", row_count_line(result)]
    return "\n".join(lines)


def markdown_cell(value: str) -> str:
    return " ".join(value.split()).replace("|", "\\|")


def plain_table(arrow: pa.Table, nested_as_json: bool) -> pa.Table:
    """Rows a CSV or Parquet writer takes: intervals as text, and for CSV lists/maps/structs as JSON text."""
    with lake.connect() as con:
        relation = con.from_arrow(arrow)
        converted = [column_type.id == "interval" or (nested_as_json and column_type.id in NESTED_TYPES)
                     for column_type in relation.types]
        if not any(converted):
            return arrow
        expressions = []
        for name, column_type, convert in zip(relation.columns, relation.types, converted, strict=True):
            value = quoted(name) if column_type.id == "interval" else f"to_json({quoted(name)})"
            expressions.append(f"CAST({value} AS VARCHAR) AS {quoted(name)}" if convert else quoted(name))
        return relation.project(", ".join(expressions)).to_arrow_table()


def with_citation(arrow: pa.Table, result: LabResult) -> pa.Table:
    resolution = result.resolution
    metadata = dict(arrow.schema.metadata or {})
    metadata.update({
        b"quantbot.runset_id": resolution["runset_id"].encode(),
        b"quantbot.resolution_id": resolution["resolution_id"].encode(),
        b"quantbot.resolution_hash": resolution["resolution_hash"].encode(),
    })
    return arrow.replace_schema_metadata(metadata)


def check_output(output_format: str, out: Path | None, formats: tuple[str, ...], lake_root: Path) -> Path | None:
    """Refuse a format or --out that cannot work, before anything runs; the absolute --out."""
    if output_format not in formats:
        raise InputError(f"invalid --format {output_format!r}: expected one of {', '.join(formats)}")
    if out is None:
        if output_format == "parquet":
            raise InputError("--format parquet writes a binary file: give --out FILE")
        return None
    out = out.expanduser().absolute()
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name")
    if out.resolve().is_relative_to((lake_root / "registry").resolve()):
        raise InputError(f"--out {out} is inside the lake's registry folder, which only the lake writes")
    return out


def write_file(path: Path, data: bytes) -> None:
    """Atomically: a temp file in the same folder, fsynced, then renamed over `path`."""
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


# ---------------------------------------------------------------- report templates


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def shipped_templates_dir() -> Path:
    return project_dir() / "reports"


def list_templates(templates_dir: Path | None = None) -> list[Template]:
    """The shipped templates and those in templates_dir, by name; a name defined twice is refused."""
    found = {template.name: template for template in _templates_in(shipped_templates_dir())}
    if templates_dir is not None:
        templates_dir = templates_dir.expanduser().absolute()
        if not templates_dir.is_dir():
            raise InputError(f"--templates {templates_dir}: not a folder")
        for template in _templates_in(templates_dir):
            if template.name in found:
                raise InputError(f"template {template.name} is defined twice: {template.path} and "
                                 f"{found[template.name].path}; rename one of them")
            found[template.name] = template
    return [found[name] for name in sorted(found)]


def _templates_in(folder: Path) -> list[Template]:
    templates = []
    for path in sorted(folder.glob("*.sql")):
        try:
            name = validate_name(path.stem, "template name")
        except InputError as error:
            raise InputError(f"template file {path}: {error}") from None
        with open(path, encoding="utf-8") as template_file:
            first_line = template_file.readline().strip()
        description = first_line[2:].strip() if first_line.startswith("--") else ""
        if not description:
            raise InputError(f"template file {path}: its first line must be `-- <one-line description>`")
        templates.append(Template(name, description, path))
    return templates


def find_template(name: str, templates_dir: Path | None = None) -> Template:
    templates = {template.name: template for template in list_templates(templates_dir)}
    if name not in templates:
        raise InputError(f"unknown template {name!r}: expected one of {', '.join(templates)} "
                         "(see `quantbot lab report --list`)")
    return templates[name]


def run_report(lake_root: Path, ref: str, name: str, templates_dir: Path | None = None) -> tuple[Template, LabResult]:
    """A template runs exactly like a lab query: same guard, same relations."""
    template = find_template(name, templates_dir)
    try:
        checked = check_query(template.sql)
    except InputError as error:
        raise InputError(f"template {template.name} ({template.path}): {error}") from None
    return template, run_checked(lake_root, ref, checked)
