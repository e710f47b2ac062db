/* jobs.h: indexing runs in service mode. One runner thread (with its own
 * database connection and embedder) runs one job at a time: a job asked for
 * by the Index RPC, or the periodic run of INDEX_SOURCES every
 * INDEX_INTERVAL. Status reads the latest job. Thread-safe. */
#ifndef IDX_JOBS_H
#define IDX_JOBS_H

#include <stdint.h>

#include "config.h"
#include "pipeline.h"

#define JOBS_SOURCES_MAX 64
#define JOBS_SOURCE_LEN_MAX 2048
#define JOBS_HISTORY 8 /* earlier jobs whose status is kept (counts only) */

typedef struct jobs jobs;

typedef enum { JOB_IDLE = 0, JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED } job_state;

typedef struct job_status {
    uint64_t id;
    job_state state;
    int64_t started_at_ms, finished_at_ms;
    idx_stats stats;
    char message[256];
} job_status;

int jobs_start(jobs **out, const cfg *c, char *err, size_t errlen);
void jobs_stop(jobs *j);

/* Queues a run; returns its id, 0 when one is already queued or running
 * (*busy_id says which), or -1 on bad input (err says why). n == 0 means
 * INDEX_SOURCES. */
int64_t jobs_submit(jobs *j, const char *const *sources, size_t n, int force, int prune, uint64_t *busy_id, char *err,
                    size_t errlen);

/* The job with this id (0 = the latest; the JOBS_HISTORY before it are kept
 * with their counts, the per-page errors only for the latest). Returns 0,
 * or -1 if unknown. */
int jobs_status(jobs *j, uint64_t id, job_status *out);

const char *job_state_name(job_state s);

#endif
