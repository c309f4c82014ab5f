/* The common streamed chunk, read without a tree: see mcp_llm_chunk.h. */

#include <stdint.h>
#include <string.h>

#include "llm/mcp_llm_chunk.h"
#include "mcp_utf8.h"

/*
 * A recursive-descent reader of RFC 8259 JSON that keeps nothing but the
 * few spans it was asked for.  Every function returns 0 when the input
 * may go on, -1 when it is not a plain chunk (invalid, or something the
 * tree must decide); -1 ends the scan at once.
 */

typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    unsigned              depth;
} chunk_scan_t;

typedef enum {
    CHUNK_OBJECT,
    CHUNK_ARRAY,
    CHUNK_STRING,
    CHUNK_NULL,
    CHUNK_OTHER                 /* number, true, false */
} chunk_type_e;

typedef struct {
    const char  *s;             /* between the quotes, as written */
    size_t       len;
    unsigned     escaped:1;
} chunk_str_t;

/* a member's reader: consumes the value after the colon */
typedef int (*chunk_member_pt)(chunk_scan_t *sc, const chunk_str_t *key,
    void *ctx);

/* the keys that matter, one bit each per object, to refuse duplicates */
enum {
    SEEN_ERROR = 1 << 0,
    SEEN_OBJECT = 1 << 1,
    SEEN_MODEL = 1 << 2,
    SEEN_USAGE = 1 << 3,
    SEEN_CHOICES = 1 << 4,
    SEEN_DELTA = 1 << 5,
    SEEN_FINISH = 1 << 6,
    SEEN_CONTENT = 1 << 7
};

typedef struct {
    mcp_llm_chunk_t  *c;
    unsigned          seen;     /* SEEN_* of the object being read */
} chunk_ctx_t;

static int chunk_value(chunk_scan_t *sc, chunk_type_e *type,
    chunk_str_t *str);


static void
chunk_ws(chunk_scan_t *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t'
                               || *sc->p == '\n' || *sc->p == '\r'))
    {
        sc->p++;
    }
}


static int
chunk_hex4(chunk_scan_t *sc, unsigned *cp)
{
    unsigned  v = 0, d;
    int       i;

    if (sc->end - sc->p < 4) {
        return -1;
    }
    for (i = 0; i < 4; i++) {
        d = sc->p[i];
        if (d >= '0' && d <= '9') {
            d -= '0';
        } else if ((d | 0x20) >= 'a' && (d | 0x20) <= 'f') {
            d = (d | 0x20) - 'a' + 10;
        } else {
            return -1;
        }
        v = v << 4 | d;
    }
    sc->p += 4;
    *cp = v;
    return 0;
}


/*
 * After "\u": a code point jansson accepts.  It refuses U+0000 (it would
 * cut a C string) and any surrogate that is not a high one followed by
 * an escaped low one.
 */
static int
chunk_unicode_escape(chunk_scan_t *sc)
{
    unsigned  cp, lo;

    if (chunk_hex4(sc, &cp) != 0 || cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff)) {
        return -1;
    }
    if (cp < 0xd800 || cp > 0xdbff) {
        return 0;
    }
    if (sc->end - sc->p < 2 || sc->p[0] != '\\' || sc->p[1] != 'u') {
        return -1;
    }
    sc->p += 2;
    if (chunk_hex4(sc, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
        return -1;
    }
    return 0;
}


/* At '"': a whole string, its raw bytes valid UTF-8 without controls. */
static int
chunk_string(chunk_scan_t *sc, chunk_str_t *str)
{
    const unsigned char  *start = ++sc->p;
    int                   high = 0;

    str->escaped = 0;
    while (sc->p < sc->end && *sc->p != '"') {
        if (*sc->p < 0x20) {
            return -1;
        }
        if (*sc->p >= 0x80) {
            high = 1;
            sc->p++;
            continue;
        }
        if (*sc->p++ != '\\') {
            continue;
        }
        str->escaped = 1;
        if (sc->p == sc->end) {
            return -1;
        }
        if (*sc->p == 'u') {
            sc->p++;
            if (chunk_unicode_escape(sc) != 0) {
                return -1;
            }
        } else if (strchr("\"\\/bfnrt", *sc->p) != NULL && *sc->p != '\0') {
            sc->p++;
        } else {
            return -1;
        }
    }
    if (sc->p == sc->end) {
        return -1;
    }
    str->s = (const char *) start;
    str->len = (size_t) (sc->p - start);
    sc->p++;
    /* escapes are ASCII: the raw span is UTF-8 exactly when the text is */
    return high && !mcp_utf8_valid(start, str->len) ? -1 : 0;
}


