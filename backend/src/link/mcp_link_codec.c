/*
 * Link codec.  See mcp_link_codec.h and docs/protocol.md.
 */

#include <string.h>

#include "mcp_link_codec.h"

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t) ((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

static uint64_t
get64(const uint8_t *p)
{
    return ((uint64_t) get32(p) << 32) | get32(p + 4);
}

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static void
put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t) (v >> 32));
    put32(p + 4, (uint32_t) v);
}


long
mcp_link_frame_parse(const uint8_t *buf, size_t len, uint32_t max_payload,
    mcp_link_frame_t *frame, size_t *need)
{
    uint32_t  plen;

    if (len < MCP_LINK_HDR_LEN) {
        *need = MCP_LINK_HDR_LEN;
        return MCP_LINK_NEED_MORE;
    }

    plen = get32(buf);

    if (buf[4] < MCP_LINK_HELLO || buf[4] > MCP_LINK_TYPE_MAX) {
        return MCP_LINK_ERR_TYPE;
    }

    if (buf[6] != 0 || buf[7] != 0) {
        return MCP_LINK_ERR_RSV;
    }

    if (max_payload == 0 || max_payload > MCP_LINK_MAX_PAYLOAD) {
        max_payload = MCP_LINK_MAX_PAYLOAD;
    }

    /* checked before the caller grows any buffer to *need */
    if (plen > max_payload) {
        return MCP_LINK_ERR_TOO_BIG;
    }

    if (len - MCP_LINK_HDR_LEN < plen) {
        *need = (size_t) MCP_LINK_HDR_LEN + plen;
        return MCP_LINK_NEED_MORE;
    }

    frame->len = plen;
    frame->type = buf[4];
    frame->flags = buf[5];
    frame->sid = get64(buf + 8);
    frame->payload = buf + MCP_LINK_HDR_LEN;

    return (long) (MCP_LINK_HDR_LEN + plen);
}


size_t
mcp_link_hdr_write(uint8_t *out, uint8_t type, uint8_t flags, uint64_t sid,
    uint32_t len)
{
    put32(out, len);
    out[4] = type;
    out[5] = flags;
    out[6] = 0;
    out[7] = 0;
    put64(out + 8, sid);

    return MCP_LINK_HDR_LEN;
}


const char *
mcp_link_type_name(uint8_t type)
{
    static const char *const  names[] = {
        "?", "HELLO", "OPEN", "MESSAGE", "CLOSE", "FLOW", "STATS"
    };

    return type <= MCP_LINK_TYPE_MAX ? names[type] : "?";
}


const char *
mcp_link_strerror(long rc)
{
    switch (rc) {
    case MCP_LINK_ERR_TYPE:
        return "unknown frame type";
    case MCP_LINK_ERR_RSV:
        return "reserved header bits set";
    case MCP_LINK_ERR_TOO_BIG:
        return "frame payload exceeds the limit";
    default:
        return "no error";
    }
}


size_t
mcp_link_hello_write(uint8_t *out, const mcp_link_hello_t *h)
{
    put16(out, h->min_version);
    put16(out + 2, h->max_version);
    put32(out + 4, h->pid);
    put32(out + 8, h->worker);

    return MCP_LINK_HELLO_LEN;
}


int
mcp_link_hello_read(const uint8_t *p, size_t len, mcp_link_hello_t *h)
{
    /* longer payloads are accepted so later versions can append fields */
    if (len < MCP_LINK_HELLO_LEN) {
        return -1;
    }

    h->min_version = get16(p);
    h->max_version = get16(p + 2);
    h->pid = get32(p + 4);
    h->worker = get32(p + 8);

    return h->min_version <= h->max_version ? 0 : -1;
}


size_t
mcp_link_close_write(uint8_t *out, uint16_t code, const char *reason,
    size_t reason_len)
{
    if (reason_len > MCP_LINK_CLOSE_REASON_MAX) {
        reason_len = MCP_LINK_CLOSE_REASON_MAX;
    }

    put16(out, code);

    if (reason_len) {
        memcpy(out + 2, reason, reason_len);
    }

    return 2 + reason_len;
}


int
mcp_link_close_read(const uint8_t *p, size_t len, uint16_t *code,
    const uint8_t **reason, size_t *reason_len)
{
    if (len < 2 || len > 2 + MCP_LINK_CLOSE_REASON_MAX) {
        return -1;
    }

    *code = get16(p);
    *reason = p + 2;
    *reason_len = len - 2;

    return 0;
}


size_t
mcp_link_kv_size(size_t klen, size_t vlen)
{
    return 2 + klen + 4 + vlen;
}


int
mcp_link_kv_put(uint8_t *buf, size_t cap, size_t *pos, const char *key,
    size_t klen, const char *val, size_t vlen)
{
    size_t  at = *pos;

    if (klen > 0xffff || vlen > 0xffffffffu || at > cap
        || cap - at < mcp_link_kv_size(klen, vlen))
    {
        return -1;
    }

    put16(buf + at, (uint16_t) klen);
    memcpy(buf + at + 2, key, klen);
    at += 2 + klen;
    put32(buf + at, (uint32_t) vlen);

    if (vlen) {
        memcpy(buf + at + 4, val, vlen);
    }

    *pos = at + 4 + vlen;

    return 0;
}


int
mcp_link_kv_next(const uint8_t *p, size_t len, size_t *pos,
    const uint8_t **key, size_t *klen, const uint8_t **val, size_t *vlen)
{
    size_t    at = *pos;
    uint16_t  kl;
    uint32_t  vl;

    if (at == len) {
        return 0;
    }

    if (at > len || len - at < 2) {
        return -1;
    }

    kl = get16(p + at);
    at += 2;

    if (len - at < (size_t) kl + 4) {
        return -1;
    }

    *key = p + at;
    *klen = kl;
    at += kl;
    vl = get32(p + at);
    at += 4;

    if (len - at < vl) {
        return -1;
    }

    *val = p + at;
    *vlen = vl;
    *pos = at + vl;

    return 1;
}


int
mcp_link_kv_find(const uint8_t *p, size_t len, const char *key,
    const uint8_t **val, size_t *vlen)
{
    size_t          pos = 0, klen, want = strlen(key), vl;
    const uint8_t  *k, *v;
    int             rc;

    while ((rc = mcp_link_kv_next(p, len, &pos, &k, &klen, &v, &vl)) == 1) {
        if (klen == want && memcmp(k, key, want) == 0) {
            *val = v;
            *vlen = vl;
            return 1;
        }
    }

    return rc;
}
