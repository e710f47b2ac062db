/* health_probe.c: start-to-ready time of a service, for tests/bench/services.sh.
 *
 *   health_probe [options] --rpc NAME -- PROGRAM [ARG...]
 *   health_probe [options] --http PORT -- PROGRAM [ARG...]
 *   health_probe [options] (--rpc NAME | --http PORT) --wait
 *
 * Forks and execs PROGRAM (it inherits the environment, so it listens on the
 * URL the probe reads), then every 1 ms checks whether it answers:
 *   --rpc NAME   session|retrieval|llm|indexer (or svc-NAME): the Health RPC
 *                answers OK through rpc_call_sync, at the URL in the
 *                service's variable (SESSION_URL, RETRIEVAL_URL, LLM_URL,
 *                INDEXER_URL) with the service's descriptor;
 *   --http PORT  GET /healthz on 127.0.0.1:PORT answers 200.
 * The clock starts just before fork(). The rpc_client is opened only once
 * the port listens (a passive check of /proc/net/tcp every 1 ms; for ipc://
 * once the socket file exists), then Health is called every 1 ms until it
 * answers OK (and ready, unless --answered). Why not dial at once: nng's
 * dialer retries a refused dial only after a back-off (20 ms doubling to
 * 500 ms here), which would quantise the figure; and neither a plain TCP
 * connect() probe nor closing a client whose dial is under way will do:
 * nng 1.5.2's listener stops accepting for 100 ms after a peer hangs up
 * during the SP handshake.
 *
 * Prints one line on stdout:
 *   ready_ms=12.34 answered_ms=12.30 pid=1234 [exit=0 stop_ms=5.1]
 * answered_ms: first OK answer; ready_ms: first answer with ready=true
 * (for --http both are the 200). Then, 20 ms later, it stops PROGRAM with
 * SIGTERM and waits for it (exit= its status, stop_ms= how long it took),
 * unless --keep, which leaves it running (pid= names it).
 *
 * --wait: no exec; wait until the service at its URL (or the gateway on
 * PORT) answers (exit 0) or the timeout passes (exit 1).
 *
 * Options: --timeout MS (default 20000), --log FILE (PROGRAM's stdout and
 * stderr; default inherited), --keep, --answered (do not wait for ready),
 * --verbose (also print when the port listened and the client connected).
 * Exit status: 0 ready in time, 1 not (PROGRAM is killed), 2 usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "indexer.pb-c.h"
#include "llm.pb-c.h"
#include "log.h"
#include "retrieval.pb-c.h"
#include "rpc.pb-c.h"
#include "rpc_client.h"
#include "session.pb-c.h"

static const struct {
    const char *name;
    const char *url_var;
    const char *default_url;
    const ProtobufCServiceDescriptor *desc;
} services[] = {
    {"session", "SESSION_URL", "tcp://127.0.0.1:7101", &chat__session__session__descriptor},
    {"retrieval", "RETRIEVAL_URL", "tcp://127.0.0.1:7102", &chat__retrieval__retrieval__descriptor},
    {"llm", "LLM_URL", "tcp://127.0.0.1:7103", &chat__llm__llm__descriptor},
    {"indexer", "INDEXER_URL", "tcp://127.0.0.1:7104", &chat__indexer__indexer__descriptor},
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Whether a TCP socket listens on `port` (any address), from /proc/net/tcp
 * and tcp6: a passive check, nothing connects. */
static int tcp_listening(int port)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (size_t f = 0; f < 2; f++) {
        FILE *in = fopen(files[f], "r");
        if (in == NULL) {
            continue;
        }
        char line[512];
        int found = 0;
        while (!found && fgets(line, sizeof(line), in) != NULL) {
            /* "  0: 0100007F:5DC0 00000000:0000 0A ..." */
            char local[64], remote[64];
            unsigned st;
            if (sscanf(line, "%*s %63s %63s %x", local, remote, &st) == 3 && st == 0x0A) {
                const char *colon = strrchr(local, ':');
                found = colon != NULL && (int)strtol(colon + 1, NULL, 16) == port;
            }
        }
        fclose(in);
        if (found) {
            return 1;
        }
    }
    return 0;
}

