/*
 * The settings, from their four sources in order, each overriding the one before: the
 * defaults of the option table (gateway/options.c), the --config file, WSGATE_ARGS,
 * the command line. Runs once on the main thread before anything else; every error is
 * one line on stderr. Long options count only when spelled out in full (next_option
 * undoes getopt_long's prefix matching); a misspelt one is refused with the closest
 * option named. A repeatable option (--http, --pythonpath, ...) given by a source
 * replaces what an earlier source gave for it, as a single value does. The strings in
 * struct gw_config point into argv or into what gateway/config_file.c read, both kept
 * for the whole process.
 */
#include "gateway/config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config_file.h"
#include "gateway/options.h"

enum {
    LONG_BASE = 256, /* getopt_long's val for gw_options[i] is LONG_BASE + i */
    MAX_OPTIONS = 128,
    NEG_BASE = LONG_BASE + MAX_OPTIONS, /* and NEG_BASE + i for its --no-NAME */
};

/* Sources, weakest first. */
enum { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_CLI, NSRC };

static struct option long_opts[3 * MAX_OPTIONS + 1];
static char short_opts[2 * MAX_OPTIONS + 2];

/* getopt_long's tables from the option table: every long name, alias and flag's
 * --no-NAME, the short letters (":" first: a missing value is reported as such). */
static void build_getopt_tables(void)
{
    size_t nl = 0, ns = 0;
    short_opts[ns++] = ':';
    for (size_t i = 0; i < gw_noptions; i++) {
        const struct gw_option *o = &gw_options[i];
        int has_arg = o->metavar != NULL ? required_argument : no_argument;
        if (o->flags & GW_OPTF_NO_CLI)
            continue;
        long_opts[nl++] = (struct option){o->name, has_arg, NULL, LONG_BASE + (int)i};
        if (o->alias != NULL)
            long_opts[nl++] = (struct option){o->alias, has_arg, NULL, LONG_BASE + (int)i};
        if (o->negation != NULL)
            long_opts[nl++] = (struct option){o->negation, no_argument, NULL, NEG_BASE + (int)i};
        if (o->short_name != 0) {
            short_opts[ns++] = o->short_name;
            if (has_arg == required_argument)
                short_opts[ns++] = ':';
        }
    }
    long_opts[nl] = (struct option){NULL, 0, NULL, 0};
    short_opts[ns] = '\0';
}

/*
 * getopt_long with whole long option names only: getopt_long itself also takes any
 * unique prefix ("--thr 3" as --threads 3), so a typo could pass for another option.
 * Returns the option (its val, or the short letter), -1 after the last option, or '?'
 * when one line was printed about an unknown, abbreviated or ambiguous name (with the
 * closest option as a suggestion), a missing value or a value given to a flag.
 */
static int next_option(int argc, char **argv, const char *pfx)
{
    int idx = -1, c = getopt_long(argc, argv, short_opts, long_opts, &idx);
    const struct gw_option *o;
    const char *el, *name;
    size_t n;

    if (c == -1 || (idx < 0 && c != '?' && c != ':'))
        return c;
    if (idx >= 0) {
        /* Matched (maybe by a prefix) and taken: the element is the last one taken,
         * or the one before when its value was the next element ("--threads 3"). */
        el = argv[optind - 1];
        if (long_opts[idx].has_arg == required_argument && optarg == el)
            el = argv[optind - 2];
    } else if (optind > 0 && strncmp(argv[optind - 1], "--", 2) == 0 &&
               (optopt == 0 || optopt >= LONG_BASE)) {
        /* A failed long option: getopt_long stepped past its element and set optopt
         * to 0 (no or several matches) or to the option's val. A failed short option
         * sets its letter, below LONG_BASE. */
        el = argv[optind - 1];
    } else {
        if (c == ':')
            fprintf(stderr, "wsgate: %soption -%c needs a value (see --help)\n", pfx, optopt);
        else if (optopt > 0x20 && optopt < 0x7f)
            fprintf(stderr, "wsgate: %sunknown option -%c (see --help)\n", pfx, optopt);
        else
            fprintf(stderr, "wsgate: %sunknown option -\\x%02x (see --help)\n", pfx,
                    (unsigned)optopt & 0xff);
        return '?';
    }
    name = el + 2;
    n = strcspn(name, "=");
    o = gw_option_find(name, n);
    if (o == NULL)
        o = gw_option_negated(name, n);
    if (o != NULL && (o->flags & GW_OPTF_NO_CLI))
        o = NULL;
    if (o == NULL) {
        const char *near = gw_option_closest(name, n, 1);
        size_t shown = n > 0 ? n : strlen(name); /* "--=x": show all of it */
        int len = shown > 200 ? 200 : (int)shown;
        if (near != NULL)
            fprintf(stderr, "wsgate: %sunknown option --%.*s (did you mean --%s?)\n", pfx, len,
                    name, near);
        else
            fprintf(stderr, "wsgate: %sunknown option --%.*s (see --help)\n", pfx, len, name);
        return '?';
    }
    if (c == ':') {
        fprintf(stderr, "wsgate: %soption --%s needs a value (see --help)\n", pfx, o->name);
        return '?';
    }
    if (c == '?') {
        fprintf(stderr, "wsgate: %soption --%.*s takes no value (see --help)\n", pfx, (int)n, name);
        return '?';
    }
    return c;
}

