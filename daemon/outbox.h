/*  outbox: durable per-peer queues of events, and the origin sequence.
 *
 *  Invariant: an outbox entry is written in the same transaction as the
 *  state change that causes it, and deleted only in the transaction that
 *  records the peer's acknowledgement. Link sequence numbers per peer are
 *  contiguous (1, 2, 3, ...), so the receiver can apply strictly in order and
 *  recognise a resend; the envelope's (origin, seq) is its permanent id.
 *
 *  An event for more than one peer is stored once (the event log) and each
 *  peer's entry refers to it; it goes with the last entry that refers to it.
 *
 *  Acknowledged entries stay for the retention period (outbox_prune), so a
 *  peer restored from a backup can be brought up to date (outbox_rewind).
 *  Origin seqs jump past the clock at every start; a store restored from a
 *  stamped backup, or one a peer shows to be an older copy, begins a new
 *  incarnation (outbox_start, outbox_overtaken): its links renumber.
 */
#ifndef ZVH_OUTBOX_H
#define ZVH_OUTBOX_H

#include "store.h"
#include "wire.h"

typedef struct _outbox_t outbox_t;

//  Called per entry by outbox_scan; return non-zero to stop.
typedef int (outbox_visit_fn) (uint64_t link_seq, const uint8_t *envelope,
                               size_t size, void *arg);

//  Create the outbox of region (the origin of the events it makes); every
//  event it makes is signed with sign_key (Ed25519), or left unsigned if
//  sign_key is NULL (unit tests only: peers refuse unsigned events).
outbox_t *
    outbox_new (store_t *store, const char *region,
                const uint8_t sign_key [WIRE_SIGN_SECRET_BYTES]);

//  Read this region's incarnation and, unless the store never ran before,
//  move origin seqs past the clock (in microseconds): a copy of this store
//  started later gives no event an id that the lost store gave. A stamped backup that has not started before
//  (backup_taken_ms, 0 if none) begins a new incarnation. Returns 0 or an
//  LMDB code.
int
    outbox_start (outbox_t *self, int64_t backup_taken_ms, int64_t now_ms);

//  peer has more of this region than this store holds (it follows
//  peer_incarnation, or has our events up to peer_seq): the store is an
//  older copy. Begin an incarnation above both ours and peer_incarnation,
//  origin seqs past peer_seq (PROTOCOL 4.9); reports far beyond ours and
//  the clock are logged and ignored. Returns 0 or an LMDB code.
int
    outbox_overtaken (outbox_t *self, const char *peer, uint64_t peer_incarnation,
                      uint64_t peer_seq, int64_t now_ms);

//  True if the store had run before this start (outbox_start): only then
//  can a copy of it have given ids or seqs this store does not know.
bool
    outbox_started_before (outbox_t *self);

//  This region's incarnation: 0 until its store is first restored.
uint64_t
    outbox_incarnation (outbox_t *self);

//  Destroy the outbox and null the pointer.
void
    outbox_destroy (outbox_t **self_p);

//  Make a new event with the next origin seq and queue it for peer.
//  Returns 0 or an LMDB code.
int
    outbox_push (outbox_t *self, MDB_txn *txn, const char *peer,
                 Zvh__V1__Envelope__Type type, const char *case_id,
                 const ProtobufCMessage *payload, int64_t now_ms);

//  Make one new event and queue it for every region in peers (a NULL-
//  terminated list); the event's seq goes to *seq_p. One id, one stored
//  copy, the same bytes to every peer: receivers deduplicate by the id.
int
    outbox_push_many (outbox_t *self, MDB_txn *txn, const char **peers,
                      Zvh__V1__Envelope__Type type, const char *case_id,
                      const ProtobufCMessage *payload, int64_t now_ms,
                      uint64_t *seq_p);

//  Take the next origin seq without queueing anything: the id of an event
//  that stays in this region.
uint64_t
    outbox_next_seq (outbox_t *self, MDB_txn *txn, int *rc_p);

