//! The facts as SQL: UDFs (`k8s_identity_class`, `k8s_pod_facts`, ...) over Arrow arrays and the
//! fact views (`k8s_events`, `k8s_exec`, `k8s_pod_writes`, `k8s_rbac_writes`) rules read.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, ListBuilder, StringArray, StringBuilder, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::cast::as_string_array;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::{all_match, body_command, exec_command, identity_class, ip_class, like_any_regex, pod_facts, rbac_facts};

fn string_list_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn pod_facts_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("privileged", DataType::Boolean, true),
        Field::new("host_pid", DataType::Boolean, true),
        Field::new("host_network", DataType::Boolean, true),
        Field::new("host_ipc", DataType::Boolean, true),
        Field::new("run_as_root", DataType::Boolean, true),
        Field::new("host_paths", string_list_type(), true),
        Field::new("added_capabilities", string_list_type(), true),
        Field::new("images", string_list_type(), true),
        Field::new("service_account", DataType::Utf8, true),
    ]))
}

fn rbac_facts_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("role_ref_kind", DataType::Utf8, true),
        Field::new("role_ref_name", DataType::Utf8, true),
        Field::new("subjects", string_list_type(), true),
        Field::new("grants", string_list_type(), true),
        Field::new("verbs", string_list_type(), true),
        Field::new("resources", string_list_type(), true),
    ]))
}

fn arrays(args: &[ColumnarValue]) -> DfResult<Vec<ArrayRef>> {
    ColumnarValue::values_to_arrays(args)
}

fn push_list(b: &mut ListBuilder<StringBuilder>, items: &[String], valid: bool) {
    for i in items {
        b.values().append_value(i);
    }
    b.append(valid);
}

