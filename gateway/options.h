/*
 * The one table of wsgate's settings. The command line (gateway/config.c), `--help`,
 * the config file (gateway/config_file.c), WSGATE_ARGS and `--print-config` all come
 * from it: an option is added in one place, gateway/options.c.
 *
 * Each entry names a setting (its long option name, also its config file key), its
 * aliases, its type and range, where it goes in struct gw_config, the default as the
 * config file would spell it, and its help text. Runs on the main thread at start-up
 * only.
 */
#ifndef GW_OPTIONS_H
#define GW_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gateway/config.h"

enum gw_opt_type {
    GW_OPT_FLAG,     /* int set to 1 (--no-NAME: 0); in a file true/false, yes/no, on/off, 1/0 */
    GW_OPT_STRING,   /* const char * */
    GW_OPT_INT,      /* int, decimal, lo..hi */
    GW_OPT_U64,      /* uint64_t, lo..hi */
    GW_OPT_SIZE,     /* size_t, lo..hi */
    GW_OPT_SECONDS,  /* double, 0..one year (GW_OPTF_POSITIVE: more than 0) */
    GW_OPT_CHOICE,   /* int, one of choices[] */
    GW_OPT_OCTAL,    /* int, a file mode 0..0777; -1 = not set */
    GW_OPT_LISTEN,   /* appends {proto, value} to cfg->listen[] */
    GW_OPT_PROXY_AT, /* ADDR=MODE (MODE one of choices[]; split at the last '='): appends
                        to cfg->proxy_at[] */
    GW_OPT_PATHS,    /* appends to cfg->pythonpath[] */
    GW_OPT_ACTION,   /* --help, --version, --config, --print-config: config.c acts */
};

enum {
    GW_OPTF_POSITIVE = 1, /* seconds: 0 is refused */
    GW_OPTF_REPEAT = 2,   /* may be given more than once; each adds a value */
    GW_OPTF_NO_FILE = 4,  /* not a config file key (--config, --help, ...) */
    GW_OPTF_NO_CLI = 8,   /* only a config file key (app: positional on the command line) */
};

struct gw_choice {
    const char *name;
    int value;
};

struct gw_option {
    const char *name;     /* long option and config file key */
    const char *alias;    /* a second long name (--workers, --bind), or NULL */
    const char *negation; /* GW_OPT_FLAG: "no-NAME", the command line's false; else NULL */
    char short_name;      /* -w, -b, -c, -h; 0 = none */
    const char *metavar;  /* shown after the name in --help; NULL for flags and actions */
    enum gw_opt_type type;
    unsigned flags;                  /* GW_OPTF_* */
    size_t offset;                   /* of the value in struct gw_config */
    uint64_t lo, hi;                 /* GW_OPT_INT, _U64, _SIZE: the range */
    const char *proto;               /* GW_OPT_LISTEN: "http", "https", ..., "uwsgi" */
    const struct gw_choice *choices; /* GW_OPT_CHOICE, _PROXY_AT: ends with {NULL, 0} */
    /* GW_OPT_STRING: refuses a bad value with one line (named as `shown`), returns -1. */
    int (*check)(const char *shown, const char *value, const char *where);
    const char *def;  /* the default, spelled as a value; NULL = not set */
    int section;      /* index into gw_option_sections */
    const char *help; /* --help text; lines split by '\n' */
    /* README's table (gw_options_markdown): the default as the reader should see it
     * (NULL: empty) and the meaning, both markdown. */
    const char *doc_def;
    const char *doc;
};

struct gw_option_section {
    const char *title; /* NULL: no title line */
    const char *note;  /* lines printed under the title, or NULL */
};

extern const struct gw_option gw_options[];
extern const size_t gw_noptions;
extern const struct gw_option_section gw_option_sections[];
extern const size_t gw_noption_sections;

/* The option whose long name or alias is exactly name[0..n), or NULL. */
const struct gw_option *gw_option_find(const char *name, size_t n);

/* The flag whose negation ("no-h2") is exactly name[0..n), or NULL. The command
 * line's --no-NAME sets the flag false; a config file says `NAME = false`. */
const struct gw_option *gw_option_negated(const char *name, size_t n);

/* The option with that short letter, or NULL. */
const struct gw_option *gw_option_short(int letter);

/* The long name (or alias, or with negations the flags' "no-NAME") closest to the
 * unknown name[0..n): the smallest edit distance among those within a third of its
 * length (at least 1) or that it abbreviates (from 2 characters on), an abbreviated
 * one before the others; the first in the table on a tie; NULL when none is close. */
const char *gw_option_closest(const char *name, size_t n, int negations);

/*
 * Sets o to value in cfg (value must outlive cfg: it is pointed to, not copied).
 * `where` says where the value came from for the error line: NULL for the command
 * line ("invalid value 'x' for --threads: ..."), else a prefix such as "site.ini:3" or
 * "WSGATE_ARGS" ("site.ini:3: invalid value 'x' for threads: ..."). Returns 0, or -1
 * with that one line printed on stderr. Not for GW_OPT_ACTION.
 */
int gw_option_set(struct gw_config *cfg, const struct gw_option *o, const char *value,
                  const char *where);

/* Forgets the values o has added (GW_OPTF_REPEAT options), so that a source that
 * overrides another replaces its list instead of adding to it. */
void gw_option_clear(struct gw_config *cfg, const struct gw_option *o);

/* The defaults of every option: cfg zeroed, then each `def` set. */
void gw_options_defaults(struct gw_config *cfg);

/* Writes the --help text. */
void gw_options_usage(FILE *f);

/* Writes README's option table (markdown), every option that the command line takes,
 * in --help's order. `make readme-options` puts it into README.md; a unit test checks
 * that README holds it. */
void gw_options_markdown(FILE *f);

#endif
