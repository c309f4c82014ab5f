/* Retry-After parsing, backoff and the circuit breaker: mcp_llm_policy.h. */

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "llm/mcp_llm_policy.h"

static const char *
skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

/* A non-negative decimal number; NULL when none. */
static const char *
parse_number(const char *s, double *out)
{
    char    *end;
    double   v;

    if (!isdigit((unsigned char) *s) && *s != '.') {
        return NULL;
    }
    v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0) {
        return NULL;
    }
    *out = v;
    return end;
}

static int
ms_from_double(double ms, int64_t *out)
{
    if (ms > 9.0e15) {
        return -1;
    }
    *out = (int64_t) ceil(ms - 1e-9);
    if (*out < 0) {
        *out = 0;
    }
    return 0;
}

int
mcp_llm_parse_duration(const char *s, int64_t *ms)
{
    double       total = 0, v, unit;
    const char  *p;

    s = skip_ws(s);
    if (*s == '\0') {
        return -1;
    }

    while (*s && *s != ' ' && *s != '\t') {
        p = parse_number(s, &v);
        if (p == NULL) {
            return -1;
        }

        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else if (strncmp(p, "us", 2) == 0) {
            unit = 0.001;
            p += 2;
        } else if (strncmp(p, "\xc2\xb5s", 3) == 0) {
            unit = 0.001;
            p += 3;
        } else if (strncmp(p, "ns", 2) == 0) {
            unit = 0.000001;
            p += 2;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*skip_ws(p) == '\0' && s == skip_ws(s) && total == 0) {
            unit = 1000;                     /* bare number: seconds */
        } else {
            return -1;
        }

        total += v * unit;
        s = p;
    }

    if (*skip_ws(s) != '\0') {
        return -1;
    }
    return ms_from_double(total, ms);
}

static int
parse_http_date(const char *s, time_t *out)
{
    static const char *const  formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT",        /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT",        /* RFC 850 */
        "%a %b %d %H:%M:%S %Y",             /* asctime */
    };
    struct tm    tm;
    const char  *end;
    size_t       i;

    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end && *skip_ws(end) == '\0') {
            *out = timegm(&tm);
            return *out == (time_t) -1 ? -1 : 0;
        }
    }
    return -1;
}

int
mcp_llm_parse_retry_after(const char *s, time_t now, int64_t *ms)
{
    double       v;
    const char  *p;
    time_t       t;

    s = skip_ws(s);
    p = parse_number(s, &v);
    if (p && *skip_ws(p) == '\0') {
        return ms_from_double(v * 1000.0, ms);
    }

    if (parse_http_date(s, &t) != 0) {
        return -1;
    }
    *ms = t > now ? (int64_t) (t - now) * 1000 : 0;
    return 0;
}

int
mcp_llm_parse_retry_after_ms(const char *s, int64_t *ms)
{
    double       v;
    const char  *p;

    s = skip_ws(s);
    p = parse_number(s, &v);
    if (p == NULL || *skip_ws(p) != '\0') {
        return -1;
    }
    return ms_from_double(v, ms);
}

int64_t
mcp_llm_backoff_ms(unsigned attempt, double factor_s, int64_t cap_ms,
    double r01)
{
    double  ceiling;

    if (attempt > 40) {
        attempt = 40;
    }
    ceiling = factor_s * 1000.0 * ldexp(1.0, (int) attempt);
    if (cap_ms > 0 && ceiling > (double) cap_ms) {
        ceiling = (double) cap_ms;
    }
    if (r01 < 0 || r01 >= 1) {
        r01 = 0;
    }
    return (int64_t) (ceiling * r01);
}

/* ------------------------------------------------------------ breaker */

void
mcp_llm_breaker_init(mcp_llm_breaker_t *b, unsigned threshold,
    int64_t cooldown_ms)
{
    memset(b, 0, sizeof(*b));
    b->threshold = threshold;
    b->cooldown_ms = cooldown_ms;
}

static void
breaker_tick(mcp_llm_breaker_t *b, int64_t now)
{
    if (b->state == MCP_LLM_BREAKER_OPEN
        && now - b->opened_at >= b->cooldown_ms)
    {
        b->state = MCP_LLM_BREAKER_HALF_OPEN;
        b->probing = 0;
    }
}

int
mcp_llm_breaker_allow(mcp_llm_breaker_t *b, int64_t now_ms)
{
    if (b->threshold == 0) {
        return 1;
    }

    breaker_tick(b, now_ms);

    switch (b->state) {
    case MCP_LLM_BREAKER_CLOSED:
        return 1;
    case MCP_LLM_BREAKER_HALF_OPEN:
        if (b->probing) {
            return 0;
        }
        b->probing = 1;
        return 1;
    default:
        return 0;
    }
}

static void
breaker_open(mcp_llm_breaker_t *b, int64_t now)
{
    b->state = MCP_LLM_BREAKER_OPEN;
    b->opened_at = now;
    b->probing = 0;
    b->opens++;
}

void
mcp_llm_breaker_record(mcp_llm_breaker_t *b, int64_t now_ms, int ok)
{
    if (b->threshold == 0) {
        return;
    }

    if (ok < 0) {
        if (b->state == MCP_LLM_BREAKER_HALF_OPEN) {
            b->probing = 0;
        }
        return;
    }

    if (ok) {
        b->failures = 0;
        b->state = MCP_LLM_BREAKER_CLOSED;
        b->probing = 0;
        return;
    }

    switch (b->state) {
    case MCP_LLM_BREAKER_HALF_OPEN:
        breaker_open(b, now_ms);
        break;
    case MCP_LLM_BREAKER_CLOSED:
        if (++b->failures >= b->threshold) {
            breaker_open(b, now_ms);
        }
        break;
    default:
        break;                  /* late result of a request sent before */
    }
}

const char *
mcp_llm_breaker_state(mcp_llm_breaker_t *b, int64_t now_ms)
{
    if (b->threshold) {
        breaker_tick(b, now_ms);
    }
    switch (b->state) {
    case MCP_LLM_BREAKER_OPEN:
        return "open";
    case MCP_LLM_BREAKER_HALF_OPEN:
        return "half_open";
    default:
        return "closed";
    }
}
