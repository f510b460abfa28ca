//! The return form as data: its lines (code, label, unit, kind, aggregation
//! over time) and its rules, loaded from a TOML form definition.
//!
//! Rules are data in a closed vocabulary ([`RuleKind`]); what each kind does
//! is code in `pipeline::validate`. Loading collects every problem of a file
//! at once, so `baocao check-form` can list them all, and a form with any
//! problem is never used.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::error::Error;

/// The form 01/PCMD-H version 1 shipped with baocao.
pub const EMBEDDED_FORM: &str = include_str!("../../templates/forms/01-pcmd-h.v1.toml");

/// Whole counts or money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A whole count ≥ 0.
    Int,
    /// Million VND ≥ 0, up to 3 decimals.
    Money,
}

/// How a line aggregates over time (across units every line sums).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// A flow: months add up.
    Sum,
    /// A stock: a period takes its last month.
    Last,
}

impl Agg {
    pub fn as_str(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Last => "last",
        }
    }
}

/// Whether a finding rejects the return or only flags it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Rejects the return: nothing of it enters the totals.
    Error,
    /// Accepts the return and flags it in the feedback and the report.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    /// "Lỗi" / "Cảnh báo".
    pub fn vietnamese(self) -> &'static str {
        match self {
            Severity::Error => "Lỗi",
            Severity::Warning => "Cảnh báo",
        }
    }

    fn parse(text: &str) -> Option<Severity> {
        match text {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            _ => None,
        }
    }
}

/// A section of the table (A–F).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub id: String,
    pub title: String,
}

/// One indicator line of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The "Mã số": `A01`, `A01.1`, …
    pub code: String,
    pub label: String,
    /// Unit of measure ("người", "triệu đồng").
    pub unit: String,
    pub kind: LineKind,
    pub agg: Agg,
    /// Carries a year-to-date value (flows only).
    pub ytd: bool,
    /// A blank is an error rather than a warning.
    pub required: bool,
    pub section: String,
    /// The line this one breaks down, for indented lines.
    pub parent: Option<String>,
}

/// A column of the commune sheet: one yes/no flag per commune, whose count
/// must equal a line of section D.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommuneFlag {
    pub key: String,
    pub header: String,
    pub line: String,
}

/// Rule 20's parameters: a value is an outlier when it lies more than
/// `robust_sd` robust standard deviations (1.4826 × MAD) from the median of
/// the unit's last `window_months` stored months (at least `min_history` of
/// them present), or exceeds `jump_factor` times the largest of them. A
/// change smaller than `min_change` (in the line's own unit) is never
/// reported: the form file says why it sets one.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierRule {
    pub robust_sd: f64,
    pub window_months: u32,
    pub min_history: u32,
    pub jump_factor: f64,
    pub min_change: f64,
    /// A history whose median and MAD are both 0 (events in a few months
    /// only) is left to the jump test.
    pub sparse_by_jump_only: bool,
}

