//! Accumulates [`AuditEvent`]s into `audit_events` record batches.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Builder, Int64Array, Int64Builder, ListBuilder,
    MapBuilder, StringArray, StringBuilder, StringViewBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
    new_null_array,
};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;

use super::columns::StrReader;
use super::record::{AuditEvent, Envelope, Text, UserInfo};
use super::schema::{ANNOTATION_AUTHZ_DECISION, ANNOTATION_AUTHZ_REASON, audit_events_schema, map_of};
use crate::Result;

pub(crate) type StringListBuilder = ListBuilder<StringBuilder>;

/// Column builders for one output batch of `audit_events`.
pub struct AuditEventBuilder {
    source: String,
    source_name: String,
    cloud_account: StringBuilder,
    region: StringBuilder,
    cluster: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    request_received_time: TimestampMicrosecondBuilder,
    ingest_time: TimestampMicrosecondBuilder,
    audit_id: StringBuilder,
    stage: StringBuilder,
    level: StringBuilder,
    verb: StringBuilder,
    request_uri: StringBuilder,
    user_name: StringBuilder,
    user_uid: StringBuilder,
    user_groups: StringListBuilder,
    user_extra: MapBuilder<StringBuilder, StringListBuilder>,
    impersonated_user_name: StringBuilder,
    impersonated_user_groups: StringListBuilder,
    source_ips: StringListBuilder,
    source_ip: StringBuilder,
    user_agent: StringBuilder,
    obj_api_group: StringBuilder,
    obj_api_version: StringBuilder,
    obj_resource: StringBuilder,
    obj_subresource: StringBuilder,
    obj_namespace: StringBuilder,
    obj_name: StringBuilder,
    response_code: Int32Builder,
    response_status: StringBuilder,
    response_reason: StringBuilder,
    response_message: StringBuilder,
    authz_decision: StringBuilder,
    authz_reason: StringBuilder,
    annotations: MapBuilder<StringBuilder, StringBuilder>,
    request_object: BodyBuilder,
    response_object: BodyBuilder,
    flattened_extra: MapBuilder<StringBuilder, StringBuilder>,
    lineage_object: StringBuilder,
    lineage_row: Int64Builder,
    len: usize,
    /// Batches pushed whole by [`AuditEventBuilder::push_arrays`], in arrival order.
    ready: Vec<RecordBatch>,
}

/// One batch of events decoded column by column (typed landings): the event's own columns, each
/// as long as the batch. The builder adds the envelope, source, derived and lineage columns.
pub struct EventArrays {
    /// Resolved event times (any value on rows the caller rejects).
    pub event_time: Vec<i64>,
    pub request_received_time: Vec<Option<i64>>,
    pub audit_id: ArrayRef,
    pub stage: ArrayRef,
    pub level: ArrayRef,
    pub verb: ArrayRef,
    pub request_uri: ArrayRef,
    pub user_name: ArrayRef,
    pub user_uid: ArrayRef,
    /// `List<Utf8>`.
    pub user_groups: ArrayRef,
    /// `Map<Utf8, List<Utf8>>`.
    pub user_extra: ArrayRef,
    pub impersonated_user_name: ArrayRef,
    pub impersonated_user_groups: ArrayRef,
    pub source_ips: ArrayRef,
    pub user_agent: ArrayRef,
    /// API group, API version, resource, subresource, namespace, name.
    pub object_ref: [ArrayRef; 6],
    /// `Int32`.
    pub response_code: ArrayRef,
    /// Status, reason, message.
    pub response: [ArrayRef; 3],
    /// `Map<Utf8, Utf8>`.
    pub annotations: ArrayRef,
    /// `Utf8View`, as is `response_object`.
    pub request_object: ArrayRef,
    pub response_object: ArrayRef,
}

/// `n` copies of `v` (nulls when absent).
fn repeated(v: Option<&str>, n: usize) -> ArrayRef {
    match v {
        Some(v) => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n))),
        None => new_null_array(&DataType::Utf8, n),
    }
}

/// The first item of each list (the row builder's `source_ip`).
fn first_items(lists: &ArrayRef) -> ArrayRef {
    let l = lists.as_list::<i32>();
    let values = l.values().as_string::<i32>();
    let offsets = l.value_offsets();
    Arc::new(
        (0..l.len())
            .map(|i| {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                (l.is_valid(i) && start < end && values.is_valid(start)).then(|| values.value(start))
            })
            .collect::<StringArray>(),
    )
}

