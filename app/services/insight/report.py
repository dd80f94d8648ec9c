"""What a dashboard is made of: sections with headline figures, tables (each one a chart, an
accessible table and a CSV export) and notes. Plain data, no SQL and no HTML."""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

# column kinds: how a value is shown and exported
TEXT, INT, PCT, HOURS, DAYS, NUM, SCORE, WEEK = "text", "int", "pct", "hours", "days", "num", "score", "week"
NOTE = "note"  # text shown under the row's name on the page, its own column in the CSV
UNITS = {PCT: "%", HOURS: "hours", DAYS: "days"}


@dataclass
class Column:
    key: str
    label: str
    kind: str = INT

    @property
    def heading(self) -> str:
        """The label with its unit, as in the CSV header."""
        unit = UNITS.get(self.kind)
        return f"{self.label} ({unit})" if unit and unit not in self.label else self.label


@dataclass
class Chart:
    """How insight.js draws a table: `type` line | bar | hbar | stacked | heatmap (the table
    itself is shaded); `series`: the keys of the columns drawn against the first column."""

    type: str
    series: tuple[str, ...]
    unit: str = ""


@dataclass
class Table:
    id: str
    title: str
    columns: list[Column]
    rows: list[list]
    chart: Chart | None = None
    empty_message: str = "Nothing to show for this period."
    note: str = ""
    row_headers: bool = True  # the first column names the row

    @cached_property
    def _heat_top(self) -> float:
        keys = set(self.chart.series) if self.chart else set()
        return max((v for row in self.rows for c, v in zip(self.columns, row, strict=True)
                    if c.key in keys and isinstance(v, int | float)), default=0)

    def heat_level(self, column: Column, value) -> int:
        """0 (nothing) to 5 (the table's largest value) for a heatmap cell of a series column."""
        if not self.chart or column.key not in self.chart.series or not value or not self._heat_top:
            return 0
        return max(1, min(5, math.ceil(5 * value / self._heat_top)))

    @property
    def is_empty(self) -> bool:
        """No rows, or no figure other than zero or none in any row."""
        return not any(any(v not in (None, 0, 0.0) for v in row[1:]) for row in self.rows)

    def csv_text(self) -> str:
        """The table as CSV (header row first). Text cells that a spreadsheet would run as a
        formula (starting with = + - @, a tab or a carriage return) get a leading quote."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([safe_cell(c.heading) for c in self.columns])
        for row in self.rows:
            writer.writerow([export_value(col, value) for col, value in zip(self.columns, row, strict=True)])
        return out.getvalue()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """`value` with a leading quote when a spreadsheet would read it as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def export_value(column: Column, value):
    """A cell as exported: numbers as numbers (shares in percent, durations in hours or days,
    one decimal), text made safe for spreadsheets, None as an empty cell."""
    if value is None:
        return ""
    if column.kind == PCT:
        return round(value * 100, 1)
    if column.kind in (HOURS, NUM):
        return round(value, 1)
    if column.kind == DAYS:
        return round(value, 1)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return safe_cell(value)
    return value


@dataclass
class Figure:
    """A headline number: `value` already in its unit (see Column kinds)."""

    label: str
    value: float | int | None
    kind: str = INT
    detail: str = ""


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    empty_message: str = ""  # set when the whole section has nothing to show
    scores: dict = field(default_factory=dict)  # inputs of the Social Business Index (0..1 or None)

    def table(self, table_id: str) -> Table | None:
        """The section's table `table_id`, or None."""
        return next((t for t in self.tables if t.id == table_id), None)
