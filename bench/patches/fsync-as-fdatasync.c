/* A shim for one measurement (docs/PERFORMANCE.md, thirteenth round): the
 * bundled SQLite calls fsync(), as it is built without HAVE_FDATASYNC; with
 *   gcc -shared -fPIC -O2 -o /tmp/fds.so bench/patches/fsync-as-fdatasync.c
 *   LD_PRELOAD=/tmp/fds.so target/release/turnbox serve ...
 * every fsync is an fdatasync (no journal commit for an mtime alone). */
#define _GNU_SOURCE
#include <unistd.h>
int fsync(int fd) { return fdatasync(fd); }
