//! The event-time window a query reads, `[from, to)`, and the window an `event_time` filter implies
//! (which prunes listing).

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use crate::normalize::schema::EVENT_TIME;

/// A query's event-time window, `[from, to)` in microseconds; either side may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl TimeWindow {
    /// Whether `t` lies in `[from, to)`.
    pub fn contains(&self, t: i64) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    /// Whether the open interval `(lo, hi)` meets the window.
    pub fn overlaps(&self, lo: i64, hi: i64) -> bool {
        self.from.is_none_or(|f| hi > f) && self.to.is_none_or(|e| lo < e)
    }

    pub(super) fn intersect(self, other: TimeWindow) -> TimeWindow {
        TimeWindow {
            from: match (self.from, other.from) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            to: match (self.to, other.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

fn timestamp_micros(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(x), _) => x.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(x), _) => Some(*x),
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(x / 1_000),
        _ => None,
    }
}

/// Event-time bounds implied by one filter (`event_time >= ts`, `<`, `BETWEEN`, ...).
pub(super) fn window_of(expr: &Expr) -> Option<TimeWindow> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col_left, lit) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) if c.name == EVENT_TIME => (true, timestamp_micros(v)?),
                (Expr::Literal(v, _), Expr::Column(c)) if c.name == EVENT_TIME => (false, timestamp_micros(v)?),
                _ => {
                    if *op == Operator::And {
                        let (l, r) = (window_of(left), window_of(right));
                        return match (l, r) {
                            (Some(l), Some(r)) => Some(l.intersect(r)),
                            (l, r) => l.or(r),
                        };
                    }
                    return None;
                }
            };
            let op = if col_left { *op } else { op.swap()? };
            match op {
                Operator::Gt | Operator::GtEq => Some(TimeWindow { from: Some(lit), to: None }),
                Operator::Lt => Some(TimeWindow { from: None, to: Some(lit) }),
                Operator::LtEq => Some(TimeWindow { from: None, to: Some(lit.saturating_add(1)) }),
                Operator::Eq => Some(TimeWindow { from: Some(lit), to: Some(lit.saturating_add(1)) }),
                _ => None,
            }
        }
        Expr::Between(b) if !b.negated => match (b.expr.as_ref(), b.low.as_ref(), b.high.as_ref()) {
            (Expr::Column(c), Expr::Literal(lo, _), Expr::Literal(hi, _)) if c.name == EVENT_TIME => Some(TimeWindow {
                from: Some(timestamp_micros(lo)?),
                to: Some(timestamp_micros(hi)?.saturating_add(1)),
            }),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(Some(v), Some("UTC".into())))
    }

    #[test]
    fn time_predicates_become_windows() {
        assert_eq!(window_of(&col(EVENT_TIME).gt_eq(ts(10))), Some(TimeWindow { from: Some(10), to: None }));
        assert_eq!(window_of(&ts(20).gt(col(EVENT_TIME))), Some(TimeWindow { from: None, to: Some(20) }));
        let both = col(EVENT_TIME).gt_eq(ts(10)).and(col(EVENT_TIME).lt(ts(20)));
        assert_eq!(window_of(&both), Some(TimeWindow { from: Some(10), to: Some(20) }));
        assert_eq!(window_of(&col("verb").eq(lit("get"))), None);
    }
}
