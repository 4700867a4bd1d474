/*
 * The shared ticket key ring of gateway/tls_tickets.h. The area holds a header (to
 * recognise an area of this layout passed by a previous image), the robust
 * process-shared lock, the generation of the current key and a ring of NKEYS keys:
 * generation g lives in keys[g % NKEYS]. Generation 0 means no key yet.
 *
 * Invariants, under the lock: keys[gen % NKEYS] is the current key; the two before it
 * decrypt while their time is not over. A rotation writes the key of gen + 1 into the
 * slot of gen + 1 - NKEYS, whose time is always over by then (it was made at least
 * NKEYS * ROTATE ago, and ROTATE + LIFETIME <= NKEYS * ROTATE), and only then moves gen:
 * a holder that dies halfway leaves a slot no one reads. No OpenSSL here: the
 * callback that uses the keys is gateway/tls.c's.
 */
#include "gateway/tls_tickets.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway/errors.h"
#include "gateway/log.h"

#define NKEYS 3
#define MAGIC 0x7773676174656b31ull /* "wsgatek1": this layout */

_Static_assert(GW_TLS_TICKET_ROTATE + GW_TLS_TICKET_LIFETIME <= NKEYS * GW_TLS_TICKET_ROTATE,
               "the ring must hold every key that may still decrypt");

struct slot {
    struct gw_tls_ticket_key key;
    uint64_t made; /* gw_tls_tickets_now() when made; 0: wiped */
};

struct area {
    uint64_t magic;
    uint64_t size;
    pthread_mutex_t lock;
    uint64_t gen;
    struct slot keys[NKEYS];
};

static struct area *area;
static int area_fd = -1;
static char env_text[64];

static int map_area(int fd, int fresh, char *err, size_t errlen)
{
    void *p = mmap(NULL, sizeof(struct area), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "TLS ticket keys: cannot map them: %s", strerror(errno));
        return -1;
    }
    /* Never swapped (best effort: RLIMIT_MEMLOCK may refuse), never in a core dump. */
    if (mlock(p, sizeof(struct area)) != 0)
        gw_log(GW_LOG_WARNING,
               "TLS ticket keys: cannot lock their memory (%s): it may be "
               "swapped out",
               strerror(errno));
    madvise(p, sizeof(struct area), MADV_DONTDUMP);
    struct area *a = p;
    if (!fresh && (a->magic != MAGIC || a->size != sizeof(struct area))) {
        munmap(p, sizeof(struct area)); /* another layout (another wsgate): start anew */
        return 1;
    }
    if (fresh) {
        pthread_mutexattr_t at;
        int rc = pthread_mutexattr_init(&at);
        if (rc == 0 && (rc = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED)) == 0 &&
            (rc = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST)) == 0)
            rc = pthread_mutex_init(&a->lock, &at);
        pthread_mutexattr_destroy(&at);
        if (rc != 0) {
            munmap(p, sizeof(struct area));
            snprintf(err, errlen, "TLS ticket keys: cannot make their lock: %s", strerror(rc));
            return -1;
        }
        a->size = sizeof(struct area);
        a->magic = MAGIC; /* fresh pages are zero: gen 0, no key */
    }
    area = a;
    area_fd = fd;
    snprintf(env_text, sizeof(env_text), "%s=%d", GW_TLS_TICKETS_ENV, fd);
    return 0;
}

/* The previous image's area: 0 (mapped), 1 (none usable: make one), -1 (err). */
static int import_area(char *err, size_t errlen)
{
    const char *v = getenv(GW_TLS_TICKETS_ENV);
    char *end = NULL;
    struct stat st;
    int rc = 1;
    long fd = v != NULL ? strtol(v, &end, 10) : -1;
    if (v == NULL)
        return 1;
    if (end != v && *end == '\0' && fd > 2 && fd < 65536 && fstat((int)fd, &st) == 0 &&
        st.st_size == (off_t)sizeof(struct area)) {
        fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* not for the app's own children */
        rc = map_area((int)fd, 0, err, errlen);
        if (rc == 1)
            close((int)fd);
    }
    unsetenv(GW_TLS_TICKETS_ENV);
    return rc;
}

