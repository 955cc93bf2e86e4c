/*  test_authority: every row of the authority table (docs/PROTOCOL.md 2.8),
 *  and the reading of facts from real signed envelopes: ids validated before
 *  they can become keys, a published raise attested by its raiser.
 */
#include "authority.h"
#include "proof.h"
#include <sodium.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define A   "groningen"
#define B   "drenthe"
#define C   "utrecht"
#define T1  "t-0000000000000001"
#define T2  "t-0000000000000002"

#define ENVELOPE(name) ZVH__V1__ENVELOPE__TYPE__TYPE_##name
#define STATE(name)    ZVH__V1__CASE_STATE__CASE_##name

//  An event from `from`, made by `origin`, received by A.
static authority_event_t
s_event (int type, const char *from, const char *origin)
{
    authority_event_t event;
    memset (&event, 0, sizeof event);
    event.type = type;
    snprintf (event.self, sizeof event.self, "%s", A);
    snprintf (event.from, sizeof event.from, "%s", from);
    snprintf (event.origin, sizeof event.origin, "%s", origin);
    snprintf (event.case_id, sizeof event.case_id, "c1");
    return event;
}

static authority_case_t
s_case (int state, const char *owner, const char *partner, const char *transfer_id)
{
    authority_case_t here = { true, state, owner, partner, transfer_id, NULL };
    return here;
}

static const authority_case_t unknown = { false, 0, NULL, NULL, NULL, NULL };

#define APPLIES(event, here)  assert_null (authority_decide (&(event), &(here)))
#define REFUSED(event, here)  assert_non_null (authority_decide (&(event), &(here)))

static void
test_only_raise_and_proposal_travel_in_another_name (void **state)
{
    (void) state;
    for (int type = ENVELOPE (TRANSFER_OFFER); type <= ENVELOPE (SIGNAL_EVENT); type++) {
        authority_event_t event = s_event (type, B, C);
        const char *why = authority_decide (&event, &unknown);
        bool relayable = type == ENVELOPE (SIGNAL_RAISE) || type == ENVELOPE (PLAN_PROPOSAL);
        if (relayable)
            assert_null (why);
        else
            assert_non_null (why);
    }
}

static void
test_offer_rows (void **state)
{
    (void) state;
    authority_event_t offer = s_event (ENVELOPE (TRANSFER_OFFER), B, B);
    snprintf (offer.offer_source, CONFIG_ID_MAX, B);
    snprintf (offer.offer_target, CONFIG_ID_MAX, A);
    snprintf (offer.transfer_id, ZVH_ID_MAX, T1);
    offer.custody_proven = true;
    APPLIES (offer, unknown);
    authority_case_t joint_of_b = s_case (STATE (JOINT_SOURCE), B, B, T2);
    APPLIES (offer, joint_of_b);
    //  A tombstone (A handed it over in T2) takes it back only along a chain
    //  that goes through T2
    authority_case_t tombstone = s_case (STATE (TOMBSTONE), C, C, T2);
    REFUSED (offer, tombstone);
    snprintf (offer.custody_self_transfer, ZVH_ID_MAX, T1);
    REFUSED (offer, tombstone);
    snprintf (offer.custody_self_transfer, ZVH_ID_MAX, T2);
    APPLIES (offer, tombstone);
    //  A full chain (the most links kept) without A's hand-over: it fell out
    //  of the window, the case moved on that often; one with an older
    //  hand-over of A's is still refused, and a short one without any
    offer.custody_full = true;
    offer.custody_self_transfer [0] = 0;
    APPLIES (offer, tombstone);
    snprintf (offer.custody_self_transfer, ZVH_ID_MAX, T1);
    REFUSED (offer, tombstone);
    offer.custody_full = false;
    offer.custody_self_transfer [0] = 0;
    REFUSED (offer, tombstone);
    snprintf (offer.custody_self_transfer, ZVH_ID_MAX, T2);
    offer.custody_proven = false;
    REFUSED (offer, tombstone);
    REFUSED (offer, unknown);
    REFUSED (offer, joint_of_b);
    offer.custody_proven = true;
    authority_case_t joint_of_c = s_case (STATE (JOINT_SOURCE), C, C, T2);
    REFUSED (offer, joint_of_c);    //  only the owner moves it on
    authority_event_t other = offer;
    snprintf (other.offer_source, CONFIG_ID_MAX, C);
    REFUSED (other, unknown);
    other = offer;
    snprintf (other.offer_target, CONFIG_ID_MAX, C);
    REFUSED (other, unknown);
}

