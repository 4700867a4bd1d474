/*
 * The HTTP/1.1 front-end's table for the listener list (process/main.c).
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "gateway/protocol.h"

extern const struct gw_protocol gw_http_protocol;

#endif
