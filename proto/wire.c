/*  wire: bounded protobuf-c decoding and the one encoder.
 *
 *  The budgeted allocator prefixes each block with its size so that free
 *  can return the bytes to the budget; wire_free uses the same layout with
 *  no budget, since freeing never needs one.
 */
#include "wire.h"
#include <sodium.h>
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

ProtobufCMessage *
wire_decode (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    if (!desc || (!data && size) || size > WIRE_MAX_FRAME_BYTES)
        return NULL;
    budget_t budget = { 0, WIRE_DECODE_BUDGET };
    ProtobufCAllocator allocator = { s_alloc, s_free, &budget };
    ProtobufCMessage *msg = protobuf_c_message_unpack (desc, &allocator, size, data);
    return msg;
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
