/*
 * watchdog.h - a bound on every test of a Criterion suite that says where it
 * stopped (header-only; include it in one test file).
 *
 *   TestSuite(rpc, .init = wd_suite_init, .timeout = WD_SUITE_TIMEOUT);
 *   wd_step("waiting for the reply to Generate");
 *
 * wd_suite_init() runs in the forked child before each test and arms a
 * timer WD_SECONDS (default 20 s; env UNIT_WATCHDOG_SECONDS) long, shorter
 * than the suite's Criterion timeout. When it fires it prints, on stderr,
 * the test's name and its last wd_step(), then aborts, so a hang becomes a
 * failure that names the test and what it was waiting for instead of a bare
 * "Timed out". (No debugger is started from inside: a tracer that stalls
 * would leave the test stopped past every timeout. For stacks, run the test
 * alone and attach gdb from outside.)
 *
 * Threads: the timer fires on a thread of its own (SIGEV_THREAD); wd_step
 * may be called from any thread (it stores a pointer to a string that must
 * outlive the test: use literals).
 */
#ifndef CHAT_TESTS_WATCHDOG_H
#define CHAT_TESTS_WATCHDOG_H

#include <criterion/criterion.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WD_SECONDS 20
#define WD_SUITE_TIMEOUT 30

static const char *_Atomic wd_last_step = "test body";

static inline void wd_step(const char *what)
{
    atomic_store(&wd_last_step, what);
}

static void wd_fire(union sigval sv)
{
    (void)sv;
    const struct criterion_test *t = criterion_current_test;
    fprintf(stderr, "WATCHDOG: %s::%s still running after its bound; last step: %s\n",
            t != NULL && t->category != NULL ? t->category : "?", t != NULL && t->name != NULL ? t->name : "?",
            atomic_load(&wd_last_step));
    fflush(stderr);
    abort();
}

static inline void wd_suite_init(void)
{
    int secs = WD_SECONDS;
    const char *env = getenv("UNIT_WATCHDOG_SECONDS");
    if (env != NULL && atoi(env) > 0) {
        secs = atoi(env);
    }
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = wd_fire;
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
        return; /* the Criterion timeout still bounds the test */
    }
    struct itimerspec its = {.it_value = {.tv_sec = secs}};
    timer_settime(timer, 0, &its, NULL);
}

#endif
