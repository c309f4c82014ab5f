/*
 * MCP tool -> OpenAI function tool.
 *
 * The model gets only {"type":"function","function":{name, description,
 * parameters}}: the MCP extras (title, annotations, outputSchema, _meta,
 * icons, execution) cost tokens and strict providers reject them.  The
 * input schema is passed through intact (anyOf/oneOf/$ref/$defs/type
 * arrays included); only its top-level "$schema" is dropped and a missing
 * or non-object schema becomes {"type":"object","properties":{}}.
 *
 * Converted parameters are cached in an LRU keyed by a 64-bit hash of the
 * schema's canonical text (sorted keys, compact), so a tools/list refresh
 * that repeats the same schemas does no work.
 */

#ifndef MCP_SCHEMA_H
#define MCP_SCHEMA_H

#include <jansson.h>
#include <stdint.h>

#include "util/mcp_lru.h"

/* Hash of a schema's canonical text; 0 for NULL. */
uint64_t mcp_schema_hash(const json_t *schema);

/* The "parameters" object for an input schema (new reference). */
json_t *mcp_schema_parameters(const json_t *input_schema);

/*
 * The OpenAI tool for an MCP tool object, under the exposed name.  cache
 * may be NULL.  New reference, NULL when tool is not an object.
 */
json_t *mcp_schema_tool_to_openai(const json_t *tool, const char *exposed,
    mcp_lru_t *cache);

/* An LRU suitable as cache above (values are json_t *). */
mcp_lru_t *mcp_schema_cache_create(size_t capacity);

#endif /* MCP_SCHEMA_H */
