/*  proof: salted commitments of SignalView fields, signed by the publisher.
 *
 *  Every check goes one way: each field's commitment is recomputed from an
 *  opened salt and the value at hand, or taken as given for a hidden field;
 *  the commitments are hashed in one fixed order (fields by tag, role parts
 *  by role name) and the signature is checked over that digest. A field
 *  that a view holds without opening it is refused: the publisher did not
 *  vouch for it. The canonical bytes of a value follow its field type in
 *  the descriptor, so they do not depend on protobuf encoding.
 */
#include "proof.h"
#include <assert.h>
#include <string.h>

#define PROOF_CONTEXT   "zvh.v1.signal.proof"   //  domain separation

//  The fields outside the role parts, in digest order.
static const uint32_t s_tags [PROOF_FIELDS] = {
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 19
};
static const uint32_t s_role_tags [PROOF_ROLE_FIELDS] = {
    PROOF_TAG_PARTNER_REF, PROOF_TAG_ACTIONS
};

//  Every commitment of one proof, in digest order.
typedef struct {
    uint8_t fields [PROOF_FIELDS][PROOF_COMMITMENT_BYTES];
    size_t role_count;
    const char *roles [PROOF_ROLES_MAX];
    uint8_t role_fields [PROOF_ROLES_MAX][PROOF_ROLE_FIELDS][PROOF_COMMITMENT_BYTES];
} commitments_t;

static const ProtobufCFieldDescriptor *
s_field (uint32_t tag)
{
    return protobuf_c_message_descriptor_get_field (&zvh__v1__signal_view__descriptor, tag);
}

//  Strings as text, repeated strings as a count then each text, every
//  number (enum, bool, int64 as two's complement) as u64.
static void
s_put_value (crypto_generichash_state *state, uint32_t tag, const Zvh__V1__SignalView *values)
{
    const ProtobufCFieldDescriptor *field = s_field (tag);
    const char *member = (const char *) values + field->offset;
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t count = *(const size_t *) ((const char *) values + field->quantifier_offset);
        char *const *texts = *(char *const *const *) member;
        wire_hash_u64 (state, count);
        for (size_t i = 0; i < count; i++)
            wire_hash_text (state, texts [i]);
    }
    else
    if (field->type == PROTOBUF_C_TYPE_STRING)
        wire_hash_text (state, *(const char *const *) member);
    else
    if (field->type == PROTOBUF_C_TYPE_BOOL)
        wire_hash_u64 (state, *(const protobuf_c_boolean *) member ? 1 : 0);
    else
    if (field->type == PROTOBUF_C_TYPE_ENUM)
        wire_hash_u64 (state, (uint64_t) *(const int *) member);
    else
        wire_hash_u64 (state, *(const uint64_t *) member);
}

//  True if values holds something in field tag (not its default).
static bool
s_present (uint32_t tag, const Zvh__V1__SignalView *values)
{
    const ProtobufCFieldDescriptor *field = s_field (tag);
    const char *member = (const char *) values + field->offset;
    if (field->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *) ((const char *) values + field->quantifier_offset) > 0;
    if (field->type == PROTOBUF_C_TYPE_STRING) {
        const char *text = *(const char *const *) member;
        return text && *text;
    }
    if (field->type == PROTOBUF_C_TYPE_BOOL)
        return *(const protobuf_c_boolean *) member;
    if (field->type == PROTOBUF_C_TYPE_ENUM)
        return *(const int *) member != 0;
    return *(const uint64_t *) member != 0;
}

void
proof_values (Zvh__V1__SignalView *values, const Zvh__V1__SignalEvent *event)
{
    zvh__v1__signal_view__init (values);
    values->type = event->type;
    values->event_id = event->event_id;
    values->case_id = event->case_id;
    values->region = event->region;
    values->national = event->national;
    values->time_ms = event->time_ms;
    values->coordinator_contact = event->coordinator_contact;
    values->previous_region = event->previous_region;
    values->review_date = event->review_date;
    const Zvh__V1__SignalRaise *raise = event->signal;
    if (raise) {
        values->kind = raise->kind;
        values->urgency = raise->urgency;
        values->severity = raise->severity;
        values->certainty = raise->certainty;
        values->text = raise->text;
        values->raised_by = raise->raised_by;
        values->raised_role = raise->raised_role;
    }
}

void
proof_commit (uint32_t tag, const Zvh__V1__SignalView *values,
              const uint8_t salt [PROOF_SALT_BYTES], uint8_t commitment [PROOF_COMMITMENT_BYTES])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, PROOF_COMMITMENT_BYTES);
    crypto_generichash_update (&state, salt, PROOF_SALT_BYTES);
    wire_hash_u64 (&state, tag);
    s_put_value (&state, tag, values);
    crypto_generichash_final (&state, commitment, PROOF_COMMITMENT_BYTES);
}

