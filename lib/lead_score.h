/* lead_score.h: how qualified a lead is, as points: so many per slot the
 * lead has, more when the visitor shows buying intent (pricing, a demo, a
 * quote; "Preis", "Angebot") or asks for a person. The weights are
 * LEAD_SCORE_WEIGHTS ("email=30,phone=20,name=10,company=10,need=10,
 * intent=25,person=100"); a lead at HANDOFF_SCORE or more is handed to the
 * team (the gateway does that at Commit).
 *
 * Owns: nothing; lead_weights is the caller's. Thread-safe. */
#ifndef LEAD_SCORE_H
#define LEAD_SCORE_H

#include <stddef.h>

#include "lead_slots.h"

#define LEAD_SCORE_WEIGHTS_DEFAULT "email=30,phone=20,name=10,company=10,need=10,intent=25,person=100"
#define HANDOFF_SCORE_DEFAULT 60
#define LEAD_WEIGHT_MAX 1000 /* points one item may give */

typedef struct lead_weights {
    int slot[LEAD_NSLOTS]; /* points when the slot has a value */
    int intent;            /* buying intent in a message */
    int person;            /* an explicit ask for a person */
} lead_weights;

/* Parses spec ("slot=points,...": a slot name, intent or person; items
 * not named weigh 0; NULL or "" = the default) into w. -1 with a sentence
 * in err for an unknown name or points that are not 0..LEAD_WEIGHT_MAX. */
int lead_weights_parse(const char *spec, lead_weights *w, char *err, size_t errlen);

/* The score of a lead whose slots with a value are the bits of present
 * (1u << lead_slot), with intent and person seen or not. */
int lead_score(const lead_weights *w, unsigned present, int intent, int person);

/* 1 when msg shows buying intent: pricing, cost, a quote, an offer, a
 * demo, a trial, buying (English and German). */
int lead_intent_phrase(const char *msg);
/* 1 when msg asks to talk to a person (English and German). */
int lead_person_phrase(const char *msg);

#endif
