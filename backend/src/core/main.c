/*
 * mcpd: the sidecar daemon behind the nginx module.
 *
 *   mcpd [-c FILE] [--socket PATH]          run (default conf/mcpd.yaml)
 *   mcpd [-c FILE] --check-config           validate, print "ok" or the error
 *   mcpd [-c FILE] <command> [args...]      a subcommand (table below)
 *   mcpd --version | --help
 *
 * Subsystems plug in with one line each: an init function in
 * mcp_subsystems (registers stats, actions and hooks on the daemon) and,
 * when they offer one, a command in mcp_commands.
 */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat.h"
#include "core/mcp_daemon.h"
#include "repo/mcp_repo_daemon.h"
#include "llm/mcp_llm_daemon.h"
#include "mcp/mcp_host_daemon.h"
#include "redis/mcp_redis_daemon.h"

#define MCPD_DEFAULT_CONF  "conf/mcpd.yaml"

typedef struct {
    const char  *name;
    int        (*init)(mcp_daemon_t *d, mcp_err_t *err);
} mcp_subsystem_t;

typedef struct {
    const char  *name;
    const char  *help;
    int        (*main)(mcp_daemon_t *d, int argc, char **argv);
} mcp_command_t;

/* subsystems, in start order: { "name", init }, one line each */
static const mcp_subsystem_t  mcp_subsystems[] = {
    { "repository", mcp_repo_daemon_init },
    { "llm", mcp_llm_daemon_init },
    { "mcp", mcp_host_subsystem_init },
    { "chat", mcp_chat_daemon_init },
    { "redis", mcp_redis_daemon_init },
    { NULL, NULL }
};

/*
 * The status objects /health?format=prometheus gives too (mcp_prom.c):
 * { stats key, metric prefix, label maps }; a subsystem that is off is
 * simply not there.
 */
static const mcp_prom_label_t  mcpd_prom_chat[] = {
    { "errors", "code" }, { NULL, NULL }
};
static const mcp_prom_label_t  mcpd_prom_llm[] = {
    { "providers", "provider" }, { "errors", "kind" }, { NULL, NULL }
};
static const mcp_prom_label_t  mcpd_prom_mcp[] = {
    { "servers", "server" }, { NULL, NULL }
};

static const struct {
    const char              *key;
    const char              *prefix;
    const mcp_prom_label_t  *labels;
} mcpd_prometheus[] = {
    { "chat_stats", "mcp_chat", mcpd_prom_chat },
    { "repository_stats", "mcp_repository", NULL },
    { "llm_client_stats", "mcp_llm", mcpd_prom_llm },
    { "mcp_stats", "mcp_host", mcpd_prom_mcp },
    { "redis", "mcp_redis", NULL },
    { NULL, NULL, NULL }
};

/* subcommands: { "name", "one line of help", main }, one line each;
   main gets a daemon with its loop, config and log, not yet running */
static const mcp_command_t  mcp_commands[] = {
    { "llm", "llm call PROVIDER MESSAGES [--stream] [--count N ...]",
      mcp_llm_daemon_command },
    { "mcp", "MCP servers: list, call, prompt, read, shell", mcp_cli_main },
    { NULL, NULL, NULL }
};


static void
mcpd_usage(FILE *out)
{
    const mcp_command_t  *c;

    fprintf(out,
        "usage: mcpd [-c FILE] [--socket PATH]      run the daemon\n"
        "       mcpd [-c FILE] --check-config       validate the config\n"
        "       mcpd [-c FILE] COMMAND [ARGS...]    run a command\n"
        "       mcpd --version | --help\n"
        "\n"
        "  -c, --config FILE   YAML config (default " MCPD_DEFAULT_CONF ")\n"
        "      --socket PATH   listen here instead of daemon.socket\n"
        "  -t, --check-config  print \"ok\" or the first error as\n"
        "                      file:line:col: message; exit 0 or 1\n"
        "  -V, --version       print the version\n"
        "  -h, --help          this text\n");

    if (mcp_commands[0].name != NULL) {
        fprintf(out, "\ncommands:\n");
        for (c = mcp_commands; c->name; c++) {
            fprintf(out, "  %-10s %s\n", c->name, c->help);
        }
    }
}


static const mcp_command_t *
mcpd_find_command(const char *name)
{
    const mcp_command_t  *c;

    for (c = mcp_commands; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}


static int
mcpd_init_subsystems(mcp_daemon_t *d)
{
    const mcp_subsystem_t  *s;
    mcp_err_t               err;
    size_t                  i;

    for (s = mcp_subsystems; s->name; s++) {
        err.msg[0] = '\0';
        if (s->init(d, &err) != 0) {
            mcp_log_error(&d->log, "core", "%s: %s", s->name, err.msg);
            return -1;
        }
    }
    for (i = 0; mcpd_prometheus[i].key; i++) {
        (void) mcp_daemon_add_prometheus(d, mcpd_prometheus[i].key,
                                         mcpd_prometheus[i].prefix,
                                         mcpd_prometheus[i].labels);
    }
    return 0;
}


int
main(int argc, char **argv)
{
    static const struct option  opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "socket", required_argument, NULL, 's' },
        { "check-config", no_argument, NULL, 't' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    const char           *conf_path = MCPD_DEFAULT_CONF, *socket_path = NULL;
    const mcp_command_t  *cmd = NULL;
    int                   opt, check = 0, rc;
    mcp_conf_t            conf;
    mcp_cfg_node_t       *root;
    mcp_err_t             err;
    mcp_daemon_t          d;
    uv_loop_t             loop;

    /* "+": options after the command name belong to the command */
    while ((opt = getopt_long(argc, argv, "+c:tVh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            conf_path = optarg;
            break;
        case 's':
            socket_path = optarg;
            break;
        case 't':
            check = 1;
            break;
        case 'V':
            printf("mcpd %s\n", MCPD_VERSION);
            return 0;
        case 'h':
            mcpd_usage(stdout);
            return 0;
        default:
            mcpd_usage(stderr);
            return 2;
        }
    }

    if (optind < argc) {
        cmd = mcpd_find_command(argv[optind]);
        if (cmd == NULL) {
            fprintf(stderr, "mcpd: unknown command '%s'\n", argv[optind]);
            mcpd_usage(stderr);
            return 2;
        }
    }

    if (mcp_conf_load(conf_path, &conf, &root, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }

    if (check) {
        printf("ok\n");
        mcp_conf_free(&conf, root);
        return 0;
    }

    /* a worker that disappears mid-write is an EPIPE, not a death */
    signal(SIGPIPE, SIG_IGN);

    uv_loop_init(&loop);
    if (mcp_daemon_init(&d, &loop, &conf, root, conf_path) != 0) {
        fprintf(stderr, "mcpd: out of memory\n");
        return 1;
    }

    if (cmd != NULL) {
        rc = cmd->main(&d, argc - optind, argv + optind);
    } else if (mcp_daemon_listen(&d, socket_path) != 0) {
        rc = 1;
    } else if (mcpd_init_subsystems(&d) != 0) {
        /* subsystems that did start registered stop hooks: run them */
        mcp_daemon_stop(&d);
        mcp_daemon_close_all(&d);
        rc = 1;
    } else {
        rc = mcp_daemon_run(&d);
    }

    mcp_daemon_cleanup(&d);
    if (uv_loop_close(&loop) != 0) {
        mcp_log_debug(&d.log, "core", "loop closed with handles left");
    }
    mcp_conf_free(&conf, root);
    return rc;
}
