//! Stage `validate`: every rule of the form, applied to what `extract` read,
//! in the order structure → cells → arithmetic → communes → across periods.
//! The rules are data (`form.rules`); what each [`RuleKind`] does is code
//! here, so a form version that drops a rule kind simply skips that check,
//! and one that adds a rule of an existing kind needs no code change.
//!
//! Identity (rule 3: form, version, unit, period) is a precondition: without
//! it the values cannot be attributed, so validation stops there. After it,
//! every finding names its sheet, A1 cell and line, quotes what was read,
//! says what was expected, in Vietnamese for the district and English for
//! the log. The outcome is a [`Checked`]: the clean typed [`Return`] and the
//! findings; whether the return is accepted is `findings::rejects`.

mod numbers;
mod rules;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;

use crate::domain::register::names_match;
use crate::domain::{
    Form, Level, Line, LineCodes, LineKind, Period, Register, ReportingCalendar, RuleKind, Severity, TerritoryMapping,
    Unit,
};
use crate::findings::Finding;
use crate::pipeline::extract::{
    Field, RawLine, RawReturn, LABEL_PERIOD, LABEL_UNIT_CODE, LABEL_UNIT_NAME, LABEL_VERSION,
};
use crate::pipeline::read::{format_number, CellRef};
use crate::store::Status;

pub use numbers::{parse_text_number, read_cell, CellRead, TextProblem};

/// The rule number identity findings carry when a form has no `identity`
/// rule to take it from (identity is checked regardless: without it nothing
/// can be attributed).
const RULE_IDENTITY: u32 = 3;

/// A unit's stored value of one line for one month.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HistoryValue {
    /// This month's value; `None` when blank.
    pub value: Option<f64>,
    /// The year to date stored with it.
    pub ytd: Option<f64>,
}

/// A unit's stored values of one month, by line code.
///
/// Laid out by a form's [`LineCodes`]: the value of each of its lines sits
/// at the line's position, and a rule of the same form reads it by
/// position ([`MonthValues::line`]; rule 20 reads every line of six months
/// for every file, and a hashed lookup of each was a third of checking).
/// A code the layout does not know (a line of another form version) is
/// kept aside and found by name.
#[derive(Debug, Clone, Default)]
pub struct MonthValues {
    layout: Arc<LineCodes>,
    values: Vec<Option<HistoryValue>>,
    others: Vec<(String, HistoryValue)>,
}

impl MonthValues {
    /// An empty month laid out by `layout`.
    pub fn new(layout: &Arc<LineCodes>) -> MonthValues {
        MonthValues {
            layout: Arc::clone(layout),
            values: vec![None; layout.len()],
            others: Vec::new(),
        }
    }

    /// A month laid out by `layout` holding `values` (line code, value).
    pub fn of<'v>(layout: &Arc<LineCodes>, values: impl IntoIterator<Item = (&'v str, HistoryValue)>) -> MonthValues {
        let mut month = MonthValues::new(layout);
        for (code, value) in values {
            month.insert(code, value);
        }
        month
    }

    /// Sets the value of line `code`.
    pub fn insert(&mut self, code: &str, value: HistoryValue) {
        match self.layout.position(code) {
            Some(i) => self.values[i] = Some(value),
            None => match self.others.iter_mut().find(|(c, _)| c == code) {
                Some((_, kept)) => *kept = value,
                None => self.others.push((code.to_string(), value)),
            },
        }
    }

    /// The value of line `code`, when one is stored.
    pub fn get(&self, code: &str) -> Option<HistoryValue> {
        match self.layout.position(code) {
            Some(i) => self.values[i],
            None => self.others.iter().find(|(c, _)| c == code).map(|&(_, v)| v),
        }
    }

    /// The value of the line at `position` in the form whose codes are
    /// `codes` (its code is `code`): read by position when this month is
    /// laid out by the same codes, by name otherwise.
    pub fn line(&self, codes: &Arc<LineCodes>, position: usize, code: &str) -> Option<HistoryValue> {
        if Arc::ptr_eq(&self.layout, codes) {
            self.values.get(position).copied().flatten()
        } else {
            self.get(code)
        }
    }
}

/// The values a unit already has in the store, for the rules across periods
/// (18–20). Implemented by the store; [`NoHistory`] and [`MemoryHistory`]
/// serve tests, `check` without a database, and the first month of use.
pub trait History {
    /// The current stored values of `unit` for month `period`, by line code;
    /// `None` when nothing is stored for that month.
    fn month(&self, unit: &str, period: Period) -> Option<&MonthValues>;
}

/// A history with nothing in it: the rules across periods say nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHistory;

impl History for NoHistory {
    fn month(&self, _unit: &str, _period: Period) -> Option<&MonthValues> {
        None
    }
}

/// A history held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryHistory {
    months: BTreeMap<(String, Period), MonthValues>,
    layout: Arc<LineCodes>,
}

impl MemoryHistory {
    /// An empty history (its months keep their values by code).
    pub fn new() -> MemoryHistory {
        MemoryHistory::default()
    }

    /// An empty history whose months are laid out by the lines of `form`.
    pub fn laid_out_by(form: &Form) -> MemoryHistory {
        MemoryHistory {
            months: BTreeMap::new(),
            layout: Arc::clone(form.line_codes()),
        }
    }

    /// Records one stored value (creating the month when new).
    pub fn insert(&mut self, unit: &str, period: Period, line: &str, value: Option<f64>, ytd: Option<f64>) {
        let layout = &self.layout;
        self.months
            .entry((unit.to_string(), period))
            .or_insert_with(|| MonthValues::new(layout))
            .insert(line, HistoryValue { value, ytd });
    }
}

impl History for MemoryHistory {
    fn month(&self, unit: &str, period: Period) -> Option<&MonthValues> {
        self.months.get(&(unit.to_string(), period))
    }
}

