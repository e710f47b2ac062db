/* sess_lead.h: SubmitLead, a lead for sales stored as a handoff record
 * (the contact form when chat is unavailable or a limit is hit, or a
 * hand-off asked for in the chat), with whether it came in business hours.
 * Runs on an RPC worker with its db_conn. */
#ifndef SESS_LEAD_H
#define SESS_LEAD_H

#include "lead_slots.h" /* lead_email_ok, LEAD_EMAIL_MAX */
#include "sess_rpc.h"

#define LEAD_NAME_MAX 200
#define LEAD_PHONE_MAX 40
#define LEAD_MESSAGE_MAX 16000 /* bytes: 4,000 characters of any script */

void sess_rpc_submit_lead(sess_svc *svc, const Chat__Session__SubmitLeadRequest *in,
                          Chat__Session__SubmitLeadReply_Closure done, void *cd);

#endif
