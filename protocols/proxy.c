/*
 * The PROXY protocol preface of a connection (see protocols/proxy.h), on the loop
 * thread: the parser is protocols/proxy_parse.c; here the socket is read without
 * ever taking a byte that belongs to what follows (the TLS handshake reads the
 * socket itself), by peeking first and then receiving exactly the header's bytes.
 * Every byte peeked is either taken at once or the parse is done, so a slow sender
 * never makes the loop spin on a readable socket; --read-timeout bounds it (the
 * loop's deadline from the accept).
 */
#include "protocols/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/errors.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "protocols/proxy_parse.h"

static int refuse(struct gw_conn *c, const char *why)
{
    char peer[80];
    gw_log(GW_LOG_INFO, "%s: %s: %s, closing", c->listener->spec,
           gw_conn_peer(c, peer, sizeof(peer)), why);
    return GW_EPROTO;
}

/* Takes n bytes the peek saw into c->in. */
static int take(struct gw_conn *c, size_t n)
{
    while (n > 0) {
        ssize_t got = recv(c->fd, c->in.data + c->in.end, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return GW_ECLOSED;
        c->in.end += (size_t)got;
        n -= (size_t)got;
    }
    return 0;
}

static void apply(struct gw_conn *c, const struct gw_proxy_info *info)
{
    if (info->local)
        return;
    snprintf(c->remote_addr, sizeof(c->remote_addr), "%s", info->src_addr);
    snprintf(c->remote_port, sizeof(c->remote_port), "%s", info->src_port);
    snprintf(c->server_addr, sizeof(c->server_addr), "%s", info->dst_addr);
    snprintf(c->server_port, sizeof(c->server_port), "%s", info->dst_port);
    c->proxy_ssl = info->ssl;
}

int gw_proxy_preface(struct gw_conn *c)
{
    const struct gw_config *cfg = c->cfg;
    int accept = c->listener->proxy_protocol;
    int trusted = c->listener->is_unix ||
                  gw_cidrs_match(&cfg->proxy_allow, c->remote_addr, strlen(c->remote_addr));
    struct gw_proxy_info info;
    size_t have = c->in.end - c->in.start;

    if (!trusted && !(accept & GW_PROXY_OPTIONAL))
        return refuse(c, "a PROXY header is required and this peer is not in "
                         "--proxy-allow-from");
    if (gw_conn_reserve(c, GW_PROXY_MAX) != 0)
        return GW_ENOMEM;
    ssize_t n;
    do
        n = recv(c->fd, c->in.data + c->in.end, GW_PROXY_MAX - have, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return GW_EAGAIN;
    if (n < 0)
        return GW_ECLOSED;
    if (n == 0) {
        if (have == 0)
            return GW_ECLOSED; /* connected and left: a port check */
        return refuse(c, "PROXY header cut short");
    }
    enum gw_proxy_result rc =
        gw_proxy_parse(c->in.data + c->in.start, have + (size_t)n, accept, &info);
    /* An untrusted peer is refused once its bytes are a header's signature, not
     * while they are only the start of one ("PR" may still become "PRI * HTTP/2.0"). */
    size_t got = have + (size_t)n;
    const char *p = c->in.data + c->in.start;
    int header =
        rc == GW_PROXY_DONE || (rc == GW_PROXY_MORE && (got >= 12 || (got >= 6 && p[0] == 'P')));
    /* What is refused is taken first, so that the close is a FIN, not a reset for
     * unread bytes (the peer then sees the end of the stream, not an error). */
    if (rc == GW_PROXY_ERROR || (!trusted && header))
        (void)take(c, (size_t)n);
    switch (rc) {
    case GW_PROXY_MORE:
        if (!trusted && header)
            return refuse(c, "PROXY header from a peer not in --proxy-allow-from");
        if (take(c, (size_t)n) != 0)
            return GW_ECLOSED;
        return GW_EAGAIN;
    case GW_PROXY_NONE:
        /* Bytes taken while they could still have been a header belong to the request,
         * which TLS never starts with those bytes. */
        if (have > 0 && c->listener->tls != NULL)
            return refuse(c, "neither a PROXY header nor TLS");
        return 0;
    case GW_PROXY_DONE:
        if (!trusted)
            return refuse(c, "PROXY header from a peer not in --proxy-allow-from");
        if (take(c, info.len - have) != 0)
            return GW_ECLOSED;
        c->in.start = c->in.end = 0;
        apply(c, &info);
        return 0;
    case GW_PROXY_ERROR:
        break;
    }
    char why[96];
    snprintf(why, sizeof(why), "bad PROXY header (%s)", info.why);
    return refuse(c, why);
}