/// The closed vocabulary of rule kinds. A form file can only name these.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// 1: the file opens as a workbook.
    WorkbookOpens,
    /// 2: a sheet carries the return, found by its form code.
    FormSheetFound,
    /// 3: form, version, unit and period are known and valid.
    Identity,
    /// 4: the unit name agrees with the register.
    UnitNameMatches,
    /// 5: every code once; unknown codes get `unknown_severity`.
    CodesComplete { unknown_severity: Severity },
    /// 6: values are numbers or blank; readable text gets `converted_severity`.
    CellNumber { converted_severity: Severity },
    /// 7: whole and ≥ 0 for counts, ≥ 0 for money.
    ValueDomain,
    /// 8: formula cells carry a stored result.
    FormulaResult,
    /// 9: required lines are filled; other blanks get `blank_severity`.
    RequiredLines { blank_severity: Severity },
    /// 10: `parts` add up to `parent` exactly.
    PartsSum { parent: String, parts: Vec<String> },
    /// 11: an "of which" line is at most its parent.
    OfWhich { parent: String, child: String },
    /// The sum of `left` is at most `right`.
    NotGreater { left: Vec<String>, right: String },
    /// `first` > 0 exactly when `second` > 0.
    BothOrNeitherPositive { first: String, second: String },
    /// When `when` > 0, `left` ≤ `right`.
    PositiveImpliesNotGreater { when: String, left: String, right: String },
    /// When `when` = 0, `then` = 0.
    ZeroImpliesZero { when: String, then: String },
    /// 15: `line` equals the number of register communes of the unit.
    EqualsRegisterCount { line: String },
    /// 16: the commune sheet lists exactly the register's communes.
    CommuneList,
    /// 16: no commune carries two of these flags.
    ExclusiveFlags { flags: Vec<String> },
    /// 17: flag counts equal their lines.
    CommuneFlagCounts,
    /// 18: year to date = last month's year to date + this month.
    YtdConsistency,
    /// 19: to-date stocks do not fall within a year.
    NonDecreasingInYear { lines: Vec<String> },
    /// 20: robust outliers against the unit's history.
    Outlier(OutlierRule),
    /// 21: a resubmission supersedes the earlier return.
    Resubmission,
}

impl RuleKind {
    /// The name used in form files.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::WorkbookOpens => "workbook_opens",
            RuleKind::FormSheetFound => "form_sheet_found",
            RuleKind::Identity => "identity",
            RuleKind::UnitNameMatches => "unit_name_matches",
            RuleKind::CodesComplete { .. } => "codes_complete",
            RuleKind::CellNumber { .. } => "cell_number",
            RuleKind::ValueDomain => "value_domain",
            RuleKind::FormulaResult => "formula_result",
            RuleKind::RequiredLines { .. } => "required_lines",
            RuleKind::PartsSum { .. } => "parts_sum",
            RuleKind::OfWhich { .. } => "of_which",
            RuleKind::NotGreater { .. } => "not_greater",
            RuleKind::BothOrNeitherPositive { .. } => "both_or_neither_positive",
            RuleKind::PositiveImpliesNotGreater { .. } => "positive_implies_not_greater",
            RuleKind::ZeroImpliesZero { .. } => "zero_implies_zero",
            RuleKind::EqualsRegisterCount { .. } => "equals_register_count",
            RuleKind::CommuneList => "commune_list",
            RuleKind::ExclusiveFlags { .. } => "exclusive_flags",
            RuleKind::CommuneFlagCounts => "commune_flag_counts",
            RuleKind::YtdConsistency => "ytd_consistency",
            RuleKind::NonDecreasingInYear { .. } => "non_decreasing_in_year",
            RuleKind::Outlier(_) => "outlier",
            RuleKind::Resubmission => "resubmission",
        }
    }

    /// Every kind name with the keys it takes besides `id`, `kind`, `severity`.
    pub const VOCABULARY: &'static [(&'static str, &'static [&'static str])] = &[
        ("workbook_opens", &[]),
        ("form_sheet_found", &[]),
        ("identity", &[]),
        ("unit_name_matches", &[]),
        ("codes_complete", &["unknown_severity"]),
        ("cell_number", &["converted_severity"]),
        ("value_domain", &[]),
        ("formula_result", &[]),
        ("required_lines", &["blank_severity"]),
        ("parts_sum", &["parent", "parts"]),
        ("of_which", &["parent", "child"]),
        ("not_greater", &["left", "right"]),
        ("both_or_neither_positive", &["first", "second"]),
        ("positive_implies_not_greater", &["when", "left", "right"]),
        ("zero_implies_zero", &["when", "then"]),
        ("equals_register_count", &["line"]),
        ("commune_list", &[]),
        ("exclusive_flags", &["flags"]),
        ("commune_flag_counts", &[]),
        ("ytd_consistency", &[]),
        ("non_decreasing_in_year", &["lines"]),
        (
            "outlier",
            &["robust_sd", "window_months", "min_history", "jump_factor", "min_change"],
        ),
        ("resubmission", &[]),
    ];

    /// The line codes this rule names.
    pub fn lines(&self) -> Vec<&str> {
        match self {
            RuleKind::PartsSum { parent, parts } => std::iter::once(parent.as_str())
                .chain(parts.iter().map(String::as_str))
                .collect(),
            RuleKind::OfWhich { parent, child } => vec![parent, child],
            RuleKind::NotGreater { left, right } => left
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(right.as_str()))
                .collect(),
            RuleKind::BothOrNeitherPositive { first, second } => vec![first, second],
            RuleKind::PositiveImpliesNotGreater { when, left, right } => vec![when, left, right],
            RuleKind::ZeroImpliesZero { when, then } => vec![when, then],
            RuleKind::EqualsRegisterCount { line } => vec![line],
            RuleKind::NonDecreasingInYear { lines } => lines.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// A rule of the form: its number in the form document, severity and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: u32,
    pub severity: Severity,
    pub kind: RuleKind,
}

