/*
 * edge_load: hold N WebSockets, then drive `ping` round trips on M of them.
 *
 *   edge_load -p PORT [-H HOST] [-u PATH] -n CONNS -a ACTIVE -d SECONDS
 *             [-P PROCS] [-r PID] [-l LABEL]
 *
 * PROCS processes (each under its own fd limit) share the connections;
 * process k binds its sockets to 127.0.0.(k+2) so the 4-tuples never run
 * out of ephemeral ports.  Every process uses one epoll loop.  Phase 1
 * opens the connections (at most 256 handshakes in flight per process) and
 * holds them, answering server pings.  The parent then measures the RSS of
 * the children of PID (the nginx master: its workers) against the baseline
 * taken before phase 1, and starts phase 2: each active connection sends
 * {"action":"ping"} and sends the next as soon as the reply arrives (closed
 * loop), for SECONDS.  Latencies go to an mcp_hist per process, merged by
 * the parent.  Output: key=value lines that bench/edge.sh reads.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/mcp_hist.h"

#define MAX_PROCS       16
#define INFLIGHT_HS     256
#define CONN_BUF        512

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_DEAD };

typedef struct {
    int       fd;
    int       state;
    int       active;
    int       waiting;          /* a ping is outstanding */
    uint64_t  sent_ns;
    size_t    len;
    uint8_t   buf[CONN_BUF];
} conn_t;

typedef struct {
    uint64_t    open;
    uint64_t    failed;
    uint64_t    rtts;
    uint64_t    errors;
    mcp_hist_t  hist;
} result_t;

static const char  *host = "127.0.0.1";
static const char  *path = "/ws/chat";
static int          port;

static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int
write_all(int fd, const void *p, size_t n)
{
    const char  *c = p;
    ssize_t      w;

    while (n) {
        w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -1;
        }
        c += w;
        n -= (size_t) w;
    }
    return 0;
}

static int
read_all(int fd, void *p, size_t n)
{
    char     *c = p;
    ssize_t   r;

    while (n) {
        r = read(fd, c, n);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        c += r;
        n -= (size_t) r;
    }
    return 0;
}

/* a masked client frame with a zero key: the payload goes as is */
static size_t
frame(uint8_t *out, unsigned opcode, const void *payload, size_t len)
{
    out[0] = (uint8_t) (0x80 | opcode);
    out[1] = (uint8_t) (0x80 | len);        /* len < 126 here */
    memset(out + 2, 0, 4);
    memcpy(out + 6, payload, len);
    return 6 + len;
}

static int
conn_start(conn_t *c, int epfd, int k)
{
    struct sockaddr_in   sa, src;
    struct epoll_event   ev;
    int                  one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        return -1;
    }

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&src, 0, sizeof(src));
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002 + k);
    if (bind(c->fd, (struct sockaddr *) &src, sizeof(src)) < 0) {
        close(c->fd);
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, host, &sa.sin_addr);

    if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0
        && errno != EINPROGRESS)
    {
        close(c->fd);
        return -1;
    }

    c->state = ST_CONNECTING;
    c->len = 0;

    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void
conn_fail(conn_t *c, int epfd, result_t *res)
{
    if (c->state == ST_DEAD) {
        return;
    }
    if (c->state == ST_OPEN) {
        res->open--;
    }
    res->failed++;
    c->state = ST_DEAD;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
}

static void
send_ping(conn_t *c)
{
    static const char  msg[] = "{\"action\":\"ping\",\"request_id\":\"b\"}";
    uint8_t            f[64];
    size_t             n = frame(f, 0x1, msg, sizeof(msg) - 1);

    c->sent_ns = now_ns();
    c->waiting = 1;
    if (write(c->fd, f, n) != (ssize_t) n) {
        c->waiting = 0;
    }
}

/* consume whole server frames in c->buf */
static int
conn_frames(conn_t *c, int running, result_t *res)
{
    size_t    off = 0, hl, plen;
    uint8_t   op, f[140];

    for ( ;; ) {
        if (c->len - off < 2) {
            break;
        }
        op = c->buf[off] & 0x0f;
        plen = c->buf[off + 1] & 0x7f;
        hl = 2;
        if (plen == 126) {
            if (c->len - off < 4) {
                break;
            }
            plen = ((size_t) c->buf[off + 2] << 8) | c->buf[off + 3];
            hl = 4;
        } else if (plen == 127) {
            return -1;              /* replies are small */
        }
        if (hl + plen > CONN_BUF) {
            return -1;
        }
        if (c->len - off < hl + plen) {
            break;
        }

        if (op == 0x9 && plen <= 125) {
            size_t n = frame(f, 0xA, c->buf + off + hl, plen);
            if (write(c->fd, f, n) != (ssize_t) n) {
                return -1;
            }
        } else if (op == 0x1) {
            if (c->waiting) {
                c->waiting = 0;
                mcp_hist_record(&res->hist, (now_ns() - c->sent_ns) / 1000);
                res->rtts++;
                if (running) {
                    send_ping(c);
                }
            }
        } else if (op == 0x8) {
            return -1;
        }
        off += hl + plen;
    }

    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return 0;
}

