/*
 * The two sources of settings besides the command line: the --config file (INI:
 * `key = value` lines in a [wsgate] section, the keys being the long option names)
 * and the WSGATE_ARGS environment variable (options as on a command line, split as a
 * shell would). Both only collect settings; gateway/config.c applies them in order.
 * Main thread, at start-up; what they read is kept for the life of the process (the
 * configuration points into it).
 */
#ifndef GW_CONFIG_FILE_H
#define GW_CONFIG_FILE_H

#include <stddef.h>

#include "gateway/options.h"

/* One setting: the option, its value (NULL: a flag given on a command line), and its
 * source: src = NULL for the command line, else "WSGATE_ARGS" or the file's path, with
 * line the line number in that file (0 elsewhere). */
struct gw_setting {
    const struct gw_option *opt;
    const char *value;
    const char *src;
    unsigned line;
};

struct gw_settings {
    struct gw_setting *v;
    size_t n, cap;
};

/* Appends one setting. 0, or -1 with a line printed (out of memory). */
int gw_settings_add(struct gw_settings *s, const struct gw_option *o, const char *value,
                    const char *src, unsigned line);

/* Frees the list (not the strings it points to). */
void gw_settings_free(struct gw_settings *s);

/*
 * Reads the INI file at path into *out: blank lines and lines starting with '#' or ';'
 * are skipped; `[wsgate]` opens the one section read (keys before any section count as
 * in it); `key = value` sets the option of that long name (a value in double quotes
 * keeps its spaces; there are no inline comments, so a value may hold '#' and ';'). A
 * repeatable option may appear on several lines. Returns 0, or -1 with one line
 * printed that names the file and line: unreadable file, another section, a line that
 * is not `key = value`, an unknown key (with the closest one), a key that only the
 * command line takes.
 */
int gw_config_file_read(const char *path, struct gw_settings *out);

/*
 * Splits s as a POSIX shell splits words: blanks separate, '...' keeps everything,
 * "..." keeps everything but \" \\ \$ \` (escaped), and \ outside quotes escapes the next
 * character. *argv gets argv0 then the words, NULL-terminated; *argc their count.
 * Returns 0, or -1 with one line printed naming `name` (an unclosed quote, out of
 * memory).
 */
int gw_split_words(const char *name, const char *s, const char *argv0, int *argc, char ***argv);

#endif
