/*  relay: the permanent record of every event taken here (PROTOCOL 4.6).
 *
 *  The one owner of the dedup record format. STORE_DB_DEDUP holds, for
 *  ever, key "origin NUL be64 seq" -> value "be64 ms taken" and, for a
 *  relayable event that was only passed on from here, the id of the region
 *  it went to (no NUL). A value of 8 bytes (every record older than relays)
 *  means applied here. Meta "oseq:<origin>" is the highest seq of origin
 *  recorded: every ACK to origin carries it (4.9 rule 7).
 */
#ifndef ZVH_RELAY_H
#define ZVH_RELAY_H

#include "outbox.h"
#include "store.h"

typedef struct _relay_t relay_t;

//  What became of an event id here before.
typedef enum {
    RELAY_NEVER,                    //  no record: not taken here
    RELAY_APPLIED,                  //  applied here
    RELAY_PASSED_ON                 //  only passed on, to relay->before
} relay_taken_t;

//  Create the owner of the dedup records in store.
relay_t *
    relay_new (store_t *store);

//  Destroy it and null the pointer.
void
    relay_destroy (relay_t **self_p);

//  What this store took of (origin, seq) into *taken_p; for one passed on,
//  where it went into relay->before ("" otherwise). Returns 0 or an LMDB
//  code (EINVAL if origin is too long for a key).
int
    relay_seen (relay_t *self, MDB_txn *txn, const char *origin, uint64_t seq,
                relay_taken_t *taken_p, outbox_relay_t *relay);

//  Record (origin, seq) as taken at now_ms: applied here, or passed on to
//  relay->to if that is set. Returns 0 or an LMDB code.
int
    relay_record (relay_t *self, MDB_txn *txn, const char *origin, uint64_t seq,
                  const outbox_relay_t *relay, int64_t now_ms);

//  Raise origin's highest event seq recorded here to seq. Returns 0 or an
//  LMDB code.
int
    relay_note_origin_seq (relay_t *self, MDB_txn *txn, const char *origin, uint64_t seq);

//  The highest event seq of origin recorded here (0 if none).
uint64_t
    relay_origin_seq (relay_t *self, MDB_txn *txn, const char *origin);

#endif
