/*
 * CPU placement of the event loop and of the threads that take work from
 * it (chat.service.repository.connection_pool.writer_affinity: loop).
 *
 * The repository's writer and the event loop hand each group of writes
 * back and forth: the writer commits and wakes the loop, the loop answers
 * the callers and hands their next writes over.  On two CPUs each hand-off
 * wakes the other CPU, which on a virtual machine costs 50-140 us (the
 * host wakes a halted vCPU); on one CPU it is a context switch.  Pinned:
 * the loop thread and the threads placed "with the loop" share the CPU the
 * loop was running on; the threads placed "away" get every other CPU the
 * process may use.  Process-wide state: one event loop per process.
 */

#ifndef MCP_CPU_H
#define MCP_CPU_H

typedef enum {
    MCP_CPU_WITH_LOOP = 0,
    MCP_CPU_AWAY_FROM_LOOP
} mcp_cpu_place_e;

/*
 * The calling thread (the loop) is pinned to the CPU it runs on.  Returns
 * that CPU, or -1 with a reason in err when it cannot be done (fewer than
 * two CPUs allowed: nothing to separate).  Counted: the loop stays pinned
 * until as many mcp_cpu_unpin_loop() calls.
 */
int mcp_cpu_pin_loop(char *err, size_t errlen);
void mcp_cpu_unpin_loop(void);

/* The loop's CPU, or -1 when the loop is not pinned. */
int mcp_cpu_loop_cpu(void);

/* The calling thread goes with the loop or away from it; a no-op when the
   loop is not pinned. */
void mcp_cpu_place_thread(mcp_cpu_place_e where);

/*
 * Around a fork from the loop (uv_spawn): a child inherits the calling
 * thread's CPU set, and a child process has no business on the loop's
 * CPU.  No-ops when the loop is not pinned.
 */
void mcp_cpu_release_loop(void);
void mcp_cpu_repin_loop(void);

#endif /* MCP_CPU_H */