/// A form definition: one version of one return form.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// "01/PCMD-H".
    pub code: String,
    pub version: u32,
    /// The provincial consolidation's code, "01/PCMD-T".
    pub consolidated_code: String,
    pub title: String,
    pub subtitle: String,
    /// The subtitle on the return of a commune reporting for itself (from
    /// 1/7/2025); empty: `subtitle`.
    pub commune_subtitle: String,
    /// Name of the return sheet in the generated workbook.
    pub sheet: String,
    pub commune_sheet: String,
    pub instructions_sheet: String,
    /// Tolerance for money comparisons (million VND).
    pub money_tolerance: f64,
    pub sections: Vec<Section>,
    pub lines: Vec<Line>,
    pub commune_flags: Vec<CommuneFlag>,
    pub rules: Vec<Rule>,
    /// Line code → position in `lines`, shared with the stored months laid
    /// out by this form (see [`LineCodes`]).
    codes: Arc<LineCodes>,
}

/// A form's line codes with their positions in [`Form::lines`]. Hashed
/// with foldhash: every stage looks lines up by code, for every line of
/// every file. Shared (`Arc`) with the stored months laid out in the same
/// order, so that a rule reading a line of last month finds it by position
/// when the month was laid out by the same form.
///
/// A code of up to 15 bytes (every code of form 01/PCMD has 3 to 6) is
/// looked up as one number, [`PackedCode`]: hashing a string and comparing
/// it byte by byte through `memcmp` made these lookups about 4% of a
/// pass's CPU. Longer codes, which a form file may still use, are kept by
/// their text.
#[derive(Debug, Default, PartialEq)]
pub struct LineCodes {
    packed: HashMap<PackedCode, usize, foldhash::fast::FixedState>,
    long: HashMap<String, usize, foldhash::fast::FixedState>,
}

/// A line code of at most 15 bytes packed into one number: its bytes, then
/// its length in the last byte (so that no two codes pack alike, whatever
/// bytes they hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PackedCode(u128);

impl PackedCode {
    const MAX_LEN: usize = 15;

    fn of(code: &str) -> Option<PackedCode> {
        let bytes = code.as_bytes();
        if bytes.len() > PackedCode::MAX_LEN {
            return None;
        }
        let mut packed = [0u8; 16];
        packed[..bytes.len()].copy_from_slice(bytes);
        packed[PackedCode::MAX_LEN] = bytes.len() as u8;
        Some(PackedCode(u128::from_le_bytes(packed)))
    }
}

