/*
 * log — one line per event on stderr (journald adds the timestamp under systemd).
 *
 * Levels have fixed meanings (docs/ARCHITECTURE.md): error = a 5xx or a lost console,
 * warning = a 4xx worth an operator's eye or a dropped client, info = lifecycle,
 * debug = everything else. Never pass credentials, tokens or password hashes.
 */
#ifndef VSC_LOG_H
#define VSC_LOG_H

enum log_level { LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_parse(const char *name, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