/// What validation needs besides the return.
pub struct Context<'a> {
    /// Every known form version (a return names its own).
    pub forms: &'a [Form],
    pub register: &'a Register,
    /// The workspace's province code: its units one level down (its
    /// successor's after it ends) are the units that may send a return.
    pub province: &'a str,
    /// Which new units took which old communes: a district's return after
    /// the district level ended is told which communes now report for it.
    pub mapping: &'a TerritoryMapping,
    pub calendar: &'a ReportingCalendar,
    /// Today, injected so that "not in the future" is testable.
    pub today: NaiveDate,
    /// File name as received, for the findings.
    pub file: &'a str,
    pub history: &'a dyn History,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("forms", &self.forms.iter().map(Form::label).collect::<Vec<_>>())
            .field("today", &self.today)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// One line of a clean return.
#[derive(Debug, Clone, PartialEq)]
pub struct LineValue {
    /// This period; `None` when blank or unreadable (never zero for blank).
    pub value: Option<f64>,
    /// Year to date, for lines that carry one.
    pub ytd: Option<f64>,
    /// The `Kỳ này` cell.
    pub cell: CellRef,
    /// The `Lũy kế` cell, for lines that carry one.
    pub ytd_cell: Option<CellRef>,
}

/// One commune of a clean return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommuneFlags {
    /// The name as written on the commune sheet.
    pub name: String,
    /// Flag key → yes / no (a mark that could not be read counts as no; it
    /// is an error finding anyway).
    pub flags: BTreeMap<String, bool>,
}

/// A return whose identity is established, with typed values.
#[derive(Debug, Clone, PartialEq)]
pub struct Return {
    pub form_code: String,
    pub version: u32,
    pub unit_code: String,
    /// The unit's name in the register at the period's end.
    pub unit_name: String,
    pub period: Period,
    /// The sheet that carried the return.
    pub sheet: String,
    /// Line code → values, for the form's lines found in the table (the
    /// first row of a duplicated code).
    pub values: BTreeMap<String, LineValue>,
    pub commune_sheet: Option<String>,
    /// Commune code → flags (the first row of a duplicated code).
    pub communes: BTreeMap<String, CommuneFlags>,
}

/// Who and what a file says it is — unit, period, form — as typed values.
/// Read from the identification cells, so known even when the register
/// refuses them (the feedback still goes to the unit's folder, the store
/// keeps the rejected submission under what it claimed); once validation
/// establishes the identity, the register's and the form's spelling.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claimed {
    pub unit_code: Option<String>,
    pub unit_name: Option<String>,
    pub period: Option<Period>,
    /// The form code as the form definition spells it, or as read when it
    /// names no known form.
    pub form_code: Option<String>,
    pub version: Option<u32>,
}

impl Claimed {
    /// What the identification cells of `raw` say.
    pub fn read_from(raw: &RawReturn) -> Claimed {
        Claimed {
            unit_code: raw.unit_code.as_ref().and_then(|f| f.value.clone()),
            unit_name: raw.unit_name.as_ref().and_then(|f| f.value.clone()),
            period: raw.period.as_ref().and_then(|f| f.value),
            form_code: Some(
                raw.form_code
                    .value
                    .clone()
                    .unwrap_or_else(|| raw.form_code.read.clone()),
            ),
            version: raw.version.as_ref().and_then(|f| f.value),
        }
    }

    /// The identity validation established for `ret`.
    pub fn established(ret: &Return) -> Claimed {
        Claimed {
            unit_code: Some(ret.unit_code.clone()),
            unit_name: Some(ret.unit_name.clone()),
            period: Some(ret.period),
            form_code: Some(ret.form_code.clone()),
            version: Some(ret.version),
        }
    }
}

/// A checked file: the stage `ingest`, `check` and the daemon all reach
/// through `pipeline::check::check_one`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// Unit, period and form, as claimed or (with a return) established.
    pub claimed: Claimed,
    /// The typed return, whenever its identity could be established — also
    /// when other findings reject it (the store keeps rejected returns too).
    pub return_: Option<Return>,
    /// Every finding, from reading the file to the rules across periods.
    pub findings: Vec<Finding>,
}

impl Checked {
    /// A file whose return could not be found: only its findings.
    pub fn without_return(findings: Vec<Finding>) -> Checked {
        Checked {
            claimed: Claimed::default(),
            return_: None,
            findings,
        }
    }

    /// Accepted, accepted with warnings, or rejected, by the findings.
    pub fn status(&self) -> Status {
        Status::of(&self.findings)
    }
}

/// The months whose stored values the rules across periods of `form` read
/// for a return of `period`: the previous month and the outlier window.
pub fn history_months(form: &Form, period: Period) -> Vec<Period> {
    let mut back = 1;
    for rule in &form.rules {
        if let RuleKind::Outlier(outlier) = &rule.kind {
            back = back.max(i64::from(outlier.window_months));
        }
    }
    (1..=back).map(|n| period.add_months(-n)).collect()
}

/// Checks a return against every rule of its form.
pub fn validate(raw: &RawReturn, ctx: &Context<'_>) -> Checked {
    let mut findings = Vec::new();
    let Some(identity) = check_identity(raw, ctx, &mut findings) else {
        return Checked {
            claimed: Claimed::read_from(raw),
            return_: None,
            findings,
        };
    };
    let mut checker = Checker::new(raw, ctx, identity);
    checker.findings = findings;
    checker.run();
    let return_ = checker.clean_return();
    let claimed = return_
        .as_ref()
        .map_or_else(|| Claimed::read_from(raw), Claimed::established);
    Checked {
        claimed,
        return_,
        findings: checker.findings,
    }
}

/// The established identity of a return.
struct Identity<'a> {
    form: &'a Form,
    unit: &'a Unit,
    period: Period,
}

