/* event_stream.c: see event_stream.h. */
#include "event_stream.h"

#include <string.h>

static const unsigned char evs_bom[3] = {0xEF, 0xBB, 0xBF};

void evs_init(evs_parser *p, size_t max_line, size_t max_event, size_t max_total, evs_event_fn fn, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->on_event = fn;
    p->arg = arg;
    p->max_total = max_total;
    dyn_init(&p->line, max_line);
    dyn_init(&p->data, max_event);
}

void evs_free(evs_parser *p)
{
    dyn_free(&p->line);
    dyn_free(&p->data);
}

static int evs_dispatch(evs_parser *p)
{
    int rv = 0;
    if (p->data.len > 0) {
        /* Every data line added a "\n"; the last one is not part of it. */
        p->data.len--;
        p->data.data[p->data.len] = '\0';
        rv = p->on_event(p->arg, p->name[0] ? p->name : "message", p->data.data, p->data.len);
    }
    dyn_reset(&p->data);
    p->name[0] = '\0';
    return rv;
}

/* One complete line (without its terminator). */
static int evs_line(evs_parser *p, const char *s, size_t n)
{
    if (n == 0) {
        return evs_dispatch(p);
    }
    if (s[0] == ':') {
        return 0; /* comment */
    }
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (flen == 5 && memcmp(s, "event", 5) == 0) {
        size_t k = vlen < EVS_NAME_MAX - 1 ? vlen : EVS_NAME_MAX - 1;
        memcpy(p->name, v, k);
        p->name[k] = '\0';
    } else if (flen == 4 && memcmp(s, "data", 4) == 0) {
        if (dyn_add(&p->data, v, vlen) != 0 || dyn_addc(&p->data, '\n') != 0) {
            return p->data.full ? EVS_EEVENT : EVS_ENOMEM;
        }
    }
    return 0;
}

int evs_feed(evs_parser *p, const char *buf, size_t len)
{
    if (p->error) {
        return p->error;
    }
    if (len > p->max_total - p->total) {
        p->error = EVS_ETOTAL;
        return p->error;
    }
    p->total += len;

    /* A BOM may itself arrive split across feeds. */
    while (p->bom_state >= 0 && len > 0) {
        if ((unsigned char)buf[0] != evs_bom[p->bom_state]) {
            if (p->bom_state > 0) {
                /* Not a BOM after all: those bytes were text. */
                if (dyn_add(&p->line, evs_bom, (size_t)p->bom_state) != 0) {
                    p->error = p->line.full ? EVS_ELINE : EVS_ENOMEM;
                    return p->error;
                }
            }
            p->bom_state = -1;
            break;
        }
        buf++;
        len--;
        if (++p->bom_state == 3) {
            p->bom_state = -1;
        }
    }

    size_t i = 0;
    while (i < len) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        /* The next terminator in this chunk, if any. */
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r') {
            j++;
        }
        if (j == len) {
            if (dyn_add(&p->line, buf + i, len - i) != 0) {
                p->error = p->line.full ? EVS_ELINE : EVS_ENOMEM;
                return p->error;
            }
            break;
        }
        int rv;
        if (p->line.len > 0) {
            if (dyn_add(&p->line, buf + i, j - i) != 0) {
                p->error = p->line.full ? EVS_ELINE : EVS_ENOMEM;
                return p->error;
            }
            rv = evs_line(p, p->line.data, p->line.len);
            dyn_reset(&p->line);
        } else {
            if (j - i > p->line.toobig) {
                p->error = EVS_ELINE;
                return p->error;
            }
            rv = evs_line(p, buf + i, j - i);
        }
        if (rv != 0) {
            p->error = rv;
            return rv;
        }
        p->after_cr = buf[j] == '\r';
        i = j + 1;
    }
    return 0;
}
