//! Typed access to landed Parquet columns whatever their exact shape: nested camelCase structs
//! (Spark/Glue), lower-cased (Firehose record-format conversion), flattened (`objectref_resource`),
//! strings or timestamps, maps or JSON text. Each reader is resolved once per batch and then read
//! row by row without further lookups.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, Int64Array, OffsetSizeTrait, RecordBatch,
    StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Int64Type, Schema, TimeUnit, UInt64Type};
use datafusion::arrow::json::writer::LineDelimitedWriter;

use super::json_event::FieldError;
use super::record::Text;
use super::time::{EVENT_TIME_RANGE, parse_event_time, supported_event_time};
use crate::Result;

/// The children of a record batch or of a struct column, found by case-insensitive path.
#[derive(Clone)]
pub struct ColumnTree {
    names: Vec<String>,
    arrays: Vec<ArrayRef>,
}

fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl ColumnTree {
    pub fn from_batch(batch: &RecordBatch) -> Self {
        ColumnTree {
            names: batch.schema().fields().iter().map(|f| f.name().clone()).collect(),
            arrays: batch.columns().to_vec(),
        }
    }

    pub fn from_struct(s: &StructArray) -> Self {
        ColumnTree {
            names: s.fields().iter().map(|f| f.name().clone()).collect(),
            arrays: s.columns().to_vec(),
        }
    }

    fn child(&self, name: &str) -> Option<&ArrayRef> {
        self.names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| &self.arrays[i])
    }

    /// Finds `path` nested (`objectRef` → `resource`) or flattened into one column
    /// (`objectref_resource`, `objectRef.resource`, `object_ref_resource`), ignoring case.
    pub fn find(&self, path: &[&str]) -> Option<ArrayRef> {
        if let Some(found) = self.find_nested(path) {
            return Some(found);
        }
        if path.len() > 1 {
            let snake_path: Vec<String> = path.iter().map(|p| snake(p)).collect();
            for joined in [path.join("_"), path.join("."), snake_path.join("_")] {
                if let Some(a) = self.child(&joined) {
                    return Some(Arc::clone(a));
                }
            }
        } else if let Some(a) = self.child(&snake(path[0])) {
            return Some(Arc::clone(a));
        }
        None
    }

    fn find_nested(&self, path: &[&str]) -> Option<ArrayRef> {
        let first = self.child(path[0])?;
        if path.len() == 1 {
            return Some(Arc::clone(first));
        }
        let s = first.as_struct_opt()?;
        let inner = ColumnTree::from_struct(s);
        let found = inner.find(&path[1..])?;
        // A null parent struct makes its children null too.
        Some(match s.nulls() {
            Some(parent) => with_extra_nulls(&found, parent),
            None => found,
        })
    }

    /// True when the tree has a column for `path`.
    pub fn has(&self, path: &[&str]) -> bool {
        self.find(path).is_some()
    }
}

fn with_extra_nulls(a: &ArrayRef, parent: &NullBuffer) -> ArrayRef {
    let merged = NullBuffer::union(a.nulls(), Some(parent));
    match a.to_data().into_builder().nulls(merged).build() {
        Ok(data) => datafusion::arrow::array::make_array(data),
        Err(_) => Arc::clone(a),
    }
}

/// A string column of any string encoding; other scalar types are cast to text once per batch.
pub enum StrReader {
    Missing,
    Utf8(datafusion::arrow::array::StringArray),
    Large(datafusion::arrow::array::LargeStringArray),
    View(datafusion::arrow::array::StringViewArray),
}

impl StrReader {
    pub fn new(a: Option<ArrayRef>) -> Result<Self> {
        let Some(a) = a else { return Ok(StrReader::Missing) };
        Ok(match a.data_type() {
            DataType::Utf8 => StrReader::Utf8(a.as_string::<i32>().clone()),
            DataType::LargeUtf8 => StrReader::Large(a.as_string::<i64>().clone()),
            DataType::Utf8View => StrReader::View(a.as_string_view().clone()),
            DataType::Null => StrReader::Missing,
            _ => StrReader::Utf8(cast(&a, &DataType::Utf8)?.as_string::<i32>().clone()),
        })
    }

