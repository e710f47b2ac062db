/* sse.h: Server-Sent Events responses that read a turn's event log.
 *
 * A reader is one HTTP connection attached to a turn. Its content callback
 * runs on the HTTP thread: it copies what the log has, or, when it has
 * everything, suspends its connection ("parks"); the turn resumes it on the
 * next event. A heartbeat thread resumes parked readers every
 * HEARTBEAT_INTERVAL so they write ": ping" (which also reveals clients
 * that went away: MHD does not notice while a connection is suspended).
 * Owns: each reader and its turn reference, from sse_respond until MHD
 * ends the response (sse_free). */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <microhttpd.h>
#include <stdint.h>

#include "turn.h"

typedef struct sse_reader sse_reader;
struct sse_reader {
    turn_reader tr; /* first: the turn's view of this reader (park state, wake) */
    turn *t;
    struct MHD_Connection *conn;
    size_t off;                      /* next log byte to send */
    sse_reader *prev_all, *next_all; /* the global list (guarded by sse's lock) */
};

int sse_init(int64_t heartbeat_ms);
void sse_shutdown(void);

/* Queues an SSE response on conn reading turn t from byte offset off. */
enum MHD_Result sse_respond(struct MHD_Connection *conn, turn *t, size_t off, const char *origin);

/* Resumes a parked reader's connection (any thread). */
void sse_wake(sse_reader *r);

#endif
