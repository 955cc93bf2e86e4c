/*  fuzz_common: the properties the harnesses check, and the config fixture.
 *
 *  libprotobuf-c is Debian's shared library, built without coverage
 *  instrumentation, so libFuzzer cannot see which paths of the decoder an
 *  input takes. To give it a sense of structure anyway, every decoded
 *  message is walked and each (field, size class) it holds bumps one of
 *  libFuzzer's "extra counters": an input that fills a new field, or a
 *  field with a new size class, counts as new coverage and is kept.
 */
#include "fuzz_common.h"
#include "authority.h"
#include "config.h"
#include "plan_json.h"
#include "proof.h"
#include "zvh/zvh_plan.h"

#include <czmq.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXTRA_COUNTERS       (64 * 1024)
#define COUNTER_SATURATED    255
#define HASH_MULTIPLIER      0x9E3779B1u    //  Knuth's multiplicative hash
#define ERR_SIZE             ZVH_PLAN_ERR_MAX
#define KEY_BYTES            32
#define Z85_KEY_CHARS        40
#define OPEN_FILES_MAX       16             //  for nftw while cleaning up
#define TEMP_TEMPLATE        "zvh-fuzz.XXXXXX"
#define SHM_DIR              "/dev/shm"     //  tmpfs on Linux
#define FIXTURE_PATH_MAX     1024
#define PRIVATE_FILE_MODE    0600           //  the store key must be private
#define TEXT_MAX             (16 * 1024)
#define SIGN_KEY_HEX         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
#define DATA_KEY_HEX         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

//  libFuzzer (Linux) treats every byte of this section as coverage. In the
//  seed generator, which has no libFuzzer, it is just an unused array.
__attribute__ ((used, section ("__libfuzzer_extra_counters")))
static uint8_t s_counters [EXTRA_COUNTERS];

void
fuzz_fail (const char *file, int line, const char *condition, const char *format, ...)
{
    fprintf (stderr, "\n==== zvh fuzz property violated at %s:%d: %s\n", file, line,
             condition);
    va_list args;
    va_start (args, format);
    vfprintf (stderr, format, args);
    va_end (args);
    fprintf (stderr, "\n");
    abort ();
}


//  --------------------------------------------------------------------------
//  Structure feedback

static uint32_t
s_log2_bucket (uint64_t value)
{
    uint32_t bucket = 0;
    while (value) {
        bucket++;
        value >>= 1;
    }
    return bucket;                      //  0 for 0, 1 for 1, 2 for 2-3, ...
}

static void
s_feature (const void *where, uint32_t what)
{
    uint32_t key = (uint32_t) ((uintptr_t) where >> 3) * HASH_MULTIPLIER
                 ^ (what * HASH_MULTIPLIER + what);
    uint8_t *counter = &s_counters [(key * HASH_MULTIPLIER) % EXTRA_COUNTERS];
    if (*counter != COUNTER_SATURATED)
        (*counter)++;
}

static size_t
s_slot_size (const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_FLOAT:
        case PROTOBUF_C_TYPE_ENUM:
            return 4;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
            return 8;
        case PROTOBUF_C_TYPE_BOOL:
            return sizeof (protobuf_c_boolean);
        case PROTOBUF_C_TYPE_STRING:
            return sizeof (char *);
        case PROTOBUF_C_TYPE_BYTES:
            return sizeof (ProtobufCBinaryData);
        case PROTOBUF_C_TYPE_MESSAGE:
            return sizeof (ProtobufCMessage *);
    }
    return 0;
}

//  A small number that tells values of one field apart by kind and size.
static uint32_t
s_value_class (const ProtobufCFieldDescriptor *field, const void *slot)
{
    switch (field->type) {
        case PROTOBUF_C_TYPE_ENUM: {
            int32_t value = *(const int32_t *) slot;
            if (protobuf_c_enum_descriptor_get_value (field->descriptor, value))
                return 1 + (uint32_t) (value & 0xff);
            return value < 0? 0x200: 0x100;
        }
        case PROTOBUF_C_TYPE_BOOL:
            return *(const protobuf_c_boolean *) slot? 1: 0;
        case PROTOBUF_C_TYPE_STRING: {
            const char *text = *(char *const *) slot;
            return text? s_log2_bucket (strlen (text)): 0x100;
        }
        case PROTOBUF_C_TYPE_BYTES:
            return s_log2_bucket (((const ProtobufCBinaryData *) slot)->len);
        case PROTOBUF_C_TYPE_MESSAGE:
            return *(ProtobufCMessage *const *) slot? 1: 0;
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32: {
            int32_t value = *(const int32_t *) slot;
            return value < 0? 0x100 + s_log2_bucket ((uint32_t) -(int64_t) value)
                            : s_log2_bucket ((uint32_t) value);
        }
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64: {
            int64_t value = *(const int64_t *) slot;
            return value < 0? 0x100 + s_log2_bucket (~(uint64_t) value)
                            : s_log2_bucket ((uint64_t) value);
        }
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_FLOAT:
            return s_log2_bucket (*(const uint32_t *) slot);
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
            return s_log2_bucket (*(const uint64_t *) slot);
    }
    return 0;
}

//  True when the field holds a value in message (oneof and optional
//  scalars say so in their quantifier; the rest always do).
static bool
s_field_present (const ProtobufCMessage *message, const ProtobufCFieldDescriptor *field)
{
    const char *base = (const char *) message;
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *) (base + field->quantifier_offset) == field->id;
    if (field->label == PROTOBUF_C_LABEL_OPTIONAL
    &&  field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE)
        return *(const protobuf_c_boolean *) (base + field->quantifier_offset);
    return true;
}