static void
test_answer_rows (void **state)
{
    (void) state;
    int types [] = { ENVELOPE (TRANSFER_ACCEPT), ENVELOPE (TRANSFER_REJECT) };
    for (size_t i = 0; i < 2; i++) {
        authority_event_t answer = s_event (types [i], B, B);
        snprintf (answer.transfer_id, ZVH_ID_MAX, T1);
        authority_case_t offered_to_b = s_case (STATE (OFFERED), A, B, T1);
        answer.accept_signed = false;
        if (types [i] == ENVELOPE (TRANSFER_ACCEPT))
            REFUSED (answer, offered_to_b);     //  unsigned: no link of custody
        answer.accept_signed = true;
        APPLIES (answer, offered_to_b);
        authority_case_t offered_to_c = s_case (STATE (OFFERED), A, C, T1);
        REFUSED (answer, offered_to_c);
        authority_case_t other_transfer = s_case (STATE (OFFERED), A, B, T2);
        REFUSED (answer, other_transfer);
        authority_case_t active = s_case (STATE (ACTIVE), A, B, T1);
        REFUSED (answer, active);
        REFUSED (answer, unknown);
    }
}

static void
test_accept_after_restore_only_for_an_active_case_owned_here (void **state)
{
    (void) state;
    authority_event_t accept = s_event (ENVELOPE (TRANSFER_ACCEPT), B, B);
    snprintf (accept.transfer_id, ZVH_ID_MAX, T1);
    accept.restored = true;
    accept.accept_signed = true;
    authority_case_t active = s_case (STATE (ACTIVE), A, "", "");
    REFUSED (accept, active);       //  no proof of an offer A made to B
    accept.offer_proven = true;
    APPLIES (accept, active);
    authority_case_t elsewhere = s_case (STATE (TOMBSTONE), C, C, T2);
    REFUSED (accept, elsewhere);
    accept.restored = false;
    REFUSED (accept, active);
}

static void
test_complete_rows (void **state)
{
    (void) state;
    authority_event_t complete = s_event (ENVELOPE (TRANSFER_COMPLETE), B, B);
    snprintf (complete.transfer_id, ZVH_ID_MAX, T1);
    int applies [] = { STATE (JOINT_SOURCE), STATE (JOINT_TARGET), STATE (ACTIVE),
                       STATE (TOMBSTONE) };
    for (size_t i = 0; i < 4; i++) {
        authority_case_t here = s_case (applies [i], A, B, T1);
        APPLIES (complete, here);
    }
    authority_case_t offered = s_case (STATE (OFFERED), A, B, T1);
    REFUSED (complete, offered);
    authority_case_t other_partner = s_case (STATE (JOINT_TARGET), A, C, T1);
    REFUSED (complete, other_partner);
    authority_case_t other_transfer = s_case (STATE (JOINT_TARGET), A, B, T2);
    REFUSED (complete, other_transfer);
    REFUSED (complete, unknown);
}

static void
test_plan_update_only_from_the_owner_to_its_joint_source (void **state)
{
    (void) state;
    authority_event_t update = s_event (ENVELOPE (PLAN_UPDATE), B, B);
    authority_case_t joint_source = s_case (STATE (JOINT_SOURCE), B, B, T1);
    APPLIES (update, joint_source);
    authority_case_t other_owner = s_case (STATE (JOINT_SOURCE), C, C, T1);
    REFUSED (update, other_owner);
    authority_case_t owned_here = s_case (STATE (JOINT_TARGET), A, B, T1);
    REFUSED (update, owned_here);
    REFUSED (update, unknown);
}