int gw_tls_tickets_init(char *err, size_t errlen)
{
    if (area != NULL)
        return 0;
    int rc = import_area(err, errlen);
    if (rc <= 0)
        return rc;
    int fd = memfd_create("wsgate-tls-tickets", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)sizeof(struct area)) != 0) {
        snprintf(err, errlen, "TLS ticket keys: cannot make their memory: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (map_area(fd, 1, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    return 0;
}

uint64_t gw_tls_tickets_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec;
}

static int lock_area(void)
{
    int rc = pthread_mutex_lock(&area->lock);
    if (rc == EOWNERDEAD) /* its holder died: what it left half-made is not published */
        rc = pthread_mutex_consistent(&area->lock);
    return rc;
}

static int alive(const struct slot *s, uint64_t now)
{
    return s->made != 0 && now < s->made + GW_TLS_TICKET_ROTATE + GW_TLS_TICKET_LIFETIME;
}

/* Under the lock: wipes the keys whose time is over (forward secrecy: a key that no
 * longer decrypts leaves memory at the next use of the area). */
static void forget_expired(uint64_t now)
{
    for (int i = 0; i < NKEYS; i++)
        if (area->keys[i].made != 0 && !alive(&area->keys[i], now))
            explicit_bzero(&area->keys[i], sizeof(area->keys[i]));
}

/* Under the lock: a new current key made at now. 0 or GW_EIO. */
static int rotate(uint64_t now)
{
    struct slot *s = &area->keys[(area->gen + 1) % NKEYS];
    struct gw_tls_ticket_key fresh;
    size_t got = 0;
    while (got < sizeof(fresh)) {
        ssize_t k = getrandom((char *)&fresh + got, sizeof(fresh) - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            explicit_bzero(&fresh, sizeof(fresh));
            return GW_EIO;
        }
        got += (size_t)k;
    }
    s->made = 0;
    s->key = fresh;
    s->made = now == 0 ? 1 : now;
    area->gen++; /* published: the key is whole */
    explicit_bzero(&fresh, sizeof(fresh));
    return 0;
}

int gw_tls_tickets_current(uint64_t now, struct gw_tls_ticket_key *k)
{
    int rc = GW_ESTATE;
    if (area == NULL || lock_area() != 0)
        return rc;
    forget_expired(now);
    struct slot *s = &area->keys[area->gen % NKEYS];
    rc = 0;
    if (area->gen == 0 || s->made == 0 || now >= s->made + GW_TLS_TICKET_ROTATE) {
        rc = rotate(now);
        s = &area->keys[area->gen % NKEYS];
    }
    if (rc == 0)
        *k = s->key;
    pthread_mutex_unlock(&area->lock);
    return rc;
}

int gw_tls_tickets_find(const unsigned char name[16], uint64_t now, struct gw_tls_ticket_key *k)
{
    int found = 0;
    if (area == NULL || lock_area() != 0)
        return 0;
    forget_expired(now);
    for (uint64_t i = 0; i < NKEYS && i < area->gen && !found; i++) {
        const struct slot *s = &area->keys[(area->gen - i) % NKEYS];
        if (alive(s, now) && memcmp(s->key.name, name, sizeof(s->key.name)) == 0) {
            *k = s->key;
            found = i == 0 && now < s->made + GW_TLS_TICKET_ROTATE ? 1 : 2;
        }
    }
    pthread_mutex_unlock(&area->lock);
    return found;
}

const char *gw_tls_tickets_env(void)
{
    return area != NULL ? env_text : NULL;
}

void gw_tls_tickets_keep(int keep)
{
    if (area_fd >= 0)
        fcntl(area_fd, F_SETFD, keep ? 0 : FD_CLOEXEC);
}