//  Calls visit on every value of every present field, repeated or not.
typedef void (value_visit_fn) (const ProtobufCFieldDescriptor *field, const void *slot,
                               size_t index, void *arg);

static void
s_for_each_value (const ProtobufCMessage *message, value_visit_fn *visit, void *arg)
{
    const ProtobufCMessageDescriptor *desc = message->descriptor;
    const char *base = (const char *) message;
    for (unsigned index = 0; index < desc->n_fields; index++) {
        const ProtobufCFieldDescriptor *field = &desc->fields [index];
        if (!s_field_present (message, field))
            continue;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *) (base + field->quantifier_offset);
            const char *array = *(char *const *) (base + field->offset);
            for (size_t item = 0; item < count; item++)
                visit (field, array + item * s_slot_size (field), item, arg);
        }
        else
            visit (field, base + field->offset, 0, arg);
    }
}

static void s_structure_features (const ProtobufCMessage *message, uint32_t depth);

static void
s_value_feature (const ProtobufCFieldDescriptor *field, const void *slot, size_t index,
                 void *arg)
{
    uint32_t depth = *(const uint32_t *) arg;
    uint32_t position = s_log2_bucket (index);
    s_feature (field, (depth << 16) | (position << 10) | s_value_class (field, slot));
    if (field->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage *const *) slot)
        s_structure_features (*(ProtobufCMessage *const *) slot, depth + 1);
}

static void
s_structure_features (const ProtobufCMessage *message, uint32_t depth)
{
    s_feature (message->descriptor, depth);
    for (unsigned index = 0; index < message->n_unknown_fields; index++) {
        const ProtobufCMessageUnknownField *unknown = &message->unknown_fields [index];
        s_feature (message->descriptor, 0x10000 | (s_log2_bucket (unknown->tag) << 4)
                                        | unknown->wire_type);
    }
    s_for_each_value (message, s_value_feature, &depth);
}

static void
s_find_unknown (const ProtobufCFieldDescriptor *field, const void *slot, size_t index,
                void *arg)
{
    (void) index;
    const ProtobufCMessage *child = field->type == PROTOBUF_C_TYPE_MESSAGE
                                  ? *(ProtobufCMessage *const *) slot: NULL;
    if (!child)
        return;
    if (child->n_unknown_fields)
        *(bool *) arg = true;
    else
        s_for_each_value (child, s_find_unknown, arg);
}

//  True when the message or any message inside it kept unknown fields.
static bool
s_has_unknown_fields (const ProtobufCMessage *message)
{
    bool found = message->n_unknown_fields > 0;
    if (!found)
        s_for_each_value (message, s_find_unknown, &found);
    return found;
}


//  --------------------------------------------------------------------------
//  Wire

const ProtobufCMessageDescriptor *const fuzz_wire_types [] = {
    &zvh__v1__link_frame__descriptor,           //  federation, first frame
    &zvh__v1__envelope__descriptor,             //  federation, second frame
    &zvh__v1__transfer_offer__descriptor,       //  envelope payloads
    &zvh__v1__transfer_accept__descriptor,
    &zvh__v1__transfer_reject__descriptor,
    &zvh__v1__transfer_complete__descriptor,
    &zvh__v1__plan_update__descriptor,
    &zvh__v1__plan_proposal__descriptor,
    &zvh__v1__signal_raise__descriptor,
    &zvh__v1__signal_event__descriptor,
    &zvh__v1__sub_frame__descriptor,            //  partner links, both ways
    &zvh__v1__control_request__descriptor,      //  control socket
    &zvh__v1__control_reply__descriptor,        //  read by libzvh
    &zvh__v1__plan__descriptor,                 //  in offers, updates, requests
    &zvh__v1__signal_view__descriptor,          //  from the signal log
    &zvh__v1__case__descriptor,                 //  from the store
    &zvh__v1__inclusion__descriptor,            //  from the store
    &zvh__v1__audit_record__descriptor,         //  from the store, in audit exports
    &zvh__v1__custody_chain__descriptor,        //  in offers and case records
};
const size_t fuzz_wire_type_count = sizeof (fuzz_wire_types) / sizeof (fuzz_wire_types [0]);

int
fuzz_wire_type_index (const ProtobufCMessageDescriptor *desc)
{
    for (size_t index = 0; index < fuzz_wire_type_count; index++)
        if (fuzz_wire_types [index] == desc)
            return (int) index;
    return -1;
}

//  How an envelope's type names its payload (daemon/transfer.c, crisis.c).
static const ProtobufCMessageDescriptor *
s_payload_type (const Zvh__V1__Envelope *envelope)
{
    switch (envelope->type) {
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER:
            return &zvh__v1__transfer_offer__descriptor;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT:
            return &zvh__v1__transfer_accept__descriptor;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT:
            return &zvh__v1__transfer_reject__descriptor;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_COMPLETE:
            return &zvh__v1__transfer_complete__descriptor;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE:
            return &zvh__v1__plan_update__descriptor;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL:
            return &zvh__v1__plan_proposal__descriptor;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE:
            return &zvh__v1__signal_raise__descriptor;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_EVENT:
            return &zvh__v1__signal_event__descriptor;
        default:
            return NULL;
    }
}

