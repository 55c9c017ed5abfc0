//! The manifest's `[uploads]` section: what Direct Line's `/upload` takes
//! for a bot (the size of one file, the files of one request, the bytes
//! the bot may hold in all) and how long an uploaded file is kept.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::ranged;

/// The largest file, when the manifest does not say: 4 MiB, as the Bot
/// Framework's Direct Line service.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 << 20;
/// The most files in one upload, when the manifest does not say.
pub const DEFAULT_MAX_FILES_PER_REQUEST: u32 = 10;
/// The most bytes of files one bot may hold, when the manifest does not say.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 256 << 20;
/// How long a file is kept, when the manifest does not say.
pub const DEFAULT_RETENTION_HOURS: u32 = 24;

/// The most bytes a file may be allowed: uploads are read into memory
/// whole before they are stored, so this bounds one request's memory.
pub const MAX_FILE_BYTES_LIMIT: u64 = 64 << 20;

/// `[uploads]` as written; unset keys take the defaults above.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadsSection {
    #[serde(default, deserialize_with = "file_bytes")]
    pub max_file_bytes: Option<u64>,
    #[serde(default, deserialize_with = "files_per_request")]
    pub max_files_per_request: Option<u32>,
    #[serde(default, deserialize_with = "total_bytes")]
    pub max_total_bytes: Option<u64>,
    #[serde(default, deserialize_with = "retention_hours")]
    pub retention_hours: Option<u32>,
}

/// A bot's upload limits, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadLimits {
    pub max_file_bytes: u64,
    pub max_files_per_request: u32,
    /// The bot's quota: the bytes of unexpired files it may hold.
    pub max_total_bytes: u64,
    #[serde(skip)]
    pub retention: Duration,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadsSection::default().limits()
    }
}

impl UploadLimits {
    /// The largest upload request worth reading: every file at its
    /// largest, the activity part, and room for the parts' headers.
    pub fn max_request_bytes(&self) -> u64 {
        u64::from(self.max_files_per_request) * (self.max_file_bytes + 4096)
            + MAX_ACTIVITY_PART_BYTES
            + 64 * 1024
    }
}

/// The largest `activity` part of an upload (the host's body limit for a
/// posted activity).
pub const MAX_ACTIVITY_PART_BYTES: u64 = 256 << 10;

impl UploadsSection {
    pub fn limits(&self) -> UploadLimits {
        UploadLimits {
            max_file_bytes: self.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES),
            max_files_per_request: self
                .max_files_per_request
                .unwrap_or(DEFAULT_MAX_FILES_PER_REQUEST),
            max_total_bytes: self.max_total_bytes.unwrap_or(DEFAULT_MAX_TOTAL_BYTES),
            retention: Duration::from_secs(
                u64::from(self.retention_hours.unwrap_or(DEFAULT_RETENTION_HOURS)) * 3600,
            ),
        }
    }
}

fn file_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "uploads.max_file_bytes", 1, MAX_FILE_BYTES_LIMIT)
}

fn files_per_request<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "uploads.max_files_per_request", 1, 100)
}

fn total_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "uploads.max_total_bytes", 1, 1 << 40)
}

fn retention_hours<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "uploads.retention_hours", 1, 24 * 365)
}

#[cfg(test)]
mod tests {
    use super::super::Manifest;
    use super::*;

    #[test]
    fn defaults_fill_what_is_unset_and_keys_are_checked() {
        let limits = Manifest::parse("").unwrap().uploads.limits();
        assert_eq!(limits.max_file_bytes, 4 << 20);
        assert_eq!(limits.max_files_per_request, 10);
        assert_eq!(limits.max_total_bytes, 256 << 20);
        assert_eq!(limits.retention, Duration::from_secs(24 * 3600));
        let set = Manifest::parse(
            "[uploads]\nmax_file_bytes = 1000\nmax_files_per_request = 2\n\
             max_total_bytes = 5000\nretention_hours = 1\n",
        )
        .unwrap()
        .uploads
        .limits();
        assert_eq!(
            (
                set.max_file_bytes,
                set.max_files_per_request,
                set.max_total_bytes
            ),
            (1000, 2, 5000)
        );
        assert_eq!(set.retention, Duration::from_secs(3600));
        assert!(set.max_request_bytes() > 2 * 1000);
        let err = Manifest::parse("[uploads]\n\nmax_file_bytes = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("line 3:") && err.contains("uploads.max_file_bytes"),
            "{err}"
        );
        assert!(Manifest::parse("[uploads]\nmax_files = 3\n").is_err());
        assert!(Manifest::parse("[uploads]\nmax_file_bytes = 1000000000\n").is_err());
    }
}
