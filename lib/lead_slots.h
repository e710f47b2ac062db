/* lead_slots.h: the slots of a lead and how a value for one is checked and
 * normalised, the same for every program that fills them: the gateway
 * (record_lead tool calls of a model), svc-llm (the offline rules, the
 * prompt) and svc-session (the contact form).
 *
 *   - which slots exist: LEAD_SLOTS, a list of slot names (lead_conf_init);
 *   - an email address: syntax only (lead_email_ok); a bad one is dropped;
 *   - a phone number: E.164 ("+491512345678") from what people type, with
 *     a default country for national numbers (LEAD_DEFAULT_COUNTRY; DE, AT,
 *     CH, FR, NL and GB use trunk prefix 0 and international prefix 00, US
 *     the NANP rules with 1 and 011);
 *   - a company guessed from a business email domain ("tom@acme.io" ->
 *     "Acme"), never from a free-mail provider's (lead_freemail_domain).
 *
 * Owns: the process-wide lead_conf, set once by lead_conf_init before any
 * thread reads it and read-only afterwards (until then the defaults hold).
 * Everything else works on caller buffers and keeps no state, so any thread
 * may call it. */
#ifndef LEAD_SLOTS_H
#define LEAD_SLOTS_H

#include <stddef.h>

typedef enum {
    LEAD_SLOT_NAME,
    LEAD_SLOT_EMAIL,
    LEAD_SLOT_PHONE,
    LEAD_SLOT_COMPANY,
    LEAD_SLOT_NEED,
    LEAD_SLOT_TEAM_SIZE,
    LEAD_SLOT_TIMELINE,
    LEAD_SLOT_BUDGET,
    LEAD_NSLOTS
} lead_slot;

#define LEAD_SLOTS_DEFAULT "name,email,phone,company,need,timeline"
#define LEAD_COUNTRY_DEFAULT "DE"
#define LEAD_COUNTRIES "DE|AT|CH|FR|NL|GB|US" /* what LEAD_DEFAULT_COUNTRY accepts */
#define LEAD_EMAIL_MAX 254                    /* bytes of an address (RFC 5321) */
#define LEAD_E164_MAX 16                      /* "+", at most 15 digits, NUL */
#define LEAD_PHONE_INPUT_MAX 64               /* longer "numbers" are not normalised */
#define LEAD_COMPANY_GUESS_MAX 64             /* bytes of a company guessed from a domain */

typedef struct lead_conf {
    unsigned slots;               /* bit (1u << lead_slot) per configured slot */
    lead_slot order[LEAD_NSLOTS]; /* configured slots in LEAD_SLOTS order */
    size_t norder;
    char country[3]; /* ISO 3166 alpha-2, upper case */
} lead_conf;

/* The slot's name as LEAD_SLOTS and the lead's JSON spell it ("team_size"). */
const char *lead_slot_name(lead_slot s);
/* The slot named s[0..len) (case-insensitive), or -1. */
int lead_slot_find(const char *s, size_t len);

/* Parses slots (a LEAD_SLOTS value; NULL or "" = the default) and country
 * (NULL or "" = DE) into the process-wide configuration. -1 with a
 * sentence in err for an unknown slot or country, or an empty list. Call
 * before threads start. */
int lead_conf_init(const char *slots, const char *country, char *err, size_t errlen);
const lead_conf *lead_conf_get(void);
/* 1 when slot s is configured. */
int lead_slot_on(lead_slot s);

/* 1 when s looks like an email address: one '@' with something before it,
 * a dot inside the domain with a label after it, at most LEAD_EMAIL_MAX
 * bytes, no spaces, control characters or <>,;()[]\" characters. */
int lead_email_ok(const char *s);

/* Writes in as an E.164 number ("+" and digits) to out (LEAD_E164_MAX
 * bytes are enough); a national number is read with the trunk rules of
 * country (ISO code, e.g. "DE"; NULL = the configured default). Accepts
 * digits, spaces, -./ and parentheses, a leading + or international
 * prefix, and "(0)" after a country code. Returns 0, or -1 (out "") when
 * in is not a phone number we can read: letters in it, a national number
 * without its trunk prefix, or a length the country does not use. */
int lead_phone_e164(const char *in, const char *country, char *out, size_t outlen);

/* 1 when domain (e.g. "gmx.de", any case) belongs to a free-mail provider
 * (gmail, outlook, gmx, web.de, ...) or is a reserved example domain:
 * nobody's company. */
int lead_freemail_domain(const char *domain);

/* The company an email address suggests: the registrable label of its
 * domain, capitalised ("tom@mail.acme-corp.co.uk" -> "Acme Corp"). Returns
 * 1 and fills out, or 0 (out "") for a free-mail domain, a bad address or
 * a label that is no name (digits only, one letter). */
int lead_company_from_email(const char *email, char *out, size_t outlen);

#endif