static void
conn_event(conn_t *c, int epfd, uint32_t events, int running, result_t *res,
    int *inflight)
{
    static const char  key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    char               req[512];
    struct epoll_event ev;
    ssize_t            n;
    int                len, err = 0;
    socklen_t          sl = sizeof(err);
    char              *end;

    if (c->state == ST_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        if (err) {
            (*inflight)--;
            conn_fail(c, epfd, res);
            return;
        }
        len = snprintf(req, sizeof(req),
                       "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n", path, host, key);
        if (write(c->fd, req, len) != len) {
            (*inflight)--;
            conn_fail(c, epfd, res);
            return;
        }
        c->state = ST_HANDSHAKE;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }

    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        return;
    }

    for ( ;; ) {
        n = read(c->fd, c->buf + c->len, CONN_BUF - c->len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            if (c->state == ST_HANDSHAKE) {
                (*inflight)--;
            }
            conn_fail(c, epfd, res);
            return;
        }
        c->len += (size_t) n;

        if (c->state == ST_HANDSHAKE) {
            c->buf[c->len < CONN_BUF ? c->len : CONN_BUF - 1] = 0;
            end = strstr((char *) c->buf, "\r\n\r\n");
            if (end == NULL) {
                if (c->len >= CONN_BUF - 1) {
                    (*inflight)--;
                    conn_fail(c, epfd, res);
                }
                continue;
            }
            (*inflight)--;
            if (strncmp((char *) c->buf, "HTTP/1.1 101", 12) != 0) {
                conn_fail(c, epfd, res);
                return;
            }
            end += 4;
            c->len -= (size_t) (end - (char *) c->buf);
            memmove(c->buf, end, c->len);
            c->state = ST_OPEN;
            res->open++;
        }

        if (conn_frames(c, running, res) != 0) {
            conn_fail(c, epfd, res);
            return;
        }
    }
}

static void
child(int k, int nconns, int nactive, int seconds, int up, int down)
{
    conn_t             *conns;
    result_t           *res;
    struct epoll_event  evs[512];
    int                 epfd, i, n, next = 0, inflight = 0, running = 0;
    char                go;
    uint64_t            end = 0;
    char                line[64];

    conns = calloc(nconns ? nconns : 1, sizeof(conn_t));
    res = calloc(1, sizeof(result_t));
    epfd = epoll_create1(0);
    if (conns == NULL || res == NULL || epfd < 0) {
        exit(2);
    }
    mcp_hist_reset(&res->hist);

    struct epoll_event  cev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epfd, EPOLL_CTL_ADD, down, &cev);

    for ( ;; ) {
        /* phase 1: keep INFLIGHT_HS handshakes going until all are done */
        while (next < nconns && inflight < INFLIGHT_HS) {
            if (conn_start(&conns[next], epfd, k) != 0) {
                conns[next].state = ST_DEAD;
                res->failed++;
            } else {
                inflight++;
            }
            next++;
            if (next == nconns && inflight == 0) {
                break;
            }
        }

        if (next == nconns && inflight == 0 && !running && end == 0) {
            n = snprintf(line, sizeof(line), "C %llu %llu\n",
                         (unsigned long long) res->open,
                         (unsigned long long) res->failed);
            write_all(up, line, n);
            end = 1;                /* reported; wait for "go" */
        }

        n = epoll_wait(epfd, evs, 512, 100);

        for (i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                if (read(down, &go, 1) != 1 || go != 'G') {
                    goto done;
                }
                running = 1;
                end = now_ns() + (uint64_t) seconds * 1000000000ull;
                for (int j = 0, a = 0; j < nconns && a < nactive; j++) {
                    if (conns[j].state == ST_OPEN) {
                        conns[j].active = 1;
                        send_ping(&conns[j]);
                        a++;
                    }
                }
                continue;
            }
            conn_event(evs[i].data.ptr, epfd, evs[i].events, running, res,
                       &inflight);
        }

        if (running && now_ns() >= end) {
            break;
        }
    }

done:
    write_all(up, res, sizeof(*res));
    exit(0);
}

