/*
 * The uwsgi front-end's table for the listener list (process/main.c).
 */
#ifndef GW_UWSGI_H
#define GW_UWSGI_H

#include "gateway/protocol.h"

extern const struct gw_protocol gw_uwsgi_protocol;

#endif
