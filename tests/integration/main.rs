//! All integration tests, compiled into one binary. Each talks real HTTP to the Zoom simulator;
//! the AWS ones talk the S3 and Secrets Manager wire protocols to moto's server, and run the
//! release Lambda binary under the AWS Lambda Runtime Interface Emulator.

mod support;

mod accounts;
mod authorize;
mod aws_adapters;
mod check;
mod lambda;
mod progress;
mod pull_cli;
mod status;
mod template;
mod tokens;
