/* placeholder entry point: mcpd proper lands with the WebSocket edge work */
#include <stdio.h>
#include <string.h>

#include "llm/mcp_llm_cli.h"

int
main(int argc, char **argv)
{
    /* interim: `mcpd -c CONFIG llm ...` (the llm helper's CLI) until the
       real main lands; its dispatch is the one strcmp line below */
    if (argc > 3 && strcmp(argv[1], "-c") == 0 && strcmp(argv[3], "llm") == 0) {
        return mcp_llm_cli_main(argv[2], argc - 3, argv + 3);
    }
    fprintf(stderr, "mcpd: not built yet\n");
    return 1;
}