impl LineCodes {
    /// The codes in order, each at its position (a code met twice at its
    /// last), and the codes met more than once.
    fn new<'c>(codes: impl IntoIterator<Item = &'c str>) -> (LineCodes, Vec<&'c str>) {
        let mut index = LineCodes::default();
        let mut repeated = Vec::new();
        for (i, code) in codes.into_iter().enumerate() {
            let before = match PackedCode::of(code) {
                Some(key) => index.packed.insert(key, i),
                None => index.long.insert(code.to_string(), i),
            };
            if before.is_some() {
                repeated.push(code);
            }
        }
        (index, repeated)
    }

    /// The position of `code`, when it is one of the codes.
    pub fn position(&self, code: &str) -> Option<usize> {
        match PackedCode::of(code) {
            Some(key) => self.packed.get(&key).copied(),
            None => self.long.get(code).copied(),
        }
    }

    /// How many codes there are.
    pub fn len(&self) -> usize {
        self.packed.len() + self.long.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Form {
    /// The form shipped with baocao (01/PCMD-H v1).
    ///
    /// # Errors
    /// Only if the embedded file were broken (a build defect; a test guards it).
    pub fn embedded() -> Result<Form, Error> {
        Form::from_toml(EMBEDDED_FORM, Path::new("<embedded 01-pcmd-h.v1.toml>"))
    }

    /// Loads a form definition file.
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable; [`Error::Form`] listing every problem.
    pub fn load(path: &Path) -> Result<Form, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Form::from_toml(&text, path)
    }

    /// Parses a form definition; `origin` names it in errors.
    ///
    /// # Errors
    /// [`Error::Form`] listing every problem found.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Form, Error> {
        parse_form(text).map_err(|problems| Error::Form {
            path: origin.to_path_buf(),
            problems,
        })
    }

    /// Every problem of a form file, empty when it loads cleanly.
    pub fn problems(text: &str) -> Vec<String> {
        parse_form(text).err().unwrap_or_default()
    }

    /// The line with this code.
    pub fn line(&self, code: &str) -> Option<&Line> {
        self.codes.position(code).map(|i| &self.lines[i])
    }

    /// Position of a line in [`Form::lines`].
    pub fn line_index(&self, code: &str) -> Option<usize> {
        self.codes.position(code)
    }

    /// The form's line codes and their positions, to lay out values by.
    pub fn line_codes(&self) -> &Arc<LineCodes> {
        &self.codes
    }

    /// The first rule of a kind name, for its severity and parameters.
    pub fn rule(&self, kind_name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.kind.name() == kind_name)
    }

    /// Severity of the first rule of a kind, or `default` when the form has none.
    pub fn severity_of(&self, kind_name: &str, default: Severity) -> Severity {
        self.rule(kind_name).map_or(default, |r| r.severity)
    }

    /// Whether the form has a rule of this kind (a form may drop a check).
    pub fn has_rule(&self, kind_name: &str) -> bool {
        self.rule(kind_name).is_some()
    }

    /// "01/PCMD-H v1".
    pub fn label(&self) -> String {
        format!("{} v{}", self.code, self.version)
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.label())
    }
}

/// Reads the keys of one TOML table, remembering which were used so that the
/// rest can be reported as unknown, and collecting problems instead of
/// stopping at the first.
struct Entry<'a> {
    table: &'a toml::Table,
    place: String,
    used: HashSet<String>,
    problems: &'a mut Vec<String>,
}

impl<'a> Entry<'a> {
    fn new(table: &'a toml::Table, place: String, problems: &'a mut Vec<String>) -> Self {
        Entry {
            table,
            place,
            used: HashSet::new(),
            problems,
        }
    }