/*
 * The options of argv (a command line, or WSGATE_ARGS split into words: pfx then names
 * it in error lines, src in the settings) into *out, and its one argument, the app,
 * into *app. --help is printed at once and --version sets *version (the return is 1 for
 * both). Returns 0, 1, or -1 with one line printed.
 */
static int collect_args(int argc, char **argv, const char *pfx, const char *src,
                        struct gw_settings *out, const char **app, int *version)
{
    int c;

    optind = 0; /* glibc: start afresh (the command line, then WSGATE_ARGS) */
    opterr = 0;
    while ((c = next_option(argc, argv, pfx)) != -1) {
        const struct gw_option *o = c >= NEG_BASE    ? &gw_options[c - NEG_BASE]
                                    : c >= LONG_BASE ? &gw_options[c - LONG_BASE]
                                    : c != '?'       ? gw_option_short(c)
                                                     : NULL;
        if (o == NULL) /* '?': next_option has said what is wrong */
            return -1;
        if (o->type == GW_OPT_ACTION && src != NULL && strcmp(o->name, "config") != 0) {
            fprintf(stderr, "wsgate: %s--%s is for the command line\n", pfx, o->name);
            return -1;
        }
        if (strcmp(o->name, "help") == 0) {
            gw_options_usage(stdout);
            return 1;
        }
        if (strcmp(o->name, "version") == 0) {
            *version = 1;
            return 1;
        }
        /* --no-NAME: the flag's false, as a file would say it (--print-config too) */
        if (gw_settings_add(out, o, c >= NEG_BASE ? "false" : optarg, src, 0) != 0)
            return -1;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "wsgate: %sunexpected argument '%s' after the application\n", pfx,
                argv[optind + 1]);
        return -1;
    }
    if (optind < argc)
        *app = argv[optind];
    return 0;
}

/* The value of the last setting of the action `name` in s, or NULL. */
static const struct gw_setting *last_action(const struct gw_settings *s, const char *name)
{
    const struct gw_setting *found = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].opt->name, name) == 0)
            found = &s->v[i];
    return found;
}

/* Applies the settings of one source (level) over the weaker ones: a repeatable
 * option's first value from a stronger source clears what the weaker gave. level[]
 * keeps, per option, the strongest source that set it. 0 or -1 (one line printed). */
static int apply(struct gw_config *cfg, const struct gw_settings *s, int lvl, int *level)
{
    char where[512];
    for (size_t i = 0; i < s->n; i++) {
        const struct gw_setting *st = &s->v[i];
        size_t idx = (size_t)(st->opt - gw_options);
        if (st->opt->type == GW_OPT_ACTION)
            continue;
        if (level[idx] < lvl && (st->opt->flags & GW_OPTF_REPEAT))
            gw_option_clear(cfg, st->opt);
        level[idx] = lvl;
        if (st->src != NULL && st->line > 0)
            snprintf(where, sizeof(where), "%s:%u", st->src, st->line);
        else if (st->src != NULL)
            snprintf(where, sizeof(where), "%s", st->src);
        if (gw_option_set(cfg, st->opt, st->value, st->src != NULL ? where : NULL) != 0)
            return -1;
    }
    return 0;
}

/* The values of option idx set by source s, as config file lines. */
static void print_values(FILE *f, const struct gw_settings *s, size_t idx)
{
    for (size_t i = 0; i < s->n; i++)
        if ((size_t)(s->v[i].opt - gw_options) == idx)
            fprintf(f, "%s = %s\n", gw_options[idx].name,
                    s->v[i].value != NULL ? s->v[i].value : "true");
}

