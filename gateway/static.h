/* static.h: the widget and the demo page, served from memory.
 *
 * At start the files of WIDGET_DIR are read once: chat.js (also kept
 * gzip-compressed) and demo.html. chat.js is served at /widget/chat.js
 * (ETag, revalidated after 5 minutes) and at /widget/chat.<hash>.js
 * (immutable, cached for a year: the name changes when the content does);
 * the demo page, at /demo, refers to the versioned name. Read-only after
 * static_init: any thread. Owns: the files' contents, until static_free. */
#ifndef GW_STATIC_H
#define GW_STATIC_H

#include <microhttpd.h>

#define STATIC_FILE_MAX (2u << 20)

/* Loads the files; a missing folder is not an error (the routes answer
 * 404 with a hint). */
int static_init(const char *dir, char *err, size_t errlen);
void static_free(void);

/* Answers GET url if it is a static route; returns MHD_YES/MHD_NO when it
 * answered, or -1 when url is not static. */
int static_serve(struct MHD_Connection *conn, const char *url);

#endif
