/*
 * The repository's VFS: SQLite's default (unix) VFS, except that the
 * writes to a WAL file are gathered and reach the kernel as one pwrite per
 * commit instead of two per page.
 *
 * Why: SQLite writes each WAL frame with two pwrite calls, its 24-byte
 * header and then the page, so a group commit of ~135 pages makes ~270
 * system calls, and every one of them straddles a page of the page cache
 * (a frame is 4096 + 24 bytes): the kernel finds or adds a folio, reserves
 * blocks and copies, twice per frame.  pwrite was a fifth of all CPU
 * samples of the pool at 64 callers.
 *
 * How: a WAL file opened through this VFS keeps a buffer.  It takes only
 * the writes SQLite's WAL makes in order: the 32-byte WAL header at offset
 * 0, a 24-byte frame header, and the write that follows a frame header at
 * its end (the frame's page).  Contiguous ones are appended to the buffer;
 * anything else (another size, another offset, an overwrite) first writes
 * the buffer out and then goes to the file as it came.  The buffer is
 * written out (one xWrite of the unix VFS, which loops on short writes):
 *
 *   - as soon as it holds a whole commit frame: the frame whose header
 *     carries a database size (bytes 4-7 of a frame header are non-zero
 *     only for the last frame of a transaction, by the WAL file format),
 *     from inside the xWrite of its page, whose result is the flush's;
 *   - before every other method of the file that can observe or order it:
 *     xRead, xSync, xTruncate, xFileSize, xLock, xUnlock,
 *     xCheckReservedLock, xFileControl, xClose (a WAL file has no shared
 *     memory or memory map of its own: see mcp_walbuf_methods);
 *   - when the next write would not fit or is not contiguous.
 *
 * What stays the same, and why:
 *
 *   - Visibility.  Other connections learn of new frames only from the
 *     wal-index header in shared memory, which SQLite's walFrames()
 *     publishes after it has written every frame of the transaction (and,
 *     with synchronous=FULL, synced the WAL).  The commit frame is the
 *     last write of those, and its xWrite does not return before the
 *     buffer is in the file: when the header names a frame, the frame is
 *     in the kernel, where every other descriptor reads it.  That is why
 *     the database file's xShmBarrier, which walFrames() calls between the
 *     two copies of that header, needs no hook here: the commit frame's
 *     write comes earlier on the same path, and unlike xShmBarrier (which
 *     returns nothing) it can fail the commit.  A connection
 *     reading its own uncommitted frames (a spilled cache) reads through
 *     this file's xRead, which writes the buffer out first.
 *   - Errors.  A failed flush at the commit frame fails that xWrite, so
 *     walFrames() fails before it publishes anything and the COMMIT
 *     returns the error, exactly as a failed pwrite did.  Every method
 *     that flushes returns the flush's error; none of them drops data.
 *   - synchronous=NORMAL promises that a committed transaction survives
 *     the process dying (kill -9: the frames are in the page cache before
 *     the commit returns, see above) and that a power cut leaves the
 *     database consistent (frames carry cumulative checksums and salts;
 *     recovery stops at the first frame that does not match, whatever
 *     order the kernel wrote the pages in, as before).
 *   - synchronous=FULL adds an xSync of the WAL before the commit is
 *     published; xSync writes the buffer out first, then syncs the file.
 *   - What reaches the file is the same bytes at the same offsets; only
 *     the number of calls changes.  Uncommitted frames still buffered when
 *     the process dies are lost, as they would be anyway.
 *
 * Files other than WAL files get the unix VFS's own file object and
 * methods, untouched: this VFS's xOpen hands the whole allocation to the
 * unix xOpen.  The locking of all connections stays the unix VFS's (its
 * per-inode lock table is shared by every VFS built on it).
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo_int.h"

#define MCP_WALBUF_VFS_NAME   "mcp-walbuf"
#define MCP_WALBUF_CAPACITY   (1024 * 1024)
#define MCP_WALBUF_PIECE      (124 * 1024)
#define MCP_WAL_HDR_SIZE      32
#define MCP_WAL_FRAME_HDR     24

typedef struct {
    sqlite3_file          base;
    sqlite3_file         *real;       /* the unix file, after this struct */
    unsigned char        *buf;        /* MCP_WALBUF_CAPACITY, lazily */
    size_t                len;
    sqlite3_int64         off;        /* file offset of buf[0] */
    sqlite3_int64         page_at;    /* a frame header was taken: its page
                                         is due here; -1: none */
    int                   commit;     /* that frame is a commit frame */
    mcp_walbuf_stats_t    stats;
} mcp_walbuf_file_t;