    fn get(&mut self, key: &str) -> Option<&'a toml::Value> {
        self.used.insert(key.to_string());
        self.table.get(key)
    }

    fn problem(&mut self, text: String) {
        self.problems.push(format!("{}: {text}", self.place));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(format!("`{key}` should be text, not {}", other.type_str()));
                None
            }
            None => {
                self.problem(format!("`{key}` is missing"));
                None
            }
        }
    }

    fn opt_string(&mut self, key: &str) -> Option<String> {
        if self.table.contains_key(key) {
            self.string(key)
        } else {
            self.used.insert(key.to_string());
            None
        }
    }

    fn boolean(&mut self, key: &str, default: Option<bool>) -> bool {
        match (self.get(key), default) {
            (Some(toml::Value::Boolean(b)), _) => *b,
            (Some(other), d) => {
                self.problem(format!("`{key}` should be true or false, not {}", other.type_str()));
                d.unwrap_or(false)
            }
            (None, Some(d)) => d,
            (None, None) => {
                self.problem(format!("`{key}` is missing"));
                false
            }
        }
    }

    fn number(&mut self, key: &str, default: Option<f64>) -> f64 {
        match (self.get(key), default) {
            (Some(toml::Value::Float(x)), _) => *x,
            (Some(toml::Value::Integer(i)), _) => *i as f64,
            (Some(other), d) => {
                self.problem(format!("`{key}` should be a number, not {}", other.type_str()));
                d.unwrap_or(0.0)
            }
            (None, Some(d)) => d,
            (None, None) => {
                self.problem(format!("`{key}` is missing"));
                0.0
            }
        }
    }

    fn whole(&mut self, key: &str, default: Option<u32>) -> u32 {
        match (self.get(key), default) {
            (Some(toml::Value::Integer(i)), _) if *i >= 0 && *i <= i64::from(u32::MAX) => *i as u32,
            (Some(other), d) => {
                self.problem(format!("`{key}` should be a whole number ≥ 0, not {other}"));
                d.unwrap_or(0)
            }
            (None, Some(d)) => d,
            (None, None) => {
                self.problem(format!("`{key}` is missing"));
                0
            }
        }
    }

    fn strings(&mut self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(toml::Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => out.push(s.clone()),
                        other => self.problem(format!("`{key}` should list text, found {other}")),
                    }
                }
                if out.is_empty() {
                    self.problem(format!("`{key}` is empty"));
                }
                out
            }
            Some(other) => {
                self.problem(format!("`{key}` should be a list, not {}", other.type_str()));
                Vec::new()
            }
            None => {
                self.problem(format!("`{key}` is missing"));
                Vec::new()
            }
        }
    }

    fn severity(&mut self, key: &str, default: Option<Severity>) -> Severity {
        let text = match (self.table.contains_key(key), default) {
            (false, Some(d)) => {
                self.used.insert(key.to_string());
                return d;
            }
            _ => self.string(key),
        };
        match text.as_deref().map(Severity::parse) {
            Some(Some(s)) => s,
            Some(None) => {
                self.problem(format!(
                    "`{key}` = {:?} is not a severity (error or warning)",
                    text.unwrap_or_default()
                ));
                Severity::Error
            }
            None => Severity::Error,
        }
    }

    /// Reports every key that no reader asked for.
    fn finish(self) {
        let mut unknown: Vec<&String> = self.table.keys().filter(|k| !self.used.contains(*k)).collect();
        unknown.sort();
        for key in unknown {
            self.problems.push(format!("{}: unknown key `{key}`", self.place));
        }
    }
}

fn tables<'a>(root: &'a toml::Table, key: &str, problems: &mut Vec<String>) -> Vec<&'a toml::Table> {
    match root.get(key) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                toml::Value::Table(t) => Some(t),
                other => {
                    problems.push(format!(
                        "[[{key}]] #{}: should be a table, not {}",
                        i + 1,
                        other.type_str()
                    ));
                    None
                }
            })
            .collect(),
        Some(other) => {
            problems.push(format!(
                "`{key}` should be an array of tables ([[{key}]]), not {}",
                other.type_str()
            ));
            Vec::new()
        }
    }
}

