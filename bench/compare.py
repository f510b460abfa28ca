"""Checks that the contenders of the benchmark agree on the consolidated
province figures of the period, line by line.

Each contender's output is either
- a consolidated workbook (.xlsx) whose sheet 01-PCMD-T has one header row
  holding "Mã số" and "Toàn tỉnh", the province figure of each line code in
  the "Toàn tỉnh" column (what `baocao report` and the baselines write), or
- a long CSV export `period,unit_code,line_code,value,ytd,status` (what
  `baocao export --format csv` writes), aggregated here by the form's rules:
  flows add their months, stocks take the period's last month, units add up.

    python bench/compare.py --form FORM --period 2015 pandas=a.xlsx polars=b.xlsx baocao=c.xlsx

Exit status 0 when every contender gives every line the same figure (money
to the form's tolerance), 1 with the differences listed when not.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import openpyxl

from formdef import HEADER_CODE, OUTPUT_SHEET, PROVINCE_COLUMN, Form, load_form, normalise, period_months

Figures = dict[str, float | None]


def number(value: object) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return None


def from_workbook(path: Path, form: Form) -> Figures:
    """The "Toàn tỉnh" column of sheet 01-PCMD-T, by line code."""
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if OUTPUT_SHEET not in workbook.sheetnames:
            raise SystemExit(f"compare: {path} has no sheet {OUTPUT_SHEET!r} (sheets: {workbook.sheetnames})")
        rows = workbook[OUTPUT_SHEET].iter_rows(values_only=True)
        code_col = province_col = None
        for row in rows:
            labels = [normalise(cell) for cell in row]
            if HEADER_CODE in labels and normalise(PROVINCE_COLUMN) in labels:
                code_col, province_col = labels.index(HEADER_CODE), labels.index(normalise(PROVINCE_COLUMN))
                break
        if code_col is None:
            raise SystemExit(f"compare: {path}: no header row with {HEADER_CODE!r} and {PROVINCE_COLUMN!r}")
        codes = set(form.codes)
        figures: Figures = {}
        for row in rows:
            code = str(row[code_col]).strip() if code_col < len(row) and row[code_col] is not None else ""
            if code in codes:
                figures[code] = number(row[province_col]) if province_col < len(row) else None
        return figures
    finally:
        workbook.close()


def from_export(path: Path, form: Form, period: str) -> Figures:
    """Province figures from a long monthly export, by the form's rules."""
    months = period_months(period)
    agg = {line.code: line.agg for line in form.lines}
    per_unit: dict[tuple[str, str], list[float]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code, month, value = row["line_code"], row["period"], number(row["value"])
            if code not in agg or month not in months or value is None:
                continue
            if agg[code] == "sum" or month == months[-1]:
                per_unit[(code, row["unit_code"])].append(value)
    figures: Figures = {}
    for (code, _unit), values in per_unit.items():
        figures[code] = (figures.get(code) or 0.0) + sum(values)
    return figures


def read_figures(path: Path, form: Form, period: str) -> Figures:
    if path.suffix.lower() == ".csv":
        return from_export(path, form, period)
    return from_workbook(path, form)


def differences(reference: Figures, other: Figures, form: Form) -> list[tuple[str, float | None, float | None]]:
    out = []
    for line in form.lines:
        a, b = reference.get(line.code), other.get(line.code)
        if a is None or b is None:
            if a != b:
                out.append((line.code, a, b))
        elif abs(a - b) > form.tolerance * 0.5:
            out.append((line.code, a, b))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--form", type=Path, required=True)
    parser.add_argument("--period", required=True)
    parser.add_argument("outputs", nargs="+", metavar="NAME=PATH")
    args = parser.parse_args()
    form = load_form(args.form)

    contenders = []
    for item in args.outputs:
        name, _, path = item.partition("=")
        if not path:
            parser.error(f"{item!r}: expected NAME=PATH")
        contenders.append((name, Path(path)))
    if len(contenders) < 2:
        parser.error("give at least two outputs to compare")

    figures = {name: read_figures(path, form, args.period) for name, path in contenders}
    reference_name = contenders[0][0]
    reference = figures[reference_name]
    if not any(v is not None for v in reference.values()):
        print(f"compare: {reference_name} has no figures at all", file=sys.stderr)
        return 1
    failed = False
    for name, _path in contenders[1:]:
        diff = differences(reference, figures[name], form)
        if diff:
            failed = True
            print(
                f"compare: DISAGREEMENT for period {args.period}: {name} differs from {reference_name} "
                f"on {len(diff)} of {len(form.lines)} lines:",
                file=sys.stderr,
            )
            for code, a, b in diff[:15]:
                print(f"  {code:6} {reference_name}={a}  {name}={b}", file=sys.stderr)
    if failed:
        return 1
    names = ", ".join(name for name, _ in contenders)
    print(f"compare: {names} agree on all {len(form.lines)} province figures of {args.period}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
