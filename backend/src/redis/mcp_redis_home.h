/*
 * Home records that follow this instance's store (mcp_redis_route.h): a
 * conversation deleted here releases its record, one created here gets
 * it back if a delete released it meanwhile, and those started while
 * Redis was down are recorded when it returns.
 */

#ifndef MCP_REDIS_HOME_H
#define MCP_REDIS_HOME_H

#include "redis/mcp_redis_route.h"

/* The release script, the Redis-up hook and the conversation hook. */
int mcp_redis_home_init(mcp_redis_route_t *rt);

#endif /* MCP_REDIS_HOME_H */
