/*
 * The repository's VFS (mcp_repo_walbuf.c): a WAL file's writes are
 * gathered, written out contiguously, at a commit frame and before
 * anything that could observe the file; what is read back is what was
 * written; a database used through it stays whole and visible to a
 * connection on the default VFS.
 */

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo/mcp_repo_int.h"
#include "unit.h"

#define T_PAGE   4096
#define T_FRAME  (24 + T_PAGE)

typedef struct {
    char           dir[64];
    char           db[128];
    char           wal[136];    /* NUL-padded: SQLite reads past the name */
    sqlite3_vfs   *vfs;
    sqlite3_file  *f;
} t_wal_t;


static void
t_wal_open(t_wal_t *t)
{
    int  fd, out = 0;

    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/test_walbuf.XXXXXX");
    CHECK(mkdtemp(t->dir) != NULL);
    snprintf(t->db, sizeof(t->db), "%s/x.db", t->dir);
    snprintf(t->wal, sizeof(t->wal) - 2, "%s/x.db-wal", t->dir);
    fd = open(t->db, O_CREAT | O_RDWR, 0600);   /* the WAL takes its mode */
    close(fd);

    CHECK(mcp_walbuf_vfs() != NULL);
    t->vfs = sqlite3_vfs_find(mcp_walbuf_vfs());
    CHECK(t->vfs != NULL);
    t->f = calloc(1, (size_t) t->vfs->szOsFile);
    CHECK_EQ_INT(t->vfs->xOpen(t->vfs, t->wal, t->f, SQLITE_OPEN_READWRITE
                               | SQLITE_OPEN_CREATE | SQLITE_OPEN_WAL, &out),
                 SQLITE_OK);
}


static void
t_wal_close(t_wal_t *t)
{
    if (t->f->pMethods != NULL) {
        CHECK_EQ_INT(t->f->pMethods->xClose(t->f), SQLITE_OK);
    }
    free(t->f);
    unlink(t->wal);
    unlink(t->db);
    rmdir(t->dir);
}


/* bytes in the file as another descriptor sees them */
static long long
t_size(const t_wal_t *t)
{
    struct stat  st;

    return stat(t->wal, &st) == 0 ? (long long) st.st_size : -1;
}


static int
t_write(t_wal_t *t, const void *p, int n, long long ofs)
{
    return t->f->pMethods->xWrite(t->f, p, n, ofs);
}


/* frame i (header then page, two writes as SQLite makes them) */
static void
t_frame(t_wal_t *t, int i, uint32_t db_size)
{
    unsigned char  hdr[24], page[T_PAGE];
    long long      ofs = 32 + (long long) i * T_FRAME;

    memset(hdr, 0, sizeof(hdr));
    hdr[3] = (unsigned char) (i + 1);
    hdr[4] = (unsigned char) (db_size >> 24);
    hdr[5] = (unsigned char) (db_size >> 16);
    hdr[6] = (unsigned char) (db_size >> 8);
    hdr[7] = (unsigned char) db_size;
    memset(page, 'a' + i % 26, sizeof(page));
    CHECK_EQ_INT(t_write(t, hdr, 24, ofs), SQLITE_OK);
    CHECK_EQ_INT(t_write(t, page, T_PAGE, ofs + 24), SQLITE_OK);
}


static void
t_wal_header(t_wal_t *t)
{
    unsigned char  h[32];

    memset(h, 0x37, sizeof(h));
    CHECK_EQ_INT(t_write(t, h, 32, 0), SQLITE_OK);
}


static void
test_contiguous_writes_wait_for_the_commit_frame(void)
{
    t_wal_t  t;

    t_wal_open(&t);
    t_wal_header(&t);
    t_frame(&t, 0, 0);
    t_frame(&t, 1, 0);
    t_frame(&t, 2, 0);
    CHECK_EQ_INT(t_size(&t), 0);                /* all still gathered */
    t_frame(&t, 3, 9);                          /* the commit frame */
    CHECK_EQ_INT(t_size(&t), 32 + 4 * T_FRAME);
    t_wal_close(&t);
}