fn dmy(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// Rule 3. Reports every identity problem at once, then says whether the
/// return can be attributed.
fn check_identity<'a>(raw: &RawReturn, ctx: &Context<'a>, findings: &mut Vec<Finding>) -> Option<Identity<'a>> {
    let code = raw
        .form_code
        .value
        .clone()
        .unwrap_or_else(|| raw.form_code.read.clone());
    let same_code: Vec<&Form> = ctx.forms.iter().filter(|f| f.code == code).collect();
    let severity = same_code
        .last()
        .map_or(Severity::Error, |f| f.severity_of("identity", Severity::Error));
    let rule = same_code
        .last()
        .and_then(|f| f.rule("identity"))
        .map_or(RULE_IDENTITY, |r| r.id);
    let file = ctx.file;
    let sheet = raw.sheet.as_str();
    let missing = |label: &str| {
        Finding::new(
            rule,
            severity,
            file,
            format!("Không tìm thấy ô \"{label}\" ở trang \"{sheet}\". Đề nghị giữ nguyên các ô nhận dạng của mẫu biểu (nhãn \"{label}:\" và giá trị ở ô bên phải)."),
            format!("no \"{label}\" label on sheet \"{sheet}\""),
        )
        .at(sheet, None)
        .expected(format!("{label}: …"))
    };

    let form = match &raw.version {
        None => {
            findings.push(missing(LABEL_VERSION));
            None
        }
        Some(field) => match field.value {
            None => {
                findings.push(
                    Finding::new(
                        rule,
                        severity,
                        file,
                        format!("Ô {} (Phiên bản): \"{}\" không phải số phiên bản của biểu. Đề nghị dùng mẫu biểu do phần mềm tạo.", field.cell, field.read),
                        format!("cell {} (form version): \"{}\" is not a version number", field.cell, field.read),
                    )
                    .at(sheet, Some(field.cell.clone()))
                    .value(field.read.clone()),
                );
                None
            }
            Some(version) => match same_code.iter().find(|f| f.version == version) {
                Some(form) => Some(*form),
                None => {
                    let known: Vec<String> = same_code.iter().map(|f| f.version.to_string()).collect();
                    findings.push(
                        Finding::new(
                            rule,
                            severity,
                            file,
                            format!(
                                "Ô {} (Phiên bản): biểu {code} phiên bản {version} không được phần mềm hỗ trợ (các phiên bản hiện dùng: {}). Đề nghị dùng mẫu biểu mới nhất do phần mềm tạo.",
                                field.cell,
                                known.join(", ")
                            ),
                            format!("cell {}: form {code} version {version} is not known (known: {})", field.cell, known.join(", ")),
                        )
                        .at(sheet, Some(field.cell.clone()))
                        .value(field.read.clone())
                        .expected(known.join(" / ")),
                    );
                    None
                }
            },
        },
    };

    let period = match &raw.period {
        None => {
            findings.push(missing(LABEL_PERIOD));
            None
        }
        Some(field) => match field.value {
            None => {
                findings.push(
                    Finding::new(
                        rule,
                        severity,
                        file,
                        format!(
                            "Ô {} (Kỳ báo cáo): không đọc được \"{}\" thành một tháng. Đề nghị ghi theo dạng 2026-11, 11/2026 hoặc Tháng 11 năm 2026.",
                            field.cell, field.read
                        ),
                        format!("cell {} (period): \"{}\" is not a period", field.cell, field.read),
                    )
                    .at(sheet, Some(field.cell.clone()))
                    .value(field.read.clone())
                    .expected("2026-11 / 11/2026 / Tháng 11 năm 2026"),
                );
                None
            }
            Some(p) if !p.is_month() => {
                findings.push(
                    Finding::new(
                        rule,
                        severity,
                        file,
                        format!(
                            "Ô {} (Kỳ báo cáo): \"{}\" là {}, không phải một tháng. Biểu này báo cáo theo tháng.",
                            field.cell,
                            field.read,
                            p.vietnamese()
                        ),
                        format!("cell {} (period): {p} is not a month", field.cell),
                    )
                    .at(sheet, Some(field.cell.clone()))
                    .value(field.read.clone())
                    .expected("một tháng / a month"),
                );
                None
            }
            Some(p) if p.start(ctx.calendar) > ctx.today => {
                findings.push(
                    Finding::new(
                        rule,
                        severity,
                        file,
                        format!(
                            "Ô {} (Kỳ báo cáo): kỳ {} chưa bắt đầu (bắt đầu ngày {}, hôm nay là {}). Đề nghị kiểm tra lại kỳ báo cáo.",
                            field.cell,
                            p.vietnamese(),
                            dmy(p.start(ctx.calendar)),
                            dmy(ctx.today)
                        ),
                        format!("cell {} (period): {p} is in the future (starts {}, today {})", field.cell, p.start(ctx.calendar), ctx.today),
                    )
                    .at(sheet, Some(field.cell.clone()))
                    .value(field.read.clone())
                    .expected(format!("≤ {}", ctx.calendar.month_of(ctx.today))),
                );
                None
            }
            Some(p) => Some(p),
        },
    };

    let unit = match &raw.unit_code {
        None => {
            findings.push(missing(LABEL_UNIT_CODE));
            None
        }
        Some(field) => match &field.value {
            None => {
                findings.push(
                    Finding::new(
                        rule,
                        severity,
                        file,
                        format!(
                            "Ô {} (Mã đơn vị): \"{}\" không phải mã đơn vị hành chính (huyện: 3 chữ số, ví dụ 061; xã, phường: 5 chữ số, ví dụ 01840).",
                            field.cell, field.read
                        ),
                        format!(
                            "cell {} (unit code): \"{}\" is not a district code",
                            field.cell, field.read
                        ),
                    )
                    .at(sheet, Some(field.cell.clone()))
                    .value(field.read.clone())
                    .expected("3 hoặc 5 chữ số / 3 or 5 digits"),
                );
                None
            }
            Some(code) => check_unit(code, field, period, ctx, (rule, severity), raw, findings),
        },
    };

    Some(Identity {
        form: form?,
        unit: unit?,
        period: period?,
    })
}

