//! The domain as data: the return form, the unit register, reporting
//! periods and the provincial plan, each loaded from a file under
//! `templates/` (or the copy embedded in the binary).

pub mod form;
pub mod mapping;
pub mod period;
pub mod plan;
pub mod register;

pub use form::{Agg, CommuneFlag, Form, Line, LineCodes, LineKind, OutlierRule, Rule, RuleKind, Severity};
pub use mapping::{MappingRow, TerritoryMapping};
pub use period::{local_time, local_time_text, local_timestamp_text, Period, PeriodKind, ReportingCalendar};
pub use plan::Plan;
pub use register::{Level, Register, Unit};
