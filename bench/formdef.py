"""What both Python baselines share: the form definition (read from the
project's TOML, the same data baocao reads), label matching, period and unit
code parsing, and the layout of the consolidated workbook they write.

Only the standard library here: the reading, checking and aggregation are
written separately in pandas and in polars, as each would be.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Labels, as the form document writes them (matched after normalisation).
LABEL_FORM = "biểu số"
LABEL_UNIT = "mã đơn vị"
LABEL_PERIOD = "kỳ báo cáo"
HEADER_CODE = "mã số"
HEADER_VALUE = "kỳ này"
HEADER_YTD = "lũy kế từ đầu năm"

# The consolidated workbook the baselines write (and compare.py reads).
OUTPUT_SHEET = "01-PCMD-T"
PROVINCE_COLUMN = "Toàn tỉnh"


@dataclass(frozen=True)
class Line:
    code: str
    label: str
    unit: str
    kind: str  # "int" or "money"
    agg: str  # "sum" (flow) or "last" (stock)


@dataclass(frozen=True)
class Form:
    code: str
    sheet: str
    tolerance: float
    lines: list[Line]
    # Error rules that reject a return: (parent, [parts]) must add up
    # exactly; (parent, child) "of which" must not exceed the parent.
    parts_sum: list[tuple[str, list[str]]]
    of_which: list[tuple[str, str]]

    @property
    def codes(self) -> list[str]:
        return [line.code for line in self.lines]


def load_form(path: Path) -> Form:
    """Reads a form definition (templates/forms/*.toml)."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    rules = [r for r in data["rules"] if r["severity"] == "error"]
    return Form(
        code=data["form"]["code"],
        sheet=data["form"]["sheet"],
        tolerance=float(data["form"].get("money_tolerance", 0.001)),
        lines=[Line(l["code"], l["label"], l["unit"], l["kind"], l["agg"]) for l in data["lines"]],
        parts_sum=[(r["parent"], list(r["parts"])) for r in rules if r["kind"] == "parts_sum"],
        of_which=[(r["parent"], r["child"]) for r in rules if r["kind"] == "of_which"],
    )


def normalise(text: object) -> str:
    """A label as compared: NFC, case-folded, trimmed, no trailing colon."""
    if not isinstance(text, str):
        return ""
    return unicodedata.normalize("NFC", text).casefold().strip().rstrip(":").strip()


_PERIOD_PATTERNS = [
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})$"),
    re.compile(r"^(?:tháng\s*)?(?P<m>\d{1,2})\s*/\s*(?P<y>\d{4})$"),
    re.compile(r"^tháng\s*(?P<m>\d{1,2})\s*năm\s*(?P<y>\d{4})$"),
]


def parse_period(value: object) -> str | None:
    """A reporting month as "YYYY-MM", from text or a date cell."""
    if isinstance(value, (dt.date, dt.datetime)):
        return f"{value.year:04d}-{value.month:02d}"
    text = normalise(str(value)) if value is not None else ""
    for pattern in _PERIOD_PATTERNS:
        match = pattern.match(text)
        if match and 1 <= int(match["m"]) <= 12:
            return f"{int(match['y']):04d}-{int(match['m']):02d}"
    return None


def parse_unit_code(value: object) -> str | None:
    """A unit code as three digits: a number cell 61 means "061"."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text.zfill(3) if text.isdigit() else None


def period_months(period: str) -> list[str]:
    """The months of a period: 2015, 2015-03, 2015Q2 or 2015S1."""
    if re.fullmatch(r"\d{4}", period):
        first, count = 1, 12
    elif m := re.fullmatch(r"\d{4}-(\d{2})", period):
        first, count = int(m[1]), 1
    elif m := re.fullmatch(r"\d{4}Q([1-4])", period):
        first, count = 3 * int(m[1]) - 2, 3
    elif m := re.fullmatch(r"\d{4}S([12])", period):
        first, count = 6 * int(m[1]) - 5, 6
    else:
        raise ValueError(f"period {period!r}: use 2015, 2015-03, 2015Q2 or 2015S1")
    return [f"{period[:4]}-{month:02d}" for month in range(first, first + count)]


def find_returns(folders: list[Path]) -> list[Path]:
    """Every .xlsx file under the folders, in name order."""
    files: list[Path] = []
    for folder in folders:
        files.extend(p for p in folder.rglob("*.xlsx") if not p.name.startswith((".", "~$")))
    return sorted(files)


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--form", type=Path, required=True, help="form definition (TOML)")
    parser.add_argument("--period", required=True, help="2015, 2015-03, 2015Q2 or 2015S1")
    parser.add_argument("--out", type=Path, required=True, help="consolidated workbook to write")
    parser.add_argument("folders", type=Path, nargs="+", help="folders of district returns")
    return parser
