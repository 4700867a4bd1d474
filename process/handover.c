/*
 * Listening sockets across exec(2): WSGATE_LISTENERS holds one line per socket,
 * "FD PROTOCOL SPEC", in the order of the listener array. The importing image adopts
 * each descriptor for its spec (a unix socket's file becomes its to remove at the
 * end). The environment for the next image is built before fork so the child of a
 * threaded process runs nothing but fcntl and execve.
 */
#include "process/handover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/listener.h"
#include "gateway/protocol.h"
#include "gateway/util.h"

extern char **environ;

/* The imported variable's text: the listeners' specs point into it for the life of
 * the process. */
static char *imported;

static int overridden(const char *entry, const char *const *extra)
{
    size_t len = strlen(GW_HANDOVER_ENV);
    if (strncmp(entry, GW_HANDOVER_ENV, len) == 0 && entry[len] == '=')
        return 1;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        const char *eq = strchr(extra[i], '=');
        size_t k = eq ? (size_t)(eq - extra[i]) + 1 : strlen(extra[i]);
        if (strncmp(entry, extra[i], k) == 0)
            return 1;
    }
    return 0;
}

/* The kind the next image opens the listener as (https is HTTP with TLS). */
static const char *listener_name(const struct gw_listener *l)
{
    return l->name != NULL ? l->name : l->proto->name;
}

static char *listeners_entry(const struct gw_listener *ls, size_t n)
{
    size_t cap = strlen(GW_HANDOVER_ENV) + 2;
    for (size_t i = 0; i < n; i++)
        cap += strlen(ls[i].spec) + strlen(listener_name(&ls[i])) + 16;
    char *v = malloc(cap);
    if (v == NULL)
        return NULL;
    size_t off = (size_t)snprintf(v, cap, "%s=", GW_HANDOVER_ENV);
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(v + off, cap - off, "%s%d %s %s", i ? "\n" : "", ls[i].fd,
                                listener_name(&ls[i]), ls[i].spec);
    return v;
}

int gw_handover_env_build(struct gw_handover_env *e, const struct gw_listener *ls, size_t n,
                          const char *const *extra)
{
    size_t nenv = 0, nextra = 0;
    while (environ[nenv] != NULL)
        nenv++;
    while (extra != NULL && extra[nextra] != NULL)
        nextra++;
    e->n = 0;
    e->envp = calloc(nenv + nextra + 2, sizeof(char *));
    if (e->envp == NULL)
        return -1;
    for (size_t i = 0; i < nenv; i++) {
        if (overridden(environ[i], extra))
            continue;
        if ((e->envp[e->n] = strdup(environ[i])) == NULL)
            goto fail;
        e->n++;
    }
    for (size_t i = 0; i < nextra; i++) {
        if ((e->envp[e->n] = strdup(extra[i])) == NULL)
            goto fail;
        e->n++;
    }
    if ((e->envp[e->n] = listeners_entry(ls, n)) == NULL)
        goto fail;
    e->n++;
    return 0;
fail:
    gw_handover_env_free(e);
    return -1;
}

void gw_handover_env_free(struct gw_handover_env *e)
{
    for (size_t i = 0; e->envp != NULL && i < e->n; i++)
        free(e->envp[i]);
    free(e->envp);
    e->envp = NULL;
    e->n = 0;
}

static void keep_open(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0)
        fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
}

void gw_handover_keep(const struct gw_listener *ls, size_t n, int keep_fd)
{
    for (size_t i = 0; i < n; i++)
        if (ls[i].fd >= 0)
            keep_open(ls[i].fd);
    if (keep_fd >= 0)
        keep_open(keep_fd);
}

int gw_handover_import(struct gw_listener *ls, size_t max, size_t *n,
                       const struct gw_protocol *(*find)(const char *name), char *err,
                       size_t errlen)
{
    const char *v = getenv(GW_HANDOVER_ENV);
    *n = 0;
    if (v == NULL)
        return 0;
    free(imported);
    imported = strdup(v);
    unsetenv(GW_HANDOVER_ENV);
    if (imported == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(imported, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp1 = strchr(line, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        uint64_t fd;
        if (sp2 == NULL || gw_parse_u64(line, (size_t)(sp1 - line), 65535, &fd) != 0) {
            snprintf(err, errlen, "malformed %s entry '%s'", GW_HANDOVER_ENV, line);
            return -1;
        }
        *sp1 = '\0';
        *sp2 = '\0';
        const struct gw_protocol *proto = find(sp1 + 1);
        if (proto == NULL || *n == max) {
            snprintf(err, errlen, "%s: %s", GW_HANDOVER_ENV,
                     proto ? "too many listeners" : "unknown protocol");
            return -1;
        }
        if (gw_listener_adopt(&ls[*n], (int)fd, sp2 + 1, proto, err, errlen) != 0)
            return -1;
        ls[*n].name = sp1 + 1; /* in imported, kept for the process's life */
        (*n)++;
    }
    return 1;
}

int gw_handover_exec(char *const argv[], const struct gw_handover_env *e)
{
    execve("/proc/self/exe", argv, e->envp);
    return -1;
}
