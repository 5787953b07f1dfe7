//! `aks_diagnostics`: Azure diagnostic-setting records of an AKS cluster, categories `kube-audit`
//! and `kube-audit-admin` (`time`, `resourceId`, `category`, `operationName`,
//! `properties{log, stream, pod, containerID}`). `properties.log` is the audit event as JSON text,
//! or already a struct when an upstream tool parsed it.

use std::borrow::Cow;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::{BatchContext, BatchOutput, SourceAdapter, SourceFormat, column_indices, has_column};
use crate::Result;
use crate::normalize::columns::{ColumnTree, EpochUnit, StrReader, TimeReader};
use crate::normalize::record::Text;
use crate::normalize::typed_event::TypedEventColumns;
use crate::normalize::{FieldError, parse_audit_event};

const TIME: &str = "time";
const RESOURCE_ID: &str = "resourceId";
const CATEGORY: &str = "category";
const PROPERTIES: &str = "properties";
const LOG: &str = "log";
const LOG_FIELD: &str = "properties.log";
/// The diagnostic categories that carry audit events.
pub const AUDIT_CATEGORIES: [&str; 2] = ["kube-audit", "kube-audit-admin"];

/// Reads AKS diagnostic-setting records.
#[derive(Debug, Clone, Copy, Default)]
pub struct AksDiagnosticsSource;

/// Subscription, resource group and cluster name of an AKS ARM resource id (which Azure upper-cases).
/// Returned lower-cased: Azure names are case-insensitive and lower case is how users write them.
pub fn parse_resource_id(id: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    let after = |key: &str| {
        parts
            .iter()
            .position(|p| p.eq_ignore_ascii_case(key))
            .and_then(|i| parts.get(i + 1))
            .map(|s| s.to_ascii_lowercase())
    };
    Some((after("subscriptions")?, after("resourcegroups")?, after("managedclusters")?))
}

/// How `properties.log` landed in this batch.
enum LogColumn {
    Text(StrReader),
    Typed(Box<TypedEventColumns>),
}

impl SourceAdapter for AksDiagnosticsSource {
    fn format(&self) -> SourceFormat {
        SourceFormat::AksDiagnostics
    }

    fn columns_to_read(&self, file_schema: &Schema) -> Result<Vec<usize>, FieldError> {
        for required in [PROPERTIES, RESOURCE_ID] {
            if !has_column(file_schema, required) {
                return Err(FieldError::new(required, "required column is missing"));
            }
        }
        Ok(column_indices(file_schema, &[TIME, RESOURCE_ID, CATEGORY, PROPERTIES]))
    }

    fn text_read_as_views(&self) -> &'static [&'static [&'static str]] {
        // `properties.log` as landed by diagnostic settings; `properties` itself when an export
        // keeps it as JSON text.
        &[&[PROPERTIES, LOG], &[PROPERTIES]]
    }

