//! Allow-list subqueries become constants before a statement is planned.
//!
//! Rules read their allow-lists with subqueries: `obj_namespace IN (SELECT value FROM allowlist
//! WHERE list = 'system_namespaces')`, `k8s_all_like(images, (SELECT array_agg(value) FROM
//! allowlist WHERE ...))`. DataFusion plans those as joins and scalar-subquery operators, which
//! hide the predicate from the scan (nothing is pushed down, so every row the other predicates
//! keep reaches the rule's plan) and cannot fold a rule that is off by configuration (`(SELECT
//! count(*) FROM allowlist WHERE list = 'approved_images') > 0`) into an empty plan. The
//! `allowlist` table is fixed for the life of a session, so each such subquery is run once here
//! and replaced by its value: a literal, an `IN` list, or `true`/`false` for `EXISTS`. The
//! statement then means exactly what it meant, and plans like one written with literals.

use std::collections::HashMap;
use std::sync::Mutex;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::expr::{Exists, InList, InSubquery};
use datafusion::logical_expr::{Expr, LogicalPlan, Subquery};
use datafusion::prelude::SessionContext;

use crate::rules::allowlists::ALLOWLIST_TABLE;

/// Plans `sql` on `ctx` with every uncorrelated subquery that reads only the allow-list table
/// replaced by its value.
pub async fn plan_sql(ctx: &SessionContext, sql: &str) -> DfResult<DataFrame> {
    plan_sql_with(ctx, sql, &SubqueryValues::default()).await
}

/// The values of allow-list subqueries already run on one session, for statements planned on
/// it: rules repeat the same few subqueries (`system_namespaces` alone in 18 rules), and running
/// each was a third of turning a rule's SQL into a logical plan.
#[derive(Debug, Default)]
pub struct SubqueryValues(Mutex<HashMap<Subquery, (Vec<ScalarValue>, ScalarValue)>>);

impl SubqueryValues {
    fn get(&self, sq: &Subquery) -> Option<(Vec<ScalarValue>, ScalarValue)> {
        self.0.lock().expect("subquery values lock poisoned").get(sq).cloned()
    }

    fn insert(&self, sq: Subquery, value: (Vec<ScalarValue>, ScalarValue)) {
        self.0.lock().expect("subquery values lock poisoned").insert(sq, value);
    }
}

