//! Sample-data generator: realistic EKS and AKS clusters (benign traffic plus labeled attack
//! scenarios) landed in all four source formats and their real partition layouts.
//!
//! Deterministic per seed. Used for the bundled `sample_data/`, tests and benchmarks.

#[path = "events_stub.rs"]
pub mod events;
pub mod landing;
pub mod ocsf;

pub use landing::{GenerateOptions, GenerateSummary, ScenarioLabel, generate};
