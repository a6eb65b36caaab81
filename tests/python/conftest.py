"""Fixtures: a fresh lake per test and the real `quantbot` CLI run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(scope="session", autouse=True)
def dbt_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dbt target and log folder per test worker, for in-process and CLI rebuilds alike:
    workers never collide, and partial parsing stays warm within a worker."""
    target = tmp_path_factory.mktemp("dbt-target")
    os.environ["DBT_TARGET_PATH"] = str(target)
    os.environ["DBT_LOG_PATH"] = str(target / "logs")
    return target


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def quantbot(lake_root: Path, tmp_path: Path):
    """Run `quantbot ARGS --lake <lake_root>` in a subprocess, from a scratch working directory."""

    def run(*args: str, lake: Path | None = lake_root, check: bool | None = None) -> Result:
        command = [sys.executable, "-m", "quantbot_dbt", *args]
        if lake is not None:
            command += ["--lake", str(lake)]
        env = {name: value for name, value in os.environ.items() if name not in ("QUANTBOT_LAKE", "QUANTBOT_DB")}
        completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
        result = Result(completed.returncode, completed.stdout, completed.stderr)
        if check is True:
            assert result.code == 0, result.stderr
        return result

    return run


@pytest.fixture
def cli(quantbot):
    """The CLI with --json: it must succeed, say nothing on stderr, and print one JSON document."""

    def run(*args: str) -> Any:
        result = quantbot(*args, "--json")
        assert result.code == 0, result.stderr
        assert result.stderr == ""
        return result.json()

    return run


def lake_files(lake_root: Path) -> list[str]:
    """Every file under the lake's registry folder (visible or not), relative, sorted."""
    folder = lake_root / "registry"
    if not folder.exists():
        return []
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def assert_one_error_line(result: Result, expected: str) -> None:
    """Bad input: exactly one line on stderr, the expected one, a non-zero exit, no traceback."""
    assert result.code != 0
    assert result.stderr.splitlines() == [expected], result.stderr
    assert result.stdout == ""
