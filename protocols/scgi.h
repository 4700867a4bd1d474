/*
 * The SCGI front-end's table for the listener list (process/main.c).
 */
#ifndef GW_SCGI_H
#define GW_SCGI_H

#include "gateway/protocol.h"

extern const struct gw_protocol gw_scgi_protocol;

#endif
