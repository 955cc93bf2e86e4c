/*  fuzz_seeds: writes the harnesses' seed corpora, dictionaries and
 *  regression inputs at build time, so that no binary input is committed.
 *
 *      fuzz_seeds SOURCE_DIR OUT_DIR
 *
 *  writes under OUT_DIR:
 *      seeds/<harness>/        typical valid inputs of every kind
 *      regressions/<harness>/  tests/fuzz/regressions/<harness>/NAME.hex as bytes
 *      corpus/<harness>/       (made empty if missing) where runs add inputs
 *      artifacts/              where libFuzzer writes crashing inputs
 *      config.dict             tests/fuzz/zpl.dict and the fixture's keys
 *
 *  Wire seeds start with the selector byte of their message type (see
 *  fuzz_wire.c). The plan seeds come from config/example-plan.json.
 */
#include "fuzz_common.h"
#include "proof.h"
#include "zvh/zvh_plan.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_SIZE      4096
#define FILE_MAX_BYTES (4 * 1024 * 1024)
#define HEX_SUFFIX     ".hex"

static const char *const s_harnesses [] = {
    "wire", "plan_json", "plan_bytes", "config", "config_files"
};
#define HARNESS_COUNT (sizeof s_harnesses / sizeof s_harnesses [0])

static const char *s_source;
static const char *s_out;


//  --------------------------------------------------------------------------
//  Files

static void
s_mkdir (const char *path)
{
    char partial [PATH_SIZE];
    snprintf (partial, sizeof partial, "%s", path);
    for (char *slash = partial + 1; *slash; slash++)
        if (*slash == '/') {
            *slash = '\0';
            FUZZ_CHECK (mkdir (partial, 0755) == 0 || errno == EEXIST, "mkdir %s", partial);
            *slash = '/';
        }
    FUZZ_CHECK (mkdir (partial, 0755) == 0 || errno == EEXIST, "mkdir %s", partial);
}

static void
s_write (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    FUZZ_CHECK (file, "cannot write %s: %s", path, strerror (errno));
    FUZZ_CHECK (fwrite (data, 1, size, file) == size && fclose (file) == 0,
                "cannot write %s", path);
}

//  The whole file, NUL-terminated; *size_p (if not NULL) gets its length.
static char *
s_read (const char *path, size_t *size_p)
{
    FILE *file = fopen (path, "rb");
    FUZZ_CHECK (file, "cannot read %s: %s", path, strerror (errno));
    char *data = (char *) malloc (FILE_MAX_BYTES + 1);
    FUZZ_CHECK (data, "out of memory");
    size_t size = fread (data, 1, FILE_MAX_BYTES, file);
    FUZZ_CHECK (feof (file), "%s is larger than %d bytes", path, FILE_MAX_BYTES);
    fclose (file);
    data [size] = '\0';
    if (size_p)
        *size_p = size;
    return data;
}

static void
s_seed (const char *harness, const char *name, const void *data, size_t size)
{
    char path [PATH_SIZE];
    snprintf (path, sizeof path, "%s/seeds/%s/%s", s_out, harness, name);
    s_write (path, data, size);
}

static void
s_seed_text (const char *harness, const char *name, const char *text)
{
    s_seed (harness, name, text, strlen (text));
}

//  The seed is selector byte + text: the multiplexed harnesses.
static void
s_seed_selected (const char *harness, const char *name, uint8_t selector, const void *data,
                 size_t size)
{
    uint8_t *bytes = (uint8_t *) malloc (size + 1);
    FUZZ_CHECK (bytes, "out of memory");
    bytes [0] = selector;
    memcpy (bytes + 1, data, size);
    s_seed (harness, name, bytes, size + 1);
    free (bytes);
}


//  --------------------------------------------------------------------------
//  Wire seeds

static uint8_t *s_example_plan;         //  config/example-plan.json as bytes
static size_t s_example_plan_size;
static uint8_t *s_minimal_plan;         //  only what a plan must hold
static size_t s_minimal_plan_size;