//  Decodes data as desc and checks that the message re-encodes to bytes
//  that decode again and encode to the same bytes. Returns the message
//  (caller frees with wire_free), or NULL when data does not decode.
static ProtobufCMessage *
s_decode_round_trip (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    ProtobufCMessage *message = wire_decode (desc, data, size);
    if (!message)
        return NULL;
    FUZZ_CHECK (size <= WIRE_MAX_FRAME_BYTES, "%s: %zu bytes decoded, over the frame limit",
                desc->name, size);
    FUZZ_CHECK (message->descriptor == desc, "decoded as %s, asked for %s",
                message->descriptor->name, desc->name);
    FUZZ_CHECK (protobuf_c_message_check (message),
                "%s: decoded message fails protobuf_c_message_check", desc->name);
    s_structure_features (message, 0);

    size_t first_size = 0;
    uint8_t *first = wire_encode (message, &first_size);
    FUZZ_CHECK (first, "%s: wire_encode failed", desc->name);
    FUZZ_CHECK (first_size == protobuf_c_message_get_packed_size (message),
                "%s: wire_encode wrote %zu bytes, packed size says %zu", desc->name,
                first_size, protobuf_c_message_get_packed_size (message));
    //  A canonical encoding can be longer than the input (a negative enum
    //  takes 10 bytes, an input may carry it in 5): past the frame limit it
    //  could not be sent anyway
    if (first_size <= WIRE_MAX_FRAME_BYTES) {
        ProtobufCMessage *again = wire_decode (desc, first, first_size);
        FUZZ_CHECK (again, "%s: the re-encoding (%zu bytes) of a decoded message does "
                    "not decode", desc->name, first_size);
        size_t second_size = 0;
        uint8_t *second = wire_encode (again, &second_size);
        FUZZ_CHECK (second, "%s: wire_encode failed", desc->name);
        FUZZ_CHECK (second_size == first_size && memcmp (first, second, first_size) == 0,
                    "%s: encode (decode (encode (decode (x)))) differs from "
                    "encode (decode (x)): %zu vs %zu bytes", desc->name, second_size,
                    first_size);
        free (second);
        wire_free (again);
    }
    free (first);
    return message;
}

static void s_plan_checks (const uint8_t *data, size_t size, const ProtobufCMessage *plan);

//  The directory the authority checks read: two regions with a sign_key.
//  Made once per process (a harness's fixture, not daemon state).
static const config_t *
s_authority_config (void)
{
    static config_t *config = NULL;
    if (!config) {
        config = (config_t *) calloc (1, sizeof (config_t));
        FUZZ_CHECK (config, "out of memory");
        snprintf (config->region, sizeof config->region, "groningen");
        const char *ids [] = { "groningen", "drenthe" };
        for (size_t i = 0; i < 2; i++) {
            config_region_t *region = &config->regions [config->region_count++];
            snprintf (region->id, sizeof region->id, "%s", ids [i]);
            snprintf (region->sign_key, sizeof region->sign_key, SIGN_KEY_HEX);
        }
    }
    return config;
}

//  An inbound envelope read by authority_read (every decoder and signature
//  check it runs) and judged by the table against each kind of case record;
//  a malformed event gets a reason, never a crash.
static void
s_authority_checks (const Zvh__V1__Envelope *envelope)
{
    const config_t *config = s_authority_config ();
    //  Read twice with remembered signatures (the second read answered from
    //  them) and once without: the three must read the same facts
    sigcache_t *verified = sigcache_new (16);
    FUZZ_CHECK (verified, "no memory for a signature cache");
    const char *unsigned_why = authority_signature_error (config, NULL, envelope);
    for (int pass = 0; pass < 2; pass++)
        FUZZ_CHECK (!authority_signature_error (config, verified, envelope) == !unsigned_why,
                    "a remembered signature changed the envelope check");
    const char *senders [] = { "groningen", "drenthe" };
    for (size_t i = 0; i < 2; i++) {
        authority_event_t event, remembered;
        const char *why = authority_read (config, NULL, envelope, senders [i], i == 1, &event);
        for (int pass = 0; pass < 2; pass++) {
            const char *again = authority_read (config, verified, envelope, senders [i],
                                                i == 1, &remembered);
            FUZZ_CHECK (!again == !why && (why || !memcmp (&event, &remembered, sizeof event)),
                        "a remembered signature changed what authority_read read");
        }
        if (why) {
            FUZZ_CHECK (*why, "authority_read refused with an empty reason");
            continue;
        }
        FUZZ_CHECK (authority_id_valid (event.origin), "an invalid origin was read as valid");
        authority_case_t cases [] = {
            { false, 0, NULL, NULL, NULL, NULL },
            { true, ZVH__V1__CASE_STATE__CASE_ACTIVE, "groningen", "", "", NULL },
            { true, ZVH__V1__CASE_STATE__CASE_OFFERED, "groningen", "drenthe", event.transfer_id, NULL },
            { true, ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE, "drenthe", "drenthe", event.transfer_id, NULL },
            { true, ZVH__V1__CASE_STATE__CASE_TOMBSTONE, "drenthe", "drenthe", "t-1", NULL },
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++)
            (void) authority_decide (&event, &cases [c]);
    }
    sigcache_destroy (&verified);
}

//  A view as libzvh checks it (PROTOCOL 8.3): any bytes may come from a
//  daemon; one without a proof never verifies.
static void
s_view_checks (const Zvh__V1__SignalView *view)
{
    uint8_t key [WIRE_SIGN_PUBLIC_BYTES];
    FUZZ_CHECK (sodium_hex2bin (key, sizeof key, SIGN_KEY_HEX, strlen (SIGN_KEY_HEX),
                                NULL, NULL, NULL) == 0, "SIGN_KEY_HEX is not hex");
    int rc = proof_verify_view (view, key);
    FUZZ_CHECK (view->proof || rc != 0, "a view without a proof verified");
}

