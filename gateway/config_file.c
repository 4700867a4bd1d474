/*
 * The --config file and WSGATE_ARGS (see gateway/config_file.h). The INI reader is our
 * own, some sixty lines: Debian's inih (libinih-dev r55) cuts a line at 200 bytes
 * without an error, so a long --tls-ciphers list would have been shortened silently.
 * Here a line may be as long as the file (which may be up to 1 MiB), every error names
 * the file and the line, and nothing read is ever freed (the configuration points
 * into it for the life of the process).
 */
#include "gateway/config_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_FILE = 1024 * 1024 };

/* What the configuration points into, kept reachable for the life of the process
 * (volatile: stores that nothing reads again must not be optimized away, or the leak
 * checker would see the buffers as lost). */
static char *volatile file_text, *volatile words_text;
static char **volatile words_argv;

int gw_settings_add(struct gw_settings *s, const struct gw_option *o, const char *value,
                    const char *src, unsigned line)
{
    if (s->n == s->cap) {
        size_t cap = s->cap != 0 ? s->cap * 2 : 16;
        struct gw_setting *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL) {
            fprintf(stderr, "wsgate: out of memory reading the settings\n");
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (struct gw_setting){o, value, src, line};
    return 0;
}

void gw_settings_free(struct gw_settings *s)
{
    free(s->v);
    *s = (struct gw_settings){0};
}

/* The whole file, NUL-terminated, in a new buffer; NULL with a line printed. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0;

    if (f == NULL) {
        fprintf(stderr, "wsgate: --config %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = malloc(MAX_FILE + 1);
    if (buf == NULL) {
        fprintf(stderr, "wsgate: --config %s: out of memory\n", path);
        goto out;
    }
    n = fread(buf, 1, MAX_FILE + 1, f);
    if (ferror(f) || n > MAX_FILE) {
        fprintf(stderr, "wsgate: --config %s: %s\n", path,
                ferror(f) ? strerror(errno) : "larger than 1 MiB");
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n) != NULL) {
        fprintf(stderr, "wsgate: --config %s: not a text file (a NUL byte)\n", path);
        free(buf);
        buf = NULL;
    }
out:
    fclose(f);
    return buf;
}

static char *trim(char *s, char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    return s;
}

/* One `key = value` line (already trimmed) into out; -1 with a line printed. */
static int read_setting(const char *path, unsigned line, char *text, struct gw_settings *out)
{
    char *eq = strchr(text, '=');
    if (eq == NULL) {
        fprintf(stderr, "wsgate: %s:%u: expected 'key = value', found '%.80s'\n", path, line, text);
        return -1;
    }
    char *key = trim(text, eq), *value = trim(eq + 1, eq + 1 + strlen(eq + 1));
    size_t vn = strlen(value);
    if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
        value[vn - 1] = '\0';
        value++;
    }
    const struct gw_option *o = gw_option_find(key, strlen(key));
    if (o == NULL && (o = gw_option_negated(key, strlen(key))) != NULL) {
        fprintf(stderr, "wsgate: %s:%u: unknown key '%s' (say %s = false)\n", path, line, key,
                o->name);
        return -1;
    }
    if (o == NULL) {
        const char *near = gw_option_closest(key, strlen(key), 0);
        if (near != NULL)
            fprintf(stderr, "wsgate: %s:%u: unknown key '%.80s' (did you mean %s?)\n", path, line,
                    key, near);
        else
            fprintf(stderr, "wsgate: %s:%u: unknown key '%.80s' (see wsgate --help)\n", path, line,
                    key);
        return -1;
    }
    if (o->flags & GW_OPTF_NO_FILE) {
        fprintf(stderr, "wsgate: %s:%u: '%s' is a command-line option, not a config file key\n",
                path, line, key);
        return -1;
    }
    return gw_settings_add(out, o, value, path, line);
}

int gw_config_file_read(const char *path, struct gw_settings *out)
{
    char *buf = slurp(path), *p, *nl;
    unsigned line = 0;
    int in_section = 1;

    if (buf == NULL)
        return -1;
    file_text = buf; /* read once per process */
    for (p = buf; *p != '\0' || p == buf; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            nl = p + strlen(p);
        int last = *nl == '\0';
        line++;
        char *text = trim(p, nl);
        if (line == 1 && strncmp(text, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 byte order mark */
            text += 3;
        if (text[0] == '\0' || text[0] == '#' || text[0] == ';') {
            /* a comment or a blank line */
        } else if (text[0] == '[') {
            size_t n = strlen(text);
            in_section = text[n - 1] == ']' && strcmp(text, "[wsgate]") == 0;
            if (!in_section) {
                fprintf(stderr, "wsgate: %s:%u: unknown section '%.80s' (wsgate reads [wsgate])\n",
                        path, line, text);
                return -1;
            }
        } else if (read_setting(path, line, text, out) != 0) {
            return -1;
        }
        if (last)
            break;
    }
    return 0;
}

int gw_split_words(const char *name, const char *s, const char *argv0, int *argc, char ***argv)
{
    size_t n = strlen(s), nwords = 0;
    char *buf = malloc(n + 1), *w = buf, **av = malloc((n / 2 + 3) * sizeof(*av));
    const char *p = s;

    if (buf == NULL || av == NULL) {
        fprintf(stderr, "wsgate: %s: out of memory\n", name);
        goto fail;
    }
    av[nwords++] = (char *)argv0;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == '\0')
            break;
        av[nwords++] = w;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'') {
                const char *end = strchr(p + 1, '\'');
                if (end == NULL)
                    goto unclosed;
                memcpy(w, p + 1, (size_t)(end - p - 1));
                w += end - p - 1;
                p = end + 1;
            } else if (*p == '"') {
                for (p++; *p != '"'; p++) {
                    if (*p == '\0')
                        goto unclosed;
                    if (*p == '\\' && p[1] != '\0' && strchr("\"\\$`", p[1]) != NULL)
                        p++;
                    *w++ = *p;
                }
                p++;
            } else if (*p == '\\' && p[1] != '\0') {
                *w++ = p[1];
                p += 2;
            } else {
                *w++ = *p++;
            }
        }
        *w++ = '\0';
    }
    av[nwords] = NULL;
    words_text = buf; /* split once per process */
    words_argv = av;
    *argc = (int)nwords;
    *argv = av;
    return 0;
unclosed:
    fprintf(stderr, "wsgate: %s: a quote is not closed\n", name);
fail:
    free(buf);
    free(av);
    return -1;
}
