/*
 * db_accounts — the accounts table. Plain data in, plain data out; no policy here
 * (who may do what is res_accounts.c's and auth.c's business).
 * Functions return 0, -ENOENT (no such account), -EEXIST (user name taken) or -EIO.
 */
#ifndef VSC_DB_ACCOUNTS_H
#define VSC_DB_ACCOUNTS_H

#include "db.h"
#include "rf.h"

#define ACCOUNT_NAME_MAX 64
#define ACCOUNT_HASH_MAX 256

struct account {
    int64_t id;
    char user[ACCOUNT_NAME_MAX + 1];
    char hash[ACCOUNT_HASH_MAX];
    enum role role;
    bool enabled;
    int64_t created_at;
    int failed_logins;
    int64_t last_failed_at;
    int64_t locked_until; /* 0 = not locked, -1 = until unlocked, else unix seconds */
};

int db_account_get(struct db *db, int64_t id, struct account *out);
int db_account_find(struct db *db, const char *user, struct account *out);
/* Ids in ascending order; *count receives how many (at most max). */
int db_account_ids(struct db *db, int64_t *ids, size_t max, size_t *count);
int db_account_create(struct db *db, struct account *acct); /* sets acct->id */
int db_account_update(struct db *db, const struct account *acct);
int db_account_delete(struct db *db, int64_t id);
/* Enabled Administrator accounts other than `except_id`. */
int db_account_count_admins(struct db *db, int64_t except_id, int *count);
int db_account_total(struct db *db, int *count);

const char *role_name(enum role role);
enum role role_parse(const char *name);

#endif