/// The unit the return's unit code names (`extracted`, the code read from
/// `field`), checked against the register for the period's end.
fn check_unit<'a>(
    extracted: &str,
    field: &Field<String>,
    period: Option<Period>,
    ctx: &Context<'a>,
    (rule, severity): (u32, Severity),
    raw: &RawReturn,
    findings: &mut Vec<Finding>,
) -> Option<&'a Unit> {
    let (cell, read) = (field.cell.as_str(), field.read.as_str());
    let register = ctx.register;
    let province = ctx.province;
    let finding = |vi: String, en: String| {
        Finding::new(rule, severity, ctx.file, vi, en)
            .at(&raw.sheet, Some(cell.to_string()))
            .value(read.to_string())
    };
    // The code's width follows the month: a number cell 1840 is commune
    // 01840 in a month when communes report, 61 is district 061 before.
    let end = period.map(|p| p.end(ctx.calendar));
    let level = end.map_or(Level::District, |end| register.reporting_level(province, end));
    // A code written with its leading zeros ("061") keeps its width: it
    // is only padded to the month's level when that names a unit.
    let padded = Register::normalize_code_for(read, level);
    if let Some(unit) = end
        .zip(padded.as_deref())
        .and_then(|(end, code)| register.reporting_unit(province, code, end))
    {
        return Some(unit);
    }
    if let Some(unit) = end.and_then(|end| register.reporting_unit(province, extracted, end)) {
        return Some(unit);
    }
    let code = match padded {
        Some(padded) if register.units().iter().any(|u| u.code == padded) => padded,
        _ => extracted.to_string(),
    };
    let code = code.as_str();
    let mut rows: Vec<&Unit> = register.units().iter().filter(|u| u.code == code).collect();
    rows.sort_by_key(|u| u.valid_from);
    let example = end
        .and_then(|end| register.reporting_units(province, end).first().map(|u| u.code.clone()))
        .unwrap_or_else(|| "061".into());
    if rows.is_empty() {
        findings.push(finding(
            format!(
                "Ô {cell} (Mã đơn vị): mã {code} không có trong danh mục đơn vị hành chính của tỉnh. Đề nghị ghi đúng mã {} (ví dụ {example}).",
                match level {
                    Level::Commune => "xã, phường",
                    _ => "huyện",
                }
            ),
            format!("cell {cell} (unit code): {code} is not in the unit register"),
        ));
        return None;
    }
    let Some((period, end)) = period.zip(end) else {
        // Without a period the code can only be checked for its level.
        if let Some(other) = rows.iter().find(|u| u.level != Level::District) {
            findings.push(finding(
                format!(
                    "Ô {cell} (Mã đơn vị): mã {code} là mã của {}, không phải mã một huyện, thị xã, thành phố.",
                    other.name
                ),
                format!("cell {cell} (unit code): {code} is {}, not a district", other.name),
            ));
        }
        return None;
    };
    let reporting = register.reporting_units(province, end);
    // When the structure changed: the first day of the province in force.
    let structure_from = register.province_in_force(province, end).map(|p| p.valid_from);
    // Rows of this code that were, at their own dates, a reporting unit.
    let reported_at = |u: &Unit| {
        register
            .reporting_unit(province, &u.code, u.valid_from)
            .is_some_and(|r| r == u)
    };

    // A district whose level no longer exists at the period's end: the
    // return must come from the communes now.
    if let Some(gone) = rows
        .iter()
        .rev()
        .find(|u| u.level == Level::District && u.valid_to.is_some_and(|to| to < end) && reported_at(u))
    {
        if level == Level::Commune {
            let to = gone.valid_to.map_or(String::new(), dmy);
            let from = structure_from.map_or(String::new(), dmy);
            let successors: Vec<String> = ctx
                .mapping
                .new_units_of_district(code)
                .into_iter()
                .filter_map(|c| register.reporting_unit(province, c, end))
                .map(|u| format!("{} ({})", u.name, u.code))
                .collect();
            let successors_vi = if successors.is_empty() {
                String::new()
            } else {
                format!(
                    " Địa bàn {} nay thuộc {} xã, phường: {}.",
                    gone.name,
                    successors.len(),
                    successors.join(", ")
                )
            };
            findings.push(
                finding(
                    format!(
                        "Ô {cell} (Mã đơn vị): {} (mã {code}) không còn tồn tại vào cuối kỳ báo cáo ({}): đơn vị hành chính cấp huyện đã kết thúc ngày {to}. Từ ngày {from}, mỗi xã, phường báo cáo trực tiếp cho tỉnh; {} không lập báo cáo cho {}. Đề nghị từng xã, phường lập báo cáo riêng theo mẫu biểu cấp xã (mã đơn vị 5 chữ số, ví dụ {example}).{successors_vi}",
                        gone.name,
                        dmy(end),
                        gone.name,
                        period.vietnamese().to_lowercase()
                    ),
                    format!(
                        "cell {cell} (unit code): district {code} ({}) no longer exists on {end} (ended {}); from {} the communes report: one return per commune",
                        gone.name,
                        gone.valid_to.map_or(String::new(), |d| d.to_string()),
                        structure_from.map_or(String::new(), |d| d.to_string())
                    ),
                )
                .expected(format!("một xã, phường (5 chữ số) / a commune valid on {end}")),
            );
            return None;
        }
    }
    // A unit that reports only from a later date (a commune of the new
    // province before the change).
    if let Some(later) = rows.iter().find(|u| u.valid_from > end && reported_at(u)) {
        let parent = register
            .at(Level::Province, &later.parent_code, later.valid_from)
            .map_or(later.parent_code.clone(), |p| p.name.clone());
        findings.push(
            finding(
                format!(
                    "Ô {cell} (Mã đơn vị): {} (mã {code}, thuộc {parent}) chỉ là đơn vị báo cáo từ ngày {}. Vào cuối kỳ báo cáo ({}), các đơn vị báo cáo là các {} ({} đơn vị), nên {} không lập báo cáo cho {}: số liệu kỳ này của địa bàn do các {} báo cáo. Đề nghị kiểm tra lại kỳ báo cáo.",
                    later.name,
                    dmy(later.valid_from),
                    dmy(end),
                    level.vietnamese(),
                    reporting.len(),
                    later.name,
                    period.vietnamese().to_lowercase(),
                    level.vietnamese()
                ),
                format!(
                    "cell {cell} (unit code): {code} ({}) reports only from {}; on {end} the reporting units are {} {}s",
                    later.name,
                    later.valid_from,
                    reporting.len(),
                    level.as_str()
                ),
            )
            .expected(format!("một {} / a {} valid on {end}", level.vietnamese(), level.as_str())),
        );
        return None;
    }
    let same_level: Vec<&&Unit> = rows.iter().filter(|u| u.level == level).collect();
    if same_level.iter().all(|u| !u.valid_on(end)) && !same_level.is_empty() {
        let validity: Vec<String> = same_level
            .iter()
            .map(|u| {
                let to = u.valid_to.map_or("nay".to_string(), dmy);
                format!("{} từ {} đến {}", u.name, dmy(u.valid_from), to)
            })
            .collect();
        let validity_en: Vec<String> = same_level
            .iter()
            .map(|u| format!("{} {}", u.name, u.validity()))
            .collect();
        findings.push(
            finding(
                format!(
                    "Ô {cell} (Mã đơn vị): mã {code} không còn hiệu lực vào cuối kỳ báo cáo ({}); mã này có hiệu lực: {}.",
                    dmy(end),
                    validity.join("; ")
                ),
                format!("cell {cell} (unit code): {code} is not valid on {end}; valid: {}", validity_en.join("; ")),
            )
            .expected(format!("valid on {end}")),
        );
        return None;
    }
    let other = rows
        .iter()
        .rev()
        .find(|u| u.valid_on(end))
        .or_else(|| rows.last())
        .map_or(String::new(), |u| u.name.clone());
    findings.push(
        finding(
            format!(
                "Ô {cell} (Mã đơn vị): mã {code} là mã của {other}, không phải mã một {} báo cáo vào kỳ này (ngày {}). Đề nghị ghi đúng mã đơn vị báo cáo (ví dụ {example}).",
                level.vietnamese(),
                dmy(end)
            ),
            format!("cell {cell} (unit code): {code} is {other}, not a reporting {} on {end}", level.as_str()),
        )
        .expected(format!("a reporting {} on {end}", level.as_str())),
    );
    None
}

