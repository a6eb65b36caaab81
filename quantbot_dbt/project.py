"""Where the dbt project lives and what its seeds say: the controlled vocabularies."""

from __future__ import annotations

import csv
import functools
import os
from pathlib import Path

from .ids import InputError

DEFAULT_LAKE = "lake"
REGISTRY_SCHEMA = "registry"
# Not "registry.duckdb": DuckDB names a database after its file, and a catalog called
# "registry" makes every `registry.<table>` ambiguous with the schema of that name.
DB_FILE_NAME = "quantbot.duckdb"


def project_dir() -> Path:
    """The dbt project (dbt_project.yml, models/, seeds/) is the checkout this package sits in."""
    return Path(__file__).resolve().parent.parent


@functools.cache  # the seeds ship with the package; a bulk registration checks ~6 values a run
def vocabulary(seed_name: str) -> frozenset[str]:
    """The first column of a seed CSV: the accepted values the dbt contracts also check."""
    with open(project_dir() / "seeds" / f"{seed_name}.csv", newline="", encoding="utf-8") as seed_file:
        return frozenset(row[0] for index, row in enumerate(csv.reader(seed_file)) if index > 0 and row)


def resolve_paths(lake: str | os.PathLike[str] | None, db: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """--lake/--db, else QUANTBOT_LAKE/QUANTBOT_DB, else ./lake and <lake>/quantbot.duckdb; always absolute."""
    lake_root = Path(lake or os.environ.get("QUANTBOT_LAKE") or DEFAULT_LAKE).expanduser().absolute()
    db_path = db or os.environ.get("QUANTBOT_DB")
    db_file = Path(db_path).expanduser().absolute() if db_path else lake_root / DB_FILE_NAME
    if db_file.stem == REGISTRY_SCHEMA:
        raise InputError(
            f"registry file {db_file.name!r}: DuckDB would name its database {REGISTRY_SCHEMA!r}, "
            f"which makes {REGISTRY_SCHEMA}.<table> ambiguous; choose another file name"
        )
    return lake_root, db_file
