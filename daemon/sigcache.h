/*  sigcache: Ed25519 signatures this daemon has verified, remembered.
 *
 *  One event carries proofs that other events carried before: a
 *  label_moved event repeats the signed hand-over its accept carried, and
 *  an offer the chain of every earlier hand-over. An Ed25519 verification
 *  costs about forty microseconds; remembering the ones that held makes a
 *  repeat cost one hash. Only what verified is remembered, under a
 *  BLAKE2b-256 of (public key, signed digest, signature): a hit is that
 *  exact triple verified before, so a forged, altered or re-keyed
 *  statement never hits. Bounded: a fixed table, newer entries overwrite.
 */
#ifndef ZVH_SIGCACHE_H
#define ZVH_SIGCACHE_H

#include "wire.h"
#include <stdint.h>

typedef struct _sigcache_t sigcache_t;

//  A cache of slots entries (rounded up to a power of two); NULL on no memory.
sigcache_t *
    sigcache_new (size_t slots);

//  Destroy the cache and null the pointer.
void
    sigcache_destroy (sigcache_t **self_p);

//  Verify signature (size bytes) over digest (WIRE_DIGEST_BYTES) with
//  public_key: 0 if valid, remembered so that the same triple is not
//  verified again. self NULL verifies without remembering.
int
    sigcache_verify (sigcache_t *self, const uint8_t *signature, size_t size,
                     const uint8_t digest [WIRE_DIGEST_BYTES],
                     const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES]);

//  Remember a signature this daemon made itself over digest with the
//  public half of its key: it holds, so when it comes back (a peer's
//  accept echoes this region's offer signature) it is not verified.
//  self NULL does nothing.
void
    sigcache_add (sigcache_t *self, const uint8_t signature [WIRE_SIGNATURE_BYTES],
                  const uint8_t digest [WIRE_DIGEST_BYTES],
                  const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES]);

//  How many verifications the cache answered (for tests and metrics).
uint64_t
    sigcache_hits (sigcache_t *self);

#endif
