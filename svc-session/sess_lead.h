/* sess_lead.h: SubmitLead, a lead for sales stored as a handoff record
 * (the contact form when chat is unavailable or a limit is hit, or a
 * hand-off asked for in the chat), with whether it came in business hours.
 * Runs on an RPC worker with its db_conn. */
#ifndef SESS_LEAD_H
#define SESS_LEAD_H

#include "sess_rpc.h"

#define LEAD_NAME_MAX 200
#define LEAD_EMAIL_MAX 254
#define LEAD_PHONE_MAX 40
#define LEAD_MESSAGE_MAX 16000 /* bytes: 4,000 characters of any script */

/* 1 when s looks like an email address (one '@', a dot in the domain, no
 * spaces or control characters). */
int sess_lead_email_ok(const char *s);

void sess_rpc_submit_lead(sess_svc *svc, const Chat__Session__SubmitLeadRequest *in,
                          Chat__Session__SubmitLeadReply_Closure done, void *cd);

#endif
