/*
 * chat_load: N WebSocket clients, each one conversation, sending chat
 * turns through nginx + the module + mcpd.  Two ways to load:
 *
 *   closed loop (default): every client sends its next turn as soon as
 *     the previous one is complete: the saturation rate (turns/s);
 *   open loop (--rate R): R turns per second in total, sent on a 1 ms
 *     schedule whatever the answers do, each by an idle client (one turn
 *     at a time per conversation, round robin): latency below saturation.
 *
 * Measures turns per second, the time to the first chunk (send -> first
 * "chunk" frame), the whole turn, and mcpd's own overhead per turn (the
 * `overhead_ms` of each `complete`).
 *
 *   chat_load --port P [--conns N] [--seconds S] [--warmup S] [--rate R]
 *             [--path /ws/chat] [--text T] [--streaming 0|1]
 *
 * Prints one line:
 *   RESULT conns=.. seconds=.. turns=.. turns_per_s=.. errors=..
 *          ttfc_p50_ms=.. ttfc_p99_ms=.. turn_p50_ms=.. turn_p99_ms=..
 *          mcpd_overhead_p50_ms=.. mcpd_overhead_p99_ms=.. rate=..
 *          late_sends=.. late_max_ms=..
 * (late_sends: open-loop turns sent more than 2 ms after their time
 * because no client was idle or this process was not scheduled; a rate
 * the stack cannot keep up with shows here and in the latencies.)
 *
 * One libuv loop, a minimal RFC 6455 client (masked text frames out,
 * unmasked frames in, pings answered), so the client is not the
 * bottleneck of the measurement.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "util/mcp_hist.h"

typedef struct {
    uv_tcp_t      tcp;
    uv_connect_t  creq;
    int           idx;
    int           upgraded;
    char         *buf;
    size_t        len, cap;
    uint64_t      t_send, t_first;
    long          seq;
    int           closed;
    int           busy;          /* a turn is in flight */
    int           next_idle;     /* open loop: idle list, -1 ends it */
} lc_conn_t;

static struct {
    int          port, conns, streaming;
    double       seconds, warmup;
    const char  *path, *text;
    uv_loop_t   *loop;
    uint64_t     t_start, t_measure, t_end;
    long         turns, errors, connected;
    mcp_hist_t   ttfc, turn, ovh;   /* microseconds */
    uv_timer_t   stop;

    /* open loop */
    double       rate;              /* turns/s in total, 0: closed loop */
    lc_conn_t   *cs;
    int          idle_head, idle_tail;
    uint64_t     sent;              /* turns sent on the schedule */
    long         late;
    uint64_t     late_max;          /* ns */
    uv_timer_t   pace;
} B;

typedef struct {
    uv_write_t  w;
    char       *data;
} lc_write_t;


static void
lc_written(uv_write_t *w, int status)
{
    lc_write_t  *lw = (lc_write_t *) w;

    free(lw->data);
    free(lw);
}


static void
lc_write(lc_conn_t *c, char *data, size_t len)
{
    lc_write_t  *lw = malloc(sizeof(*lw));
    uv_buf_t     b = uv_buf_init(data, (unsigned) len);

    lw->data = data;
    if (uv_write(&lw->w, (uv_stream_t *) &c->tcp, &b, 1, lc_written) != 0) {
        free(data);
        free(lw);
    }
}


static void
lc_send_frame(lc_conn_t *c, int opcode, const char *p, size_t n)
{
    char     *f = malloc(n + 14);
    size_t    h = 0, i;
    uint8_t   mask[4] = { 0x12, 0x34, 0x56, 0x78 };

    f[h++] = (char) (0x80 | opcode);
    if (n < 126) {
        f[h++] = (char) (0x80 | n);
    } else {
        f[h++] = (char) (0x80 | 126);
        f[h++] = (char) (n >> 8);
        f[h++] = (char) (n & 0xff);
    }
    memcpy(f + h, mask, 4);
    h += 4;
    for (i = 0; i < n; i++) {
        f[h + i] = (char) (p[i] ^ mask[i & 3]);
    }
    lc_write(c, f, h + n);
}


static void
lc_send_turn(lc_conn_t *c)
{
    char  msg[512];
    int   n;

    n = snprintf(msg, sizeof(msg),
                 "{\"action\":\"chat\",\"request_id\":\"b%d-%ld\","
                 "\"payload\":{\"text\":\"%s\",\"conversation_id\":"
                 "\"bench-%d-%llu\",\"streaming\":%s}}",
                 c->idx, ++c->seq, B.text, c->idx,
                 (unsigned long long) B.t_start,
                 B.streaming ? "true" : "false");
    c->t_send = uv_hrtime();
    c->t_first = 0;
    c->busy = 1;
    lc_send_frame(c, 1, msg, (size_t) n);
}


