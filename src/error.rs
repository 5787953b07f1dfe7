//! The library's one public error type. Each layer's failures convert into it, so callers (the CLI,
//! tests, benches) match on one enum and the CLI maps it to an exit code.

use std::path::PathBuf;

/// Everything that can go wrong inside the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file or an option is invalid; retrying will not help.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A time given on the command line or in config does not parse.
    #[error("invalid time '{0}': expected RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01) or a relative time (-2h, -30m, -7d)")]
    InvalidTime(String),

    /// A query or plan failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),

    /// Arrow failed building or converting batches.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    /// Parquet encoding or decoding failed.
    #[error(transparent)]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),

    /// Listing or reading an object store failed.
    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),

    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Reading or writing an output Delta table failed.
    #[error("Delta table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    /// Writing outputs could not complete (e.g. too many concurrent commits); retryable.
    #[error("output: {0}")]
    Output(String),

    /// Something asked for by id does not exist (a DUET item, a run); not retryable.
    #[error("{0}")]
    NotFound(String),

    /// A request conflicts with stored state (e.g. answering an item already answered).
    #[error("{0}")]
    Conflict(String),

    /// A detection rule failed to plan or to run (the pack runs the other rules; callers that
    /// need every rule's answer get this).
    #[error("rule {rule}: {error}")]
    RuleFailed { rule: String, error: String },

    /// `--strict` was given and input records were rejected.
    #[error("{0} input record(s) or object(s) rejected (strict mode); run `SELECT * FROM rejects` to see them")]
    StrictRejects(u64),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl Error {
    /// Wraps a Delta error with the table it concerns.
    pub fn delta(table: impl Into<String>, source: deltalake::DeltaTableError) -> Self {
        Error::Delta { table: table.into(), source: Box::new(source) }
    }
}

/// The library's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
