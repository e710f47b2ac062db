/* shutdown.c: see shutdown.h. */
#include "shutdown.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static sigset_t shutdown_set(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

void shutdown_block(void)
{
    sigset_t set = shutdown_set();
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int shutdown_wait(void)
{
    sigset_t set = shutdown_set();
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    return sig;
}

int shutdown_wait_for(int timeout_ms)
{
    sigset_t set = shutdown_set();
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0) {
            return sig;
        }
        if (errno == EAGAIN) {
            return 0;
        }
    }
}

void shutdown_request(void)
{
    kill(getpid(), SIGTERM);
}