    pub fn get(&self, row: usize) -> Option<&str> {
        match self {
            StrReader::Missing => None,
            StrReader::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            StrReader::Large(a) => a.is_valid(row).then(|| a.value(row)),
            StrReader::View(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }

    pub fn text(&self, row: usize) -> Option<Text<'_>> {
        self.get(row).map(Cow::Borrowed)
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, StrReader::Missing)
    }

    /// The buffers holding the column's text.
    pub fn buffers(&self) -> Vec<datafusion::arrow::buffer::Buffer> {
        match self {
            StrReader::Missing => Vec::new(),
            StrReader::Utf8(a) => vec![a.values().clone()],
            StrReader::Large(a) => vec![a.values().clone()],
            StrReader::View(a) => a.data_buffers().to_vec(),
        }
    }
}

/// An integer column (any integer, float or numeric-string type).
pub struct IntReader(Option<Int64Array>);

impl IntReader {
    pub fn new(a: Option<ArrayRef>) -> Result<Self> {
        Ok(IntReader(match a {
            Some(a) if a.data_type() != &DataType::Null => {
                Some(cast(&a, &DataType::Int64)?.as_primitive().clone())
            }
            _ => None,
        }))
    }

    pub fn get(&self, row: usize) -> Option<i64> {
        self.0.as_ref().and_then(|a| a.is_valid(row).then(|| a.value(row)))
    }
}

/// What one count of an epoch time column is: how a bare integer column counts (the caller says),
/// or the unit of an Arrow date or timestamp column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochUnit {
    Days,
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl EpochUnit {
    fn of(unit: TimeUnit) -> Self {
        match unit {
            TimeUnit::Second => EpochUnit::Seconds,
            TimeUnit::Millisecond => EpochUnit::Millis,
            TimeUnit::Microsecond => EpochUnit::Micros,
            TimeUnit::Nanosecond => EpochUnit::Nanos,
        }
    }

    /// `count` of this unit in microseconds, `None` when that overflows `i64`.
    fn to_micros(self, count: i64) -> Option<i64> {
        match self {
            EpochUnit::Days => count.checked_mul(86_400_000_000),
            EpochUnit::Seconds => count.checked_mul(1_000_000),
            EpochUnit::Millis => count.checked_mul(1000),
            EpochUnit::Micros => Some(count),
            // Truncating, as Arrow's timestamp cast does.
            EpochUnit::Nanos => Some(count / 1000),
        }
    }

    fn name(self) -> &'static str {
        match self {
            EpochUnit::Days => "days",
            EpochUnit::Seconds => "seconds",
            EpochUnit::Millis => "milliseconds",
            EpochUnit::Micros => "microseconds",
            EpochUnit::Nanos => "nanoseconds",
        }
    }
}

/// A time column: Arrow timestamps of any unit, dates, epoch integers, or text in any format
/// [`parse_timestamp_micros`](super::time::parse_timestamp_micros) accepts. Every time it returns is a
/// [supported event time](supported_event_time); any other is an error naming the field.
pub enum TimeReader {
    Missing,
    /// Counts in their landed unit, converted row by row: an Arrow cast of the whole column would
    /// turn a count that overflows microseconds into a null (an event without a time, or one filed
    /// under its wrapper's time) and a multiplication would wrap it.
    Epoch(Int64Array, EpochUnit, String),
    Text(StrReader, String),
}

