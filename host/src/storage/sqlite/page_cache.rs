//! SQLite's own page cache, with the page number a B-tree balance borrows
//! kept out of it: installed once per process before SQLite starts
//! (`install`), for every connection.
//!
//! When a B-tree split puts its new pages in key order, `balance_nonroot`
//! swaps two pages' numbers through a spare one, the number of the lock
//! page at 1 GiB (`PENDING_BYTE`). The stock cache then remembers that
//! number as the largest it has held, and the next commit's truncation
//! (`pager_end_transaction` drops the cached pages past the database's
//! end) walks every slot of the cache's hash table and every page in it,
//! not the few slots past the end. With the writer's 64 MiB cache that was
//! a tenth of the committer's time (docs/PERFORMANCE.md, "twelfth round").
//! Here the lock page's number is kept in the cache as 0, a number SQLite
//! never gives a page, below every truncation's limit; all else goes to
//! the stock cache unchanged.

use std::ffi::{c_int, c_uint};
use std::sync::OnceLock;

use rusqlite::ffi;

/// SQLite's lock byte (`PENDING_BYTE`): its page is never a database page.
const PENDING_BYTE: c_uint = 0x4000_0000;

/// The key the lock page's number is kept under.
const SPARE_KEY: c_uint = 0;

/// The stock cache's methods, read before SQLite starts.
struct Stock(ffi::sqlite3_pcache_methods2);

// SAFETY: the methods are plain functions and `pArg` is SQLite's own
// argument for them, handed back unchanged; SQLite's cache is thread-safe.
unsafe impl Send for Stock {}
unsafe impl Sync for Stock {}

static STOCK: OnceLock<Stock> = OnceLock::new();
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// How many times SQLite moved a page to the lock page's number (the
/// test's evidence that its workload took that path), and the largest key
/// the stock cache was given for a page it made or moved.
#[cfg(test)]
static SPARED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
#[cfg(test)]
static STOCK_MAX_KEY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// One cache: the stock one, and the lock page's number for its page size.
struct Cache {
    stock: *mut ffi::sqlite3_pcache,
    lock_page: c_uint,
}

/// Installs the cache before SQLite's first use in this process; later
/// calls only say whether it is in use. SQLite refuses it once started
/// (a connection opened without calling this first), and then keeps the
/// stock cache: correct, only slower, and logged once.
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        // SAFETY: `try_install` runs once, and before any connection that
        // this module's callers open.
        let installed = unsafe { try_install() };
        if !installed {
            tracing::warn!(
                "SQLite started before turnbox's page cache was installed: the stock cache is kept \
                 (correct, but each commit after a B-tree split walks the whole cache)"
            );
        }
        installed
    })
}

/// # Safety
/// No other thread may start SQLite meanwhile (`sqlite3_config` is not
/// thread-safe against `sqlite3_initialize`).
unsafe fn try_install() -> bool {
    let mut stock = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
    // SAFETY: `GETPCACHE2` writes the current methods into the struct it
    // is given (refused, writing nothing, once SQLite has started).
    if unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, stock.as_mut_ptr()) }
        != ffi::SQLITE_OK
    {
        return false;
    }
    // SAFETY: written by the call above.
    let stock = &STOCK
        .get_or_init(|| Stock(unsafe { stock.assume_init() }))
        .0;
    let methods = ffi::sqlite3_pcache_methods2 {
        iVersion: stock.iVersion,
        pArg: stock.pArg,
        xInit: stock.xInit,
        xShutdown: stock.xShutdown,
        xCreate: Some(create),
        xCachesize: Some(cachesize),
        xPagecount: Some(pagecount),
        xFetch: Some(fetch),
        xUnpin: Some(unpin),
        xRekey: Some(rekey),
        xTruncate: Some(truncate),
        xDestroy: Some(destroy),
        xShrink: Some(shrink),
    };
    // SAFETY: SQLite copies the struct; refused once it has started.
    unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &methods) == ffi::SQLITE_OK }
}

/// The stock methods (set before SQLite can call any method here).
fn stock() -> &'static ffi::sqlite3_pcache_methods2 {
    &STOCK
        .get()
        .expect("the stock page cache is read before ours is installed")
        .0
}

/// A stock method SQLite's own cache always has.
macro_rules! stock {
    ($method:ident) => {
        stock()
            .$method
            .expect(concat!("SQLite's page cache has ", stringify!($method)))
    };
}

/// The cache behind SQLite's handle.
///
/// # Safety
/// `cache` is a handle `create` returned and `destroy` has not freed.
unsafe fn cache<'a>(cache: *mut ffi::sqlite3_pcache) -> &'a Cache {
    // SAFETY: as the caller promises.
    unsafe { &*(cache as *const Cache) }
}

