/* sess_mail.c: see sess_mail.h. */
#include "sess_mail.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dynbuf.h"

#define MAIL_B64_LINE 57 /* input bytes per 76-character base64 line */
#define MAIL_SUBJECT_MAX 200
#define MAIL_MESSAGE_MAX (2u << 20) /* the transcript is at most 60 messages */

/* Appends s cut at the first CR or LF (a header value). */
static void mail_header_value(dynbuf *b, const char *s)
{
    dyn_add(b, s, strcspn(s, "\r\n"));
}

static const char *mail_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* "Subject: ..." as an encoded word when not plain ASCII. */
static void mail_subject(dynbuf *b, const char *subject)
{
    size_t n = strcspn(subject, "\r\n");
    int ascii = 1;
    for (size_t i = 0; i < n; i++) {
        ascii &= (unsigned char)subject[i] < 0x80;
    }
    dyn_adds(b, "Subject: ");
    if (ascii) {
        dyn_add(b, subject, n);
    } else {
        unsigned char enc[4 * MAIL_SUBJECT_MAX / 3 + 8];
        int len =
            EVP_EncodeBlock(enc, (const unsigned char *)subject, (int)(n < MAIL_SUBJECT_MAX ? n : MAIL_SUBJECT_MAX));
        dyn_adds(b, "=?UTF-8?B?");
        dyn_add(b, (const char *)enc, (size_t)len);
        dyn_adds(b, "?=");
    }
    dyn_adds(b, "\r\n");
}

static void mail_line(dynbuf *b, const char *label, const char *value)
{
    if (value != NULL && value[0] != '\0') {
        dyn_printf(b, "%s: %s\n", label, value);
    }
}

/* The text part: summary, then the transcript. */
static void mail_text(dynbuf *t, const json_t *p)
{
    const json_t *lead = json_object_get(p, "lead");
    dyn_printf(t, "A visitor asked to be contacted (%s: %s).\n\n", mail_str(p, "reason_kind"), mail_str(p, "reason"));
    mail_line(t, "Name", mail_str(lead, "name"));
    mail_line(t, "Email", mail_str(lead, "email"));
    mail_line(t, "Phone", mail_str(lead, "phone"));
    mail_line(t, "Company", mail_str(lead, "company"));
    mail_line(t, "Need", mail_str(lead, "need"));
    mail_line(t, "Urgency", mail_str(p, "urgency"));
    dyn_printf(t, "Consent to be contacted: %s\n", json_is_true(json_object_get(lead, "consent")) ? "yes" : "no");
    dyn_printf(t, "Came in business hours: %s\n",
               json_is_true(json_object_get(p, "within_business_hours")) ? "yes" : "no");
    mail_line(t, "Visitor was told", mail_str(p, "promised_response"));
    dyn_printf(t, "Hand-off: %lld (%s), received %s\n", (long long)json_integer_value(json_object_get(p, "handoff_id")),
               mail_str(p, "source"), mail_str(p, "created_at"));
    const json_t *tr = json_object_get(p, "transcript");
    if (json_array_size(tr) > 0) {
        dyn_adds(t, "\nTranscript:\n");
        size_t i;
        const json_t *m;
        json_array_foreach(tr, i, m)
        {
            dyn_printf(t, "\n[%s] %s:\n%s\n", mail_str(m, "at"),
                       strcmp(mail_str(m, "role"), "user") == 0 ? "Visitor" : "Assistant", mail_str(m, "content"));
        }
    }
}

char *sess_mail_message(const sess_mail_conf *c, const json_t *payload, long long delivery_id, time_t now)
{
    dynbuf b, text;
    dyn_init(&b, MAIL_MESSAGE_MAX);
    dyn_init(&text, MAIL_MESSAGE_MAX / 2);
    const json_t *lead = json_object_get(payload, "lead");
    const char *who = mail_str(lead, "name")[0] ? mail_str(lead, "name") : mail_str(lead, "email");
    char subject[MAIL_SUBJECT_MAX];
    snprintf(subject, sizeof(subject), "New lead: %s (%s)", who[0] ? who : "a visitor",
             mail_str(payload, "reason_kind"));
    struct tm tm;
    char date[64];
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    dyn_adds(&b, "Date: ");
    dyn_adds(&b, date);
    dyn_adds(&b, "\r\nFrom: ");
    mail_header_value(&b, c->from);
    dyn_adds(&b, "\r\nTo: ");
    mail_header_value(&b, c->to);
    dyn_printf(&b, "\r\nMessage-ID: <handoff-%lld-%lld@chat>\r\n",
               (long long)json_integer_value(json_object_get(payload, "handoff_id")), delivery_id);
    mail_subject(&b, subject);
    const char *reply_to = mail_str(lead, "email");
    if (reply_to[0]) {
        dyn_adds(&b, "Reply-To: ");
        mail_header_value(&b, reply_to);
        dyn_adds(&b, "\r\n");
    }
    dyn_adds(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n");
    mail_text(&text, payload);
    unsigned char line[4 * MAIL_B64_LINE / 3 + 4];
    for (size_t off = 0; off < text.len; off += MAIL_B64_LINE) {
        size_t n = text.len - off < MAIL_B64_LINE ? text.len - off : MAIL_B64_LINE;
        int len = EVP_EncodeBlock(line, (const unsigned char *)text.data + off, (int)n);
        dyn_add(&b, (const char *)line, (size_t)len);
        dyn_adds(&b, "\r\n");
    }
    dyn_free(&text);
    if (b.oom || b.full) {
        dyn_free(&b);
        return NULL;
    }
    return dyn_take(&b);
}

typedef struct mail_reader {
    const char *p;
    size_t left;
} mail_reader;

static size_t mail_read(char *buf, size_t size, size_t nitems, void *arg)
{
    mail_reader *r = arg;
    size_t n = size * nitems < r->left ? size * nitems : r->left;
    memcpy(buf, r->p, n);
    r->p += n;
    r->left -= n;
    return n;
}

int sess_mail_send(const sess_mail_conf *c, const char *message, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct curl_slist *rcpt = NULL;
    char addr[MAIL_ADDR_MAX + 3];
    const char *p = c->to;
    for (int n = 0; *p && n < MAIL_RCPT_MAX; n++) {
        size_t len = strcspn(p, ",");
        const char *s = p;
        while (len > 0 && *s == ' ') {
            s++, len--;
        }
        while (len > 0 && s[len - 1] == ' ') {
            len--;
        }
        if (len > 0 && len <= MAIL_ADDR_MAX) {
            snprintf(addr, sizeof(addr), "<%.*s>", (int)len, s);
            rcpt = curl_slist_append(rcpt, addr);
        }
        p += strcspn(p, ",");
        p += *p == ',';
    }
    char from[MAIL_ADDR_MAX + 3];
    snprintf(from, sizeof(from), "<%.*s>", (int)strcspn(c->from, "\r\n"), c->from);
    mail_reader r = {message, strlen(message)};
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &r);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    if (c->starttls) {
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    }
    CURLcode rc = rcpt == NULL ? CURLE_LOGIN_DENIED : curl_easy_perform(h);
    if (rcpt == NULL) {
        snprintf(err, errlen, "SALES_EMAIL has no address");
    } else if (rc != CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        snprintf(err, errlen, "SMTP: %s (server reply %ld)", cerr[0] ? cerr : curl_easy_strerror(rc), code);
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    return rcpt != NULL && rc == CURLE_OK ? 0 : -1;
}
