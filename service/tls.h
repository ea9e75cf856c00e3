/*
 * tls — the HTTPS certificate: loads the PEM pair vscd serves, and on first start makes
 * a self-signed one (ECDSA P-256, 10 years, SAN localhost/127.0.0.1/::1 and the host
 * name) when no certificate was configured and none exists yet.
 */
#ifndef VSC_TLS_H
#define VSC_TLS_H

/* Creates cert_path/key_path (key mode 0600) unless both exist. Returns 0 or -1. */
int tls_ensure_self_signed(const char *cert_path, const char *key_path);

/* Reads a whole (small) file; *out is malloc'd and NUL-terminated. Returns 0 or -errno. */
int tls_read_file(const char *path, char **out);

/* TLS 1.2 and 1.3 only; AEAD ciphers with forward secrecy (docs/SECURITY.md). */
#define TLS_PRIORITIES                                                                             \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"            \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

#endif
