/* jobs.c: see jobs.h. */
#include "jobs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "embed.h"
#include "log.h"

struct jobs {
    pthread_t thread;
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    int stopping;
    volatile int stop_run;
    /* configuration */
    char db_url[DB_URL_MAX];
    char base_url[JOBS_SOURCE_LEN_MAX];
    int pretty_urls;
    char default_sources[JOBS_SOURCES_MAX][JOBS_SOURCE_LEN_MAX];
    size_t ndefault;
    int64_t interval_ms;
    unsigned fetch_concurrency;
    embed_opts eo;
    char provider[16], model[128], key[512], api_base[JOBS_SOURCE_LEN_MAX];
    /* the queued or latest job, and a few before it (without their
     * per-page errors, which only the latest keeps) */
    uint64_t next_id;
    job_status cur;
    job_status *hist[JOBS_HISTORY];
    size_t nhist;
    char sources[JOBS_SOURCES_MAX][JOBS_SOURCE_LEN_MAX];
    size_t nsources;
    int force, prune;
};

const char *job_state_name(job_state s)
{
    switch (s) {
    case JOB_IDLE:
        return "idle";
    case JOB_QUEUED:
        return "queued";
    case JOB_RUNNING:
        return "running";
    case JOB_DONE:
        return "done";
    case JOB_FAILED:
        return "failed";
    }
    return "unknown";
}

static int jobs_split_sources(jobs *j, const char *list)
{
    j->ndefault = 0;
    if (list == NULL) {
        return 0;
    }
    const char *p = list;
    while (*p && j->ndefault < JOBS_SOURCES_MAX) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, " ,");
        if (n == 0) {
            break;
        }
        if (n >= JOBS_SOURCE_LEN_MAX) {
            return -1;
        }
        memcpy(j->default_sources[j->ndefault], p, n);
        j->default_sources[j->ndefault][n] = '\0';
        j->ndefault++;
        p += n;
    }
    return 0;
}

/* Keeps a summary of the current job before it is replaced (j->mtx held). */
static void jobs_archive_locked(jobs *j)
{
    if (j->cur.id == 0) {
        return;
    }
    job_status *h = j->nhist == JOBS_HISTORY ? j->hist[JOBS_HISTORY - 1] : malloc(sizeof(*h));
    if (h == NULL) {
        return;
    }
    if (j->nhist < JOBS_HISTORY) {
        j->nhist++;
    }
    memmove(&j->hist[1], &j->hist[0], (j->nhist - 1) * sizeof(j->hist[0]));
    h->id = j->cur.id;
    h->state = j->cur.state;
    h->started_at_ms = j->cur.started_at_ms;
    h->finished_at_ms = j->cur.finished_at_ms;
    memcpy(h->message, j->cur.message, sizeof(h->message));
    h->stats = j->cur.stats; /* counts; the error list is dropped below */
    h->stats.nerrors = 0;
    j->hist[0] = h;
}

static void jobs_run_one(jobs *j, db_conn *db, embedder *emb)
{
    const char *srcs[JOBS_SOURCES_MAX];
    pthread_mutex_lock(&j->mtx);
    size_t n = j->nsources;
    for (size_t i = 0; i < n; i++) {
        srcs[i] = j->sources[i];
    }
    j->cur.state = JOB_RUNNING;
    j->cur.started_at_ms = clock_wall_ms();
    uint64_t id = j->cur.id;
    int force = j->force, prune = j->prune;
    pthread_mutex_unlock(&j->mtx);

    log_info("index job %llu started (%zu sources)", (unsigned long long)id, n);
    idx_stats *st = calloc(1, sizeof(*st));
    char err[512] = "";
    int rc = -1;
    PGconn *pg = db_ready(db);
    if (st == NULL) {
        snprintf(err, sizeof(err), "out of memory");
    } else if (pg == NULL) {
        snprintf(err, sizeof(err), "database not reachable: %s", db->error);
    } else {
        idx_opts o = {.pg = pg,
                      .emb = emb,
                      .base_url = j->base_url[0] ? j->base_url : NULL,
                      .force = force,
                      .pretty_urls = j->pretty_urls,
                      .fetch_concurrency = j->fetch_concurrency,
                      .prune = prune,
                      .stop = &j->stop_run};
        rc = idx_run(srcs, n, &o, st, err, sizeof(err));
    }
    pthread_mutex_lock(&j->mtx);
    if (st != NULL) {
        j->cur.stats = *st;
    }
    j->cur.finished_at_ms = clock_wall_ms();
    j->cur.state = rc == 0 ? JOB_DONE : JOB_FAILED;
    snprintf(j->cur.message, sizeof(j->cur.message), "%.250s", rc == 0 ? "" : err);
    pthread_mutex_unlock(&j->mtx);
    if (rc == 0) {
        log_info("index job %llu done: %u seen, %u added, %u changed, %u removed, %u failed, %u skipped, "
                 "%u chunks embedded in %.2f s",
                 (unsigned long long)id, st->seen, st->added, st->changed, st->removed, st->failed, st->skipped,
                 st->chunks_embedded, st->seconds);
    } else {
        log_error("index job %llu failed: %s", (unsigned long long)id, err);
    }
    free(st);
}

