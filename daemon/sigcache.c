/*  sigcache: Ed25519 signatures this daemon has verified, remembered.
 *  See sigcache.h for why this is safe.
 */
#include "sigcache.h"
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SIGCACHE_KEY_BYTES 32           //  BLAKE2b-256: collisions are infeasible

typedef struct {
    uint8_t key [SIGCACHE_KEY_BYTES];
    bool used;
} slot_t;

struct _sigcache_t {
    slot_t *slots;
    size_t mask;                        //  slots - 1 (a power of two)
    uint64_t hits;
};

sigcache_t *
sigcache_new (size_t slots)
{
    size_t size = 1;
    while (size < slots)
        size <<= 1;
    sigcache_t *self = (sigcache_t *) calloc (1, sizeof (sigcache_t));
    if (self)
        self->slots = (slot_t *) calloc (size, sizeof (slot_t));
    if (!self || !self->slots) {
        free (self);
        return NULL;
    }
    self->mask = size - 1;
    return self;
}

void
sigcache_destroy (sigcache_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->slots);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_key (const uint8_t *signature, const uint8_t *digest, const uint8_t *public_key,
       uint8_t key [SIGCACHE_KEY_BYTES])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, SIGCACHE_KEY_BYTES);
    crypto_generichash_update (&state, public_key, WIRE_SIGN_PUBLIC_BYTES);
    crypto_generichash_update (&state, digest, WIRE_DIGEST_BYTES);
    crypto_generichash_update (&state, signature, WIRE_SIGNATURE_BYTES);
    crypto_generichash_final (&state, key, SIGCACHE_KEY_BYTES);
}

static slot_t *
s_slot (sigcache_t *self, const uint8_t key [SIGCACHE_KEY_BYTES])
{
    uint32_t index;
    memcpy (&index, key, sizeof index);
    return &self->slots [index & self->mask];
}

void
sigcache_add (sigcache_t *self, const uint8_t signature [WIRE_SIGNATURE_BYTES],
              const uint8_t digest [WIRE_DIGEST_BYTES],
              const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES])
{
    if (!self)
        return;
    uint8_t key [SIGCACHE_KEY_BYTES];
    s_key (signature, digest, public_key, key);
    slot_t *slot = s_slot (self, key);
    memcpy (slot->key, key, SIGCACHE_KEY_BYTES);
    slot->used = true;
}

int
sigcache_verify (sigcache_t *self, const uint8_t *signature, size_t size,
                 const uint8_t digest [WIRE_DIGEST_BYTES],
                 const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES])
{
    if (!signature || size != WIRE_SIGNATURE_BYTES)
        return -1;
    if (!self)
        return crypto_sign_verify_detached (signature, digest, WIRE_DIGEST_BYTES,
                                            public_key) == 0 ? 0 : -1;
    uint8_t key [SIGCACHE_KEY_BYTES];
    s_key (signature, digest, public_key, key);
    slot_t *slot = s_slot (self, key);
    if (slot->used && sodium_memcmp (slot->key, key, SIGCACHE_KEY_BYTES) == 0) {
        self->hits++;
        return 0;
    }
    if (crypto_sign_verify_detached (signature, digest, WIRE_DIGEST_BYTES, public_key) != 0)
        return -1;
    memcpy (slot->key, key, SIGCACHE_KEY_BYTES);
    slot->used = true;
    return 0;
}

uint64_t
sigcache_hits (sigcache_t *self)
{
    return self ? self->hits : 0;
}
