/*
 * Error codes of the gateway's C functions: 0 on success, a negative GW_E* on failure
 * (the house style, docs/architecture.md). gw_strerror gives a short English text for
 * logs and exceptions.
 */
#ifndef GW_ERRORS_H
#define GW_ERRORS_H

#define GW_EOF          0     /* not an error: end of the request body */
#define GW_ECLOSED      (-1)  /* the peer closed the connection or reset it */
#define GW_ETIMEDOUT    (-2)  /* no progress within the read or send timeout */
#define GW_EPROTO       (-3)  /* malformed framing of the request body */
#define GW_ETOOBIG      (-4)  /* over a configured limit (body, extensions) */
#define GW_ESTATE       (-5)  /* call not valid now (e.g. body after finish) */
#define GW_ENOMEM       (-6)  /* allocation failed */
#define GW_EABORTED     (-7)  /* the front server aborted the request */
#define GW_EIO          (-8)  /* any other socket or file error */
#define GW_EUNSUPPORTED (-9)  /* well-formed, but asks for what is not served */
#define GW_EAGAIN       (-10) /* not a failure: the transport would block (output path) */

const char *gw_strerror(int err);

#endif