static void
test_proposal_rows (void **state)
{
    (void) state;
    authority_case_t joint_with_b = s_case (STATE (JOINT_TARGET), A, B, T1);
    authority_case_t ended_with_b = s_case (STATE (ACTIVE), A, B, T1);
    authority_event_t from_partner = s_event (ENVELOPE (PLAN_PROPOSAL), B, B);
    APPLIES (from_partner, joint_with_b);
    APPLIES (from_partner, ended_with_b);       //  racing the end of the phase
    //  Passed on by B after the case: only a former owner's (PROTOCOL 2.9)
    authority_event_t relayed_by_partner = s_event (ENVELOPE (PLAN_PROPOSAL), B, C);
    REFUSED (relayed_by_partner, joint_with_b); //  no chain: B's word only
    Zvh__V1__CustodyLink c_to_b = ZVH__V1__CUSTODY_LINK__INIT;
    c_to_b.source = C;
    c_to_b.target = B;
    Zvh__V1__CustodyLink b_to_a = ZVH__V1__CUSTODY_LINK__INIT;
    b_to_a.source = B;
    b_to_a.target = A;
    Zvh__V1__CustodyLink *links [] = { &b_to_a, &c_to_b };
    Zvh__V1__CustodyChain chain = ZVH__V1__CUSTODY_CHAIN__INIT;
    chain.links = links;
    chain.n_links = 1;
    joint_with_b.custody = &chain;              //  B -> A only: C never owned it
    REFUSED (relayed_by_partner, joint_with_b);
    links [0] = &c_to_b;
    links [1] = &b_to_a;
    chain.n_links = 2;                          //  C -> B -> A
    APPLIES (relayed_by_partner, joint_with_b); //  passed on after the case
    authority_event_t own = s_event (ENVELOPE (PLAN_PROPOSAL), C, A);
    APPLIES (own, joint_with_b);                //  came back with the case
    authority_event_t stranger = s_event (ENVELOPE (PLAN_PROPOSAL), C, C);
    REFUSED (stranger, joint_with_b);
    REFUSED (stranger, ended_with_b);
    authority_case_t passed_on = s_case (STATE (TOMBSTONE), B, B, T1);
    APPLIES (stranger, passed_on);              //  passed on: the owner decides
    APPLIES (stranger, unknown);
}

static void
test_raise_rows (void **state)
{
    (void) state;
    authority_event_t raise = s_event (ENVELOPE (SIGNAL_RAISE), B, C);
    APPLIES (raise, unknown);
    raise.national = true;
    REFUSED (raise, unknown);
}

static void
test_signal_event_rows (void **state)
{
    (void) state;
    authority_event_t event = s_event (ENVELOPE (SIGNAL_EVENT), B, B);
    event.signal_type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    snprintf (event.event_region, CONFIG_ID_MAX, B);
    snprintf (event.event_id, sizeof event.event_id, B "/7");
    APPLIES (event, unknown);
    snprintf (event.event_region, CONFIG_ID_MAX, A);
    REFUSED (event, unknown);                   //  in another region's name
    snprintf (event.event_region, CONFIG_ID_MAX, B);
    snprintf (event.event_id, sizeof event.event_id, A "/8");
    REFUSED (event, unknown);                   //  squatting A's namespace
    event.raise_attested = true;
    APPLIES (event, unknown);                   //  A's raise, published by B
    event.signal_type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_REMOVED;
    REFUSED (event, unknown);                   //  labels are their publisher's own
    //  A move is reported only with the signed hand-over (PROTOCOL 2.9)
    authority_event_t moved = s_event (ENVELOPE (SIGNAL_EVENT), B, B);
    moved.signal_type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_MOVED;
    snprintf (moved.event_region, CONFIG_ID_MAX, B);
    snprintf (moved.event_id, sizeof moved.event_id, B "/9");
    REFUSED (moved, unknown);
    moved.move_proven = true;
    APPLIES (moved, unknown);
    snprintf (event.event_id, sizeof event.event_id, "not-an-id");
    REFUSED (event, unknown);
    //  A proof of who published it that does not verify: its partners'
    //  views would all fail (PROTOCOL 8.3)
    snprintf (event.event_id, sizeof event.event_id, B "/7");
    APPLIES (event, unknown);
    event.proof_refuted = true;
    REFUSED (event, unknown);
}

//  ---------------------------------------------------------------- reading

static uint8_t s_sign_public [WIRE_SIGN_PUBLIC_BYTES];
static uint8_t s_sign_secret [WIRE_SIGN_SECRET_BYTES];

static config_t *
s_config (void)
{
    config_t *config = (config_t *) calloc (1, sizeof (config_t));
    snprintf (config->region, sizeof config->region, A);
    const char *ids [] = { A, B, C };
    crypto_sign_keypair (s_sign_public, s_sign_secret);
    for (size_t i = 0; i < 3; i++) {
        config_region_t *region = &config->regions [config->region_count++];
        snprintf (region->id, sizeof region->id, "%s", ids [i]);
        sodium_bin2hex (region->sign_key, sizeof region->sign_key, s_sign_public,
                        sizeof s_sign_public);
    }
    return config;
}

//  A signed envelope of msg as origin (seq), packed by the caller's buffer.
static size_t
s_envelope (const char *origin, uint64_t seq, int type, const ProtobufCMessage *msg,
            uint8_t *out)
{
    uint8_t payload [4096];
    Zvh__V1__Envelope envelope = ZVH__V1__ENVELOPE__INIT;
    envelope.origin = (char *) origin;
    envelope.seq = seq;
    envelope.type = type;
    envelope.payload.data = payload;
    envelope.payload.len = protobuf_c_message_pack (msg, payload);
    assert_int_equal (wire_envelope_sign (&envelope, s_sign_secret), 0);
    size_t size = protobuf_c_message_pack (&envelope.base, out);
    free (envelope.signature.data);
    return size;
}