#define MINIMAL_PLAN_JSON \
    "{\"legal_basis\": {\"route\": \"consent\"},\n" \
    " \"inclusion\": {\"region\": \"groningen\", \"date\": \"2024-06-03\"}}\n"

static ProtobufCBinaryData
s_binary (const uint8_t *data, size_t size)
{
    ProtobufCBinaryData binary = { size, (uint8_t *) data };
    return binary;
}

//  Writes msg as a wire seed; returns its encoding (caller frees).
static uint8_t *
s_wire_seed (const char *name, const ProtobufCMessage *msg, size_t *size_p)
{
    size_t size = 0;
    uint8_t *bytes = wire_encode (msg, &size);
    FUZZ_CHECK (bytes, "wire_encode failed");
    int selector = fuzz_wire_type_index (msg->descriptor);
    FUZZ_CHECK (selector >= 0, "%s is not a wire type", msg->descriptor->name);
    s_seed_selected ("wire", name, (uint8_t) selector, bytes, size);
    if (size_p)
        *size_p = size;
    return bytes;
}

static void
s_wire_seed_only (const char *name, const ProtobufCMessage *msg)
{
    free (s_wire_seed (name, msg, NULL));
}

//  Every wire type also gets its empty message: the selector byte alone.
static void
s_empty_seeds (void)
{
    for (size_t index = 0; index < fuzz_wire_type_count; index++) {
        char name [64];
        snprintf (name, sizeof name, "empty-%02zu", index);
        uint8_t selector = (uint8_t) index;
        s_seed ("wire", name, &selector, 1);
    }
}

static Zvh__V1__SignalRaise
s_sample_raise (void)
{
    Zvh__V1__SignalRaise raise = ZVH__V1__SIGNAL_RAISE__INIT;
    raise.case_id = "GRN-2024-017";
    raise.kind = ZVH__V1__SIGNAL_KIND__SIGNAL_INCIDENT;
    raise.urgency = ZVH__V1__URGENCY__URGENCY_IMMEDIATE;
    raise.severity = ZVH__V1__SEVERITY__SEVERITY_SEVERE;
    raise.certainty = ZVH__V1__CERTAINTY__CERTAINTY_OBSERVED;
    raise.text = "Dreigende uitlatingen naar buren; niet op depotafspraak verschenen.";
    raise.raised_by = "politie-noord";
    raise.raised_role = "police";
    raise.raised_ms = 1718000000000;
    return raise;
}

//  Writes a seed for the envelope carrying payload and one for the
//  payload alone.
static void
s_envelope_seeds (const char *name, Zvh__V1__Envelope__Type type, const ProtobufCMessage *payload)
{
    size_t payload_size = 0;
    uint8_t *payload_bytes = s_wire_seed (name, payload, &payload_size);
    Zvh__V1__Envelope envelope = ZVH__V1__ENVELOPE__INIT;
    envelope.origin = "groningen";
    envelope.seq = 7;
    envelope.type = type;
    envelope.time_ms = 1718000000000;
    envelope.payload = s_binary (payload_bytes, payload_size);
    envelope.case_id = "GRN-2024-017";
    char envelope_name [64];
    snprintf (envelope_name, sizeof envelope_name, "envelope-%s", name);
    s_wire_seed_only (envelope_name, &envelope.base);
    free (payload_bytes);
}

