"""Plain-text tables and JSON values for the CLI's output (no rich: it is slow to import)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any


def one_line(error: object) -> str:
    """An error message on one line (stderr and port answers are line-oriented)."""
    return " ".join(str(error).split())


def json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat() + "Z"  # registry times are UTC
    if isinstance(value, (dt.date, Path)):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(text(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key}={text(item)}" for key, item in value.items())
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[text(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    return "\n".join(lines)


def fields(record: dict[str, Any]) -> str:
    width = max(len(name) for name in record)
    return "\n".join(f"{name.ljust(width)}  {text(value)}" for name, value in record.items())
