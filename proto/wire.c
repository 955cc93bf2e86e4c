/*  wire: bounded protobuf-c decoding and the one encoder.
 *
 *  The budgeted allocator prefixes each block with its size so that free
 *  can return the bytes to the budget; wire_free uses the same layout with
 *  no budget, since freeing never needs one.
 */
#include "wire.h"
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t used;
    size_t limit;
} budget_t;

typedef union {
    size_t size;
    max_align_t align;          //  keeps the user block aligned
} block_header_t;

static void *
s_alloc (void *data, size_t size)
{
    budget_t *budget = (budget_t *) data;
    if (budget && (size > budget->limit - budget->used))
        return NULL;
    block_header_t *header = (block_header_t *) malloc (sizeof (block_header_t) + size);
    if (!header)
        return NULL;
    header->size = size;
    if (budget)
        budget->used += size;
    return header + 1;
}

static void
s_free (void *data, void *pointer)
{
    if (!pointer)
        return;
    block_header_t *header = (block_header_t *) pointer - 1;
    budget_t *budget = (budget_t *) data;
    if (budget)
        budget->used -= header->size;
    free (header);
}

//  Field numbers run from 1 to 2^29 - 1 (protobuf's limit).
#define WIRE_FIELD_NUMBER_MAX ((1u << 29) - 1)

//  protobuf-c 1.4.1 accepts field number 0 when its tag is written in more
//  bytes than it needs (0x82 0x00 for 0x02), keeps it as an unknown field
//  and writes it back as the one-byte tag, which it refuses itself: such a
//  message turns into bytes nobody decodes as soon as it is re-encoded
//  (an event wrapping a partner's raise, a relayed envelope). Refuse it.
static bool
s_has_bad_field_numbers (const ProtobufCMessage *msg)
{
    for (unsigned index = 0; index < msg->n_unknown_fields; index++) {
        uint32_t tag = msg->unknown_fields [index].tag;
        if (tag == 0 || tag > WIRE_FIELD_NUMBER_MAX)
            return true;
    }
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    for (unsigned index = 0; index < desc->n_fields; index++) {
        const ProtobufCFieldDescriptor *field = &desc->fields [index];
        if (field->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        &&  *(const uint32_t *) ((const char *) msg + field->quantifier_offset) != field->id)
            continue;                   //  another member of the oneof is set
        const char *member = (const char *) msg + field->offset;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *) ((const char *) msg + field->quantifier_offset);
            ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *) member;
            for (size_t item = 0; item < count; item++)
                if (s_has_bad_field_numbers (items [item]))
                    return true;
        }
        else {
            const ProtobufCMessage *child = *(ProtobufCMessage *const *) member;
            if (child && s_has_bad_field_numbers (child))
                return true;
        }
    }
    return false;
}

ProtobufCMessage *
wire_decode (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    if (!desc || (!data && size) || size > WIRE_MAX_FRAME_BYTES)
        return NULL;
    budget_t budget = { 0, WIRE_DECODE_BUDGET };
    ProtobufCAllocator allocator = { s_alloc, s_free, &budget };
    ProtobufCMessage *msg = protobuf_c_message_unpack (desc, &allocator, size, data);
    if (msg && s_has_bad_field_numbers (msg)) {
        protobuf_c_message_free_unpacked (msg, &allocator);
        msg = NULL;
    }
    return msg;
}

