#include "config.h"

#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum config_type { CT_STRING, CT_INT, CT_BOOL };

struct config_entry {
    const char *name;
    enum config_type type;
    size_t offset;
    size_t size; /* strings: buffer size */
    const char *def;
    int64_t min, max;
    const char *help;
};

#define STR(field, def, help)                                                                      \
    {                                                                                              \
#field, CT_STRING, offsetof(struct vsc_config, field),                                     \
            sizeof(((struct vsc_config *)0)->field), def, 0, 0, help                               \
    }
#define INT(field, def, lo, hi, help)                                                              \
    {                                                                                              \
#field, CT_INT, offsetof(struct vsc_config, field), 0, def, lo, hi, help                   \
    }
#define BOOL(field, def, help)                                                                     \
    {                                                                                              \
#field, CT_BOOL, offsetof(struct vsc_config, field), 0, def, 0, 1, help                    \
    }

static const struct config_entry config_table[] = {
    STR(listen, "127.0.0.1:8443", "address:port to serve HTTPS on ([v6]:port for IPv6)"),
    STR(state_dir, "var", "database, TLS certificate and console logs"),
    STR(tls_cert, "", "PEM certificate; empty = <state_dir>/tls/cert.pem (made on first start)"),
    STR(tls_key, "", "PEM private key; empty = <state_dir>/tls/key.pem"),
    BOOL(insecure_http, "false", "serve plain HTTP instead of HTTPS (loopback addresses only)"),
    STR(log_level, "info", "error, warning, info or debug"),
    INT(max_sessions, "64", 1, 10000, "Redfish sessions open at once, all users together"),
    INT(max_connections, "256", 4, 65536, "connections open at once, WebSockets included"),
    INT(max_connections_per_ip, "64", 1, 65536, "connections from one client address"),
    INT(max_body_bytes, "65536", 1024, 16777216, "largest request body accepted (413 above)"),
    INT(connection_timeout, "60", 1, 3600, "seconds an idle HTTP connection stays open"),
    INT(session_timeout_default, "1800", 30, 86400,
        "SessionService.SessionTimeout before an Administrator changes it"),
    INT(max_ports, "256", 1, 4096, "serial ports allocated at once, all VMs together"),
    INT(max_ports_per_vm, "8", 1, 16, "serial ports one VM may have"),
    STR(default_backend, "pty", "backend when an allocation names none: pty, unix, usb-gadget"),
    INT(console_ring_bytes, "262144", 4096, 67108864, "console history kept in memory per port"),
    INT(console_stall_timeout, "30", 1, 3600,
        "seconds a console viewer may read nothing while its queue is full before it is dropped"),
    INT(console_batch_ms, "0", 0, 1000,
        "milliseconds console output waits to reach viewers whatever the load, sent together (0: "
        "at once)"),
    INT(console_batch_busy_ms, "50", 0, 1000,
        "the longest console output may wait to reach viewers while vscd's loop is over half "
        "busy, sent together (0: never)"),
    BOOL(console_io_uring, "true",
         "send to console viewers with io_uring, one system call a loop iteration (false: "
         "one send() per viewer)"),
    INT(console_log_entries, "1000", 10, 100000,
        "detected console state changes kept per VM (its console LogService's entries)"),
    INT(login_failures_per_minute, "20", 0, 100000,
        "failed logins one client address may make per minute (as many at once); 0 = no limit"),
    INT(max_sessions_per_user, "16", 1, 10000, "Redfish sessions one user may have open at once"),
    INT(audit_entries, "100000", 100, 10000000,
        "audit trail entries kept (the Manager's Audit LogService); the oldest go first"),
    BOOL(audit_console_input, "false",
         "also keep the bytes typed into consoles in the audit trail (else their counts only)"),
    STR(ports_group, "", "group owning published port paths (the hypervisor's), mode 0660"),
    INT(ipmi_iana, "32473", 1, 16777215, "IANA enterprise number of the IPMI OEM command"),
    STR(ipmi_socket, "",
        "Unix socket (mode 0600) where a local IPMI daemon forwards the OEM command; empty = off"),
    INT(history_port_bytes, "4194304", 0, 68719476736,
        "console history on disk per VM port (<state_dir>/history); 0 = no history on disk"),
    INT(history_total_bytes, "268435456", 65536, 1099511627776,
        "console history on disk over all ports; the oldest goes first"),
    INT(history_max_age, "604800", 0, 315360000,
        "seconds console history is kept on disk; 0 = until the size caps drop it"),
    INT(history_queue_bytes, "4194304", 65536, 1073741824,
        "console output waiting to be written to disk, all ports; past it output is lost (marked)"),
    INT(event_backlog, "1000", 1, 1000000,
        "Redfish events kept in memory for SSE streams that resume (Last-Event-ID) or lag"),
    INT(db_checkpoint_pages, "1000", 2, 1000000,
        "database pages (4 KiB) the write-ahead log may hold before a background thread "
        "copies them into the database file"),
};
#define CONFIG_COUNT (sizeof(config_table) / sizeof(config_table[0]))

static const struct config_entry *find_entry(const char *name)
{
    for (size_t i = 0; i < CONFIG_COUNT; i++) {
        if (strcmp(config_table[i].name, name) == 0)
            return &config_table[i];
    }
    return NULL;
}

