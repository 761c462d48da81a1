"""Reading JSONL training files with errors that name the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from minekit.errors import InputError

if TYPE_CHECKING:
    import polars as pl


def _lines(path: Path) -> Iterator[tuple[int, dict]]:
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a JSONL file. Fix: give the .jsonl file itself (a Hugging Face "
                         "datasets folder is read by `minekit import hf`).")
    if not path.is_file():
        raise InputError(f"{path}: file not found. Fix: check the path (relative paths start in {Path.cwd()}).")
    found = False
    with open(path, encoding="utf-8") as handle:
        for number, line in _numbered(handle, path):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {number} is not valid JSON ({exc.msg}).") from exc
            if not isinstance(record, dict):
                raise InputError(f"{path}: line {number} is a JSON {type(record).__name__}, not an object.")
            found = True
            yield number, record
    if not found:
        raise InputError(f"{path}: no records.")


def _numbered(handle, path: Path) -> Iterator[tuple[int, str]]:
    """The lines of a text file, numbered from 1; a file that is not UTF-8 text is named as such."""
    number = 0
    try:
        for number, line in enumerate(handle, start=1):
            yield number, line
    except UnicodeDecodeError:
        kind = "a parquet file" if path.read_bytes()[:4] == b"PAR1" else "not UTF-8 text"
        raise InputError(f"{path}: is {kind}, not JSONL (line {number + 1} cannot be decoded). Fix: give a JSONL "
                         "file with one JSON object per line; for a parquet file of pairs use `minekit import pairs`.") \
            from None


def _get(record: dict, key: str, kind: str, where: str, *, required: bool = True) -> Any:
    """One field, checked: 'text' a non-empty string, 'id' a string or integer, 'str' any string or null."""
    if key not in record or record[key] is None:
        if required:
            raise InputError(f"{where}: lacks field '{key}'.")
        return None
    value = record[key]
    if kind == "id":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InputError(f"{where}: field '{key}' must be a string or integer id, found {_kind(value)}.")
        value = str(value)
        if not value.strip():
            raise InputError(f"{where}: field '{key}' is empty.")
        return value
    if not isinstance(value, str):
        raise InputError(f"{where}: field '{key}' must be a string, found {_kind(value)}.")
    if kind == "text" and not value.strip():
        raise InputError(f"{where}: field '{key}' is empty. Fix: remove the record or give it text.")
    return value


def _get_list(record: dict, key: str, where: str, *, required: bool = True) -> list:
    value = record.get(key)
    if value is None:
        if required:
            raise InputError(f"{where}: lacks field '{key}'.")
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: field '{key}' must be a list, found {_kind(value)}.")
    return value


def _kind(value: Any) -> str:
    return {list: "a list", dict: "an object", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _read_jsonl(path: Path, required: list[str], optional: tuple[str, ...] = (),
                ids: tuple[str, ...] = ()) -> "pl.DataFrame":
    """A JSONL file of flat records as a string frame; each field checked (id, non-empty text, string)."""
    import polars as pl

    columns = (*required, *optional)
    rows = []
    for number, record in _lines(path):
        where = f"{path}: line {number}"
        rows.append({k: _get(record, k, "id" if k in ids else "text" if k in required else "str", where,
                             required=k in required) for k in columns})
    return pl.DataFrame(rows, schema={k: pl.Utf8 for k in columns})


# -- BEIR -----------------------------------------------------------------------------------------------
