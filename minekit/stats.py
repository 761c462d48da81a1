"""What a stage returns, and how its counts are shown to a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl


@dataclass
class StageResult:
    """A stage's output frame and its counts (rows_in, rows_out, dropped by reason, ...)."""

    frame: "pl.DataFrame"
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class Output:
    """What a stage did: its main output `path`, every file or folder it wrote, its counts."""

    path: Path | None
    stats: dict = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    title: str = ""  # how the counts are headed on the command line
    reused: bool = False  # an up-to-date output was found and returned, nothing written
    text: str | None = None  # what the command prints on stdout before the path (a summary, metrics)
    notes: list[str] = field(default_factory=list)  # lines for a person (stderr on the command line)
    data: Any = None  # the stage's own result object (metrics dict, pipeline run)
    show_path: bool = True  # the command line prints `path` last on stdout

    @property
    def dropped(self) -> dict:
        return dict(self.stats.get("dropped") or {})


def format_stats(title: str, stats: dict[str, Any]) -> str:
    """One small aligned table; nested dicts (dropped: {reason: n}) become indented rows."""
    rows: list[tuple[str, str]] = []
    for key, value in stats.items():
        if isinstance(value, dict):
            rows.append((key, "" if value else "none"))
            rows.extend((f"  {k}", _fmt(v)) for k, v in value.items())
        else:
            rows.append((key, _fmt(value)))
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join([title, *(f"  {k.ljust(width)}  {v}" for k, v in rows)])


def format_table(rows: list[list[str]]) -> str:
    """Rows of cells as aligned columns (the first row is the header), two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
