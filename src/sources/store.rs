//! Object stores for source locations (S3, Azure, GCS; local paths need none): built from the
//! standard environment plus a source's `storage` options, retry options taken out first.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{ObjectStore, RetryConfig};

use crate::config::{SourceConfig, parse_duration_micros};
use crate::sources::listing::SourceLocation;
use crate::{Error, Result};

/// Retry options a `storage` table may carry, with the names delta-rs uses for output tables:
/// `max_retries`, `retry_timeout`, `backoff_config.init_backoff`, `backoff_config.max_backoff`,
/// `backoff_config.base`. Returns the other options and the retry policy.
pub fn split_retry_options(source: &str, storage: &BTreeMap<String, String>) -> Result<(BTreeMap<String, String>, RetryConfig)> {
    let mut retry = RetryConfig::default();
    let mut rest = BTreeMap::new();
    let bad = |k: &str, v: &str| Error::Config(format!("source '{source}': storage option {k} = '{v}' is not valid"));
    let duration = |k: &str, v: &str| parse_duration_micros(v).map(|us| std::time::Duration::from_micros(us as u64)).map_err(|_| bad(k, v));
    for (k, v) in storage {
        match k.as_str() {
            "max_retries" => retry.max_retries = v.parse().map_err(|_| bad(k, v))?,
            "retry_timeout" => retry.retry_timeout = duration(k, v)?,
            "backoff_config.init_backoff" => retry.backoff.init_backoff = duration(k, v)?,
            "backoff_config.max_backoff" => retry.backoff.max_backoff = duration(k, v)?,
            "backoff_config.base" => retry.backoff.base = v.parse().map_err(|_| bad(k, v))?,
            _ => {
                rest.insert(k.clone(), v.clone());
            }
        }
    }
    Ok((rest, retry))
}

/// Builds the object store for a source location, from the standard environment plus the
/// source's `storage` options.
pub fn build_store(location: &SourceLocation, source: &SourceConfig) -> Result<Option<Arc<dyn ObjectStore>>> {
    let url = location.url();
    let bad_key = |k: &str| Error::Config(format!("source '{}': unknown storage option '{k}'", source.name));
    let (storage, retry) = split_retry_options(&source.name, &source.storage)?;
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" | "memory" => return Ok(None),
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env().with_url(url.as_str()).with_retry(retry);
            for (k, v) in &storage {
                b = b.with_config(AmazonS3ConfigKey::from_str(k).map_err(|_| bad_key(k))?, v);
            }
            Arc::new(b.build()?)
        }
        "az" | "adl" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str()).with_retry(retry);
            for (k, v) in &storage {
                b = b.with_config(AzureConfigKey::from_str(k).map_err(|_| bad_key(k))?, v);
            }
            Arc::new(b.build()?)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(url.as_str()).with_retry(retry);
            for (k, v) in &storage {
                b = b.with_config(GoogleConfigKey::from_str(k).map_err(|_| bad_key(k))?, v);
            }
            Arc::new(b.build()?)
        }
        other => return Err(Error::Config(format!("source '{}': unsupported URL scheme '{other}'", source.name))),
    };
    Ok(Some(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_options_are_taken_out_of_the_store_options() {
        let opts: BTreeMap<String, String> = [("max_retries", "3"), ("retry_timeout", "30s"), ("backoff_config.base", "1.5"), ("region", "eu-west-1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let (rest, retry) = split_retry_options("s", &opts).unwrap();
        assert_eq!(rest.keys().collect::<Vec<_>>(), ["region"]);
        assert_eq!((retry.max_retries, retry.retry_timeout, retry.backoff.base), (3, std::time::Duration::from_secs(30), 1.5));
        let bad: BTreeMap<String, String> = [("max_retries".to_owned(), "many".to_owned())].into_iter().collect();
        assert!(split_retry_options("s", &bad).unwrap_err().to_string().contains("max_retries"));
    }
}
