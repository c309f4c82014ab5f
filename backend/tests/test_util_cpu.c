/*
 * util/mcp_cpu: the loop pinned to its CPU, threads placed with it or away
 * from it, released around a fork and pinned again, its set given back at
 * the last unpin; one CPU allowed: nothing done, and why.
 */

#include <pthread.h>
#include <sched.h>

#include "util/mcp_cpu.h"
#include "unit.h"


static cpu_set_t
affinity(void)
{
    cpu_set_t  s;

    CPU_ZERO(&s);
    (void) sched_getaffinity(0, sizeof(s), &s);
    return s;
}


static void *
placed_away(void *arg)
{
    cpu_set_t  *out = arg;

    mcp_cpu_place_thread(MCP_CPU_AWAY_FROM_LOOP);
    *out = affinity();
    return NULL;
}


static void *
placed_with(void *arg)
{
    cpu_set_t  *out = arg;

    mcp_cpu_place_thread(MCP_CPU_WITH_LOOP);
    *out = affinity();
    return NULL;
}


static cpu_set_t
in_thread(void *(*fn)(void *))
{
    pthread_t  t;
    cpu_set_t  s;

    CPU_ZERO(&s);
    CHECK(pthread_create(&t, NULL, fn, &s) == 0);
    pthread_join(t, NULL);
    return s;
}


static void
test_cpu_pin_place_release(void)
{
    cpu_set_t  all = affinity(), one, s;
    char       err[128] = "";
    int        cpu;

    if (CPU_COUNT(&all) < 2) {
        printf("  (one CPU here: only the refusal is checked)\n");
        return;
    }
    CHECK_EQ_INT(mcp_cpu_loop_cpu(), -1);
    cpu = mcp_cpu_pin_loop(err, sizeof(err));
    CHECK(cpu >= 0 && CPU_ISSET(cpu, &all));
    CHECK_EQ_INT(mcp_cpu_loop_cpu(), cpu);
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    s = affinity();
    CHECK(CPU_EQUAL(&s, &one));

    /* a second pin is counted: the first unpin keeps the loop pinned */
    CHECK_EQ_INT(mcp_cpu_pin_loop(err, sizeof(err)), cpu);

    s = in_thread(placed_with);
    CHECK(CPU_EQUAL(&s, &one));
    s = in_thread(placed_away);
    CHECK_EQ_INT(CPU_COUNT(&s), CPU_COUNT(&all) - 1);
    CHECK(!CPU_ISSET(cpu, &s));

    /* around a fork the loop has its whole set, then its CPU again */
    mcp_cpu_release_loop();
    s = affinity();
    CHECK(CPU_EQUAL(&s, &all));
    mcp_cpu_repin_loop();
    s = affinity();
    CHECK(CPU_EQUAL(&s, &one));

    mcp_cpu_unpin_loop();
    s = affinity();
    CHECK(CPU_EQUAL(&s, &one));
    mcp_cpu_unpin_loop();
    s = affinity();
    CHECK(CPU_EQUAL(&s, &all));
    CHECK_EQ_INT(mcp_cpu_loop_cpu(), -1);

    /* not pinned: placing and releasing change nothing */
    s = in_thread(placed_with);
    CHECK(CPU_EQUAL(&s, &all));
    mcp_cpu_release_loop();
    mcp_cpu_repin_loop();
    s = affinity();
    CHECK(CPU_EQUAL(&s, &all));
}


static void
test_cpu_one_allowed_is_refused(void)
{
    cpu_set_t  all = affinity(), one, s;
    char       err[128] = "";
    int        first = 0;

    while (!CPU_ISSET(first, &all)) {
        first++;
    }
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
    CHECK_EQ_INT(mcp_cpu_pin_loop(err, sizeof(err)), -1);
    CHECK(strstr(err, "one CPU only") != NULL);
    CHECK_EQ_INT(mcp_cpu_loop_cpu(), -1);
    mcp_cpu_unpin_loop();                   /* harmless when not pinned */
    s = affinity();
    CHECK(CPU_EQUAL(&s, &one));
    (void) sched_setaffinity(0, sizeof(all), &all);
}


UNIT_MAIN("util_cpu",
    UNIT_TEST(test_cpu_pin_place_release),
    UNIT_TEST(test_cpu_one_allowed_is_refused))
