/*
 * config — every setting in one table {name, type, default, min, max}: defaults are
 * compiled in, a config file (`name = value` lines) overrides them, command-line flags
 * override the file. docs/vscd.conf.sample documents each entry; a test holds the sample
 * and the table to the same names.
 */
#ifndef VSC_CONFIG_H
#define VSC_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct vsc_config {
    char listen[128];
    char state_dir[3072];
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
    bool insecure_http;
    char log_level[16];
    int64_t max_sessions;
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t max_body_bytes;
    int64_t connection_timeout;
    int64_t session_timeout_default;
    int64_t max_ports;
    int64_t max_ports_per_vm;
    char default_backend[16];
    int64_t console_ring_bytes;
    int64_t console_stall_timeout;
    int64_t console_batch_ms;
    int64_t console_batch_busy_ms;
    int64_t console_log_entries;
    int64_t audit_entries;
    int64_t login_failures_per_minute;
    int64_t max_sessions_per_user;
    bool audit_console_input;
    bool console_io_uring;
    char ports_group[64];
    int64_t ipmi_iana;
    char ipmi_socket[108];      /* sockaddr_un.sun_path; empty = off */
    int64_t history_port_bytes; /* 0 = no history on disk */
    int64_t history_total_bytes;
    int64_t history_max_age; /* seconds; 0 = no age cap */
    int64_t history_queue_bytes;
    int64_t event_backlog;
    int64_t db_checkpoint_pages;
};

enum config_action { CONFIG_RUN, CONFIG_EXIT_OK, CONFIG_EXIT_ERROR };

/* Fills cfg from defaults, the --config file and flags. Prints usage/errors itself. */
enum config_action config_load(struct vsc_config *cfg, int argc, char **argv, bool *dump_routes);

/* Applies one `name = value` setting. Returns 0, or -1 with a message in err. */
int config_set(struct vsc_config *cfg, const char *name, const char *value, char *err,
               size_t errsz);

void config_defaults(struct vsc_config *cfg);

/* Prints every setting name, one per line (for the sample-config test). */
void config_print_names(void);

#endif