/// Each row's value of annotation `key` (the row builder's `AuditEvent::annotation`).
fn annotation_values(annotations: &ArrayRef, key: &str) -> ArrayRef {
    let m = annotations.as_map();
    let keys = m.keys().as_string::<i32>();
    let values = m.values().as_string::<i32>();
    let offsets = m.value_offsets();
    Arc::new(
        (0..m.len())
            .map(|i| {
                if m.is_null(i) {
                    return None;
                }
                (offsets[i] as usize..offsets[i + 1] as usize)
                    .find(|&j| values.is_valid(j) && keys.value(j) == key)
                    .map(|j| values.value(j))
            })
            .collect::<StringArray>(),
    )
}

fn utc_times(v: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(v).with_timezone("UTC"))
}

fn utc() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

fn opt(b: &mut StringBuilder, v: &Option<Text<'_>>) {
    b.append_option(v.as_deref());
}

pub(crate) fn list(b: &mut StringListBuilder, v: Option<&Vec<Text<'_>>>) {
    match v {
        Some(items) => {
            for i in items {
                b.values().append_value(i);
            }
            b.append(true);
        }
        None => b.append(false),
    }
}

/// A body column, built as string views: a body lying in text shared with
/// [`AuditEventBuilder::share_text`] (the landed event it was sliced from) becomes a view of that
/// text; any other is copied.
#[derive(Default)]
struct BodyBuilder {
    views: StringViewBuilder,
    /// The shared buffers' address ranges (start, length) and their block numbers in `views`.
    shared: Vec<(usize, usize, u32)>,
}

impl BodyBuilder {
    fn share(&mut self, buffers: &[Buffer]) {
        for b in buffers.iter().filter(|b| !b.is_empty()) {
            let block = self.views.append_block(b.clone());
            self.shared.push((b.as_ptr() as usize, b.len(), block));
        }
    }

    fn append(&mut self, body: Option<&str>) {
        let Some(body) = body else { return self.views.append_null() };
        // Views of up to 12 bytes hold their bytes inline.
        if body.len() > 12 {
            let at = body.as_ptr() as usize;
            let within = self.shared.iter().find(|&&(start, len, _)| at >= start && at + body.len() <= start + len);
            if let Some(&(start, _, block)) = within {
                if self.views.try_append_view(block, (at - start) as u32, body.len() as u32).is_ok() {
                    return;
                }
            }
        }
        self.views.append_value(body);
    }

    fn finish(&mut self) -> ArrayRef {
        self.shared.clear();
        Arc::new(self.views.finish())
    }
}

/// Finishes `b` and leaves it sized like the batch just built: the next batch is usually alike,
/// and regrowing the buffers value by value was a visible share of decoding.
fn finish_sized(b: &mut StringBuilder) -> ArrayRef {
    let a = b.finish();
    *b = StringBuilder::with_capacity(Array::len(&a), a.value_data().len());
    Arc::new(a)
}

pub(crate) fn pairs(b: &mut MapBuilder<StringBuilder, StringBuilder>, v: Option<&Vec<(Text<'_>, Text<'_>)>>) -> Result<()> {
    match v {
        Some(kv) => {
            for (k, v) in kv {
                b.keys().append_value(k);
                b.values().append_value(v);
            }
            b.append(true)?;
        }
        None => b.append(false)?,
    }
    Ok(())
}

pub(crate) fn list_pairs(b: &mut MapBuilder<StringBuilder, StringListBuilder>, v: Option<&Vec<(Text<'_>, Vec<Text<'_>>)>>) -> Result<()> {
    match v {
        Some(kv) => {
            for (k, vs) in kv {
                b.keys().append_value(k);
                list(b.values(), Some(vs));
            }
            b.append(true)?;
        }
        None => b.append(false)?,
    }
    Ok(())
}

