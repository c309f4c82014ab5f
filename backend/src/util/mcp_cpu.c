/*
 * CPU placement of the event loop and its hand-off partners: see
 * mcp_cpu.h.  The loop pins itself with sched_setaffinity(0), which on
 * Linux applies to the calling thread only; threads it starts afterwards
 * inherit its set, which is why every repository thread places itself
 * when it starts, and why a fork is done with the loop's set released.
 */

#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "util/mcp_cpu.h"

static cpu_set_t  mcp_cpu_all;      /* the loop's set before it was pinned */
static cpu_set_t  mcp_cpu_away;     /* mcp_cpu_all but the loop's CPU */
static int        mcp_cpu_loop = -1;
static int        mcp_cpu_pins;


static void
mcp_cpu_set_one(cpu_set_t *set, int cpu)
{
    CPU_ZERO(set);
    CPU_SET(cpu, set);
}


int
mcp_cpu_pin_loop(char *err, size_t errlen)
{
    cpu_set_t  one;
    int        cpu;

    if (mcp_cpu_pins > 0) {
        mcp_cpu_pins++;
        return mcp_cpu_loop;
    }
    if (sched_getaffinity(0, sizeof(mcp_cpu_all), &mcp_cpu_all) != 0) {
        snprintf(err, errlen, "cannot read the CPUs this process may use");
        return -1;
    }
    if (CPU_COUNT(&mcp_cpu_all) < 2) {
        snprintf(err, errlen, "this process may use one CPU only: "
                 "nothing to separate");
        return -1;
    }
    cpu = sched_getcpu();
    if (cpu < 0 || !CPU_ISSET(cpu, &mcp_cpu_all)) {
        snprintf(err, errlen, "cannot tell which CPU the loop runs on");
        return -1;
    }
    mcp_cpu_set_one(&one, cpu);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
        snprintf(err, errlen, "cannot pin the loop to CPU %d", cpu);
        return -1;
    }
    mcp_cpu_away = mcp_cpu_all;
    CPU_CLR(cpu, &mcp_cpu_away);
    mcp_cpu_loop = cpu;
    mcp_cpu_pins = 1;
    return cpu;
}


void
mcp_cpu_unpin_loop(void)
{
    if (mcp_cpu_pins == 0 || --mcp_cpu_pins > 0) {
        return;
    }
    (void) sched_setaffinity(0, sizeof(mcp_cpu_all), &mcp_cpu_all);
    mcp_cpu_loop = -1;
}


int
mcp_cpu_loop_cpu(void)
{
    return mcp_cpu_loop;
}


void
mcp_cpu_place_thread(mcp_cpu_place_e where)
{
    cpu_set_t  one;

    if (mcp_cpu_loop < 0) {
        return;
    }
    if (where == MCP_CPU_WITH_LOOP) {
        mcp_cpu_set_one(&one, mcp_cpu_loop);
        (void) sched_setaffinity(0, sizeof(one), &one);
    } else {
        (void) sched_setaffinity(0, sizeof(mcp_cpu_away), &mcp_cpu_away);
    }
}


void
mcp_cpu_release_loop(void)
{
    if (mcp_cpu_loop >= 0) {
        (void) sched_setaffinity(0, sizeof(mcp_cpu_all), &mcp_cpu_all);
    }
}


void
mcp_cpu_repin_loop(void)
{
    mcp_cpu_place_thread(MCP_CPU_WITH_LOOP);    /* a no-op when unpinned */
}
