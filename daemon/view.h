/*  view: what one partner may see of a signal-log event (data minimisation).
 *
 *  A partner sees an event only if its subscription covers it (national
 *  scope, one of its cases, or the owner region), and then only the
 *  SignalView fields that the view of its role lists in the config; the
 *  role's own part of the plan (its reference and actions) is picked out,
 *  other roles' parts never leave the daemon.
 */
#ifndef ZVH_VIEW_H
#define ZVH_VIEW_H

#include "config.h"
#include "proof.h"
#include "wire.h"

//  True if partner's subscription covers event.
bool
    view_covers (const config_partner_t *partner, const Zvh__V1__SignalEvent *event);

//  Encode the view of event at log seq for partner; malloc'd bytes of
//  *size_p, or NULL if the role has no view. The result is a SignalView
//  message, with the proof of who published it if the event has one.
uint8_t *
    view_encode (const config_t *config, const config_partner_t *partner,
                 const Zvh__V1__SignalEvent *event, uint64_t seq, size_t *size_p);

#endif