//  Queue an existing serialised envelope for peer, unchanged (relay).
int
    outbox_forward (outbox_t *self, MDB_txn *txn, const char *peer,
                    const uint8_t *envelope, size_t size);

#define OUTBOX_PEER_MAX 64      //  region id, incl. NUL (CONFIG_ID_MAX)

//  What became here of a relayable event (a signal raise, a plan proposal),
//  which may reach a region more than once by different paths while its
//  case moves. The federation sets `before` (where an earlier copy was
//  passed on, "" if none); applying sets `to` when it passes the event on,
//  or `unplaced` when this region can neither apply nor pass it on (the
//  case is unknown here): then nothing is recorded and a later copy, when
//  the case has arrived, is applied.
typedef struct {
    char before [OUTBOX_PEER_MAX];
    char to [OUTBOX_PEER_MAX];
    bool unplaced;
} outbox_relay_t;

//  Pass a relayable envelope on to peer, unchanged and still signed by its
//  origin; a copy already passed on to that peer is not sent again (no
//  multiplying copies, no ping-pong). Returns 0 or an LMDB code.
int
    outbox_relay (outbox_t *self, MDB_txn *txn, outbox_relay_t *relay,
                  const char *peer, const Zvh__V1__Envelope *envelope);

//  True for the event types whose payload holds a plan's content (offer,
//  plan update, plan proposal): what a purge turns into stubs.
bool
    outbox_holds_plan (Zvh__V1__Envelope__Type type);

//  case_id's plan was purged (tombstone, close): every entry still held that
//  carries its content (offer, plan update, plan proposal, to any peer) is
//  replaced by a stub of the same id, type and time, marked purged, with
//  no payload and no signature; a peer sent it again acknowledges it without
//  applying anything (PROTOCOL 4.6). The number replaced goes to
//  *stubbed_p. Relayed copies of another region's proposals are not
//  tracked: they go with the retention. Returns 0 or an LMDB code.
int
    outbox_purge_case (outbox_t *self, MDB_txn *txn, const char *case_id,
                       size_t *stubbed_p);

//  Record that peer has everything up to link_seq; ignores an ack for more
//  than was ever queued. With a retention of 0 the entries are deleted at
//  once, else outbox_prune deletes them later. Returns 0 or an LMDB code.
int
    outbox_ack (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq);

//  Keep acknowledged entries for retain_ms (default 0: delete on ack).
void
    outbox_set_retention (outbox_t *self, int64_t retain_ms);

//  Delete peer's acknowledged entries made before now_ms minus the retention.
int
    outbox_prune (outbox_t *self, MDB_txn *txn, const char *peer, int64_t now_ms);

//  peer was restored and has only up to link_seq: send again from there, or
//  from the oldest entry still held. Returns 0 or an LMDB code; the new
//  acknowledged link seq goes to *acked_p.
int
    outbox_rewind (outbox_t *self, MDB_txn *txn, const char *peer,
                   uint64_t link_seq, uint64_t *acked_p);

//  The link seq before peer's oldest entry still held: everything after it
//  can be sent again, nothing at or before it.
uint64_t
    outbox_floor (outbox_t *self, MDB_txn *txn, const char *peer);

//  Visit peer's entries after link seq `after`, at most max of them.
int
    outbox_scan (outbox_t *self, MDB_txn *txn, const char *peer,
                 uint64_t after, size_t max, outbox_visit_fn *visit, void *arg);

//  The highest link seq the peer has acknowledged.
uint64_t
    outbox_acked (outbox_t *self, MDB_txn *txn, const char *peer);

//  Number of queued entries for peer and the time of the oldest (0 if none).
int
    outbox_depth (outbox_t *self, MDB_txn *txn, const char *peer,
                  uint64_t *depth_p, int64_t *oldest_ms_p);

//  The last origin seq this region assigned.
uint64_t
    outbox_last_seq (outbox_t *self, MDB_txn *txn);

//  The last link seq queued for peer (0 if none).
uint64_t
    outbox_last_out (outbox_t *self, MDB_txn *txn, const char *peer);

#endif