static void
s_federation_seeds (void)
{
    static const Zvh__V1__LinkFrame__Kind kinds [] = {
        ZVH__V1__LINK_FRAME__KIND__KIND_DATA, ZVH__V1__LINK_FRAME__KIND__KIND_ACK,
        ZVH__V1__LINK_FRAME__KIND__KIND_PING
    };
    for (size_t index = 0; index < sizeof kinds / sizeof kinds [0]; index++) {
        Zvh__V1__LinkFrame frame = ZVH__V1__LINK_FRAME__INIT;
        frame.kind = kinds [index];
        frame.link_seq = 42 + index;
        char name [32];
        snprintf (name, sizeof name, "link-frame-%zu", index);
        s_wire_seed_only (name, &frame.base);
    }
    Zvh__V1__Inclusion inclusion = ZVH__V1__INCLUSION__INIT;
    inclusion.region = "groningen";
    inclusion.date = "2024-06-03";
    inclusion.decision = "Inclusie besloten in het casusoverleg.";
    s_wire_seed_only ("inclusion", &inclusion.base);

    Zvh__V1__TransferOffer offer = ZVH__V1__TRANSFER_OFFER__INIT;
    offer.transfer_id = "groningen-7";
    offer.case_id = "GRN-2024-017";
    offer.source = "groningen";
    offer.target = "drenthe";
    offer.plan = s_binary (s_example_plan, s_example_plan_size);
    offer.inclusion = &inclusion;
    offer.joint_until_ms = 1725776000000;
    s_envelope_seeds ("offer", ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER, &offer.base);
    offer.plan = s_binary (s_minimal_plan, s_minimal_plan_size);
    s_envelope_seeds ("offer-minimal", ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER,
                      &offer.base);
    //  With a chain of custody (PROTOCOL 2.9); signatures of the right size
    uint8_t signature [WIRE_SIGNATURE_BYTES];
    memset (signature, 0x5a, sizeof signature);
    Zvh__V1__CustodyLink link = ZVH__V1__CUSTODY_LINK__INIT;
    link.transfer_id = "t-0000000000000001";
    link.source = "drenthe";
    link.target = "groningen";
    link.offer_signature = s_binary (signature, sizeof signature);
    link.accept_signature = s_binary (signature, sizeof signature);
    Zvh__V1__CustodyLink *links [] = { &link, &link };
    Zvh__V1__CustodyChain chain = ZVH__V1__CUSTODY_CHAIN__INIT;
    chain.links = links;
    chain.n_links = 2;
    s_wire_seed_only ("custody-chain", &chain.base);
    offer.custody = &chain;
    offer.offer_signature = s_binary (signature, sizeof signature);
    s_envelope_seeds ("offer-custody", ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER,
                      &offer.base);

    Zvh__V1__TransferAccept accept = ZVH__V1__TRANSFER_ACCEPT__INIT;
    accept.transfer_id = "groningen-7";
    accept.case_id = "GRN-2024-017";
    s_envelope_seeds ("accept", ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT, &accept.base);
    accept.offer_signature = s_binary (signature, sizeof signature);
    accept.accept_signature = s_binary (signature, sizeof signature);
    s_envelope_seeds ("accept-signed", ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT,
                      &accept.base);

    Zvh__V1__TransferReject reject = ZVH__V1__TRANSFER_REJECT__INIT;
    reject.transfer_id = "groningen-7";
    reject.case_id = "GRN-2024-017";
    reject.reason = "the plan names no legal route";
    s_envelope_seeds ("reject", ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT, &reject.base);

    Zvh__V1__TransferComplete complete = ZVH__V1__TRANSFER_COMPLETE__INIT;
    complete.transfer_id = "groningen-7";
    complete.case_id = "GRN-2024-017";
    s_envelope_seeds ("complete", ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_COMPLETE,
                      &complete.base);

    Zvh__V1__PlanUpdate update = ZVH__V1__PLAN_UPDATE__INIT;
    update.case_id = "GRN-2024-017";
    update.version = 3;
    update.plan = s_binary (s_minimal_plan, s_minimal_plan_size);
    s_envelope_seeds ("update", ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE, &update.base);

    Zvh__V1__PlanProposal proposal = ZVH__V1__PLAN_PROPOSAL__INIT;
    proposal.case_id = "GRN-2024-017";
    proposal.base_version = 2;
    proposal.plan = s_binary (s_minimal_plan, s_minimal_plan_size);
    s_envelope_seeds ("proposal", ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL, &proposal.base);
}

