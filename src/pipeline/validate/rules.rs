//! The behaviour of the rule kinds that compare values: arithmetic within the
//! return (rules 10–14), the commune count and list against the register
//! (15–17) and the unit's own history (18–20). Each function is one
//! [`RuleKind`](crate::domain::RuleKind); the rule's parameters and severity
//! come from the form file.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{Level, OutlierRule, Rule};
use crate::findings::Finding;
use crate::pipeline::read::{format_number, CellRef};

use super::{clean_label, dmy, vi_number, Checker, Col};

/// The columns the arithmetic rules (10–14) check: this period only. The
/// form checks the year to date through rule 18 alone, a warning; a parent
/// and its parts that disagree in `Lũy kế` show there.
const THIS_PERIOD: [Col; 1] = [Col::This];

/// "A01.1+A01.2".
fn plus(codes: &[&str]) -> String {
    codes.join("+")
}

/// A value in thousandths of its unit, exactly. Money has at most three
/// decimals (a thousand VND), so comparing integers of thousandths is exact
/// where comparing floats is not: 12.345 − 12.344 computes to
/// 0.0010000000000012, which a float tolerance of 0.001 would reject.
pub(super) fn thousandths(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

/// The sum of values in thousandths, each rounded first (see [`thousandths`]).
fn thousandths_sum(values: &[f64]) -> i64 {
    values.iter().map(|v| thousandths(*v)).sum()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

impl Checker<'_> {
    fn label_of(&self, code: &str) -> &str {
        self.form.line(code).map_or("", |l| clean_label(&l.label))
    }

    fn values_of(&self, codes: &[&str], col: Col) -> Option<Vec<f64>> {
        codes.iter().map(|c| self.value(c, col)).collect()
    }

    /// Rule 10: the parts add up to their parent exactly (money within the
    /// form's tolerance, compared in exact thousandths).
    pub(super) fn parts_sum(&mut self, rule: &Rule, parent: &str, parts: &[String]) {
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let mut all = parts.clone();
        all.push(parent);
        let tolerance = self.tolerance(&all);
        for col in THIS_PERIOD {
            let (Some(total), Some(values)) = (self.value(parent, col), self.values_of(&parts, col)) else {
                continue;
            };
            let sum: f64 = values.iter().sum();
            if (thousandths_sum(&values) - thousandths(total)).abs() <= tolerance {
                continue;
            }
            let expr = plus(&parts);
            let finding = self
                .at_line(
                    rule.id,
                    rule.severity,
                    parent,
                    col,
                    &format!(
                        "dòng tổng {parent} = {} nhưng các dòng chi tiết {expr} cộng lại bằng {}. Các dòng chi tiết phải cộng đúng bằng dòng tổng; đề nghị kiểm tra lại.",
                        vi_number(total),
                        vi_number(sum)
                    ),
                    &format!("{expr} = {} but {parent} = {}", format_number(sum), format_number(total)),
                )
                .value(format_number(total))
                .expected(format!("{expr} = {} ≠ {parent} = {}", format_number(sum), format_number(total)));
            self.findings.push(finding);
        }
    }

    /// Rule 11: an "of which" line is at most its parent.
    pub(super) fn of_which(&mut self, rule: &Rule, parent: &str, child: &str) {
        let tolerance = self.tolerance(&[parent, child]);
        for col in THIS_PERIOD {
            let (Some(total), Some(part)) = (self.value(parent, col), self.value(child, col)) else {
                continue;
            };
            if thousandths(part) <= thousandths(total) + tolerance {
                continue;
            }
            let finding = self
                .at_line(
                    rule.id,
                    rule.severity,
                    child,
                    col,
                    &format!(
                        "số \"trong đó\" {child} = {} lớn hơn dòng tổng {parent} – {} = {}. Số \"trong đó\" không thể lớn hơn tổng; đề nghị kiểm tra lại.",
                        vi_number(part),
                        self.label_of(parent),
                        vi_number(total)
                    ),
                    &format!("{child} = {} exceeds its parent {parent} = {}", format_number(part), format_number(total)),
                )
                .value(format_number(part))
                .expected(format!(
                    "{child} ≤ {parent} ({child} = {} > {parent} = {})",
                    format_number(part),
                    format_number(total)
                ));
            self.findings.push(finding);
        }
    }

    /// Rules 12–14: the sum of `left` is at most `right`; the finding sits on
    /// the first left line.
    pub(super) fn not_greater(&mut self, rule: &Rule, left: &[String], right: &str) {
        let left: Vec<&str> = left.iter().map(String::as_str).collect();
        let Some(first) = left.first().copied() else { return };
        let mut all = left.clone();
        all.push(right);
        let tolerance = self.tolerance(&all);
        for col in THIS_PERIOD {
            let (Some(values), Some(limit)) = (self.values_of(&left, col), self.value(right, col)) else {
                continue;
            };
            let sum: f64 = values.iter().sum();
            if thousandths_sum(&values) <= thousandths(limit) + tolerance {
                continue;
            }
            let expr = plus(&left);
            let finding = self
                .at_line(
                    rule.id,
                    rule.severity,
                    first,
                    col,
                    &format!(
                        "{expr} = {} lớn hơn {right} – {} = {}, trong khi {expr} không được lớn hơn {right}. Đề nghị kiểm tra lại.",
                        vi_number(sum),
                        self.label_of(right),
                        vi_number(limit)
                    ),
                    &format!("{expr} = {} exceeds {right} = {}", format_number(sum), format_number(limit)),
                )
                .value(format_number(sum))
                .expected(format!(
                    "{expr} ≤ {right} ({expr} = {} > {right} = {})",
                    format_number(sum),
                    format_number(limit)
                ));
            self.findings.push(finding);
        }
    }

    /// Rules 12–13: `first` > 0 exactly when `second` > 0; the finding sits
    /// on `second`.
    pub(super) fn both_or_neither_positive(&mut self, rule: &Rule, first: &str, second: &str) {
        for col in THIS_PERIOD {
            let (Some(a), Some(b)) = (self.value(first, col), self.value(second, col)) else {
                continue;
            };
            if (a > 0.0) == (b > 0.0) {
                continue;
            }
            let finding = self
                .at_line(
                    rule.id,
                    rule.severity,
                    second,
                    col,
                    &format!(
                        "{first} – {} = {} nhưng {second} = {}. Hai chỉ tiêu này thường cùng lớn hơn 0 hoặc cùng bằng 0; đề nghị kiểm tra lại.",
                        self.label_of(first),
                        vi_number(a),
                        vi_number(b)
                    ),
                    &format!("{first} = {} but {second} = {}: both or neither should be positive", format_number(a), format_number(b)),
                )
                .value(format_number(b))
                .expected(format!(
                    "{first} > 0 ⇔ {second} > 0 ({first} = {}, {second} = {})",
                    format_number(a),
                    format_number(b)
                ));
            self.findings.push(finding);
        }
    }

    /// Rule 12: when `when` > 0, `left` ≤ `right`; the finding sits on `right`.
    pub(super) fn positive_implies_not_greater(&mut self, rule: &Rule, when: &str, left: &str, right: &str) {
        let tolerance = self.tolerance(&[left, right]);
        for col in THIS_PERIOD {
            let (Some(w), Some(l), Some(r)) = (self.value(when, col), self.value(left, col), self.value(right, col))
            else {
                continue;
            };
            if w <= 0.0 || thousandths(l) <= thousandths(r) + tolerance {
                continue;
            }
            let finding = self
                .at_line(
                    rule.id,
                    rule.severity,
                    right,
                    col,
                    &format!(
                        "{right} = {} nhỏ hơn {left} – {} = {}; khi {when} lớn hơn 0 thì {right} thường không nhỏ hơn {left}. Đề nghị kiểm tra lại.",
                        vi_number(r),
                        self.label_of(left),
                        vi_number(l)
                    ),
                    &format!("{when} > 0 but {left} = {} exceeds {right} = {}", format_number(l), format_number(r)),
                )
                .value(format_number(r))
                .expected(format!(
                    "{when} > 0 ⇒ {left} ≤ {right} ({left} = {} > {right} = {})",
                    format_number(l),
                    format_number(r)
                ));
            self.findings.push(finding);
        }
    }

    /// Rule 14: when `when` = 0, `then` = 0; the finding sits on `then`.
    pub(super) fn zero_implies_zero(&mut self, rule: &Rule, when: &str, then: &str) {
        let tolerance = self.tolerance(&[when, then]);
        for col in THIS_PERIOD {
            let (Some(w), Some(t)) = (self.value(when, col), self.value(then, col)) else {
                continue;
            };
            if thousandths(w).abs() > tolerance || thousandths(t).abs() <= tolerance {
                continue;
            }
            let finding = self
                .at_line(
                    rule.id,
                    rule.severity,
                    then,
                    col,
                    &format!(
                        "{then} = {} trong khi {when} – {} = 0; khi {when} bằng 0 thì {then} thường cũng bằng 0. Đề nghị kiểm tra lại.",
                        vi_number(t),
                        self.label_of(when)
                    ),
                    &format!("{when} = 0 but {then} = {}", format_number(t)),
                )
                .value(format_number(t))
                .expected(format!("{when} = 0 ⇒ {then} = 0 ({then} = {})", format_number(t)));
            self.findings.push(finding);
        }
    }

    /// Rule 15: `line` equals the number of communes the register holds for
    /// the unit at the period's end. The register is the reference; the
    /// message also gives the count on the commune sheet, so the district
    /// sees which of its two numbers is off.
    pub(super) fn equals_register_count(&mut self, rule: &Rule, line: &str) {
        let Some(written) = self.value(line, Col::This) else {
            return;
        };
        let register = self.ctx.register.communes_of_unit(self.unit, self.end);
        let expected = register.len() as f64;
        if (written - expected).abs() < 1e-9 {
            return;
        }
        let listed: BTreeSet<&str> = self.raw.communes.iter().filter_map(|c| c.code.as_deref()).collect();
        let sheet_note_vi = match &self.raw.commune_sheet {
            Some(sheet) => format!(" Trang \"{sheet}\" liệt kê {} xã.", listed.len()),
            None => String::new(),
        };
        let sheet_note_en = match &self.raw.commune_sheet {
            Some(sheet) => format!("; sheet \"{sheet}\" lists {}", listed.len()),
            None => String::new(),
        };
        let finding = self
            .at_line(
                rule.id,
                rule.severity,
                line,
                Col::This,
                &format!(
                    "ghi {} nhưng theo danh mục đơn vị hành chính, {} có {} xã, phường, thị trấn vào ngày {}.{sheet_note_vi} Số đúng là {} theo danh mục; nếu địa giới hành chính đã thay đổi mà danh mục chưa cập nhật, đề nghị báo cho Sở.",
                    vi_number(written),
                    self.unit.name,
                    register.len(),
                    dmy(self.end),
                    register.len()
                ),
                &format!(
                    "{line} = {} but the register holds {} communes of {} on {}{sheet_note_en}",
                    format_number(written),
                    register.len(),
                    self.unit.code,
                    self.end
                ),
            )
            .value(format_number(written))
            .expected(format!("{line} = {}", register.len()));
        self.findings.push(finding);
    }

    fn commune_finding(&self, rule: &Rule, sheet: &str, cell: Option<String>, vi: String, en: String) -> Finding {
        Finding::new(rule.id, rule.severity, self.ctx.file, vi, en).at(sheet, cell)
    }

    /// Rule 16: the commune sheet lists every register commune of the unit
    /// once, and nothing else; flag marks are readable.
    pub(super) fn commune_list(&mut self, rule: &Rule) {
        let Some(sheet) = self.raw.commune_sheet.clone() else {
            // Rule 2 has said the commune sheet is missing.
            return;
        };
        let register = self.ctx.register;
        let expected = register.communes_of_unit(self.unit, self.end);
        let expected_codes: BTreeSet<&str> = expected.iter().map(|u| u.code.as_str()).collect();
        let mut seen: BTreeMap<&str, CellRef> = BTreeMap::new();
        let mut found = Vec::new();
        for commune in &self.raw.communes {
            let cell = commune.code_cell;
            let Some(code) = commune.code.as_deref() else {
                found.push(
                    self.commune_finding(
                        rule,
                        &sheet,
                        Some(cell.to_string()),
                        format!(
                            "Ô {cell}: \"{}\" không phải mã xã (5 chữ số, ví dụ 01888).",
                            commune.code_read
                        ),
                        format!("cell {cell}: \"{}\" is not a commune code", commune.code_read),
                    )
                    .value(commune.code_read.clone())
                    .expected("5 chữ số / 5 digits"),
                );
                continue;
            };
            if let Some(first) = seen.get(code) {
                found.push(
                    self.commune_finding(
                        rule,
                        &sheet,
                        Some(cell.to_string()),
                        format!("Ô {cell}: mã xã {code} ({}) xuất hiện lần thứ hai (lần đầu ở ô {first}). Đề nghị xóa dòng thừa.", commune.name),
                        format!("cell {cell}: commune {code} listed twice (first at {first})"),
                    )
                    .value(code.to_string())
                    .expected("một lần / once"),
                );
                continue;
            }
            seen.insert(code, commune.code_cell);
            if !expected_codes.contains(code) {
                let (vi, en) = self.foreign_commune(code, &commune.name);
                found.push(
                    self.commune_finding(
                        rule,
                        &sheet,
                        Some(cell.to_string()),
                        format!("Ô {cell}: {vi}"),
                        format!("cell {cell}: {en}"),
                    )
                    .value(code.to_string())
                    .expected(format!(
                        "một xã của {} / a commune of {}",
                        self.unit.name, self.unit.code
                    )),
                );
            }
            for flag in &commune.flags {
                if flag.value.is_none() {
                    found.push(
                        self.commune_finding(
                            rule,
                            &sheet,
                            Some(flag.cell.to_string()),
                            format!(
                                "Ô {} ({}): dấu \"{}\" không đọc được. Đề nghị đánh x nếu đúng, để trống nếu không.",
                                flag.cell, commune.name, flag.read
                            ),
                            format!("cell {}: mark \"{}\" is not x or blank", flag.cell, flag.read),
                        )
                        .value(flag.read.clone())
                        .expected("x / trống (blank)"),
                    );
                }
            }
        }
        let missing: Vec<String> = expected
            .iter()
            .filter(|u| !seen.contains_key(u.code.as_str()))
            .map(|u| format!("{} {}", u.code, u.name))
            .collect();
        if !missing.is_empty() {
            found.push(
                self.commune_finding(
                    rule,
                    &sheet,
                    None,
                    format!(
                        "Trang \"{sheet}\" thiếu {} xã của {} theo danh mục tại ngày {}: {}. Đề nghị bổ sung (nên dùng mẫu biểu do phần mềm tạo cho đúng kỳ báo cáo).",
                        missing.len(),
                        self.unit.name,
                        dmy(self.end),
                        missing.join("; ")
                    ),
                    format!("sheet \"{sheet}\" lacks {} register communes: {}", missing.len(), missing.join("; ")),
                )
                .expected(missing.join("; ")),
            );
        }
        self.findings.extend(found);
    }

    /// Why a listed commune code is not one of the unit's at the period's
    /// end: it belongs to another district, or was valid at other dates
    /// (a list copied from another year), or is unknown.
    fn foreign_commune(&self, code: &str, name: &str) -> (String, String) {
        let register = self.ctx.register;
        let rows = register.rows_of(Level::Commune, code);
        if let Some(now) = rows.iter().find(|u| u.valid_on(self.end)) {
            if self.unit.level == Level::Commune {
                // A commune reports for itself (from 1/7/2025): any other
                // commune on its sheet is another reporting unit's.
                return (
                    format!(
                        "mã xã {code} ({}) là một đơn vị báo cáo khác, không phải {}. Trang danh sách xã của một xã, phường chỉ ghi chính xã, phường đó.",
                        now.name, self.unit.name
                    ),
                    format!(
                        "commune {code} ({}) is another unit than {}: a commune's sheet lists only itself",
                        now.name, self.unit.code
                    ),
                );
            }
            let district = register
                .any_level_at(&now.parent_code, self.end)
                .map_or(now.parent_code.clone(), |d| d.name.clone());
            return (
                format!(
                    "mã xã {code} ({}) thuộc {district}, không thuộc {}.",
                    now.name, self.unit.name
                ),
                format!(
                    "commune {code} ({}) belongs to district {}, not {}",
                    now.name, now.parent_code, self.unit.code
                ),
            );
        }
        if !rows.is_empty() {
            let validity: Vec<String> = rows
                .iter()
                .map(|u| {
                    let to = u.valid_to.map_or("nay".to_string(), dmy);
                    format!(
                        "{} (huyện {}) từ {} đến {}",
                        u.name,
                        u.parent_code,
                        dmy(u.valid_from),
                        to
                    )
                })
                .collect();
            let validity_en: Vec<String> = rows
                .iter()
                .map(|u| format!("{} (district {}) {}", u.name, u.parent_code, u.validity()))
                .collect();
            return (
                format!(
                    "mã xã {code} ({name}) không còn hiệu lực vào ngày {} (mã này có hiệu lực: {}). Có thể danh sách xã được chép từ kỳ báo cáo khác; đề nghị dùng danh sách xã đúng kỳ.",
                    dmy(self.end),
                    validity.join("; ")
                ),
                format!("commune {code} is not valid on {} (valid: {})", self.end, validity_en.join("; ")),
            );
        }
        (
            format!("mã xã {code} ({name}) không có trong danh mục đơn vị hành chính."),
            format!("commune {code} is not in the register"),
        )
    }

    /// Rule 16: no commune carries two of `flags`; the finding sits on the
    /// second flag's cell.
    pub(super) fn exclusive_flags(&mut self, rule: &Rule, flags: &[String]) {
        let Some(sheet) = self.raw.commune_sheet.clone() else {
            return;
        };
        let header = |key: &str| {
            self.form
                .commune_flags
                .iter()
                .find(|f| f.key == key)
                .map_or(key.to_string(), |f| f.header.clone())
        };
        let mut found = Vec::new();
        for commune in &self.raw.communes {
            let set: Vec<_> = commune
                .flags
                .iter()
                .filter(|f| flags.contains(&f.key) && f.value == Some(true))
                .collect();
            if set.len() < 2 {
                continue;
            }
            let names: Vec<String> = set.iter().map(|f| format!("\"{}\"", header(&f.key))).collect();
            let cell = set[1].cell;
            found.push(
                self.commune_finding(
                    rule,
                    &sheet,
                    Some(cell.to_string()),
                    format!(
                        "Ô {cell} ({}): xã được đánh dấu đồng thời {}; một xã chỉ có thể thuộc một trong các loại này.",
                        commune.name,
                        names.join(" và ")
                    ),
                    format!(
                        "cell {cell}: commune {} carries exclusive flags {}",
                        commune.code_read,
                        names.join(", ")
                    ),
                )
                .value(set.iter().map(|f| f.read.clone()).collect::<Vec<_>>().join(", "))
                .expected(format!("một trong {} / one of them", names.join(", "))),
            );
        }
        self.findings.extend(found);
    }

    /// Rule 17: the number of communes flagged in each column equals its
    /// line; the finding sits on the line's cell and names the communes.
    pub(super) fn commune_flag_counts(&mut self, rule: &Rule) {
        let Some(sheet) = self.raw.commune_sheet.clone() else {
            return;
        };
        let mut found = Vec::new();
        for flag in &self.form.commune_flags {
            if !self.raw.flag_columns.contains_key(&flag.key) {
                continue;
            }
            let Some(written) = self.value(&flag.line, Col::This) else {
                continue;
            };
            let flagged: Vec<String> = self
                .raw
                .communes
                .iter()
                .filter(|c| c.code.is_some())
                .filter(|c| c.flags.iter().any(|f| f.key == flag.key && f.value == Some(true)))
                .map(|c| {
                    if c.name.is_empty() {
                        c.code_read.clone()
                    } else {
                        c.name.clone()
                    }
                })
                .collect();
            if (flagged.len() as f64 - written).abs() < 1e-9 {
                continue;
            }
            let list_vi = if flagged.is_empty() {
                "không xã nào".to_string()
            } else {
                format!("{} xã: {}", flagged.len(), flagged.join(", "))
            };
            found.push(
                self.at_line(
                    rule.id,
                    rule.severity,
                    &flag.line,
                    Col::This,
                    &format!(
                        "ghi {} nhưng trang \"{sheet}\" đánh dấu cột \"{}\" cho {list_vi}. Hai số phải bằng nhau; đề nghị kiểm tra lại.",
                        vi_number(written),
                        flag.header
                    ),
                    &format!(
                        "{} = {} but {} communes are flagged \"{}\" on sheet \"{sheet}\": {}",
                        flag.line,
                        format_number(written),
                        flagged.len(),
                        flag.key,
                        flagged.join(", ")
                    ),
                )
                .value(format_number(written))
                .expected(format!("{} = {} ({})", flag.line, flagged.len(), flagged.join(", "))),
            );
        }
        self.findings.extend(found);
    }

    fn stored(&self, months_back: i64, code: &str) -> Option<super::HistoryValue> {
        self.history
            .get(&self.period.add_months(-months_back))
            .and_then(|m| m.get(code))
    }

    /// Rule 18: year to date = last month's stored year to date + this
    /// month (= this month in January). Says nothing when last month is not
    /// stored.
    pub(super) fn ytd_consistency(&mut self, rule: &Rule) {
        let first_month = self.period.month_number() == Some(1);
        let last_month = self.history.get(&self.period.add_months(-1)).copied();
        let codes = self.form.line_codes();
        let mut found = Vec::new();
        for (position, line) in self.form.lines.iter().enumerate() {
            if !line.ytd {
                continue;
            }
            let (Some(this), Some(ytd)) = (self.value_at(position, Col::This), self.value_at(position, Col::Ytd))
            else {
                continue;
            };
            let tolerance = self.tolerance_of([line]);
            // The words are written only for a line that fails.
            let previous = if first_month {
                None
            } else {
                let stored = last_month.and_then(|m| m.line(codes, position, &line.code));
                let Some(previous) = stored.and_then(|h| h.ytd) else {
                    continue;
                };
                Some(previous)
            };
            let expected = previous.map_or(this, |previous| previous + this);
            let expected_thousandths = previous.map_or(0, thousandths) + thousandths(this);
            if (thousandths(ytd) - expected_thousandths).abs() <= tolerance {
                continue;
            }
            let (how_vi, how_en) = match previous {
                None => (
                    "tháng 1: Lũy kế bằng Kỳ này".to_string(),
                    "January: year to date = this month".to_string(),
                ),
                Some(previous) => {
                    let prev_month = self.period.add_months(-1);
                    (
                        format!(
                            "Lũy kế tháng {} đã báo cáo ({}) + Kỳ này ({}) = {}",
                            prev_month.month_number().unwrap_or(0),
                            vi_number(previous),
                            vi_number(this),
                            vi_number(previous + this)
                        ),
                        format!(
                            "stored year to date of {prev_month} ({}) + this month ({}) = {}",
                            format_number(previous),
                            format_number(this),
                            format_number(previous + this)
                        ),
                    )
                }
            };
            found.push(
                self.at_line(
                    rule.id,
                    rule.severity,
                    &line.code,
                    Col::Ytd,
                    &format!("Lũy kế ghi {} nhưng {how_vi}. Đề nghị kiểm tra lại.", vi_number(ytd)),
                    &format!("year to date {} but {how_en}", format_number(ytd)),
                )
                .value(format_number(ytd))
                .expected(format_number(expected)),
            );
        }
        self.findings.extend(found);
    }

    /// Rule 19: to-date counts do not fall below last month's stored value
    /// within a year (January starts afresh).
    pub(super) fn non_decreasing_in_year(&mut self, rule: &Rule, lines: &[String]) {
        if self.period.month_number() == Some(1) {
            return;
        }
        let mut found = Vec::new();
        for code in lines {
            let Some(this) = self.value(code, Col::This) else {
                continue;
            };
            let Some(previous) = self.stored(1, code).and_then(|h| h.value) else {
                continue;
            };
            if thousandths(this) >= thousandths(previous) - self.tolerance(&[code.as_str()]) {
                continue;
            }
            found.push(
                self.at_line(
                    rule.id,
                    rule.severity,
                    code,
                    Col::This,
                    &format!(
                        "giảm từ {} (tháng trước) xuống {}; đây là số cộng dồn trong năm nên không giảm trước khi sang năm mới. Đề nghị kiểm tra lại.",
                        vi_number(previous),
                        vi_number(this)
                    ),
                    &format!("fell from {} last month to {}", format_number(previous), format_number(this)),
                )
                .value(format_number(this))
                .expected(format!("≥ {}", format_number(previous))),
            );
        }
        self.findings.extend(found);
    }

    /// Rule 20: a value far from the unit's own history, as the form says:
    /// more than `robust_sd` robust standard deviations (1.4826 × MAD) from
    /// the median of the unit's last `window_months` stored months, with at
    /// least `min_history` of them present; or more than `jump_factor` times
    /// the largest of them. A change smaller than the form file's
    /// `min_change` is not reported, and with `sparse_by_jump_only` a
    /// history that is mostly 0 is judged by the jump test alone (the
    /// reasons are written in the form file). One finding per line at most.
    pub(super) fn outlier(&mut self, rule: &Rule, params: &OutlierRule) {
        let mut found = Vec::new();
        // The stored months of the window, looked up once for every line.
        let window: Vec<&super::MonthValues> = (1..=i64::from(params.window_months))
            .filter_map(|n| self.history.get(&self.period.add_months(-n)).copied())
            .collect();
        let codes = self.form.line_codes();
        // One buffer for every line's past values and their deviations.
        let mut past: Vec<f64> = Vec::with_capacity(window.len());
        let mut deviations: Vec<f64> = Vec::with_capacity(window.len());
        for (position, line) in self.form.lines.iter().enumerate() {
            let Some(x) = self.value_at(position, Col::This) else {
                continue;
            };
            past.clear();
            past.extend(
                window
                    .iter()
                    .filter_map(|month| month.line(codes, position, &line.code).and_then(|h| h.value)),
            );
            if past.is_empty() {
                continue;
            }
            let largest = past.iter().copied().fold(f64::MIN, f64::max);
            let n = past.len();
            let mut message = None;
            if n >= params.min_history as usize {
                let med = median(&mut past);
                deviations.clear();
                deviations.extend(past.iter().map(|v| (v - med).abs()));
                let sd = 1.4826 * median(&mut deviations);
                let distance = (x - med).abs();
                let sparse = med == 0.0 && sd == 0.0;
                let judged = !(sparse && params.sparse_by_jump_only);
                if judged && distance > params.robust_sd * sd && distance >= params.min_change {
                    let low = (med - params.robust_sd * sd).max(0.0);
                    let high = med + params.robust_sd * sd;
                    let usual_vi = if sd > 0.0 {
                        format!(
                            "thường trong khoảng {}–{}",
                            vi_number(round3(low)),
                            vi_number(round3(high))
                        )
                    } else {
                        format!("thường là {}", vi_number(med))
                    };
                    message = Some((
                        format!(
                            "giá trị {} khác nhiều so với {n} tháng trước của đơn vị (trung vị {}, {usual_vi}). Đề nghị kiểm tra lại; nếu số liệu đúng, xin ghi rõ lý do ở cột Ghi chú.",
                            vi_number(x),
                            vi_number(med)
                        ),
                        format!(
                            "{} is far from the unit's last {n} months (median {}, robust sd {})",
                            format_number(x),
                            format_number(med),
                            format_number(round3(sd))
                        ),
                        format!("{} ± {}", format_number(med), format_number(round3(params.robust_sd * sd))),
                    ));
                }
            }
            // "10× the largest past value" has no scale when that value is
            // 0: a series of zeros is judged by the robust rule alone (with
            // its six months), not by a jump from nothing.
            let jumped = largest > 0.0 && x > params.jump_factor * largest && x - largest >= params.min_change;
            if message.is_none() && jumped {
                message = Some((
                    format!(
                        "tăng lên {}, gấp hơn {} lần mức cao nhất ({}) của {n} tháng trước. Đề nghị kiểm tra lại; nếu số liệu đúng, xin ghi rõ lý do ở cột Ghi chú.",
                        vi_number(x),
                        vi_number(params.jump_factor),
                        vi_number(largest)
                    ),
                    format!(
                        "{} is more than {}× the largest of the last {n} months ({})",
                        format_number(x),
                        format_number(params.jump_factor),
                        format_number(largest)
                    ),
                    format!("≤ {}", format_number(params.jump_factor * largest)),
                ));
            }
            if let Some((vi, en, expected)) = message {
                found.push(
                    self.at_line(rule.id, rule.severity, &line.code, Col::This, &vi, &en)
                        .value(format_number(x))
                        .expected(expected),
                );
            }
        }
        self.findings.extend(found);
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
