//! A problem in a district's data: where it is (file, sheet, A1 cell, line),
//! which rule of the form it breaks, how serious it is, what was read and
//! what was expected, in Vietnamese for the district and English for the
//! log. Findings are collected, never propagated with `?`: one bad file
//! never stops a batch.

use serde::{Deserialize, Serialize};

use crate::domain::Severity;

/// Where a finding is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// File name as received (not the archive path).
    pub file: String,
    /// Sheet name, when the finding is on a sheet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// A1 address (`E17`), when the finding is on a cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    /// The line's `Mã số`, when the finding is about a line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// The line's Vietnamese label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_label: Option<String>,
}

/// One problem found in a return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Number of the rule in the form document (1–21).
    pub rule: u32,
    pub severity: Severity,
    pub location: Location,
    /// What was read, as text ("12", "\"1.234\"", "#REF!", blank as "").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What was expected; for arithmetic both sides with their numbers,
    /// e.g. "A01.1+A01.2+A01.3+A01.4 = 11 ≠ A01 = 12".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// For the district, in Vietnamese.
    pub message_vi: String,
    /// For the log, in English.
    pub message_en: String,
}

impl Finding {
    /// A finding with no cell yet; add location details with the builders.
    pub fn new(
        rule: u32,
        severity: Severity,
        file: &str,
        message_vi: impl Into<String>,
        message_en: impl Into<String>,
    ) -> Finding {
        Finding {
            rule,
            severity,
            location: Location {
                file: file.to_string(),
                ..Location::default()
            },
            value: None,
            expected: None,
            message_vi: message_vi.into(),
            message_en: message_en.into(),
        }
    }

    /// Places the finding on a sheet and cell.
    pub fn at(mut self, sheet: &str, cell: Option<String>) -> Finding {
        self.location.sheet = Some(sheet.to_string());
        self.location.cell = cell;
        self
    }

    /// Names the line concerned.
    pub fn line(mut self, code: &str, label: &str) -> Finding {
        self.location.line = Some(code.to_string());
        self.location.line_label = Some(label.to_string());
        self
    }

    pub fn value(mut self, value: impl Into<String>) -> Finding {
        self.value = Some(value.into());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Finding {
        self.expected = Some(expected.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// One line for the log: `rule 10 error Bieu01!E22 (A01): …`.
    pub fn log_line(&self) -> String {
        let place = match (&self.location.sheet, &self.location.cell) {
            (Some(s), Some(c)) => format!(" {s}!{c}"),
            (Some(s), None) => format!(" {s}"),
            _ => String::new(),
        };
        let line = self
            .location
            .line
            .as_ref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        format!(
            "rule {} {}{place}{line}: {}",
            self.rule,
            self.severity.as_str(),
            self.message_en
        )
    }
}

/// Whether any finding rejects the return.
pub fn rejects(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::is_error)
}