static const char *
s_read (const config_t *config, const uint8_t *bytes, size_t size, const char *from,
        authority_event_t *event)
{
    Zvh__V1__Envelope *envelope = WIRE_DECODE (Zvh__V1__Envelope, zvh__v1__envelope,
                                               bytes, size);
    assert_non_null (envelope);
    const char *why = authority_read (config, NULL, envelope, from, false, event);
    wire_free (&envelope->base);
    return why;
}

static void
test_ids_that_cannot_be_keys_are_malformed (void **state)
{
    (void) state;
    config_t *config = s_config ();
    char long_id [600];
    memset (long_id, 'x', sizeof long_id - 1);
    long_id [sizeof long_id - 1] = 0;
    const char *bad [] = { "", long_id, "a/b", "spatie erin" };
    uint8_t bytes [8192];
    authority_event_t event;
    for (size_t i = 0; i < 4; i++) {
        Zvh__V1__PlanProposal proposal = ZVH__V1__PLAN_PROPOSAL__INIT;
        proposal.case_id = (char *) bad [i];
        size_t size = s_envelope (B, 1, ENVELOPE (PLAN_PROPOSAL), &proposal.base, bytes);
        assert_non_null (s_read (config, bytes, size, B, &event));
        Zvh__V1__SignalEvent signal = ZVH__V1__SIGNAL_EVENT__INIT;
        signal.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_SET;
        signal.case_id = "c1";
        signal.region = B;
        signal.event_id = (char *) bad [i];
        size = s_envelope (B, 2, ENVELOPE (SIGNAL_EVENT), &signal.base, bytes);
        assert_non_null (s_read (config, bytes, size, B, &event));
    }
    Zvh__V1__PlanProposal good = ZVH__V1__PLAN_PROPOSAL__INIT;
    good.case_id = "ZVH-2024.001_a";
    size_t size = s_envelope (B, 3, ENVELOPE (PLAN_PROPOSAL), &good.base, bytes);
    assert_null (s_read (config, bytes, size, B, &event));
    assert_string_equal (event.case_id, "ZVH-2024.001_a");
    free (config);
}

//  A signal event of A's raise (seq 5), published by B, carrying raise_bytes.
static size_t
s_published (const Zvh__V1__SignalRaise *said, const uint8_t *raise_bytes,
             size_t raise_size, uint8_t *out)
{
    Zvh__V1__SignalEvent signal = ZVH__V1__SIGNAL_EVENT__INIT;
    signal.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    signal.event_id = A "/5";
    signal.case_id = "c1";
    signal.region = B;
    signal.signal = (Zvh__V1__SignalRaise *) said;
    signal.raise_envelope.data = (uint8_t *) raise_bytes;
    signal.raise_envelope.len = raise_size;
    return s_envelope (B, 9, ENVELOPE (SIGNAL_EVENT), &signal.base, out);
}

static void
test_published_raise_is_attested_only_as_signed (void **state)
{
    (void) state;
    config_t *config = s_config ();
    Zvh__V1__SignalRaise raise = ZVH__V1__SIGNAL_RAISE__INIT;
    raise.case_id = "c1";
    raise.kind = ZVH__V1__SIGNAL_KIND__SIGNAL_INCIDENT;
    raise.text = "gezien bij het station";
    uint8_t raised [4096], bytes [8192];
    size_t raised_size = s_envelope (A, 5, ENVELOPE (SIGNAL_RAISE), &raise.base, raised);
    authority_event_t event;
    size_t size = s_published (&raise, raised, raised_size, bytes);
    assert_null (s_read (config, bytes, size, B, &event));
    assert_true (event.raise_attested);
    //  The text changed on the way: not what A raised
    Zvh__V1__SignalRaise changed = raise;
    changed.text = "aanhouden";
    size = s_published (&changed, raised, raised_size, bytes);
    assert_null (s_read (config, bytes, size, B, &event));
    assert_false (event.raise_attested);
    //  No raise, or a raise of another seq: not attested
    size = s_published (&raise, NULL, 0, bytes);
    assert_null (s_read (config, bytes, size, B, &event));
    assert_false (event.raise_attested);
    raised_size = s_envelope (A, 6, ENVELOPE (SIGNAL_RAISE), &raise.base, raised);
    size = s_published (&raise, raised, raised_size, bytes);
    assert_null (s_read (config, bytes, size, B, &event));
    assert_false (event.raise_attested);
    //  Signed by another key than A's
    uint8_t other_public [WIRE_SIGN_PUBLIC_BYTES];
    crypto_sign_keypair (other_public, s_sign_secret);
    raised_size = s_envelope (A, 5, ENVELOPE (SIGNAL_RAISE), &raise.base, raised);
    size = s_published (&raise, raised, raised_size, bytes);
    assert_null (s_read (config, bytes, size, B, &event));
    assert_false (event.raise_attested);
    free (config);
}

