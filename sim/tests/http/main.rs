//! Drives the simulator over real HTTP with reqwest: OAuth, report paging, faults, late arrival,
//! the undocumented Zoom variants and the admin endpoints.

mod admin;
mod client;
mod faults;
mod late;
mod oauth;
mod reports;
mod variants;
