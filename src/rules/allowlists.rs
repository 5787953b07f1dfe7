//! Named allow-lists (`queries/allowlists.toml`, extended by a deployment's config): what rules
//! consult through the `allowlist(list, value)` table. Plain data owned by the rule pack; the
//! engine registers it as a table.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};

use crate::{Error, Result};

/// Named allow-lists rules consult through the `allowlist(list, value)` table: the pack's defaults
/// (`queries/allowlists.toml`) extended by the deployment's config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allowlists(pub BTreeMap<String, Vec<String>>);

/// The table rules read allow-lists from.
pub const ALLOWLIST_TABLE: &str = "allowlist";

impl Allowlists {
    /// Parses an allow-list file (`name = ["value", ...]` per list).
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map(Allowlists).map_err(|e| Error::Config(format!("allow-lists: {e}")))
    }

    /// The pack's default allow-lists from `<rules_dir>/allowlists.toml` (empty when absent).
    pub fn for_rules_dir(dir: &std::path::Path) -> Result<Self> {
        let path = dir.join("allowlists.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_toml(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Allowlists::default()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Adds `other`'s values to the lists of the same name.
    pub fn extend(&mut self, other: &Allowlists) {
        for (k, v) in &other.0 {
            self.0.entry(k.clone()).or_default().extend(v.iter().cloned());
        }
    }

    /// The lists as rows of the `allowlist(list, value)` table.
    pub fn batch(&self) -> Result<RecordBatch> {
        let (lists, values): (Vec<&str>, Vec<&str>) = self.0.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str()))).unzip();
        Ok(RecordBatch::try_from_iter(vec![
            ("list", Arc::new(StringArray::from(lists)) as ArrayRef),
            ("value", Arc::new(StringArray::from(values)) as ArrayRef),
        ])?)
    }
}