fn parse_form(text: &str) -> Result<Form, Vec<String>> {
    let root: toml::Table = toml::from_str(text).map_err(|e| vec![format!("not valid TOML: {e}")])?;
    let mut problems = Vec::new();

    for key in root.keys() {
        if !["form", "sections", "lines", "commune_flags", "rules"].contains(&key.as_str()) {
            problems.push(format!("unknown top-level key `{key}`"));
        }
    }

    let empty = toml::Table::new();
    let header = match root.get("form") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            problems.push("`form` should be a table ([form])".into());
            &empty
        }
        None => {
            problems.push("the [form] table is missing".into());
            &empty
        }
    };
    let mut e = Entry::new(header, "[form]".into(), &mut problems);
    let code = e.string("code").unwrap_or_default();
    let version = e.whole("version", None);
    let consolidated_code = e.opt_string("consolidated_code").unwrap_or_default();
    let title = e.string("title").unwrap_or_default();
    let subtitle = e.opt_string("subtitle").unwrap_or_default();
    let commune_subtitle = e.opt_string("commune_subtitle").unwrap_or_default();
    let sheet = e.opt_string("sheet").unwrap_or_else(|| "Bieu01".into());
    let commune_sheet = e.opt_string("commune_sheet").unwrap_or_else(|| "Xa".into());
    let instructions_sheet = e.opt_string("instructions_sheet").unwrap_or_else(|| "HuongDan".into());
    let money_tolerance = e.number("money_tolerance", Some(0.001));
    e.finish();

    let mut sections = Vec::new();
    for (i, t) in tables(&root, "sections", &mut problems).into_iter().enumerate() {
        let mut e = Entry::new(t, format!("[[sections]] #{}", i + 1), &mut problems);
        let id = e.string("id").unwrap_or_default();
        let title = e.string("title").unwrap_or_default();
        e.finish();
        sections.push(Section { id, title });
    }
    let section_ids: HashSet<&str> = sections.iter().map(|s| s.id.as_str()).collect();

    let mut lines = Vec::new();
    for (i, t) in tables(&root, "lines", &mut problems).into_iter().enumerate() {
        let label_code = t.get("code").and_then(toml::Value::as_str).unwrap_or("?");
        let mut e = Entry::new(t, format!("line {} ({label_code})", i + 1), &mut problems);
        let code = e.string("code").unwrap_or_default();
        let label = e.string("label").unwrap_or_default();
        let unit = e.string("unit").unwrap_or_default();
        let kind = match e.string("kind").as_deref() {
            Some("int") => LineKind::Int,
            Some("money") => LineKind::Money,
            Some(other) => {
                e.problem(format!("kind {other:?} is neither int nor money"));
                LineKind::Int
            }
            None => LineKind::Int,
        };
        let agg = match e.string("agg").as_deref() {
            Some("sum") => Agg::Sum,
            Some("last") => Agg::Last,
            Some(other) => {
                e.problem(format!("agg {other:?} is neither sum nor last"));
                Agg::Sum
            }
            None => Agg::Sum,
        };
        let ytd = e.boolean("ytd", Some(agg == Agg::Sum));
        let required = e.boolean("required", Some(false));
        let section = e.string("section").unwrap_or_default();
        let parent = e.opt_string("parent");
        if agg == Agg::Last && ytd {
            e.problem("a `last` line (a stock) cannot have a year-to-date value (ytd = true)".into());
        }
        if !section.is_empty() && !section_ids.contains(section.as_str()) {
            e.problem(format!("section {section:?} is not one of the [[sections]]"));
        }
        e.finish();
        lines.push(Line {
            code,
            label,
            unit,
            kind,
            agg,
            ytd,
            required,
            section,
            parent,
        });
    }
    if lines.is_empty() {
        problems.push("the form has no [[lines]]".into());
    }
    let (index, repeated) = LineCodes::new(lines.iter().map(|line| line.code.as_str()));
    for code in repeated {
        problems.push(format!("line code {code} appears more than once"));
    }
    for line in &lines {
        if let Some(parent) = &line.parent {
            if index.position(parent).is_none() {
                problems.push(format!("line {}: parent {parent} is not a line of the form", line.code));
            }
        }
    }

    let mut commune_flags = Vec::new();
    for (i, t) in tables(&root, "commune_flags", &mut problems).into_iter().enumerate() {
        let mut e = Entry::new(t, format!("[[commune_flags]] #{}", i + 1), &mut problems);
        let key = e.string("key").unwrap_or_default();
        let header = e.string("header").unwrap_or_default();
        let line = e.string("line").unwrap_or_default();
        if !line.is_empty() && index.position(&line).is_none() {
            e.problem(format!("line {line} is not a line of the form"));
        }
        e.finish();
        commune_flags.push(CommuneFlag { key, header, line });
    }
    let flag_keys: BTreeSet<&str> = commune_flags.iter().map(|f| f.key.as_str()).collect();
    if flag_keys.len() != commune_flags.len() {
        problems.push("[[commune_flags]]: a key appears more than once".into());
    }

    let mut rules = Vec::new();
    for (i, t) in tables(&root, "rules", &mut problems).into_iter().enumerate() {
        let kind_name = t.get("kind").and_then(toml::Value::as_str).unwrap_or("").to_string();
        let mut e = Entry::new(t, format!("rule #{} ({kind_name})", i + 1), &mut problems);
        let id = e.whole("id", None);
        let severity = e.severity("severity", None);
        let _ = e.string("kind");
        let kind = match kind_name.as_str() {
            "workbook_opens" => Some(RuleKind::WorkbookOpens),
            "form_sheet_found" => Some(RuleKind::FormSheetFound),
            "identity" => Some(RuleKind::Identity),
            "unit_name_matches" => Some(RuleKind::UnitNameMatches),
            "codes_complete" => Some(RuleKind::CodesComplete {
                unknown_severity: e.severity("unknown_severity", Some(Severity::Warning)),
            }),
            "cell_number" => Some(RuleKind::CellNumber {
                converted_severity: e.severity("converted_severity", Some(Severity::Warning)),
            }),
            "value_domain" => Some(RuleKind::ValueDomain),
            "formula_result" => Some(RuleKind::FormulaResult),
            "required_lines" => Some(RuleKind::RequiredLines {
                blank_severity: e.severity("blank_severity", Some(Severity::Warning)),
            }),
            "parts_sum" => Some(RuleKind::PartsSum {
                parent: e.string("parent").unwrap_or_default(),
                parts: e.strings("parts"),
            }),
            "of_which" => Some(RuleKind::OfWhich {
                parent: e.string("parent").unwrap_or_default(),
                child: e.string("child").unwrap_or_default(),
            }),
            "not_greater" => Some(RuleKind::NotGreater {
                left: e.strings("left"),
                right: e.string("right").unwrap_or_default(),
            }),
            "both_or_neither_positive" => Some(RuleKind::BothOrNeitherPositive {
                first: e.string("first").unwrap_or_default(),
                second: e.string("second").unwrap_or_default(),
            }),
            "positive_implies_not_greater" => Some(RuleKind::PositiveImpliesNotGreater {
                when: e.string("when").unwrap_or_default(),
                left: e.string("left").unwrap_or_default(),
                right: e.string("right").unwrap_or_default(),
            }),
            "zero_implies_zero" => Some(RuleKind::ZeroImpliesZero {
                when: e.string("when").unwrap_or_default(),
                then: e.string("then").unwrap_or_default(),
            }),
            "equals_register_count" => Some(RuleKind::EqualsRegisterCount {
                line: e.string("line").unwrap_or_default(),
            }),
            "commune_list" => Some(RuleKind::CommuneList),
            "exclusive_flags" => Some(RuleKind::ExclusiveFlags {
                flags: e.strings("flags"),
            }),
            "commune_flag_counts" => Some(RuleKind::CommuneFlagCounts),
            "ytd_consistency" => Some(RuleKind::YtdConsistency),
            "non_decreasing_in_year" => Some(RuleKind::NonDecreasingInYear {
                lines: e.strings("lines"),
            }),
            "outlier" => Some(RuleKind::Outlier(OutlierRule {
                robust_sd: e.number("robust_sd", Some(3.0)),
                window_months: e.whole("window_months", Some(12)),
                min_history: e.whole("min_history", Some(6)),
                jump_factor: e.number("jump_factor", Some(10.0)),
                min_change: e.number("min_change", Some(0.0)),
                sparse_by_jump_only: e.boolean("sparse_by_jump_only", Some(false)),
            })),
            "resubmission" => Some(RuleKind::Resubmission),
            "" => None,
            other => {
                let known: Vec<&str> = RuleKind::VOCABULARY.iter().map(|(k, _)| *k).collect();
                e.problem(format!(
                    "unknown rule kind {other:?}; known kinds: {}",
                    known.join(", ")
                ));
                None
            }
        };
        if let Some(kind) = &kind {
            for code in kind.lines() {
                if !code.is_empty() && index.position(code).is_none() {
                    e.problem(format!("names line {code}, which is not a line of the form"));
                }
            }
            if let RuleKind::ExclusiveFlags { flags } = kind {
                for flag in flags {
                    if !flag_keys.contains(flag.as_str()) {
                        e.problem(format!(
                            "names commune flag {flag:?}, which is not in [[commune_flags]]"
                        ));
                    }
                }
            }
            if let RuleKind::PartsSum { parent, parts } = kind {
                if parts.contains(parent) {
                    e.problem(format!("{parent} cannot be one of its own parts"));
                }
            }
            e.finish();
        } else {
            // An unknown kind's keys cannot be judged; report only the kind.
            e.used.extend(t.keys().cloned());
            e.finish();
        }
        if let Some(kind) = kind {
            rules.push(Rule { id, severity, kind });
        }
    }
    if rules.is_empty() {
        problems.push("the form has no [[rules]]".into());
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Form {
        code,
        version,
        consolidated_code,
        title,
        subtitle,
        commune_subtitle,
        sheet,
        commune_sheet,
        instructions_sheet,
        money_tolerance,
        sections,
        lines,
        commune_flags,
        rules,
        codes: Arc::new(index),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_codes_find_each_code_at_its_position_short_or_long() {
        // 15 bytes is the longest packed code; 16 and more are kept as text.
        let fifteen = "ABCDEFGHIJKLMNO";
        let sixteen = "ABCDEFGHIJKLMNOP";
        let codes = [
            "A01",
            "A01.1",
            "A",
            "A\0",
            fifteen,
            sixteen,
            "Đ01",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        ];
        let (index, repeated) = LineCodes::new(codes);
        assert!(repeated.is_empty());
        assert_eq!(index.len(), codes.len());
        for (i, code) in codes.iter().enumerate() {
            assert_eq!(index.position(code), Some(i), "{code:?}");
        }
        // Neither a prefix, nor a code with a byte more or less, nor a
        // code cut at 15 bytes is found.
        for absent in [
            "A0",
            "A01.",
            "A01.12",
            "ABCDEFGHIJKLMN",
            "ABCDEFGHIJKLMNOPQ",
            "",
            "\0",
            "a01",
        ] {
            assert_eq!(index.position(absent), None, "{absent:?}");
        }
        assert_eq!(index.long.len(), 2, "codes over 15 bytes are kept by their text");
    }

    #[test]
    fn line_codes_name_every_code_met_twice() {
        let long = "X".repeat(20);
        let (index, repeated) = LineCodes::new(["A01", "B01", "A01", long.as_str(), long.as_str()]);
        assert_eq!(repeated, vec!["A01", long.as_str()]);
        // A code met twice sits at its last position, as a map keeps it.
        assert_eq!(index.position("A01"), Some(2));
        assert_eq!(index.position(&long), Some(4));
    }

    #[test]
    fn every_line_of_the_embedded_form_is_found_where_a_scan_finds_it() {
        let form = Form::embedded().unwrap();
        for (i, line) in form.lines.iter().enumerate() {
            let scanned = form.lines.iter().position(|l| l.code == line.code);
            assert_eq!(form.line_index(&line.code), scanned);
            assert_eq!(scanned, Some(i));
        }
        assert_eq!(form.line_codes().len(), form.lines.len());
    }
}
