"""Baseline: the provincial consolidation as a statistician would write it
with pandas + openpyxl.

Reads every district return (form 01/PCMD-H) under the given folders by its
labels and codes, rejects returns that fail the form's parts-sum and
"of which" rules, aggregates the accepted ones over the period (flows add
their months, stocks take the period's last month; districts add up) and
writes the consolidated workbook (sheet 01-PCMD-T: one row per line, one
column per district, and the province total) with pandas.

    python bench/baseline_pandas.py --form templates/forms/01-pcmd-h.v1.toml \
        --period 2015 --out out.xlsx WORKSPACE/inbox
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from formdef import (
    HEADER_CODE,
    HEADER_VALUE,
    HEADER_YTD,
    LABEL_FORM,
    LABEL_PERIOD,
    LABEL_UNIT,
    OUTPUT_SHEET,
    PROVINCE_COLUMN,
    Form,
    argument_parser,
    find_returns,
    load_form,
    normalise,
    parse_period,
    parse_unit_code,
    period_months,
)


class Rejected(Exception):
    """A return that cannot be used, and why."""


def value_right_of(sheet: pd.DataFrame, row: int, col: int) -> object:
    """The next non-empty cell to the right of a label."""
    for value in sheet.iloc[row, col + 1 :]:
        if pd.notna(value) and str(value).strip():
            return value
    return None


def read_return(path: Path, form: Form) -> pd.DataFrame:
    """One return as rows (code, value, ytd) with its unit and period."""
    try:
        sheet = pd.read_excel(path, sheet_name=form.sheet, header=None, dtype=object, engine="openpyxl")
    except ValueError as e:  # no such sheet
        raise Rejected(str(e)) from e
    labels = sheet.map(normalise)

    identity: dict[str, object] = {}
    wanted = labels.isin([LABEL_FORM, LABEL_UNIT, LABEL_PERIOD]).to_numpy()
    for row, col in zip(*np.nonzero(wanted)):
        identity.setdefault(labels.iat[row, col], value_right_of(sheet, row, col))
    if str(identity.get(LABEL_FORM, "")).strip() != form.code:
        raise Rejected(f"not a {form.code} return")
    unit = parse_unit_code(identity.get(LABEL_UNIT))
    period = parse_period(identity.get(LABEL_PERIOD))
    if unit is None or period is None:
        raise Rejected("unit code or period missing")

    header_cells = np.argwhere((labels == HEADER_CODE).to_numpy())
    if len(header_cells) == 0:
        raise Rejected(f"no '{HEADER_CODE}' header")
    header_row, code_col = header_cells[0]
    header = labels.iloc[header_row]
    if not header.isin([HEADER_VALUE]).any() or not header.isin([HEADER_YTD]).any():
        raise Rejected(f"the header row lacks '{HEADER_VALUE}' or '{HEADER_YTD}'")
    value_col = header.index[header == HEADER_VALUE][0]
    ytd_col = header.index[header == HEADER_YTD][0]

    table = sheet.iloc[header_row + 1 :, [code_col, value_col, ytd_col]]
    table.columns = ["code", "value", "ytd"]
    table = table.assign(code=table["code"].astype("string").str.strip())
    table = table[table["code"].isin(form.codes)]
    missing = set(form.codes) - set(table["code"])
    if missing:
        raise Rejected(f"codes missing: {', '.join(sorted(missing))}")
    if table["code"].duplicated().any():
        raise Rejected("a code appears twice")
    return table.assign(
        value=pd.to_numeric(table["value"], errors="coerce"),
        ytd=pd.to_numeric(table["ytd"], errors="coerce"),
        file=str(path),
        unit=unit,
        period=period,
    )


def failing_files(values: pd.DataFrame, form: Form) -> pd.Index:
    """Files whose values break a parts-sum or "of which" rule."""
    wide = values.pivot(index="file", columns="code", values="value").fillna(0.0)
    bad = pd.Series(False, index=wide.index)
    for parent, parts in form.parts_sum:
        bad |= (wide[parts].sum(axis=1) - wide[parent]).abs() > form.tolerance
    for parent, child in form.of_which:
        bad |= wide[child] > wide[parent] + form.tolerance
    return wide.index[bad]


def consolidate(values: pd.DataFrame, form: Form, months: list[str]) -> pd.DataFrame:
    """Line × district figures for the period, with the province total."""
    agg = pd.Series({line.code: line.agg for line in form.lines})
    values = (
        values[values["period"].isin(months)]
        .sort_values(["period", "file"])
        .drop_duplicates(["unit", "period", "code"], keep="last")  # a resubmission replaces
        .assign(agg=lambda df: df["code"].map(agg))
    )
    flows = values[values["agg"] == "sum"].groupby(["code", "unit"])["value"].sum(min_count=1)
    stocks = values[(values["agg"] == "last") & (values["period"] == months[-1])].set_index(["code", "unit"])["value"]
    per_unit = pd.concat([flows, stocks]).unstack("unit").reindex(form.codes)
    per_unit = per_unit.reindex(columns=sorted(per_unit.columns))
    lines = pd.DataFrame(
        {
            "Mã số": form.codes,
            "Chỉ tiêu": [line.label for line in form.lines],
            "Đơn vị tính": [line.unit for line in form.lines],
            PROVINCE_COLUMN: per_unit.sum(axis=1, min_count=1).to_numpy(),
        }
    )
    return pd.concat([lines, per_unit.reset_index(drop=True)], axis=1)


def main() -> int:
    args = argument_parser(__doc__.splitlines()[0]).parse_args()
    form = load_form(args.form)
    months = period_months(args.period)
    files = find_returns(args.folders)

    frames, rejected = [], {}
    for path in files:
        try:
            frames.append(read_return(path, form))
        except Rejected as e:
            rejected[str(path)] = str(e)
    values = pd.concat(frames, ignore_index=True)
    for file in failing_files(values, form):
        rejected[file] = "parts-sum or 'of which' rule broken"
    values = values[~values["file"].isin(rejected)]

    table = consolidate(values, form, months)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_excel(args.out, sheet_name=OUTPUT_SHEET, index=False, engine="openpyxl")

    for file, why in list(rejected.items())[:10]:
        print(f"rejected {file}: {why}", file=sys.stderr)
    print(f"pandas: {len(files)} files, {len(files) - len(rejected)} accepted, {len(rejected)} rejected -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
