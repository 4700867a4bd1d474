/*
 * wsgate --version: what a bug report needs to say what was running.
 */
#ifndef GW_VERSION_REPORT_H
#define GW_VERSION_REPORT_H

#include <stdio.h>

/* Writes the report to out, one "name: value" line each after the first
 * ("wsgate VERSION"): the embedded Python (running version, library file, the version
 * and interpreter of the build), libev's and OpenSSL's running versions, and the
 * protocols compiled in. Main thread, before anything starts; needs no interpreter. */
void gw_version_print(FILE *out);

#endif