//  ---------------------------------------------------------------- proofs

static uint8_t s_region_secret [3][WIRE_SIGN_SECRET_BYTES];
static config_t *s_custody_config (void);
static const uint8_t *s_secret_of (const char *region);

//  Sign label's proof (in storage) as publisher with the key of signer.
static void
s_sign_label (Zvh__V1__SignalEvent *label, proof_storage_t *storage, const char *publisher,
              const char *signer)
{
    Zvh__V1__SignalView values;
    proof_values (&values, label);
    label->proof = proof_sign (storage, publisher, &values, label->roles, label->n_roles,
                               s_secret_of (signer));
    assert_non_null (label->proof);
}

//  Whether A, reading label from B, finds its proof refuted.
static bool
s_read_proof (const config_t *config, const Zvh__V1__SignalEvent *label)
{
    uint8_t payload [8192];
    Zvh__V1__Envelope envelope = ZVH__V1__ENVELOPE__INIT;
    envelope.origin = B;
    envelope.type = ENVELOPE (SIGNAL_EVENT);
    envelope.payload.data = payload;
    envelope.payload.len = protobuf_c_message_pack (&label->base, payload);
    authority_event_t event;
    assert_null (authority_read (config, NULL, &envelope, B, false, &event));
    return event.proof_refuted;
}

static void
test_signal_proof_is_read_against_the_publisher_key (void **state)
{
    (void) state;
    config_t *config = s_custody_config ();
    char *actions [] = { "aanhouden", "melden" };
    Zvh__V1__RoleView police = ZVH__V1__ROLE_VIEW__INIT, region = ZVH__V1__ROLE_VIEW__INIT;
    police.role = "police";
    police.partner_ref = "PL-1";
    police.actions = actions;
    police.n_actions = 2;
    region.role = "region";
    region.partner_ref = "GR-1";
    Zvh__V1__RoleView *roles [] = { &region, &police };
    Zvh__V1__SignalEvent label = ZVH__V1__SIGNAL_EVENT__INIT;
    label.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_SET;
    label.event_id = B "/3";
    label.case_id = "c1";
    label.region = B;
    label.roles = roles;
    label.n_roles = 2;
    label.coordinator_contact = "coordinator@zvh-drenthe.nl";
    assert_false (s_read_proof (config, &label));       //  none: from before proofs
    proof_storage_t storage;
    s_sign_label (&label, &storage, B, B);
    assert_false (s_read_proof (config, &label));
    //  Changed after signing: a field, a role's actions, a role left out
    label.coordinator_contact = "iemand@elders.nl";
    assert_true (s_read_proof (config, &label));
    label.coordinator_contact = "coordinator@zvh-drenthe.nl";
    police.n_actions = 1;
    assert_true (s_read_proof (config, &label));
    police.n_actions = 2;
    label.n_roles = 1;
    assert_true (s_read_proof (config, &label));
    label.n_roles = 2;
    assert_false (s_read_proof (config, &label));
    //  Signed with another key, or in another region's name
    s_sign_label (&label, &storage, B, C);
    assert_true (s_read_proof (config, &label));
    s_sign_label (&label, &storage, C, C);
    assert_true (s_read_proof (config, &label));
    //  A proof whose salt was taken out (a hidden field): regions see all
    s_sign_label (&label, &storage, B, B);
    label.proof->fields [0]->salt.len = 0;
    assert_true (s_read_proof (config, &label));
    free (config);
}

//  ---------------------------------------------------------------- custody

#define T3  "t-0000000000000003"

//  A directory of A, B and C, each with its own signing key.
static config_t *
s_custody_config (void)
{
    config_t *config = (config_t *) calloc (1, sizeof (config_t));
    snprintf (config->region, sizeof config->region, A);
    const char *ids [] = { A, B, C };
    for (size_t i = 0; i < 3; i++) {
        uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES];
        crypto_sign_keypair (public_key, s_region_secret [i]);
        config_region_t *region = &config->regions [config->region_count++];
        snprintf (region->id, sizeof region->id, "%s", ids [i]);
        sodium_bin2hex (region->sign_key, sizeof region->sign_key, public_key,
                        sizeof public_key);
    }
    return config;
}