impl Cache {
    /// The key a page number is kept under.
    fn key(&self, page: c_uint) -> c_uint {
        if page == self.lock_page {
            SPARE_KEY
        } else {
            page
        }
    }
}

unsafe extern "C" fn create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    // SAFETY: SQLite's own arguments, handed on.
    let stock_cache = unsafe { stock!(xCreate)(page_size, extra, purgeable) };
    if stock_cache.is_null() {
        return std::ptr::null_mut();
    }
    let lock_page = PENDING_BYTE / c_uint::try_from(page_size.max(1)).unwrap_or(1) + 1;
    Box::into_raw(Box::new(Cache {
        stock: stock_cache,
        lock_page,
    }))
    .cast()
}

unsafe extern "C" fn cachesize(handle: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: SQLite passes a live handle of ours.
    unsafe { stock!(xCachesize)(cache(handle).stock, pages) }
}

unsafe extern "C" fn pagecount(handle: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as above.
    unsafe { stock!(xPagecount)(cache(handle).stock) }
}

unsafe extern "C" fn fetch(
    handle: *mut ffi::sqlite3_pcache,
    page: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as above.
    unsafe {
        let cache = cache(handle);
        #[cfg(test)]
        if create != 0 {
            STOCK_MAX_KEY.fetch_max(cache.key(page), std::sync::atomic::Ordering::Relaxed);
        }
        stock!(xFetch)(cache.stock, cache.key(page), create)
    }
}

unsafe extern "C" fn unpin(
    handle: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as above.
    unsafe { stock!(xUnpin)(cache(handle).stock, page, discard) }
}

unsafe extern "C" fn rekey(
    handle: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: as above.
    unsafe {
        let cache = cache(handle);
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering::Relaxed;
            if new == cache.lock_page {
                SPARED.fetch_add(1, Relaxed);
            }
            STOCK_MAX_KEY.fetch_max(cache.key(new), Relaxed);
        }
        stock!(xRekey)(cache.stock, page, cache.key(old), cache.key(new))
    }
}

unsafe extern "C" fn truncate(handle: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as above.
    unsafe { stock!(xTruncate)(cache(handle).stock, limit) }
}

unsafe extern "C" fn destroy(handle: *mut ffi::sqlite3_pcache) {
    // SAFETY: SQLite destroys each cache once; the box came from `create`.
    unsafe {
        let cache = Box::from_raw(handle.cast::<Cache>());
        stock!(xDestroy)(cache.stock);
    }
}

unsafe extern "C" fn shrink(handle: *mut ffi::sqlite3_pcache) {
    // SAFETY: as above.
    unsafe { stock!(xShrink)(cache(handle).stock) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering;

    /// Rows inserted at random places, after deletes that left free pages,
    /// so that splits take pages out of order and swap their numbers
    /// through the lock page's: the stock cache never sees that number
    /// (what made each commit walk it whole), and the database stays whole,
    /// with exactly the rows written.
    #[test]
    fn pages_swapped_in_a_split_keep_the_database_whole() {
        assert!(
            install(),
            "the page cache was installed before SQLite started"
        );
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            .unwrap();
        let spared_before = SPARED.load(Ordering::Relaxed);
        let mut expected = BTreeMap::new();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for round in 0..6 {
            let tx = conn.unchecked_transaction().unwrap();
            for i in 0..4_000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let (k, v) = (
                    format!("{seed:016x}"),
                    format!("{round}-{i}-{}", "x".repeat(80)),
                );
                tx.execute("INSERT OR REPLACE INTO t (k, v) VALUES (?1, ?2)", [&k, &v])
                    .unwrap();
                expected.insert(k, v);
            }
            // Every third row goes: its pages join the free list.
            let gone: Vec<String> = expected.keys().step_by(3).cloned().collect();
            for k in &gone {
                tx.execute("DELETE FROM t WHERE k = ?1", [k]).unwrap();
                expected.remove(k);
            }
            tx.commit().unwrap();
        }
        assert!(
            SPARED.load(Ordering::Relaxed) > spared_before,
            "no split swapped pages: the test did not exercise the spare key"
        );
        let lock_page = PENDING_BYTE / 4096 + 1;
        assert!(
            STOCK_MAX_KEY.load(Ordering::Relaxed) < lock_page,
            "the stock cache was given the lock page's number"
        );
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        // Read back through a new connection: its cache starts empty.
        drop(conn);
        let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        let mut rows = conn.prepare("SELECT k, v FROM t ORDER BY k").unwrap();
        let stored: BTreeMap<String, String> = rows
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored.len(), expected.len());
        assert!(
            stored == expected,
            "the rows read back differ from those written"
        );
    }
}
