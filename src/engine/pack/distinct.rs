//! Pre-filter conjuncts on one string column, evaluated once per distinct value of a batch.
//!
//! Most of the pack's pre-filters test one low-cardinality column: `verb IN (...)`,
//! `obj_resource = 'secrets'`, `coalesce(user_agent, '') ~* '...'`. Evaluated row by row, a regex
//! runs a million times per million events; a batch of audit events holds a few dozen user agents.
//! So the column's distinct values are found once per batch (shared by every conjunct on it), the
//! conjunct runs over those, and each row takes its value's answer. A column with too many
//! distinct values in a batch (request URIs, audit ids) is evaluated row by row as before
//! ([`mask_of`]). The answers are remembered per value across batches, so once a stream's user
//! agents and verbs have been seen a conjunct costs a hash lookup per distinct value, and a regex
//! is not even compiled again (DataFusion compiles a pattern on every evaluation).

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::prep_null_mask_filter;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::HashMap;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, IsNotNullExpr, IsNullExpr, Literal, NotExpr};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_plan::PhysicalExpr;

/// A conjunct that reads a single string column, rewritten to read it from a one-column batch.
pub struct OnOneColumn {
    /// The column's index in the stream's schema.
    pub column: usize,
    /// The conjunct over a batch whose only column is that one.
    expr: Arc<dyn PhysicalExpr>,
    schema: SchemaRef,
    /// Whether it does more than compare the column with constants: see [`Self::worth_it`].
    costly: bool,
    /// Answers already known, shared by the stream's producers.
    memo: Mutex<Memo>,
}

/// A conjunct's answer (NULL counted as false) per value it has been evaluated on.
#[derive(Default)]
struct Memo {
    values: HashMap<String, bool>,
    null: Option<bool>,
}

/// Values a conjunct remembers before it forgets them all and starts again: a column with this
/// many values over the stream is not one where remembering pays.
const MEMO_VALUES: usize = 4096;

impl Memo {
    fn get(&self, value: Option<&str>) -> Option<bool> {
        match value {
            Some(v) => self.values.get(v).copied(),
            None => self.null,
        }
    }

    fn insert(&mut self, value: Option<&str>, answer: bool) {
        match value {
            Some(v) => {
                if self.values.len() >= MEMO_VALUES {
                    self.values.clear();
                }
                self.values.insert(v.to_owned(), answer);
            }
            None => self.null = Some(answer),
        }
    }
}

