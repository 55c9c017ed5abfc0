//! Files uploaded through Direct Line (`/upload`), kept in the database:
//! each keyed by bot and a random id, with its conversation, name, content
//! type, size, bytes, and the times it was stored and expires. One upload's
//! files are stored in one transaction that also checks the bot's quota
//! (the bytes of its unexpired files), so two concurrent uploads cannot
//! both pass it; an expired file is never read back and a sweep deletes it.

use super::StorageError;

/// A file to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A stored file's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub id: String,
    /// The bot's route.
    pub bot: String,
    pub conversation: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms: from then on the file is gone.
    pub expires_at: i64,
}

/// One upload: whose, when, and the quota it must fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadBatch<'a> {
    pub bot: &'a str,
    pub conversation: &'a str,
    pub files: &'a [NewFile],
    /// Unix ms.
    pub now: i64,
    pub expires_at: i64,
    /// The most bytes of unexpired files the bot may hold, these included.
    pub max_total_bytes: u64,
}

/// Where uploaded files are kept.
pub trait UploadStore: Send + Sync {
    /// Stores the files, each under a fresh random id, all or none: over
    /// the quota, `StorageError::QuotaExceeded` and nothing stored.
    fn store_files(&self, batch: &UploadBatch<'_>) -> Result<Vec<StoredFile>, StorageError>;

    /// The bot's file `id` and its bytes, unless unknown or expired at `now`.
    fn file(
        &self,
        bot: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<(StoredFile, Vec<u8>)>, StorageError>;

    /// Deletes the bot's files `ids` (an upload whose activity could not
    /// be logged).
    fn delete_files(&self, bot: &str, ids: &[String]) -> Result<(), StorageError>;

    /// Deletes the files expired at `now`; returns how many.
    fn sweep_files(&self, now: i64) -> Result<u64, StorageError>;

    /// The bytes of the bot's files unexpired at `now`.
    fn stored_bytes(&self, bot: &str, now: i64) -> Result<u64, StorageError>;
}

/// The batch's bytes, and the error when the bot would hold more than its
/// quota with `held` bytes already stored.
pub(super) fn check_quota(batch: &UploadBatch<'_>, held: u64) -> Result<(), StorageError> {
    let adding: u64 = batch.files.iter().map(|f| f.bytes.len() as u64).sum();
    let size = held.saturating_add(adding);
    if size > batch.max_total_bytes {
        return Err(StorageError::QuotaExceeded {
            size,
            limit: batch.max_total_bytes,
        });
    }
    Ok(())
}

/// The record of a file about to be stored under a fresh id.
pub(super) fn record(batch: &UploadBatch<'_>, file: &NewFile) -> StoredFile {
    StoredFile {
        id: crate::support::ids::random_id(),
        bot: batch.bot.to_owned(),
        conversation: batch.conversation.to_owned(),
        name: file.name.clone(),
        content_type: file.content_type.clone(),
        size: file.bytes.len() as u64,
        created_at: batch.now,
        expires_at: batch.expires_at,
    }
}