/* mcpd's own time for the turn, as its `complete` says */
static void
lc_record_overhead(const char *p, size_t n)
{
    static const char  key[] = "\"overhead_ms\":";
    const char        *v = memmem(p, n, key, sizeof(key) - 1);
    double             ms;

    if (v == NULL) {
        return;
    }
    ms = strtod(v + sizeof(key) - 1, NULL);
    mcp_hist_record(&B.ovh, (uint64_t) (ms * 1000.0));
}


/* ------------------------------------------------------------ open loop */

static void
lc_idle_push(lc_conn_t *c)
{
    c->next_idle = -1;
    if (B.idle_tail >= 0) {
        B.cs[B.idle_tail].next_idle = c->idx;
    } else {
        B.idle_head = c->idx;
    }
    B.idle_tail = c->idx;
}


static lc_conn_t *
lc_idle_pop(void)
{
    lc_conn_t  *c;

    if (B.idle_head < 0) {
        return NULL;
    }
    c = &B.cs[B.idle_head];
    B.idle_head = c->next_idle;
    if (B.idle_head < 0) {
        B.idle_tail = -1;
    }
    return c;
}


/*
 * Every millisecond: send the turns whose time has come (turn k is due at
 * t_start + k / rate), each by the longest-idle client.  A due turn with
 * no idle client waits for one; its lateness is counted.
 */
static void
lc_pace(uv_timer_t *t)
{
    uint64_t    now = uv_hrtime(), due_at;
    lc_conn_t  *c;

    if (now >= B.t_end) {
        uv_timer_stop(t);
        return;
    }
    for ( ;; ) {
        due_at = B.t_start + (uint64_t) ((double) B.sent * 1e9 / B.rate);
        if (due_at > now) {
            break;
        }
        c = lc_idle_pop();
        if (c == NULL) {
            break;
        }
        if (now - due_at > 2000000 && due_at >= B.t_measure) {
            B.late++;
            if (now - due_at > B.late_max) {
                B.late_max = now - due_at;
            }
        }
        B.sent++;
        lc_send_turn(c);
    }
}


static void
lc_on_message(lc_conn_t *c, const char *p, size_t n)
{
    uint64_t  now = uv_hrtime();
    int       counted = now >= B.t_measure && now < B.t_end;

    if (memmem(p, n, "\"status\":\"chunk\"", 16) && c->t_first == 0) {
        c->t_first = now;
        if (counted) {
            mcp_hist_record(&B.ttfc, (now - c->t_send) / 1000);
        }
    }
    if (memmem(p, n, "\"status\":\"complete\"", 19)
        || memmem(p, n, "\"status\":\"error\"", 16))
    {
        if (counted) {
            if (memmem(p, n, "\"status\":\"error\"", 16)) {
                B.errors++;
                if (B.errors < 5) {
                    fprintf(stderr, "error: %.*s\n", (int) n, p);
                }
            } else {
                B.turns++;
                mcp_hist_record(&B.turn, (now - c->t_send) / 1000);
                lc_record_overhead(p, n);
            }
        }
        c->busy = 0;
        if (B.rate > 0) {
            lc_idle_push(c);
        } else if (now < B.t_end) {
            lc_send_turn(c);
        }
    }
}


/* parse whole frames out of c->buf */
static void
lc_frames(lc_conn_t *c)
{
    size_t    off = 0, h, n;
    uint8_t  *b;
    int       op;

    for ( ;; ) {
        b = (uint8_t *) c->buf + off;
        if (c->len - off < 2) {
            break;
        }
        op = b[0] & 0x0f;
        n = b[1] & 0x7f;
        h = 2;
        if (n == 126) {
            if (c->len - off < 4) {
                break;
            }
            n = ((size_t) b[2] << 8) | b[3];
            h = 4;
        } else if (n == 127) {
            if (c->len - off < 10) {
                break;
            }
            n = 0;
            for (int i = 0; i < 8; i++) {
                n = (n << 8) | b[2 + i];
            }
            h = 10;
        }
        if (c->len - off < h + n) {
            break;
        }
        if (op == 1) {
            lc_on_message(c, (char *) b + h, n);
        } else if (op == 9) {
            lc_send_frame(c, 10, (char *) b + h, n);
        } else if (op == 8) {
            c->closed = 1;
        }
        off += h + n;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}


static void
lc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    lc_conn_t  *c = h->data;

    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned) (c->cap - c->len));
}


static void
lc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    lc_conn_t  *c = s->data;
    char       *e;

    if (nread < 0) {
        if (!c->closed) {
            fprintf(stderr, "conn %d: %s\n", c->idx, uv_strerror((int) nread));
            c->closed = 1;
            B.errors++;
        }
        uv_read_stop(s);
        return;
    }
    c->len += (size_t) nread;
    if (!c->upgraded) {
        e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (e == NULL) {
            return;
        }
        if (c->len < 12 || memcmp(c->buf + 9, "101", 3) != 0) {
            fprintf(stderr, "conn %d: handshake refused: %.40s\n", c->idx,
                    c->buf);
            c->closed = 1;
            B.errors++;
            return;
        }
        c->upgraded = 1;
        B.connected++;
        memmove(c->buf, e + 4, c->len - (size_t) (e + 4 - c->buf));
        c->len -= (size_t) (e + 4 - c->buf);
        if (B.rate > 0) {
            lc_idle_push(c);
        } else {
            lc_send_turn(c);
        }
    }
    lc_frames(c);
}


