//! Returning freed heap memory to the system. Compiling a component
//! allocates hundreds of MiB in many threads' caches and arenas; an
//! allocator keeps what is freed there, so without a purge a host's
//! resident size stays at its compile peak long after the compiles are
//! done. The `turnbox` binary allocates through jemalloc (`main.rs`); C
//! code linked in (SQLite) through glibc's malloc: both are purged.

/// Gives the free memory of every jemalloc arena (`arena.<all>.purge`) and
/// every glibc malloc arena (`malloc_trim(0)`) back to the system; a few
/// milliseconds. Where jemalloc is not the allocator (the library's unit
/// tests) its purge finds nothing.
pub fn release_free_heap() {
    // SAFETY: "arena.4096.purge" (4096: every arena) reads and writes no
    // value, so null pointers and a zero length are what it takes.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
