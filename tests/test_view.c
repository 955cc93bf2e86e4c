/*  test_view: every partner's view carries a proof of who published it
 *  (PROTOCOL 8.3) that the partner can check without seeing what its role
 *  may not: a view of each role verifies, and a changed byte of any field
 *  it shows, another publisher, a salt in place of a hidden field's
 *  commitment, a hidden value slipped in, or an event altered after it was
 *  signed, each fail.
 */
#include "view.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define A   "groningen"
#define B   "drenthe"
#define TAG_SEQ     1

#define ROLES       3
static const char *s_roles [] = { "police", "crisis_service", "probation", "operator" };
#define PARTNER_ROLES (sizeof (s_roles) / sizeof (s_roles [0]))

//  The views of config/partners.example.zpl.
static const char *s_views [PARTNER_ROLES] = {
    "seq,type,event_id,region,national,kind,urgency,severity,certainty,time_ms,"
    "partner_ref,actions,coordinator_contact,previous_region",
    "seq,type,event_id,region,national,kind,urgency,severity,certainty,text,time_ms,"
    "partner_ref,actions,coordinator_contact,previous_region",
    "seq,type,event_id,region,national,kind,urgency,severity,certainty,time_ms,"
    "partner_ref,actions,coordinator_contact,previous_region",
    "seq,type,event_id,case_id,region,national,kind,urgency,severity,certainty,text,"
    "raised_by,raised_role,time_ms,partner_ref,actions,coordinator_contact,"
    "previous_region,review_date"
};

typedef struct {
    config_t *config;
    uint8_t public_key [2][WIRE_SIGN_PUBLIC_BYTES];     //  A, B
    uint8_t secret_key [2][WIRE_SIGN_SECRET_BYTES];
    //  The event and its parts
    Zvh__V1__SignalEvent event;
    Zvh__V1__SignalRaise raise;
    Zvh__V1__RoleView roles [ROLES];
    Zvh__V1__RoleView *role_ptrs [ROLES];
    char *actions [ROLES][2];
    char contact [64];
    proof_storage_t storage;
} fixture_t;

static void
s_add_view (config_t *config, const char *role, const char *fields)
{
    config_view_t *view = &config->views [config->view_count++];
    snprintf (view->role, sizeof view->role, "%s", role);
    char *copy = strdup (fields);
    for (char *field = strtok (copy, ","); field; field = strtok (NULL, ","))
        snprintf (view->fields [view->field_count++], CONFIG_FIELD_MAX, "%s", field);
    free (copy);
}

static void
s_add_partner (config_t *config, const char *id, const char *role, const char *region)
{
    config_partner_t *partner = &config->partners [config->partner_count++];
    snprintf (partner->id, sizeof partner->id, "%s", id);
    snprintf (partner->role, sizeof partner->role, "%s", role);
    snprintf (partner->regions [partner->region_count++], CONFIG_ID_MAX, "%s", region);
}