typedef enum {
    MCP_WB_OTHER,
    MCP_WB_WAL_HDR,
    MCP_WB_FRAME_HDR,
    MCP_WB_PAGE
} mcp_wb_kind_e;

static sqlite3_vfs     mcp_walbuf_vfs_def;
static pthread_once_t  mcp_walbuf_once = PTHREAD_ONCE_INIT;
static int             mcp_walbuf_ok;


static sqlite3_vfs *
mcp_walbuf_inner(sqlite3_vfs *vfs)
{
    return vfs->pAppData;
}


/*
 * One xWrite of the unix VFS writes at most 128 KiB - 1 (its seekAndWrite()
 * masks the length with 0x1ffff: a 1 MiB write writes nothing and reports a
 * full disk), so the buffer goes out in pieces of up to MCP_WALBUF_PIECE,
 * each ending on a 4 KiB boundary of the file where it can.
 */
static size_t
mcp_walbuf_piece(const mcp_walbuf_file_t *w, size_t done)
{
    sqlite3_int64  start = w->off + (sqlite3_int64) done;
    sqlite3_int64  end = start + MCP_WALBUF_PIECE;

    if (done + MCP_WALBUF_PIECE >= w->len) {
        return w->len - done;
    }
    end &= ~(sqlite3_int64) 4095;
    return (size_t) (end - start);
}


static int
mcp_walbuf_flush(mcp_walbuf_file_t *w)
{
    size_t  done, n;
    int     rc = SQLITE_OK;

    if (w->len == 0) {
        return SQLITE_OK;
    }
    for (done = 0; done < w->len; done += n) {
        n = mcp_walbuf_piece(w, done);
        rc = w->real->pMethods->xWrite(w->real, w->buf + done, (int) n,
                                       w->off + (sqlite3_int64) done);
        if (rc != SQLITE_OK) {
            break;
        }
        w->stats.flushes++;
    }
    /* what was not written stays for the next flush to try again */
    memmove(w->buf, w->buf + done, w->len - done);
    w->off += (sqlite3_int64) done;
    w->len -= done;
    return rc;
}


static mcp_wb_kind_e
mcp_walbuf_kind(const mcp_walbuf_file_t *w, int n, sqlite3_int64 ofs)
{
    if (n == MCP_WAL_HDR_SIZE && ofs == 0) {
        return MCP_WB_WAL_HDR;
    }
    if (n == MCP_WAL_FRAME_HDR) {
        return MCP_WB_FRAME_HDR;
    }
    if (w->page_at >= 0 && ofs == w->page_at && n <= MCP_WALBUF_CAPACITY) {
        return MCP_WB_PAGE;
    }
    return MCP_WB_OTHER;
}


static int
mcp_walbuf_pass(mcp_walbuf_file_t *w, const void *data, int n,
    sqlite3_int64 ofs)
{
    int  rc;

    w->page_at = -1;
    rc = mcp_walbuf_flush(w);
    if (rc != SQLITE_OK) {
        return rc;
    }
    w->stats.passed++;
    return w->real->pMethods->xWrite(w->real, data, n, ofs);
}


static int
mcp_walbuf_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 ofs)
{
    mcp_walbuf_file_t  *w = (mcp_walbuf_file_t *) f;
    mcp_wb_kind_e       kind = mcp_walbuf_kind(w, n, ofs);
    const uint8_t      *p = data;
    int                 rc;

    if (kind == MCP_WB_OTHER) {
        return mcp_walbuf_pass(w, data, n, ofs);
    }
    if (w->buf == NULL) {
        w->buf = malloc(MCP_WALBUF_CAPACITY);
        if (w->buf == NULL) {
            return mcp_walbuf_pass(w, data, n, ofs);
        }
    }
    if (w->len > 0 && (ofs != w->off + (sqlite3_int64) w->len
                       || w->len + (size_t) n > MCP_WALBUF_CAPACITY))
    {
        rc = mcp_walbuf_flush(w);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }
    if (w->len == 0) {
        w->off = ofs;
    }
    memcpy(w->buf + w->len, data, (size_t) n);
    w->len += (size_t) n;
    w->stats.taken++;

    switch (kind) {
    case MCP_WB_FRAME_HDR:
        w->page_at = ofs + MCP_WAL_FRAME_HDR;
        w->commit = (p[4] | p[5] | p[6] | p[7]) != 0;
        return SQLITE_OK;
    case MCP_WB_PAGE:
        w->page_at = -1;
        if (w->commit) {
            w->commit = 0;
            return mcp_walbuf_flush(w);
        }
        return SQLITE_OK;
    default:
        w->page_at = -1;
        return SQLITE_OK;
    }
}