static void *jobs_main(void *arg)
{
    jobs *j = arg;
    db_conn *db = NULL;
    db_open(&db, j->db_url, "svc-indexer/jobs");
    embedder *emb = NULL;
    char err[256];
    if (embedder_open(&emb, &j->eo, err, sizeof(err)) != 0) {
        log_error("embedder: %s", err);
    }
    int64_t next_tick = j->interval_ms > 0 ? clock_mono_ms() + j->interval_ms : 0;
    pthread_mutex_lock(&j->mtx);
    while (!j->stopping) {
        if (j->cur.state == JOB_QUEUED) {
            pthread_mutex_unlock(&j->mtx);
            if (emb != NULL && db != NULL) {
                jobs_run_one(j, db, emb);
            } else {
                pthread_mutex_lock(&j->mtx);
                j->cur.state = JOB_FAILED;
                snprintf(j->cur.message, sizeof(j->cur.message), "indexer not set up: %.200s", err);
                pthread_mutex_unlock(&j->mtx);
            }
            pthread_mutex_lock(&j->mtx);
            continue;
        }
        if (next_tick > 0 && clock_mono_ms() >= next_tick) {
            next_tick = clock_mono_ms() + j->interval_ms;
            if (j->ndefault > 0) {
                jobs_archive_locked(j);
                j->cur.id = ++j->next_id;
                j->cur.state = JOB_QUEUED;
                memset(&j->cur.stats, 0, sizeof(j->cur.stats));
                for (size_t i = 0; i < j->ndefault; i++) {
                    memcpy(j->sources[i], j->default_sources[i], JOBS_SOURCE_LEN_MAX);
                }
                j->nsources = j->ndefault;
                j->force = 0;
                j->prune = 1;
                continue;
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&j->cv, &j->mtx, &until);
    }
    pthread_mutex_unlock(&j->mtx);
    embedder_close(emb);
    db_close(db);
    return NULL;
}

int jobs_start(jobs **out, const cfg *c, char *err, size_t errlen)
{
    jobs *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&j->mtx, NULL);
    pthread_cond_init(&j->cv, NULL);
    snprintf(j->db_url, sizeof(j->db_url), "%s", cfg_str(c, "DATABASE_URL"));
    snprintf(j->base_url, sizeof(j->base_url), "%s", cfg_str(c, "KB_BASE_URL") ? cfg_str(c, "KB_BASE_URL") : "");
    j->pretty_urls = strcmp(cfg_str(c, "KB_URL_STYLE"), "pretty") == 0;
    if (jobs_split_sources(j, cfg_str(c, "INDEX_SOURCES")) != 0) {
        snprintf(err, errlen, "INDEX_SOURCES: a source is longer than %d bytes", JOBS_SOURCE_LEN_MAX - 1);
        free(j);
        return -1;
    }
    j->interval_ms = cfg_int(c, "INDEX_INTERVAL");
    j->fetch_concurrency = (unsigned)cfg_int(c, "FETCH_CONCURRENCY");
    snprintf(j->provider, sizeof(j->provider), "%s", cfg_str(c, "EMBEDDING_PROVIDER"));
    snprintf(j->model, sizeof(j->model), "%s", cfg_str(c, "EMBEDDING_MODEL") ? cfg_str(c, "EMBEDDING_MODEL") : "");
    snprintf(j->key, sizeof(j->key), "%s", cfg_str(c, "OPENAI_API_KEY") ? cfg_str(c, "OPENAI_API_KEY") : "");
    snprintf(j->api_base, sizeof(j->api_base), "%s", cfg_str(c, "OPENAI_BASE_URL"));
    j->eo = (embed_opts){.provider = j->provider,
                         .model = j->model[0] ? j->model : NULL,
                         .dimensions = (unsigned)cfg_int(c, "EMBEDDING_DIMENSIONS"),
                         .api_key = j->key,
                         .base_url = j->api_base};
    /* Check the embedder configuration now, so a bad one stops the start. */
    embedder *probe = NULL;
    if (embedder_open(&probe, &j->eo, err, errlen) != 0) {
        free(j);
        return -1;
    }
    embedder_close(probe);
    if (pthread_create(&j->thread, NULL, jobs_main, j) != 0) {
        snprintf(err, errlen, "cannot start the job thread");
        free(j);
        return -1;
    }
    *out = j;
    return 0;
}