static void
test_read_sees_what_was_written(void)
{
    t_wal_t        t;
    unsigned char  got[T_PAGE], want[T_PAGE];

    t_wal_open(&t);
    t_wal_header(&t);
    t_frame(&t, 0, 0);
    t_frame(&t, 1, 0);
    CHECK_EQ_INT(t_size(&t), 0);
    memset(got, 0, sizeof(got));
    memset(want, 'b', sizeof(want));
    CHECK_EQ_INT(t.f->pMethods->xRead(t.f, got, T_PAGE, 32 + T_FRAME + 24),
                 SQLITE_OK);
    CHECK(memcmp(got, want, sizeof(want)) == 0);
    CHECK_EQ_INT(t_size(&t), 32 + 2 * T_FRAME);
    t_wal_close(&t);
}


static void
test_observers_write_the_buffer_first(void)
{
    t_wal_t        t;
    sqlite3_int64  size = 0;
    int            res = 0;

    t_wal_open(&t);

    t_wal_header(&t);
    t_frame(&t, 0, 0);
    CHECK_EQ_INT(t.f->pMethods->xFileSize(t.f, &size), SQLITE_OK);
    CHECK_EQ_INT(size, 32 + T_FRAME);

    t_frame(&t, 1, 0);
    CHECK_EQ_INT(t.f->pMethods->xSync(t.f, SQLITE_SYNC_NORMAL), SQLITE_OK);
    CHECK_EQ_INT(t_size(&t), 32 + 2 * T_FRAME);

    t_frame(&t, 2, 0);
    CHECK_EQ_INT(t.f->pMethods->xCheckReservedLock(t.f, &res), SQLITE_OK);
    CHECK_EQ_INT(t_size(&t), 32 + 3 * T_FRAME);

    t_frame(&t, 3, 0);
    CHECK_EQ_INT(t.f->pMethods->xFileControl(t.f, SQLITE_FCNTL_SIZE_HINT,
                                             &size), SQLITE_OK);
    CHECK_EQ_INT(t_size(&t), 32 + 4 * T_FRAME);

    /* truncating first writes the buffer out, then cuts it */
    t_frame(&t, 4, 0);
    CHECK_EQ_INT(t.f->pMethods->xTruncate(t.f, 32 + T_FRAME), SQLITE_OK);
    CHECK_EQ_INT(t_size(&t), 32 + T_FRAME);

    /* closing writes it out */
    t_frame(&t, 1, 0);
    CHECK_EQ_INT(t_size(&t), 32 + T_FRAME);
    CHECK_EQ_INT(t.f->pMethods->xClose(t.f), SQLITE_OK);
    t.f->pMethods = NULL;
    CHECK_EQ_INT(t_size(&t), 32 + 2 * T_FRAME);
    t_wal_close(&t);
}


static void
test_other_writes_go_through_in_order(void)
{
    t_wal_t        t;
    unsigned char  odd[100], back[100];
    int            fd;

    t_wal_open(&t);
    t_wal_header(&t);
    t_frame(&t, 0, 0);

    /* a write of another shape: what was gathered goes first, then it */
    memset(odd, 'z', sizeof(odd));
    CHECK_EQ_INT(t_write(&t, odd, sizeof(odd), 32 + 24), SQLITE_OK);
    CHECK_EQ_INT(t_size(&t), 32 + T_FRAME);
    fd = open(t.wal, O_RDONLY);
    CHECK_EQ_INT(pread(fd, back, sizeof(back), 32 + 24), (long) sizeof(back));
    CHECK(memcmp(back, odd, sizeof(odd)) == 0);

    /* a frame that does not follow the gathered ones: those go first */
    t_frame(&t, 1, 0);
    CHECK_EQ_INT(t_size(&t), 32 + T_FRAME);
    t_frame(&t, 5, 0);
    CHECK_EQ_INT(t_size(&t), 32 + 2 * T_FRAME);
    t_frame(&t, 6, 3);
    CHECK_EQ_INT(t_size(&t), 32 + 7 * T_FRAME);
    close(fd);
    t_wal_close(&t);
}


