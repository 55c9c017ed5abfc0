//! Random identifiers: eTags, timer ids, activity ids, anonymous user ids.

use std::cell::RefCell;

/// Bytes one id takes.
const ID_BYTES: usize = 12;

/// OS randomness read at once per thread (341 ids): a turn takes one to
/// three ids, and a `getrandom` call each cost a system call per id.
const BATCH: usize = ID_BYTES * 341;

/// A thread's unused OS random bytes: `bytes[used..]`.
struct Batch {
    bytes: Box<[u8; BATCH]>,
    used: usize,
}

thread_local! {
    static BATCHES: RefCell<Batch> = RefCell::new(Batch {
        bytes: Box::new([0; BATCH]),
        used: BATCH,
    });
}

/// A fresh random id (24 hex digits): unique without coordination, so an
/// eTag built from it is never reused, even after a delete. The bytes are
/// the operating system's (`getrandom`), read a batch at a time; each
/// byte is handed out once and then overwritten.
pub fn random_id() -> String {
    // (`try_with`: a thread's last calls, while its locals are being
    // dropped, take the clock.)
    let taken = BATCHES.try_with(|batch| {
        let mut batch = batch.borrow_mut();
        if batch.used == BATCH {
            getrandom::fill(&mut batch.bytes[..]).ok()?;
            batch.used = 0;
        }
        let start = batch.used;
        let mut id = [0u8; ID_BYTES];
        id.copy_from_slice(&batch.bytes[start..start + ID_BYTES]);
        batch.bytes[start..start + ID_BYTES].fill(0);
        batch.used += ID_BYTES;
        Some(id)
    });
    match taken.ok().flatten() {
        Some(bytes) => hex::encode(bytes),
        // No OS randomness: the clock, which is unique enough within a
        // process.
        None => format!("{:x}", super::clock::now_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_across_batches_and_threads_are_distinct_hex() {
        // Three batches on each of four threads.
        let per_thread = 3 * BATCH / ID_BYTES + 7;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || (0..per_thread).map(|_| random_id()).collect::<Vec<_>>())
            })
            .collect();
        let mut seen = HashSet::new();
        for handle in handles {
            for id in handle.join().unwrap_or_default() {
                assert_eq!(id.len(), 2 * ID_BYTES, "{id}");
                assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
                assert!(seen.insert(id.clone()), "repeated id {id}");
            }
        }
        assert_eq!(seen.len(), 4 * per_thread);
    }
}
