/* sess_uuid6.h: UUID version 6 (RFC 9562) checkpoint ids.
 *
 * LangGraph orders a thread's checkpoints by their id (ORDER BY
 * checkpoint_id DESC LIMIT 1 is "the latest"), so ids must increase with
 * time as text. Version 6 puts the 60-bit Gregorian timestamp (100 ns ticks
 * since 1582-10-15) first, most significant bits first, then a random
 * 14-bit clock sequence and a random 48-bit node.
 *
 * sess_uuid6_next is thread-safe: a process-wide last timestamp (under a
 * mutex) makes ids strictly increasing even when the clock stands still or
 * steps back, and a floor (the parent checkpoint's id) keeps a child after
 * its parent even when another replica's clock ran ahead. */
#ifndef SESS_UUID6_H
#define SESS_UUID6_H

#include <stdint.h>

#define SESS_UUID_LEN 36
/* 100 ns ticks between 1582-10-15 and 1970-01-01. */
#define SESS_UUID6_UNIX_OFFSET 0x01B21DD213814000ULL

/* Formats the fields as "xxxxxxxx-xxxx-6xxx-yxxx-xxxxxxxxxxxx" (lower-case
 * hex, RFC 4122 variant). ts uses 60 bits, clock_seq 14, node 48. */
void sess_uuid6_format(uint64_t ts, uint16_t clock_seq, uint64_t node, char out[SESS_UUID_LEN + 1]);

/* Parses a version-6 UUID string; 0 and its timestamp in *ts, or -1. */
int sess_uuid6_parse(const char *s, uint64_t *ts);

/* The current time in UUID ticks. */
uint64_t sess_uuid6_now(void);

/* A new id, later than every id this process made before and than floor
 * (a UUIDv6 string; NULL or "" for none). *ts_out (may be NULL) receives
 * its timestamp. Returns 0, or -1 when no randomness was available. */
int sess_uuid6_next(const char *floor, char out[SESS_UUID_LEN + 1], uint64_t *ts_out);

/* ISO 8601 UTC with microseconds, "2024-05-04T06:32:42.235444+00:00", of
 * a UUID timestamp (buf >= 33 bytes). */
void sess_uuid6_iso8601(uint64_t ts, char *buf, unsigned long len);

#endif
