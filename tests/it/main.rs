//! Integration tests: one binary, modules per area, a shared harness in `util`.

mod bad_input;
mod cli;
mod object_stores;
mod real_data;
mod util;
mod peer_suites;
mod rules;
mod scenarios;
mod scheduled;
mod shared_scan;
