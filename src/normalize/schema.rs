//! The canonical `audit_events` schema: column names (defined once, here) and Arrow types.
//!
//! One row is one audit event at one stage. Every source adapter emits exactly this schema;
//! `docs/schema.md` documents each column per source.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

pub const SOURCE: &str = "source";
pub const SOURCE_NAME: &str = "source_name";
pub const CLOUD_ACCOUNT: &str = "cloud_account";
pub const REGION: &str = "region";
pub const CLUSTER: &str = "cluster";
pub const EVENT_TIME: &str = "event_time";
pub const REQUEST_RECEIVED_TIME: &str = "request_received_time";
pub const INGEST_TIME: &str = "ingest_time";
pub const AUDIT_ID: &str = "audit_id";
pub const STAGE: &str = "stage";
pub const LEVEL: &str = "level";
pub const VERB: &str = "verb";
pub const REQUEST_URI: &str = "request_uri";
pub const USER_NAME: &str = "user_name";
pub const USER_UID: &str = "user_uid";
pub const USER_GROUPS: &str = "user_groups";
pub const USER_EXTRA: &str = "user_extra";
pub const IMPERSONATED_USER_NAME: &str = "impersonated_user_name";
pub const IMPERSONATED_USER_GROUPS: &str = "impersonated_user_groups";
pub const SOURCE_IPS: &str = "source_ips";
pub const SOURCE_IP: &str = "source_ip";
pub const USER_AGENT: &str = "user_agent";
pub const OBJ_API_GROUP: &str = "obj_api_group";
pub const OBJ_API_VERSION: &str = "obj_api_version";
pub const OBJ_RESOURCE: &str = "obj_resource";
pub const OBJ_SUBRESOURCE: &str = "obj_subresource";
pub const OBJ_NAMESPACE: &str = "obj_namespace";
pub const OBJ_NAME: &str = "obj_name";
pub const RESPONSE_CODE: &str = "response_code";
pub const RESPONSE_STATUS: &str = "response_status";
pub const RESPONSE_REASON: &str = "response_reason";
pub const RESPONSE_MESSAGE: &str = "response_message";
pub const AUTHZ_DECISION: &str = "authz_decision";
pub const AUTHZ_REASON: &str = "authz_reason";
pub const ANNOTATIONS: &str = "annotations";
pub const REQUEST_OBJECT: &str = "request_object";
pub const RESPONSE_OBJECT: &str = "response_object";
pub const FLATTENED_EXTRA: &str = "flattened_extra";
pub const LINEAGE_OBJECT: &str = "lineage_object";
pub const LINEAGE_ROW: &str = "lineage_row";

/// The table name analysts query.
pub const AUDIT_EVENTS_TABLE: &str = "audit_events";
/// The table of rejected records and objects.
pub const REJECTS_TABLE: &str = "rejects";

/// Annotation keys the schema lifts into their own columns.
pub const ANNOTATION_AUTHZ_DECISION: &str = "authorization.k8s.io/decision";
pub const ANNOTATION_AUTHZ_REASON: &str = "authorization.k8s.io/reason";

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub(crate) fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// `Map(Utf8, value)` with the field names arrow's `MapBuilder` produces.
pub(crate) fn map_of(value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", value, true),
            ])),
            false,
        )),
        false,
    )
}

static AUDIT_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let s = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new(SOURCE, DataType::Utf8, false),
        Field::new(SOURCE_NAME, DataType::Utf8, false),
        s(CLOUD_ACCOUNT),
        s(REGION),
        s(CLUSTER),
        Field::new(EVENT_TIME, utc_micros(), false),
        Field::new(REQUEST_RECEIVED_TIME, utc_micros(), true),
        Field::new(INGEST_TIME, utc_micros(), true),
        s(AUDIT_ID),
        s(STAGE),
        s(LEVEL),
        s(VERB),
        s(REQUEST_URI),
        s(USER_NAME),
        s(USER_UID),
        Field::new(USER_GROUPS, string_list(), true),
        Field::new(USER_EXTRA, map_of(string_list()), true),
        s(IMPERSONATED_USER_NAME),
        Field::new(IMPERSONATED_USER_GROUPS, string_list(), true),
        Field::new(SOURCE_IPS, string_list(), true),
        s(SOURCE_IP),
        s(USER_AGENT),
        s(OBJ_API_GROUP),
        s(OBJ_API_VERSION),
        s(OBJ_RESOURCE),
        s(OBJ_SUBRESOURCE),
        s(OBJ_NAMESPACE),
        s(OBJ_NAME),
        Field::new(RESPONSE_CODE, DataType::Int32, true),
        s(RESPONSE_STATUS),
        s(RESPONSE_REASON),
        s(RESPONSE_MESSAGE),
        s(AUTHZ_DECISION),
        s(AUTHZ_REASON),
        Field::new(ANNOTATIONS, map_of(DataType::Utf8), true),
        // Bodies are most of an event's bytes: as string views they point into the text they were
        // decoded from (the landed JSON event, or the Parquet page) instead of being copied, and
        // selecting rows copies 16 bytes per row rather than the body.
        Field::new(REQUEST_OBJECT, DataType::Utf8View, true),
        Field::new(RESPONSE_OBJECT, DataType::Utf8View, true),
        Field::new(FLATTENED_EXTRA, map_of(DataType::Utf8), true),
        Field::new(LINEAGE_OBJECT, DataType::Utf8, false),
        Field::new(LINEAGE_ROW, DataType::Int64, false),
    ]))
});

/// The `audit_events` schema.
pub fn audit_events_schema() -> SchemaRef {
    Arc::clone(&AUDIT_EVENTS_SCHEMA)
}
