//! The in-memory form of one normalized audit event, borrowed from the landed bytes where it can be.
//!
//! Both decoders (JSON text in [`super::json_event`], typed Parquet columns in [`super::typed_event`])
//! fill an [`AuditEvent`]; [`super::builder::AuditEventBuilder`] turns a run of them into a batch.

use std::borrow::Cow;

/// Text borrowed from the input where possible.
pub type Text<'a> = Cow<'a, str>;

/// `authentication/v1.UserInfo`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UserInfo<'a> {
    pub name: Option<Text<'a>>,
    pub uid: Option<Text<'a>>,
    pub groups: Option<Vec<Text<'a>>>,
    pub extra: Option<Vec<(Text<'a>, Vec<Text<'a>>)>>,
}

/// `objectRef` of the audit event.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ObjectRef<'a> {
    pub api_group: Option<Text<'a>>,
    pub api_version: Option<Text<'a>>,
    pub resource: Option<Text<'a>>,
    pub subresource: Option<Text<'a>>,
    pub namespace: Option<Text<'a>>,
    pub name: Option<Text<'a>>,
}

/// `responseStatus` of the audit event.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResponseStatus<'a> {
    pub code: Option<i32>,
    pub status: Option<Text<'a>>,
    pub reason: Option<Text<'a>>,
    pub message: Option<Text<'a>>,
}

/// One audit event at one stage, as every source adapter sees it after decoding.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AuditEvent<'a> {
    pub audit_id: Option<Text<'a>>,
    pub stage: Option<Text<'a>>,
    pub level: Option<Text<'a>>,
    pub verb: Option<Text<'a>>,
    pub request_uri: Option<Text<'a>>,
    pub user: UserInfo<'a>,
    pub impersonated_user: Option<UserInfo<'a>>,
    pub source_ips: Option<Vec<Text<'a>>>,
    pub user_agent: Option<Text<'a>>,
    pub object_ref: ObjectRef<'a>,
    pub response: ResponseStatus<'a>,
    pub annotations: Option<Vec<(Text<'a>, Text<'a>)>>,
    /// JSON text.
    pub request_object: Option<Text<'a>>,
    /// JSON text.
    pub response_object: Option<Text<'a>>,
    /// `stageTimestamp`, microseconds since the epoch (UTC).
    pub stage_time: Option<i64>,
    /// `requestReceivedTimestamp`, microseconds since the epoch (UTC).
    pub request_received_time: Option<i64>,
    /// Pre-v1 `timestamp`, microseconds since the epoch (UTC).
    pub legacy_time: Option<i64>,
    /// Source-specific leftovers (Security Lake `unmapped`).
    pub flattened_extra: Option<Vec<(Text<'a>, Text<'a>)>>,
}

impl AuditEvent<'_> {
    /// The event time: stage time, else request-received time, else the legacy timestamp.
    pub fn event_time(&self) -> Option<i64> {
        Self::event_time_of(self.stage_time, self.request_received_time, self.legacy_time)
    }

    /// [`event_time`](Self::event_time) of an event with these times.
    pub fn event_time_of(stage: Option<i64>, received: Option<i64>, legacy: Option<i64>) -> Option<i64> {
        stage.or(received).or(legacy)
    }

    /// The time the event is filed under: its own, else the wrapper's (`fallback`). An event
    /// with neither cannot be placed in any window and is rejected.
    pub fn filed_time(own: Option<i64>, fallback: Option<i64>) -> Result<i64, super::FieldError> {
        own.or(fallback).ok_or_else(|| {
            super::FieldError::new("stageTimestamp", "missing: the event has no stageTimestamp, requestReceivedTimestamp or timestamp")
        })
    }

    /// Value of an annotation, if present.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .as_ref()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }
}

/// Where a record came from and what the landing adds around the event.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Envelope<'a> {
    pub cloud_account: Option<Text<'a>>,
    pub region: Option<Text<'a>>,
    pub cluster: Option<Text<'a>>,
    /// When the record landed, microseconds since the epoch (UTC).
    pub ingest_time: Option<i64>,
    /// A time the wrapper carries (CloudWatch timestamp, Azure record time); used as the event
    /// time only when the event itself has none.
    pub fallback_time: Option<i64>,
}
