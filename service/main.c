/* vscd — the virtual serial concentrator daemon: start-up, the loop, shutdown. */
#include "app.h"
#include "audit.h"
#include "db_accounts.h"
#include "db_checkpoint.h"
#include "http.h"
#include "ipmi_socket.h"
#include "log.h"
#include "router.h"
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_INTERVAL_MS 5000

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * The state dir as an absolute path (the hypervisor binds paths under it), traversable by
 * others (0711: the hypervisor's user reaches <state>/ports; nothing can be listed, and
 * the database, key and console sockets inside are 0600/0700).
 */
static int absolute_state_dir(struct vsc_app *app)
{
    char abs[PATH_MAX];
    if (!realpath(app->cfg.state_dir, abs) || strlen(abs) >= sizeof(app->cfg.state_dir)) {
        log_error("state dir %s: %s", app->cfg.state_dir, strerror(errno));
        return -1;
    }
    memcpy(app->cfg.state_dir, abs, strlen(abs) + 1); /* length checked above */
    struct stat st;
    if (stat(abs, &st) == 0 && (st.st_mode & 07777) == 0700)
        chmod(abs, 0711);
    return 0;
}

/*
 * One vscd per state dir: an exclusive lock on the directory itself (no file to leave
 * behind), held until the process ends. A second vscd there would share the database and
 * history files and take the first one's published port paths over. Where the file system
 * has no such locks, vscd runs on with a warning.
 */
static int lock_state_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        log_error("state dir %s: %s", dir, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0; /* fd stays open: the lock lasts as long as vscd */
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
        log_error("state dir %s is in use by another vscd", dir);
        return -1;
    }
    log_warn("state dir %s: cannot lock it (%s); make sure no other vscd uses it", dir,
             strerror(err));
    return 0;
}

static int ensure_uuid(struct vsc_app *app)
{
    int rc = db_setting_get(&app->db, "service_uuid", app->uuid, sizeof(app->uuid));
    if (rc <= 0)
        return rc;
    uint8_t b[16];
    if (secret_random(b, sizeof(b)) < 0)
        return -1;
    b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
    snprintf(app->uuid, sizeof(app->uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return db_setting_set(&app->db, "service_uuid", app->uuid);
}

/* Written and synced before the account is made: a password nobody can read is lost. */
static int write_initial_password(const char *state_dir, const char *password)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/initial-admin-password", state_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    fchmod(fd, 0600);
    int ok = dprintf(fd, "%s\n", password) == (int)strlen(password) + 1 && fsync(fd) == 0;
    int err = errno;
    if (close(fd) < 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        unlink(path);
        errno = err;
        return -1;
    }
    return 0;
}

/* On an empty database, creates `admin` (Administrator). */
static int ensure_admin(struct vsc_app *app)
{
    int total;
    if (db_account_total(&app->db, &total) < 0)
        return -1;
    if (total > 0)
        return 0;
    const char *env = getenv("VSC_ADMIN_PASSWORD");
    char generated[24];
    const char *password = env;
    if (env && (int64_t)strlen(env) < app->auth.policy.min_password_length) {
        log_error("VSC_ADMIN_PASSWORD is shorter than the minimum password length (%lld)",
                  (long long)app->auth.policy.min_password_length);
        return -1;
    }
    if (!env) {
        if (secret_password(generated, 20) < 0)
            return -1;
        password = generated;
        if (write_initial_password(app->cfg.state_dir, password) < 0) {
            log_error("cannot write %s/initial-admin-password: %s; no account 'admin' made "
                      "(or give its password in VSC_ADMIN_PASSWORD)",
                      app->cfg.state_dir, strerror(errno));
            explicit_bzero(generated, sizeof(generated));
            return -1;
        }
    }
    struct account admin = {.role = ROLE_ADMINISTRATOR, .enabled = true, .created_at = time(NULL)};
    snprintf(admin.user, sizeof(admin.user), "admin");
    if (secret_hash(password, admin.hash, sizeof(admin.hash)) < 0 ||
        db_account_create(&app->db, &admin) < 0) {
        if (!env) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/initial-admin-password", app->cfg.state_dir);
            unlink(path); /* its password opens nothing */
            explicit_bzero(generated, sizeof(generated));
        }
        return -1;
    }
    if (!env) {
        /* Shown on a terminal (make run) only: a service's output ends up in a log
         * (the journal), and no password belongs in a log (docs/SECURITY.md). */
        if (isatty(STDOUT_FILENO))
            printf("vscd: created account 'admin' (Administrator) with password: %s\n", password);
        log_info("created account 'admin' (Administrator); its password is in "
                 "%s/initial-admin-password (mode 0600): change it",
                 app->cfg.state_dir);
        fflush(stdout);
        explicit_bzero(generated, sizeof(generated));
    } else {
        log_info("created account 'admin' with the password from VSC_ADMIN_PASSWORD");
    }
    return 0;
}