impl AuditEventBuilder {
    /// A builder for rows of one source (`source` is the format name, `source_name` the configured name).
    pub fn new(source: &str, source_name: &str) -> Self {
        AuditEventBuilder {
            source: source.to_owned(),
            source_name: source_name.to_owned(),
            cloud_account: StringBuilder::new(),
            region: StringBuilder::new(),
            cluster: StringBuilder::new(),
            event_time: utc(),
            request_received_time: utc(),
            ingest_time: utc(),
            audit_id: StringBuilder::new(),
            stage: StringBuilder::new(),
            level: StringBuilder::new(),
            verb: StringBuilder::new(),
            request_uri: StringBuilder::new(),
            user_name: StringBuilder::new(),
            user_uid: StringBuilder::new(),
            user_groups: ListBuilder::new(StringBuilder::new()),
            user_extra: MapBuilder::new(None, StringBuilder::new(), ListBuilder::new(StringBuilder::new())),
            impersonated_user_name: StringBuilder::new(),
            impersonated_user_groups: ListBuilder::new(StringBuilder::new()),
            source_ips: ListBuilder::new(StringBuilder::new()),
            source_ip: StringBuilder::new(),
            user_agent: StringBuilder::new(),
            obj_api_group: StringBuilder::new(),
            obj_api_version: StringBuilder::new(),
            obj_resource: StringBuilder::new(),
            obj_subresource: StringBuilder::new(),
            obj_namespace: StringBuilder::new(),
            obj_name: StringBuilder::new(),
            response_code: Int32Builder::new(),
            response_status: StringBuilder::new(),
            response_reason: StringBuilder::new(),
            response_message: StringBuilder::new(),
            authz_decision: StringBuilder::new(),
            authz_reason: StringBuilder::new(),
            annotations: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
            request_object: BodyBuilder::default(),
            response_object: BodyBuilder::default(),
            flattened_extra: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
            lineage_object: StringBuilder::new(),
            lineage_row: Int64Builder::new(),
            len: 0,
            ready: Vec::new(),
        }
    }