static void
s_signal_seeds (void)
{
    Zvh__V1__SignalRaise raise = s_sample_raise ();
    s_envelope_seeds ("raise", ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE, &raise.base);
    Zvh__V1__SignalRaise national = s_sample_raise ();
    national.case_id = "";
    national.national = 1;
    national.kind = ZVH__V1__SIGNAL_KIND__SIGNAL_OTHER;
    s_wire_seed_only ("raise-national", &national.base);

    char *police_actions [] = { "Wijkagent en levensloopcoordinator direct informeren.",
                                "Bij acuut gevaar overbrengen naar de crisisdienst." };
    Zvh__V1__RoleView police = ZVH__V1__ROLE_VIEW__INIT;
    police.role = "police";
    police.partner_ref = "LLA-2024-0042";
    police.n_actions = 2;
    police.actions = police_actions;
    Zvh__V1__RoleView crisis = ZVH__V1__ROLE_VIEW__INIT;
    crisis.role = "crisis_service";
    crisis.partner_ref = "VA-2024-0117";
    Zvh__V1__RoleView *roles [] = { &police, &crisis };
    Zvh__V1__SignalEvent event = ZVH__V1__SIGNAL_EVENT__INIT;
    event.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    event.event_id = "groningen/9";
    event.case_id = "GRN-2024-017";
    event.region = "groningen";
    event.signal = &raise;
    event.n_roles = 2;
    event.roles = roles;
    event.coordinator_contact = "coordinator@fact-noord.example";
    event.time_ms = 1718000000500;
    s_envelope_seeds ("event", ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_EVENT, &event.base);
    //  With the publisher's proof (PROTOCOL 8.3), signed by a key of its own
    uint8_t sign_public [WIRE_SIGN_PUBLIC_BYTES], sign_secret [WIRE_SIGN_SECRET_BYTES];
    crypto_sign_keypair (sign_public, sign_secret);
    Zvh__V1__SignalView values;
    proof_values (&values, &event);
    proof_storage_t signed_proof, view_proof;
    event.proof = proof_sign (&signed_proof, "groningen", &values, roles, 2, sign_secret);
    FUZZ_CHECK (event.proof, "the seed event's roles cannot be signed");
    s_envelope_seeds ("event-proof", ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_EVENT, &event.base);
    Zvh__V1__SignalEvent moved = ZVH__V1__SIGNAL_EVENT__INIT;
    moved.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_MOVED;
    moved.event_id = "drenthe/3";
    moved.case_id = "GRN-2024-017";
    moved.region = "drenthe";
    moved.previous_region = "groningen";
    moved.review_date = "2024-09-02";
    s_wire_seed_only ("event-moved", &moved.base);

    Zvh__V1__SignalView view = ZVH__V1__SIGNAL_VIEW__INIT;
    view.seq = 12;
    view.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    view.event_id = "groningen/9";
    view.case_id = "GRN-2024-017";
    view.region = "groningen";
    view.kind = ZVH__V1__SIGNAL_KIND__SIGNAL_SCALE_UP;
    view.urgency = ZVH__V1__URGENCY__URGENCY_EXPECTED;
    view.severity = ZVH__V1__SEVERITY__SEVERITY_MODERATE;
    view.certainty = ZVH__V1__CERTAINTY__CERTAINTY_LIKELY;
    view.text = raise.text;
    view.raised_by = "politie-noord";
    view.raised_role = "police";
    view.time_ms = 1718000000500;
    view.partner_ref = "LLA-2024-0042";
    view.n_actions = 2;
    view.actions = police_actions;
    view.coordinator_contact = "coordinator@fact-noord.example";
    view.previous_region = "fryslan";
    view.review_date = "2024-09-02";
    s_wire_seed_only ("signal-view", &view.base);
    //  As a police partner gets it: its own fields opened, the rest committed
    Zvh__V1__SignalView police_view = view;
    police_view.case_id = police_view.text = police_view.raised_by = NULL;
    police_view.raised_role = police_view.review_date = police_view.previous_region = NULL;
    police_view.proof = proof_open (&view_proof, event.proof, &values, roles, 2,
                                    ~(proof_shown_t) 0 & ~PROOF_SHOWN (4) & ~PROOF_SHOWN (11)
                                    & ~PROOF_SHOWN (12) & ~PROOF_SHOWN (13) & ~PROOF_SHOWN (19),
                                    "police");
    FUZZ_CHECK (police_view.proof, "the seed event's proof does not open");
    s_wire_seed_only ("signal-view-proof", &police_view.base);

    //  Every kind of subscriber frame
    Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_SUBSCRIBE;
    frame.seq = 11;
    frame.credit = 64;
    frame.from_cursor = 1;
    s_wire_seed_only ("sub-subscribe", &frame.base);
    frame = (Zvh__V1__SubFrame) ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_DELIVERY;
    frame.view = &view;
    s_wire_seed_only ("sub-delivery", &frame.base);
    frame = (Zvh__V1__SubFrame) ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_RAISE;
    frame.raise = &raise;
    frame.request_id = 5;
    s_wire_seed_only ("sub-raise", &frame.base);
    frame = (Zvh__V1__SubFrame) ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_RAISED;
    frame.event_id = "groningen/9";
    frame.request_id = 5;
    s_wire_seed_only ("sub-raised", &frame.base);
    frame = (Zvh__V1__SubFrame) ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_ERROR;
    frame.error = "credit must be 1 to 256";
    frame.request_id = 6;
    s_wire_seed_only ("sub-error", &frame.base);
    frame = (Zvh__V1__SubFrame) ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_GAP;
    frame.seq = 3;
    s_wire_seed_only ("sub-gap", &frame.base);
}