/* the other methods: write the buffer out, then do what the unix VFS does */

#define MCP_WB_REAL(f)  (((mcp_walbuf_file_t *) (f))->real)
#define MCP_WB_FLUSHED(f, call)                                              \
    do {                                                                     \
        int  rc_ = mcp_walbuf_flush((mcp_walbuf_file_t *) (f));              \
        if (rc_ != SQLITE_OK) {                                              \
            return rc_;                                                      \
        }                                                                    \
        return MCP_WB_REAL(f)->pMethods->call;                               \
    } while (0)


static int
mcp_walbuf_close(sqlite3_file *f)
{
    mcp_walbuf_file_t  *w = (mcp_walbuf_file_t *) f;
    int                 rc, rc2;

    rc = mcp_walbuf_flush(w);
    rc2 = w->real->pMethods->xClose(w->real);
    free(w->buf);
    w->buf = NULL;
    w->len = 0;
    return rc != SQLITE_OK ? rc : rc2;
}


static int
mcp_walbuf_read(sqlite3_file *f, void *data, int n, sqlite3_int64 ofs)
{
    MCP_WB_FLUSHED(f, xRead(MCP_WB_REAL(f), data, n, ofs));
}


static int
mcp_walbuf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    MCP_WB_FLUSHED(f, xTruncate(MCP_WB_REAL(f), size));
}


static int
mcp_walbuf_sync(sqlite3_file *f, int flags)
{
    MCP_WB_FLUSHED(f, xSync(MCP_WB_REAL(f), flags));
}


static int
mcp_walbuf_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    MCP_WB_FLUSHED(f, xFileSize(MCP_WB_REAL(f), size));
}


static int
mcp_walbuf_lock(sqlite3_file *f, int level)
{
    MCP_WB_FLUSHED(f, xLock(MCP_WB_REAL(f), level));
}


static int
mcp_walbuf_unlock(sqlite3_file *f, int level)
{
    MCP_WB_FLUSHED(f, xUnlock(MCP_WB_REAL(f), level));
}


static int
mcp_walbuf_check_lock(sqlite3_file *f, int *out)
{
    MCP_WB_FLUSHED(f, xCheckReservedLock(MCP_WB_REAL(f), out));
}


static int
mcp_walbuf_file_control(sqlite3_file *f, int op, void *arg)
{
    MCP_WB_FLUSHED(f, xFileControl(MCP_WB_REAL(f), op, arg));
}


static int
mcp_walbuf_sector_size(sqlite3_file *f)
{
    return MCP_WB_REAL(f)->pMethods->xSectorSize(MCP_WB_REAL(f));
}


static int
mcp_walbuf_device_chars(sqlite3_file *f)
{
    return MCP_WB_REAL(f)->pMethods->xDeviceCharacteristics(MCP_WB_REAL(f));
}


/*
 * Version 1: a WAL file has no shared memory and no memory map (the unix
 * VFS gives it its no-lock methods, whose xShmMap is NULL); SQLite uses
 * both on the database file only.
 */
static const sqlite3_io_methods  mcp_walbuf_methods = {
    1,
    mcp_walbuf_close,
    mcp_walbuf_read,
    mcp_walbuf_write,
    mcp_walbuf_truncate,
    mcp_walbuf_sync,
    mcp_walbuf_file_size,
    mcp_walbuf_lock,
    mcp_walbuf_unlock,
    mcp_walbuf_check_lock,
    mcp_walbuf_file_control,
    mcp_walbuf_sector_size,
    mcp_walbuf_device_chars,
    NULL, NULL, NULL, NULL, NULL, NULL
};


/* the unix file sits after our header, aligned for its 8-byte members */
static size_t
mcp_walbuf_header_size(void)
{
    return (sizeof(mcp_walbuf_file_t) + 15) & ~(size_t) 15;
}


static int
mcp_walbuf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
    int flags, int *out_flags)
{
    sqlite3_vfs        *inner = mcp_walbuf_inner(vfs);
    mcp_walbuf_file_t  *w = (mcp_walbuf_file_t *) f;
    int                 rc;

    if (!(flags & SQLITE_OPEN_WAL)) {
        /* the whole allocation is the unix file: its own methods */
        return inner->xOpen(inner, name, f, flags, out_flags);
    }
    memset(w, 0, sizeof(*w));
    w->real = (sqlite3_file *) ((char *) f + mcp_walbuf_header_size());
    w->page_at = -1;
    rc = inner->xOpen(inner, name, w->real, flags, out_flags);
    w->base.pMethods = rc == SQLITE_OK ? &mcp_walbuf_methods : NULL;
    return rc;
}


