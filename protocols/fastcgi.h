/*
 * The FastCGI front-end's table for the listener list (process/main.c).
 */
#ifndef GW_FASTCGI_H
#define GW_FASTCGI_H

#include "gateway/protocol.h"

extern const struct gw_protocol gw_fastcgi_protocol;

#endif
