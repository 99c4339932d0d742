//! Reference adapters for [`trailalerts`]: each behind its own cargo feature, none on by default.
//!
//! - `files`: read CloudTrail log files (`.json`, `.json.gz`, JSON Lines, directories) and scan
//!   them with an engine.
//! - `sqlite`: [`trailalerts::Storage`] in one SQLite file (bundled SQLite).

#[cfg(feature = "files")]
pub mod files;
#[cfg(feature = "sqlite")]
pub mod sqlite;