/// [`plan_sql`], taking subquery values from `known` and adding those it runs. `known` must
/// hold only values computed on `ctx` (or a session with the same allow-lists).
pub async fn plan_sql_with(ctx: &SessionContext, sql: &str, known: &SubqueryValues) -> DfResult<DataFrame> {
    let (state, plan) = ctx.sql(sql).await?.into_parts();
    let mut found: Vec<Subquery> = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Some(sq) = subquery_of(e)
                    && reads_only_allowlist(sq)
                    && !found.contains(sq)
                {
                    found.push(sq.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    if found.is_empty() {
        return Ok(DataFrame::new(state, plan));
    }
    // Each subquery's rows, and the NULL of its type (a scalar subquery without rows).
    let mut values: Vec<(Subquery, Vec<ScalarValue>, ScalarValue)> = Vec::with_capacity(found.len());
    for sq in found {
        if let Some((rows, null)) = known.get(&sq) {
            values.push((sq, rows, null));
            continue;
        }
        let schema = sq.subquery.schema();
        if schema.fields().len() != 1 {
            // Not a one-column result: left to DataFusion, which reports it.
            continue;
        }
        let null = ScalarValue::try_from(schema.field(0).data_type())?;
        let batches = DataFrame::new(state.clone(), sq.subquery.as_ref().clone()).collect().await?;
        let mut rows = Vec::new();
        for b in &batches {
            for row in 0..b.num_rows() {
                rows.push(ScalarValue::try_from_array(b.column(0), row)?);
            }
        }
        known.insert(sq.clone(), (rows.clone(), null.clone()));
        values.push((sq, rows, null));
    }
    let plan = plan
        .transform_up_with_subqueries(|node| {
            node.map_expressions(|e| {
                e.transform_up(|e| {
                    let Some(sq) = subquery_of(&e) else { return Ok(Transformed::no(e)) };
                    let Some((_, rows, null)) = values.iter().find(|(s, _, _)| s == sq) else { return Ok(Transformed::no(e)) };
                    Ok(match e {
                        Expr::ScalarSubquery(_) => match rows.as_slice() {
                            [] => Transformed::yes(Expr::Literal(null.clone(), None)),
                            [one] => Transformed::yes(Expr::Literal(one.clone(), None)),
                            // More than one row is an error DataFusion reports when it runs.
                            _ => Transformed::no(e),
                        },
                        Expr::InSubquery(InSubquery { expr, negated, .. }) => {
                            let list = rows.iter().map(|v| Expr::Literal(v.clone(), None)).collect();
                            Transformed::yes(Expr::InList(InList::new(expr, list, negated)))
                        }
                        Expr::Exists(Exists { negated, .. }) => Transformed::yes(Expr::Literal(ScalarValue::Boolean(Some(rows.is_empty() == negated)), None)),
                        e => Transformed::no(e),
                    })
                })
            })
        })?
        .data;
    Ok(DataFrame::new(state, plan))
}

fn subquery_of(e: &Expr) -> Option<&Subquery> {
    match e {
        Expr::ScalarSubquery(sq) | Expr::InSubquery(InSubquery { subquery: sq, .. }) | Expr::Exists(Exists { subquery: sq, .. }) => Some(sq),
        _ => None,
    }
}

/// Whether `sq` is uncorrelated and every table it reads is the allow-list table.
fn reads_only_allowlist(sq: &Subquery) -> bool {
    if !sq.outer_ref_columns.is_empty() {
        return false;
    }
    let (mut allowlist, mut other) = (false, false);
    let _ = sq.subquery.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if scan.table_name.table() == ALLOWLIST_TABLE && scan.table_name.schema().is_none() {
                allowlist = true;
            } else {
                other = true;
            }
        }
        if let LogicalPlan::Subquery(s) = node
            && !s.outer_ref_columns.is_empty()
        {
            other = true;
        }
        Ok(TreeNodeRecursion::Continue)
    });
    allowlist && !other
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::session::register_allowlists;
    use crate::rules::Allowlists;

    async fn session() -> SessionContext {
        let ctx = SessionContext::new();
        let lists = Allowlists([("ns".to_owned(), vec!["kube-system".to_owned(), "gke-system".to_owned()]), ("empty".to_owned(), vec![])].into_iter().collect());
        register_allowlists(&ctx, &lists).unwrap();
        ctx.sql("CREATE TABLE t(ns VARCHAR, n INT) AS VALUES ('kube-system', 1), ('default', 2), (NULL, 3)").await.unwrap();
        ctx
    }

    async fn rows(df: DataFrame) -> Vec<String> {
        let batches = df.collect().await.unwrap();
        datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string().lines().map(str::to_owned).collect()
    }

    /// Inlined or not, every form of allow-list subquery returns the same rows, NULLs and empty
    /// lists included; and the inlined plan has no subquery left.
    #[tokio::test]
    async fn inlined_statements_mean_what_they_meant() {
        let ctx = session().await;
        let statements = [
            "SELECT n FROM t WHERE ns IN (SELECT value FROM allowlist WHERE list = 'ns') ORDER BY n",
            "SELECT n FROM t WHERE ns NOT IN (SELECT value FROM allowlist WHERE list = 'ns') ORDER BY n",
            "SELECT n FROM t WHERE ns NOT IN (SELECT value FROM allowlist WHERE list = 'empty') ORDER BY n",
            "SELECT n FROM t WHERE ns IN (SELECT value FROM allowlist WHERE list = 'empty') ORDER BY n",
            "SELECT n FROM t WHERE (SELECT count(*) FROM allowlist WHERE list = 'empty') > 0 ORDER BY n",
            "SELECT n, (SELECT array_agg(value) FROM allowlist WHERE list = 'ns') AS l FROM t ORDER BY n",
            "SELECT n, (SELECT array_agg(value) FROM allowlist WHERE list = 'empty') AS l FROM t ORDER BY n",
            "SELECT n FROM t WHERE EXISTS (SELECT 1 FROM allowlist WHERE list = 'ns') ORDER BY n",
            "SELECT n FROM t WHERE NOT EXISTS (SELECT 1 FROM allowlist WHERE list = 'empty') ORDER BY n",
        ];
        for sql in statements {
            let inlined = plan_sql(&ctx, sql).await.unwrap();
            let text = inlined.logical_plan().display_indent().to_string();
            assert!(!text.contains("Subquery") && !text.contains("allowlist"), "{sql}: {text}");
            let expected = rows(ctx.sql(sql).await.unwrap()).await;
            assert_eq!(rows(inlined).await, expected, "{sql}");
        }
    }

    /// A subquery run for one statement is not run again for the next statement planned with the
    /// same known values: they are taken from there.
    #[tokio::test]
    async fn known_subquery_values_are_reused() {
        let ctx = session().await;
        let known = SubqueryValues::default();
        let first = "SELECT n FROM t WHERE ns IN (SELECT value FROM allowlist WHERE list = 'ns') ORDER BY n";
        let second = "SELECT n * 10 AS m FROM t WHERE ns NOT IN (SELECT value FROM allowlist WHERE list = 'ns') \
                      AND (SELECT count(*) FROM allowlist WHERE list = 'empty') = 0 ORDER BY m";
        assert_eq!(rows(plan_sql_with(&ctx, first, &known).await.unwrap()).await, rows(ctx.sql(first).await.unwrap()).await);
        assert_eq!(known.0.lock().unwrap().len(), 1);
        // The second statement reads the first one's values, and runs only its new subquery.
        for (rows, _) in known.0.lock().unwrap().values_mut() {
            *rows = vec![ScalarValue::Utf8(Some("default".to_owned()))];
        }
        let from_known = rows(plan_sql_with(&ctx, second, &known).await.unwrap()).await;
        assert_eq!(known.0.lock().unwrap().len(), 2);
        let expected = rows(ctx.sql("SELECT n * 10 AS m FROM t WHERE ns NOT IN ('default') ORDER BY m").await.unwrap()).await;
        assert_eq!(from_known, expected);
        assert_ne!(from_known, rows(plan_sql(&ctx, second).await.unwrap()).await);
    }

    /// Correlated subqueries and subqueries over other tables are left to DataFusion.
    #[tokio::test]
    async fn other_subqueries_are_left_alone() {
        let ctx = session().await;
        for sql in [
            "SELECT n FROM t WHERE ns IN (SELECT ns FROM t WHERE n > 1)",
            "SELECT n FROM t AS o WHERE EXISTS (SELECT 1 FROM allowlist WHERE value = o.ns)",
        ] {
            let df = plan_sql(&ctx, sql).await.unwrap();
            assert!(df.logical_plan().display_indent().to_string().contains("Subquery"), "{sql}");
        }
    }
}
