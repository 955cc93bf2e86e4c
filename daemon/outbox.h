/*  outbox: durable per-peer queues of events, and the origin sequence.
 *
 *  Invariant: an outbox entry is written in the same transaction as the
 *  state change that causes it, and deleted only in the transaction that
 *  records the peer's acknowledgement. Link sequence numbers per peer are
 *  contiguous (1, 2, 3, ...), so the receiver can apply strictly in order and
 *  recognise a resend; the envelope's (origin, seq) is its permanent id.
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
//  terminated list); the event's seq goes to *seq_p. One id, many copies:
//  receivers deduplicate by it.
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

//  Delete peer's entries up to and including link_seq; ignores an ack for
//  more than was ever queued. Returns 0 or an LMDB code.
int
    outbox_ack (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq);

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

#endif