void jobs_stop(jobs *j)
{
    if (j == NULL) {
        return;
    }
    pthread_mutex_lock(&j->mtx);
    j->stopping = 1;
    j->stop_run = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mtx);
    pthread_join(j->thread, NULL);
    for (size_t i = 0; i < j->nhist; i++) {
        free(j->hist[i]);
    }
    pthread_mutex_destroy(&j->mtx);
    pthread_cond_destroy(&j->cv);
    free(j);
}

int64_t jobs_submit(jobs *j, const char *const *sources, size_t n, int force, int prune, uint64_t *busy_id, char *err,
                    size_t errlen)
{
    if (n > JOBS_SOURCES_MAX) {
        snprintf(err, errlen, "at most %d sources per run", JOBS_SOURCES_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (sources[i] == NULL || sources[i][0] == '\0' || strlen(sources[i]) >= JOBS_SOURCE_LEN_MAX) {
            snprintf(err, errlen, "source %zu is empty or longer than %d bytes", i + 1, JOBS_SOURCE_LEN_MAX - 1);
            return -1;
        }
    }
    pthread_mutex_lock(&j->mtx);
    if (n == 0 && j->ndefault == 0) {
        pthread_mutex_unlock(&j->mtx);
        snprintf(err, errlen, "no sources given and INDEX_SOURCES is not set");
        return -1;
    }
    if (j->cur.state == JOB_QUEUED || j->cur.state == JOB_RUNNING) {
        *busy_id = j->cur.id;
        pthread_mutex_unlock(&j->mtx);
        return 0;
    }
    jobs_archive_locked(j);
    memset(&j->cur, 0, sizeof(j->cur));
    j->cur.id = ++j->next_id;
    j->cur.state = JOB_QUEUED;
    if (n == 0) {
        for (size_t i = 0; i < j->ndefault; i++) {
            memcpy(j->sources[i], j->default_sources[i], JOBS_SOURCE_LEN_MAX);
        }
        j->nsources = j->ndefault;
    } else {
        for (size_t i = 0; i < n; i++) {
            snprintf(j->sources[i], JOBS_SOURCE_LEN_MAX, "%s", sources[i]);
        }
        j->nsources = n;
    }
    j->force = force;
    j->prune = prune;
    int64_t id = (int64_t)j->cur.id;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mtx);
    return id;
}

int jobs_status(jobs *j, uint64_t id, job_status *out)
{
    pthread_mutex_lock(&j->mtx);
    int rc = -1;
    if (id == 0 || id == j->cur.id) {
        *out = j->cur;
        rc = 0;
    } else {
        for (size_t i = 0; i < j->nhist; i++) {
            if (j->hist[i]->id == id) {
                out->id = j->hist[i]->id;
                out->state = j->hist[i]->state;
                out->started_at_ms = j->hist[i]->started_at_ms;
                out->finished_at_ms = j->hist[i]->finished_at_ms;
                memcpy(out->message, j->hist[i]->message, sizeof(out->message));
                out->stats = j->hist[i]->stats;
                out->stats.nerrors = 0;
                rc = 0;
                break;
            }
        }
    }
    pthread_mutex_unlock(&j->mtx);
    return rc;
}
