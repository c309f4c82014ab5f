/*
 * /health's verdict from mcpd's STATS reply (pure C, no allocation, so it
 * is unit-tested and fuzzed without nginx).
 *
 * mcpd's JSON reply carries its subsystems' verdict as the member
 *   "health": {"status": ..., "reasons": [{"component", "reason"}, ...]}
 * which the module folds into the document's own top-level status and
 * reasons: the other members are spliced as they are, without "health".
 * Its Prometheus reply carries one sample per component,
 *   mcp_health_component_degraded{component="redis"} 0|1
 * first of all, so the module can put its own component right before them.
 */

#ifndef MCP_STATUS_FOLD_H
#define MCP_STATUS_FOLD_H

#include <stddef.h>
#include <stdint.h>

#define MCP_HEALTH_PROM_COMPONENT  "mcp_health_component_degraded"

typedef struct {
    const uint8_t  *reasons;        /* health.reasons without its brackets */
    size_t          reasons_len;    /* 0: none (ok) */
    const uint8_t  *before;         /* the members before "health" */
    size_t          before_len;
    const uint8_t  *after;          /* and after it */
    size_t          after_len;
} mcp_status_fold_t;

/* 0, or -1 when the reply is not a well-formed JSON object (fold nothing). */
int mcp_status_fold(const uint8_t *reply, size_t len, mcp_status_fold_t *f);

/* 1 when a component sample of mcpd's Prometheus text is 1, else 0. */
int mcp_status_prom_degraded(const uint8_t *text, size_t len);

#endif /* MCP_STATUS_FOLD_H */