/* RSS (KiB) of the children of ppid: the nginx workers */
static long
children_rss(long ppid)
{
    DIR            *d;
    struct dirent  *e;
    char            p[300], buf[4096], *s;
    long            total = 0, pp, rss;
    FILE           *f;

    d = opendir("/proc");
    if (d == NULL) {
        return 0;
    }

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(p, sizeof(p), "/proc/%s/status", e->d_name);
        f = fopen(p, "r");
        if (f == NULL) {
            continue;
        }
        pp = -1;
        rss = 0;
        while (fgets(buf, sizeof(buf), f)) {
            if (strncmp(buf, "PPid:", 5) == 0) {
                pp = strtol(buf + 5, NULL, 10);
            } else if (strncmp(buf, "VmRSS:", 6) == 0) {
                s = buf + 6;
                rss = strtol(s, NULL, 10);
            }
        }
        fclose(f);
        if (pp == ppid) {
            total += rss;
        }
    }

    closedir(d);
    return total;
}

int
main(int argc, char **argv)
{
    int          opt, conns = 1000, active = 1000, seconds = 10, procs = 4;
    int          up[MAX_PROCS][2], down[MAX_PROCS][2], i, st;
    long         rss_pid = 0, base = 0, rss = 0;
    const char  *label = "edge";
    char         line[64];
    unsigned long long  open, failed, held = 0, nfailed = 0;
    result_t    *r, total;
    double       kib = 0;

    while ((opt = getopt(argc, argv, "H:p:u:n:a:d:P:r:l:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'u': path = optarg; break;
        case 'n': conns = atoi(optarg); break;
        case 'a': active = atoi(optarg); break;
        case 'd': seconds = atoi(optarg); break;
        case 'P': procs = atoi(optarg); break;
        case 'r': rss_pid = atol(optarg); break;
        case 'l': label = optarg; break;
        default:
            fprintf(stderr, "usage: edge_load -p PORT -n CONNS -a ACTIVE "
                    "-d SECONDS [-P PROCS] [-r NGINX_MASTER_PID] [-l LABEL]"
                    " [-H HOST] [-u PATH]\n");
            return 2;
        }
    }

    if (port == 0 || procs < 1 || procs > MAX_PROCS) {
        fprintf(stderr, "edge_load: -p PORT required, 1 <= -P <= %d\n",
                MAX_PROCS);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);

    if (rss_pid) {
        base = children_rss(rss_pid);
    }

    for (i = 0; i < procs; i++) {
        if (pipe(up[i]) < 0 || pipe(down[i]) < 0) {
            return 1;
        }
        if (fork() == 0) {
            close(up[i][0]);
            close(down[i][1]);
            child(i, conns / procs + (i < conns % procs),
                  active / procs + (i < active % procs), seconds, up[i][1],
                  down[i][0]);
        }
        close(up[i][1]);
        close(down[i][0]);
    }

    for (i = 0; i < procs; i++) {
        size_t  n = 0;
        while (n < sizeof(line) - 1 && read(up[i][0], line + n, 1) == 1) {
            if (line[n++] == '\n') {
                break;
            }
        }
        line[n] = 0;
        if (sscanf(line, "C %llu %llu", &open, &failed) == 2) {
            held += open;
            nfailed += failed;
        }
    }

    sleep(2);       /* let the workers settle before measuring */

    if (rss_pid) {
        rss = children_rss(rss_pid);
        kib = held ? (double) (rss - base) / held : 0;
    }

    printf("label=%s conns=%d held=%llu failed=%llu rss_base_kib=%ld "
           "rss_kib=%ld kib_per_conn=%.2f\n", label, conns, held, nfailed,
           base, rss, kib);
    fflush(stdout);

    for (i = 0; i < procs; i++) {
        write_all(down[i][1], "G", 1);
    }

    r = malloc(sizeof(result_t));
    memset(&total, 0, sizeof(total));
    mcp_hist_reset(&total.hist);

    for (i = 0; i < procs; i++) {
        if (read_all(up[i][0], r, sizeof(*r)) == 0) {
            total.rtts += r->rtts;
            mcp_hist_merge(&total.hist, &r->hist);
        }
    }

    while (wait(&st) > 0) {
        /* reap */
    }

    printf("label=%s active=%d seconds=%d rtts=%llu rtt_per_s=%.0f "
           "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n", label, active, seconds,
           (unsigned long long) total.rtts, (double) total.rtts / seconds,
           mcp_hist_quantile(&total.hist, 0.5) / 1000.0,
           mcp_hist_quantile(&total.hist, 0.99) / 1000.0,
           mcp_hist_quantile(&total.hist, 0.999) / 1000.0);

    return 0;
}