impl TimeReader {
    /// `field` names the column in errors; `int_unit` says how bare integers count.
    pub fn new(a: Option<ArrayRef>, field: &str, int_unit: EpochUnit) -> Result<Self> {
        let Some(a) = a else { return Ok(TimeReader::Missing) };
        let counts = |a: &ArrayRef| -> Result<Int64Array> { Ok(cast(a, &DataType::Int64)?.as_primitive().clone()) };
        let epoch = |counts: Int64Array, unit: EpochUnit| TimeReader::Epoch(counts, unit, field.to_owned());
        Ok(match a.data_type() {
            DataType::Null => TimeReader::Missing,
            DataType::Timestamp(unit, _) => epoch(counts(&a)?, EpochUnit::of(*unit)),
            DataType::Date32 => epoch(a.as_primitive::<Date32Type>().unary::<_, Int64Type>(i64::from), EpochUnit::Days),
            DataType::Date64 => epoch(counts(&a)?, EpochUnit::Millis),
            // A cast would null the counts past `i64::MAX`; saturated, they stay out of range.
            DataType::UInt64 => epoch(a.as_primitive::<UInt64Type>().unary::<_, Int64Type>(|v| i64::try_from(v).unwrap_or(i64::MAX)), int_unit),
            DataType::Int64 | DataType::Int32 | DataType::UInt32 => epoch(counts(&a)?, int_unit),
            _ => TimeReader::Text(StrReader::new(Some(a))?, field.to_owned()),
        })
    }

    /// The time in microseconds, `Ok(None)` when absent, an error naming the field when it does not
    /// parse or lies outside the supported range.
    pub fn get(&self, row: usize) -> Result<Option<i64>, FieldError> {
        match self {
            TimeReader::Missing => Ok(None),
            TimeReader::Epoch(counts, unit, field) => {
                if counts.is_null(row) {
                    return Ok(None);
                }
                let count = counts.value(row);
                unit.to_micros(count).and_then(supported_event_time).map(Some).ok_or_else(|| {
                    FieldError::new(field.clone(), format!("{count} {} since the epoch is outside the supported range {EVENT_TIME_RANGE}", unit.name()))
                })
            }
            TimeReader::Text(s, field) => match s.get(row) {
                None | Some("") => Ok(None),
                Some(t) => parse_event_time(field, t).map(Some),
            },
        }
    }
}

/// Offsets and validity of a list or map column, independent of its offset width.
pub struct Offsets {
    offsets: Vec<usize>,
    nulls: Option<NullBuffer>,
    /// The list or map array itself, for whole-column conversion.
    whole: ArrayRef,
}

impl Offsets {
    fn of_list<O: OffsetSizeTrait>(l: &GenericListArray<O>, whole: &ArrayRef) -> Self {
        Offsets {
            offsets: l.value_offsets().iter().map(|o| o.as_usize()).collect(),
            nulls: l.nulls().cloned(),
            whole: Arc::clone(whole),
        }
    }

    fn range(&self, row: usize) -> Option<std::ops::Range<usize>> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return None;
        }
        Some(self.offsets[row]..self.offsets[row + 1])
    }
}

fn list_parts(a: &ArrayRef) -> Option<(Offsets, ArrayRef)> {
    match a.data_type() {
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            Some((Offsets::of_list(l, a), Arc::clone(l.values())))
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>();
            Some((Offsets::of_list(l, a), Arc::clone(l.values())))
        }
        _ => None,
    }
}

/// A list of strings; a list of structs reads one named child (OCSF `groups[].name`);
/// a plain string is a one-element list; JSON array text is decoded.
pub enum StrListReader {
    Missing,
    List(Offsets, StrReader),
    Scalar(StrReader),
}

impl StrListReader {
    pub fn new(a: Option<ArrayRef>, struct_child: Option<&str>) -> Result<Self> {
        let Some(a) = a else { return Ok(StrListReader::Missing) };
        if let Some((offsets, values)) = list_parts(&a) {
            let values = match (values.as_struct_opt(), struct_child) {
                (Some(s), Some(child)) => ColumnTree::from_struct(s).find(&[child]),
                (Some(_), None) => None,
                (None, _) => Some(values),
            };
            return Ok(StrListReader::List(offsets, StrReader::new(values)?));
        }
        if a.data_type() == &DataType::Null {
            return Ok(StrListReader::Missing);
        }
        Ok(StrListReader::Scalar(StrReader::new(Some(a))?))
    }