impl OnOneColumn {
    /// `Some` when `expr` reads exactly one column of `schema` and it is `Utf8`.
    pub fn of(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<Self> {
        let columns = collect_columns(expr);
        let mut columns = columns.iter();
        let (column, None) = (columns.next()?, columns.next()) else { return None };
        let field = schema.fields().get(column.index())?;
        if field.data_type() != &DataType::Utf8 {
            return None;
        }
        let index = column.index();
        let rewritten = Arc::clone(expr)
            .transform_up(|e| {
                Ok(match e.downcast_ref::<Column>() {
                    Some(c) => Transformed::yes(Arc::new(Column::new(c.name(), 0)) as Arc<dyn PhysicalExpr>),
                    None => Transformed::no(e),
                })
            })
            .ok()?
            .data;
        let schema = Arc::new(Schema::new(vec![Field::new(field.name(), DataType::Utf8, true)]));
        Some(OnOneColumn { column: index, expr: rewritten, schema, costly: costs_more_than_compares(expr), memo: Mutex::default() })
    }

    /// Whether evaluating it per distinct value pays for finding the values: always for a regex,
    /// `LIKE`, `IN` list, `CASE` or function; for a plain comparison (a few nanoseconds per row)
    /// only when `conjuncts_on_column` distinct conjuncts read the column, sharing the values.
    pub fn worth_it(&self, conjuncts_on_column: usize) -> bool {
        self.costly || conjuncts_on_column >= 4
    }

    /// The conjunct's mask over the batch whose column has these distinct values (SQL semantics:
    /// a NULL result does not keep the row); `None` when it cannot be evaluated. Only values not
    /// seen in an earlier batch are evaluated.
    pub fn mask(&self, distinct: &DistinctValues) -> Option<BooleanArray> {
        let values = distinct.values.as_string::<i32>();
        let value = |i: usize| values.is_valid(i).then(|| values.value(i));
        let mut answers: Vec<Option<bool>> = {
            let memo = self.memo.lock().ok()?;
            (0..values.len()).map(|i| memo.get(value(i))).collect()
        };
        let unknown: Vec<usize> = (0..values.len()).filter(|&i| answers[i].is_none()).collect();
        if !unknown.is_empty() {
            // Evaluated outside the lock: the stream's other producer may be evaluating too.
            let missing: StringArray = unknown.iter().map(|&i| value(i)).collect();
            let batch = RecordBatch::try_new(Arc::clone(&self.schema), vec![Arc::new(missing)]).ok()?;
            let evaluated = mask_of(&self.expr, &batch)?;
            let mut memo = self.memo.lock().ok()?;
            for (j, &i) in unknown.iter().enumerate() {
                answers[i] = Some(evaluated.value(j));
                memo.insert(value(i), evaluated.value(j));
            }
        }
        let answers: Vec<bool> = answers.into_iter().map(|a| a.unwrap_or(false)).collect();
        let keys = distinct.keys.values();
        Some(BooleanArray::new(BooleanBuffer::collect_bool(keys.len(), |row| answers[keys[row] as usize]), None))
    }
}

/// Evaluates a predicate to a mask; `None` when it cannot be evaluated (the plan filters again).
pub fn mask_of(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Option<BooleanArray> {
    let value = expr.evaluate(batch).and_then(|v| v.into_array(batch.num_rows())).ok()?;
    let mask = value.as_boolean_opt()?;
    // SQL semantics: a NULL predicate does not keep the row.
    Some(match mask.nulls() {
        Some(_) => prep_null_mask_filter(mask),
        None => mask.clone(),
    })
}

/// Whether `expr` holds anything beyond columns, literals, comparisons, null tests and boolean
/// logic: a regex, `LIKE`, an `IN` list (hashed per row), `CASE`, a function call or a cast.
fn costs_more_than_compares(expr: &Arc<dyn PhysicalExpr>) -> bool {
    let plain = expr.downcast_ref::<Column>().is_some()
        || expr.downcast_ref::<Literal>().is_some()
        || expr.downcast_ref::<IsNullExpr>().is_some()
        || expr.downcast_ref::<IsNotNullExpr>().is_some()
        || expr.downcast_ref::<NotExpr>().is_some()
        || expr.downcast_ref::<BinaryExpr>().is_some_and(|b| {
            matches!(
                b.op(),
                Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq | Operator::And | Operator::Or | Operator::IsDistinctFrom | Operator::IsNotDistinctFrom
            )
        });
    !plain || expr.children().into_iter().any(costs_more_than_compares)
}

/// The distinct values of one string column of a batch.
pub struct DistinctValues {
    /// Each distinct value once; a null last when the column has nulls.
    values: ArrayRef,
    /// For each row of the batch, its value's index in `values`.
    keys: UInt32Array,
}

impl DistinctValues {
    /// `None` when `column` is not a `Utf8` array or has more distinct values than a few per
    /// row (then evaluating per row is as cheap).
    pub fn of(column: &ArrayRef) -> Option<Self> {
        let strings = column.as_string_opt::<i32>()?;
        let limit = strings.len() / 8 + 16;
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        let mut keys: Vec<u32> = Vec::with_capacity(strings.len());
        let mut has_null = false;
        for value in strings.iter() {
            match value {
                Some(s) => {
                    let next = distinct.len() as u32;
                    let key = *index.entry(s).or_insert(next);
                    if key == next {
                        if distinct.len() == limit {
                            return None;
                        }
                        distinct.push(s);
                    }
                    keys.push(key);
                }
                None => {
                    has_null = true;
                    keys.push(u32::MAX);
                }
            }
        }
        if has_null {
            let null_key = distinct.len() as u32;
            for k in keys.iter_mut().filter(|k| **k == u32::MAX) {
                *k = null_key;
            }
        }
        let values: StringArray = distinct.iter().map(|s| Some(*s)).chain(has_null.then_some(None)).collect();
        Some(DistinctValues { values: Arc::new(values), keys: UInt32Array::from(keys) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::DFSchema;
    use datafusion::logical_expr::{Operator, binary_expr};
    use datafusion::prelude::{SessionContext, col, lit, when};

    fn conjunct(expr: datafusion::prelude::Expr, schema: &Schema) -> Arc<dyn PhysicalExpr> {
        let ctx = SessionContext::new();
        let df_schema = DFSchema::try_from(schema.clone()).unwrap();
        ctx.create_physical_expr(expr, &df_schema).unwrap()
    }

    fn schema() -> Schema {
        Schema::new(vec![Field::new("code", DataType::Int32, true), Field::new("agent", DataType::Utf8, true), Field::new("verb", DataType::Utf8, true)])
    }

    fn batch_of(agents: Vec<Option<&str>>) -> RecordBatch {
        let n = agents.len();
        let codes = datafusion::arrow::array::Int32Array::from(vec![200; n]);
        let verbs: StringArray = (0..n).map(|i| Some(if i % 2 == 0 { "get" } else { "list" })).collect();
        RecordBatch::try_new(Arc::new(schema()), vec![Arc::new(codes), Arc::new(StringArray::from(agents)), Arc::new(verbs)]).unwrap()
    }

    /// Per distinct value and per row give the same mask, nulls included.
    #[test]
    fn per_value_equals_per_row() {
        let mut agents: Vec<Option<&str>> = Vec::new();
        for i in 0..400 {
            agents.push(match i % 5 {
                0 => Some("curl/8.1"),
                1 => None,
                2 => Some("kubectl/v1.30"),
                3 => Some("python-requests/2.31"),
                _ => Some("Curl-ish"),
            });
        }
        let batch = batch_of(agents);
        let exprs = [
            binary_expr(when(col("agent").is_not_null(), col("agent")).otherwise(lit("")).unwrap(), Operator::RegexIMatch, lit("^(curl|python)")),
            binary_expr(col("agent"), Operator::RegexNotMatch, lit("^kubectl")),
            col("agent").ilike(lit("curl%")),
            col("agent").like(lit("%ish")).or(col("agent").is_null()),
        ];
        for e in exprs {
            let expr = conjunct(e.clone(), &schema());
            let one = OnOneColumn::of(&expr, &schema()).unwrap_or_else(|| panic!("{e} reads one column"));
            assert_eq!(one.column, 1);
            let distinct = DistinctValues::of(batch.column(1)).expect("few distinct values");
            assert_eq!(distinct.values.len(), 5);
            let per_row = mask_of(&expr, &batch).unwrap();
            assert_eq!(one.mask(&distinct).unwrap(), per_row, "{e}");
            // Again, now from the answers remembered, and on a batch with a value not seen yet.
            assert_eq!(one.mask(&distinct).unwrap(), per_row, "{e} remembered");
            let mut more = vec![Some("wget/1.21"), Some("curl/8.1"), None, Some("kubectl/v1.30")];
            more.extend([Some("Curl-ish"); 30]);
            let more = batch_of(more);
            let distinct = DistinctValues::of(more.column(1)).expect("few distinct values");
            assert_eq!(one.mask(&distinct).unwrap(), mask_of(&expr, &more).unwrap(), "{e} new value");
        }
    }

    #[test]
    fn only_single_string_column_conjuncts_qualify() {
        let s = schema();
        assert!(OnOneColumn::of(&conjunct(col("code").eq(lit(200)), &s), &s).is_none());
        assert!(OnOneColumn::of(&conjunct(col("agent").eq(col("verb")), &s), &s).is_none());
        let like = OnOneColumn::of(&conjunct(col("verb").like(lit("g%")), &s), &s).unwrap();
        assert_eq!(like.column, 2);
        assert!(like.worth_it(1));
        assert!(OnOneColumn::of(&conjunct(col("verb").in_list(vec![lit("get")], false), &s), &s).unwrap().worth_it(1));
        // A plain comparison costs less per row than finding the values, unless they are shared.
        let plain = OnOneColumn::of(&conjunct(col("verb").eq(lit("get")).or(col("verb").is_null()), &s), &s).unwrap();
        assert!(!plain.worth_it(1) && plain.worth_it(4));
    }

    #[test]
    fn many_distinct_values_are_left_to_per_row_evaluation() {
        let uris: Vec<String> = (0..1000).map(|i| format!("/api/v1/pods/{i}")).collect();
        let column: ArrayRef = Arc::new(StringArray::from_iter_values(uris.iter()));
        assert!(DistinctValues::of(&column).is_none());
    }
}
