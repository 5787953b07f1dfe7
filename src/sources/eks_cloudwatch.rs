//! `eks_cloudwatch`: one row per CloudWatch Logs event of an EKS cluster's log group
//! (`owner`, `logGroup` = `/aws/eks/<cluster>/cluster`, `logStream`, `id`, `timestamp` ms,
//! `message` = the audit event as JSON text).

use std::borrow::Cow;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;

use super::{BatchContext, BatchOutput, SourceAdapter, SourceFormat, column_indices, has_column};
use crate::Result;
use crate::normalize::columns::{ColumnTree, EpochUnit, StrReader, TimeReader};
use crate::normalize::{FieldError, parse_audit_event};

const OWNER: &str = "owner";
const LOG_GROUP: &str = "logGroup";
const LOG_STREAM: &str = "logStream";
const TIMESTAMP: &str = "timestamp";
const MESSAGE: &str = "message";
/// Only this stream family carries audit events; the log group also holds authenticator,
/// scheduler, controller-manager and (non-audit) kube-apiserver streams.
const AUDIT_STREAM_PREFIX: &str = "kube-apiserver-audit";

/// The log category of a stream: its name without the trailing instance id
/// (`authenticator-71976ca1…` → `authenticator`). An id is told from a name part by its digits.
pub fn stream_category(stream: &str) -> &str {
    match stream.rsplit_once('-') {
        Some((family, id)) if !family.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) && id.bytes().any(|b| b.is_ascii_digit()) => family,
        _ => stream,
    }
}

/// Reads CloudWatch Logs rows whose message is an EKS audit event.
#[derive(Debug, Clone, Copy, Default)]
pub struct EksCloudWatchSource;

/// The cluster name in an EKS log group `/aws/eks/<cluster>/cluster`.
pub fn cluster_from_log_group(group: &str) -> Option<&str> {
    group.strip_prefix("/aws/eks/")?.strip_suffix("/cluster").filter(|c| !c.is_empty() && !c.contains('/'))
}

impl SourceAdapter for EksCloudWatchSource {
    fn format(&self) -> SourceFormat {
        SourceFormat::EksCloudwatch
    }

    fn columns_to_read(&self, file_schema: &Schema) -> Result<Vec<usize>, FieldError> {
        if !has_column(file_schema, MESSAGE) {
            return Err(FieldError::new(MESSAGE, "required column is missing"));
        }
        Ok(column_indices(file_schema, &[OWNER, LOG_GROUP, LOG_STREAM, TIMESTAMP, MESSAGE]))
    }

    fn text_read_as_views(&self) -> &'static [&'static [&'static str]] {
        &[&[MESSAGE]]
    }