static void
s_control_seeds (void)
{
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_INCLUDE;
    request.case_id = "GRN-2024-017";
    request.plan = s_binary (s_minimal_plan, s_minimal_plan_size);
    request.request_id = 1;
    s_wire_seed_only ("request-include", &request.base);
    request = (Zvh__V1__ControlRequest) ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_MOVE;
    request.case_id = "GRN-2024-017";
    request.region = "drenthe";
    request.request_id = 2;
    s_wire_seed_only ("request-move", &request.base);
    Zvh__V1__SignalRaise raise = s_sample_raise ();
    request = (Zvh__V1__ControlRequest) ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE;
    request.raise = &raise;
    request.request_id = 3;
    s_wire_seed_only ("request-raise", &request.base);

    Zvh__V1__Inclusion inclusion = ZVH__V1__INCLUSION__INIT;
    inclusion.region = "groningen";
    inclusion.date = "2024-06-03";
    inclusion.decision = "Inclusie besloten in het casusoverleg.";
    static const uint8_t hash [32] = { 0x5a, 0x17, 0xc0, 0xde };
    Zvh__V1__Case found = ZVH__V1__CASE__INIT;
    found.id = "GRN-2024-017";
    found.state = ZVH__V1__CASE_STATE__CASE_JOINT_TARGET;
    found.owner = "drenthe";
    found.partner = "groningen";
    found.transfer_id = "groningen-7";
    found.plan_version = 4;
    found.plan_hash = s_binary (hash, sizeof hash);
    found.inclusion = &inclusion;
    found.joint_until_ms = 1725776000000;
    found.updated_ms = 1718000000000;
    s_wire_seed_only ("case", &found.base);
    Zvh__V1__Case closed = ZVH__V1__CASE__INIT;
    closed.id = "UTR-2023-101";
    closed.state = ZVH__V1__CASE_STATE__CASE_CLOSED;
    closed.owner = "groningen";

    Zvh__V1__PeerStatus up = ZVH__V1__PEER_STATUS__INIT;
    up.region = "drenthe";
    up.up = 1;
    up.last_seen_ms = 1718000000000;
    Zvh__V1__PeerStatus down = ZVH__V1__PEER_STATUS__INIT;
    down.region = "utrecht";
    down.outbox_depth = 3;
    down.oldest_ms = 1717990000000;
    Zvh__V1__PeerStatus *peers [] = { &up, &down };
    Zvh__V1__StateCount active = ZVH__V1__STATE_COUNT__INIT;
    active.state = ZVH__V1__CASE_STATE__CASE_ACTIVE;
    active.count = 12;
    Zvh__V1__StateCount offered = ZVH__V1__STATE_COUNT__INIT;
    offered.state = ZVH__V1__CASE_STATE__CASE_OFFERED;
    offered.count = 1;
    Zvh__V1__StateCount *counts [] = { &active, &offered };
    Zvh__V1__Case *cases [] = { &found, &closed };
    Zvh__V1__ControlReply reply = ZVH__V1__CONTROL_REPLY__INIT;
    reply.region = "groningen";
    reply.case_ = &found;
    reply.plan = s_binary (s_minimal_plan, s_minimal_plan_size);
    reply.n_peers = 2;
    reply.peers = peers;
    reply.n_counts = 2;
    reply.counts = counts;
    reply.n_cases = 2;
    reply.cases = cases;
    reply.request_id = 1;
    reply.event_id = "groningen/9";
    s_wire_seed_only ("reply", &reply.base);
    static const uint8_t prev_hash [32] = { 0xab, 0xad, 0xca, 0xfe };
    Zvh__V1__AuditRecord record = ZVH__V1__AUDIT_RECORD__INIT;
    record.seq = 17;
    record.time_ms = 1718000000000;
    record.action = "disclose";
    record.outcome = "ok";
    record.actor = "politie-noord";
    record.actor_role = "police";
    record.on_behalf = "politie-noord";
    record.purpose = "levensloopaanpak: crisis signal to a subscribed partner";
    record.legal_basis = "conditional";
    record.case_id = "GRN-2024-017";
    record.source = "partner endpoint";
    record.detail = "the role's view of the event";
    record.prev_hash = s_binary (prev_hash, sizeof prev_hash);
    record.hash = s_binary (hash, sizeof hash);
    record.event_id = "groningen/9";
    s_wire_seed_only ("audit-record", &record.base);

    reply = (Zvh__V1__ControlReply) ZVH__V1__CONTROL_REPLY__INIT;
    reply.status = ZVH__V1__CONTROL_REPLY__STATUS__STATUS_UNKNOWN_REGION;
    reply.error = "unknown region 'drente'; see the directory";
    reply.request_id = 2;
    s_wire_seed_only ("reply-error", &reply.base);
}

