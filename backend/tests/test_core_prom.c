/*
 * mcp_prom_render(): a stats object as Prometheus samples, named by path,
 * label maps as labels (escaped), booleans as 0/1, strings and arrays
 * left out, odd key characters made legal.
 */

#include <stdlib.h>

#include "unit.h"
#include "core/mcp_daemon.h"


static void
test_paths_labels_and_values(void)
{
    static const mcp_prom_label_t  labels[] = {
        { "errors", "code" }, { NULL, NULL }
    };
    json_t  *o;
    char    *t;

    o = json_loads("{\"requests\": {\"completed\": 3, \"rate\": 0.5},"
                   " \"errors\": {\"rate_limited\": 2, \"we\\\"ird\\n\": 1,"
                   " \"note\": \"x\"},"
                   " \"offline\": true, \"name\": \"skip me\","
                   " \"list\": [1, 2], \"odd-key.x\": 7}", 0, NULL);
    CHECK(o != NULL);
    t = mcp_prom_render("mcp_chat", o, labels);
    CHECK(t != NULL);
    CHECK(strstr(t, "mcp_chat_requests_completed 3\n") != NULL);
    CHECK(strstr(t, "mcp_chat_requests_rate 0.5\n") != NULL);
    CHECK(strstr(t, "mcp_chat_errors{code=\"rate_limited\"} 2\n") != NULL);
    CHECK(strstr(t, "mcp_chat_errors{code=\"we\\\"ird\\n\"} 1\n") != NULL);
    CHECK(strstr(t, "mcp_chat_offline 1\n") != NULL);
    CHECK(strstr(t, "mcp_chat_odd_key_x 7\n") != NULL);
    CHECK(strstr(t, "skip") == NULL && strstr(t, "list") == NULL);
    CHECK(strstr(t, "note") == NULL);
    free(t);

    /* no label map: nested objects are paths */
    t = mcp_prom_render("p", o, NULL);
    CHECK(strstr(t, "p_errors_rate_limited 2\n") != NULL);
    free(t);
    json_decref(o);

    /* a label map of objects: the label goes down with the path */
    {
        static const mcp_prom_label_t  prov[] = {
            { "providers", "provider" }, { "kinds", "kind" }, { NULL, NULL }
        };

        o = json_loads("{\"providers\": {\"a\": {\"done\": 1,"
                       " \"lat\": {\"p99\": 5}, \"kinds\": {\"x\": 2}}}}",
                       0, NULL);
        t = mcp_prom_render("mcp_llm", o, prov);
        CHECK(strstr(t, "mcp_llm_providers_done{provider=\"a\"} 1\n") != NULL);
        CHECK(strstr(t, "mcp_llm_providers_lat_p99{provider=\"a\"} 5\n")
              != NULL);
        CHECK(strstr(t, "mcp_llm_providers_kinds{provider=\"a\",kind=\"x\"}"
                     " 2\n") != NULL);
        free(t);
        json_decref(o);
    }

    /* not an object: nothing, not a failure */
    t = mcp_prom_render("p", NULL, NULL);
    CHECK(t != NULL && t[0] == '\0');
    free(t);
}


UNIT_MAIN("core_prom",
    UNIT_TEST(test_paths_labels_and_values))
