//! Arguments several subcommands share.

use std::path::PathBuf;

use anyhow::Result;
use auditlake::Config;
use auditlake::sinks::OutputTables;

/// Which config to use, and where outputs live.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Config file (default: the embedded config over the bundled sample data).
    #[arg(short, long, env = "AUDITLAKE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Output location for the Delta tables, overriding the config's `[output] location`.
    #[arg(long, env = "AUDITLAKE_OUTPUT", global = true)]
    pub output_location: Option<String>,
}

impl ConfigArgs {
    pub fn load(&self) -> Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::embedded_default()?,
        };
        // A local path given on the command line is relative to the working directory.
        if let Some(loc) = &self.output_location {
            if loc.trim().is_empty() {
                return Err(auditlake::Error::Config("--output-location is empty: give a directory or URL for the output tables".into()).into());
            }
            let resolved = match std::path::absolute(loc) {
                Ok(p) if !loc.contains("://") => p.to_string_lossy().into_owned(),
                _ => loc.clone(),
            };
            config.output.location = Some(resolved);
            config.check_output_location()?;
        }
        Ok(config)
    }

    pub fn outputs(&self) -> Result<OutputTables> {
        Ok(OutputTables::new(&self.load()?)?)
    }
}

/// How a command prints its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}
