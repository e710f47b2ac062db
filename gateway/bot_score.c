/* bot_score.c: see bot_score.h. */
#include "bot_score.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "respond.h"

static char bs_header[BOT_SCORE_HEADER_MAX]; /* "" = off */
static int bs_min;

int bot_score_init(const cfg *c, char *err, size_t errlen)
{
    const char *h = cfg_str(c, "BOT_SCORE_HEADER");
    bs_min = (int)cfg_int(c, "BOT_SCORE_MIN");
    bs_header[0] = '\0';
    if (h == NULL || h[0] == '\0') {
        return 0;
    }
    size_t n = strlen(h);
    if (n >= sizeof(bs_header)) {
        snprintf(err, errlen, "BOT_SCORE_HEADER: longer than %d characters", BOT_SCORE_HEADER_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (!isalnum(ch) && ch != '-' && ch != '_') {
            snprintf(err, errlen, "BOT_SCORE_HEADER: \"%s\" is not a header name (letters, digits, '-', '_')", h);
            return -1;
        }
    }
    memcpy(bs_header, h, n + 1);
    return 0;
}

int bot_score_parse(const char *s)
{
    if (s == NULL) {
        return -1;
    }
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    int v = 0, digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > 2) {
            return -1;
        }
        v = v * 10 + (*s - '0');
        s++;
    }
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (digits == 0 || *s != '\0' || v < 1 || v > 99) {
        return -1;
    }
    return v;
}

int bot_score_refuse(struct MHD_Connection *conn, const char *origin, metric_route mr, enum MHD_Result *ret)
{
    if (bs_header[0] == '\0') {
        return 0;
    }
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, bs_header);
    if (v == NULL || !auth_peer_trusted(conn)) {
        return 0; /* from an untrusted peer the header is anyone's word */
    }
    int score = bot_score_parse(v);
    if (score < 0) {
        log_debug("bot score: %s is not 1..99; ignored", bs_header);
        return 0;
    }
    if (score >= bs_min) {
        return 0;
    }
    ip_addr client;
    char iph[AUTH_IP_HASH_LEN + 1], sc[16];
    auth_client_ip(conn, &client);
    auth_client_hash(&client, iph);
    snprintf(sc, sizeof(sc), "%d", score);
    log_fields(LOG_INFO, "bot suspected", "ip_hash", iph, "score", sc, NULL);
    metrics_request(mr, 403);
    *ret = gw_send_error(conn, MHD_HTTP_FORBIDDEN, "bot_suspected",
                         "This request looks automated, so the chat cannot start. If you are a person, please leave "
                         "us a message with the contact form and we will get back to you.",
                         origin);
    return 1;
}
