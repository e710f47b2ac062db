/* conn_guard.c: see conn_guard.h. */
#include "conn_guard.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "ip_count.h"
#include "log.h"

typedef struct cg_conn {
    struct cg_conn *prev, *next;
    MHD_socket fd;
    int64_t since_ms; /* when the current request could start arriving */
    int receiving;    /* 1 until cg_received */
    int cut;          /* shut down (deadline or cap); done once */
    int peer_counted; /* holds one count under peer_key */
    int client_counted;
    unsigned char peer_key[RL_KEY_LEN];
    unsigned char client_key[RL_KEY_LEN];
} cg_conn;

static pthread_mutex_t cg_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cg_cond = PTHREAD_COND_INITIALIZER;
static cg_conn *cg_list;
static ip_count *cg_counts;
static unsigned cg_timeout_ms, cg_per_ip, cg_v6_prefix;
static uint64_t cg_cuts, cg_refusals;
static int cg_running;
static pthread_t cg_thread;

static void *cg_sweep(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cg_mtx);
    while (cg_running) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CG_SWEEP_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&cg_cond, &cg_mtx, &ts);
        int64_t now = clock_mono_ms();
        unsigned cut = 0;
        for (cg_conn *e = cg_list; e != NULL; e = e->next) {
            if (e->receiving && !e->cut && now - e->since_ms > (int64_t)cg_timeout_ms) {
                /* MHD sends NOTIFY_CLOSED (which takes cg_mtx) before it
                 * closes the socket, so fd is still this connection's. */
                shutdown(e->fd, SHUT_RDWR);
                e->cut = 1;
                cut++;
            }
        }
        cg_cuts += cut;
        if (cut > 0) {
            char n[16], ms[16];
            snprintf(n, sizeof(n), "%u", cut);
            snprintf(ms, sizeof(ms), "%u", cg_timeout_ms);
            log_fields(LOG_INFO, "closed connections whose request did not arrive in time", "connections", n,
                       "request_timeout_ms", ms, NULL);
        }
    }
    pthread_mutex_unlock(&cg_mtx);
    return NULL;
}

int cg_init(unsigned timeout_ms, unsigned per_ip_max, unsigned ipv6_prefix, unsigned max_connections, char *err,
            size_t errlen)
{
    cg_timeout_ms = timeout_ms;
    cg_per_ip = per_ip_max;
    cg_v6_prefix = ipv6_prefix;
    cg_counts = ic_new((size_t)max_connections * 2);
    if (cg_counts == NULL) {
        snprintf(err, errlen, "HTTP_MAX_CONNECTIONS: out of memory for the per-IP connection table");
        return -1;
    }
    cg_running = 1;
    if (pthread_create(&cg_thread, NULL, cg_sweep, NULL) != 0) {
        cg_running = 0;
        ic_free(cg_counts);
        cg_counts = NULL;
        snprintf(err, errlen, "cannot start the request-deadline thread");
        return -1;
    }
    return 0;
}

void cg_stop(void)
{
    if (cg_counts == NULL) {
        return;
    }
    pthread_mutex_lock(&cg_mtx);
    cg_running = 0;
    pthread_cond_signal(&cg_cond);
    pthread_mutex_unlock(&cg_mtx);
    pthread_join(cg_thread, NULL);
    ic_free(cg_counts);
    cg_counts = NULL;
}

static cg_conn *cg_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void cg_started(struct MHD_Connection *conn, void **socket_context)
{
    cg_conn *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return; /* unguarded: MHD's own timeout still applies */
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    e->fd = ci != NULL ? ci->connect_fd : MHD_INVALID_SOCKET;
    e->since_ms = clock_mono_ms();
    e->receiving = e->fd != MHD_INVALID_SOCKET;
    ip_addr peer;
    int count_peer = cg_per_ip > 0 && auth_peer(conn, &peer) == 0 && !auth_peer_trusted(conn);
    pthread_mutex_lock(&cg_mtx);
    if (count_peer) {
        rl_client_key(cg_v6_prefix, &peer, e->peer_key);
        e->peer_counted = ic_add(cg_counts, e->peer_key, cg_per_ip) != 0;
        if (!e->peer_counted && e->fd != MHD_INVALID_SOCKET) {
            shutdown(e->fd, SHUT_RDWR);
            e->cut = 1;
            cg_refusals++;
        }
    }
    e->next = cg_list;
    if (cg_list != NULL) {
        cg_list->prev = e;
    }
    cg_list = e;
    pthread_mutex_unlock(&cg_mtx);
    *socket_context = e;
}

static void cg_closed(void **socket_context)
{
    cg_conn *e = *socket_context;
    if (e == NULL) {
        return;
    }
    pthread_mutex_lock(&cg_mtx);
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        cg_list = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    }
    if (e->peer_counted) {
        ic_del(cg_counts, e->peer_key);
    }
    if (e->client_counted) {
        ic_del(cg_counts, e->client_key);
    }
    pthread_mutex_unlock(&cg_mtx);
    free(e);
    *socket_context = NULL;
}

void cg_notify(void *cls, struct MHD_Connection *conn, void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        cg_started(conn, socket_context);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        cg_closed(socket_context);
    }
}

void cg_received(struct MHD_Connection *conn)
{
    cg_conn *e = cg_of(conn);
    if (e != NULL) {
        pthread_mutex_lock(&cg_mtx);
        e->receiving = 0;
        pthread_mutex_unlock(&cg_mtx);
    }
}

int cg_client_enter(struct MHD_Connection *conn, const ip_addr *client)
{
    cg_conn *e = cg_of(conn);
    if (e == NULL || cg_per_ip == 0 || e->peer_counted || !auth_peer_trusted(conn)) {
        return 0;
    }
    int over = 0;
    pthread_mutex_lock(&cg_mtx);
    if (!e->client_counted) {
        rl_client_key(cg_v6_prefix, client, e->client_key);
        e->client_counted = ic_add(cg_counts, e->client_key, cg_per_ip) != 0;
        over = !e->client_counted;
        cg_refusals += (uint64_t)over;
    }
    pthread_mutex_unlock(&cg_mtx);
    return over;
}

void cg_request_done(struct MHD_Connection *conn)
{
    cg_conn *e = cg_of(conn);
    if (e == NULL) {
        return;
    }
    pthread_mutex_lock(&cg_mtx);
    if (e->client_counted) {
        ic_del(cg_counts, e->client_key);
        e->client_counted = 0;
    }
    e->since_ms = clock_mono_ms();
    e->receiving = 1;
    pthread_mutex_unlock(&cg_mtx);
}

uint64_t cg_cut_total(void)
{
    pthread_mutex_lock(&cg_mtx);
    uint64_t n = cg_cuts;
    pthread_mutex_unlock(&cg_mtx);
    return n;
}

uint64_t cg_refused_total(void)
{
    pthread_mutex_lock(&cg_mtx);
    uint64_t n = cg_refusals;
    pthread_mutex_unlock(&cg_mtx);
    return n;
}
