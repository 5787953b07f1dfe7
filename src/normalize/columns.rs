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
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::json::writer::LineDelimitedWriter;

use super::json_event::FieldError;
use super::record::Text;
use super::time::parse_timestamp_micros;
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

/// How a bare integer time column counts.
#[derive(Clone, Copy, Debug)]
pub enum EpochUnit {
    Millis,
    Micros,
}

/// A time column: Arrow timestamps of any unit, epoch integers, or text in any format
/// [`parse_timestamp_micros`] accepts.
pub enum TimeReader {
    Missing,
    Micros(Int64Array),
    Text(StrReader, String),
}

impl TimeReader {
    /// `field` names the column in errors; `int_unit` says how bare integers count.
    pub fn new(a: Option<ArrayRef>, field: &str, int_unit: EpochUnit) -> Result<Self> {
        let Some(a) = a else { return Ok(TimeReader::Missing) };
        let micros = |a: &ArrayRef| -> Result<Int64Array> {
            let t = cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            Ok(cast(&t, &DataType::Int64)?.as_primitive().clone())
        };
        Ok(match a.data_type() {
            DataType::Null => TimeReader::Missing,
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
                TimeReader::Micros(micros(&a)?)
            }
            DataType::Int64 | DataType::Int32 | DataType::UInt64 | DataType::UInt32 => {
                let ints: Int64Array = cast(&a, &DataType::Int64)?.as_primitive().clone();
                let scale = match int_unit {
                    EpochUnit::Millis => 1000,
                    EpochUnit::Micros => 1,
                };
                TimeReader::Micros(ints.unary(|v| v.saturating_mul(scale)))
            }
            _ => TimeReader::Text(StrReader::new(Some(a))?, field.to_owned()),
        })
    }

    /// The time in microseconds, `Ok(None)` when absent, an error naming the field when it does not parse.
    pub fn get(&self, row: usize) -> Result<Option<i64>, FieldError> {
        match self {
            TimeReader::Missing => Ok(None),
            TimeReader::Micros(a) => Ok(a.is_valid(row).then(|| a.value(row))),
            TimeReader::Text(s, field) => match s.get(row) {
                None | Some("") => Ok(None),
                Some(t) => parse_timestamp_micros(t).map(Some).ok_or_else(|| {
                    FieldError::new(field.clone(), format!("timestamp '{t}' does not parse"))
                }),
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
    fn time_reader_reports_the_field() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["2024-01-01T00:00:00Z", "soon"]));
        let t = TimeReader::new(Some(a), "stagetimestamp", EpochUnit::Millis).unwrap();
        assert_eq!(t.get(0).unwrap(), Some(1_704_067_200_000_000));
        assert_eq!(t.get(1).unwrap_err().field, "stagetimestamp");
    }
}