    pub fn get(&self, row: usize) -> Option<Vec<Text<'_>>> {
        match self {
            StrListReader::Missing => None,
            StrListReader::List(o, values) => {
                let r = o.range(row)?;
                Some(r.filter_map(|i| values.text(i)).collect())
            }
            StrListReader::Scalar(s) => {
                let v = s.get(row)?;
                if v.trim_start().starts_with('[') {
                    let parsed: Vec<Option<String>> = serde_json::from_str(v).ok()?;
                    return Some(parsed.into_iter().flatten().map(Cow::Owned).collect());
                }
                Some(vec![Cow::Borrowed(v)])
            }
        }
    }

    /// The first element, for list-of-struct columns read one child at a time.
    pub fn first(&self, row: usize) -> Option<Text<'_>> {
        match self {
            StrListReader::List(o, values) => {
                let r = o.range(row)?;
                if r.is_empty() { None } else { values.text(r.start) }
            }
            _ => self.get(row).and_then(|v| v.into_iter().next()),
        }
    }
}

/// Values of a map-like column: strings, or lists of strings (`user.extra`).
pub enum MapValues {
    Str(StrReader),
    List(StrListReader),
}

/// A `Map<string, V>` column, a struct (field names as keys) or JSON object text.
pub enum PairsReader {
    Missing,
    Map(Box<(Offsets, StrReader, MapValues)>),
    Struct(Vec<(String, MapValues)>, Option<NullBuffer>),
    Json(StrReader),
}

/// One decoded map entry value.
pub enum PairValue<'a> {
    Str(Text<'a>),
    List(Vec<Text<'a>>),
}

impl PairsReader {
    pub fn new(a: Option<ArrayRef>) -> Result<Self> {
        let Some(a) = a else { return Ok(PairsReader::Missing) };
        let values = |v: ArrayRef| -> Result<MapValues> {
            Ok(if list_parts(&v).is_some() {
                MapValues::List(StrListReader::new(Some(v), None)?)
            } else {
                MapValues::Str(StrReader::new(Some(v))?)
            })
        };
        Ok(match a.data_type() {
            DataType::Map(_, _) => {
                let m = a.as_map();
                let offsets = Offsets {
                    offsets: m.value_offsets().iter().map(|o| *o as usize).collect(),
                    nulls: m.nulls().cloned(),
                    whole: Arc::clone(&a),
                };
                PairsReader::Map(Box::new((
                    offsets,
                    StrReader::new(Some(Arc::clone(m.keys())))?,
                    values(Arc::clone(m.values()))?,
                )))
            }
            DataType::Struct(fields) => {
                let s = a.as_struct();
                let mut cols = Vec::with_capacity(fields.len());
                for (f, c) in fields.iter().zip(s.columns()) {
                    cols.push((f.name().clone(), values(Arc::clone(c))?));
                }
                PairsReader::Struct(cols, s.nulls().cloned())
            }
            DataType::Null => PairsReader::Missing,
            _ => PairsReader::Json(StrReader::new(Some(a))?),
        })
    }

    fn value<'a>(v: &'a MapValues, i: usize) -> Option<PairValue<'a>> {
        match v {
            MapValues::Str(s) => s.text(i).map(PairValue::Str),
            MapValues::List(l) => l.get(i).map(PairValue::List),
        }
    }

    pub fn get(&self, row: usize) -> Option<Vec<(Text<'_>, PairValue<'_>)>> {
        match self {
            PairsReader::Missing => None,
            PairsReader::Map(parts) => {
                let (o, keys, values) = parts.as_ref();
                let r = o.range(row)?;
                Some(
                    r.filter_map(|i| Some((keys.text(i)?, Self::value(values, i)?)))
                        .collect(),
                )
            }
            PairsReader::Struct(cols, nulls) => {
                if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                    return None;
                }
                Some(
                    cols.iter()
                        .filter_map(|(k, v)| Some((Cow::Borrowed(k.as_str()), Self::value(v, row)?)))
                        .collect(),
                )
            }
            PairsReader::Json(s) => {
                let v: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(s.get(row)?).ok()?;
                Some(
                    v.into_iter()
                        .map(|(k, v)| {
                            let value = match v {
                                serde_json::Value::String(s) => PairValue::Str(Cow::Owned(s)),
                                serde_json::Value::Array(items) => PairValue::List(
                                    items
                                        .into_iter()
                                        .map(|i| match i {
                                            serde_json::Value::String(s) => Cow::Owned(s),
                                            other => Cow::Owned(other.to_string()),
                                        })
                                        .collect(),
                                ),
                                other => PairValue::Str(Cow::Owned(other.to_string())),
                            };
                            (Cow::Owned(k), value)
                        })
                        .collect(),
                )
            }
        }
    }

    /// Entries as string pairs (list values joined with `,`, as OCSF flattening does).
    pub fn get_strings(&self, row: usize) -> Option<Vec<(Text<'_>, Text<'_>)>> {
        Some(
            self.get(row)?
                .into_iter()
                .map(|(k, v)| match v {
                    PairValue::Str(s) => (k, s),
                    PairValue::List(l) => (k, Cow::Owned(l.join(","))),
                })
                .collect(),
        )
    }

    /// Entries as string-list pairs (a string value becomes a one-element list).
    pub fn get_lists(&self, row: usize) -> Option<Vec<(Text<'_>, Vec<Text<'_>>)>> {
        Some(
            self.get(row)?
                .into_iter()
                .map(|(k, v)| match v {
                    PairValue::Str(s) => (k, vec![s]),
                    PairValue::List(l) => (k, l),
                })
                .collect(),
        )
    }
}