/* GET /healthz on 127.0.0.1:port; 1 when the status is 200. */
static int http_healthz_ok(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        char buf[64];
        ssize_t n = 0;
        if (write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
            size_t got = 0;
            while (got < 12 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
                got += (size_t)n;
            }
            buf[got] = '\0';
            ok = got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
        }
    }
    close(fd);
    return ok;
}

typedef struct probe {
    int svc;       /* index in services, or -1 for http */
    int http_port; /* for --http */
    const char *url;
    int port;             /* of a tcp:// URL, else 0 */
    const char *ipc_path; /* of an ipc:// URL, else NULL */
    rpc_client *c;
    int64_t answered_ns;
    int64_t listen_ns, connected_ns; /* phases, for --verbose */
    int verbose;
} probe;

/* One poll: 2 = answered and ready, 1 = answered OK but not ready, 0 = not
 * answering yet. */
static int probe_once(probe *p, int64_t t0, int need_ready)
{
    if (p->svc < 0) {
        return http_healthz_ok(p->http_port) ? 2 : 0;
    }
    if (p->c == NULL) {
        /* Dial only once something listens: see the comment at the top. */
        if (p->port > 0 ? !tcp_listening(p->port) : p->ipc_path != NULL && access(p->ipc_path, F_OK) != 0) {
            return 0;
        }
        char err[256];
        p->listen_ns = now_ns() - t0;
        rpc_client_opts co = {.secret = getenv("RPC_SECRET")};
        if (rpc_client_open(&p->c, services[p->svc].desc, p->url, &co, err, sizeof(err)) != 0) {
            fprintf(stderr, "health_probe: %s\n", err);
            return 0;
        }
    }
    if (p->connected_ns == 0 && p->verbose) {
        if (!rpc_client_connected(p->c)) {
            return 0;
        }
        p->connected_ns = now_ns() - t0;
    }
    Chat__Rpc__HealthRequest req = CHAT__RPC__HEALTH_REQUEST__INIT;
    rpc_result res;
    rpc_code rc = rpc_call_sync(p->c, "Health", &req.base, 2000, NULL, &res);
    int r = 0;
    if (rc == RPC_OK) {
        if (p->answered_ns == 0) {
            p->answered_ns = now_ns() - t0;
        }
        r = ((Chat__Rpc__HealthReply *)res.reply)->ready || !need_ready ? 2 : 1;
        protobuf_c_message_free_unpacked(res.reply, NULL);
    }
    return r;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: health_probe [--timeout MS] [--log FILE] [--keep] [--answered] [--verbose]\n"
                 "                    (--rpc session|retrieval|llm|indexer | --http PORT) -- PROGRAM [ARG...]\n"
                 "       health_probe [--timeout MS] (--rpc NAME | --http PORT) --wait\n");
}

/* SIGTERM, then SIGKILL after 10 s; returns the wait status, or -1. */
static int stop_child(pid_t pid, double *stop_ms)
{
    int64_t t = now_ns();
    kill(pid, SIGTERM);
    int st = -1;
    for (int i = 0; i < 10000; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            *stop_ms = (double)(now_ns() - t) / 1e6;
            return st;
        }
        if (r < 0) {
            return -1;
        }
        sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    *stop_ms = (double)(now_ns() - t) / 1e6;
    return st;
}

