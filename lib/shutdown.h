/* shutdown.h: signal handling for a clean stop.
 *
 * shutdown_block() must be called in main before any thread starts: it
 * blocks SIGINT, SIGTERM and SIGHUP in every thread (threads inherit the
 * mask) and ignores SIGPIPE. shutdown_wait() then waits, on the calling
 * thread, for one of them and returns its number. shutdown_request() makes
 * a waiting shutdown_wait() return (tests, fatal errors). */
#ifndef CHAT_SHUTDOWN_H
#define CHAT_SHUTDOWN_H

void shutdown_block(void);
int shutdown_wait(void);
/* Like shutdown_wait, but gives up after timeout_ms; returns 0 on timeout. */
int shutdown_wait_for(int timeout_ms);
void shutdown_request(void);

#endif
