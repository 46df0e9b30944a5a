//! zoom-log-puller: keeps a Zoom account's audit logs (`Zoom.Activity`, `Zoom.Operation`) flowing
//! into S3 as gzipped NDJSON, every event exactly once.
//!
//! The use case ([`pull`]) knows only the [`ports`]; [`zoom`], [`aws`] and [`local`] adapt them to
//! Zoom's API, to Secrets Manager and S3, and to files on a laptop. [`handler`] adapts the use case
//! to AWS Lambda. See DESIGN.md for how exactly-once works.

pub mod accounts;
pub mod app;
pub mod authorize;
pub mod aws;
pub mod cli;
pub mod config;
pub mod handler;
pub mod keys;
pub mod local;
pub mod log_type;
pub mod memory;
pub mod metrics;
pub mod ports;
pub mod pull;
pub mod runs;
pub mod secret;
pub mod state;
pub mod window;
pub mod zoom;