int config_set(struct vsc_config *cfg, const char *name, const char *value, char *err, size_t errsz)
{
    const struct config_entry *e = find_entry(name);
    if (!e) {
        snprintf(err, errsz, "unknown setting '%s'", name);
        return -1;
    }
    void *field = (char *)cfg + e->offset;
    switch (e->type) {
    case CT_STRING:
        if (strlen(value) >= e->size) {
            snprintf(err, errsz, "%s: value too long", name);
            return -1;
        }
        strcpy(field, value);
        return 0;
    case CT_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0) {
            *(bool *)field = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
                   strcmp(value, "no") == 0) {
            *(bool *)field = false;
        } else {
            snprintf(err, errsz, "%s: expected true or false, got '%s'", name, value);
            return -1;
        }
        return 0;
    case CT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end || v < e->min || v > e->max) {
            snprintf(err, errsz, "%s: expected an integer from %lld to %lld, got '%s'", name,
                     (long long)e->min, (long long)e->max, value);
            return -1;
        }
        *(int64_t *)field = v;
        return 0;
    }
    }
    return -1;
}

void config_defaults(struct vsc_config *cfg)
{
    char err[128];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < CONFIG_COUNT; i++) {
        if (config_set(cfg, config_table[i].name, config_table[i].def, err, sizeof(err)) < 0)
            abort(); /* a bad compiled-in default: caught by every test run */
    }
}

void config_print_names(void)
{
    for (size_t i = 0; i < CONFIG_COUNT; i++)
        printf("%s\n", config_table[i].name);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int load_file(struct vsc_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "vscd: cannot read config %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[PATH_MAX + 128], err[256];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        /* A line longer than the buffer is read to its end here, so that no part of it
         * (a long comment's tail) is taken for a line of its own. */
        bool too_long = false;
        if (!strchr(line, '\n')) {
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                too_long = true;
        }
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        if (too_long) {
            fprintf(stderr, "vscd: %s:%d: line too long (at most %zu characters)\n", path, lineno,
                    sizeof(line) - 2);
            rc = -1;
            break;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "vscd: %s:%d: expected name = value\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        if (config_set(cfg, trim(s), trim(eq + 1), err, sizeof(err)) < 0) {
            fprintf(stderr, "vscd: %s:%d: %s\n", path, lineno, err);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) { /* a directory (EISDIR), an I/O error: not an empty file */
        fprintf(stderr, "vscd: cannot read config %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vscd [options]\n"
            "  --config FILE        read settings from FILE (name = value lines)\n"
            "  --listen ADDR:PORT   serve on ADDR:PORT (default 127.0.0.1:8443)\n"
            "  --state-dir DIR      database, certificate, logs (default ./var)\n"
            "  --tls-cert FILE      PEM certificate (default: self-signed, made on first start)\n"
            "  --tls-key FILE       PEM private key\n"
            "  --insecure-http      plain HTTP instead of HTTPS; loopback addresses only\n"
            "  --log-level LEVEL    error, warning, info, debug\n"
            "  --set NAME=VALUE     any setting of the config file\n"
            "  --dump-routes        print the route table as JSON and exit\n"
            "  --list-settings      print every setting name and exit\n"
            "  --help\n"
            "Environment: VSC_ADMIN_PASSWORD sets the first admin password on first start.\n");
}

enum config_action config_load(struct vsc_config *cfg, int argc, char **argv, bool *dump_routes)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"state-dir", required_argument, NULL, 's'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"insecure-http", no_argument, NULL, 'H'},
        {"log-level", required_argument, NULL, 'L'},
        {"set", required_argument, NULL, 'S'},
        {"dump-routes", no_argument, NULL, 'D'},
        {"list-settings", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    config_defaults(cfg);
    *dump_routes = false;

    /* First pass: only --config, so that flags given in any order override the file. */
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c' && load_file(cfg, optarg) < 0)
            return CONFIG_EXIT_ERROR;
    }
    optind = 1;
    opterr = 1;
    char err[256];
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'c':
            break;
        case 'l':
            rc = config_set(cfg, "listen", optarg, err, sizeof(err));
            break;
        case 's':
            rc = config_set(cfg, "state_dir", optarg, err, sizeof(err));
            break;
        case 'C':
            rc = config_set(cfg, "tls_cert", optarg, err, sizeof(err));
            break;
        case 'K':
            rc = config_set(cfg, "tls_key", optarg, err, sizeof(err));
            break;
        case 'H':
            cfg->insecure_http = true;
            break;
        case 'L':
            rc = config_set(cfg, "log_level", optarg, err, sizeof(err));
            break;
        case 'S': {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                snprintf(err, sizeof(err), "--set expects NAME=VALUE");
                rc = -1;
                break;
            }
            *eq = '\0';
            rc = config_set(cfg, optarg, eq + 1, err, sizeof(err));
            break;
        }
        case 'D':
            *dump_routes = true;
            break;
        case 'N':
            config_print_names();
            return CONFIG_EXIT_OK;
        case 'h':
            usage(stdout);
            return CONFIG_EXIT_OK;
        default:
            usage(stderr);
            return CONFIG_EXIT_ERROR;
        }
        if (rc < 0) {
            fprintf(stderr, "vscd: %s\n", err);
            return CONFIG_EXIT_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vscd: unexpected argument '%s'\n", argv[optind]);
        return CONFIG_EXIT_ERROR;
    }
    enum log_level level;
    if (log_level_parse(cfg->log_level, &level) < 0) {
        fprintf(stderr, "vscd: log_level: unknown level '%s'\n", cfg->log_level);
        return CONFIG_EXIT_ERROR;
    }
    log_set_level(level);
    return CONFIG_RUN;
}