static void
s_plan_seeds (void)
{
    char err [ZVH_PLAN_ERR_MAX];
    char path [PATH_SIZE];
    snprintf (path, sizeof path, "%s/config/example-plan.json", s_source);
    char *example = s_read (path, NULL);
    FUZZ_CHECK (zvh_plan_from_json (example, &s_example_plan, &s_example_plan_size, err,
                                    sizeof err) == 0, "%s: %s", path, err);
    FUZZ_CHECK (zvh_plan_from_json (MINIMAL_PLAN_JSON, &s_minimal_plan, &s_minimal_plan_size,
                                    err, sizeof err) == 0, "minimal plan: %s", err);
    s_seed_text ("plan_json", "example-plan.json", example);
    s_seed_text ("plan_json", "minimal.json", MINIMAL_PLAN_JSON);
    //  One refusal of each kind, so that the error paths start covered
    s_seed_text ("plan_json", "bad-enum.json",
                 "{\"legal_basis\": {\"route\": \"consnet\"}}");
    s_seed_text ("plan_json", "bad-date.json",
                 "{\"review_date\": \"2023-02-29\", \"legal_basis\": {\"route\": \"wzd\"},"
                 " \"inclusion\": {\"region\": \"utrecht\", \"date\": \"2024-13-01\"}}");
    s_seed_text ("plan_json", "bad-type.json",
                 "{\"version\": -1, \"domains\": [{\"kind\": \"care\", \"goals\": {}}]}");
    s_seed_text ("plan_json", "duplicate-key.json",
                 "{\"summary\": \"a\", \"summary\": \"b\"}");
    s_seed_text ("plan_json", "not-an-object.json", "[1, 2.5, null, true, \"\\u00e2\"]");

    s_seed ("plan_bytes", "example-plan", s_example_plan, s_example_plan_size);
    s_seed ("plan_bytes", "minimal", s_minimal_plan, s_minimal_plan_size);
    ProtobufCMessage *plan = wire_decode (&zvh__v1__plan__descriptor, s_example_plan,
                                          s_example_plan_size);
    FUZZ_CHECK (plan, "the example plan does not decode");
    s_wire_seed_only ("plan-example", plan);
    wire_free (plan);
    free (example);
}


