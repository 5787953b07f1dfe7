//! Normalization: the canonical `audit_events` schema and the decoders every source adapter shares
//! (one-pass JSON text, typed Parquet columns), plus the batch builder they feed.

pub mod builder;
pub mod columns;
pub mod json_event;
pub mod record;
pub mod schema;
pub mod time;
pub mod typed_event;

pub use builder::AuditEventBuilder;
pub use json_event::{FieldError, parse_audit_event};
pub use record::{AuditEvent, Envelope};
pub use schema::audit_events_schema;
