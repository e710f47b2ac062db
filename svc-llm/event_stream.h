/* event_stream.h: an incremental parser of Server-Sent Events (the
 * text/event-stream format, as the WHATWG spec defines it), for the
 * streamed answers of model providers (svc-llm).
 *
 * Bytes are fed as they arrive, cut anywhere (inside a line, between the CR
 * and LF of a CRLF, inside a UTF-8 sequence); the parser calls back once per
 * complete event. Lines end with LF, CRLF or CR; a line starting with ':'
 * is a comment; "field: value" loses one space after the colon; several
 * data lines join with "\n"; an event without data is not dispatched; a
 * leading UTF-8 BOM is skipped; an unfinished event at the end of the
 * stream is dropped. Fields other than event and data (id, retry) are
 * ignored.
 *
 * Caps: a line longer than max_line, an event's data larger than max_event
 * or a stream longer than max_total stops the parser with an error; after
 * any error every further feed returns the same error.
 *
 * Not thread-safe: one parser belongs to one stream. */
#ifndef LLM_EVENT_STREAM_H
#define LLM_EVENT_STREAM_H

#include <stddef.h>

#include "dynbuf.h"

#define EVS_NAME_MAX 64 /* event names are cut to this (they are short) */

enum {
    EVS_OK = 0,
    EVS_ELINE = -1,  /* a line over max_line */
    EVS_EEVENT = -2, /* an event's data over max_event */
    EVS_ETOTAL = -3, /* the stream over max_total */
    EVS_ENOMEM = -4,
};

/* Called per event: name is "message" when the event had no name; data is
 * NUL-terminated. A non-zero return stops the parser and is returned by
 * evs_feed (use positive values). */
typedef int (*evs_event_fn)(void *arg, const char *name, const char *data, size_t data_len);

typedef struct evs_parser {
    evs_event_fn on_event;
    void *arg;
    size_t max_total, total;
    dynbuf line;
    dynbuf data;
    char name[EVS_NAME_MAX];
    int after_cr;  /* the last byte seen was a CR: a following LF ends nothing */
    int bom_state; /* bytes of a leading BOM matched so far; -1 when past it */
    int error;     /* sticky */
} evs_parser;

void evs_init(evs_parser *p, size_t max_line, size_t max_event, size_t max_total, evs_event_fn fn, void *arg);
/* Parses buf[0..len). Returns EVS_OK, an EVS_E* error, or the callback's
 * non-zero value. */
int evs_feed(evs_parser *p, const char *buf, size_t len);
void evs_free(evs_parser *p);

#endif
