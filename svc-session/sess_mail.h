/* sess_mail.h: a hand-off as an email to sales, over SMTP with libcurl.
 *
 * The message is plain text (UTF-8, base64 transfer encoding, so any line
 * length and any script are safe), built from the same JSON the webhook
 * gets: the lead summary, then the transcript. Header values are cut at
 * CR/LF (no header injection) and a non-ASCII subject is an RFC 2047
 * encoded word. Thread-safe (own curl handle per call). */
#ifndef SESS_MAIL_H
#define SESS_MAIL_H

#include <jansson.h>
#include <stddef.h>

#define MAIL_ADDR_MAX 320
#define MAIL_RCPT_MAX 8
#define MAIL_ERR_MAX 256

typedef struct sess_mail_conf {
    const char *url;  /* SMTP_URL: smtp://host:port or smtps://host:port, credentials in it */
    const char *from; /* SMTP_FROM */
    const char *to;   /* SALES_EMAIL: one address or several separated by ',' */
    int starttls;     /* SMTP_STARTTLS: require STARTTLS on smtp:// */
    unsigned timeout_ms;
} sess_mail_conf;

/* The whole RFC 5322 message for a hand-off payload (malloc'd, CRLF line
 * ends; caller frees), or NULL when out of memory. now is the Date. */
char *sess_mail_message(const sess_mail_conf *c, const json_t *payload, long long delivery_id, time_t now);

/* Sends the message; 0, or -1 with why in err. */
int sess_mail_send(const sess_mail_conf *c, const char *message, char *err, size_t errlen);

#endif
