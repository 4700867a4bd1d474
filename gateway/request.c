/*
 * The worker-side request API (gateway/request.h): thin dispatch to the front-end of
 * the request's connection, so python/ never knows which protocol it is speaking.
 */
#include "gateway/request.h"

#include "gateway/conn.h"
#include "gateway/protocol.h"

ssize_t gw_request_read(struct gw_request *r, char *buf, size_t len)
{
    return r->proto->read_body(r, buf, len);
}

int gw_request_send_head(struct gw_request *r, struct gw_slice status,
                         const struct gw_field *fields, size_t n)
{
    return r->proto->send_head(r, status, fields, n);
}

int gw_request_send_body(struct gw_request *r, const struct iovec *iov, int iovcnt)
{
    return r->proto->send_body(r, iov, iovcnt);
}

int gw_request_send_file(struct gw_request *r, int fd, off_t offset, size_t len)
{
    return r->proto->send_file(r, fd, offset, len);
}

void gw_request_finish(struct gw_request *r, int ok)
{
    int keep = r->proto->finish(r, ok);
    r->keep = keep && !gw_conn_broken(r->conn);
}

int gw_request_client_gone(const struct gw_request *r)
{
    return gw_conn_broken(r->conn);
}