/* more than one piece (a unix xWrite takes < 128 KiB), byte-exact */
static void
test_a_long_commit_is_written_whole(void)
{
    t_wal_t        t;
    unsigned char  page[T_PAGE], want[T_PAGE];
    int            i, fd, bad = 0;
    enum { N = 100 };

    t_wal_open(&t);
    t_wal_header(&t);
    for (i = 0; i < N - 1; i++) {
        t_frame(&t, i, 0);
    }
    CHECK_EQ_INT(t_size(&t), 0);
    t_frame(&t, N - 1, 42);
    CHECK_EQ_INT(t_size(&t), 32 + N * T_FRAME);

    fd = open(t.wal, O_RDONLY);
    for (i = 0; i < N; i++) {
        memset(want, 'a' + i % 26, sizeof(want));
        if (pread(fd, page, T_PAGE, 32 + (long long) i * T_FRAME + 24)
                != T_PAGE
            || memcmp(page, want, T_PAGE) != 0)
        {
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    close(fd);
    t_wal_close(&t);
}


static void
t_exec(sqlite3 *db, const char *sql)
{
    char  *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "  %s: %s\n", sql, msg ? msg : "?");
    }
    CHECK(msg == NULL);
    sqlite3_free(msg);
}


static long long
t_count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt  *st;
    long long      n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW)
    {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}


/*
 * SQLite through the VFS: every commit is visible at once to a connection
 * on the default VFS (another descriptor), across checkpoints and WAL
 * restarts; the database checks whole; commits cost one write each.
 */
static void
test_sqlite_commits_are_visible_and_whole(void)
{
    char                 dir[] = "/tmp/test_walbuf_db.XXXXXX", path[128];
    sqlite3             *w = NULL, *r = NULL;
    mcp_walbuf_stats_t   st;
    char                 sql[256];
    int                  i, j, seen_ok = 1;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/x.db", dir);
    CHECK_EQ_INT(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE
                                 | SQLITE_OPEN_CREATE, mcp_walbuf_vfs()),
                 SQLITE_OK);
    t_exec(w, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
              "PRAGMA wal_autocheckpoint = 50;"
              "CREATE TABLE t(id INTEGER PRIMARY KEY, k INT, v TEXT);"
              "CREATE INDEX t_k ON t(k, id);");
    CHECK_EQ_INT(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);

    for (i = 0; i < 200; i++) {
        t_exec(w, "BEGIN");
        for (j = 0; j < 20; j++) {
            snprintf(sql, sizeof(sql), "INSERT INTO t(k, v) VALUES (%d,"
                     " printf('%%.*c', 300, 'x'))", (i * 7 + j * 13) % 64);
            t_exec(w, sql);
        }
        t_exec(w, "COMMIT");
        if (t_count(r, "SELECT count(*) FROM t") != (i + 1) * 20) {
            seen_ok = 0;
        }
    }
    CHECK(seen_ok);

    CHECK_EQ_INT(mcp_walbuf_stats(w, &st), 0);
    CHECK(st.taken > 0);
    CHECK(st.flushes < st.taken / 10);          /* ~2 writes per frame before */
    CHECK_EQ_INT(mcp_walbuf_stats(r, &st), -1);  /* not ours */

    sqlite3_close(r);
    sqlite3_close(w);

    /* reopened on the default VFS: whole, every row there */
    CHECK_EQ_INT(sqlite3_open_v2(path, &r, SQLITE_OPEN_READWRITE, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(t_count(r, "SELECT count(*) FROM t"), 4000);
    CHECK_EQ_INT(t_count(r, "SELECT count(*) FROM pragma_integrity_check"
                            " WHERE integrity_check = 'ok'"), 1);
    sqlite3_close(r);

    snprintf(sql, sizeof(sql), "rm -rf %s", dir);
    CHECK_EQ_INT(system(sql), 0);
}


UNIT_MAIN("repo_walbuf",
    UNIT_TEST(test_contiguous_writes_wait_for_the_commit_frame),
    UNIT_TEST(test_read_sees_what_was_written),
    UNIT_TEST(test_observers_write_the_buffer_first),
    UNIT_TEST(test_other_writes_go_through_in_order),
    UNIT_TEST(test_a_long_commit_is_written_whole),
    UNIT_TEST(test_sqlite_commits_are_visible_and_whole))
