//! Returning freed heap memory to the system. Compiling a component
//! allocates hundreds of MiB in many threads' malloc arenas; glibc keeps
//! what is freed in those arenas, so without a trim a host's resident size
//! stays at its compile peak long after the compiles are done.

/// Gives the free memory of every malloc arena back to the system
/// (`malloc_trim(0)`); a few milliseconds. Elsewhere than glibc, nothing.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