/// A request/response body: JSON text as-is, or a struct/map/list column rendered to JSON text
/// once per batch.
pub enum JsonReader {
    Text(StrReader),
    Rendered(Vec<Option<String>>),
}

impl JsonReader {
    pub fn new(a: Option<ArrayRef>) -> Result<Self> {
        let Some(a) = a else { return Ok(JsonReader::Text(StrReader::Missing)) };
        match a.data_type() {
            DataType::Struct(_) | DataType::Map(_, _) | DataType::List(_) | DataType::LargeList(_) => {
                Ok(JsonReader::Rendered(render_json(&a)?))
            }
            _ => Ok(JsonReader::Text(StrReader::new(Some(a))?)),
        }
    }

    pub fn get(&self, row: usize) -> Option<Text<'_>> {
        match self {
            JsonReader::Text(s) => s.text(row),
            JsonReader::Rendered(v) => v[row].as_deref().map(Cow::Borrowed),
        }
    }
}

/// Renders each row of a nested column as JSON text (None for null rows).
fn render_json(a: &ArrayRef) -> Result<Vec<Option<String>>> {
    const WRAP: &str = "v";
    let schema = Arc::new(Schema::new(vec![Field::new(WRAP, a.data_type().clone(), true)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::clone(a)])?;
    let mut buf = Vec::with_capacity(a.len() * 64);
    {
        let mut w = LineDelimitedWriter::new(&mut buf);
        w.write(&batch)?;
        w.finish()?;
    }
    let text = String::from_utf8_lossy(&buf);
    let prefix = format!("{{\"{WRAP}\":");
    Ok(text
        .lines()
        .enumerate()
        .map(|(row, line)| {
            if a.is_null(row) {
                return None;
            }
            line.strip_prefix(&prefix)
                .and_then(|l| l.strip_suffix('}'))
                .map(str::to_owned)
        })
        .collect())
}

/// Whole-column conversions into the `audit_events` column types, for decoders that map columns
/// to columns instead of building rows. Each returns exactly what the row readers above return
/// row by row: where the input may hold what those drop or reshape (null list items, null map
/// entries, JSON text, structs), the column is built row by row through the readers instead.
pub mod whole {
    use datafusion::arrow::array::{ListBuilder, MapBuilder, StringBuilder, StringViewArray, new_null_array};

    use super::*;
    use crate::normalize::builder;
    use crate::normalize::schema::{map_of, string_list as list_type};

    fn cast_to(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
        Ok(if a.data_type() == to { Arc::clone(a) } else { cast(a, to)? })
    }

    /// Text values with no nulls: what the row readers keep one for one.
    fn plain_text(a: &ArrayRef) -> bool {
        matches!(a.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) && a.null_count() == 0
    }

    /// A list column whose every item is kept as it is (null lists are fine: they read as absent).
    fn plain_text_list(a: &ArrayRef) -> bool {
        list_parts(a).is_some_and(|(_, values)| plain_text(&values))
    }

    /// A string column as `Utf8`.
    pub fn strings(r: &StrReader, n: usize) -> Result<ArrayRef> {
        Ok(match r {
            StrReader::Missing => new_null_array(&DataType::Utf8, n),
            StrReader::Utf8(a) => Arc::new(a.clone()),
            StrReader::Large(a) => cast(a, &DataType::Utf8)?,
            StrReader::View(a) => cast(a, &DataType::Utf8)?,
        })
    }

    /// A body column as `Utf8View` JSON text (text columns become views of their own buffers,
    /// not copies).
    pub fn json(r: &JsonReader, n: usize) -> Result<ArrayRef> {
        Ok(match r {
            JsonReader::Text(StrReader::Missing) => new_null_array(&DataType::Utf8View, n),
            JsonReader::Text(StrReader::Utf8(a)) => cast(a, &DataType::Utf8View)?,
            JsonReader::Text(StrReader::Large(a)) => cast(a, &DataType::Utf8View)?,
            JsonReader::Text(StrReader::View(a)) => Arc::new(a.clone()),
            JsonReader::Rendered(v) => Arc::new(v.iter().map(Option::as_deref).collect::<StringViewArray>()),
        })
    }

    /// A string-list column as `List<Utf8>`.
    pub fn string_list(r: &StrListReader, n: usize) -> Result<ArrayRef> {
        match r {
            StrListReader::Missing => return Ok(new_null_array(&list_type(), n)),
            StrListReader::List(o, _) if plain_text_list(&o.whole) => return cast_to(&o.whole, &list_type()),
            _ => {}
        }
        let mut b = ListBuilder::new(StringBuilder::new());
        for row in 0..n {
            builder::list(&mut b, r.get(row).as_ref());
        }
        Ok(Arc::new(b.finish()))
    }

    /// The map array of a `Map` column whose keys and values `plain` accepts as they are.
    fn plain_map<'a>(r: &'a PairsReader, plain: impl Fn(&ArrayRef) -> bool) -> Option<&'a ArrayRef> {
        let PairsReader::Map(parts) = r else { return None };
        let a = &parts.0.whole;
        let m = a.as_map_opt()?;
        (plain_text(m.keys()) && plain(m.values())).then_some(a)
    }

    /// A map column as `Map<Utf8, Utf8>` (annotations).
    pub fn string_map(r: &PairsReader, n: usize) -> Result<ArrayRef> {
        if let PairsReader::Missing = r {
            return Ok(new_null_array(&map_of(DataType::Utf8), n));
        }
        if let Some(a) = plain_map(r, plain_text) {
            return cast_to(a, &map_of(DataType::Utf8));
        }
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for row in 0..n {
            builder::pairs(&mut b, r.get_strings(row).as_ref())?;
        }
        Ok(Arc::new(b.finish()))
    }

    /// A map column as `Map<Utf8, List<Utf8>>` (`user.extra`).
    pub fn list_map(r: &PairsReader, n: usize) -> Result<ArrayRef> {
        if let PairsReader::Missing = r {
            return Ok(new_null_array(&map_of(list_type()), n));
        }
        if let Some(a) = plain_map(r, |v| v.null_count() == 0 && plain_text_list(v)) {
            return cast_to(a, &map_of(list_type()));
        }
        let mut b = MapBuilder::new(None, StringBuilder::new(), ListBuilder::new(StringBuilder::new()));
        for row in 0..n {
            builder::list_pairs(&mut b, r.get_lists(row).as_ref())?;
        }
        Ok(Arc::new(b.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{StringArray, StructArray};

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    #[test]
    fn finds_nested_lowercase_and_flattened_columns() {
        let resource: ArrayRef = Arc::new(StringArray::from(vec![Some("pods"), None]));
        let objref = StructArray::from(vec![(Arc::new(Field::new("resource", DataType::Utf8, true)), resource.clone())]);
        let nested = ColumnTree::from_batch(&batch(vec![("objectref", Arc::new(objref) as ArrayRef)]));
        let found = StrReader::new(nested.find(&["objectRef", "resource"])).unwrap();
        assert_eq!(found.get(0), Some("pods"));
        assert_eq!(found.get(1), None);
        let flat = ColumnTree::from_batch(&batch(vec![("objectref_resource", resource.clone())]));
        assert!(flat.has(&["objectRef", "resource"]));
        let snake = ColumnTree::from_batch(&batch(vec![("object_ref_resource", resource)]));
        assert!(snake.has(&["objectRef", "resource"]));
        assert!(!snake.has(&["objectRef", "name"]));
    }

    #[test]
    fn renders_nested_bodies_as_json() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), None]));
        let s: ArrayRef = Arc::new(StructArray::from(vec![(Arc::new(Field::new("kind", DataType::Utf8, true)), a)]));
        let r = JsonReader::new(Some(s)).unwrap();
        assert_eq!(r.get(0).as_deref(), Some(r#"{"kind":"x"}"#));
        assert_eq!(r.get(1).as_deref(), Some("{}"));
    }

    #[test]
    fn regression_epoch_time_near_i64_max_is_a_reject_naming_the_field() {
        use datafusion::arrow::array::{Date32Array, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt64Array};
        let out_of_range: Vec<(ArrayRef, EpochUnit)> = vec![
            // Milliseconds that overflow microseconds (they used to saturate to i64::MAX) and
            // ones that fit `i64` but not the range.
            (Arc::new(Int64Array::from(vec![i64::MAX, i64::MIN, i64::MAX / 1000, 253_402_300_800_000])), EpochUnit::Millis),
            (Arc::new(TimestampSecondArray::from(vec![i64::MAX, -62_135_596_801])), EpochUnit::Millis),
            (Arc::new(TimestampMillisecondArray::from(vec![i64::MAX, i64::MIN])), EpochUnit::Micros),
            // Past i64::MAX: a cast to Int64 made these nulls, read as "no time".
            (Arc::new(UInt64Array::from(vec![u64::MAX, 1 << 63])), EpochUnit::Micros),
            (Arc::new(Date32Array::from(vec![i32::MAX, i32::MIN])), EpochUnit::Millis),
        ];
        for (a, unit) in out_of_range {
            let what = format!("{}", a.data_type());
            let rows = a.len();
            let t = TimeReader::new(Some(a), "time", unit).unwrap();
            for row in 0..rows {
                let err = t.get(row).unwrap_err();
                assert_eq!(err.field, "time", "{what} row {row}");
                assert!(err.reason.contains("outside the supported range"), "{what}: {}", err.reason);
            }
        }
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![Some(1_704_067_200_000_000_999), None]));
        let t = TimeReader::new(Some(ns), "time", EpochUnit::Millis).unwrap();
        assert_eq!((t.get(0).unwrap(), t.get(1).unwrap()), (Some(1_704_067_200_000_000), None));
        let days: ArrayRef = Arc::new(Date32Array::from(vec![19_723]));
        assert_eq!(TimeReader::new(Some(days), "time", EpochUnit::Millis).unwrap().get(0).unwrap(), Some(1_704_067_200_000_000));
        let secs: ArrayRef = Arc::new(TimestampSecondArray::from(vec![253_402_300_799]));
        assert_eq!(TimeReader::new(Some(secs), "time", EpochUnit::Millis).unwrap().get(0).unwrap(), Some(253_402_300_799_000_000));
    }

    #[test]
    fn time_reader_reports_the_field() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["2024-01-01T00:00:00Z", "soon"]));
        let t = TimeReader::new(Some(a), "stagetimestamp", EpochUnit::Millis).unwrap();
        assert_eq!(t.get(0).unwrap(), Some(1_704_067_200_000_000));
        assert_eq!(t.get(1).unwrap_err().field, "stagetimestamp");
    }
}
