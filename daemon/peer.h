/*  peer: the outbound link to one other region.
 *
 *  A DEALER socket, CURVE client of the peer's federation endpoint, sends the
 *  peer's outbox in link-seq order with at most `window` events in flight.
 *  The peer acknowledges cumulatively once the events are on its disk; only
 *  then are they deleted here. No progress within the retransmit timeout
 *  sends everything unacknowledged again (go-back-N), with the timeout
 *  doubling up to retry_max_ms. The receiver applies strictly in order and
 *  recognises a resend, so a resend can never apply anything twice.
 */
#ifndef ZVH_PEER_H
#define ZVH_PEER_H

#include "config.h"
#include "outbox.h"
#include "store.h"
#include <czmq.h>

typedef struct _peer_t peer_t;

//  Create the link to region and connect (asynchronously). cert is this
//  region's own certificate. Returns NULL if the socket cannot be set up.
peer_t *
    peer_new (const config_region_t *region, zcert_t *cert,
              const config_t *config, store_t *store, outbox_t *outbox);

//  Close the link and null the pointer.
void
    peer_destroy (peer_t **self_p);

//  The DEALER socket, for polling.
zsock_t *
    peer_socket (peer_t *self);

//  The count of sends, receives and redials on the DEALER, which may change
//  its state without its descriptor firing (pollset_add_counted).
const uint64_t *
    peer_socket_ops (peer_t *self);

//  True if this link is to region with its current endpoint and key.
bool
    peer_matches (peer_t *self, const config_region_t *region);

//  Take the timings (window, heartbeat, timeouts, retries) from config
//  from now on: a reload's, which replaces the one given to peer_new.
void
    peer_set_config (peer_t *self, const config_t *config);

//  The peer's region id.
const char *
    peer_region (peer_t *self);

//  Send what is due: new events within the window, a resend after a
//  timeout, a heartbeat when idle. Returns 0 or a ZVH_E_* code.
int
    peer_pump (peer_t *self, int64_t now_ms);

//  When peer_pump next has work (epoch ms; 0 = at once): the heartbeat,
//  the retransmit timeout, a redial, a prune or new outbox entries.
int64_t
    peer_next_due_ms (peer_t *self);

//  True if nothing on the link needs watching: the peer answered within
//  peer_timeout_ms, nothing is in flight and no redial waits.
bool
    peer_is_settled (peer_t *self, int64_t now_ms);

//  Handle one message from the peer (an ACK). Returns 0 or a ZVH_E_* code.
int
    peer_recv (peer_t *self, int64_t now_ms);

//  Handle the monitor events waiting (none blocks): logs refused
//  handshakes, dials again after one, resends after a new connection.
void
    peer_recv_monitor (peer_t *self);

//  True if the peer answered within peer_timeout_ms.
bool
    peer_is_up (peer_t *self, int64_t now_ms);

//  When the peer last answered (epoch ms, 0 = never).
int64_t
    peer_last_seen (peer_t *self);

//  Inside a write transaction: record the peer's last ACK if it is newer
//  than the stored one. ACKs are taken in memory at once and stored lazily
//  (a lost one only means resends the peer recognises). Returns 0 or an
//  LMDB code; peer_ack_stored after the commit.
int
    peer_store_ack (peer_t *self, MDB_txn *txn);

//  The transaction that ran peer_store_ack committed.
void
    peer_ack_stored (peer_t *self);

//  True if an ACK is held in memory only.
bool
    peer_ack_pending (peer_t *self);

//  Note the protocol version a frame from the peer announced (on either
//  socket). True if its major version is ours; if not, logs it (at most once
//  per 10 s) and the frame must be dropped unheard.
bool
    peer_version_seen (peer_t *self, uint32_t major, uint32_t minor, int64_t now_ms);

//  The peer's protocol version as last announced ("1.1"), "" if not heard.
const char *
    peer_version (peer_t *self);

//  Ask for a pump at the next chance: the outbox for this peer changed.
void
    peer_wake (peer_t *self);

//  True once if the peer showed that this store is an older copy (it
//  follows a later incarnation of ours, or has more of our link or events
//  than we made): the incarnation and event seq it reported.
bool
    peer_overtaken (peer_t *self, uint64_t *incarnation_p, uint64_t *seq_p);

//  Up since (if up) or down since (the last frame heard), 0 = never heard.
int64_t
    peer_since (peer_t *self, int64_t now_ms);

//  Send this region's summary (a packed RegionStatus) on the link, if it is
//  connected (KIND_STATUS; never queued: the next one replaces it).
void
    peer_send_status (peer_t *self, const uint8_t *bytes, size_t size);

//  This region began a new incarnation: number the link again after acked.
void
    peer_restart (peer_t *self);

#endif