    /// Lets the bodies of events parsed from `text` (until the next [`finish`](Self::finish)) be
    /// views of it instead of copies: the batch then shares `text`'s buffers.
    pub fn share_text(&mut self, text: &StrReader) {
        let buffers = text.buffers();
        self.request_object.share(&buffers);
        self.response_object.share(&buffers);
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one event. `event_time` is the resolved event time (the caller rejects events without one).
    pub fn append(
        &mut self,
        env: &Envelope<'_>,
        e: &AuditEvent<'_>,
        event_time: i64,
        lineage_object: &str,
        lineage_row: i64,
    ) -> Result<()> {
        opt(&mut self.cloud_account, &env.cloud_account);
        opt(&mut self.region, &env.region);
        opt(&mut self.cluster, &env.cluster);
        self.event_time.append_value(event_time);
        self.request_received_time.append_option(e.request_received_time);
        self.ingest_time.append_option(env.ingest_time);
        opt(&mut self.audit_id, &e.audit_id);
        opt(&mut self.stage, &e.stage);
        opt(&mut self.level, &e.level);
        opt(&mut self.verb, &e.verb);
        opt(&mut self.request_uri, &e.request_uri);
        opt(&mut self.user_name, &e.user.name);
        opt(&mut self.user_uid, &e.user.uid);
        list(&mut self.user_groups, e.user.groups.as_ref());
        list_pairs(&mut self.user_extra, e.user.extra.as_ref())?;
        let imp = e.impersonated_user.as_ref();
        self.impersonated_user_name
            .append_option(imp.and_then(|u: &UserInfo<'_>| u.name.as_deref()));
        list(&mut self.impersonated_user_groups, imp.and_then(|u| u.groups.as_ref()));
        list(&mut self.source_ips, e.source_ips.as_ref());
        self.source_ip
            .append_option(e.source_ips.as_ref().and_then(|ips| ips.first()).map(|s| s.as_ref()));
        opt(&mut self.user_agent, &e.user_agent);
        let o = &e.object_ref;
        opt(&mut self.obj_api_group, &o.api_group);
        opt(&mut self.obj_api_version, &o.api_version);
        opt(&mut self.obj_resource, &o.resource);
        opt(&mut self.obj_subresource, &o.subresource);
        opt(&mut self.obj_namespace, &o.namespace);
        opt(&mut self.obj_name, &o.name);
        self.response_code.append_option(e.response.code);
        opt(&mut self.response_status, &e.response.status);
        opt(&mut self.response_reason, &e.response.reason);
        opt(&mut self.response_message, &e.response.message);
        self.authz_decision.append_option(e.annotation(ANNOTATION_AUTHZ_DECISION));
        self.authz_reason.append_option(e.annotation(ANNOTATION_AUTHZ_REASON));
        pairs(&mut self.annotations, e.annotations.as_ref())?;
        self.request_object.append(e.request_object.as_deref());
        self.response_object.append(e.response_object.as_deref());
        pairs(&mut self.flattened_extra, e.flattened_extra.as_ref())?;
        self.lineage_object.append_value(lineage_object);
        self.lineage_row.append_value(lineage_row);
        self.len += 1;
        Ok(())
    }

    /// Adds a batch decoded column by column, keeping the rows `keep` keeps (all when `None`).
    /// Rows appended before it come out first.
    pub fn push_arrays(&mut self, env: &Envelope<'_>, a: EventArrays, keep: Option<&BooleanArray>, lineage_object: &str, first_row: i64) -> Result<()> {
        if self.len > 0 {
            let rows = self.finish()?;
            self.ready.push(rows);
        }
        let n = a.event_time.len();
        let source_ip = first_items(&a.source_ips);
        let authz_decision = annotation_values(&a.annotations, ANNOTATION_AUTHZ_DECISION);
        let authz_reason = annotation_values(&a.annotations, ANNOTATION_AUTHZ_REASON);
        let [api_group, api_version, resource, subresource, namespace, name] = a.object_ref;
        let [status, reason, message] = a.response;
        let columns: Vec<ArrayRef> = vec![
            repeated(Some(&self.source), n),
            repeated(Some(&self.source_name), n),
            repeated(env.cloud_account.as_deref(), n),
            repeated(env.region.as_deref(), n),
            repeated(env.cluster.as_deref(), n),
            utc_times(a.event_time.into_iter().map(Some)),
            utc_times(a.request_received_time),
            utc_times(std::iter::repeat_n(env.ingest_time, n)),
            a.audit_id,
            a.stage,
            a.level,
            a.verb,
            a.request_uri,
            a.user_name,
            a.user_uid,
            a.user_groups,
            a.user_extra,
            a.impersonated_user_name,
            a.impersonated_user_groups,
            a.source_ips,
            source_ip,
            a.user_agent,
            api_group,
            api_version,
            resource,
            subresource,
            namespace,
            name,
            a.response_code,
            status,
            reason,
            message,
            authz_decision,
            authz_reason,
            a.annotations,
            a.request_object,
            a.response_object,
            new_null_array(&map_of(DataType::Utf8), n),
            repeated(Some(lineage_object), n),
            Arc::new(Int64Array::from_iter_values(first_row..first_row + n as i64)),
        ];
        let batch = RecordBatch::try_new(audit_events_schema(), columns)?;
        self.ready.push(match keep {
            Some(k) if k.true_count() < n => filter_record_batch(&batch, k)?,
            _ => batch,
        });
        Ok(())
    }

    /// Every batch built since the last call, in order: those pushed whole, then the rows
    /// appended after them.
    pub fn finish_batches(&mut self) -> Result<Vec<RecordBatch>> {
        let mut out = std::mem::take(&mut self.ready);
        if self.len > 0 {
            out.push(self.finish()?);
        }
        Ok(out)
    }

    /// Returns the rows appended so far as a batch and resets the builder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let n = self.len;
        self.len = 0;
        let columns: Vec<ArrayRef> = vec![
            repeated(Some(&self.source), n),
            repeated(Some(&self.source_name), n),
            finish_sized(&mut self.cloud_account),
            finish_sized(&mut self.region),
            finish_sized(&mut self.cluster),
            Arc::new(self.event_time.finish()),
            Arc::new(self.request_received_time.finish()),
            Arc::new(self.ingest_time.finish()),
            finish_sized(&mut self.audit_id),
            finish_sized(&mut self.stage),
            finish_sized(&mut self.level),
            finish_sized(&mut self.verb),
            finish_sized(&mut self.request_uri),
            finish_sized(&mut self.user_name),
            finish_sized(&mut self.user_uid),
            Arc::new(self.user_groups.finish()),
            Arc::new(self.user_extra.finish()),
            finish_sized(&mut self.impersonated_user_name),
            Arc::new(self.impersonated_user_groups.finish()),
            Arc::new(self.source_ips.finish()),
            finish_sized(&mut self.source_ip),
            finish_sized(&mut self.user_agent),
            finish_sized(&mut self.obj_api_group),
            finish_sized(&mut self.obj_api_version),
            finish_sized(&mut self.obj_resource),
            finish_sized(&mut self.obj_subresource),
            finish_sized(&mut self.obj_namespace),
            finish_sized(&mut self.obj_name),
            Arc::new(self.response_code.finish()),
            finish_sized(&mut self.response_status),
            finish_sized(&mut self.response_reason),
            finish_sized(&mut self.response_message),
            finish_sized(&mut self.authz_decision),
            finish_sized(&mut self.authz_reason),
            Arc::new(self.annotations.finish()),
            self.request_object.finish(),
            self.response_object.finish(),
            Arc::new(self.flattened_extra.finish()),
            finish_sized(&mut self.lineage_object),
            Arc::new(self.lineage_row.finish()),
        ];
        Ok(RecordBatch::try_new(audit_events_schema(), columns)?)
    }
}
