//! Sample-data generator: realistic EKS and AKS clusters (benign traffic plus labeled attack
//! scenarios) landed in all four source formats and their real partition layouts.
//!
//! Deterministic per seed. Used for the bundled `sample_data/`, tests and benchmarks.

pub mod landing;
pub mod ocsf;
pub mod traffic;

pub use landing::{GenerateOptions, GenerateSummary, ScenarioLabel, generate};
