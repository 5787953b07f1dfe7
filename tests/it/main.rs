//! Integration tests: one binary, modules per area, a shared harness in `util`.

mod bad_input;
mod cli;
mod month_in_production;
mod object_stores;
mod real_data;
mod reliability;
mod util;
mod peer_suites;
mod rules;
mod scenarios;
mod scheduled;
mod shared_scan;
mod snapshots;