static void on_session_expired(void *ctx, const struct session *s)
{
    audit(ctx, AUDIT_SESSION_EXPIRED, s->user, s->client_ip, "/redfish/v1/SessionService/Sessions",
          "session %s expired after %lld s idle", s->id,
          (long long)((struct vsc_app *)ctx)->auth.policy.session_timeout);
}

static void on_sweep(struct loop_timer *t)
{
    struct vsc_app *app = t->data;
    size_t n = auth_sweep(&app->auth);
    if (n)
        log_info("%zu idle session(s) expired", n);
    loop_timer_arm(&app->loop, t, SWEEP_INTERVAL_MS);
}

static void notify_systemd(struct vsc_app *app, const char *message)
{
    int rc = sd_notifier_send(&app->notify, message);
    if (rc < 0)
        log_warn("systemd notification: %s", strerror(-rc));
}

/* Sent from a loop timer, so a loop that is stuck stops feeding systemd's watchdog and
 * gets killed and restarted (WatchdogSec= and Restart= in the unit). */
static void on_watchdog(struct loop_timer *t)
{
    struct vsc_app *app = t->data;
    notify_systemd(app, "WATCHDOG=1");
    loop_timer_arm(&app->loop, t, sd_notifier_watchdog_ms(&app->notify));
}

static void notify_ready(struct vsc_app *app)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=serving %s on %s",
             app->cfg.insecure_http ? "HTTP" : "HTTPS", app->cfg.listen);
    notify_systemd(app, msg);
}

static int on_signal(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct vsc_app *app = w->data;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            sd_notifier_reloading(&app->notify);
            int rc = http_reload_tls(app);
            notify_ready(app);
            log_info("SIGHUP: TLS certificate and key %s", rc == 0 ? "reloaded"
                                                           : rc == -ENOTSUP
                                                               ? "not used (plain HTTP)"
                                                               : "NOT reloaded, the old ones stay");
            audit(app, AUDIT_TLS_RELOAD, NULL, NULL, "/redfish/v1/Managers/bmc",
                  "SIGHUP: TLS certificate and key %s", rc == 0 ? "reloaded" : "not reloaded");
            continue;
        }
        log_info("signal %u: shutting down", si.ssi_signo);
        notify_systemd(app, "STOPPING=1");
        loop_stop(&app->loop);
    }
    return LOOP_OK;
}

static int setup_signals(struct vsc_app *app, struct loop_watch *w)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* reloads the TLS certificate and key */
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    *w = (struct loop_watch){.fd = fd, .events = EPOLLIN, .cb = on_signal, .data = app};
    return loop_add(&app->loop, w);
}

static int open_notifier(struct vsc_app *app)
{
    int rc = sd_notifier_open_env(&app->notify);
    if (rc < 0)
        log_error("NOTIFY_SOCKET: %s", strerror(-rc));
    return rc;
}

static void start_watchdog(struct vsc_app *app)
{
    uint64_t interval = sd_notifier_watchdog_ms(&app->notify);
    if (!interval)
        return;
    log_info("systemd watchdog: WATCHDOG=1 every %llu ms", (unsigned long long)interval);
    app->watchdog = (struct loop_timer){.cb = on_watchdog, .data = app};
    notify_systemd(app, "WATCHDOG=1");
    loop_timer_arm(&app->loop, &app->watchdog, interval);
}

static int dump_routes(void)
{
    json_t *routes = router_dump();
    char *text = json_dumps(routes, JSON_INDENT(1));
    puts(text);
    free(text);
    json_decref(routes);
    return 0;
}

static int open_state(struct vsc_app *app)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/tls", app->cfg.state_dir);
    if (make_dir(app->cfg.state_dir) < 0 || make_dir(path) < 0 || absolute_state_dir(app) < 0 ||
        lock_state_dir(app->cfg.state_dir) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/vsc.db", app->cfg.state_dir);
    if (db_open(&app->db, path, db_migrations, db_migration_count) < 0)
        return -1;
    /* Not fatal: without the thread SQLite checkpoints in the loop, as it would anyway. */
    db_checkpoints_start(&app->db, path, (int)app->cfg.db_checkpoint_pages);
    if (ensure_uuid(app) < 0)
        return -1;
    if (auth_init(&app->auth, &app->db, (size_t)app->cfg.max_sessions,
                  app->cfg.session_timeout_default) < 0 ||
        port_acl_load(&app->acl, &app->db) < 0)
        return -1;
    app->auth.expired = on_session_expired;
    app->auth.max_sessions_per_user = (size_t)app->cfg.max_sessions_per_user;
    login_limit_init(&app->login_limit, app->cfg.login_failures_per_minute,
                     app->cfg.login_failures_per_minute);
    app->auth.expired_ctx = app;
    return ensure_admin(app);
}

/* Console history on disk (<state_dir>/history). Not being able to keep it is logged and
 * vscd runs on without it: consoles matter more than their history. */