//  The bytes fields that the daemon decodes in their turn.
static void
s_nested_checks (const ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *desc = message->descriptor;
    if (desc == &zvh__v1__signal_view__descriptor)
        s_view_checks ((const Zvh__V1__SignalView *) message);
    if (desc == &zvh__v1__sub_frame__descriptor && ((const Zvh__V1__SubFrame *) message)->view)
        s_view_checks (((const Zvh__V1__SubFrame *) message)->view);
    if (desc == &zvh__v1__envelope__descriptor) {
        const Zvh__V1__Envelope *envelope = (const Zvh__V1__Envelope *) message;
        const ProtobufCMessageDescriptor *payload = s_payload_type (envelope);
        if (payload)
            fuzz_wire_check (payload, envelope->payload.data, envelope->payload.len);
        s_authority_checks (envelope);
        return;
    }
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name (desc, "plan");
    if (field && field->type == PROTOBUF_C_TYPE_BYTES
    &&  field->label != PROTOBUF_C_LABEL_REPEATED) {
        const ProtobufCBinaryData *plan =
            (const ProtobufCBinaryData *) ((const char *) message + field->offset);
        fuzz_plan_bytes_check (plan->data, plan->len);
    }
}

void
fuzz_wire_check (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    ProtobufCMessage *message = s_decode_round_trip (desc, data, size);
    if (desc == &zvh__v1__plan__descriptor)
        s_plan_checks (data, size, message);
    else
    if (message)
        s_nested_checks (message);
    wire_free (message);
}


//  --------------------------------------------------------------------------
//  Plans

//  The JSON of a plan that validates parses back, to the plan's canonical
//  bytes, and those render to the same JSON.
static void
s_plan_json_round_trip (const char *json, const ProtobufCMessage *plan)
{
    char err [ERR_SIZE];
    uint8_t *bytes = NULL;
    size_t size = 0;
    int rc = zvh_plan_from_json (json, &bytes, &size, err, sizeof err);
    FUZZ_CHECK (rc == 0, "the plan validates, but its own JSON does not parse back: "
                "%s\n%s", err, json);
    FUZZ_CHECK (zvh_plan_validate (bytes, size, err, sizeof err) == 0,
                "the bytes parsed from a valid plan's JSON do not validate: %s", err);
    //  JSON carries every field this version knows: without unknown fields
    //  the plan comes back exactly as protobuf-c encodes it
    if (!s_has_unknown_fields (plan)) {
        size_t canonical_size = 0;
        uint8_t *canonical = wire_encode (plan, &canonical_size);
        FUZZ_CHECK (canonical, "wire_encode failed");
        FUZZ_CHECK (canonical_size == size && memcmp (canonical, bytes, size) == 0,
                    "plan -> JSON -> plan changed the bytes (%zu -> %zu):\n%s",
                    canonical_size, size, json);
        free (canonical);
    }
    char *again = zvh_plan_to_json (bytes, size, err, sizeof err);
    FUZZ_CHECK (again, "plan bytes made from JSON do not render: %s", err);
    FUZZ_CHECK (strcmp (json, again) == 0, "JSON -> plan -> JSON is not a fixed point:\n"
                "%s\n----\n%s", json, again);
    free (again);
    free (bytes);
}

//  plan is data decoded by wire_decode, or NULL when it did not decode.
static void
s_plan_checks (const uint8_t *data, size_t size, const ProtobufCMessage *plan)
{
    char validate_err [ERR_SIZE];
    char render_err [ERR_SIZE];
    int valid = zvh_plan_validate (data, size, validate_err, sizeof validate_err);
    char *json = zvh_plan_to_json (data, size, render_err, sizeof render_err);
    FUZZ_CHECK (valid == 0 || valid == -1, "zvh_plan_validate returned %d", valid);
    FUZZ_CHECK (valid == 0 || *validate_err, "zvh_plan_validate refused without a message");
    FUZZ_CHECK (json || *render_err, "zvh_plan_to_json refused without a message");
    if (!plan || size > WIRE_MAX_PLAN_BYTES) {
        FUZZ_CHECK (valid != 0 && !json, "bytes that are not a plan (%zu bytes) %s",
                    size, valid == 0? "validate": "render");
        return;
    }
    FUZZ_CHECK (valid != 0 || json, "the plan validates but does not render: %s",
                render_err);
    //  The fast check and the rendering agree, both ways (a fast check that
    //  refuses more would only be slower; one that passes more, wrong)
    bool rendered = plan_validate_rendered (data, size, NULL, 0) == 0;
    FUZZ_CHECK (plan_check ((const Zvh__V1__Plan *) plan) == rendered,
                "plan_check says %s, rendering says %s",
                rendered ? "invalid" : "valid", rendered ? "valid" : "invalid");
    FUZZ_CHECK (rendered == (valid == 0), "zvh_plan_validate and the rendering disagree");
    if (json) {
        //  validate is "renders, and the rendering parses": the two agree
        char err [ERR_SIZE];
        uint8_t *bytes = NULL;
        size_t bytes_size = 0;
        int parsed = zvh_plan_from_json (json, &bytes, &bytes_size, err, sizeof err);
        FUZZ_CHECK ((parsed == 0) == (valid == 0), "zvh_plan_validate says %s (%s) but "
                    "zvh_plan_from_json of its JSON says %s (%s)",
                    valid == 0? "valid": "invalid", validate_err,
                    parsed == 0? "valid": "invalid", err);
        free (bytes);
        if (valid == 0)
            s_plan_json_round_trip (json, plan);
    }
    free (json);
}

