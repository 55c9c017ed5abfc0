//! Files uploaded to Direct Line conversations: storing them (off the
//! executor, over `storage::uploads`), reading them back, the periodic
//! sweep of expired ones, and the signed capability a file's `contentUrl`
//! carries: HMAC-SHA256 over bot, id and expiry under a key derived from
//! the channel key (so every host sharing the database accepts every
//! other's URLs), compared in constant time.

use std::sync::{Arc, Weak};
use std::time::Duration;

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::storage::uploads::{NewFile, StoredFile, UploadBatch};
use crate::storage::{Database, StorageError};
use crate::support::clock::now_millis;

type HmacSha256 = Hmac<sha2::Sha256>;

/// Why a file's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the link has no signature")]
    Missing,
    #[error("the link's signature is not valid")]
    Forged,
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks the capabilities in files' URLs.
pub struct FileSigner {
    key: Vec<u8>,
}

impl FileSigner {
    pub fn new(key: &[u8]) -> Self {
        FileSigner { key: key.to_vec() }
    }

    fn mac(&self, bot: &str, id: &str, expires: i64) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        // Lengths first: no two (bot, id) pairs give the same message.
        mac.update(
            format!(
                "turnbox-file-v1\n{}:{bot}\n{}:{id}\n{expires}",
                bot.len(),
                id.len()
            )
            .as_bytes(),
        );
        mac
    }

    /// The signature (hex) of the bot's file `id`, valid until `expires`
    /// (Unix ms).
    pub fn sign(&self, bot: &str, id: &str, expires: i64) -> String {
        hex::encode(self.mac(bot, id, expires).finalize().into_bytes())
    }

    /// Whether `signature` is the bot's file's, unexpired at `now`.
    pub fn verify(
        &self,
        bot: &str,
        id: &str,
        expires: Option<i64>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<(), SignatureError> {
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(SignatureError::Missing);
        };
        let presented = hex::decode(signature).map_err(|_| SignatureError::Forged)?;
        let expected = self.mac(bot, id, expires).finalize().into_bytes();
        if !bool::from(expected.as_slice().ct_eq(&presented)) {
            return Err(SignatureError::Forged);
        }
        if expires <= now {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

/// The channel's uploaded files.
pub struct Uploads {
    store: Arc<dyn Database>,
    pub signer: FileSigner,
}

/// Runs a blocking store call off the executor.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?
}

impl Uploads {
    pub fn new(store: Arc<dyn Database>, key: &[u8]) -> Self {
        Uploads {
            store,
            signer: FileSigner::new(key),
        }
    }

    /// Stores one upload's files, all or none, if they fit the bot's quota
    /// (`StorageError::QuotaExceeded` otherwise); they expire after
    /// `retention`.
    pub async fn store(
        &self,
        bot: &str,
        conversation: &str,
        files: Vec<NewFile>,
        retention: Duration,
        max_total_bytes: u64,
    ) -> Result<Vec<StoredFile>, StorageError> {
        let store = self.store.clone();
        let (bot, conversation) = (bot.to_owned(), conversation.to_owned());
        blocking(move || {
            let now = now_millis();
            store.store_files(&UploadBatch {
                bot: &bot,
                conversation: &conversation,
                files: &files,
                now,
                expires_at: now.saturating_add(retention.as_millis() as i64),
                max_total_bytes,
            })
        })
        .await
    }

    /// The bot's file and its bytes, unless unknown or expired.
    pub async fn get(
        &self,
        bot: &str,
        id: &str,
    ) -> Result<Option<(StoredFile, Vec<u8>)>, StorageError> {
        let store = self.store.clone();
        let (bot, id) = (bot.to_owned(), id.to_owned());
        blocking(move || store.file(&bot, &id, now_millis())).await
    }

    /// Deletes files stored for an upload that then failed.
    pub async fn discard(&self, bot: &str, ids: Vec<String>) -> Result<(), StorageError> {
        let store = self.store.clone();
        let bot = bot.to_owned();
        blocking(move || store.delete_files(&bot, &ids)).await
    }

    /// Deletes the expired files; returns how many.
    pub async fn sweep(&self) -> Result<u64, StorageError> {
        let store = self.store.clone();
        blocking(move || store.sweep_files(now_millis())).await
    }
}

/// Sweeps expired files every `every` while the channel lives.
pub fn start_sweep(uploads: Weak<Uploads>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(uploads) = uploads.upgrade() else {
                return;
            };
            match uploads.sweep().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "expired uploaded files deleted"),
                Err(err) => tracing::warn!(error = %err, "cannot delete expired uploaded files"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_file_until_they_expire() {
        let signer = FileSigner::new(b"a channel key");
        let sig = signer.sign("echo", "f1", 2_000);
        assert_eq!(
            signer.verify("echo", "f1", Some(2_000), Some(&sig), 1_000),
            Ok(())
        );
        let forged = Err(SignatureError::Forged);
        assert_eq!(
            signer.verify("echo", "f2", Some(2_000), Some(&sig), 1_000),
            forged
        );
        assert_eq!(
            signer.verify("other", "f1", Some(2_000), Some(&sig), 1_000),
            forged
        );
        assert_eq!(
            signer.verify("echo", "f1", Some(9_000), Some(&sig), 1_000),
            forged,
            "a later expiry is not the signed one"
        );
        assert_eq!(
            signer.verify("echo", "f1", Some(2_000), Some("zz"), 1_000),
            forged
        );
        assert_eq!(
            signer.verify("echo", "f1", Some(2_000), Some(""), 1_000),
            forged
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            signer.verify("echo", "f1", Some(2_000), Some(&flipped), 1_000),
            forged
        );
        assert_eq!(
            FileSigner::new(b"another key").verify("echo", "f1", Some(2_000), Some(&sig), 1_000),
            forged
        );
        assert_eq!(
            signer.verify("echo", "f1", Some(2_000), Some(&sig), 2_000),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            signer.verify("echo", "f1", None, Some(&sig), 1_000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            signer.verify("echo", "f1", Some(2_000), None, 1_000),
            Err(SignatureError::Missing)
        );
        // The length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(signer.sign("ab", "c", 1), signer.sign("a", "bc", 1));
    }

    #[tokio::test]
    async fn uploads_are_stored_read_back_and_discarded() {
        let store: Arc<dyn Database> =
            Arc::new(crate::storage::SqliteStorage::in_memory().unwrap());
        let uploads = Uploads::new(store, b"k");
        let file = |name: &str| NewFile {
            name: name.into(),
            content_type: "text/plain".into(),
            bytes: b"hello".to_vec(),
        };
        let stored = uploads
            .store(
                "echo",
                "c1",
                vec![file("a.txt"), file("b.txt")],
                Duration::from_secs(60),
                100,
            )
            .await
            .unwrap();
        let (record, bytes) = uploads.get("echo", &stored[0].id).await.unwrap().unwrap();
        assert_eq!(
            (record.name.as_str(), bytes.as_slice()),
            ("a.txt", &b"hello"[..])
        );
        assert!(uploads.get("other", &stored[0].id).await.unwrap().is_none());
        uploads
            .discard("echo", stored.iter().map(|f| f.id.clone()).collect())
            .await
            .unwrap();
        assert!(uploads.get("echo", &stored[1].id).await.unwrap().is_none());
        assert_eq!(uploads.sweep().await.unwrap(), 0);
    }
}