//  BLAKE2b-512 of the context, publisher, event id and every commitment.
static void
s_digest (const char *publisher, const char *event_id, const commitments_t *commitments,
          uint8_t digest [64])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 64);
    wire_hash_text (&state, PROOF_CONTEXT);
    wire_hash_text (&state, publisher);
    wire_hash_text (&state, event_id);
    for (size_t i = 0; i < PROOF_FIELDS; i++)
        crypto_generichash_update (&state, commitments->fields [i], PROOF_COMMITMENT_BYTES);
    wire_hash_u64 (&state, commitments->role_count);
    for (size_t i = 0; i < commitments->role_count; i++) {
        wire_hash_text (&state, commitments->roles [i]);
        for (size_t j = 0; j < PROOF_ROLE_FIELDS; j++)
            crypto_generichash_update (&state, commitments->role_fields [i][j],
                                       PROOF_COMMITMENT_BYTES);
    }
    crypto_generichash_final (&state, digest, 64);
}

//  ---------------------------------------------------------------- reading a proof

static bool
s_opened (const Zvh__V1__FieldProof *field)
{
    return field->salt.len == PROOF_SALT_BYTES && field->commitment.len == 0;
}

//  The commitment of one field of a proof: recomputed from its salt and
//  values, or as given for a hidden field, which values must not hold
//  (NULL values: none at hand, so it must be hidden). False if the field is
//  not tag, is neither opened nor hidden, or is hidden but must_open.
static bool
s_read_field (const Zvh__V1__FieldProof *field, uint32_t tag,
              const Zvh__V1__SignalView *values, bool must_open, uint8_t *commitment)
{
    if (field->tag != tag)
        return false;
    if (s_opened (field) && values) {
        proof_commit (tag, values, field->salt.data, commitment);
        return true;
    }
    bool hidden = field->salt.len == 0 && field->commitment.len == PROOF_COMMITMENT_BYTES;
    if (!hidden || must_open || (values && s_present (tag, values)))
        return false;
    memcpy (commitment, field->commitment.data, PROOF_COMMITMENT_BYTES);
    return true;
}

static bool
s_read_fields (const Zvh__V1__SignalProof *proof, const Zvh__V1__SignalView *values,
               bool must_open, commitments_t *commitments)
{
    if (proof->n_fields != PROOF_FIELDS)
        return false;
    for (size_t i = 0; i < PROOF_FIELDS; i++)
        if (!s_read_field (proof->fields [i], s_tags [i], values, must_open,
                           commitments->fields [i]))
            return false;
    return true;
}

//  One role part; values holds its partner_ref and actions, or is NULL.
static bool
s_read_role (const Zvh__V1__RoleProof *part, const Zvh__V1__SignalView *values,
             bool must_open, commitments_t *commitments, size_t index)
{
    if (part->n_fields != PROOF_ROLE_FIELDS || !part->role)
        return false;
    if (index > 0 && strcmp (commitments->roles [index - 1], part->role) >= 0)
        return false;               //  sorted, and each role once
    commitments->roles [index] = part->role;
    for (size_t j = 0; j < PROOF_ROLE_FIELDS; j++)
        if (!s_read_field (part->fields [j], s_role_tags [j], values, must_open,
                           commitments->role_fields [index][j]))
            return false;
    return true;
}

static bool
s_part_opened (const Zvh__V1__RoleProof *part)
{
    for (size_t j = 0; j < part->n_fields; j++)
        if (part->fields [j]->salt.len)
            return true;
    return false;
}

static int
s_check (const Zvh__V1__SignalProof *proof, const char *event_id,
         const commitments_t *commitments, const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES])
{
    if (proof->signature.len != WIRE_SIGNATURE_BYTES || !proof->publisher)
        return -1;
    uint8_t digest [64];
    s_digest (proof->publisher, event_id, commitments, digest);
    return crypto_sign_verify_detached (proof->signature.data, digest, sizeof digest,
                                        public_key) == 0 ? 0 : -1;
}

static const Zvh__V1__RoleView *
s_role_named (Zvh__V1__RoleView *const *roles, size_t role_count, const char *role)
{
    for (size_t i = 0; i < role_count; i++)
        if (roles [i]->role && strcmp (roles [i]->role, role) == 0)
            return roles [i];
    return NULL;
}

//  The values of one role part, as a SignalView holds them.
static void
s_role_values (Zvh__V1__SignalView *values, const Zvh__V1__RoleView *role)
{
    zvh__v1__signal_view__init (values);
    values->partner_ref = role->partner_ref;
    values->actions = role->actions;
    values->n_actions = role->n_actions;
}