/// Which value of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    /// `Kỳ này`.
    This,
    /// `Lũy kế từ đầu năm`.
    Ytd,
}

/// A line of the form found in the table, with its cells read.
struct LineCells<'a> {
    line: &'a Line,
    raw: &'a RawLine,
    this: CellRead,
    /// Only for lines with a year to date.
    ytd: Option<CellRead>,
}

/// The state of validating one return.
struct Checker<'a> {
    raw: &'a RawReturn,
    ctx: &'a Context<'a>,
    form: &'a Form,
    unit: &'a Unit,
    period: Period,
    end: NaiveDate,
    /// The form's lines found in the table, at their positions in the
    /// form (every rule looks its lines up here, through the form's
    /// [`LineCodes`]); `None` for a line the table lacks.
    cells: Vec<Option<LineCells<'a>>>,
    /// The unit's stored months the rules across periods read.
    history: BTreeMap<Period, &'a MonthValues>,
    findings: Vec<Finding>,
}

/// A label without the indentation dashes of sub-lines, for messages.
fn clean_label(label: &str) -> &str {
    label.trim_start_matches(['–', '-', ' '])
}

/// A number as Vietnamese write it: decimal comma, no grouping.
fn vi_number(x: f64) -> String {
    format_number(x).replace('.', ",")
}