//  A signal about case c1, raised at B by a police partner, published by A
//  (which holds the plan) with the parts of three roles, signed by A.
static void
s_make_event (fixture_t *fixture)
{
    static char *actions [ROLES][2] = {
        { "aanhouden", "melden" }, { "beoordelen", "opnemen" }, { "bellen", "overleggen" }
    };
    static const char *names [ROLES] = { "police", "crisis_service", "region" };
    static const char *refs [ROLES] = { "PL-0042", "GGZ-17", "ZVH-GR-9" };
    for (size_t i = 0; i < ROLES; i++) {
        zvh__v1__role_view__init (&fixture->roles [i]);
        fixture->roles [i].role = (char *) names [i];
        fixture->roles [i].partner_ref = (char *) refs [i];
        fixture->roles [i].actions = actions [i];
        fixture->roles [i].n_actions = 2;
        fixture->role_ptrs [i] = &fixture->roles [i];
    }
    zvh__v1__signal_raise__init (&fixture->raise);
    fixture->raise.case_id = "c1";
    fixture->raise.kind = ZVH__V1__SIGNAL_KIND__SIGNAL_SCALE_UP;
    fixture->raise.urgency = ZVH__V1__URGENCY__URGENCY_IMMEDIATE;
    fixture->raise.severity = ZVH__V1__SEVERITY__SEVERITY_SEVERE;
    fixture->raise.certainty = ZVH__V1__CERTAINTY__CERTAINTY_OBSERVED;
    fixture->raise.text = "verward gedrag bij het station";
    fixture->raise.raised_by = "politie-noord";
    fixture->raise.raised_role = "police";
    snprintf (fixture->contact, sizeof fixture->contact, "coordinator@zvh-groningen.nl");
    Zvh__V1__SignalEvent *event = &fixture->event;
    zvh__v1__signal_event__init (event);
    event->type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    event->event_id = B "/5";
    event->case_id = "c1";
    event->region = A;
    event->signal = &fixture->raise;
    event->roles = fixture->role_ptrs;
    event->n_roles = ROLES;
    event->coordinator_contact = fixture->contact;
    event->time_ms = 1764748800000;
}

//  Sign the event as publisher with the key of signer (0 = A, 1 = B).
static void
s_sign (fixture_t *fixture, const char *publisher, int signer)
{
    Zvh__V1__SignalView values;
    proof_values (&values, &fixture->event);
    fixture->event.proof = proof_sign (&fixture->storage, publisher, &values,
                                       fixture->event.roles, fixture->event.n_roles,
                                       fixture->secret_key [signer]);
    assert_non_null (fixture->event.proof);
}

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    fixture->config = (config_t *) calloc (1, sizeof (config_t));
    snprintf (fixture->config->region, CONFIG_ID_MAX, A);
    for (size_t i = 0; i < PARTNER_ROLES; i++) {
        s_add_view (fixture->config, s_roles [i], s_views [i]);
        s_add_partner (fixture->config, s_roles [i], s_roles [i], A);
    }
    for (int i = 0; i < 2; i++)
        crypto_sign_keypair (fixture->public_key [i], fixture->secret_key [i]);
    s_make_event (fixture);
    s_sign (fixture, A, 0);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    free (fixture->config);
    free (fixture);
    return 0;
}

//  The view of the event for partner (by index), decoded.
static Zvh__V1__SignalView *
s_view_of (fixture_t *fixture, size_t partner)
{
    size_t size;
    uint8_t *bytes = view_encode (fixture->config, &fixture->config->partners [partner],
                                  &fixture->event, 7, &size);
    assert_non_null (bytes);
    Zvh__V1__SignalView *view = WIRE_DECODE (Zvh__V1__SignalView, zvh__v1__signal_view,
                                             bytes, size);
    free (bytes);
    assert_non_null (view);
    return view;
}

static int
s_verify (const Zvh__V1__SignalView *view, const fixture_t *fixture, int signer)
{
    return proof_verify_view (view, fixture->public_key [signer]);
}

static void
test_a_view_of_each_role_verifies (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    for (size_t i = 0; i < PARTNER_ROLES; i++) {
        Zvh__V1__SignalView *view = s_view_of (fixture, i);
        assert_non_null (view->proof);
        assert_string_equal (view->proof->publisher, A);
        assert_int_equal (s_verify (view, fixture, 0), 0);
        assert_int_not_equal (s_verify (view, fixture, 1), 0);  //  not B's
        wire_free (&view->base);
    }
}

