/*  authority: what a region may say, checked before anything is applied.
 *
 *  A CURVE key proves who speaks; a signature proves who made an event.
 *  Neither proves that the speaker may say it about this case or signal.
 *  Every inbound federation event is read into facts (payload decoded, ids
 *  validated, a published raise's signature checked), then judged by one
 *  table against what this region knows of the case: apply it, or refuse
 *  it with a reason. The table is docs/PROTOCOL.md 2.8; it is pure (no
 *  store, no sockets) so that every row is unit-tested.
 */
#ifndef ZVH_AUTHORITY_H
#define ZVH_AUTHORITY_H

#include "config.h"
#include "sigcache.h"
#include "wire.h"
#include "zvh/zvh.h"

#define AUTHORITY_EVENT_ID_MAX  (CONFIG_ID_MAX + 24)    //  "region/seq"

//  What an inbound event says, read from its envelope and payload.
typedef struct {
    int type;                               //  Zvh__V1__Envelope__Type
    char self [CONFIG_ID_MAX];              //  this region
    char from [CONFIG_ID_MAX];              //  the link peer, by its key
    char origin [CONFIG_ID_MAX];            //  the envelope's (signed) origin
    char case_id [ZVH_ID_MAX];              //  "" for a national signal
    char transfer_id [ZVH_ID_MAX];          //  offer, accept, reject, complete
    char offer_source [CONFIG_ID_MAX];      //  offer
    char offer_target [CONFIG_ID_MAX];      //  offer
    int signal_type;                        //  signal event: Zvh__V1__SignalEvent__Type
    char event_id [AUTHORITY_EVENT_ID_MAX]; //  signal event
    char event_region [CONFIG_ID_MAX];      //  signal event: the publishing region
    bool national;                          //  raise, signal event
    bool move_proven;                       //  label_moved: carries the signed hand-over
                                            //  from previous_region to its publisher
    bool raise_attested;                    //  signal event: carries the raise as
                                            //  event_id's region signed it
    bool proof_refuted;                     //  signal event: carries a proof of who
                                            //  published it that does not verify
    bool restored;                          //  this store was restored (PROTOCOL 4.9)
    bool custody_proven;                    //  offer: its signed chain ends at its
                                            //  source, and the source signed it
    char custody_self_transfer [ZVH_ID_MAX];    //  offer: the chain's last link from
                                                //  this region, "" if none
    bool custody_full;                      //  offer: the chain holds the most links
                                            //  kept (older hand-overs fell out of it)
    bool accept_signed;                     //  accept: signed by its sender
    bool offer_proven;                      //  accept: echoes this region's signature
                                            //  of the offer it answers
} authority_event_t;

//  What this region knows of the case an event is about.
typedef struct {
    bool known;
    int state;                              //  Zvh__V1__CaseState
    const char *owner;
    const char *partner;                    //  the other party of the transfer
    const char *transfer_id;
    const Zvh__V1__CustodyChain *custody;   //  its changes of owner, NULL if none
} authority_case_t;

//  True if id is a valid case or transfer id: 1-63 letters, digits, '.',
//  '_' or '-' (it becomes part of an LMDB key).
bool
    authority_id_valid (const char *id);

//  Verify the envelope's signature against its origin's sign_key in the
//  directory (verified: signatures that held before, may be NULL). Returns
//  NULL if it holds, else why not.
const char *
    authority_signature_error (const config_t *config, sigcache_t *verified,
                               const Zvh__V1__Envelope *envelope);

//  Read the facts of an envelope that `from` sent to region `self`, every
//  signature checked (verified as above). Returns NULL, or why the event
//  is malformed (then nothing may apply it).
const char *
    authority_read (const config_t *config, sigcache_t *verified,
                    const Zvh__V1__Envelope *envelope, const char *from, bool restored,
                    authority_event_t *event);

//  The table: NULL if the event may be applied (or passed on) given what
//  this region knows of its case, else why it is refused.
const char *
    authority_decide (const authority_event_t *event, const authority_case_t *here);

#endif
