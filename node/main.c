/* cairnd: parse the configuration (exit 2 if bad, before touching the
 * disk), run the node on one libuv loop, stop gracefully on SIGTERM or
 * SIGINT. Exit codes: 0 clean stop, 1 failure, 2 bad configuration. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "node.h"

static node *running;
static uv_signal_t sigterm, sigint;

static void stopped(void *data)
{
    (void)data;
    running = NULL;
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    LOG_INFO("node", NULL, "signal=%d stopping", signum);
    if (running != NULL) {
        node_stop(running, stopped, NULL);
    }
}

int main(int argc, char **argv)
{
    struct node_config cfg;
    char err[CAIRN_ERRMSG_SIZE];
    uv_loop_t *loop = uv_default_loop();
    int rc = node_config_parse(argc, argv, &cfg, err);
    if (rc == NODE_CONFIG_HELP) {
        node_config_usage(stdout);
        return 0;
    }
    if (rc == NODE_CONFIG_VERSION) {
        node_config_version(stdout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "cairnd: %s\n", err);
        return 2;
    }
    node_log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    rc = node_start(loop, &cfg, &running, err);
    if (rc != 0) {
        fprintf(stderr, "cairnd: %s\n", err);
        return rc == CAIRN_EINVAL ? 2 : 1;
    }
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