void
fuzz_plan_bytes_check (const uint8_t *data, size_t size)
{
    ProtobufCMessage *plan = s_decode_round_trip (&zvh__v1__plan__descriptor, data, size);
    s_plan_checks (data, size, plan);
    wire_free (plan);
}


//  --------------------------------------------------------------------------
//  Config fixture

static void
s_key_pair (const char *name, uint8_t public_key [KEY_BYTES], uint8_t secret_key [KEY_BYTES])
{
    //  A fixed secret per name: the same keys in every run, so that an
    //  input naming a key reproduces
    char seed [FIXTURE_PATH_MAX];
    snprintf (seed, sizeof seed, "zvh-fuzz-key:%s", name);
    crypto_generichash (secret_key, KEY_BYTES, (const uint8_t *) seed, strlen (seed), NULL, 0);
    int rc = crypto_scalarmult_base (public_key, secret_key);
    FUZZ_CHECK (rc == 0, "crypto_scalarmult_base failed");
}

void
fuzz_public_key (const char *name, char public_txt [Z85_KEY_CHARS + 1])
{
    uint8_t public_key [KEY_BYTES], secret_key [KEY_BYTES];
    s_key_pair (name, public_key, secret_key);
    FUZZ_CHECK (zmq_z85_encode (public_txt, public_key, KEY_BYTES), "zmq_z85_encode failed");
}

static void __attribute__ ((format (printf, 2, 3)))
s_appendf (char *text, const char *format, ...)
{
    size_t used = strlen (text);
    va_list args;
    va_start (args, format);
    int written = vsnprintf (text + used, TEXT_MAX - used, format, args);
    va_end (args);
    FUZZ_CHECK (written >= 0 && (size_t) written < TEXT_MAX - used, "fixture text too long");
}

static char *
s_text_new (void)
{
    char *text = (char *) calloc (1, TEXT_MAX);
    FUZZ_CHECK (text, "out of memory");
    return text;
}

char *
fuzz_daemon_text (const char *secret_key, const char *directory, const char *partners,
                  const char *data_key, const char *revoked)
{
    char *text = s_text_new ();
    s_appendf (text, "#   zvhd fuzz fixture\n"
                     "zvhd\n"
                     "    region = " FUZZ_OWN_REGION "\n"
                     "    data_dir = data/" FUZZ_OWN_REGION "\n"
                     "    bind = tcp://127.0.0.1:7101\n"
                     "    secret_key = %s\n"
                     "    directory = %s\n", secret_key, directory);
    if (partners)
        s_appendf (text, "    subscribe_bind = tcp://127.0.0.1:7201\n"
                         "    partners = %s\n", partners);
    if (data_key)
        s_appendf (text, "    data_key = %s\n", data_key);
    if (revoked)
        s_appendf (text, "    revoked = %s\n", revoked);
    return text;
}

char *
fuzz_directory_text (void)
{
    static const char *const regions [][3] = {
        //  id, name, endpoint ("" = placeholder)
        { "groningen", "Zorg- en Veiligheidshuis Groningen", "tcp://127.0.0.1:7101" },
        { "fryslan", "Zorg- en Veiligheidshuis Frysl\xc3\xa2n", "tcp://127.0.0.1:7102" },
        { "drenthe", "Zorg- en Veiligheidshuis Drenthe", "" },
        { "utrecht", "Zorg- en Veiligheidshuis Regio Utrecht", "ipc:///tmp/zvh-utrecht" },
    };
    char *text = s_text_new ();
    s_appendf (text, "directory\n");
    for (size_t index = 0; index < sizeof regions / sizeof regions [0]; index++) {
        char key [Z85_KEY_CHARS + 1] = "";
        if (*regions [index][2])
            fuzz_public_key (regions [index][0], key);
        s_appendf (text, "    %s\n"
                         "        name = \"%s\"\n"
                         "        endpoint = \"%s\"\n"
                         "        public_key = \"%s\"\n",
                   regions [index][0], regions [index][1], regions [index][2], key);
        //  A federated region needs one (a placeholder may have it too)
        if (*regions [index][2] || index == 2)
            s_appendf (text, "        sign_key = \"%s\"\n", SIGN_KEY_HEX);
    }
    return text;
}

#define POLICE_VIEW "seq,type,event_id,region,national,kind,urgency,severity,certainty," \
                    "time_ms,partner_ref,actions,coordinator_contact,previous_region"

char *
fuzz_partners_text (void)
{
    static const char *const partners [][4] = {
        //  id, role, regions, cases
        { "politie-noord", "police", "groningen,fryslan", "" },
        { "ggz-crisisdienst-noord", "crisis_service", "groningen", "ZVH-2024-0117,ZVH.2024_0342" },
        { "reclassering", "probation", "*", "" },
        { "operators-groningen", "operator", "", "GRN-2024-017" },
    };
    char *text = s_text_new ();
    s_appendf (text, "partners\n");
    for (size_t index = 0; index < sizeof partners / sizeof partners [0]; index++) {
        char key [Z85_KEY_CHARS + 1];
        fuzz_public_key (partners [index][0], key);
        s_appendf (text, "    %s\n"
                         "        role = %s\n"
                         "        public_key = \"%s\"\n",
                   partners [index][0], partners [index][1], key);
        if (*partners [index][2])
            s_appendf (text, "        regions = \"%s\"\n", partners [index][2]);
        if (*partners [index][3])
            s_appendf (text, "        cases = \"%s\"\n", partners [index][3]);
        if (index == 0) {
            //  A key rotation under way
            fuzz_public_key ("politie-noord-next", key);
            s_appendf (text, "        public_key_next = \"%s\"\n", key);
        }
    }
    s_appendf (text, "views\n"
                     "    police = \"" POLICE_VIEW "\"\n"
                     "    crisis_service = \"" POLICE_VIEW ",text\"\n"
                     "    probation = \"seq, type, event_id, kind\"\n"
                     "    operator = \"seq,type,event_id,case_id,text,raised_by,"
                     "raised_role,review_date\"\n");
    return text;
}

