/*  wire: the one way to encode and decode zvh.v1 messages.
 *
 *  protobuf-c has no size limit and allocates element size x count for
 *  repeated fields, so every decode of bytes from outside goes through here:
 *  the frame size is checked first, then unpack runs under an allocator with
 *  a fixed budget. Daemon, client and tests all use these functions.
 */
#ifndef ZVH_WIRE_H
#define ZVH_WIRE_H

#include "zvh.pb-c.h"
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

//  The version of docs/PROTOCOL.md this source implements (12.1): every
//  LinkFrame and SubFrame announces it.
#define WIRE_PROTOCOL_MAJOR    1
#define WIRE_PROTOCOL_MINOR    3

//  Largest frame a peer or client may send us (also ZMQ_MAXMSGSIZE).
#define WIRE_MAX_FRAME_BYTES   (4 * 1024 * 1024)
//  Most memory one decode may allocate.
#define WIRE_DECODE_BUDGET     (16 * 1024 * 1024)
//  Room for one packed LinkFrame: ten varint fields of at most 11 bytes.
#define WIRE_LINK_FRAME_MAX    128
//  Largest serialised plan accepted.
#define WIRE_MAX_PLAN_BYTES    (1024 * 1024)

//  Decode size bytes as a message of type desc. Returns NULL when the bytes
//  are too large, malformed or would exceed the decode budget.
ProtobufCMessage *
    wire_decode (const ProtobufCMessageDescriptor *desc,
                 const uint8_t *data, size_t size);

//  Read the first varint field number field of a message without decoding
//  it (for answering a frame that does not decode under its request id).
//  0 and *value set if found before anything unreadable; -1 otherwise.
int
    wire_peek_varint (const uint8_t *data, size_t size, uint32_t field, uint64_t *value);

//  Free a message returned by wire_decode (NULL is allowed).
void
    wire_free (ProtobufCMessage *msg);

//  Serialise msg into a new malloc'd buffer; *size_p gets its length.
uint8_t *
    wire_encode (const ProtobufCMessage *msg, size_t *size_p);

//  BLAKE2b-256 of data into hash (32 bytes): the plan fingerprint.
void
    wire_hash (const uint8_t *data, size_t size, uint8_t hash [32]);

//  The layout of every signed digest (PROTOCOL 2.6), so that a signature
//  never depends on protobuf encoding: u64 is 8 bytes big-endian; text is
//  u64 (its byte length) then its UTF-8 bytes (NULL is empty).
void
    wire_hash_u64 (crypto_generichash_state *state, uint64_t value);
void
    wire_hash_text (crypto_generichash_state *state, const char *text);

#define WIRE_SIGN_PUBLIC_BYTES  32      //  Ed25519
#define WIRE_SIGN_SECRET_BYTES  64
#define WIRE_SIGNATURE_BYTES    64
#define WIRE_CURVE_SECRET_BYTES 32

//  A region's Ed25519 signing key pair, derived from its CURVE secret key,
//  so a region has one secret to keep (its zcert).
void
    wire_sign_keypair (const uint8_t curve_secret [WIRE_CURVE_SECRET_BYTES],
                       uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES],
                       uint8_t secret_key [WIRE_SIGN_SECRET_BYTES]);

//  Sign an envelope in place (sets envelope->signature to a buffer the
//  caller frees). The signature covers origin, seq, type, time, case id and
//  payload, in a fixed layout that does not depend on protobuf encoding.
//  Returns 0 or -1.
int
    wire_envelope_sign (Zvh__V1__Envelope *envelope,
                        const uint8_t secret_key [WIRE_SIGN_SECRET_BYTES]);

//  What a signature covers: a BLAKE2b-512 digest of the signed fields.
#define WIRE_DIGEST_BYTES       64

//  The digest an envelope's signature covers.
void
    wire_envelope_digest (const Zvh__V1__Envelope *envelope,
                          uint8_t digest [WIRE_DIGEST_BYTES]);

//  Changes of owner a case keeps proof of (the oldest go beyond it).
#define WIRE_CUSTODY_LINKS_MAX  32

//  The two statements of a change of owner (PROTOCOL 2.9).
typedef enum {
    WIRE_CUSTODY_OFFER,         //  signed by the source when it offers
    WIRE_CUSTODY_ACCEPT         //  signed by the target when it accepts
} wire_custody_t;

//  Sign a custody statement about case_id's transfer from source to target
//  into signature (WIRE_SIGNATURE_BYTES).
void
    wire_custody_sign (wire_custody_t kind, const char *case_id, const char *transfer_id,
                       const char *source, const char *target,
                       const uint8_t secret_key [WIRE_SIGN_SECRET_BYTES],
                       uint8_t signature [WIRE_SIGNATURE_BYTES]);

//  The digest a custody statement's signature covers.
void
    wire_custody_digest (wire_custody_t kind, const char *case_id, const char *transfer_id,
                         const char *source, const char *target,
                         uint8_t digest [WIRE_DIGEST_BYTES]);

//  Typed shorthands for the messages decoded most.
#define WIRE_DECODE(type, lower, data, size) \
    ((type *) wire_decode (&lower##__descriptor, (data), (size)))

#endif
