//! The two Zoom reports this tool pulls, and what differs between them.

use std::fmt;
use std::str::FromStr;

/// A Zoom audit report, named as the log pipeline knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogType {
    /// Sign-in and sign-out activity: `GET /report/activities`.
    Activity,
    /// Admin operation logs: `GET /report/operationlogs`.
    Operation,
}

impl LogType {
    pub const ALL: [LogType; 2] = [LogType::Activity, LogType::Operation];

    /// The name used in `LOG_TYPES`, the cursor map and the S3 folder.
    pub fn name(self) -> &'static str {
        match self {
            LogType::Activity => "Zoom.Activity",
            LogType::Operation => "Zoom.Operation",
        }
    }

    /// The report's path under the API base.
    pub fn path(self) -> &'static str {
        match self {
            LogType::Activity => "report/activities",
            LogType::Operation => "report/operationlogs",
        }
    }

    /// The key of the event array in a report page.
    pub fn array_key(self) -> &'static str {
        match self {
            LogType::Activity => "activity_logs",
            LogType::Operation => "operation_logs",
        }
    }
}

impl serde::Serialize for LogType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for LogType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogType::ALL
            .into_iter()
            .find(|t| t.name() == s.trim())
            .ok_or_else(|| format!("unknown log type {s:?} (known: Zoom.Activity, Zoom.Operation)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in LogType::ALL {
            assert_eq!(t.name().parse::<LogType>().unwrap(), t);
        }
        assert!("Zoom.Meetings".parse::<LogType>().is_err());
    }
}