static const uint8_t *
s_secret_of (const char *region)
{
    return s_region_secret [streq (region, A) ? 0 : streq (region, B) ? 1 : 2];
}

typedef struct {
    Zvh__V1__CustodyLink link;
    uint8_t offer_signature [WIRE_SIGNATURE_BYTES];
    uint8_t accept_signature [WIRE_SIGNATURE_BYTES];
} signed_link_t;

//  A change of owner of c1, signed by both parties.
static void
s_link (signed_link_t *made, const char *transfer_id, const char *source, const char *target)
{
    Zvh__V1__CustodyLink init = ZVH__V1__CUSTODY_LINK__INIT;
    made->link = init;
    made->link.transfer_id = (char *) transfer_id;
    made->link.source = (char *) source;
    made->link.target = (char *) target;
    wire_custody_sign (WIRE_CUSTODY_OFFER, "c1", transfer_id, source, target,
                       s_secret_of (source), made->offer_signature);
    wire_custody_sign (WIRE_CUSTODY_ACCEPT, "c1", transfer_id, source, target,
                       s_secret_of (target), made->accept_signature);
    made->link.offer_signature.data = made->offer_signature;
    made->link.offer_signature.len = WIRE_SIGNATURE_BYTES;
    made->link.accept_signature.data = made->accept_signature;
    made->link.accept_signature.len = WIRE_SIGNATURE_BYTES;
}

//  An envelope of msg as origin, unsigned (the custody checks do not need
//  its signature), packed into payload.
static Zvh__V1__Envelope
s_unsigned (const char *origin, int type, const ProtobufCMessage *msg, uint8_t *payload)
{
    Zvh__V1__Envelope envelope = ZVH__V1__ENVELOPE__INIT;
    envelope.origin = (char *) origin;
    envelope.type = type;
    envelope.payload.data = payload;
    envelope.payload.len = protobuf_c_message_pack (msg, payload);
    return envelope;
}

//  C offers c1 to A (transfer T3) with the given links, signed by signer.
static void
s_read_offer (const config_t *config, sigcache_t *verified, Zvh__V1__CustodyLink **links, size_t count,
              const char *signer, authority_event_t *event)
{
    Zvh__V1__CustodyChain chain = ZVH__V1__CUSTODY_CHAIN__INIT;
    chain.links = links;
    chain.n_links = count;
    uint8_t signature [WIRE_SIGNATURE_BYTES];
    wire_custody_sign (WIRE_CUSTODY_OFFER, "c1", T3, C, A, s_secret_of (signer), signature);
    Zvh__V1__TransferOffer offer = ZVH__V1__TRANSFER_OFFER__INIT;
    offer.transfer_id = T3;
    offer.case_id = "c1";
    offer.source = C;
    offer.target = A;
    offer.custody = &chain;
    offer.offer_signature.data = signature;
    offer.offer_signature.len = sizeof signature;
    uint8_t payload [8192];
    Zvh__V1__Envelope envelope = s_unsigned (C, ENVELOPE (TRANSFER_OFFER), &offer.base,
                                             payload);
    assert_null (authority_read (config, verified, &envelope, C, false, event));
}

static void
test_custody_chain_is_read_as_signed (void **state)
{
    sigcache_t *verified = (sigcache_t *) *state;
    config_t *config = s_custody_config ();
    signed_link_t a_to_b, b_to_c, a_to_c;
    s_link (&a_to_b, T1, A, B);
    s_link (&b_to_c, T2, B, C);
    s_link (&a_to_c, T2, A, C);
    authority_event_t event;
    Zvh__V1__CustodyLink *chain [] = { &a_to_b.link, &b_to_c.link };
    s_read_offer (config, verified, chain, 2, C, &event);
    assert_true (event.custody_proven);
    assert_string_equal (event.custody_self_transfer, T1);
    assert_false (event.custody_full);
    //  No links: C says it included the case; proven as far as C goes
    s_read_offer (config, verified, NULL, 0, C, &event);
    assert_true (event.custody_proven);
    assert_string_equal (event.custody_self_transfer, "");
    //  The offer signed by another key than C's
    s_read_offer (config, verified, chain, 2, B, &event);
    assert_false (event.custody_proven);
    //  A chain that ends elsewhere, or has a gap
    s_read_offer (config, verified, chain, 1, C, &event);
    assert_false (event.custody_proven);
    Zvh__V1__CustodyLink *gap [] = { &b_to_c.link, &a_to_c.link };
    s_read_offer (config, verified, gap, 2, C, &event);
    assert_false (event.custody_proven);
    //  A link whose accept C signed for B, or with no accept at all
    wire_custody_sign (WIRE_CUSTODY_ACCEPT, "c1", T1, A, B, s_secret_of (C),
                       a_to_b.accept_signature);
    s_read_offer (config, verified, chain, 2, C, &event);
    assert_false (event.custody_proven);
    s_link (&a_to_b, T1, A, B);
    a_to_b.link.accept_signature.len = 0;
    s_read_offer (config, verified, chain, 2, C, &event);
    assert_false (event.custody_proven);
    //  A link's statement changed after signing (another transfer id)
    s_link (&a_to_b, T1, A, B);
    a_to_b.link.transfer_id = T3;
    s_read_offer (config, verified, chain, 2, C, &event);
    assert_false (event.custody_proven);
    free (config);
}