//  One base-128 varint at data [*offset]; false if it runs past size or 10 bytes.
static bool
s_read_varint (const uint8_t *data, size_t size, size_t *offset, uint64_t *value)
{
    *value = 0;
    for (unsigned shift = 0; shift < 64 && *offset < size; shift += 7) {
        uint8_t byte = data [(*offset)++];
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

#define WIRE_TYPE_VARINT    0
#define WIRE_TYPE_FIXED64   1
#define WIRE_TYPE_BYTES     2
#define WIRE_TYPE_FIXED32   5

int
wire_peek_varint (const uint8_t *data, size_t size, uint32_t field, uint64_t *value)
{
    size_t offset = 0;
    uint64_t tag, skip;
    while (data && offset < size && s_read_varint (data, size, &offset, &tag)) {
        unsigned type = (unsigned) (tag & 7);
        if (type == WIRE_TYPE_VARINT) {
            if (!s_read_varint (data, size, &offset, &skip))
                return -1;
            if ((tag >> 3) == field) {
                *value = skip;
                return 0;
            }
            continue;
        }
        if (type == WIRE_TYPE_BYTES) {
            if (!s_read_varint (data, size, &offset, &skip) || skip > size - offset)
                return -1;
        }
        else
        if (type == WIRE_TYPE_FIXED64 || type == WIRE_TYPE_FIXED32)
            skip = type == WIRE_TYPE_FIXED64 ? 8 : 4;
        else
            return -1;              //  groups: not in zvh.v1
        if (skip > size - offset)
            return -1;
        offset += skip;
    }
    return -1;
}

void
wire_free (ProtobufCMessage *msg)
{
    //  Same block layout, no budget: the decode's budget is gone by now
    ProtobufCAllocator allocator = { s_alloc, s_free, NULL };
    if (msg)
        protobuf_c_message_free_unpacked (msg, &allocator);
}

uint8_t *
wire_encode (const ProtobufCMessage *msg, size_t *size_p)
{
    size_t size = protobuf_c_message_get_packed_size (msg);
    uint8_t *data = (uint8_t *) malloc (size ? size : 1);
    if (!data)
        return NULL;
    protobuf_c_message_pack (msg, data);
    *size_p = size;
    return data;
}

void
wire_hash (const uint8_t *data, size_t size, uint8_t hash [32])
{
    crypto_generichash (hash, 32, data, size, NULL, 0);
}

//  ---------------------------------------------------------------- signatures

#define WIRE_CUSTODY_OFFER_CONTEXT   "zvh.v1.custody.offer"
#define WIRE_CUSTODY_ACCEPT_CONTEXT  "zvh.v1.custody.accept"
#define WIRE_SIGN_CONTEXT     "zvh.v1.envelope"     //  domain separation
#define WIRE_SIGN_SEED_KEY    "zvh-sign-v1"

void
wire_sign_keypair (const uint8_t curve_secret [WIRE_CURVE_SECRET_BYTES],
                   uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES],
                   uint8_t secret_key [WIRE_SIGN_SECRET_BYTES])
{
    uint8_t seed [crypto_sign_SEEDBYTES];
    crypto_generichash (seed, sizeof seed, curve_secret, WIRE_CURVE_SECRET_BYTES,
                        (const uint8_t *) WIRE_SIGN_SEED_KEY, strlen (WIRE_SIGN_SEED_KEY));
    crypto_sign_seed_keypair (public_key, secret_key, seed);
    sodium_memzero (seed, sizeof seed);
}

void
wire_hash_u64 (crypto_generichash_state *state, uint64_t value)
{
    uint8_t bytes [8];
    for (int i = 7; i >= 0; i--) {
        bytes [i] = (uint8_t) (value & 0xff);
        value >>= 8;
    }
    crypto_generichash_update (state, bytes, sizeof bytes);
}

void
wire_hash_text (crypto_generichash_state *state, const char *text)
{
    text = text ? text : "";
    wire_hash_u64 (state, strlen (text));
    crypto_generichash_update (state, (const uint8_t *) text, strlen (text));
}

//  BLAKE2b-512 of the signed fields, each length-prefixed.
void
wire_envelope_digest (const Zvh__V1__Envelope *envelope, uint8_t digest [WIRE_DIGEST_BYTES])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, WIRE_DIGEST_BYTES);
    wire_hash_text (&state, WIRE_SIGN_CONTEXT);
    wire_hash_text (&state, envelope->origin);
    wire_hash_u64 (&state, envelope->seq);
    wire_hash_u64 (&state, (uint64_t) envelope->type);
    wire_hash_u64 (&state, (uint64_t) envelope->time_ms);
    wire_hash_text (&state, envelope->case_id);
    wire_hash_u64 (&state, envelope->payload.len);
    crypto_generichash_update (&state, envelope->payload.data, envelope->payload.len);
    crypto_generichash_final (&state, digest, WIRE_DIGEST_BYTES);
}

int
wire_envelope_sign (Zvh__V1__Envelope *envelope, const uint8_t secret_key [WIRE_SIGN_SECRET_BYTES])
{
    uint8_t digest [WIRE_DIGEST_BYTES];
    wire_envelope_digest (envelope, digest);
    uint8_t *signature = (uint8_t *) malloc (WIRE_SIGNATURE_BYTES);
    if (!signature)
        return -1;
    crypto_sign_detached (signature, NULL, digest, sizeof digest, secret_key);
    envelope->signature.data = signature;
    envelope->signature.len = WIRE_SIGNATURE_BYTES;
    return 0;
}

//  BLAKE2b-512 of a custody statement, each field length-prefixed.
void
wire_custody_digest (wire_custody_t kind, const char *case_id, const char *transfer_id,
                     const char *source, const char *target,
                     uint8_t digest [WIRE_DIGEST_BYTES])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, WIRE_DIGEST_BYTES);
    wire_hash_text (&state, kind == WIRE_CUSTODY_OFFER ? WIRE_CUSTODY_OFFER_CONTEXT
                                                   : WIRE_CUSTODY_ACCEPT_CONTEXT);
    wire_hash_text (&state, case_id);
    wire_hash_text (&state, transfer_id);
    wire_hash_text (&state, source);
    wire_hash_text (&state, target);
    crypto_generichash_final (&state, digest, WIRE_DIGEST_BYTES);
}

void
wire_custody_sign (wire_custody_t kind, const char *case_id, const char *transfer_id,
                   const char *source, const char *target,
                   const uint8_t secret_key [WIRE_SIGN_SECRET_BYTES],
                   uint8_t signature [WIRE_SIGNATURE_BYTES])
{
    uint8_t digest [WIRE_DIGEST_BYTES];
    wire_custody_digest (kind, case_id, transfer_id, source, target, digest);
    crypto_sign_detached (signature, NULL, digest, sizeof digest, secret_key);
}

