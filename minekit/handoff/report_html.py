"""The report's HTML: the page around the sections, tables, and how numbers and texts are shown."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

COLORS = {"positive": "#2a9d4b", "picked": "#1f6fd1", "dropped": "#d1495b", "kept": "#9a9a9a"}
PALETTE = ["#1f6fd1", "#e07b00", "#2a9d4b", "#8e44ad", "#d1495b", "#17a2b8", "#7f7f7f", "#b8860b"]
TEXT_CHARS = 280


@dataclass
class Cell:
    text: str
    shade: float  # 0..1, the cell's background strength


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2d3d;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
nav{padding:6px 24px;background:#e9edf2;font-size:13px}nav a{margin-right:14px;color:#1f4f8a}
section{background:#fff;margin:14px 24px;padding:10px 18px;border:1px solid #e2e2e2;border-radius:6px}
h2{font-size:17px;margin:6px 0 8px}p{margin:6px 0;max-width:980px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f0f3f6}.grid{display:flex;flex-wrap:wrap;gap:10px}svg{background:#fff;border:1px solid #eee}
svg .t{font-size:12px;font-weight:600}svg .l,svg .v{font-size:10px;fill:#444}svg .ax{stroke:#888}
svg .grid{stroke:#eee}svg .zero{stroke:#d1495b;stroke-dasharray:4 3}
.notes li{color:#8a4b00}.example{border-top:1px solid #eee;padding:6px 0}.q{font-weight:600}
.pos{color:#1d6b34}.tag{display:inline-block;background:#eef2f7;border-radius:3px;padding:0 5px;font-size:11px;
color:#333;margin-right:4px}ol{margin:4px 0 4px 18px;padding:0}
"""


def render_page(title: str, sections: list[tuple[str, str, str]]) -> str:
    links = "".join(f"<a href='#{key}'>{escape(name)}</a>" for key, name, _ in sections)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{escape(title)}</h1></header><nav>{links}</nav>"
            + "".join(f"<section id='{key}'><h2>{escape(name)}</h2>{body}</section>" for key, name, body in sections)
            + "</body></html>\n")


def section(key: str, title: str, body: str) -> tuple[str, str, str]:
    return key, title, body


def table(columns: list[str], rows: list[list[Any]], *, header: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in columns) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _td(value: Any) -> str:
    if isinstance(value, Cell):
        return f"<td style='background:rgba(31,111,209,{0.08 + 0.6 * value.shade:.2f})'>{escape(value.text)}</td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"<td>{escape(fmt(value))}</td>"
    return f"<td>{escape(str(value))}</td>"


def grid(figures: list[str]) -> str:
    return "<div class='grid'>" + "".join(figures) + "</div>"


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def cut(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS].rstrip() + " …"


def short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def params_text(params: dict) -> str:
    shown = {k: v for k, v in params.items() if v not in (None, False, "", [])}
    return ", ".join(f"{k}={v}" for k, v in list(shown.items())[:8]) + (" …" if len(shown) > 8 else "")


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value == int(value) and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


def pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def color_of(name: str) -> str:
    return COLORS.get(name.split(",")[0], COLORS["kept"])
