//! Landed objects as DataFusion tables: listing the objects a window can hold ([`listing`]),
//! reading and decoding them inside a plan ([`read`]), the table providers over them ([`tables`]),
//! the event-time window they are restricted to ([`window`]), what a scan read and rejected
//! ([`report`]), and long windows cut into event-time chunks ([`chunks`]).

pub mod chunks;
pub mod listing;
pub mod read;
pub mod report;
pub mod tables;
pub mod window;

pub use listing::SourceObject;
pub use read::ResolvedSource;
pub use tables::{AuditEventsTable, ObjectScope, RawSourceTable};
pub use window::TimeWindow;