static size_t
chunk_digits(chunk_scan_t *sc)
{
    const unsigned char  *start = sc->p;

    while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9') {
        sc->p++;
    }
    return (size_t) (sc->p - start);
}


/*
 * A number in JSON's grammar that jansson surely reads: no exponent (a
 * large one overflows to an error there), an integer of at most 18
 * digits (more may not fit its long long), a fraction within 32 bytes.
 */
static int
chunk_number(chunk_scan_t *sc)
{
    const unsigned char  *start = sc->p;
    size_t                n;

    if (*sc->p == '-') {
        sc->p++;
    }
    n = chunk_digits(sc);
    if (n == 0 || (n > 1 && sc->p[-(long) n] == '0')) {
        return -1;                              /* none, or a leading 0 */
    }
    if (sc->p < sc->end && *sc->p == '.') {
        sc->p++;
        if (chunk_digits(sc) == 0 || sc->p - start > 32) {
            return -1;
        }
    } else if (n > 18) {
        return -1;
    }
    if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
        return -1;
    }
    return 0;
}


static int
chunk_literal(chunk_scan_t *sc, const char *word, size_t n)
{
    if ((size_t) (sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0) {
        return -1;
    }
    sc->p += n;
    return 0;
}


/*
 * At '{' or '[': enter it.  1 if it closes at once (it is empty), 0 if
 * a member or element follows, -1 if it nests too deep.
 */
static int
chunk_enter(chunk_scan_t *sc, int close)
{
    if (++sc->depth > MCP_LLM_CHUNK_MAX_DEPTH) {
        return -1;
    }
    sc->p++;
    chunk_ws(sc);
    if (sc->p < sc->end && *sc->p == close) {
        sc->p++;
        sc->depth--;
        return 1;
    }
    return 0;
}


/* After a member or element: 1 at the closing bracket, 0 after a comma. */
static int
chunk_next(chunk_scan_t *sc, int close)
{
    chunk_ws(sc);
    if (sc->p == sc->end) {
        return -1;
    }
    if (*sc->p == close) {
        sc->p++;
        sc->depth--;
        return 1;
    }
    if (*sc->p++ != ',') {
        return -1;
    }
    chunk_ws(sc);
    return 0;
}


/* At '{': each member to member(), which reads the value. */
static int
chunk_object(chunk_scan_t *sc, chunk_member_pt member, void *ctx)
{
    chunk_str_t  key;
    int          rc = chunk_enter(sc, '}');

    while (rc == 0) {
        if (sc->p == sc->end || *sc->p != '"' || chunk_string(sc, &key) != 0) {
            return -1;
        }
        chunk_ws(sc);
        if (sc->p == sc->end || *sc->p++ != ':') {
            return -1;
        }
        chunk_ws(sc);
        if (member(sc, &key, ctx) != 0) {
            return -1;
        }
        rc = chunk_next(sc, '}');
    }
    return rc < 0 ? -1 : 0;
}


/* At '[': each element; the first to first() if given, the rest read. */
static int
chunk_array(chunk_scan_t *sc, int (*first)(chunk_scan_t *, void *),
    void *ctx)
{
    chunk_type_e  type;
    chunk_str_t   str;
    int           rc = chunk_enter(sc, ']');

    while (rc == 0) {
        if ((first ? first(sc, ctx) : chunk_value(sc, &type, &str)) != 0) {
            return -1;
        }
        first = NULL;
        rc = chunk_next(sc, ']');
    }
    return rc < 0 ? -1 : 0;
}


static int
chunk_skip_member(chunk_scan_t *sc, const chunk_str_t *key, void *ctx)
{
    chunk_type_e  type;
    chunk_str_t   str;

    return chunk_value(sc, &type, &str);
}


/* Any value; a string's span in *str.  Objects and arrays are skipped. */
static int
chunk_value(chunk_scan_t *sc, chunk_type_e *type, chunk_str_t *str)
{
    if (sc->p == sc->end) {
        return -1;
    }
    switch (*sc->p) {
    case '{':
        *type = CHUNK_OBJECT;
        return chunk_object(sc, chunk_skip_member, NULL);
    case '[':
        *type = CHUNK_ARRAY;
        return chunk_array(sc, NULL, NULL);
    case '"':
        *type = CHUNK_STRING;
        return chunk_string(sc, str);
    case 't':
        *type = CHUNK_OTHER;
        return chunk_literal(sc, "true", 4);
    case 'f':
        *type = CHUNK_OTHER;
        return chunk_literal(sc, "false", 5);
    case 'n':
        *type = CHUNK_NULL;
        return chunk_literal(sc, "null", 4);
    default:
        *type = CHUNK_OTHER;
        return (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9'))
               ? chunk_number(sc) : -1;
    }
}


static int
chunk_is(const chunk_str_t *str, const char *name)
{
    size_t  n = strlen(name);

    return str->len == n && memcmp(str->s, name, n) == 0;
}


/*
 * A key that matters, seen once more: jansson keeps the last of equal
 * keys, and this reader keeps the first, so a second one is the tree's.
 */
static int
chunk_again(chunk_ctx_t *cx, unsigned bit)
{
    if (cx->seen & bit) {
        return 1;
    }
    cx->seen |= bit;
    return 0;
}


/* choices[0].delta: "content" is the text; "tool_calls" needs the tree. */
static int
chunk_delta_member(chunk_scan_t *sc, const chunk_str_t *key, void *ctx)
{
    chunk_ctx_t   *cx = ctx;
    chunk_type_e   type;
    chunk_str_t    str;

    /* an escaped key could spell any of these */
    if (key->escaped || chunk_is(key, "tool_calls")
        || chunk_value(sc, &type, &str) != 0)
    {
        return -1;
    }
    if (!chunk_is(key, "content")) {
        return 0;
    }
    if (chunk_again(cx, SEEN_CONTENT)) {
        return -1;
    }
    if (type == CHUNK_STRING) {
        cx->c->content = str.s;
        cx->c->content_len = str.len;
        cx->c->content_escaped = str.escaped;
        cx->c->has_content = 1;
    }
    return 0;
}


/* choices[0]: its "delta"; a "finish_reason" only as null or absent. */
static int
chunk_choice_member(chunk_scan_t *sc, const chunk_str_t *key, void *ctx)
{
    chunk_ctx_t   *cx = ctx, delta;
    chunk_type_e   type;
    chunk_str_t    str;

    if (key->escaped) {
        return -1;
    }
    if (chunk_is(key, "delta")) {
        if (chunk_again(cx, SEEN_DELTA)) {
            return -1;
        }
        if (sc->p < sc->end && *sc->p == '{') {
            delta.c = cx->c;
            delta.seen = 0;
            return chunk_object(sc, chunk_delta_member, &delta);
        }
        return chunk_value(sc, &type, &str);
    }
    if (chunk_value(sc, &type, &str) != 0) {
        return -1;
    }
    /* a finish ends the answer (or reports an error): the tree's */
    return chunk_is(key, "finish_reason")
           && (chunk_again(cx, SEEN_FINISH) || type == CHUNK_STRING) ? -1 : 0;
}


static int
chunk_first_choice(chunk_scan_t *sc, void *ctx)
{
    chunk_ctx_t   *cx = ctx, choice;
    chunk_type_e   type;
    chunk_str_t    str;

    if (sc->p < sc->end && *sc->p == '{') {
        choice.c = cx->c;
        choice.seen = 0;
        return chunk_object(sc, chunk_choice_member, &choice);
    }
    return chunk_value(sc, &type, &str);
}


/* The top level's "model", kept; an error or usage needs the tree. */
static int
chunk_root_scalar(chunk_ctx_t *cx, const chunk_str_t *key, chunk_type_e type,
    const chunk_str_t *str)
{
    if (chunk_is(key, "error")) {
        return chunk_again(cx, SEEN_ERROR) || type != CHUNK_NULL ? -1 : 0;
    }
    if (chunk_is(key, "object")) {
        return chunk_again(cx, SEEN_OBJECT)
               || (type == CHUNK_STRING
                   && (str->escaped || chunk_is(str, "error"))) ? -1 : 0;
    }
    if (chunk_is(key, "usage")) {
        return chunk_again(cx, SEEN_USAGE) || type == CHUNK_OBJECT ? -1 : 0;
    }
    if (!chunk_is(key, "model")) {
        return 0;
    }
    if (chunk_again(cx, SEEN_MODEL)
        || (type == CHUNK_STRING && str->escaped))
    {
        return -1;
    }
    if (type == CHUNK_STRING) {
        cx->c->model = str->s;
        cx->c->model_len = str->len;
    }
    return 0;
}


static int
chunk_root_member(chunk_scan_t *sc, const chunk_str_t *key, void *ctx)
{
    chunk_ctx_t   *cx = ctx;
    chunk_type_e   type;
    chunk_str_t    str;

    /* Groq reports usage in x_groq.usage */
    if (key->escaped || chunk_is(key, "x_groq")) {
        return -1;
    }
    if (chunk_is(key, "choices")) {
        if (chunk_again(cx, SEEN_CHOICES)) {
            return -1;
        }
        if (sc->p < sc->end && *sc->p == '[') {
            return chunk_array(sc, chunk_first_choice, cx);
        }
        return chunk_value(sc, &type, &str);
    }
    if (chunk_value(sc, &type, &str) != 0) {
        return -1;
    }
    return chunk_root_scalar(cx, key, type, &str);
}


int
mcp_llm_chunk_scan(const char *p, size_t len, mcp_llm_chunk_t *c)
{
    chunk_scan_t  sc;
    chunk_ctx_t   root;

    memset(c, 0, sizeof(*c));
    sc.p = (const unsigned char *) p;
    sc.end = sc.p + len;
    sc.depth = 0;
    root.c = c;
    root.seen = 0;

    chunk_ws(&sc);
    if (sc.p == sc.end || *sc.p != '{'
        || chunk_object(&sc, chunk_root_member, &root) != 0)
    {
        return 0;
    }
    chunk_ws(&sc);
    return sc.p == sc.end;
}


/* ------------------------------------------------------------ decoding */

static unsigned
chunk_hex_value(const char *p)
{
    unsigned  v = 0, d;
    int       i;

    for (i = 0; i < 4; i++) {
        d = (unsigned char) p[i];
        d = d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10;
        v = v << 4 | d;
    }
    return v;
}


static size_t
chunk_put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char) (0xc0 | cp >> 6);
        out[1] = (char) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char) (0xe0 | cp >> 12);
        out[1] = (char) (0x80 | (cp >> 6 & 0x3f));
        out[2] = (char) (0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char) (0xf0 | cp >> 18);
    out[1] = (char) (0x80 | (cp >> 12 & 0x3f));
    out[2] = (char) (0x80 | (cp >> 6 & 0x3f));
    out[3] = (char) (0x80 | (cp & 0x3f));
    return 4;
}


size_t
mcp_llm_chunk_unescape(const char *in, size_t len, char *out)
{
    static const char  from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char        *end = in + len;
    size_t             n = 0;
    uint32_t           cp;

    while (in < end) {
        if (*in != '\\') {
            out[n++] = *in++;
            continue;
        }
        in++;
        if (*in != 'u') {
            out[n++] = to[strchr(from, *in) - from];
            in++;
            continue;
        }
        cp = chunk_hex_value(in + 1);
        in += 5;
        if (cp >= 0xd800 && cp <= 0xdbff) {         /* then \uDCxx */
            cp = 0x10000 + ((cp - 0xd800) << 10)
                 + (chunk_hex_value(in + 2) - 0xdc00);
            in += 6;
        }
        n += chunk_put_utf8(out + n, cp);
    }
    return n;
}
