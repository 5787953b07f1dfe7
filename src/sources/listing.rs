//! Lists a source's landed objects, descending only into partitions that can hold the requested
//! time range, so a narrow query over years of landings lists and opens a handful of objects.

use std::sync::Arc;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::layout::{Layout, PartitionValues};
use crate::{Error, Result};

/// One landed object with what its key says about it.
#[derive(Debug, Clone)]
pub struct LandedObject {
    pub meta: ObjectMeta,
    /// Full URL, for reports and lineage.
    pub url: String,
    /// `None` when the key does not follow the source's layout.
    pub partition: Option<PartitionValues>,
}

impl LandedObject {
    /// The object `meta` describes, with what its key says under `layout`.
    pub fn new(location: &SourceLocation, layout: &Layout, meta: ObjectMeta) -> Self {
        let root_parts = location.prefix.parts().count();
        let parts: Vec<String> = meta.location.parts().skip(root_parts).map(|p| p.as_ref().to_owned()).collect();
        let dirs: Vec<&str> = parts[..parts.len().saturating_sub(1)].iter().map(String::as_str).collect();
        let partition = layout.match_path(&dirs);
        LandedObject { url: location.object_url(&meta.location), meta, partition }
    }
}

/// The object at `url` in `location`'s store as it is now (`None` when it is gone or `url` is
/// not in that store).
pub async fn head_object(store: &dyn ObjectStore, location: &SourceLocation, layout: &Layout, url: &str) -> Result<Option<LandedObject>> {
    let base = location.object_url(&Path::default());
    let Some(key) = url.strip_prefix(base.as_str()) else { return Ok(None) };
    let path = Path::parse(key).map_err(|e| Error::Config(format!("object {url}: {e}")))?;
    match store.head(&path).await {
        Ok(meta) => Ok(Some(LandedObject::new(location, layout, meta))),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Where a source lives: the store and the prefix inside it.
#[derive(Debug, Clone)]
pub struct SourceLocation {
    pub store_url: ObjectStoreUrl,
    pub prefix: Path,
    url: ListingTableUrl,
}

impl SourceLocation {
    /// Parses a URL (`s3://b/p`, `az://c/p`, `file:///p`) or a local path.
    pub fn parse(location: &str) -> Result<Self> {
        let url = ListingTableUrl::parse(location)
            .map_err(|e| Error::Config(format!("invalid source location '{location}': {e}")))?;
        Ok(SourceLocation {
            store_url: url.object_store(),
            prefix: url.prefix().clone(),
            url,
        })
    }

    /// The underlying URL (scheme and authority identify the store).
    pub fn url(&self) -> &url::Url {
        self.url.as_ref()
    }

    /// The full URL of an object in this location's store.
    pub fn object_url(&self, path: &Path) -> String {
        let base = self.store_url.as_str();
        if base.ends_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") }
    }
}

/// Time bounds for listing (microseconds, `[from, to)`), already widened by the lateness margins.
#[derive(Debug, Clone, Copy)]
pub struct ListingWindow {
    pub from: i64,
    pub to: i64,
}

/// Counts from one listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingStats {
    pub directories_listed: u64,
    pub directories_pruned: u64,
    pub objects_seen: u64,
    pub objects_pruned: u64,
}

/// Lists objects under `location` whose name ends with `extension`, pruning by `window`.
pub async fn list_objects(
    store: Arc<dyn ObjectStore>,
    location: &SourceLocation,
    layout: &Layout,
    extension: &str,
    window: Option<ListingWindow>,
) -> Result<(Vec<LandedObject>, ListingStats)> {
    let mut stats = ListingStats::default();
    let mut out = Vec::new();
    let root_parts = location.prefix.parts().count();
    let mut pending = vec![location.prefix.clone()];
    while let Some(dir) = pending.pop() {
        stats.directories_listed += 1;
        let listing = store.list_with_delimiter(Some(&dir)).await?;
        for sub in listing.common_prefixes {
            let rel: Vec<String> = sub.parts().skip(root_parts).map(|p| p.as_ref().to_owned()).collect();
            let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
            let keep = match window {
                Some(w) => layout.directory_may_overlap(&rel, w.from, w.to),
                None => true,
            };
            if keep {
                pending.push(sub);
            } else {
                stats.directories_pruned += 1;
            }
        }
        for meta in listing.objects {
            let name = meta.location.filename().unwrap_or_default();
            if !name.ends_with(extension) || meta.size == 0 && name.starts_with('_') {
                continue;
            }
            stats.objects_seen += 1;
            let object = LandedObject::new(location, layout, meta);
            let in_window = match (window, object.partition.as_ref().and_then(|p| p.time_span)) {
                (Some(w), Some((s, e))) => s < w.to && w.from < e,
                _ => true,
            };
            if !in_window {
                stats.objects_pruned += 1;
                continue;
            }
            out.push(object);
        }
    }
    out.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok((out, stats))
}

/// The first few objects under `location` (depth-first, stopping early): enough to learn a
/// source's column schema without listing all of it.
pub async fn first_objects(store: &dyn ObjectStore, location: &SourceLocation, extension: &str, want: usize) -> Result<Vec<ObjectMeta>> {
    let mut found = Vec::new();
    let mut pending = vec![location.prefix.clone()];
    while let Some(dir) = pending.pop() {
        let listing = store.list_with_delimiter(Some(&dir)).await?;
        found.extend(listing.objects.into_iter().filter(|m| m.location.filename().is_some_and(|n| n.ends_with(extension))));
        if found.len() >= want {
            found.truncate(want);
            break;
        }
        // Newest partitions sort last; read those first so the schema is the current one.
        pending.extend(listing.common_prefixes);
    }
    Ok(found)
}
