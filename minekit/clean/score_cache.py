"""A value per key on disk (sqlite): the cross-encoder's pair scores and the LLM judge's answers.

One store, two tables of their own files: a score is read back as it was written (REAL, TEXT), so a
rerun gives the same output without asking the model or the endpoint again.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

_IN_LIMIT = 500  # keys looked up per SELECT ... IN (...), well under sqlite's variable limit


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheTable:
    """Where a cache lives and its layout: `create` makes the table, `keys` are its key columns (the
    primary key), `value` the column read back."""

    file: str
    create: str
    name: str
    keys: tuple[str, ...]
    value: str


PAIR_SCORES = CacheTable(
    "ce-scores.sqlite",
    "CREATE TABLE IF NOT EXISTS scores (model TEXT, query TEXT, passage TEXT, score REAL, "
    "PRIMARY KEY (model, query, passage)) WITHOUT ROWID",
    "scores", ("model", "query", "passage"), "score")
JUDGE_ANSWERS = CacheTable(
    "llm-judge.sqlite",
    "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT)",
    "answers", ("key",), "answer")


class ScoreCache:
    """Values on disk in sqlite, keyed by a table's key columns (e.g. model, query sha256, passage sha256).

    Each put() is one transaction, so a run killed mid-write loses at most that batch and never leaves
    a half-written entry. Safe to share between threads (one lock around the connection); several
    processes may share a file too (WAL journal, 60 s busy timeout), but only on a local disk: SQLite
    must not be on a network filesystem (NFS, SMB): its locks do not hold there, and concurrent writers
    there can corrupt it. On a cluster, point cache_dir at each machine's local storage.
    """

    def __init__(self, folder: str | Path, table: CacheTable) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / table.file
        self.table = table
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(table.create)
        self._db.commit()
        self._lock = threading.Lock()

    def get(self, keys: Sequence[tuple]) -> dict[tuple, Any]:
        """The stored value of each key found, by key. Keys sharing all but their last column are looked
        up together (one query a model and query for pair scores)."""
        t = self.table
        *prefix_cols, last = t.keys
        where = "".join(f"{c} = ? AND " for c in prefix_cols)
        by_prefix: dict[tuple, list] = {}
        for key in keys:
            by_prefix.setdefault(tuple(key[:-1]), []).append(key[-1])
        found: dict[tuple, Any] = {}
        with self._lock:
            for prefix, lasts in by_prefix.items():
                for start in range(0, len(lasts), _IN_LIMIT):
                    part = lasts[start:start + _IN_LIMIT]
                    rows = self._db.execute(
                        f"SELECT {last}, {t.value} FROM {t.name} WHERE {where}{last} IN "
                        f"({','.join('?' * len(part))})", [*prefix, *part]).fetchall()
                    found.update(((*prefix, k), v) for k, v in rows)
        return found

    def put(self, items: Sequence[tuple[tuple, Any]]) -> None:
        """Store (key, value) items, replacing what a key held, in one transaction."""
        t = self.table
        marks = ", ".join("?" * (len(t.keys) + 1))
        with self._lock, self._db:
            self._db.executemany(f"INSERT OR REPLACE INTO {t.name} ({', '.join(t.keys)}, {t.value}) "
                                 f"VALUES ({marks})", [(*key, value) for key, value in items])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ScoreCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
