/* term: the local terminal — raw mode while attached, restored on every way out, and
 * prompts for credentials on /dev/tty.
 *
 * term_raw() saves the terminal's settings once; term_restore() puts them back and may be
 * called any number of times (also when raw mode was never entered).
 */
#ifndef VSC_TERM_H
#define VSC_TERM_H

#include <stdbool.h>
#include <stddef.h>

/* Puts fd (a terminal) in raw mode. 0, or -errno (not a terminal: -ENOTTY). Also saves
 * fd's file status flags (terminal or not), which the event loop changes (O_NONBLOCK). */
int term_raw(int fd);
/* Restores the settings and the file status flags term_raw() saved. */
void term_restore(void);
bool term_is_raw(void);

/* Prompts on /dev/tty and reads one line into buf (without its newline); echo off when
 * secret. Returns 0, -ENXIO with no terminal, -EINTR when sigfd (may be -1) became
 * readable (a signal), -ECANCELED at end of input. */
int term_prompt(const char *prompt, bool secret, char *buf, size_t bufsz, int sigfd);

#endif
