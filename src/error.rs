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

    /// The output location cannot be used: permission denied, a file where a directory should
    /// be, a read-only file system. Retrying will not help.
    #[error("output location {location} cannot be written: {reason} (not retryable: fix the location or its permissions)")]
    OutputUnwritable { location: String, reason: String },

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

/// Why `err` (or an error it was caused by) cannot be fixed by retrying, when it is an I/O or
/// store failure of that sort: denied access, a file where a directory should be (or the
/// reverse), a read-only file system. Timeouts, throttling and lost connections are not.
pub fn permanent_io_cause(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use std::io::ErrorKind as K;
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), K::PermissionDenied | K::NotADirectory | K::IsADirectory | K::AlreadyExists | K::ReadOnlyFilesystem)
        {
            return Some(io.to_string());
        }
        // `Error::ObjectStore` is transparent: its source is the store error's source, not it.
        let store = e.downcast_ref::<object_store::Error>().or_else(|| match e.downcast_ref::<Error>() {
            Some(Error::ObjectStore(s)) => Some(s),
            _ => None,
        });
        match store {
            Some(store @ (object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. })) => return Some(store.to_string()),
            // A put that lost a race (a Delta commit conflict) carries an I/O AlreadyExists
            // from the local store: that one is retryable.
            Some(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => return None,
            _ => {}
        }
        cause = e.source();
    }
    None
}

/// The library's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::io::{Error as IoError, ErrorKind};

    use super::*;

    #[test]
    fn denied_or_misplaced_output_is_permanent_and_timeouts_are_not() {
        for kind in [ErrorKind::PermissionDenied, ErrorKind::NotADirectory, ErrorKind::AlreadyExists, ErrorKind::ReadOnlyFilesystem] {
            let e = Error::io("creating /out/runs", IoError::from(kind));
            assert!(permanent_io_cause(&e).is_some(), "{kind:?}");
        }
        for kind in [ErrorKind::TimedOut, ErrorKind::ConnectionReset, ErrorKind::Interrupted] {
            assert_eq!(permanent_io_cause(&Error::io("x", IoError::from(kind))), None, "{kind:?}");
        }
        let denied = object_store::Error::PermissionDenied { path: "out/runs".into(), source: "403".into() };
        assert!(permanent_io_cause(&Error::from(denied)).is_some());
        let lost_race = object_store::Error::AlreadyExists { path: "_delta_log/1.json".into(), source: Box::new(IoError::from(ErrorKind::AlreadyExists)) };
        assert_eq!(permanent_io_cause(&Error::from(lost_race)), None);
    }
}