    fn normalize(&self, batch: &RecordBatch, ctx: &BatchContext<'_>, out: &mut BatchOutput<'_>) -> Result<()> {
        let tree = ColumnTree::from_batch(batch);
        let time = TimeReader::new(tree.find(&[TIME]), TIME, EpochUnit::Millis)?;
        let resource = StrReader::new(tree.find(&[RESOURCE_ID]))?;
        let category = StrReader::new(tree.find(&[CATEGORY]))?;
        let log = match tree.find(&[PROPERTIES, LOG]) {
            Some(a) if matches!(a.data_type(), DataType::Struct(_)) => {
                LogColumn::Typed(Box::new(TypedEventColumns::resolve(&ColumnTree::from_struct(a.as_struct()))?))
            }
            Some(a) => LogColumn::Text(StrReader::new(Some(a))?),
            // `properties` kept as JSON text (some Event Hub exports): decode the log per row.
            None => LogColumn::Text(StrReader::Missing),
        };
        let properties_text = StrReader::new(tree.find(&[PROPERTIES]).filter(|a| !matches!(a.data_type(), DataType::Struct(_))))?;
        if let LogColumn::Text(s) = &log {
            out.rows.share_text(s);
        }
        for row in 0..batch.num_rows() {
            // Diagnostic settings can send every category to the same place (guard, kube-apiserver,
            // cluster-autoscaler, ...): expected data, counted rather than rejected.
            if let Some(c) = category.get(row).filter(|c| !AUDIT_CATEGORIES.contains(c)) {
                out.skip(c);
                continue;
            }
            let raw_log = match &log {
                LogColumn::Text(s) => s.get(row).or_else(|| properties_text.get(row)),
                LogColumn::Typed(_) => None,
            };
            let ids = resource.get(row).and_then(parse_resource_id);
            let fallback = match time.get(row) {
                Ok(t) => t,
                Err(e) => {
                    out.reject(ctx, row, Some(e.field), &e.reason, raw_log);
                    continue;
                }
            };
            let (account, cluster, rg) = match &ids {
                Some((s, rg, c)) => (Some(Cow::Borrowed(s.as_str())), Some(Cow::Borrowed(c.as_str())), Some(rg.as_str())),
                None => (None, None, None),
            };
            let env = ctx.envelope(account, None, cluster, fallback);
            let from_properties: Option<String>;
            let event = match &log {
                LogColumn::Typed(cols) => cols.event(row).map_err(|e| e.within(LOG_FIELD)),
                LogColumn::Text(s) => {
                    from_properties = match s.get(row) {
                        Some(_) => None,
                        None => properties_text.get(row).and_then(log_from_properties_json),
                    };
                    match s.get(row).or(from_properties.as_deref()) {
                        Some(t) => parse_audit_event(t).map_err(|e| e.within(LOG_FIELD)),
                        None => Err(FieldError::new(LOG_FIELD, "missing")),
                    }
                }
            };
            let event = event.map(|mut e| {
                if let Some(rg) = rg {
                    e.flattened_extra = Some(vec![(Text::Borrowed("resource_group"), Text::Owned(rg.to_owned()))]);
                }
                e
            });
            out.emit(ctx, row, &env, event, raw_log)?;
        }
        Ok(())
    }
}

/// `properties` landed as JSON text: its `log` member as text (an object member is re-serialized).
fn log_from_properties_json(props: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(props).ok()?;
    match v.get(LOG)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, AsArray, StringArray, StringViewArray, StructArray};
    use datafusion::arrow::datatypes::Field;

    use super::*;
    use crate::normalize::schema::REQUEST_OBJECT;
    use crate::normalize::{AuditEventBuilder, Envelope};

    /// The bodies of `properties.log` events are views of the log text, not copies.
    #[test]
    fn bodies_are_views_of_the_log_text() {
        let body = r#"{"kind":"ClusterRoleBinding","roleRef":{"kind":"ClusterRole","name":"cluster-admin"}}"#;
        let log = format!(r#"{{"auditID":"b1","verb":"create","stageTimestamp":"2024-05-01T10:00:00Z","requestObject":{body}}}"#);
        let log: ArrayRef = Arc::new(StringViewArray::from_iter_values([log]));
        let properties = StructArray::from(vec![(Arc::new(Field::new(LOG, DataType::Utf8View, true)), Arc::clone(&log))]);
        let batch = RecordBatch::try_from_iter([
            (RESOURCE_ID, Arc::new(StringArray::from(vec!["/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/C"])) as ArrayRef),
            (CATEGORY, Arc::new(StringArray::from(vec!["kube-audit"])) as ArrayRef),
            (PROPERTIES, Arc::new(properties) as ArrayRef),
        ])
        .unwrap();
        let ctx = BatchContext { object: "file:///lake/aks/part-0.parquet", first_row: 0, defaults: Envelope::default() };
        let (mut rows, mut rejects) = (AuditEventBuilder::new("aks_diagnostics", "aks"), Vec::new());
        AksDiagnosticsSource.normalize(&batch, &ctx, &mut BatchOutput { rows: &mut rows, rejects: &mut rejects, skipped: &mut Default::default() }).unwrap();
        let out = rows.finish().unwrap();
        assert!(rejects.is_empty(), "{rejects:?}");
        let request = out.column_by_name(REQUEST_OBJECT).unwrap().as_string_view();
        assert_eq!(request.value(0), body);
        assert_eq!(request.data_buffers()[0].as_ptr(), log.as_string_view().data_buffers()[0].as_ptr());
    }

    #[test]
    fn resource_id_names_subscription_group_and_cluster() {
        let id = "/SUBSCRIPTIONS/0B62A232-1111/RESOURCEGROUPS/MIKE-AZURE/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/MIKE-AZURE-AKS";
        assert_eq!(parse_resource_id(id), Some(("0b62a232-1111".into(), "mike-azure".into(), "mike-azure-aks".into())));
        assert_eq!(parse_resource_id("/subscriptions/x/resourceGroups/y"), None);
    }
}
