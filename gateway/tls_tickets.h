/*
 * The session ticket keys of --https (docs/deploy-tls.md, "Session resumption"): one
 * small area of memory shared by every process of the server, so that a ticket one
 * worker process issued resumes a session on any other, and the keys are rotated.
 *
 * The area is a memfd mapped MAP_SHARED, made by the first gw_tls_tickets_init, which
 * runs in the main thread before any fork (gw_tls_ctx_new calls it): the prefork
 * workers inherit the mapping, so every process sees the same keys. It is locked in
 * memory (never swapped) and left out of core dumps; keys are never written to a file.
 * A reload re-executes wsgate: the descriptor goes to the next image in the
 * environment (gw_tls_tickets_env, gw_tls_tickets_keep), which maps the same area, so
 * tickets issued before a reload still resume after it, on old and new workers alike.
 *
 * Rotation: a key encrypts new tickets for GW_TLS_TICKET_ROTATE seconds; after that
 * the first process to issue a ticket makes a new one. A ticket is good for
 * GW_TLS_TICKET_LIFETIME seconds, so a key decrypts until GW_TLS_TICKET_ROTATE +
 * GW_TLS_TICKET_LIFETIME after it was made, and then it is wiped (at the next use of
 * the area). Keys come from getrandom(2).
 *
 * Threads and processes: every call takes the area's lock, a process-shared robust
 * mutex (a process killed while holding it costs nothing: a new key is published only
 * once it is whole). It is a leaf, taken under a TLS connection's t->lock.
 */
#ifndef GW_TLS_TICKETS_H
#define GW_TLS_TICKETS_H

#include <stddef.h>
#include <stdint.h>

#define GW_TLS_TICKET_ROTATE   3600 /* s: a key encrypts new tickets for an hour */
#define GW_TLS_TICKET_LIFETIME 7200 /* s: a ticket resumes a session for two hours */
#define GW_TLS_TICKETS_ENV     "WSGATE_TLS_TICKETS_FD"

/* One ticket key: its name (in the clear in every ticket it made), the AES-256-CBC
 * key that encrypts the tickets and the HMAC-SHA256 key that authenticates them. */
struct gw_tls_ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
};

/*
 * Main thread, before any fork or thread: makes the shared area, or maps the one the
 * previous image passed in GW_TLS_TICKETS_ENV (then removed from the environment).
 * Calling it again does nothing. 0, or -1 with one line in err.
 */
int gw_tls_tickets_init(char *err, size_t errlen);

/* Seconds of CLOCK_BOOTTIME: the clock of the functions below (one for all processes). */
uint64_t gw_tls_tickets_now(void);

/* Any thread: copies into *k the key that encrypts tickets at time now, making a new
 * one first when the current one is GW_TLS_TICKET_ROTATE old (or none exists). 0, or
 * GW_ESTATE before gw_tls_tickets_init, GW_EIO when no random bytes could be had. */
int gw_tls_tickets_current(uint64_t now, struct gw_tls_ticket_key *k);

/* Any thread: the key named name that still decrypts tickets at time now, into *k.
 * Returns 1 for the current key, 2 for an older one (the ticket is good; a new one
 * should be issued), 0 when there is none (unknown, expired, or no area). */
int gw_tls_tickets_find(const unsigned char name[16], uint64_t now, struct gw_tls_ticket_key *k);

/* "NAME=fd" for the environment of the next image of this process (a reload's
 * re-execution or its bridge): a static string; NULL when there is no area. */
const char *gw_tls_tickets_env(void);

/* Right before execve (async-signal-safe): keep = 1 lets the area's descriptor survive
 * the exec; keep = 0 sets close-on-exec again (the exec failed). */
void gw_tls_tickets_keep(int keep);

#endif