/* --print-config: the settings in effect as a config file, grouped by where each came
 * from; those without a value as comments. */
static void print_config(FILE *f, const struct gw_config *cfg, const struct gw_settings *src,
                         const char *const *app, const char *file, const int *level)
{
    static const char *const names[NSRC] = {"defaults", "the config file", "WSGATE_ARGS",
                                            "the command line"};
    size_t app_idx = (size_t)(gw_option_find("app", 3) - gw_options);

    fputs("# The settings in effect (wsgate --print-config), as a config file for --config.\n"
          "[wsgate]\n",
          f);
    for (int s = NSRC - 1; s >= SRC_DEFAULT; s--) {
        int any = 0;
        for (size_t i = 0; i < gw_noptions; i++) {
            const struct gw_option *o = &gw_options[i];
            if (o->type == GW_OPT_ACTION || level[i] != s)
                continue;
            if (s == SRC_DEFAULT &&
                (i == app_idx ||
                 (o->def == NULL && !(o->type == GW_OPT_LISTEN && strcmp(o->proto, "http") == 0 &&
                                      cfg->default_listen))))
                continue;
            if (!any)
                fprintf(f, "\n# from %s%s%s\n", names[s], s == SRC_FILE ? " " : "",
                        s == SRC_FILE ? file : "");
            any = 1;
            if (i == app_idx && app[s] != NULL && s != SRC_FILE)
                fprintf(f, "app = %s\n", app[s]);
            else if (s == SRC_DEFAULT)
                fprintf(f, "%s = %s\n", o->name, o->def != NULL ? o->def : GW_DEF_ADDRESS);
            else
                print_values(f, &src[s], i);
        }
    }
    fputs("\n# not set\n", f);
    for (size_t i = 0; i < gw_noptions; i++) {
        const struct gw_option *o = &gw_options[i];
        if (o->type != GW_OPT_ACTION && level[i] == SRC_DEFAULT && o->def == NULL &&
            !(o->type == GW_OPT_LISTEN && strcmp(o->proto, "http") == 0 && cfg->default_listen))
            fprintf(f, "# %s =\n", o->name);
    }
}

/* Each --proxy-protocol-at names an --http or --https listener of cfg->listen; one
 * named fd:N may also be a socket systemd passes (not known yet: process/main.c checks
 * it once the listeners are open). 0 or -1 (one line printed). */
static int check_proxy_at(const struct gw_config *cfg)
{
    for (size_t i = 0; i < cfg->nproxy_at; i++) {
        const struct gw_proxy_at *pa = &cfg->proxy_at[i];
        const struct gw_listen_spec *found = NULL;
        for (size_t k = 0; k < cfg->nlisten && found == NULL; k++)
            if (strlen(cfg->listen[k].addr) == pa->addr_len &&
                memcmp(cfg->listen[k].addr, pa->addr, pa->addr_len) == 0)
                found = &cfg->listen[k];
        if (found != NULL && strcmp(found->proto, "http") != 0 &&
            strcmp(found->proto, "https") != 0) {
            fprintf(stderr,
                    "wsgate: --proxy-protocol-at %.*s: that is a --%s listener; the PROXY "
                    "protocol is read on --http and --https listeners\n",
                    (int)pa->addr_len, pa->addr, found->proto);
            return -1;
        }
        if (found == NULL && strncmp(pa->addr, "fd:", 3) != 0) {
            fprintf(stderr,
                    "wsgate: --proxy-protocol-at %.*s: no --http or --https listener has that "
                    "ADDR (write it exactly as given there)\n",
                    (int)pa->addr_len, pa->addr);
            return -1;
        }
    }
    return 0;
}

const struct gw_proxy_at *gw_config_proxy_at(const struct gw_config *cfg, const char *spec)
{
    size_t n = strlen(spec);
    for (size_t i = cfg->nproxy_at; i-- > 0;)
        if (cfg->proxy_at[i].addr_len == n && memcmp(cfg->proxy_at[i].addr, spec, n) == 0)
            return &cfg->proxy_at[i];
    return NULL;
}

int gw_config_proxy_protocol(const struct gw_config *cfg, const char *spec)
{
    const struct gw_proxy_at *pa = gw_config_proxy_at(cfg, spec);
    return pa != NULL ? pa->mode : cfg->proxy_protocol;
}

