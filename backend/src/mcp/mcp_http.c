/* placeholder: Streamable HTTP transport lands next */
#include "mcp/mcp_transport.h"

#include <stdio.h>

mcp_transport_t *
mcp_http_start(const mcp_transport_env_t *env, char *err, size_t err_size,
    int *config_error)
{
    snprintf(err, err_size, "HTTP transport not built yet");
    *config_error = 1;
    return NULL;
}