//  A chain of the most links kept is read as full: older hand-overs may
//  have fallen out of it (the tombstone rule takes that into account).
static void
test_a_chain_of_the_most_links_is_full (void **state)
{
    sigcache_t *verified = (sigcache_t *) *state;
    config_t *config = s_custody_config ();
    signed_link_t *made = (signed_link_t *) calloc (WIRE_CUSTODY_LINKS_MAX,
                                                    sizeof (signed_link_t));
    Zvh__V1__CustodyLink *chain [WIRE_CUSTODY_LINKS_MAX];
    for (size_t i = 0; i < WIRE_CUSTODY_LINKS_MAX; i++) {
        //  C -> B, B -> C, ...: the last (odd) ends at C, the offer's source
        s_link (&made [i], T1, i % 2 ? B : C, i % 2 ? C : B);
        chain [i] = &made [i].link;
    }
    authority_event_t event;
    s_read_offer (config, verified, chain, WIRE_CUSTODY_LINKS_MAX, C, &event);
    assert_true (event.custody_proven);
    assert_true (event.custody_full);
    assert_string_equal (event.custody_self_transfer, "");     //  A is in none
    s_read_offer (config, verified, chain + 2, WIRE_CUSTODY_LINKS_MAX - 2, C, &event);
    assert_true (event.custody_proven);
    assert_false (event.custody_full);
    free (made);
    free (config);
}

static void
test_accept_is_read_as_signed (void **state)
{
    sigcache_t *verified = (sigcache_t *) *state;
    config_t *config = s_custody_config ();
    signed_link_t a_to_b;
    s_link (&a_to_b, T1, A, B);
    Zvh__V1__TransferAccept accept = ZVH__V1__TRANSFER_ACCEPT__INIT;
    accept.transfer_id = T1;
    accept.case_id = "c1";
    accept.offer_signature = a_to_b.link.offer_signature;
    accept.accept_signature = a_to_b.link.accept_signature;
    uint8_t payload [4096];
    Zvh__V1__Envelope envelope = s_unsigned (B, ENVELOPE (TRANSFER_ACCEPT), &accept.base,
                                             payload);
    authority_event_t event;
    assert_null (authority_read (config, verified, &envelope, B, true, &event));
    assert_true (event.accept_signed);
    assert_true (event.offer_proven);
    //  From C, the same signatures prove nothing: they name B
    envelope.origin = C;
    assert_null (authority_read (config, verified, &envelope, C, true, &event));
    assert_false (event.accept_signed);
    assert_false (event.offer_proven);
    //  An offer signature A never made
    wire_custody_sign (WIRE_CUSTODY_OFFER, "c1", T1, A, B, s_secret_of (B),
                       a_to_b.offer_signature);
    envelope.origin = B;
    envelope.payload.len = protobuf_c_message_pack (&accept.base, payload);
    assert_null (authority_read (config, verified, &envelope, B, true, &event));
    assert_true (event.accept_signed);
    assert_false (event.offer_proven);
    free (config);
}

//  B publishes that c1 moved to it from previous, carrying link.
static void
s_read_moved (const config_t *config, sigcache_t *verified, const Zvh__V1__CustodyLink *link,
              const char *previous, authority_event_t *event)
{
    Zvh__V1__SignalEvent moved = ZVH__V1__SIGNAL_EVENT__INIT;
    moved.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_MOVED;
    moved.event_id = B "/9";
    moved.case_id = "c1";
    moved.region = B;
    moved.previous_region = (char *) previous;
    moved.moved_by = (Zvh__V1__CustodyLink *) link;
    uint8_t payload [4096];
    Zvh__V1__Envelope envelope = s_unsigned (B, ENVELOPE (SIGNAL_EVENT), &moved.base, payload);
    assert_null (authority_read (config, verified, &envelope, B, false, event));
}