//  --------------------------------------------------------------------------
//  Config seeds

static void
s_config_seeds (void)
{
    char *minimal = fuzz_daemon_text (FUZZ_SECRET_FILE, FUZZ_DIRECTORY_FILE, NULL, NULL, NULL);
    s_seed_text ("config", "minimal.cfg", minimal);
    char *with_partners = fuzz_daemon_text (FUZZ_SECRET_FILE, FUZZ_DIRECTORY_FILE,
                                            FUZZ_PARTNERS_FILE, FUZZ_DATA_KEY_FILE,
                                            FUZZ_REVOKED_FILE);
    s_seed_text ("config", "partners.cfg", with_partners);
    size_t length = strlen (with_partners);
    char *full = (char *) malloc (length + 1024);
    FUZZ_CHECK (full, "out of memory");
    snprintf (full, length + 1024, "%s"
              "    control = \"ipc://@zvh-fuzz-control\"\n"
              "    map_size_mb = 64\n"
              "    map_max_mb = 65536\n"
              "    joint_phase_s = 7776000\n"
              "    heartbeat_ms = 1000\n"
              "    peer_timeout_ms = 5000\n"
              "    retry_min_ms = 200\n"
              "    retry_max_ms = 30000\n"
              "    window = 64\n"
              "    retention_days = 30\n"
              "    review_check_s = 3600\n"
              "    credit_max = 256\n", with_partners);
    s_seed_text ("config", "full.cfg", full);
    s_seed_text ("config", "errors.cfg",
                 "zvhd\n"
                 "    region = Groningen\n"
                 "    bind = tcp://*:0\n"
                 "    control = tcp://127.0.0.1:7101\n"
                 "    window = 0x10\n"
                 "    subscribe_bind = tcp://0.0.0.0:7101\n"
                 "    colour = blue\n"
                 "extra\n");
    free (full);
    free (with_partners);
    free (minimal);

    char *directory = fuzz_directory_text ();
    s_seed_selected ("config_files", "directory", 0, directory, strlen (directory));
    char *partners = fuzz_partners_text ();
    s_seed_selected ("config_files", "partners", 1, partners, strlen (partners));
    char *key = fuzz_secret_key_text ();
    s_seed_selected ("config_files", "secret-key", 2, key, strlen (key));
    free (key);
    char *revoked = fuzz_revoked_text ();
    s_seed_selected ("config_files", "revoked", 3, revoked, strlen (revoked));
    free (revoked);
    char *data_key = fuzz_data_key_text ();
    s_seed_selected ("config_files", "data-key", 4, data_key, strlen (data_key));
    free (data_key);
    free (partners);
    free (directory);
    //  The repository's own files: the 31 regions and the example partners
    static const char *const repo_files [][2] = {
        { "config/regions.zpl", "regions" }, { "config/partners.example.zpl", "partners-example" }
    };
    for (uint8_t index = 0; index < 2; index++) {
        char path [PATH_SIZE];
        snprintf (path, sizeof path, "%s/%s", s_source, repo_files [index][0]);
        size_t size = 0;
        char *text = s_read (path, &size);
        s_seed_selected ("config_files", repo_files [index][1], index, text, size);
        free (text);
    }
}

//  zpl.dict with the fixture's keys, which ZPL files name in quotes.
static void
s_config_dict (void)
{
    char path [PATH_SIZE];
    snprintf (path, sizeof path, "%s/tests/fuzz/zpl.dict", s_source);
    size_t size = 0;
    char *dict = s_read (path, &size);
    static const char *const names [] = {
        "groningen", "fryslan", "utrecht", "politie-noord", "ggz-crisisdienst-noord",
        "reclassering", "operators-groningen", "politie-noord-next", "stolen-laptop",
        "old-operator"
    };
    size_t room = size + 4096;
    char *text = (char *) malloc (room);
    FUZZ_CHECK (text, "out of memory");
    size_t used = (size_t) snprintf (text, room, "%s\n# the fuzz fixture's keys\n", dict);
    for (size_t index = 0; index < sizeof names / sizeof names [0]; index++) {
        char key [41];
        fuzz_public_key (names [index], key);
        used += (size_t) snprintf (text + used, room - used, "key_%s=\"\\\"%s\\\"\"\n",
                                   names [index], key);
        FUZZ_CHECK (used < room, "dictionary too long");
    }
    snprintf (path, sizeof path, "%s/config.dict", s_out);
    s_write (path, text, used);
    free (text);
    free (dict);
}