/* the VFS's other methods are the unix VFS's */

#define MCP_WB_INNER(vfs)  mcp_walbuf_inner(vfs)


static int
mcp_walbuf_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return MCP_WB_INNER(vfs)->xDelete(MCP_WB_INNER(vfs), name, sync_dir);
}


static int
mcp_walbuf_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return MCP_WB_INNER(vfs)->xAccess(MCP_WB_INNER(vfs), name, flags, out);
}


static int
mcp_walbuf_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return MCP_WB_INNER(vfs)->xFullPathname(MCP_WB_INNER(vfs), name, n, out);
}


static void *
mcp_walbuf_dlopen(sqlite3_vfs *vfs, const char *name)
{
    return MCP_WB_INNER(vfs)->xDlOpen(MCP_WB_INNER(vfs), name);
}


static void
mcp_walbuf_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    MCP_WB_INNER(vfs)->xDlError(MCP_WB_INNER(vfs), n, msg);
}


static void
(*mcp_walbuf_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    return MCP_WB_INNER(vfs)->xDlSym(MCP_WB_INNER(vfs), h, sym);
}


static void
mcp_walbuf_dlclose(sqlite3_vfs *vfs, void *h)
{
    MCP_WB_INNER(vfs)->xDlClose(MCP_WB_INNER(vfs), h);
}


static int
mcp_walbuf_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return MCP_WB_INNER(vfs)->xRandomness(MCP_WB_INNER(vfs), n, out);
}


static int
mcp_walbuf_sleep(sqlite3_vfs *vfs, int us)
{
    return MCP_WB_INNER(vfs)->xSleep(MCP_WB_INNER(vfs), us);
}


static int
mcp_walbuf_current_time(sqlite3_vfs *vfs, double *t)
{
    return MCP_WB_INNER(vfs)->xCurrentTime(MCP_WB_INNER(vfs), t);
}


static int
mcp_walbuf_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
    return MCP_WB_INNER(vfs)->xGetLastError(MCP_WB_INNER(vfs), n, msg);
}


static int
mcp_walbuf_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
    return MCP_WB_INNER(vfs)->xCurrentTimeInt64(MCP_WB_INNER(vfs), t);
}


/*
 * Once per process.  Versions 1 and 2 of the VFS structure only: the
 * system-call overrides of version 3 are for SQLite's own tests.
 */
static void
mcp_walbuf_register_once(void)
{
    sqlite3_vfs  *inner = sqlite3_vfs_find(NULL);
    sqlite3_vfs  *v = &mcp_walbuf_vfs_def;

    if (inner == NULL || inner->iVersion < 2) {
        return;
    }
    v->iVersion = 2;
    v->szOsFile = (int) (mcp_walbuf_header_size() + (size_t) inner->szOsFile);
    v->mxPathname = inner->mxPathname;
    v->zName = MCP_WALBUF_VFS_NAME;
    v->pAppData = inner;
    v->xOpen = mcp_walbuf_open;
    v->xDelete = mcp_walbuf_delete;
    v->xAccess = mcp_walbuf_access;
    v->xFullPathname = mcp_walbuf_full_pathname;
    v->xDlOpen = mcp_walbuf_dlopen;
    v->xDlError = mcp_walbuf_dlerror;
    v->xDlSym = mcp_walbuf_dlsym;
    v->xDlClose = mcp_walbuf_dlclose;
    v->xRandomness = mcp_walbuf_randomness;
    v->xSleep = mcp_walbuf_sleep;
    v->xCurrentTime = mcp_walbuf_current_time;
    v->xGetLastError = mcp_walbuf_last_error;
    v->xCurrentTimeInt64 = mcp_walbuf_current_time64;
    mcp_walbuf_ok = sqlite3_vfs_register(v, 0) == SQLITE_OK;
}


const char *
mcp_walbuf_vfs(void)
{
    pthread_once(&mcp_walbuf_once, mcp_walbuf_register_once);
    return mcp_walbuf_ok ? MCP_WALBUF_VFS_NAME : NULL;
}


int
mcp_walbuf_stats(sqlite3 *db, mcp_walbuf_stats_t *st)
{
    sqlite3_file  *f = NULL;

    memset(st, 0, sizeof(*st));
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f)
        != SQLITE_OK || f == NULL || f->pMethods != &mcp_walbuf_methods)
    {
        return -1;
    }
    *st = ((mcp_walbuf_file_t *) f)->stats;
    return 0;
}
