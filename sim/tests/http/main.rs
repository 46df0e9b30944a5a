//! Drives the simulator over real HTTP with reqwest: OAuth, report paging, faults (page-token
//! loops included), late arrival, the undocumented Zoom variants (through the binary's flags too)
//! and the admin endpoints.

mod admin;
mod binary;
mod client;
mod faults;
mod hosts;
mod late;
mod loops;
mod oauth;
mod reports;
mod variants;
