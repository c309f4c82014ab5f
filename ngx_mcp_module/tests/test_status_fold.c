/* Folding mcpd's "health" member into /health (mcp_status_fold.c). */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "mcp_status_fold.h"

static char  t_out[4096];

/* the fold as the module writes it: reasons | before | after */
static const char *
t_fold(const char *reply)
{
    mcp_status_fold_t  f;

    if (mcp_status_fold((const uint8_t *) reply, strlen(reply), &f) != 0) {
        return "ERROR";
    }
    snprintf(t_out, sizeof(t_out), "%.*s|%.*s|%.*s",
             (int) f.reasons_len, (const char *) f.reasons,
             (int) f.before_len, (const char *) f.before,
             (int) f.after_len, (const char *) f.after);
    return t_out;
}


static void
test_health_member_taken_out(void)
{
    /* as mcpd sends it: first */
    CHECK_EQ_STR(t_fold("{\"health\":{\"status\":\"ok\",\"reasons\":[]},"
                        "\"redis\":{\"state\":\"off\"},\"mcpd\":{\"pid\":1}}"),
                 "||\"redis\":{\"state\":\"off\"},\"mcpd\":{\"pid\":1}");

    CHECK_EQ_STR(t_fold("{\"health\":{\"status\":\"degraded\",\"reasons\":"
                        "[{\"component\":\"redis\",\"reason\":\"down [x]\"},"
                        "{\"component\":\"llm\",\"reason\":\"}\"}]},"
                        "\"a\":1}"),
                 "{\"component\":\"redis\",\"reason\":\"down [x]\"},"
                 "{\"component\":\"llm\",\"reason\":\"}\"}||\"a\":1");
}


static void
test_anywhere_and_with_blanks(void)
{
    /* in the middle, with blanks: the members around it, no stray comma */
    CHECK_EQ_STR(t_fold(" { \"a\" : 1 , \"health\" : { \"reasons\" : [ "
                        "{\"component\":\"x\",\"reason\":\"y\"} ] } ,"
                        " \"b\" : [2] } "),
                 "{\"component\":\"x\",\"reason\":\"y\"}|\"a\" : 1|"
                 "\"b\" : [2]");

    /* last */
    CHECK_EQ_STR(t_fold("{\"a\":1,\"health\":{\"reasons\":[]}}"), "|\"a\":1|");

    /* alone */
    CHECK_EQ_STR(t_fold("{\"health\":{\"reasons\":[]}}"), "||");

    /* an older mcpd, or a stand-in: no health, everything spliced */
    CHECK_EQ_STR(t_fold("{\"fake\":{\"ok\":true}}"),
                 "|\"fake\":{\"ok\":true}|");
    CHECK_EQ_STR(t_fold("{}"), "||");

    /* "health" deeper down is not the verdict */
    CHECK_EQ_STR(t_fold("{\"x\":{\"health\":{\"reasons\":[1]}}}"),
                 "|\"x\":{\"health\":{\"reasons\":[1]}}|");

    /* reasons not an array: nothing folded, the member still left out */
    CHECK_EQ_STR(t_fold("{\"health\":{\"reasons\":\"no\"},\"a\":1}"),
                 "||\"a\":1");
}


static void
test_malformed_folds_nothing(void)
{
    CHECK_EQ_STR(t_fold(""), "ERROR");
    CHECK_EQ_STR(t_fold("[1]"), "ERROR");
    CHECK_EQ_STR(t_fold("{\"a\":1"), "ERROR");
    CHECK_EQ_STR(t_fold("{\"a\":1,}"), "ERROR");
    CHECK_EQ_STR(t_fold("{\"health\":{\"reasons\":[}}"), "ERROR");
    CHECK_EQ_STR(t_fold("{\"a\" 1}"), "ERROR");
}


static int
t_prom(const char *text)
{
    return mcp_status_prom_degraded((const uint8_t *) text, strlen(text));
}


static void
test_prometheus_verdict(void)
{
    CHECK(t_prom("") == 0);
    CHECK(t_prom("mcp_health_component_degraded{component=\"redis\"} 0\n"
                 "mcpd_pid 1\n") == 0);
    CHECK(t_prom("mcp_health_component_degraded{component=\"redis\"} 0\n"
                 "mcp_health_component_degraded{component=\"llm\"} 1\n"
                 "mcpd_pid 1\n") == 1);
    /* the last line without its newline */
    CHECK(t_prom("mcp_health_component_degraded{component=\"mcp\"} 1") == 1);
    /* another metric ending in 1 is not a verdict */
    CHECK(t_prom("mcpd_links 1\nmcp_health_component_degradedX 1\n") == 0);
    CHECK(t_prom("mcp_health_component_degraded{component=\"a\"} 10\n")
          == 0);
}


UNIT_MAIN("status_fold",
    UNIT_TEST(test_health_member_taken_out),
    UNIT_TEST(test_anywhere_and_with_blanks),
    UNIT_TEST(test_malformed_folds_nothing),
    UNIT_TEST(test_prometheus_verdict))