int main(int argc, char **argv)
{
    probe p = {.svc = -1};
    unsigned timeout_ms = 20000;
    const char *logpath = NULL;
    int keep = 0, wait_only = 0, need_ready = 1, i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout_ms = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            logpath = argv[++i];
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else if (strcmp(argv[i], "--wait") == 0) {
            wait_only = 1;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            p.verbose = 1;
        } else if (strcmp(argv[i], "--answered") == 0) {
            need_ready = 0;
        } else if (strcmp(argv[i], "--http") == 0 && i + 1 < argc) {
            p.http_port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--rpc") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            if (strncmp(name, "svc-", 4) == 0) {
                name += 4;
            }
            for (size_t k = 0; k < sizeof(services) / sizeof(services[0]); k++) {
                if (strcmp(name, services[k].name) == 0) {
                    p.svc = (int)k;
                }
            }
            if (p.svc < 0) {
                fprintf(stderr, "health_probe: unknown service %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if ((p.svc < 0 && p.http_port <= 0) || (!wait_only && i >= argc)) {
        usage(stderr);
        return 2;
    }
    log_init("health_probe", LOG_ERROR);
    if (p.svc >= 0) {
        p.url = getenv(services[p.svc].url_var);
        if (p.url == NULL || p.url[0] == '\0') {
            p.url = services[p.svc].default_url;
        }
        const char *colon = strrchr(p.url, ':');
        if (strncmp(p.url, "tcp://", 6) == 0 && colon != NULL) {
            p.port = atoi(colon + 1);
        } else if (strncmp(p.url, "ipc://", 6) == 0) {
            p.ipc_path = p.url + 6;
        }
    }

    int64_t t0 = now_ns();
    pid_t pid = -1;
    if (!wait_only) {
        pid = fork();
        if (pid < 0) {
            perror("health_probe: fork");
            return 1;
        }
        if (pid == 0) {
            if (!keep) {
                /* If the probe dies (its caller was interrupted), so does the
                 * service: nothing is left behind. */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
            }
            if (logpath != NULL) {
                int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
                if (fd >= 0) {
                    dup2(fd, 1);
                    dup2(fd, 2);
                    close(fd);
                }
            }
            execv(argv[i], &argv[i]);
            fprintf(stderr, "health_probe: exec %s: %s\n", argv[i], strerror(errno));
            _exit(127);
        }
    }

    int64_t deadline = t0 + (int64_t)timeout_ms * 1000000;
    int state = 0, died = 0, st = 0;
    while (now_ns() < deadline) {
        state = probe_once(&p, t0, need_ready);
        if (state == 2) {
            break;
        }
        if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid) {
            died = 1;
            break;
        }
        sleep_ms(1);
    }
    int64_t ready_ns = now_ns() - t0;
    if (p.c != NULL) {
        rpc_client_close(p.c);
    }

    if (state != 2) {
        if (died) {
            fprintf(stderr, "health_probe: %s exited before answering (status %d)\n", argv[i],
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        } else {
            fprintf(stderr, "health_probe: %s did not answer%s within %u ms\n",
                    wait_only ? (p.url ? p.url : "the gateway") : argv[i], state == 1 ? " ready" : "", timeout_ms);
            if (pid > 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
            }
        }
        return 1;
    }
    if (p.answered_ns == 0) {
        p.answered_ns = ready_ns;
    }
    printf("ready_ms=%.2f answered_ms=%.2f pid=%ld", (double)ready_ns / 1e6, (double)p.answered_ns / 1e6, (long)pid);
    if (p.verbose) {
        printf(" listening_ms=%.2f connected_ms=%.2f", (double)p.listen_ns / 1e6, (double)p.connected_ns / 1e6);
    }
    if (pid > 0 && !keep) {
        /* 20 ms before SIGTERM so that the worker which sent the Health
         * reply is out of nng_ctx_send: stopping while it is still inside
         * makes rpc_server_stop race with it, and nng 1.5.2 aborts
         * ("panic: pthread_mutex_lock: Invalid argument", exit 134) in a
         * few per cent of stops (a bug of rpc_server.c's stop order,
         * reported; the start-up figure is taken already). */
        sleep_ms(20);
        double stop_ms = 0;
        int ws = stop_child(pid, &stop_ms);
        printf(" exit=%d stop_ms=%.1f", ws < 0 ? -1 : WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws), stop_ms);
    }
    printf("\n");
    return 0;
}