static void
test_a_view_shows_only_its_fields_and_its_role_part (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    Zvh__V1__SignalView *police = s_view_of (fixture, 0);
    assert_string_equal (police->text, "");             //  absent on the wire
    assert_string_equal (police->raised_by, "");
    assert_string_equal (police->partner_ref, "PL-0042");
    //  Its text, who raised it and other roles' parts: commitments only
    size_t salts = 0;
    for (size_t i = 0; i < police->proof->n_fields; i++) {
        const Zvh__V1__FieldProof *field = police->proof->fields [i];
        bool shown = field->tag != 4 && field->tag != 11 && field->tag != 12
                  && field->tag != 13 && field->tag != 19;
        assert_int_equal (field->salt.len, shown ? PROOF_SALT_BYTES : 0);
        assert_int_equal (field->commitment.len, shown ? 0 : PROOF_COMMITMENT_BYTES);
    }
    for (size_t i = 0; i < police->proof->n_roles; i++)
        for (size_t j = 0; j < police->proof->roles [i]->n_fields; j++)
            salts += police->proof->roles [i]->fields [j]->salt.len > 0;
    assert_int_equal (salts, PROOF_ROLE_FIELDS);        //  its own part only
    wire_free (&police->base);
}

//  Change field's value in place (a byte of a text, a number); false if
//  view holds nothing there.
static bool
s_tamper (Zvh__V1__SignalView *view, const ProtobufCFieldDescriptor *field)
{
    char *member = (char *) view + field->offset;
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t count = *(size_t *) ((char *) view + field->quantifier_offset);
        char **texts = *(char ***) member;
        if (!count || !*texts [count - 1])
            return false;
        texts [count - 1][0] ^= 1;
    }
    else
    if (field->type == PROTOBUF_C_TYPE_STRING) {
        char *text = *(char **) member;
        if (!text || !*text)
            return false;
        text [strlen (text) - 1] ^= 1;
    }
    else
    if (field->type == PROTOBUF_C_TYPE_BOOL)
        *(protobuf_c_boolean *) member = !*(protobuf_c_boolean *) member;
    else
    if (field->type == PROTOBUF_C_TYPE_ENUM)
        *(int *) member += 1;
    else
    if (field->type == PROTOBUF_C_TYPE_INT64 || field->type == PROTOBUF_C_TYPE_UINT64)
        *(uint64_t *) member ^= 1;
    else
        return false;
    return true;
}

static void
test_a_changed_byte_in_any_shown_field_fails (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    const ProtobufCMessageDescriptor *desc = &zvh__v1__signal_view__descriptor;
    for (size_t partner = 0; partner < PARTNER_ROLES; partner++) {
        size_t tampered = 0;
        for (unsigned i = 0; i < desc->n_fields; i++) {
            Zvh__V1__SignalView *view = s_view_of (fixture, partner);
            const ProtobufCFieldDescriptor *field = &desc->fields [i];
            if (field->type != PROTOBUF_C_TYPE_MESSAGE && s_tamper (view, field)) {
                //  seq is this region's log position: not the publisher's to sign
                if (field->id == TAG_SEQ)
                    assert_int_equal (s_verify (view, fixture, 0), 0);
                else
                    assert_int_not_equal (s_verify (view, fixture, 0), 0);
                tampered++;
            }
            wire_free (&view->base);
        }
        assert_true (tampered >= 10);       //  every view shows that many
    }
}

static void
test_another_publisher_fails (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    Zvh__V1__SignalView *view = s_view_of (fixture, 1);
    char *publisher = view->proof->publisher;
    view->proof->publisher = B;
    assert_int_not_equal (s_verify (view, fixture, 0), 0);
    assert_int_not_equal (s_verify (view, fixture, 1), 0);
    view->proof->publisher = publisher;
    view->proof->signature.data [0] ^= 1;
    assert_int_not_equal (s_verify (view, fixture, 0), 0);
    wire_free (&view->base);
}

//  The proof entry of tag in view.
static Zvh__V1__FieldProof *
s_entry (Zvh__V1__SignalView *view, uint32_t tag)
{
    for (size_t i = 0; i < view->proof->n_fields; i++)
        if (view->proof->fields [i]->tag == tag)
            return view->proof->fields [i];
    fail ();
    return NULL;
}