impl<'a> Checker<'a> {
    fn new(raw: &'a RawReturn, ctx: &'a Context<'a>, identity: Identity<'a>) -> Checker<'a> {
        let form = identity.form;
        let mut cells: Vec<Option<LineCells<'a>>> = Vec::new();
        cells.resize_with(form.lines.len(), || None);
        for raw_line in &raw.lines {
            let Some(position) = form.line_index(&raw_line.code) else {
                continue;
            };
            if cells[position].is_some() {
                continue;
            }
            let line = &form.lines[position];
            let this = read_cell(&raw_line.this_period.content, line.kind);
            let ytd = if line.ytd {
                Some(
                    raw_line
                        .ytd
                        .as_ref()
                        .map_or(CellRead::Blank, |v| read_cell(&v.content, line.kind)),
                )
            } else {
                None
            };
            cells[position] = Some(LineCells {
                line,
                raw: raw_line,
                this,
                ytd,
            });
        }
        let needs_history = form.rules.iter().any(|r| {
            matches!(
                r.kind,
                RuleKind::YtdConsistency | RuleKind::NonDecreasingInYear { .. } | RuleKind::Outlier(_)
            )
        });
        let history = if needs_history {
            history_months(form, identity.period)
                .into_iter()
                .filter_map(|p| ctx.history.month(&identity.unit.code, p).map(|m| (p, m)))
                .collect()
        } else {
            BTreeMap::new()
        };
        Checker {
            raw,
            ctx,
            form,
            unit: identity.unit,
            period: identity.period,
            end: identity.period.end(ctx.calendar),
            cells,
            history,
            findings: Vec::new(),
        }
    }

    fn run(&mut self) {
        let form = self.form;
        for rule in &form.rules {
            match &rule.kind {
                // Rules 1–3 are preconditions checked before; rule 21 is the store's.
                RuleKind::WorkbookOpens | RuleKind::FormSheetFound | RuleKind::Identity | RuleKind::Resubmission => {}
                RuleKind::UnitNameMatches => self.unit_name_matches(rule.id, rule.severity),
                RuleKind::CodesComplete { unknown_severity } => {
                    self.codes_complete(rule.id, rule.severity, *unknown_severity)
                }
                RuleKind::CellNumber { converted_severity } => {
                    self.cell_number(rule.id, rule.severity, *converted_severity)
                }
                RuleKind::ValueDomain => self.value_domain(rule.id, rule.severity),
                RuleKind::FormulaResult => self.formula_result(rule.id, rule.severity),
                RuleKind::RequiredLines { blank_severity } => {
                    self.required_lines(rule.id, rule.severity, *blank_severity)
                }
                RuleKind::PartsSum { parent, parts } => self.parts_sum(rule, parent, parts),
                RuleKind::OfWhich { parent, child } => self.of_which(rule, parent, child),
                RuleKind::NotGreater { left, right } => self.not_greater(rule, left, right),
                RuleKind::BothOrNeitherPositive { first, second } => self.both_or_neither_positive(rule, first, second),
                RuleKind::PositiveImpliesNotGreater { when, left, right } => {
                    self.positive_implies_not_greater(rule, when, left, right)
                }
                RuleKind::ZeroImpliesZero { when, then } => self.zero_implies_zero(rule, when, then),
                RuleKind::EqualsRegisterCount { line } => self.equals_register_count(rule, line),
                RuleKind::CommuneList => self.commune_list(rule),
                RuleKind::ExclusiveFlags { flags } => self.exclusive_flags(rule, flags),
                RuleKind::CommuneFlagCounts => self.commune_flag_counts(rule),
                RuleKind::YtdConsistency => self.ytd_consistency(rule),
                RuleKind::NonDecreasingInYear { lines } => self.non_decreasing_in_year(rule, lines),
                RuleKind::Outlier(outlier) => self.outlier(rule, outlier),
            }
        }
    }

    // ---- helpers ---------------------------------------------------------

    /// The cells of the form's line `code`, when the table has it.
    fn line_cells(&self, code: &str) -> Option<&LineCells<'a>> {
        self.cells.get(self.form.line_index(code)?)?.as_ref()
    }

    fn read(&self, code: &str, col: Col) -> Option<&CellRead> {
        let cells = self.line_cells(code)?;
        match col {
            Col::This => Some(&cells.this),
            Col::Ytd => cells.ytd.as_ref(),
        }
    }

    /// The number in a line's cell, when it holds one.
    fn value(&self, code: &str, col: Col) -> Option<f64> {
        self.read(code, col).and_then(CellRead::number)
    }

    /// The number in the cell of the form's line at `position`, when it
    /// holds one (the rules that go through every line read them so).
    fn value_at(&self, position: usize, col: Col) -> Option<f64> {
        let cells = self.cells.get(position)?.as_ref()?;
        match col {
            Col::This => cells.this.number(),
            Col::Ytd => cells.ytd.as_ref().and_then(CellRead::number),
        }
    }

    fn cell(&self, code: &str, col: Col) -> Option<String> {
        let cells = self.line_cells(code)?;
        match col {
            Col::This => Some(cells.raw.this_period.cell.to_string()),
            Col::Ytd => cells.raw.ytd.as_ref().map(|v| v.cell.to_string()),
        }
    }

    /// Tolerance of a comparison in thousandths of the lines' unit (see
    /// [`rules::thousandths`]): money within the form's tolerance, counts exact.
    fn tolerance(&self, codes: &[&str]) -> i64 {
        self.tolerance_of(codes.iter().filter_map(|c| self.form.line(c)))
    }

    /// [`Checker::tolerance`] of lines already at hand.
    fn tolerance_of<'l>(&self, lines: impl IntoIterator<Item = &'l Line>) -> i64 {
        if lines.into_iter().any(|l| l.kind == LineKind::Money) {
            rules::thousandths(self.form.money_tolerance)
        } else {
            0
        }
    }

    /// A finding on a line's cell, its messages prefixed with the cell and
    /// the line ("Ô E22 (A01 – Số người bán dâm có hồ sơ quản lý): …").
    fn at_line(&self, rule: u32, severity: Severity, code: &str, col: Col, vi: &str, en: &str) -> Finding {
        let label = self.form.line(code).map_or("", |l| clean_label(&l.label));
        let cell = self.cell(code, col);
        let (col_vi, col_en) = match col {
            Col::This => ("", ""),
            Col::Ytd => (", cột Lũy kế từ đầu năm", ", year to date"),
        };
        let (place_vi, place_en) = match &cell {
            Some(c) => (
                format!("Ô {c} ({code} – {label}{col_vi})"),
                format!("Cell {c} ({code}{col_en})"),
            ),
            None => (
                format!("Chỉ tiêu {code} – {label}{col_vi}"),
                format!("Line {code}{col_en}"),
            ),
        };
        Finding::new(
            rule,
            severity,
            self.ctx.file,
            format!("{place_vi}: {vi}"),
            format!("{place_en}: {en}"),
        )
        .at(&self.raw.sheet, cell)
        .line(code, label)
    }

    // ---- structure -------------------------------------------------------

    /// Rule 4: the name written agrees with the register's name for the code.
    fn unit_name_matches(&mut self, rule: u32, severity: Severity) {
        let registered = &self.unit.name;
        let finding = match &self.raw.unit_name {
            None => Finding::new(
                rule,
                severity,
                self.ctx.file,
                format!("Không tìm thấy ô \"{LABEL_UNIT_NAME}\" ở trang \"{}\"; phần mềm nhận đơn vị theo mã {} ({registered}).", self.raw.sheet, self.unit.code),
                format!("no \"{LABEL_UNIT_NAME}\" label; the unit is taken from code {} ({registered})", self.unit.code),
            )
            .at(&self.raw.sheet, None)
            .expected(registered.clone()),
            Some(field) if field.value.as_deref().is_some_and(|name| names_match(name, registered)) => return,
            Some(field) => Finding::new(
                rule,
                severity,
                self.ctx.file,
                format!(
                    "Ô {} (Tên đơn vị): ghi \"{}\" nhưng mã đơn vị {} là {registered} theo danh mục. Phần mềm nhận theo mã; đề nghị kiểm tra lại mã và tên đơn vị.",
                    field.cell, field.read, self.unit.code
                ),
                format!(
                    "cell {} (unit name): \"{}\" does not match code {} ({registered})",
                    field.cell, field.read, self.unit.code
                ),
            )
            .at(&self.raw.sheet, Some(field.cell.clone()))
            .value(field.read.clone())
            .expected(registered.clone()),
        };
        self.findings.push(finding);
    }

    /// Rule 5: every code of the form exactly once; unknown codes reported.
    fn codes_complete(&mut self, rule: u32, severity: Severity, unknown_severity: Severity) {
        if self.raw.table.is_none() {
            // Rule 2 has said the table is missing; listing every code would bury it.
            return;
        }
        // Whether each line of the form was met, by its position.
        let mut seen = vec![false; self.form.lines.len()];
        let mut found = Vec::new();
        for raw_line in &self.raw.lines {
            match self.form.line_index(&raw_line.code) {
                Some(position) => {
                    let line = &self.form.lines[position];
                    if std::mem::replace(&mut seen[position], true) {
                        let first = self.cells[position]
                            .as_ref()
                            .map(|c| c.raw.code_cell.to_string())
                            .unwrap_or_default();
                        found.push(
                            Finding::new(
                                rule,
                                severity,
                                self.ctx.file,
                                format!(
                                    "Ô {} ({} – {}): mã số {} xuất hiện lần thứ hai (lần đầu ở ô {first}). Mỗi mã số chỉ được có một dòng; đề nghị xóa dòng thừa.",
                                    raw_line.code_cell,
                                    line.code,
                                    clean_label(&line.label),
                                    line.code
                                ),
                                format!("cell {}: code {} appears again (first at {first})", raw_line.code_cell, line.code),
                            )
                            .at(&self.raw.sheet, Some(raw_line.code_cell.to_string()))
                            .line(&line.code, clean_label(&line.label))
                            .value(raw_line.code.clone())
                            .expected("một lần / once"),
                        );
                    }
                }
                None => found.push(
                    Finding::new(
                        rule,
                        unknown_severity,
                        self.ctx.file,
                        format!(
                            "Ô {}: mã số \"{}\" không có trong biểu {}; số liệu của dòng này không được tính.",
                            raw_line.code_cell,
                            raw_line.code,
                            self.form.label()
                        ),
                        format!(
                            "cell {}: code {} is not a line of {}",
                            raw_line.code_cell,
                            raw_line.code,
                            self.form.label()
                        ),
                    )
                    .at(&self.raw.sheet, Some(raw_line.code_cell.to_string()))
                    .value(raw_line.code.clone()),
                ),
            }
        }
        for (line, seen) in self.form.lines.iter().zip(seen) {
            if !seen {
                found.push(
                    Finding::new(
                        rule,
                        severity,
                        self.ctx.file,
                        format!(
                            "Thiếu dòng chỉ tiêu {} – {} trong bảng ở trang \"{}\". Đề nghị không xóa dòng và không sửa mã số của mẫu biểu.",
                            line.code,
                            clean_label(&line.label),
                            self.raw.sheet
                        ),
                        format!("line {} is missing from the table", line.code),
                    )
                    .at(&self.raw.sheet, None)
                    .line(&line.code, clean_label(&line.label))
                    .expected(line.code.clone()),
                );
            }
        }
        self.findings.extend(found);
    }

    // ---- cells -----------------------------------------------------------

    /// Every cell read, in form order: its line, what it holds and its
    /// column (taken by position, not looked up by code: rules 6–9 go
    /// through every cell of every return).
    fn value_cells(&self) -> Vec<(&'a Line, &CellRead, Col)> {
        let form: &'a Form = self.form;
        let mut out = Vec::with_capacity(form.lines.len() * 2);
        for (line, cells) in form.lines.iter().zip(&self.cells) {
            let Some(cells) = cells else { continue };
            out.push((line, &cells.this, Col::This));
            if let Some(ytd) = &cells.ytd {
                out.push((line, ytd, Col::Ytd));
            }
        }
        out
    }

    /// Rule 6: numbers or blank; readable text converted with a warning.
    fn cell_number(&mut self, rule: u32, severity: Severity, converted_severity: Severity) {
        let mut found = Vec::new();
        for (line, read, col) in self.value_cells() {
            let code = line.code.as_str();
            let finding = match read {
                CellRead::Converted { read, value } => self
                    .at_line(
                        rule,
                        converted_severity,
                        code,
                        col,
                        &format!(
                            "ô chứa chữ \"{read}\", phần mềm đã hiểu là số {}. Đề nghị nhập số (không nhập chữ, dấu phân cách hay đơn vị tính) để tránh hiểu sai.",
                            vi_number(*value)
                        ),
                        &format!("text \"{read}\" read as the number {}", format_number(*value)),
                    )
                    .value(read.clone())
                    .expected(format_number(*value)),
                CellRead::Unreadable { read, why_vi, why_en } => self
                    .at_line(
                        rule,
                        severity,
                        code,
                        col,
                        &format!("giá trị \"{read}\" {why_vi}. Đề nghị nhập một số (0 nếu không có, để trống nếu chưa có số liệu)."),
                        &format!("\"{read}\" {why_en}"),
                    )
                    .value(read.clone())
                    .expected("số / a number"),
                CellRead::ExcelError(error) => self
                    .at_line(
                        rule,
                        severity,
                        code,
                        col,
                        &format!("ô báo lỗi Excel {error} (công thức hỏng hoặc tham chiếu sai). Đề nghị sửa công thức hoặc nhập số trực tiếp."),
                        &format!("the cell holds the Excel error {error}"),
                    )
                    .value(error.clone())
                    .expected("số / a number"),
                _ => continue,
            };
            found.push(finding);
        }
        self.findings.extend(found);
    }

    /// Rule 7: counts whole and ≥ 0, money ≥ 0. Money with more than three
    /// decimals (finer than one thousand VND) is a warning, not an error:
    /// the value is kept as typed, since rounding it would change the data.
    fn value_domain(&mut self, rule: u32, severity: Severity) {
        let mut found = Vec::new();
        for (line, read, col) in self.value_cells() {
            let Some(x) = read.number() else { continue };
            let (code, kind) = (line.code.as_str(), line.kind);
            let problem = if x < 0.0 {
                Some((
                    severity,
                    format!("số âm ({}) không hợp lệ; số liệu phải từ 0 trở lên.", vi_number(x)),
                    format!("negative value {}", format_number(x)),
                    "≥ 0",
                ))
            } else if kind == LineKind::Int && (x - x.round()).abs() > 1e-9 {
                Some((
                    severity,
                    format!(
                        "{} không phải số nguyên; chỉ tiêu này đếm số lượng nên phải là số nguyên.",
                        vi_number(x)
                    ),
                    format!("{} is not a whole number", format_number(x)),
                    "số nguyên ≥ 0 / a whole number ≥ 0",
                ))
            } else if kind == LineKind::Money && ((x * 1000.0) - (x * 1000.0).round()).abs() > 1e-6 {
                Some((
                    Severity::Warning,
                    format!(
                        "{} có quá 3 chữ số thập phân (số tiền tính bằng triệu đồng, làm tròn đến nghìn đồng).",
                        vi_number(x)
                    ),
                    format!("{} has more than 3 decimals (million VND)", format_number(x)),
                    "≤ 3 chữ số thập phân / ≤ 3 decimals",
                ))
            } else {
                None
            };
            if let Some((sev, vi, en, expected)) = problem {
                found.push(
                    self.at_line(rule, sev, code, col, &vi, &en)
                        .value(format_number(x))
                        .expected(expected),
                );
            }
        }
        self.findings.extend(found);
    }

    /// Rule 8: a formula without a stored result means the file was never
    /// recalculated; never read as zero.
    fn formula_result(&mut self, rule: u32, severity: Severity) {
        let mut found = Vec::new();
        for (line, read, col) in self.value_cells() {
            let code = line.code.as_str();
            if let CellRead::FormulaWithoutResult(formula) = read {
                found.push(
                    self.at_line(
                        rule,
                        severity,
                        code,
                        col,
                        &format!(
                            "ô có công thức ={formula} nhưng không có kết quả đã tính: file chưa được tính lại công thức trước khi lưu (thường do tệp tạo bằng phần mềm khác hoặc tắt tự động tính). Đề nghị mở tệp bằng Excel, nhấn F9 (hoặc Ctrl+Alt+F9), lưu lại rồi gửi."
                        ),
                        &format!("formula ={formula} has no stored result: the file was never recalculated"),
                    )
                    .value(format!("={formula}"))
                    .expected("kết quả đã tính / a computed result"),
                );
            }
        }
        self.findings.extend(found);
    }

    /// Rule 9: required lines filled; other blanks are warnings. A value
    /// typed in a stock's `Lũy kế` cell is not read at all.
    fn required_lines(&mut self, rule: u32, severity: Severity, blank_severity: Severity) {
        let mut found = Vec::new();
        for (line, read, col) in self.value_cells() {
            if !matches!(read, CellRead::Blank) {
                continue;
            }
            let (code, required) = (line.code.as_str(), line.required);
            let finding = if required {
                self.at_line(
                    rule,
                    severity,
                    code,
                    col,
                    "ô để trống nhưng đây là chỉ tiêu bắt buộc. Đề nghị nhập số liệu (nhập 0 nếu không có).",
                    "blank, but the line is required",
                )
            } else {
                self.at_line(
                    rule,
                    blank_severity,
                    code,
                    col,
                    "ô để trống, được hiểu là chưa có số liệu (khác với 0). Nếu không phát sinh, đề nghị nhập 0.",
                    "blank: not reported (not zero)",
                )
            };
            found.push(finding.value("").expected("số / a number"));
        }
        self.findings.extend(found);
    }

    /// The clean return: typed values and commune flags.
    fn clean_return(&self) -> Option<Return> {
        let mut values = BTreeMap::new();
        for cells in self.cells.iter().flatten() {
            let code = cells.line.code.as_str();
            let ytd_cell = if cells.line.ytd {
                cells.raw.ytd.as_ref().map(|v| v.cell)
            } else {
                None
            };
            values.insert(
                (*code).to_string(),
                LineValue {
                    value: cells.this.number(),
                    ytd: cells.ytd.as_ref().and_then(CellRead::number),
                    cell: cells.raw.this_period.cell,
                    ytd_cell,
                },
            );
        }
        let mut communes = BTreeMap::new();
        for commune in &self.raw.communes {
            let Some(code) = &commune.code else { continue };
            communes.entry(code.clone()).or_insert_with(|| CommuneFlags {
                name: commune.name.clone(),
                flags: commune
                    .flags
                    .iter()
                    .map(|f| (f.key.clone(), f.value.unwrap_or(false)))
                    .collect(),
            });
        }
        Some(Return {
            form_code: self.form.code.clone(),
            version: self.form.version,
            unit_code: self.unit.code.clone(),
            unit_name: self.unit.name.clone(),
            period: self.period,
            sheet: self.raw.sheet.clone(),
            values,
            commune_sheet: self.raw.commune_sheet.clone(),
            communes,
        })
    }
}

#[cfg(test)]
mod tests;