//  --------------------------------------------------------------------------
//  Regressions: hex text to bytes

static int
s_hex_digit (int c)
{
    return isdigit (c)? c - '0': tolower (c) - 'a' + 10;
}

//  Hex digits, any white space between them; '#' starts a comment line.
static uint8_t *
s_unhex (const char *path, const char *text, size_t *size_p)
{
    uint8_t *bytes = (uint8_t *) malloc (strlen (text) / 2 + 1);
    FUZZ_CHECK (bytes, "out of memory");
    size_t size = 0;
    int high = -1;
    for (const char *at = text; *at; at++) {
        if (*at == '#') {
            at += strcspn (at, "\n");
            if (!*at)
                break;
        }
        else
        if (isxdigit ((unsigned char) *at)) {
            int digit = s_hex_digit ((unsigned char) *at);
            if (high < 0)
                high = digit;
            else {
                bytes [size++] = (uint8_t) (high << 4 | digit);
                high = -1;
            }
        }
        else
            FUZZ_CHECK (isspace ((unsigned char) *at), "%s: '%c' is not hex", path, *at);
    }
    FUZZ_CHECK (high < 0, "%s: odd number of hex digits", path);
    *size_p = size;
    return bytes;
}

static void
s_regressions (const char *harness)
{
    char dir_path [PATH_SIZE];
    snprintf (dir_path, sizeof dir_path, "%s/tests/fuzz/regressions/%s", s_source, harness);
    DIR *dir = opendir (dir_path);
    if (!dir)
        return;                         //  none for this harness
    for (struct dirent *entry = readdir (dir); entry; entry = readdir (dir)) {
        size_t length = strlen (entry->d_name);
        if (length <= strlen (HEX_SUFFIX)
        ||  strcmp (entry->d_name + length - strlen (HEX_SUFFIX), HEX_SUFFIX) != 0)
            continue;
        char path [PATH_SIZE];
        snprintf (path, sizeof path, "%s/%s", dir_path, entry->d_name);
        char *text = s_read (path, NULL);
        size_t size = 0;
        uint8_t *bytes = s_unhex (path, text, &size);
        char out [PATH_SIZE];
        snprintf (out, sizeof out, "%s/regressions/%s/%.*s", s_out, harness,
                  (int) (length - strlen (HEX_SUFFIX)), entry->d_name);
        s_write (out, bytes, size);
        free (bytes);
        free (text);
    }
    closedir (dir);
}


int
main (int argc, char *argv [])
{
    if (argc != 3) {
        fprintf (stderr, "usage: fuzz_seeds SOURCE_DIR OUT_DIR\n");
        return 1;
    }
    s_source = argv [1];
    s_out = argv [2];
    for (size_t index = 0; index < HARNESS_COUNT; index++) {
        const char *kinds [] = { "seeds", "regressions", "corpus" };
        for (size_t kind = 0; kind < 3; kind++) {
            char path [PATH_SIZE];
            snprintf (path, sizeof path, "%s/%s/%s", s_out, kinds [kind], s_harnesses [index]);
            s_mkdir (path);
        }
        s_regressions (s_harnesses [index]);
    }
    char path [PATH_SIZE];
    snprintf (path, sizeof path, "%s/artifacts", s_out);
    s_mkdir (path);

    s_plan_seeds ();
    s_empty_seeds ();
    s_federation_seeds ();
    s_signal_seeds ();
    s_control_seeds ();
    s_config_seeds ();
    s_config_dict ();
    free (s_example_plan);
    free (s_minimal_plan);
    return 0;
}
