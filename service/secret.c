#include "secret.h"

#include <crypt.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int secret_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

bool secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile uint8_t *x = a, *y = b;
    size_t n = alen < blen ? alen : blen;
    uint8_t diff = alen != blen;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

int secret_hash(const char *password, char *out, size_t outsz)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    /* count 0 = libxcrypt's recommended yescrypt cost. */
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
        return -1;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return -1;
    const char *h = crypt_r(password, salt, cd);
    int rc = -1;
    if (h && h[0] == '$' && strlen(h) < outsz) {
        memcpy(out, h, strlen(h) + 1);
        rc = 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}

bool secret_verify(const char *password, const char *hash)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return false;
    const char *h = crypt_r(password, hash, cd);
    /* crypt_r returns "*0"/"*1" on failure, which never equals a stored "$y$" hash. */
    bool ok = h && h[0] == '$' && secret_equal(h, strlen(h), hash, strlen(hash));
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int secret_token(char *out, size_t outsz)
{
    uint8_t raw[33]; /* 32 bytes used; one spare so the 3-byte groups divide evenly */
    if (outsz < SECRET_TOKEN_LEN + 1 || secret_random(raw, 32) < 0)
        return -1;
    raw[32] = 0;
    size_t o = 0;
    for (size_t i = 0; i < 33 && o < SECRET_TOKEN_LEN; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 3; k >= 0 && o < SECRET_TOKEN_LEN; k--)
            out[o++] = b64url[(v >> (6 * k)) & 63];
    }
    out[o] = '\0';
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

int secret_password(char *out, size_t len)
{
    /* No 0/O, 1/l/I: the initial password is read off a terminal by a person. */
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    const size_t n = sizeof(alphabet) - 1;
    for (size_t i = 0; i < len; i++) {
        uint8_t b;
        do {
            if (secret_random(&b, 1) < 0)
                return -1;
        } while (b >= 256 - 256 % n); /* reject to avoid modulo bias */
        out[i] = alphabet[b % n];
    }
    out[len] = '\0';
    return 0;
}