char *
fuzz_data_key_text (void)
{
    char *text = s_text_new ();
    s_appendf (text, "%s\n", DATA_KEY_HEX);
    return text;
}

char *
fuzz_revoked_text (void)
{
    char key [Z85_KEY_CHARS + 1];
    char *text = s_text_new ();
    s_appendf (text, "# keys revoked by the fuzz fixture\n");
    fuzz_public_key ("stolen-laptop", key);
    s_appendf (text, "\"%s\"\n", key);
    fuzz_public_key ("old-operator", key);
    s_appendf (text, "  %s   # left in March\n", key);
    return text;
}

static char s_fixture [FIXTURE_PATH_MAX];

static int
s_remove_entry (const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
    (void) info, (void) flag, (void) ftw;
    return remove (path);
}

static void
s_fixture_remove (void)
{
    if (*s_fixture)
        nftw (s_fixture, s_remove_entry, OPEN_FILES_MAX, FTW_DEPTH | FTW_PHYS);
}

static void
s_write_file (const char *path, const void *data, size_t size)
{
    int handle = open (path, O_WRONLY | O_CREAT | O_TRUNC, PRIVATE_FILE_MODE);
    FILE *file = handle >= 0? fdopen (handle, "wb"): NULL;
    FUZZ_CHECK (file, "cannot write %s", path);
    FUZZ_CHECK (fwrite (data, 1, size, file) == size, "cannot write %s", path);
    FUZZ_CHECK (fclose (file) == 0, "cannot write %s", path);
}

static void
s_write_text (const char *name, char *text)
{
    fuzz_fixture_write (name, text, strlen (text));
    free (text);
}

