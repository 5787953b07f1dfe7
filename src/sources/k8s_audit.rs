//! `k8s_audit`: audit Event fields landed as Parquet columns — the nested camelCase form Spark and
//! Glue jobs write, and the lower-cased (or flattened) form Firehose record-format conversion writes.

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;

use super::{BatchContext, BatchOutput, SourceAdapter, SourceFormat};
use crate::Result;
use crate::normalize::FieldError;
use crate::normalize::columns::ColumnTree;
use crate::normalize::typed_event::{TypedEventColumns, missing_required};

/// Reads audit events stored as typed Parquet columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct K8sAuditSource;

impl SourceAdapter for K8sAuditSource {
    fn format(&self) -> SourceFormat {
        SourceFormat::K8sAudit
    }

    fn columns_to_read(&self, file_schema: &Schema) -> Result<Vec<usize>, FieldError> {
        let empty = RecordBatch::new_empty(std::sync::Arc::new(file_schema.clone()));
        if let Some(missing) = missing_required(&ColumnTree::from_batch(&empty)) {
            return Err(FieldError::new(missing, "required column is missing"));
        }
        // Every column may carry part of the event (flattened layouts spread it over many).
        Ok((0..file_schema.fields().len()).collect())
    }

    fn normalize(&self, batch: &RecordBatch, ctx: &BatchContext<'_>, out: &mut BatchOutput<'_>) -> Result<()> {
        let columns = TypedEventColumns::resolve(&ColumnTree::from_batch(batch))?;
        let env = ctx.envelope(None, None, None, None);
        for row in 0..batch.num_rows() {
            out.emit(ctx, row, &env, columns.event(row), || None)?;
        }
        Ok(())
    }
}