static void
test_a_salt_in_place_of_a_hidden_field_fails (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    Zvh__V1__SignalView *police = s_view_of (fixture, 0);
    Zvh__V1__FieldProof *text = s_entry (police, 11);       //  hidden from police
    Zvh__V1__FieldProof *kind = s_entry (police, 7);        //  shown
    ProtobufCBinaryData commitment = text->commitment, no_salt = text->salt;
    //  A salt (another field's) where the commitment was
    text->salt = kind->salt;
    text->commitment.len = 0;
    assert_int_not_equal (s_verify (police, fixture, 0), 0);
    //  Both: neither opened nor hidden
    text->commitment = commitment;
    assert_int_not_equal (s_verify (police, fixture, 0), 0);
    //  Another field's commitment
    text->salt = no_salt;
    Zvh__V1__FieldProof *raised_by = s_entry (police, 12);
    text->commitment = raised_by->commitment;
    assert_int_not_equal (s_verify (police, fixture, 0), 0);
    text->commitment = commitment;
    assert_int_equal (s_verify (police, fixture, 0), 0);
    //  A value for a hidden field, slipped into the view: nobody vouched for it
    police->text = "aanhouden";
    assert_int_not_equal (s_verify (police, fixture, 0), 0);
    police->text = NULL;
    wire_free (&police->base);
}

static void
test_an_event_altered_after_signing_fails_in_every_view (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    //  A region that changes what it publishes after signing (here the
    //  contact every role sees, then the text only some roles see)
    fixture->contact [0] ^= 1;
    for (size_t i = 0; i < PARTNER_ROLES; i++) {
        Zvh__V1__SignalView *view = s_view_of (fixture, i);
        assert_non_null (view->proof);
        assert_int_not_equal (s_verify (view, fixture, 0), 0);
        wire_free (&view->base);
    }
    fixture->contact [0] ^= 1;
    fixture->raise.text = "aanhouden";
    Zvh__V1__SignalView *police = s_view_of (fixture, 0);
    assert_int_not_equal (s_verify (police, fixture, 0), 0);
    wire_free (&police->base);
}

static void
test_a_region_cannot_publish_in_anothers_name (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    //  B, compromised, publishes an event "from groningen": signed as itself,
    //  the view's region is not its publisher; signed as A, not A's key
    s_sign (fixture, B, 1);
    Zvh__V1__SignalView *view = s_view_of (fixture, 0);
    assert_int_not_equal (s_verify (view, fixture, 1), 0);
    wire_free (&view->base);
    s_sign (fixture, A, 1);
    view = s_view_of (fixture, 0);
    assert_int_not_equal (s_verify (view, fixture, 0), 0);
    wire_free (&view->base);
}

static void
test_a_departure_view_verifies_without_the_new_owner (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    fixture->event.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_MOVED;
    fixture->event.signal = NULL;
    fixture->event.event_id = A "/9";
    fixture->event.previous_region = B;
    s_sign (fixture, A, 0);
    //  The police of B, the region the case left
    s_add_partner (fixture->config, "police-b", "police", B);
    Zvh__V1__SignalView *view = s_view_of (fixture, PARTNER_ROLES);
    assert_string_equal (view->region, "");
    assert_string_equal (view->coordinator_contact, "");
    assert_int_equal (view->n_actions, 0);
    assert_string_equal (view->partner_ref, "PL-0042");
    assert_int_equal (s_verify (view, fixture, 0), 0);
    wire_free (&view->base);
}

static void
test_an_event_without_a_proof_gives_views_that_fail (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    fixture->event.proof = NULL;
    Zvh__V1__SignalView *view = s_view_of (fixture, 0);
    assert_null (view->proof);
    assert_int_not_equal (s_verify (view, fixture, 0), 0);
    wire_free (&view->base);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_a_view_of_each_role_verifies,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_view_shows_only_its_fields_and_its_role_part,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_changed_byte_in_any_shown_field_fails,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_another_publisher_fails, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_salt_in_place_of_a_hidden_field_fails,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_an_event_altered_after_signing_fails_in_every_view,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_region_cannot_publish_in_anothers_name,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_departure_view_verifies_without_the_new_owner,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_an_event_without_a_proof_gives_views_that_fail,
                                         s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
