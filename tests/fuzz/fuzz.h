/*
 * fuzz — helpers shared by the libFuzzer targets of tests/fuzz (one header, static
 * functions: each target is one file linked against build/fuzz/libvsc.a).
 *
 * Every target defines LLVMFuzzerTestOneInput() and feeds the bytes through the service's
 * real functions; the helpers only cut the input into pieces and make temp directories.
 */
#ifndef VSC_FUZZ_H
#define VSC_FUZZ_H

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated malloc'd copy of data[0..size) (stops at an embedded NUL, as C does). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/*
 * Cuts a copy of the input at NUL bytes into at most `max` fields (the last one keeps the
 * rest, NULs included: its length is in lens[]). Returns the field count; *buf is the
 * copy to free.
 */
static inline int fuzz_split(const uint8_t *data, size_t size, char **fields, size_t *lens, int max,
                             char **buf)
{
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    *buf = copy;
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; n < max - 1 && i < size; i++) {
        if (copy[i] == '\0') {
            fields[n] = copy + start;
            lens[n++] = i - start;
            start = i + 1;
        }
    }
    fields[n] = copy + start;
    lens[n++] = size - start;
    return n;
}

/* A fresh directory under $TMPDIR (or /tmp); aborts when it cannot make one. */
static inline void fuzz_tmpdir(char *out, size_t outsz, const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, outsz, "%s/vsc-fuzz-%s-XXXXXX", base && *base ? base : "/tmp", name);
    if (!mkdtemp(out))
        abort();
}

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory and everything in it. */
static inline void fuzz_rmtree(const char *dir)
{
    nftw(dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
