/* secret: yescrypt hashes, random tokens and passwords, constant-time comparison. */
#include "test.h"

#include "secret.h"

#include <string.h>

/* The "$y$<params>$<salt>" part of a hash (everything before the last '$'). */
static size_t setting_len(const char *hash)
{
    const char *last = strrchr(hash, '$');
    return last ? (size_t)(last - hash) : 0;
}

TEST(secret_hash_is_yescrypt)
{
    char h[SECRET_HASH_MAX];
    REQUIRE(secret_hash("correct horse battery staple", h, sizeof(h)) == 0);
    CHECK(strncmp(h, "$y$", 3) == 0);
    CHECK(strlen(h) > 40);
    /* "$y$" params "$" salt "$" hash */
    int dollars = 0;
    for (const char *p = h; *p; p++)
        dollars += *p == '$';
    CHECK_EQ_INT(dollars, 4);
    CHECK(strstr(h, "correct") == NULL);
}

TEST(secret_hash_salts_differ)
{
    char a[SECRET_HASH_MAX], b[SECRET_HASH_MAX];
    REQUIRE(secret_hash("same password", a, sizeof(a)) == 0);
    REQUIRE(secret_hash("same password", b, sizeof(b)) == 0);
    CHECK(strcmp(a, b) != 0);
    size_t la = setting_len(a), lb = setting_len(b);
    CHECK(la > 3 && la == lb);
    CHECK(memcmp(a, b, la) != 0); /* the salts themselves differ */
    /* Both verify. */
    CHECK(secret_verify("same password", a));
    CHECK(secret_verify("same password", b));
}

TEST(secret_hash_small_buffer)
{
    char h[16];
    CHECK_EQ_INT(secret_hash("pw", h, sizeof(h)), -1);
}

TEST(secret_verify_true_false)
{
    char h[SECRET_HASH_MAX];
    REQUIRE(secret_hash("s3cret-Pass", h, sizeof(h)) == 0);
    CHECK(secret_verify("s3cret-Pass", h));
    CHECK(!secret_verify("s3cret-pass", h));
    CHECK(!secret_verify("s3cret-Pass ", h));
    CHECK(!secret_verify("", h));
    /* Garbage or empty stored hashes never verify. */
    CHECK(!secret_verify("s3cret-Pass", ""));
    CHECK(!secret_verify("s3cret-Pass", "*0"));
    CHECK(!secret_verify("s3cret-Pass", "$y$garbage"));
    CHECK(!secret_verify("", ""));
    /* A truncated hash does not verify. */
    char cut[SECRET_HASH_MAX];
    memcpy(cut, h, strlen(h) + 1);
    cut[strlen(cut) - 1] = '\0';
    CHECK(!secret_verify("s3cret-Pass", cut));

    char e[SECRET_HASH_MAX];
    REQUIRE(secret_hash("", e, sizeof(e)) == 0);
    CHECK(secret_verify("", e));
    CHECK(!secret_verify("x", e));
}

static bool is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

#define TOKENS 64

TEST(secret_token_shape_and_uniqueness)
{
    static char tokens[TOKENS][SECRET_TOKEN_LEN + 1];
    bool seen_dash_or_underscore = false;
    for (int i = 0; i < TOKENS; i++) {
        char buf[SECRET_TOKEN_LEN + 8];
        memset(buf, '#', sizeof(buf));
        REQUIRE(secret_token(buf, sizeof(buf)) == 0);
        CHECK_EQ_INT(strlen(buf), 43);
        CHECK_EQ_INT(SECRET_TOKEN_LEN, 43);
        for (size_t k = 0; k < strlen(buf); k++) {
            if (!is_b64url(buf[k]))
                test_fail(__FILE__, __LINE__, "token '%s' has '%c'", buf, buf[k]);
            seen_dash_or_underscore |= buf[k] == '-' || buf[k] == '_';
        }
        memcpy(tokens[i], buf, SECRET_TOKEN_LEN + 1);
        for (int j = 0; j < i; j++) {
            if (strcmp(tokens[i], tokens[j]) == 0)
                test_fail(__FILE__, __LINE__, "token %d repeats token %d", i, j);
        }
    }
    /* 64 tokens of 43 characters: '-' or '_' turns up (p(miss) ~ 2^-170). */
    CHECK(seen_dash_or_underscore);

    /* The exact minimum size works, one less is refused. */
    char exact[SECRET_TOKEN_LEN + 1];
    CHECK_EQ_INT(secret_token(exact, sizeof(exact)), 0);
    CHECK_EQ_INT(strlen(exact), SECRET_TOKEN_LEN);
    char small[SECRET_TOKEN_LEN];
    CHECK_EQ_INT(secret_token(small, sizeof(small)), -1);
}

