/*
 * The option table (gateway/options.c): names, aliases and short letters are unique,
 * every option the command line takes has its help and README text, and README.md
 * holds the table gw_options_markdown writes (else: make readme-options); the
 * ADDR=MODE values of --proxy-protocol-at and the setting a listener gets from them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/options.h"

Test(options, names_and_letters_are_unique)
{
    for (size_t i = 0; i < gw_noptions; i++) {
        const struct gw_option *o = &gw_options[i];
        cr_assert(gw_option_find(o->name, strlen(o->name)) == o, "%s", o->name);
        if (o->alias != NULL)
            cr_assert(gw_option_find(o->alias, strlen(o->alias)) == o, "%s", o->alias);
        if (o->short_name != 0)
            cr_assert(gw_option_short(o->short_name) == o, "-%c", o->short_name);
        /* every flag has its --no-NAME, and no option is named like one */
        cr_assert((o->type == GW_OPT_FLAG) == (o->negation != NULL), "%s", o->name);
        if (o->negation != NULL) {
            cr_assert(gw_option_negated(o->negation, strlen(o->negation)) == o, "%s", o->name);
            cr_assert_null(gw_option_find(o->negation, strlen(o->negation)), "%s", o->name);
        }
    }
}

Test(options, every_option_is_described)
{
    for (size_t i = 0; i < gw_noptions; i++) {
        const struct gw_option *o = &gw_options[i];
        cr_assert(o->help != NULL && o->help[0] != '\0', "%s has no --help text", o->name);
        if (!(o->flags & GW_OPTF_NO_CLI))
            cr_assert(o->doc != NULL && o->doc[0] != '\0', "%s has no README text", o->name);
        cr_assert(o->section >= 0 && (size_t)o->section < gw_noption_sections, "%s", o->name);
    }
}

Test(options, defaults_are_values_of_their_type)
{
    struct gw_config cfg;
    gw_options_defaults(&cfg); /* aborts on a default its own option refuses */
    cr_assert_eq(cfg.threads, 8);
    cr_assert_eq(cfg.max_head, 65536);
    cr_assert_eq(cfg.socket_mode, -1);
    cr_assert_str_eq(cfg.script_name, "");
}

/* README.md from the repository root (make unit runs there). */
static char *read_readme(void)
{
    FILE *f = fopen("README.md", "r");
    cr_assert_not_null(f, "README.md not found: run the unit tests from the repository root");
    char *buf = malloc(1 << 20);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(options, readme_holds_the_table)
{
    char *readme = read_readme(), *want = NULL;
    size_t wn = 0;
    FILE *m = open_memstream(&want, &wn);
    cr_assert_not_null(m);
    gw_options_markdown(m);
    fclose(m);
    const char *start = strstr(readme, "<!-- options -->\n"),
               *end = strstr(readme, "<!-- end of options -->");
    cr_assert(start != NULL && end != NULL && end > start, "README.md lost its markers");
    start += strlen("<!-- options -->\n");
    cr_assert((size_t)(end - start) == wn && memcmp(start, want, wn) == 0,
              "README.md's option table is not the one of gateway/options.c: run "
              "make readme-options");
    free(want);
    free(readme);
}

/* --proxy-protocol-at ADDR=MODE splits at the last '=' (a unix:PATH may hold one, a
 * MODE never does); a listener's last entry counts, one without any has
 * --proxy-protocol's setting. */
Test(options, proxy_protocol_at)
{
    struct gw_config cfg;
    const struct gw_option *o = gw_option_find("proxy-protocol-at", 17);
    const struct gw_option *global = gw_option_find("proxy-protocol", 14);
    cr_assert_not_null(o);
    gw_options_defaults(&cfg);
    cr_assert_eq(gw_option_set(&cfg, global, "auto", NULL), 0);
    cr_assert_eq(gw_option_set(&cfg, o, "unix:/run/a=b.sock=v2", NULL), 0);
    cr_assert_eq(gw_option_set(&cfg, o, ":8080=v1", NULL), 0);
    cr_assert_eq(gw_option_set(&cfg, o, ":8080=off", NULL), 0);
    cr_assert_eq(cfg.nproxy_at, 3);
    cr_assert_eq(gw_config_proxy_protocol(&cfg, "unix:/run/a=b.sock"), 2);
    cr_assert_eq(gw_config_proxy_protocol(&cfg, ":8080"), 0);
    cr_assert_eq(gw_config_proxy_protocol(&cfg, "127.0.0.1:8081"), 7);
    cr_assert_eq(gw_config_proxy_protocol(&cfg, "unix:/run/a"), 7);
    cr_assert_null(gw_config_proxy_at(&cfg, "unix:/run/a=b.sock=v2"));
    /* refused, one line on stderr each: no '=', no ADDR, no or an unknown MODE */
    cr_assert_eq(gw_option_set(&cfg, o, ":8080", "test"), -1);
    cr_assert_eq(gw_option_set(&cfg, o, "=v2", "test"), -1);
    cr_assert_eq(gw_option_set(&cfg, o, ":8080=", "test"), -1);
    cr_assert_eq(gw_option_set(&cfg, o, "unix:/run/a=v2=V2", "test"), -1);
    cr_assert_eq(cfg.nproxy_at, 3);
    gw_option_clear(&cfg, o);
    cr_assert_eq(cfg.nproxy_at, 0);
}
