//! The two Zoom audit reports and their names on the wire: the log type name used by the
//! puller, the URL path segment, the JSON array key and the granular OAuth scope.
//!
//! This deliberately restates what the puller's own `LogType` knows instead of importing it: the
//! simulator models Zoom from Zoom's documentation, so a wrong path or key in the puller fails
//! the tests instead of being mirrored by them.

/// One of the two Zoom audit reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogType {
    /// Sign-in/sign-out activity: `GET /report/activities`.
    Activity,
    /// Admin operation logs: `GET /report/operationlogs`.
    Operation,
}

impl LogType {
    /// Both reports.
    pub const ALL: [LogType; 2] = [LogType::Activity, LogType::Operation];

    /// The log type name: `Zoom.Activity` or `Zoom.Operation`.
    pub fn name(self) -> &'static str {
        match self {
            LogType::Activity => "Zoom.Activity",
            LogType::Operation => "Zoom.Operation",
        }
    }

    /// The last path segment of the report endpoint: `activities` or `operationlogs`.
    pub fn path(self) -> &'static str {
        match self {
            LogType::Activity => "activities",
            LogType::Operation => "operationlogs",
        }
    }

    /// The key of the event array in a report page: `activity_logs` or `operation_logs`.
    pub fn array_key(self) -> &'static str {
        match self {
            LogType::Activity => "activity_logs",
            LogType::Operation => "operation_logs",
        }
    }

    /// The granular scope that grants this report (the classic `report:read:admin` grants both).
    pub fn granular_scope(self) -> &'static str {
        match self {
            LogType::Activity => "report:read:user_activities:admin",
            LogType::Operation => "report:read:operation_logs:admin",
        }
    }

    /// The log type with this name (`Zoom.Activity`, `Zoom.Operation`).
    pub fn from_name(name: &str) -> Option<LogType> {
        LogType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The log type served at this path segment.
    pub fn from_path(path: &str) -> Option<LogType> {
        LogType::ALL.into_iter().find(|t| t.path() == path)
    }

    /// A dense index for per-log-type storage.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
