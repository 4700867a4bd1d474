/*
 * Prints README's option table from gateway/options.c (make readme-options). The
 * table's one source is the option table; tests/unit/gateway/test_options.c checks
 * that README.md holds what this prints.
 */
#include <stdio.h>

#include "gateway/options.h"

int main(void)
{
    gw_options_markdown(stdout);
    return ferror(stdout) ? 1 : 0;
}