const char *
fuzz_fixture_dir (void)
{
    if (*s_fixture)
        return s_fixture;
    //  Each input rewrites a file: on a disk file system (ext4 with discard)
    //  the truncation waits for the disk, so memory is the default
    const char *tmp = getenv ("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access (SHM_DIR, W_OK | X_OK) == 0? SHM_DIR: "/tmp";
    snprintf (s_fixture, sizeof s_fixture, "%s/" TEMP_TEMPLATE, tmp);
    FUZZ_CHECK (mkdtemp (s_fixture), "cannot make a temp directory %s", s_fixture);
    atexit (s_fixture_remove);
    //  realpath: config_load resolves the file's directory
    char *resolved = realpath (s_fixture, NULL);
    FUZZ_CHECK (resolved && strlen (resolved) < sizeof s_fixture, "realpath failed");
    strcpy (s_fixture, resolved);
    free (resolved);

    char path [FIXTURE_PATH_MAX];
    snprintf (path, sizeof path, "%s/keys", s_fixture);
    FUZZ_CHECK (mkdir (path, 0700) == 0, "cannot make %s", path);
    uint8_t public_key [KEY_BYTES], secret_key [KEY_BYTES];
    s_key_pair (FUZZ_OWN_REGION, public_key, secret_key);
    zcert_t *cert = zcert_new_from (public_key, secret_key);
    FUZZ_CHECK (cert, "zcert_new_from failed");
    snprintf (path, sizeof path, "%s/" FUZZ_PUBLIC_FILE, s_fixture);
    FUZZ_CHECK (zcert_save (cert, path) == 0, "cannot save the zcert %s", path);
    zcert_destroy (&cert);

    s_write_text (FUZZ_DIRECTORY_FILE, fuzz_directory_text ());
    s_write_text (FUZZ_PARTNERS_FILE, fuzz_partners_text ());
    s_write_text (FUZZ_DATA_KEY_FILE, fuzz_data_key_text ());
    s_write_text (FUZZ_REVOKED_FILE, fuzz_revoked_text ());
    s_write_text (FUZZ_DAEMON_FILE, fuzz_daemon_text (FUZZ_SECRET_FILE, FUZZ_DIRECTORY_FILE,
                                                      FUZZ_PARTNERS_FILE, FUZZ_DATA_KEY_FILE,
                                                      FUZZ_REVOKED_FILE));
    return s_fixture;
}

char *
fuzz_secret_key_text (void)
{
    char path [FIXTURE_PATH_MAX];
    snprintf (path, sizeof path, "%s/" FUZZ_SECRET_FILE, fuzz_fixture_dir ());
    FILE *file = fopen (path, "rb");
    FUZZ_CHECK (file, "cannot read %s", path);
    char *text = s_text_new ();
    size_t size = fread (text, 1, TEXT_MAX - 1, file);
    fclose (file);
    text [size] = '\0';
    return text;
}

const char *
fuzz_fixture_write (const char *name, const void *data, size_t size)
{
    static char path [FIXTURE_PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", fuzz_fixture_dir (), name);
    s_write_file (path, data, size);
    return path;
}


//  --------------------------------------------------------------------------
//  Config promises

#define CHECK_STRING(buffer) \
    FUZZ_CHECK (memchr ((buffer), '\0', sizeof (buffer)), #buffer " is not terminated")
#define CHECK_RANGE(value, min, max) \
    FUZZ_CHECK ((int64_t) (value) >= (int64_t) (min) && (int64_t) (value) <= (int64_t) (max), \
                #value " = %lld is outside [%lld, %lld]", (long long) (value), \
                (long long) (min), (long long) (max))
#define TCP_SCHEME "tcp://"
#define IPC_SCHEME "ipc://"

static bool
s_starts_with (const char *text, const char *prefix)
{
    return strncmp (text, prefix, strlen (prefix)) == 0;
}

static void
s_check_regions (const config_t *config)
{
    FUZZ_CHECK (config->region_count <= CONFIG_REGIONS_MAX, "%zu regions", config->region_count);
    for (size_t index = 0; index < config->region_count; index++) {
        const config_region_t *region = &config->regions [index];
        CHECK_STRING (region->id);
        CHECK_STRING (region->name);
        CHECK_STRING (region->endpoint);
        CHECK_STRING (region->public_key);
        FUZZ_CHECK (*region->id, "region %zu has no id", index);
        FUZZ_CHECK (config_region (config, region->id) == region, "region '%s' is listed "
                    "twice", region->id);
        FUZZ_CHECK (!*region->endpoint == !*region->public_key, "region '%s' is half "
                    "federated", region->id);
        CHECK_STRING (region->sign_key);
        FUZZ_CHECK (!*region->public_key || strlen (region->public_key) == Z85_KEY_CHARS,
                    "region '%s' has key '%s'", region->id, region->public_key);
        FUZZ_CHECK (!*region->sign_key || strlen (region->sign_key) == CONFIG_SIGN_KEY_HEX_LEN,
                    "region '%s' has sign_key '%s'", region->id, region->sign_key);
        FUZZ_CHECK (config_region_by_key (config, region->public_key) == NULL
                    || config_region_by_key (config, region->public_key) == region,
                    "region '%s' shares its key", region->id);
    }
    const config_region_t *own = config_region (config, config->region);
    FUZZ_CHECK (own && config_region_is_federated (own), "own region '%s' %s",
                config->region, own? "is a placeholder": "is not in the directory");
}

static void
s_check_partners (const config_t *config)
{
    FUZZ_CHECK (config->view_count <= CONFIG_VIEWS_MAX, "%zu views", config->view_count);
    for (size_t index = 0; index < config->view_count; index++) {
        const config_view_t *view = &config->views [index];
        CHECK_STRING (view->role);
        FUZZ_CHECK (*view->role && config_view (config, view->role) == view,
                    "view %zu ('%s') is unnamed or listed twice", index, view->role);
        FUZZ_CHECK (view->field_count <= CONFIG_VIEW_FIELDS_MAX, "view '%s' has %zu fields",
                    view->role, view->field_count);
        for (size_t field = 0; field < view->field_count; field++)
            CHECK_STRING (view->fields [field]);
        FUZZ_CHECK (config_view_has (view, "seq") && config_view_has (view, "type")
                    && config_view_has (view, "event_id"),
                    "view '%s' lacks seq, type or event_id", view->role);
    }
    FUZZ_CHECK (config->partner_count <= CONFIG_PARTNERS_MAX, "%zu partners",
                config->partner_count);
    FUZZ_CHECK (config->partner_count == 0 || *config->partners_file,
                "partners without a partners file");
    for (size_t index = 0; index < config->partner_count; index++) {
        const config_partner_t *partner = &config->partners [index];
        CHECK_STRING (partner->id);
        CHECK_STRING (partner->role);
        CHECK_STRING (partner->public_key);
        FUZZ_CHECK (*partner->id, "partner %zu has no id", index);
        FUZZ_CHECK (*partner->role && strcmp (partner->role, "region") != 0
                    && config_view (config, partner->role),
                    "partner '%s' has role '%s' without a view", partner->id, partner->role);
        CHECK_STRING (partner->public_key_next);
        //  Lookups by key skip revoked keys; every other key finds its owner
        FUZZ_CHECK (strlen (partner->public_key) == Z85_KEY_CHARS
                    && (config_is_revoked (config, partner->public_key)
                        || config_partner_by_key (config, partner->public_key) == partner)
                    && !config_region_by_key (config, partner->public_key),
                    "partner '%s' has key '%s': missing, shared or a region's",
                    partner->id, partner->public_key);
        FUZZ_CHECK (!*partner->public_key_next
                    || (strlen (partner->public_key_next) == Z85_KEY_CHARS
                        && (config_is_revoked (config, partner->public_key_next)
                            || config_partner_by_key (config, partner->public_key_next) == partner)
                        && !config_region_by_key (config, partner->public_key_next)),
                    "partner '%s' has next key '%s', which finds partner '%s'",
                    partner->id, partner->public_key_next,
                    config_partner_by_key (config, partner->public_key_next)
                    ? config_partner_by_key (config, partner->public_key_next)->id: "(none)");
        for (size_t other = 0; other < index; other++)
            FUZZ_CHECK (strcmp (config->partners [other].id, partner->id) != 0,
                        "partner '%s' is listed twice", partner->id);
        FUZZ_CHECK (partner->region_count <= CONFIG_COVER_MAX
                    && partner->case_count <= CONFIG_COVER_MAX,
                    "partner '%s' covers %zu regions, %zu cases", partner->id,
                    partner->region_count, partner->case_count);
        FUZZ_CHECK (partner->all_regions || partner->region_count || partner->case_count,
                    "partner '%s' covers nothing", partner->id);
        FUZZ_CHECK (!partner->all_regions || partner->region_count == 0,
                    "partner '%s' covers all regions and a list", partner->id);
        for (size_t item = 0; item < partner->region_count; item++) {
            CHECK_STRING (partner->regions [item]);
            FUZZ_CHECK (config_region (config, partner->regions [item]),
                        "partner '%s' covers '%s', not in the directory", partner->id,
                        partner->regions [item]);
        }
        for (size_t item = 0; item < partner->case_count; item++) {
            CHECK_STRING (partner->cases [item]);
            FUZZ_CHECK (*partner->cases [item], "partner '%s' has an empty case", partner->id);
        }
    }
}

static void
s_check_config (const config_t *config)
{
    CHECK_STRING (config->region);
    CHECK_STRING (config->data_dir);
    CHECK_STRING (config->bind);
    CHECK_STRING (config->control);
    CHECK_STRING (config->secret_key);
    CHECK_STRING (config->directory);
    CHECK_STRING (config->subscribe_bind);
    CHECK_STRING (config->partners_file);
    CHECK_STRING (config->data_key);
    CHECK_STRING (config->revoked_file);
    FUZZ_CHECK (!*config->data_key || *config->data_key == '/',
                "data_key path not absolute: '%s'", config->data_key);
    FUZZ_CHECK (config->revoked_count <= CONFIG_REVOKED_MAX, "%zu revoked keys",
                config->revoked_count);
    for (size_t index = 0; index < config->revoked_count; index++) {
        CHECK_STRING (config->revoked [index]);
        FUZZ_CHECK (strlen (config->revoked [index]) == Z85_KEY_CHARS
                    && config_is_revoked (config, config->revoked [index]),
                    "revoked key '%s'", config->revoked [index]);
    }
    FUZZ_CHECK (*config->data_dir == '/' && *config->secret_key == '/'
                && *config->directory == '/', "paths not absolute: '%s' '%s' '%s'",
                config->data_dir, config->secret_key, config->directory);
    FUZZ_CHECK (!*config->partners_file || *config->partners_file == '/',
                "partners path not absolute: '%s'", config->partners_file);
    FUZZ_CHECK (s_starts_with (config->bind, TCP_SCHEME), "bind '%s'", config->bind);
    FUZZ_CHECK (s_starts_with (config->control, TCP_SCHEME)
                || s_starts_with (config->control, IPC_SCHEME),
                "control '%s'", config->control);
    FUZZ_CHECK (!*config->subscribe_bind || s_starts_with (config->subscribe_bind, TCP_SCHEME),
                "subscribe_bind '%s'", config->subscribe_bind);
    FUZZ_CHECK (!*config->subscribe_bind == !*config->partners_file,
                "subscribe_bind '%s' without partners '%s' or the other way round",
                config->subscribe_bind, config->partners_file);
    CHECK_RANGE (config->map_size_mb, CONFIG_MAP_MB_MIN, CONFIG_MAP_MB_MAX);
    CHECK_RANGE (config->map_max_mb, CONFIG_MAP_MB_MIN, CONFIG_MAP_MB_MAX);
    CHECK_RANGE (config->joint_phase_s, CONFIG_JOINT_PHASE_S_MIN, CONFIG_JOINT_PHASE_S_MAX);
    CHECK_RANGE (config->heartbeat_ms, CONFIG_HEARTBEAT_MS_MIN, CONFIG_HEARTBEAT_MS_MAX);
    CHECK_RANGE (config->peer_timeout_ms, CONFIG_PEER_TIMEOUT_MS_MIN,
                 CONFIG_PEER_TIMEOUT_MS_MAX);
    CHECK_RANGE (config->retry_min_ms, CONFIG_RETRY_MS_MIN, CONFIG_RETRY_MS_MAX);
    CHECK_RANGE (config->retry_max_ms, CONFIG_RETRY_MS_MIN, CONFIG_RETRY_MS_MAX);
    CHECK_RANGE (config->window, CONFIG_WINDOW_MIN, CONFIG_WINDOW_MAX);
    CHECK_RANGE (config->retention_days, CONFIG_RETENTION_DAYS_MIN, CONFIG_RETENTION_DAYS_MAX);
    CHECK_RANGE (config->review_check_s, CONFIG_REVIEW_CHECK_S_MIN, CONFIG_REVIEW_CHECK_S_MAX);
    CHECK_RANGE (config->credit_max, CONFIG_CREDIT_MAX_MIN, CONFIG_CREDIT_MAX_MAX);
    FUZZ_CHECK (config->retry_min_ms <= config->retry_max_ms, "retry_min_ms > retry_max_ms");
    FUZZ_CHECK (config->peer_timeout_ms > config->heartbeat_ms,
                "peer_timeout_ms <= heartbeat_ms");
    FUZZ_CHECK (config->map_size_mb <= config->map_max_mb, "map_size_mb > map_max_mb");
    s_check_regions (config);
    s_check_partners (config);
}

bool
fuzz_config_check (const char *path, bool autofree)
{
    zlist_t *errors = zlist_new ();
    FUZZ_CHECK (errors, "out of memory");
    if (autofree)
        zlist_autofree (errors);
    config_t *config = config_load (path, errors);
    bool loaded = config != NULL;
    if (config) {
        FUZZ_CHECK (zlist_size (errors) == 0, "loaded, with %zu errors, the first: %s",
                    zlist_size (errors), (char *) zlist_first (errors));
        s_check_config (config);
        config_destroy (&config);
    }
    else
        FUZZ_CHECK (zlist_size (errors) > 0, "config_load refused without saying why");
    for (char *error = (char *) zlist_first (errors); error;
         error = (char *) zlist_next (errors))
        FUZZ_CHECK (*error, "an empty error message");
    if (!autofree)
        for (char *error = (char *) zlist_pop (errors); error;
             error = (char *) zlist_pop (errors))
            free (error);
    zlist_destroy (&errors);
    return loaded;
}