//  An event's commitments: every field and every role part opened.
static bool
s_read_event (const Zvh__V1__SignalProof *proof, const Zvh__V1__SignalView *values,
              Zvh__V1__RoleView *const *roles, size_t role_count,
              commitments_t *commitments)
{
    if (!s_read_fields (proof, values, true, commitments)
    ||  proof->n_roles != role_count || role_count > PROOF_ROLES_MAX)
        return false;
    commitments->role_count = role_count;
    for (size_t i = 0; i < role_count; i++) {
        const Zvh__V1__RoleView *role = proof->roles [i]->role
            ? s_role_named (roles, role_count, proof->roles [i]->role) : NULL;
        Zvh__V1__SignalView role_values;
        if (!role)
            return false;
        s_role_values (&role_values, role);
        if (!s_read_role (proof->roles [i], &role_values, true, commitments, i))
            return false;
    }
    return true;
}

int
proof_verify_event (const Zvh__V1__SignalProof *proof, const Zvh__V1__SignalView *values,
                    Zvh__V1__RoleView *const *roles, size_t role_count,
                    const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES])
{
    assert (proof && values);
    commitments_t commitments;
    if (!s_read_event (proof, values, roles, role_count, &commitments))
        return -1;
    return s_check (proof, values->event_id, &commitments, public_key);
}

int
proof_verify_view (const Zvh__V1__SignalView *view,
                   const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES])
{
    assert (view);
    const Zvh__V1__SignalProof *proof = view->proof;
    commitments_t commitments;
    if (!proof || !proof->publisher || !s_read_fields (proof, view, false, &commitments)
    ||  proof->n_roles > PROOF_ROLES_MAX)
        return -1;
    //  A region publishes in its own name only (PROTOCOL 2.8): a view that
    //  shows its region shows its publisher
    if (s_present (PROOF_TAG_REGION, view) && strcmp (view->region, proof->publisher) != 0)
        return -1;
    //  The view's partner_ref and actions are one role part's, at most
    bool opened = false;
    commitments.role_count = proof->n_roles;
    for (size_t i = 0; i < proof->n_roles; i++) {
        bool this_one = s_part_opened (proof->roles [i]);
        if ((this_one && opened)
        ||  !s_read_role (proof->roles [i], this_one ? view : NULL, false, &commitments, i))
            return -1;
        opened = opened || this_one;
    }
    if (!opened && (s_present (PROOF_TAG_PARTNER_REF, view)
                ||  s_present (PROOF_TAG_ACTIONS, view)))
        return -1;                  //  a role part nobody vouched for
    return s_check (proof, view->event_id, &commitments, public_key);
}

//  ---------------------------------------------------------------- making a proof

//  Fill slot of storage as field tag: opened with salt, else hidden with
//  commitment.
static Zvh__V1__FieldProof *
s_put_field (proof_storage_t *storage, Zvh__V1__FieldProof *field, size_t slot,
             uint32_t tag, const uint8_t *salt, const uint8_t *commitment)
{
    zvh__v1__field_proof__init (field);
    field->tag = tag;
    if (salt) {
        memcpy (storage->salts [slot], salt, PROOF_SALT_BYTES);
        field->salt.data = storage->salts [slot];
        field->salt.len = PROOF_SALT_BYTES;
    }
    else {
        memcpy (storage->commitments [slot], commitment, PROOF_COMMITMENT_BYTES);
        field->commitment.data = storage->commitments [slot];
        field->commitment.len = PROOF_COMMITMENT_BYTES;
    }
    return field;
}

static void
s_storage_init (proof_storage_t *storage, const char *publisher, size_t role_count)
{
    memset (storage, 0, sizeof *storage);
    zvh__v1__signal_proof__init (&storage->proof);
    storage->proof.publisher = (char *) publisher;
    storage->proof.fields = storage->field_ptrs;
    storage->proof.n_fields = PROOF_FIELDS;
    storage->proof.roles = storage->role_ptrs;
    storage->proof.n_roles = role_count;
    for (size_t i = 0; i < PROOF_FIELDS; i++)
        storage->field_ptrs [i] = &storage->fields [i];
    for (size_t i = 0; i < role_count; i++) {
        storage->role_ptrs [i] = &storage->roles [i];
        zvh__v1__role_proof__init (&storage->roles [i]);
        storage->roles [i].fields = storage->role_field_ptrs [i];
        storage->roles [i].n_fields = PROOF_ROLE_FIELDS;
        for (size_t j = 0; j < PROOF_ROLE_FIELDS; j++)
            storage->role_field_ptrs [i][j] = &storage->role_fields [i][j];
    }
}

