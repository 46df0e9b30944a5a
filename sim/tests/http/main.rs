//! Drives the simulator over real HTTP with reqwest: OAuth, report paging, faults and the admin
//! endpoints.

mod admin;
mod client;
mod faults;
mod oauth;
mod reports;
