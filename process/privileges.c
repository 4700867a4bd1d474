/*
 * The privilege switch of process/privileges.h. Names are resolved once at start-up
 * (getpwnam/getgrnam, before any thread exists) into this file's state; the switch
 * itself is setgroups/initgroups, then the group, then the user (the group first:
 * once the user is not root it may no longer change its group), all three ids of
 * each (real, effective, saved) so that nothing can switch back, and a check that
 * root's user and group cannot be regained.
 */
#include "process/privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/util.h"

static struct {
    int switching; /* --user or --group given */
    uid_t uid;     /* the app's user and group */
    gid_t gid;
    char user[256]; /* its name for initgroups; "": an id without a passwd entry */
    int own;        /* --socket-owner given */
    uid_t sock_uid; /* (uid_t)-1: unchanged */
    gid_t sock_gid; /* (gid_t)-1: unchanged */
} pv;

/* A numeric id: digits only, below (uid_t)-1. 0 or -1. */
static int parse_id(const char *s, size_t n, unsigned *out)
{
    uint64_t v;
    if (gw_parse_u64(s, n, UINT32_MAX - 1, &v) != 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* The user name[0..n) (a name or an id): its uid, and its primary group and name
 * when it has a passwd entry (*has_gid 0 when not). 0 or -1 with one line in err. */
static int find_user(const char *what, const char *name, size_t n, uid_t *uid, gid_t *gid,
                     int *has_gid, char *pwname, size_t pwlen, char *err, size_t errlen)
{
    char buf[256];
    unsigned id;
    struct passwd *pw;
    if (n == 0 || n >= sizeof(buf)) {
        snprintf(err, errlen, "%s: no such user '%.*s'", what, (int)(n > 64 ? 64 : n), name);
        return -1;
    }
    memcpy(buf, name, n);
    buf[n] = '\0';
    errno = 0;
    pw = parse_id(buf, n, &id) == 0 ? getpwuid((uid_t)id) : getpwnam(buf);
    if (pw == NULL && parse_id(buf, n, &id) != 0) {
        snprintf(err, errlen, "%s: no such user '%s'", what, buf);
        return -1;
    }
    *uid = pw != NULL ? pw->pw_uid : (uid_t)id;
    *has_gid = pw != NULL;
    if (pw != NULL)
        *gid = pw->pw_gid;
    if (pwname != NULL)
        snprintf(pwname, pwlen, "%s", pw != NULL ? pw->pw_name : "");
    return 0;
}

/* The group name (a name or an id). 0 or -1 with one line in err. */
static int find_group(const char *what, const char *name, gid_t *gid, char *err, size_t errlen)
{
    unsigned id;
    if (parse_id(name, strlen(name), &id) == 0) {
        *gid = (gid_t)id;
        return 0;
    }
    struct group *gr = name[0] != '\0' ? getgrnam(name) : NULL;
    if (gr == NULL) {
        snprintf(err, errlen, "%s: no such group '%s'", what, name);
        return -1;
    }
    *gid = gr->gr_gid;
    return 0;
}

/* --socket-owner USER[:GROUP] or :GROUP. 0 or -1 with one line in err. */
static int parse_owner(const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
    int has_gid = 0;
    pv.sock_uid = (uid_t)-1;
    pv.sock_gid = (gid_t)-1;
    if (n > 0 && find_user("--socket-owner", spec, n, &pv.sock_uid, &pv.sock_gid, &has_gid, NULL, 0,
                           err, errlen) != 0)
        return -1;
    if (!has_gid)
        pv.sock_gid = (gid_t)-1;
    if (colon != NULL && find_group("--socket-owner", colon + 1, &pv.sock_gid, err, errlen) != 0)
        return -1;
    if (n == 0 && colon == NULL) {
        snprintf(err, errlen, "--socket-owner: expected USER[:GROUP] or :GROUP");
        return -1;
    }
    pv.own = 1;
    return 0;
}

int gw_priv_init(const struct gw_config *cfg, char *err, size_t errlen)
{
    int has_gid = 0;
    if (cfg->umask >= 0)
        umask((mode_t)cfg->umask);
    if (cfg->socket_owner != NULL && parse_owner(cfg->socket_owner, err, errlen) != 0)
        return -1;
    pv.switching = cfg->user != NULL || cfg->group != NULL;
    if (!pv.switching && geteuid() == 0 && !cfg->allow_root) {
        snprintf(err, errlen,
                 "started as root without --user: give --user (and --group) to run the app "
                 "unprivileged, or --allow-root to run it as root");
        return -1;
    }
    if (!pv.switching)
        return 0;
    pv.uid = getuid();
    pv.gid = getgid();
    if (cfg->user != NULL && find_user("--user", cfg->user, strlen(cfg->user), &pv.uid, &pv.gid,
                                       &has_gid, pv.user, sizeof(pv.user), err, errlen) != 0)
        return -1;
    if (cfg->group != NULL) {
        if (find_group("--group", cfg->group, &pv.gid, err, errlen) != 0)
            return -1;
    } else if (cfg->user != NULL && !has_gid) {
        snprintf(err, errlen, "--user %s: no such user in the user database; give --group too",
                 cfg->user);
        return -1;
    }
    if (pv.uid == 0 && !cfg->allow_root) {
        if (cfg->user != NULL)
            snprintf(err, errlen,
                     "--user %s would run the app as root: give --allow-root if that is meant",
                     cfg->user);
        else
            snprintf(err, errlen,
                     "--group without --user would run the app as root: give --user, or "
                     "--allow-root if that is meant");
        return -1;
    }
    return 0;
}

int gw_priv_own_socket(const char *path, char *err, size_t errlen)
{
    if (!pv.own)
        return 0;
    if (chown(path, pv.sock_uid, pv.sock_gid) != 0) {
        snprintf(err, errlen, "--socket-owner: cannot change the owner of unix:%s: %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int gw_priv_switching(void)
{
    return pv.switching;
}

/* A log file handed to the app's user, so that a re-executed image (a reload) can
 * open it again after the switch. A failure only costs that, and is said. */
static void hand_log(const char *path)
{
    struct stat st;
    /* Regular files only: /dev/stdout or a terminal stays whose it is. */
    if (path == NULL || strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    if (chown(path, pv.uid, pv.gid) != 0)
        gw_log(GW_LOG_WARNING,
               "cannot make the log file %s the app user's (%s); a reload will not be able "
               "to open it",
               path, strerror(errno));
}

void gw_priv_say_root(void)
{
    if (!pv.switching && geteuid() == 0)
        gw_log(GW_LOG_INFO, "running the app as root (--allow-root)");
}

int gw_priv_drop(const struct gw_config *cfg, char *err, size_t errlen)
{
    int rc = -1;
    if (!pv.switching)
        return 0;
    if (getuid() == pv.uid && geteuid() == pv.uid && getgid() == pv.gid && getegid() == pv.gid &&
        pv.uid != 0)
        return 0; /* a re-executed image, a bridge, a check: switched already */
    if (geteuid() != 0) {
        snprintf(err, errlen,
                 "cannot switch to --user/--group (uid %u, gid %u): wsgate runs as uid %u, not "
                 "root",
                 (unsigned)pv.uid, (unsigned)pv.gid, (unsigned)geteuid());
        goto done;
    }
    hand_log(cfg->error_log);
    hand_log(cfg->access_log);
    if ((pv.user[0] != '\0' ? initgroups(pv.user, pv.gid) : setgroups(1, &pv.gid)) != 0) {
        snprintf(err, errlen, "cannot set the supplementary groups: %s", strerror(errno));
        goto done;
    }
    if (setresgid(pv.gid, pv.gid, pv.gid) != 0) {
        snprintf(err, errlen, "cannot switch to group %u: %s", (unsigned)pv.gid, strerror(errno));
        goto done;
    }
    if (setresuid(pv.uid, pv.uid, pv.uid) != 0) {
        snprintf(err, errlen, "cannot switch to user %u: %s", (unsigned)pv.uid, strerror(errno));
        goto done;
    }
    if (pv.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 ||
                        (pv.gid != 0 && (setgid(0) == 0 || setegid(0) == 0)))) {
        snprintf(err, errlen, "root could be regained after switching to uid %u: refusing to run",
                 (unsigned)pv.uid);
        goto done;
    }
    gw_log(GW_LOG_INFO, "running as user %s (uid %u), group %u", pv.user[0] ? pv.user : "-",
           (unsigned)pv.uid, (unsigned)pv.gid);
    rc = 0;
done:
    return rc;
}