static void
test_label_moved_is_read_with_its_hand_over (void **state)
{
    sigcache_t *verified = (sigcache_t *) *state;
    config_t *config = s_custody_config ();
    signed_link_t a_to_b, c_to_b;
    s_link (&a_to_b, T1, A, B);
    s_link (&c_to_b, T1, C, B);
    authority_event_t event;
    s_read_moved (config, verified, &a_to_b.link, A, &event);
    assert_true (event.move_proven);
    s_read_moved (config, verified, &a_to_b.link, C, &event);     //  says C, proves A
    assert_false (event.move_proven);
    s_read_moved (config, verified, NULL, A, &event);
    assert_false (event.move_proven);
    wire_custody_sign (WIRE_CUSTODY_OFFER, "c1", T1, C, B, s_secret_of (B),
                       c_to_b.offer_signature);              //  B signs for C
    s_read_moved (config, verified, &c_to_b.link, C, &event);
    assert_false (event.move_proven);
    free (config);
}

//  With signatures remembered: the hand-over an accept proved proves the
//  label_moved that carries it again without a second verification, and
//  what was never signed (a statement changed, a signature from another
//  key, the same signature over another statement) is still refused.
static void
test_a_remembered_signature_proves_only_what_it_signed (void **state)
{
    (void) state;
    config_t *config = s_custody_config ();
    sigcache_t *verified = sigcache_new (64);
    assert_non_null (verified);
    signed_link_t a_to_b;
    s_link (&a_to_b, T1, A, B);
    authority_event_t event;
    s_read_moved (config, verified, &a_to_b.link, A, &event);
    assert_true (event.move_proven);
    assert_int_equal (sigcache_hits (verified), 0);
    s_read_moved (config, verified, &a_to_b.link, A, &event);
    assert_true (event.move_proven);
    assert_int_equal (sigcache_hits (verified), 2);         //  offer and accept
    //  The same signatures over another transfer, or another direction
    a_to_b.link.transfer_id = T2;
    s_read_moved (config, verified, &a_to_b.link, A, &event);
    assert_false (event.move_proven);
    a_to_b.link.transfer_id = T1;
    signed_link_t c_to_b;
    s_link (&c_to_b, T1, C, B);
    c_to_b.link.offer_signature = a_to_b.link.offer_signature;
    s_read_moved (config, verified, &c_to_b.link, C, &event);
    assert_false (event.move_proven);
    //  A signature by another key over the remembered statement
    wire_custody_sign (WIRE_CUSTODY_ACCEPT, "c1", T1, A, B, s_secret_of (C),
                       a_to_b.accept_signature);
    s_read_moved (config, verified, &a_to_b.link, A, &event);
    assert_false (event.move_proven);
    assert_int_equal (sigcache_hits (verified), 3);         //  only A's offer again
    sigcache_destroy (&verified);
    assert_null (verified);
    free (config);
}

int
main (void)
{
    sigcache_t *verified = sigcache_new (1024);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_only_raise_and_proposal_travel_in_another_name),
        cmocka_unit_test (test_offer_rows),
        cmocka_unit_test (test_answer_rows),
        cmocka_unit_test (test_accept_after_restore_only_for_an_active_case_owned_here),
        cmocka_unit_test (test_complete_rows),
        cmocka_unit_test (test_plan_update_only_from_the_owner_to_its_joint_source),
        cmocka_unit_test (test_proposal_rows),
        cmocka_unit_test (test_raise_rows),
        cmocka_unit_test (test_signal_event_rows),
        cmocka_unit_test (test_ids_that_cannot_be_keys_are_malformed),
        cmocka_unit_test (test_published_raise_is_attested_only_as_signed),
        cmocka_unit_test (test_signal_proof_is_read_against_the_publisher_key),
        cmocka_unit_test (test_custody_chain_is_read_as_signed),
        cmocka_unit_test (test_a_chain_of_the_most_links_is_full),
        cmocka_unit_test (test_accept_is_read_as_signed),
        cmocka_unit_test (test_label_moved_is_read_with_its_hand_over),
        //  The same again with one cache of verified signatures throughout:
        //  what a valid statement left there never proves a forged one
        cmocka_unit_test_prestate (test_custody_chain_is_read_as_signed, verified),
        cmocka_unit_test_prestate (test_a_chain_of_the_most_links_is_full, verified),
        cmocka_unit_test_prestate (test_accept_is_read_as_signed, verified),
        cmocka_unit_test_prestate (test_label_moved_is_read_with_its_hand_over, verified),
        cmocka_unit_test (test_a_remembered_signature_proves_only_what_it_signed),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    assert_true (sigcache_hits (verified) > 0);
    sigcache_destroy (&verified);
    return failed;
}