//  The roles in digest order (by name); false if one is unnamed or twice.
static bool
s_sort_roles (Zvh__V1__RoleView *const *roles, size_t role_count,
              const Zvh__V1__RoleView **sorted)
{
    for (size_t i = 0; i < role_count; i++) {
        if (!roles [i]->role)
            return false;
        size_t at = i;
        for (; at > 0 && strcmp (sorted [at - 1]->role, roles [i]->role) > 0; at--)
            sorted [at] = sorted [at - 1];
        if (at > 0 && strcmp (sorted [at - 1]->role, roles [i]->role) == 0)
            return false;
        sorted [at] = roles [i];
    }
    return true;
}

Zvh__V1__SignalProof *
proof_sign (proof_storage_t *storage, const char *publisher, const Zvh__V1__SignalView *values,
            Zvh__V1__RoleView *const *roles, size_t role_count,
            const uint8_t secret_key [WIRE_SIGN_SECRET_BYTES])
{
    assert (storage && publisher && values);
    const Zvh__V1__RoleView *sorted [PROOF_ROLES_MAX];
    if (role_count > PROOF_ROLES_MAX || !s_sort_roles (roles, role_count, sorted))
        return NULL;
    s_storage_init (storage, publisher, role_count);
    commitments_t commitments;
    //  Every salt from one call: a call is a getrandom system call
    uint8_t salts [PROOF_FIELDS + PROOF_ROLES_MAX * PROOF_ROLE_FIELDS][PROOF_SALT_BYTES];
    randombytes_buf (salts, (PROOF_FIELDS + role_count * PROOF_ROLE_FIELDS) * PROOF_SALT_BYTES);
    for (size_t i = 0; i < PROOF_FIELDS; i++) {
        proof_commit (s_tags [i], values, salts [i], commitments.fields [i]);
        s_put_field (storage, &storage->fields [i], i, s_tags [i], salts [i], NULL);
    }
    commitments.role_count = role_count;
    for (size_t i = 0; i < role_count; i++) {
        Zvh__V1__SignalView role_values;
        s_role_values (&role_values, sorted [i]);
        storage->roles [i].role = sorted [i]->role;
        commitments.roles [i] = sorted [i]->role;
        for (size_t j = 0; j < PROOF_ROLE_FIELDS; j++) {
            size_t slot = PROOF_FIELDS + i * PROOF_ROLE_FIELDS + j;
            proof_commit (s_role_tags [j], &role_values, salts [slot],
                          commitments.role_fields [i][j]);
            s_put_field (storage, &storage->role_fields [i][j], slot, s_role_tags [j],
                         salts [slot], NULL);
        }
    }
    uint8_t digest [64];
    s_digest (publisher, values->event_id, &commitments, digest);
    crypto_sign_detached (storage->signature, NULL, digest, sizeof digest, secret_key);
    storage->proof.signature.data = storage->signature;
    storage->proof.signature.len = WIRE_SIGNATURE_BYTES;
    return &storage->proof;
}

Zvh__V1__SignalProof *
proof_open (proof_storage_t *storage, const Zvh__V1__SignalProof *event_proof,
            const Zvh__V1__SignalView *values, Zvh__V1__RoleView *const *roles,
            size_t role_count, proof_shown_t shown, const char *opened_role)
{
    assert (storage && event_proof && values);
    commitments_t commitments;
    if (!s_read_event (event_proof, values, roles, role_count, &commitments)
    ||  event_proof->signature.len != WIRE_SIGNATURE_BYTES)
        return NULL;
    s_storage_init (storage, event_proof->publisher, role_count);
    for (size_t i = 0; i < PROOF_FIELDS; i++) {
        bool show = (shown & PROOF_SHOWN (s_tags [i])) != 0;
        s_put_field (storage, &storage->fields [i], i, s_tags [i],
                     show ? event_proof->fields [i]->salt.data : NULL, commitments.fields [i]);
    }
    for (size_t i = 0; i < role_count; i++) {
        const Zvh__V1__RoleProof *part = event_proof->roles [i];
        bool mine = opened_role && strcmp (part->role, opened_role) == 0;
        storage->roles [i].role = part->role;
        for (size_t j = 0; j < PROOF_ROLE_FIELDS; j++) {
            bool show = mine && (shown & PROOF_SHOWN (s_role_tags [j]));
            s_put_field (storage, &storage->role_fields [i][j],
                         PROOF_FIELDS + i * PROOF_ROLE_FIELDS + j, s_role_tags [j],
                         show ? part->fields [j]->salt.data : NULL,
                         commitments.role_fields [i][j]);
        }
    }
    memcpy (storage->signature, event_proof->signature.data, WIRE_SIGNATURE_BYTES);
    storage->proof.signature.data = storage->signature;
    storage->proof.signature.len = WIRE_SIGNATURE_BYTES;
    return &storage->proof;
}