    fn normalize(&self, batch: &RecordBatch, ctx: &BatchContext<'_>, out: &mut BatchOutput<'_>) -> Result<()> {
        let tree = ColumnTree::from_batch(batch);
        let owner = StrReader::new(tree.find(&[OWNER]))?;
        let group = StrReader::new(tree.find(&[LOG_GROUP]))?;
        let stream = StrReader::new(tree.find(&[LOG_STREAM]))?;
        let cwl_time = TimeReader::new(tree.find(&[TIMESTAMP]), TIMESTAMP, EpochUnit::Millis)?;
        let message = StrReader::new(tree.find(&[MESSAGE]))?;
        out.rows.share_text(&message);
        for row in 0..batch.num_rows() {
            // A subscription on the whole log group delivers every control-plane log type.
            if let Some(s) = stream.get(row).filter(|s| !s.starts_with(AUDIT_STREAM_PREFIX)) {
                out.skip(stream_category(s));
                continue;
            }
            let Some(text) = message.get(row) else {
                out.reject(ctx, row, Some(MESSAGE.into()), "message is null", None);
                continue;
            };
            let fallback = match cwl_time.get(row) {
                Ok(t) => t,
                Err(e) => {
                    out.reject(ctx, row, Some(e.field), &e.reason, Some(text));
                    continue;
                }
            };
            let cluster = group.get(row).and_then(cluster_from_log_group).map(Cow::Borrowed);
            let env = ctx.envelope(owner.text(row), None, cluster, fallback);
            let event = parse_audit_event(text).map_err(|e| e.within(MESSAGE));
            out.emit(ctx, row, &env, event, Some(text))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringViewArray};

    use super::*;
    use crate::normalize::record::Text;
    use crate::normalize::schema::{REQUEST_OBJECT, RESPONSE_OBJECT};
    use crate::normalize::{AuditEventBuilder, Envelope};

    fn event(i: usize, body: &str) -> String {
        format!(
            r#"{{"auditID":"a{i}","stage":"ResponseComplete","verb":"create","stageTimestamp":"2024-05-01T10:00:00Z","requestObject":{body},"responseObject":{{"kind":"Status","code":201}}}}"#
        )
    }

    /// Bodies become views of the landed text (no copy) when it is shared, and equal copies of it
    /// when it is not.
    #[test]
    fn bodies_are_views_of_the_landed_text() {
        let bodies = [r#"{"kind":"Pod","spec":{"containers":[{"name":"web","image":"nginx"}]}}"#, "{}", r#"{"kind":"Pod","pad":"\u00e9x"}"#];
        let messages: Vec<String> = bodies.iter().enumerate().map(|(i, b)| event(i, b)).collect();
        let views: ArrayRef = Arc::new(StringViewArray::from_iter_values(messages.iter()));
        let plain: ArrayRef = Arc::new(StringArray::from_iter_values(messages.iter()));
        let ctx = BatchContext { object: "file:///lake/eks/part-0.parquet", first_row: 0, defaults: Envelope { cluster: Some(Text::Borrowed("prod")), ..Envelope::default() } };
        for message in [views, plain] {
            let n = message.len();
            let batch = RecordBatch::try_from_iter([
                (LOG_STREAM, Arc::new(StringArray::from_iter_values(std::iter::repeat_n("kube-apiserver-audit-1", n))) as ArrayRef),
                (MESSAGE, Arc::clone(&message)),
            ])
            .unwrap();
            let (mut rows, mut rejects) = (AuditEventBuilder::new("eks_cloudwatch", "eks"), Vec::new());
            EksCloudWatchSource.normalize(&batch, &ctx, &mut BatchOutput { rows: &mut rows, rejects: &mut rejects, skipped: &mut Default::default() }).unwrap();
            let out = rows.finish().unwrap();
            assert!(rejects.is_empty(), "{rejects:?}");
            let request = out.column_by_name(REQUEST_OBJECT).unwrap().as_string_view();
            let got: Vec<&str> = (0..n).map(|i| request.value(i)).collect();
            assert_eq!(got, bodies);
            assert_eq!(out.column_by_name(RESPONSE_OBJECT).unwrap().as_string_view().value(0), r#"{"kind":"Status","code":201}"#);
            // The long bodies' bytes are the landed text's, not a copy.
            let text: Vec<*const u8> = match message.as_string_view_opt() {
                Some(v) => v.data_buffers().iter().map(|b| b.as_ptr()).collect(),
                None => vec![message.as_string::<i32>().values().as_ptr()],
            };
            assert!(request.data_buffers().iter().any(|b| text.contains(&b.as_ptr())), "bodies were copied");
        }
    }

    #[test]
    fn stream_categories_drop_the_instance_id() {
        assert_eq!(stream_category("authenticator-71976ca11bea5d3083393f7d32dab75b"), "authenticator");
        assert_eq!(stream_category("kube-apiserver-71976ca11bea5d3083393f7d32dab75b"), "kube-apiserver");
        assert_eq!(stream_category("kube-controller-manager-71976ca11bea5d3083393f7d32dab75b"), "kube-controller-manager");
        assert_eq!(stream_category("cloud-controller-manager"), "cloud-controller-manager");
        assert_eq!(stream_category("odd"), "odd");
    }

    #[test]
    fn cluster_comes_from_the_log_group() {
        assert_eq!(cluster_from_log_group("/aws/eks/prod-1/cluster"), Some("prod-1"));
        assert_eq!(cluster_from_log_group("/aws/lambda/x"), None);
        assert_eq!(cluster_from_log_group("/aws/eks//cluster"), None);
    }
}