fn pod_facts_array(bodies: &[Option<&str>]) -> DfResult<ArrayRef> {
    let n = bodies.len();
    let mut bools: Vec<BooleanBuilder> = (0..5).map(|_| BooleanBuilder::with_capacity(n)).collect();
    let mut lists: Vec<ListBuilder<StringBuilder>> = (0..3).map(|_| ListBuilder::new(StringBuilder::new())).collect();
    let mut sa = StringBuilder::new();
    let mut valid = Vec::with_capacity(n);
    for i in 0..n {
        let f = bodies[i].and_then(pod_facts);
        valid.push(f.is_some());
        let f = f.unwrap_or_default();
        for (b, v) in bools.iter_mut().zip([f.privileged, f.host_pid, f.host_network, f.host_ipc, f.run_as_root]) {
            b.append_value(v);
        }
        for (b, v) in lists.iter_mut().zip([&f.host_paths, &f.added_capabilities, &f.images]) {
            push_list(b, v, true);
        }
        sa.append_option(f.service_account);
    }
    let DataType::Struct(fields) = pod_facts_type() else { unreachable!("pod facts type is a struct") };
    let mut cols: Vec<ArrayRef> = bools.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
    cols.extend(lists.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.push(Arc::new(sa.finish()));
    Ok(Arc::new(StructArray::try_new(fields, cols, Some(valid.into()))?))
}

fn rbac_facts_array(bodies: &[Option<&str>]) -> DfResult<ArrayRef> {
    let n = bodies.len();
    let (mut kind, mut name) = (StringBuilder::new(), StringBuilder::new());
    let mut lists: Vec<ListBuilder<StringBuilder>> = (0..4).map(|_| ListBuilder::new(StringBuilder::new())).collect();
    let mut valid = Vec::with_capacity(n);
    for i in 0..n {
        let f = bodies[i].and_then(rbac_facts);
        valid.push(f.is_some());
        let f = f.unwrap_or_default();
        kind.append_option(f.role_ref_kind);
        name.append_option(f.role_ref_name);
        for (b, v) in lists.iter_mut().zip([&f.subjects, &f.grants, &f.verbs, &f.resources]) {
            push_list(b, v, true);
        }
    }
    let DataType::Struct(fields) = rbac_facts_type() else { unreachable!("rbac facts type is a struct") };
    let mut cols: Vec<ArrayRef> = vec![Arc::new(kind.finish()), Arc::new(name.finish())];
    cols.extend(lists.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(Arc::new(StructArray::try_new(fields, cols, Some(valid.into()))?))
}

/// Registers the fact UDFs on `ctx`.
pub fn register_udfs(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "k8s_identity_class",
        vec![DataType::Utf8, string_list_type()],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| {
            let a = arrays(args)?;
            let users = as_string_array(&a[0])?;
            let groups = a[1].as_list::<i32>();
            let names = groups.values().as_string::<i32>();
            let offsets = groups.value_offsets();
            let mut row_groups: Vec<&str> = Vec::new();
            let out: StringArray = (0..users.len())
                .map(|i| {
                    row_groups.clear();
                    if groups.is_valid(i) {
                        let range = offsets[i] as usize..offsets[i + 1] as usize;
                        row_groups.extend(range.filter(|&j| names.is_valid(j)).map(|j| names.value(j)));
                    }
                    Some(identity_class(users.is_valid(i).then(|| users.value(i)), &row_groups))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    // A class is one of a few static names: no string is allocated per row.
    ctx.register_udf(text_udf("k8s_ip_class", DataType::Utf8, |ips| Ok(Arc::new(ips.iter().map(|ip| ip.map(ip_class)).collect::<StringArray>()))));
    ctx.register_udf(string_udf("k8s_exec_command", exec_command));
    ctx.register_udf(string_udf("k8s_body_command", body_command));
    ctx.register_udf(create_udf(
        "k8s_all_like",
        vec![string_list_type(), string_list_type()],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|args| {
            let a = arrays(args)?;
            let (values, patterns) = (a[0].as_list::<i32>(), a[1].as_list::<i32>());
            // The patterns are almost always one allow-list repeated on every row: compile them
            // once and reuse the matcher while they stay the same.
            let mut matcher: Option<(Vec<String>, Option<regex::Regex>)> = None;
            let out: datafusion::arrow::array::BooleanArray = (0..values.len())
                .map(|i| {
                    let p = list_strings(patterns, i);
                    if matcher.as_ref().is_none_or(|(prev, _)| *prev != p) {
                        let re = like_any_regex(&p.iter().map(String::as_str).collect::<Vec<_>>());
                        matcher = Some((p, re));
                    }
                    let re = matcher.as_ref().and_then(|(_, re)| re.as_ref());
                    Some(all_match(re, &list_strings(values, i)))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    ctx.register_udf(text_udf("k8s_pod_facts", pod_facts_type(), pod_facts_array));
    ctx.register_udf(text_udf("k8s_rbac_facts", rbac_facts_type(), rbac_facts_array));
}

fn list_strings(l: &datafusion::arrow::array::ListArray, row: usize) -> Vec<String> {
    if l.is_null(row) {
        return Vec::new();
    }
    let v = l.value(row);
    v.as_string::<i32>().iter().flatten().map(str::to_owned).collect()
}

/// A UDF mapping one text column to text, row by row (nulls stay null).
fn string_udf(name: &str, f: fn(&str) -> Option<String>) -> ScalarUDF {
    text_udf(name, DataType::Utf8, move |texts| Ok(Arc::new(texts.iter().map(|v| v.and_then(f)).collect::<StringArray>())))
}

/// A UDF of one text argument, `Utf8` or `Utf8View`: `audit_events` holds request bodies as
/// views, which a `Utf8`-only signature would copy into a new array first.
fn text_udf(name: &str, ty: DataType, f: impl Fn(&[Option<&str>]) -> DfResult<ArrayRef> + Send + Sync + 'static) -> ScalarUDF {
    let signature = Signature::uniform(1, vec![DataType::Utf8, DataType::Utf8View], Volatility::Immutable);
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        signature,
        ty,
        Arc::new(move |args| {
            let a = arrays(args)?;
            let texts: Vec<Option<&str>> = match a[0].data_type() {
                DataType::Utf8View => a[0].as_string_view().iter().collect(),
                _ => as_string_array(&a[0])?.iter().collect(),
            };
            Ok(ColumnarValue::Array(f(&texts)?))
        }),
    ))
}

/// The views rules read. Each adds facts to `audit_events` rows; none filters what a rule might need.
pub const FACT_VIEWS: &[(&str, &str)] = &[
    (
        "k8s_events",
        "SELECT *, user_name AS actor, k8s_identity_class(user_name, user_groups) AS actor_class, \
         k8s_ip_class(source_ip) AS source_ip_class, \
         coalesce(response_code BETWEEN 200 AND 399, false) AS succeeded \
         FROM audit_events",
    ),
    (
        "k8s_exec",
        "SELECT *, coalesce(k8s_exec_command(request_uri), k8s_body_command(request_object)) AS command FROM k8s_events \
         WHERE obj_resource = 'pods' AND obj_subresource IN ('exec', 'attach')",
    ),
    (
        "k8s_pod_writes",
        // One facts call per row: DataFusion eliminates the repeated identical UDF calls.
        "SELECT *, k8s_pod_facts(request_object)['privileged'] AS privileged, k8s_pod_facts(request_object)['host_pid'] AS host_pid, \
         k8s_pod_facts(request_object)['host_network'] AS host_network, k8s_pod_facts(request_object)['host_ipc'] AS host_ipc, \
         k8s_pod_facts(request_object)['run_as_root'] AS run_as_root, k8s_pod_facts(request_object)['host_paths'] AS host_paths, \
         k8s_pod_facts(request_object)['added_capabilities'] AS added_capabilities, k8s_pod_facts(request_object)['images'] AS images, \
         k8s_pod_facts(request_object)['service_account'] AS service_account \
         FROM k8s_events \
         WHERE obj_resource IN ('pods', 'deployments', 'daemonsets', 'statefulsets', 'replicasets', 'jobs', 'cronjobs') \
           AND obj_subresource IS NULL AND verb IN ('create', 'update', 'patch') AND request_object IS NOT NULL",
    ),
    (
        "k8s_rbac_writes",
        "SELECT *, k8s_rbac_facts(coalesce(response_object, request_object))['role_ref_kind'] AS role_ref_kind, \
         k8s_rbac_facts(coalesce(response_object, request_object))['role_ref_name'] AS role_ref_name, \
         k8s_rbac_facts(coalesce(response_object, request_object))['subjects'] AS subjects, \
         k8s_rbac_facts(coalesce(response_object, request_object))['grants'] AS grants, \
         k8s_rbac_facts(coalesce(response_object, request_object))['verbs'] AS rule_verbs, \
         k8s_rbac_facts(coalesce(response_object, request_object))['resources'] AS rule_resources \
         FROM k8s_events \
         WHERE obj_resource IN ('roles', 'clusterroles', 'rolebindings', 'clusterrolebindings')",
    ),
];

/// Registers the UDFs and the fact views over the session's `audit_events`.
pub async fn register(ctx: &SessionContext) -> crate::Result<()> {
    register_udfs(ctx);
    for (name, sql) in FACT_VIEWS {
        let view = ctx.sql(sql).await?.into_view();
        ctx.register_table(*name, view)?;
    }
    Ok(())
}