TEST(secret_token_uses_all_bits)
{
    /* 32 random bytes = 256 bits; the last character carries 4 of them (and two zero
     * bits), so it is one of 16 characters; every other position takes all 64. */
    static const char last_ok[] = "AEIMQUYcgkosw048";
    bool seen[SECRET_TOKEN_LEN - 1][64];
    memset(seen, 0, sizeof(seen));
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 400; i++) {
        char t[SECRET_TOKEN_LEN + 1];
        REQUIRE(secret_token(t, sizeof(t)) == 0);
        if (!strchr(last_ok, t[SECRET_TOKEN_LEN - 1]))
            test_fail(__FILE__, __LINE__, "last character '%c' of %s", t[SECRET_TOKEN_LEN - 1], t);
        for (int k = 0; k < SECRET_TOKEN_LEN - 1; k++) {
            const char *p = strchr(alphabet, t[k]);
            if (p && *p)
                seen[k][p - alphabet] = true;
        }
    }
    /* Each position sees most of the alphabet (a stuck position would see one value). */
    for (int k = 0; k < SECRET_TOKEN_LEN - 1; k++) {
        int distinct = 0;
        for (int c = 0; c < 64; c++)
            distinct += seen[k][c];
        if (distinct < 40)
            test_fail(__FILE__, __LINE__, "position %d took only %d values", k, distinct);
    }
}

TEST(secret_password_alphabet_and_length)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    bool seen[256] = {false};
    for (int round = 0; round < 200; round++) {
        char pw[32];
        memset(pw, '#', sizeof(pw));
        REQUIRE(secret_password(pw, 20) == 0);
        CHECK_EQ_INT(strlen(pw), 20);
        for (const char *p = pw; *p; p++) {
            if (!strchr(alphabet, *p))
                test_fail(__FILE__, __LINE__, "password '%s' has '%c'", pw, *p);
            seen[(unsigned char)*p] = true;
        }
    }
    /* No ambiguous characters ever; the whole alphabet in use (4000 draws of 56). */
    CHECK(!seen['0'] && !seen['O'] && !seen['1'] && !seen['l'] && !seen['I']);
    for (const char *a = alphabet; *a; a++) {
        if (!seen[(unsigned char)*a])
            test_fail(__FILE__, __LINE__, "'%c' never drawn", *a);
    }

    char one[2];
    CHECK_EQ_INT(secret_password(one, 1), 0);
    CHECK_EQ_INT(strlen(one), 1);
    char none[1] = {'x'};
    CHECK_EQ_INT(secret_password(none, 0), 0);
    CHECK_EQ_INT(none[0], '\0');

    char a[17], b[17];
    REQUIRE(secret_password(a, 16) == 0 && secret_password(b, 16) == 0);
    CHECK(strcmp(a, b) != 0);
}

TEST(secret_equal_compares_content_and_length)
{
    CHECK(secret_equal("abc", 3, "abc", 3));
    CHECK(!secret_equal("abc", 3, "abd", 3));
    CHECK(!secret_equal("abc", 3, "xbc", 3));
    CHECK(!secret_equal("abc", 3, "abcd", 4));
    CHECK(!secret_equal("abcd", 4, "abc", 3));
    CHECK(secret_equal("", 0, "", 0));
    CHECK(!secret_equal("", 0, "a", 1));
    /* Embedded NULs are compared like any byte. */
    CHECK(secret_equal("a\0b", 3, "a\0b", 3));
    CHECK(!secret_equal("a\0b", 3, "a\0c", 3));
    /* Every bit counts. */
    unsigned char x[32], y[32];
    memset(x, 0x5a, sizeof(x));
    for (size_t i = 0; i < sizeof(x) * 8; i++) {
        memcpy(y, x, sizeof(y));
        y[i / 8] ^= (unsigned char)(1u << (i % 8));
        if (secret_equal(x, sizeof(x), y, sizeof(y)))
            test_fail(__FILE__, __LINE__, "bit %zu ignored", i);
    }
}

TEST(secret_random_fills)
{
    unsigned char a[64], b[64];
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    CHECK_EQ_INT(secret_random(a, sizeof(a)), 0);
    CHECK_EQ_INT(secret_random(b, sizeof(b)), 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    unsigned char zero[64] = {0};
    CHECK(memcmp(a, zero, sizeof(a)) != 0);
    CHECK_EQ_INT(secret_random(a, 0), 0);
}
