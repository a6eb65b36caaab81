"""The project's promises about itself: one schema in two places, dbt only where it rebuilds."""

import subprocess
import sys

import yaml

from quantbot_dbt import lake
from quantbot_dbt.project import project_dir, vocabulary


def test_lake_schemas_and_staging_model_types_agree():
    staging = yaml.safe_load((project_dir() / "models" / "staging" / "_staging.yml").read_text())
    declared = {
        model["name"]: {column["name"]: column["data_type"] for column in model["columns"]}
        for model in staging["models"]
    }
    for table in lake.TABLES.values():
        expected = {column.name: column.type for column in table.columns}
        assert table.schema.names == list(expected)  # the pyarrow schema files are written with
        assert declared[f"stg_{table.name}"] == {**expected, "source_file": "VARCHAR"}


def test_vocabularies_come_from_the_seeds():
    assert vocabulary("dataset_kinds") == {"ohlcv", "candles", "alerts"}
    assert vocabulary("artifact_kinds") == {"trades", "metrics", "curve", "diagnostics"}
    assert vocabulary("run_statuses") == {"completed", "failed"}


def test_reading_and_writing_commands_never_import_dbt(tmp_path):
    script = (
        "import sys\n"
        "from quantbot_dbt.cli import app\n"
        f"for args in (['dataset', 'list', '--lake', {str(tmp_path)!r}], ['run', 'list', '--lake', {str(tmp_path)!r}],\n"
        f"             ['dataset', 'register', '--id', 'd1', '--kind', 'ohlcv', '--lake', {str(tmp_path)!r}]):\n"
        "    app(args, standalone_mode=False)\n"
        "print(sorted({name.split('.')[0] for name in sys.modules if name.split('.')[0] == 'dbt'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"


def test_a_registry_file_named_registry_is_refused(quantbot, tmp_path):
    """DuckDB names a database after its file: registry.duckdb would make registry.runs ambiguous."""
    result = quantbot("registry", "rebuild", "--db", str(tmp_path / "registry.duckdb"))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "error: registry file 'registry.duckdb': DuckDB would name its database 'registry', "
        "which makes registry.<table> ambiguous; choose another file name"
    ]
    assert not (tmp_path / "registry.duckdb").exists()
