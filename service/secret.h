/*
 * secret — password hashing, random secrets and constant-time comparison.
 *
 * Hashes are libxcrypt yescrypt ("$y$..."), salted per password, never reversible.
 * Hashing and verification cost one yescrypt evaluation (about 50 ms): vscd calls them
 * from worker.c's thread, never from the loop (except once at first start).
 */
#ifndef VSC_SECRET_H
#define VSC_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_HASH_MAX  256
#define SECRET_TOKEN_LEN 43 /* 32 random bytes, base64url without padding */

/* Fills buf with cryptographically random bytes. Returns 0 or -errno. */
int secret_random(void *buf, size_t len);

/* Hashes `password` into out (a "$y$" string). Returns 0 or -1. */
int secret_hash(const char *password, char *out, size_t outsz);

/* True when password matches hash. Constant time in the compared bytes. */
bool secret_verify(const char *password, const char *hash);

/* A random token of SECRET_TOKEN_LEN base64url characters plus NUL (out >= 44 bytes). */
int secret_token(char *out, size_t outsz);

/* A random password of `len` characters from an unambiguous alphabet. */
int secret_password(char *out, size_t len);

/* Constant-time equality of two byte strings (length leaks, content does not). */
bool secret_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