static void
lc_connected(uv_connect_t *req, int status)
{
    lc_conn_t  *c = req->data;
    char        hs[512];
    int         n;

    if (status != 0) {
        fprintf(stderr, "conn %d: %s\n", c->idx, uv_strerror(status));
        B.errors++;
        return;
    }
    n = snprintf(hs, sizeof(hs),
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\nX-User: bench-%d\r\n\r\n",
                 B.path, B.port, c->idx);
    lc_write(c, strdup(hs), (size_t) n);
    uv_read_start((uv_stream_t *) &c->tcp, lc_alloc, lc_read);
}


static void
lc_stop(uv_timer_t *t)
{
    uv_stop(B.loop);
}


int
main(int argc, char **argv)
{
    static const struct option  opts[] = {
        { "port", required_argument, NULL, 'p' },
        { "conns", required_argument, NULL, 'c' },
        { "seconds", required_argument, NULL, 's' },
        { "warmup", required_argument, NULL, 'w' },
        { "path", required_argument, NULL, 'P' },
        { "text", required_argument, NULL, 't' },
        { "streaming", required_argument, NULL, 'S' },
        { "rate", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 }
    };
    struct sockaddr_in  addr;
    lc_conn_t          *cs;
    double              secs;
    int                 o, i;

    B.conns = 1000;
    B.seconds = 10;
    B.warmup = 2;
    B.path = "/ws/chat";
    B.text = "hello";
    B.streaming = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p': B.port = atoi(optarg); break;
        case 'c': B.conns = atoi(optarg); break;
        case 's': B.seconds = atof(optarg); break;
        case 'w': B.warmup = atof(optarg); break;
        case 'P': B.path = optarg; break;
        case 't': B.text = optarg; break;
        case 'S': B.streaming = atoi(optarg); break;
        case 'r': B.rate = atof(optarg); break;
        default:
            fprintf(stderr, "usage: chat_load --port P [--conns N] "
                    "[--seconds S] [--warmup S] [--rate R] "
                    "[--streaming 0|1]\n");
            return 2;
        }
    }
    if (B.port == 0) {
        fprintf(stderr, "chat_load: --port is required\n");
        return 2;
    }

    B.loop = uv_default_loop();
    B.t_start = uv_hrtime();
    B.t_measure = B.t_start + (uint64_t) (B.warmup * 1e9);
    B.t_end = B.t_measure + (uint64_t) (B.seconds * 1e9);
    uv_ip4_addr("127.0.0.1", B.port, &addr);

    cs = calloc((size_t) B.conns, sizeof(*cs));
    B.cs = cs;
    B.idle_head = B.idle_tail = -1;
    for (i = 0; i < B.conns; i++) {
        cs[i].idx = i;
        uv_tcp_init(B.loop, &cs[i].tcp);
        cs[i].tcp.data = &cs[i];
        cs[i].creq.data = &cs[i];
        uv_tcp_connect(&cs[i].creq, &cs[i].tcp,
                       (const struct sockaddr *) &addr, lc_connected);
    }
    if (B.rate > 0) {
        uv_timer_init(B.loop, &B.pace);
        uv_timer_start(&B.pace, lc_pace, 1, 1);
    }
    uv_timer_init(B.loop, &B.stop);
    uv_timer_start(&B.stop, lc_stop,
                   (uint64_t) ((B.warmup + B.seconds) * 1000) + 200, 0);
    uv_run(B.loop, UV_RUN_DEFAULT);

    secs = B.seconds;
    printf("RESULT conns=%d connected=%ld seconds=%.1f turns=%ld "
           "turns_per_s=%.0f errors=%ld ttfc_p50_ms=%.2f ttfc_p99_ms=%.2f "
           "turn_p50_ms=%.2f turn_p99_ms=%.2f mcpd_overhead_p50_ms=%.3f "
           "mcpd_overhead_p99_ms=%.3f rate=%.0f late_sends=%ld "
           "late_max_ms=%.1f\n",
           B.conns, B.connected, secs, B.turns, B.turns / secs, B.errors,
           mcp_hist_quantile(&B.ttfc, 0.5) / 1000.0,
           mcp_hist_quantile(&B.ttfc, 0.99) / 1000.0,
           mcp_hist_quantile(&B.turn, 0.5) / 1000.0,
           mcp_hist_quantile(&B.turn, 0.99) / 1000.0,
           mcp_hist_quantile(&B.ovh, 0.5) / 1000.0,
           mcp_hist_quantile(&B.ovh, 0.99) / 1000.0,
           B.rate, B.late, (double) B.late_max / 1e6);
    return 0;
}
