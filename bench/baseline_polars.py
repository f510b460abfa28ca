"""Baseline: the provincial consolidation by the fastest Python route,
polars + fastexcel (the calamine reader under Python).

The same job as baseline_pandas.py: read every district return by its labels
and codes, reject returns that fail the parts-sum and "of which" rules,
aggregate the accepted ones over the period (flows add their months, stocks
take the period's last month; districts add up), write sheet 01-PCMD-T.

    python bench/baseline_polars.py --form templates/forms/01-pcmd-h.v1.toml \
        --period 2015 --out out.xlsx WORKSPACE/inbox
"""

from __future__ import annotations

import sys
from pathlib import Path

import fastexcel
import polars as pl

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


def read_return(path: Path, form: Form) -> pl.DataFrame:
    """One return as rows (code, value, ytd) with its file, unit and period."""
    try:
        reader = fastexcel.read_excel(path)
        sheet = reader.load_sheet_by_name(form.sheet, header_row=None, dtypes="string").to_polars()
    except fastexcel.FastExcelError as e:
        raise Rejected(str(e)) from e

    # Identification cells and the table header, found by their labels.
    identity: dict[str, object] = {}
    header: tuple[int, dict[str, str]] | None = None
    columns = sheet.columns
    for r, row in enumerate(sheet.iter_rows()):
        labels = [normalise(cell) for cell in row]
        for c, label in enumerate(labels):
            if label in (LABEL_FORM, LABEL_UNIT, LABEL_PERIOD) and label not in identity:
                identity[label] = next((v for v in row[c + 1 :] if v is not None and v.strip()), None)
        if HEADER_CODE in labels:
            header = (r, {label: columns[c] for c, label in enumerate(labels) if label})
            break
    if identity.get(LABEL_FORM) != form.code:
        raise Rejected(f"not a {form.code} return")
    unit = parse_unit_code(identity.get(LABEL_UNIT))
    period = parse_period(identity.get(LABEL_PERIOD))
    if unit is None or period is None:
        raise Rejected("unit code or period missing")
    if header is None:
        raise Rejected(f"no '{HEADER_CODE}' header")
    header_row, named = header
    if HEADER_VALUE not in named or HEADER_YTD not in named:
        raise Rejected(f"the header row lacks '{HEADER_VALUE}' or '{HEADER_YTD}'")

    table = (
        sheet.slice(header_row + 1)
        .select(
            code=pl.col(named[HEADER_CODE]).str.strip_chars(),
            value=pl.col(named[HEADER_VALUE]).cast(pl.Float64, strict=False),
            ytd=pl.col(named[HEADER_YTD]).cast(pl.Float64, strict=False),
        )
        .filter(pl.col("code").is_in(form.codes))
    )
    if table.height != len(form.codes) or table["code"].n_unique() != len(form.codes):
        raise Rejected("codes missing or repeated")
    return table.with_columns(file=pl.lit(str(path)), unit=pl.lit(unit), period=pl.lit(period))


def failing_files(values: pl.DataFrame, form: Form) -> pl.Series:
    """Files whose values break a parts-sum or "of which" rule."""
    wide = values.pivot(on="code", index="file", values="value").fill_null(0.0)
    broken = [(pl.sum_horizontal(parts) - pl.col(parent)).abs() > form.tolerance for parent, parts in form.parts_sum]
    broken += [pl.col(child) > pl.col(parent) + form.tolerance for parent, child in form.of_which]
    return wide.filter(pl.any_horizontal(broken))["file"]


def consolidate(values: pl.DataFrame, form: Form, months: list[str]) -> pl.DataFrame:
    """Line × district figures for the period, with the province total."""
    lines = pl.DataFrame(
        {
            "Mã số": form.codes,
            "Chỉ tiêu": [line.label for line in form.lines],
            "Đơn vị tính": [line.unit for line in form.lines],
            "agg": [line.agg for line in form.lines],
        }
    )
    per_unit = (
        values.lazy()
        .filter(pl.col("period").is_in(months))
        .sort("period", "file")
        .unique(["unit", "period", "code"], keep="last", maintain_order=True)  # a resubmission replaces
        .join(lines.lazy().select(code="Mã số", agg="agg"), on="code")
        .filter((pl.col("agg") == "sum") | (pl.col("period") == months[-1]))
        .group_by("code", "unit")
        .agg(pl.when(pl.col("value").count() > 0).then(pl.col("value").sum()).alias("value"))
        .collect()
        .pivot(on="unit", index="code", values="value", sort_columns=True)
    )
    units = [c for c in per_unit.columns if c != "code"]
    return (
        lines.join(per_unit, left_on="Mã số", right_on="code", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.sum_horizontal(pl.col(units).is_not_null()) > 0)
            .then(pl.sum_horizontal(units))
            .alias(PROVINCE_COLUMN)
        )
        .select("Mã số", "Chỉ tiêu", "Đơn vị tính", PROVINCE_COLUMN, *units)
    )


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
    values = pl.concat(frames)
    for file in failing_files(values, form):
        rejected[file] = "parts-sum or 'of which' rule broken"
    values = values.filter(~pl.col("file").is_in(list(rejected)))

    table = consolidate(values, form, months)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.write_excel(args.out, worksheet=OUTPUT_SHEET, autofit=False)

    for file, why in list(rejected.items())[:10]:
        print(f"rejected {file}: {why}", file=sys.stderr)
    print(f"polars: {len(files)} files, {len(files) - len(rejected)} accepted, {len(rejected)} rejected -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
