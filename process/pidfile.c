/*
 * The pid file. Written through a temporary file and rename(2) so a reader never sees
 * it half-written; removed at exit only by the process it names (another process may
 * have taken it over).
 */
#include "process/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/log.h"

int gw_pidfile_write(const char *path)
{
    char tmp[4096], text[32];
    if (path == NULL)
        return 0;
    /* Already ours: written before the privileges were dropped (by root, in a
     * directory this user may not write to), or by this pid's image before a reload. */
    int rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
        ssize_t n = read(rfd, text, sizeof(text) - 1);
        close(rfd);
        if (n > 0) {
            text[n] = '\0';
            if (atol(text) == (long)getpid())
                return 0;
        }
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= sizeof(tmp)) {
        gw_log(GW_LOG_ERROR, "--pid-file %s: path too long", path);
        return -1;
    }
    int len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        gw_log(GW_LOG_ERROR, "cannot write the pid file %s: %s", path, strerror(errno));
        return -1;
    }
    int ok = write(fd, text, (size_t)len) == len;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        gw_log(GW_LOG_ERROR, "cannot write the pid file %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

void gw_pidfile_remove(const char *path)
{
    char text[32];
    if (path == NULL)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n > 0) {
        text[n] = '\0';
        if (atol(text) == (long)getpid())
            unlink(path);
    }
}
