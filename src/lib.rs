//! auditlake finds attacks in Kubernetes API-server audit logs landed in a data lake.
//!
//! Data flows one way: [`sources`] read each landed format (EKS CloudWatch rows, Security Lake
//! OCSF, plain audit-event columns, AKS diagnostic records) → [`normalize`] turns them into one
//! `audit_events` schema → [`engine`] exposes it to DataFusion SQL. [`generate`] writes realistic
//! sample landings for tests, demos and benchmarks.

pub mod config;
pub mod engine;
pub mod error;
pub mod generate;
pub mod normalize;
pub mod rules;
pub mod run;
pub mod sinks;
pub mod sources;

#[cfg(test)]
mod proptests;

pub use config::Config;
pub use engine::{AuditLake, TimeWindow};
pub use error::{Error, Result};
