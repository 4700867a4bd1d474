/*
 * Readiness and state reports to the service manager (sd_notify(3) without
 * libsystemd): one datagram per report to the unix socket named by $NOTIFY_SOCKET
 * (a path, or an abstract address when it starts with '@'). Everything is a no-op
 * when NOTIFY_SOCKET is unset.
 *
 * NOTIFY_SOCKET stays in the environment (systemd's convention for a main process;
 * with NotifyAccess=main, the default, messages from other processes are ignored).
 * Only the process that called gw_sd_notify_init reports: in a child forked after
 * it (a prefork worker) gw_sd_notify does nothing, so the master alone speaks for
 * the service.
 */
#ifndef GW_SD_NOTIFY_H
#define GW_SD_NOTIFY_H

/*
 * Start-up, main thread, before other threads: reads NOTIFY_SOCKET, resolves the
 * address and opens the (close-on-exec) datagram socket once. An unusable value is
 * logged as a warning and reporting stays off; never fails the start.
 */
void gw_sd_notify_init(void);

/*
 * Sends state, e.g. "READY=1", "STOPPING=1" or several "KEY=VALUE" lines joined by
 * '\n', as one datagram. Never blocks (MSG_DONTWAIT); a failure is logged at debug
 * level. Any thread, after gw_sd_notify_init.
 */
void gw_sd_notify(const char *state);

/* printf-style gw_sd_notify; longer than 1 KiB is cut. */
void gw_sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "RELOADING=1" with the MONOTONIC_USEC= that Type=notify-reload requires; send
 * "READY=1" again when the reload is complete. */
void gw_sd_notify_reloading(void);

/* 1 when reports go somewhere (NOTIFY_SOCKET set and usable, this process). */
int gw_sd_notify_enabled(void);

#endif
