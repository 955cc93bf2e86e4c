/*  federation: this region's place in the federation of regions.
 *
 *  Owns the inbound side (a ROUTER, CURVE server, admitted keys decided by
 *  the ZAP handler from the federation directory) and one peer_t per federated
 *  region. Inbound events are applied strictly in link order, exactly once:
 *  a permanent dedup record per (origin, seq) and the last applied link seq
 *  commit in the same transaction as the event's effects; the ACK is sent
 *  only after that commit.
 */
#ifndef ZVH_FEDERATION_H
#define ZVH_FEDERATION_H

#include "audit.h"
#include "config.h"
#include "crisis.h"
#include "outbox.h"
#include "peer.h"
#include "pollset.h"
#include "sigcache.h"
#include "store.h"
#include "transfer.h"
#include <czmq.h>

typedef struct _federation_t federation_t;

//  Bind the federation endpoint and connect to every federated peer. The ZAP handler
//  must already be configured. Returns NULL (logged) on failure.
federation_t *
    federation_new (const config_t *config, zcert_t *cert, store_t *store,
                    outbox_t *outbox, transfer_t *transfer, crisis_t *crisis,
                    audit_t *audit);

//  Use config from now on (a reload's; the old one is destroyed right
//  after): links to regions that left or changed key are closed, new ones
//  opened, and the links kept follow config too. Messages
//  from keys no longer admitted are refused from now on; with withdrawn
//  (a key was revoked or removed) every inbound connection is closed too,
//  so that the withdrawn key's live one goes (admitted peers reconnect).
void
    federation_reload (federation_t *self, const config_t *config, bool withdrawn);

//  Close every link and null the pointer.
void
    federation_destroy (federation_t **self_p);

//  Add every socket to poll to pollset: the inbound ROUTER, then each link.
void
    federation_poll_add (federation_t *self, pollset_t *pollset);

//  Handle a socket that the poller said is readable; false if not ours.
bool
    federation_handle (federation_t *self, void *socket, int64_t now_ms);

//  Pump every peer link (new events, resends, heartbeats); read the links'
//  monitor events (refused handshakes, new connections) every 100 ms, or
//  every second while every link is settled. Does nothing before
//  federation_next_due_ms, unless woken or handed a socket since.
void
    federation_pump (federation_t *self, int64_t now_ms);

//  When federation_pump next has work (epoch ms; 0 = at once).
int64_t
    federation_next_due_ms (federation_t *self);

//  Mark every link as having new outbox entries.
void
    federation_wake (federation_t *self);

//  federation_wake once the turn's changes are committed (new outbox
//  entries are sent from committed state only).
void
    federation_wake_after_commit (federation_t *self);

//  Number of peers and the peer at index i.
size_t
    federation_peer_count (federation_t *self);
peer_t *
    federation_peer (federation_t *self, size_t index);


typedef struct _status_t status_t;

//  Check inbound signatures through verified (sigcache.h: each that held is
//  not verified again); NULL (the default) verifies every one.
void
    federation_set_verified (federation_t *self, sigcache_t *verified);

//  Hand the peers' summaries (KIND_STATUS, PROTOCOL 4.10) to status.
void
    federation_set_status (federation_t *self, status_t *status);

#endif
