#!/bin/bash
# Cost of one yescrypt hash/verification with libxcrypt's default cost (what vscd's
# worker thread pays per login, uncached Basic request or password change).
#   bench/hash.sh [ROUNDS]
set -euo pipefail
ROUNDS=${1:-10}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/hash.c" <<'C'
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 10;
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd = {0};
    struct timespec a, b;
    crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt));
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < rounds; i++)
        crypt_r("correct horse battery", salt, &cd);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / rounds;
    printf("yescrypt (%.7s...): %.1f ms per hash, %d rounds\n", salt, ms, rounds);
    return 0;
}
C
cc -O2 -o "$TMP/hash" "$TMP/hash.c" -lcrypt
"$TMP/hash" "$ROUNDS"