/* The checks that concern more than one option, after all sources. 0 or -1. */
static int check_config(struct gw_config *cfg)
{
    if (cfg->app_spec == NULL) {
        fprintf(stderr, "wsgate: no application given: wsgate [options] MODULE[:CALLABLE] "
                        "(see --help)\n");
        return -1;
    }
    if (cfg->app_spec[0] == '\0' || cfg->app_spec[0] == ':') {
        fprintf(stderr, "wsgate: invalid application '%s': expected MODULE[:CALLABLE]\n",
                cfg->app_spec);
        return -1;
    }
    if (cfg->nlisten == 0) {
        cfg->listen[0].proto = "http";
        cfg->listen[0].addr = GW_DEF_ADDRESS;
        cfg->nlisten = 1;
        cfg->default_listen = 1; /* dropped again if sockets are handed over (activation.h) */
    }
    if (check_proxy_at(cfg) != 0)
        return -1;
    char err[128];
    if (gw_cidrs_parse(&cfg->proxy_allow, cfg->proxy_allow_from, err, sizeof(err)) != 0 ||
        gw_cidrs_parse(&cfg->forwarded_allow, cfg->forwarded_allow_ips, err, sizeof(err)) != 0) {
        fprintf(stderr, "wsgate: %s\n", err); /* checked when set: not reached */
        return -1;
    }
    if (cfg->reload && cfg->lazy && cfg->processes > 1) {
        fprintf(stderr, "wsgate: --reload watches the files the master imported: it does not "
                        "go with --lazy\n");
        return -1;
    }
    size_t sl = strlen(cfg->script_name);
    if (cfg->health_path != NULL && sl > 0 &&
        (strncmp(cfg->health_path, cfg->script_name, sl) != 0 ||
         (cfg->health_path[sl] != '\0' && cfg->health_path[sl] != '/'))) {
        /* Requests outside the mount never get that far: 404 from the front-ends. */
        fprintf(stderr, "wsgate: --health-path %s must be under --script-name %s\n",
                cfg->health_path, cfg->script_name);
        return -1;
    }
    if (cfg->max_target + 32 > cfg->max_head) {
        fprintf(stderr, "wsgate: --max-header-size must exceed --max-target by 32 bytes\n");
        return -1;
    }
    return 0;
}

int gw_config_parse(struct gw_config *cfg, int argc, char **argv)
{
    struct gw_settings src[NSRC] = {{0}};
    const char *app[NSRC] = {NULL}, *env = getenv("WSGATE_ARGS"), *file = NULL;
    const struct gw_setting *cf;
    int level[MAX_OPTIONS] = {0}, rc, eargc;
    char **eargv;

    if (gw_noptions > MAX_OPTIONS)
        abort(); /* the table outgrew MAX_OPTIONS: caught by every test run */
    build_getopt_tables();
    gw_options_defaults(cfg);
    rc = collect_args(argc, argv, "", NULL, &src[SRC_CLI], &app[SRC_CLI], &cfg->version_only);
    if (rc == 0 && env != NULL && env[0] != '\0') {
        rc = gw_split_words("WSGATE_ARGS", env, argv[0], &eargc, &eargv);
        if (rc == 0)
            rc = collect_args(eargc, eargv, "WSGATE_ARGS: ", "WSGATE_ARGS", &src[SRC_ENV],
                              &app[SRC_ENV], &cfg->version_only);
    }
    if (rc != 0)
        goto out;
    cf = last_action(&src[SRC_CLI], "config");
    if (cf == NULL)
        cf = last_action(&src[SRC_ENV], "config");
    if (cf != NULL) {
        file = cf->value;
        cfg->config_file = file;
        rc = gw_config_file_read(file, &src[SRC_FILE]) != 0 ? -1 : 0;
    }
    for (int s = SRC_FILE; rc == 0 && s < NSRC; s++)
        rc = apply(cfg, &src[s], s, level);
    if (rc != 0)
        goto out;
    for (int s = SRC_ENV; s < NSRC; s++)
        if (app[s] != NULL) {
            cfg->app_spec = app[s];
            level[gw_option_find("app", 3) - gw_options] = s;
        }
    rc = check_config(cfg);
    if (rc == 0 && last_action(&src[SRC_CLI], "print-config") != NULL) {
        print_config(stdout, cfg, src, app, file, level);
        rc = 1;
    }
out:
    for (int s = 0; s < NSRC; s++)
        gw_settings_free(&src[s]);
    return rc;
}
