/*  test_wire: the one codec decodes what it encodes and refuses hostile bytes.
 */
#include "wire.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_ROUNDS      2000
#define RANDOM_MAX_BYTES   512
#define AMPLIFY_ENTRIES    600000      //  2-byte entries that cost ~56 bytes each

static void
test_envelope_round_trip_is_byte_identical (void **state)
{
    (void) state;
    Zvh__V1__Envelope envelope = ZVH__V1__ENVELOPE__INIT;
    envelope.origin = "groningen";
    envelope.seq = 42;
    envelope.type = ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER;
    envelope.time_ms = 1700000000000;
    envelope.case_id = "c-1";
    uint8_t payload [] = { 1, 2, 3, 4 };
    envelope.payload.data = payload;
    envelope.payload.len = sizeof payload;
    size_t size;
    uint8_t *bytes = wire_encode (&envelope.base, &size);
    Zvh__V1__Envelope *decoded = WIRE_DECODE (Zvh__V1__Envelope, zvh__v1__envelope,
                                              bytes, size);
    assert_non_null (decoded);
    assert_string_equal (decoded->origin, "groningen");
    assert_int_equal (decoded->seq, 42);
    assert_int_equal (decoded->type, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER);
    assert_memory_equal (decoded->payload.data, payload, sizeof payload);
    size_t again_size;
    uint8_t *again = wire_encode (&decoded->base, &again_size);
    assert_int_equal (again_size, size);
    assert_memory_equal (again, bytes, size);
    free (again);
    free (bytes);
    wire_free (&decoded->base);
}

static void
test_plan_round_trip_keeps_every_part (void **state)
{
    (void) state;
    Zvh__V1__Plan plan = ZVH__V1__PLAN__INIT;
    Zvh__V1__LegalBasis legal = ZVH__V1__LEGAL_BASIS__INIT;
    Zvh__V1__Inclusion inclusion = ZVH__V1__INCLUSION__INIT;
    Zvh__V1__RiskAssessment risk = ZVH__V1__RISK_ASSESSMENT__INIT;
    Zvh__V1__RiskAssessment *risks [] = { &risk };
    legal.route = ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_WVGGZ;
    inclusion.region = "drenthe";
    inclusion.date = "2025-01-31";
    risk.instrument = "HKT-R";
    risk.outcome = ZVH__V1__RISK_ASSESSMENT__OUTCOME__OUTCOME_HIGH;
    plan.version = 7;
    plan.legal_basis = &legal;
    plan.inclusion = &inclusion;
    plan.risk_assessments = risks;
    plan.n_risk_assessments = 1;
    size_t size;
    uint8_t *bytes = wire_encode (&plan.base, &size);
    Zvh__V1__Plan *decoded = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, bytes, size);
    assert_non_null (decoded);
    assert_int_equal (decoded->version, 7);
    assert_int_equal (decoded->legal_basis->route, ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_WVGGZ);
    assert_string_equal (decoded->inclusion->region, "drenthe");
    assert_int_equal (decoded->n_risk_assessments, 1);
    assert_int_equal (decoded->risk_assessments [0]->outcome,
                      ZVH__V1__RISK_ASSESSMENT__OUTCOME__OUTCOME_HIGH);
    wire_free (&decoded->base);
    free (bytes);
}

static void
test_decode_refuses_oversized_frame (void **state)
{
    (void) state;
    size_t size = WIRE_MAX_FRAME_BYTES + 1;
    uint8_t *bytes = (uint8_t *) calloc (1, size);
    assert_null (wire_decode (&zvh__v1__envelope__descriptor, bytes, size));
    free (bytes);
}

//  Many empty repeated entries: tiny on the wire, large once unpacked.
static void
test_decode_budget_refuses_amplification (void **state)
{
    (void) state;
    size_t size = AMPLIFY_ENTRIES * 2;
    uint8_t *bytes = (uint8_t *) malloc (size);
    for (size_t i = 0; i < AMPLIFY_ENTRIES; i++) {
        bytes [2 * i] = (3 << 3) | 2;   //  field 3 (domains), length-delimited
        bytes [2 * i + 1] = 0;          //  an empty LifeDomain
    }
    assert_null (wire_decode (&zvh__v1__plan__descriptor, bytes, size));
    //  The same shape within budget decodes: the limit is the budget, not the shape
    Zvh__V1__Plan *small = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, bytes, 2000);
    assert_non_null (small);
    assert_int_equal (small->n_domains, 1000);
    wire_free (&small->base);
    free (bytes);
}

static void
test_random_bytes_never_crash_the_decoders (void **state)
{
    (void) state;
    const ProtobufCMessageDescriptor *descriptors [] = {
        &zvh__v1__envelope__descriptor, &zvh__v1__link_frame__descriptor,
        &zvh__v1__plan__descriptor, &zvh__v1__transfer_offer__descriptor,
        &zvh__v1__control_request__descriptor, &zvh__v1__case__descriptor
    };
    size_t kinds = sizeof descriptors / sizeof descriptors [0];
    srand (7);
    uint8_t bytes [RANDOM_MAX_BYTES];
    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        size_t size = (size_t) rand () % RANDOM_MAX_BYTES;
        for (size_t i = 0; i < size; i++)
            bytes [i] = (uint8_t) rand ();
        ProtobufCMessage *msg = wire_decode (descriptors [round % kinds], bytes, size);
        wire_free (msg);
    }
}

//  A RAISE that does not decode is still answered under its request id
//  (PROTOCOL 7.8): the id is read past the fields before it, whatever they are
static void
test_peek_finds_the_request_id_of_any_frame (void **state)
{
    (void) state;
    Zvh__V1__SignalRaise raise = ZVH__V1__SIGNAL_RAISE__INIT;
    raise.case_id = "c-1";
    raise.text = "tekst";
    Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_RAISE;
    frame.raise = &raise;
    frame.request_id = 300;             //  two varint bytes
    size_t size;
    uint8_t *bytes = wire_encode (&frame.base, &size);
    assert_non_null (bytes);
    uint64_t value = 0;
    assert_int_equal (wire_peek_varint (bytes, size, 9, &value), 0);
    assert_int_equal (value, 300);
    assert_int_equal (wire_peek_varint (bytes, size, 1, &value), 0);
    assert_int_equal (value, ZVH__V1__SUB_FRAME__KIND__KIND_RAISE);
    //  Absent, or cut off inside the raise: not found, never read past the end
    assert_int_equal (wire_peek_varint (bytes, size, 11, &value), -1);
    for (size_t cut = 0; cut < size; cut++)
        assert_true (wire_peek_varint (bytes, cut, 9, &value) == -1 || value == 300);
    const uint8_t hostile [] = { 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x48, 0x07 };
    assert_int_equal (wire_peek_varint (hostile, sizeof hostile, 9, &value), -1);
    free (bytes);
}

static void
test_hash_distinguishes_one_bit (void **state)
{
    (void) state;
    uint8_t data [] = "levensloopplan", first [32], second [32];
    wire_hash (data, sizeof data, first);
    data [0] ^= 1;
    wire_hash (data, sizeof data, second);
    assert_memory_not_equal (first, second, 32);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_envelope_round_trip_is_byte_identical),
        cmocka_unit_test (test_plan_round_trip_keeps_every_part),
        cmocka_unit_test (test_decode_refuses_oversized_frame),
        cmocka_unit_test (test_decode_budget_refuses_amplification),
        cmocka_unit_test (test_random_bytes_never_crash_the_decoders),
        cmocka_unit_test (test_hash_distinguishes_one_bit),
        cmocka_unit_test (test_peek_finds_the_request_id_of_any_frame),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