static int open_history(struct vsc_app *app)
{
    const struct vsc_config *cfg = &app->cfg;
    if (cfg->history_port_bytes == 0) {
        log_info("console history on disk is off (history_port_bytes = 0)");
        return 0;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/history", cfg->state_dir);
    struct history_config hc = {.port_bytes = (uint64_t)cfg->history_port_bytes,
                                .total_bytes = (uint64_t)cfg->history_total_bytes,
                                .max_age_s = cfg->history_max_age,
                                .queue_bytes = (uint64_t)cfg->history_queue_bytes};
    int rc = history_open(&app->history, path, &hc);
    if (rc < 0)
        log_error("console history: cannot open %s: %s; running without it", path, strerror(-rc));
    return 0;
}

/* Settings config.c cannot judge alone; a bad one is a bad setting (exit status 2),
 * refused before anything is made in the state dir. */
static int check_settings(const struct vsc_config *cfg)
{
    enum backend_kind kind;
    if (backend_parse(cfg->default_backend, &kind) < 0) {
        log_error("default_backend: unknown backend '%s' (pty, unix, usb-gadget)",
                  cfg->default_backend);
        return -1;
    }
    /* A misspelt group would otherwise surface as one warning per port, and as QEMU's
     * "Permission denied" much later. */
    if (cfg->ports_group[0] && !getgrnam(cfg->ports_group)) {
        log_error("ports_group: no group '%s' on this host", cfg->ports_group);
        return -1;
    }
    struct sockaddr_storage ss;
    unsigned sslen;
    return http_listen_address(cfg, &ss, &sslen);
}

/* Each HTTPS client costs three fds (its socket and a socketpair, ADR 0002); thousands of
 * console viewers need more than the usual soft limit of 1024. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("cannot raise the open-file limit: %s", strerror(errno));
    }
}

static int open_send_batch(struct vsc_app *app)
{
    if (send_batch_init(&app->sends, app->cfg.console_io_uring) < 0)
        return -1;
    app->loop.batch = &app->sends;
    /* send_batch_init() said why when io_uring was wanted but is not there. */
    if (send_batch_uses_io_uring(&app->sends))
        log_info("console sends: io_uring, one system call per loop iteration");
    else if (!app->cfg.console_io_uring)
        log_info("console sends: one send() per viewer (console_io_uring = false)");
    return 0;
}

int main(int argc, char **argv)
{
    static struct vsc_app app; /* large (paths); lives for the whole process */
    bool want_routes;
    switch (config_load(&app.cfg, argc, argv, &want_routes)) {
    case CONFIG_EXIT_OK:
        return 0;
    case CONFIG_EXIT_ERROR:
        return 2;
    case CONFIG_RUN:
        break;
    }
    if (want_routes)
        return dump_routes();
    if (check_settings(&app.cfg) < 0)
        return 2;

    struct loop_watch signals = {.fd = -1};
    umask(0077); /* the database holds password hashes; the key is secret */
    raise_fd_limit();
    int rc = 1;
    app_format_time(time(NULL), app.started_iso, sizeof(app.started_iso));
    if (open_notifier(&app) < 0 || loop_init(&app.loop) < 0 || open_send_batch(&app) < 0 ||
        open_state(&app) < 0 || open_history(&app) < 0 || setup_signals(&app, &signals) < 0 ||
        worker_start(&app.worker, &app.loop) < 0 ||
        events_init(&app.events, &app.loop, (size_t)app.cfg.event_backlog) < 0 ||
        console_state_init(&app.cstate, &app) < 0 || ports_init(&app.ports, &app) < 0 ||
        ipmi_socket_open(&app, &app.ipmi) < 0 || http_start(&app) < 0)
        goto out;
    console_state_start(&app.cstate);
    app.sweep = (struct loop_timer){.cb = on_sweep, .data = &app};
    loop_timer_arm(&app.loop, &app.sweep, SWEEP_INTERVAL_MS);
    log_info("vscd %s ready (service UUID %s)", VSC_VERSION, app.uuid);
    notify_ready(&app);
    start_watchdog(&app);
    rc = loop_run(&app.loop) < 0 ? 1 : 0;
    log_info("stopped");
out:
    worker_stop(&app.worker);    /* finishes queued jobs and resumes their connections */
    events_end_all(&app.events); /* resumes parked SSE connections: they end */
    http_stop(&app);
    ipmi_socket_close(app.ipmi);     /* before the registry it changes */
    console_state_save(&app.cstate); /* before the VMs go: states the budget held back */
    ports_fini(&app.ports);          /* published paths stay: the mapping outlives vscd */
    history_close(app.history);      /* after the last append: writes out what is queued */
    console_state_fini(&app.cstate);
    if (signals.fd >= 0) {
        loop_del(&app.loop, &signals);
        close(signals.fd);
    }
    events_fini(&app.events); /* after http_stop(): streams were closed */
    auth_fini(&app.auth);
    port_acl_fini(&app.acl);
    db_close(&app.db);
    app.loop.batch = NULL;
    send_batch_fini(&app.sends);
    loop_fini(&app.loop);
    sd_notifier_close(&app.notify);
    return rc;
}
