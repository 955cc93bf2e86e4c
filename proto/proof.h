/*  proof: who published a signal event, checkable from any view of it.
 *
 *  A partner's view hides fields (data minimisation), so a signature over
 *  the whole event could not be checked by a partner. The publisher instead
 *  commits to each SignalView field with a salted hash and signs the
 *  commitments (PROTOCOL 8.3). A view opens the fields it shows (gives
 *  their salts) and gives only the commitments of the others: of a hidden
 *  field a partner learns a hash of a salted value, nothing more.
 *
 *  One message, SignalProof, carries both: in a SignalEvent every field is
 *  opened (regions see all of it); in a SignalView only those it shows.
 *  Daemon, libzvh and tests use these functions.
 */
#ifndef ZVH_PROOF_H
#define ZVH_PROOF_H

#include "wire.h"
#include <stdbool.h>

#define PROOF_SALT_BYTES        16
#define PROOF_COMMITMENT_BYTES  32
#define PROOF_FIELDS            16      //  SignalView tags 2..14, 17..19
#define PROOF_ROLE_FIELDS       2       //  partner_ref (15), actions (16)
#define PROOF_ROLES_MAX         16      //  as many as an event has (PROTOCOL 6.3)
#define PROOF_TAG_REGION        5
#define PROOF_TAG_PARTNER_REF   15
#define PROOF_TAG_ACTIONS       16
#define PROOF_TAG_CONTACT       17      //  coordinator_contact

//  Which SignalView fields a view shows: bit (1 << tag) per field (tags
//  past the proof's have no bit: no proof covers them).
typedef uint32_t proof_shown_t;
#define PROOF_SHOWN_BITS        32
#define PROOF_SHOWN(tag)        ((uint32_t) (tag) < PROOF_SHOWN_BITS \
                                 ? (proof_shown_t) 1 << (tag) : (proof_shown_t) 0)

//  Room for one proof (event or view), so that none is malloc'd: the
//  message points into it and stays valid while it lives.
typedef struct {
    Zvh__V1__SignalProof proof;
    Zvh__V1__FieldProof fields [PROOF_FIELDS];
    Zvh__V1__FieldProof *field_ptrs [PROOF_FIELDS];
    Zvh__V1__RoleProof roles [PROOF_ROLES_MAX];
    Zvh__V1__RoleProof *role_ptrs [PROOF_ROLES_MAX];
    Zvh__V1__FieldProof role_fields [PROOF_ROLES_MAX][PROOF_ROLE_FIELDS];
    Zvh__V1__FieldProof *role_field_ptrs [PROOF_ROLES_MAX][PROOF_ROLE_FIELDS];
    uint8_t salts [PROOF_FIELDS + PROOF_ROLES_MAX * PROOF_ROLE_FIELDS][PROOF_SALT_BYTES];
    uint8_t commitments [PROOF_FIELDS + PROOF_ROLES_MAX * PROOF_ROLE_FIELDS]
                        [PROOF_COMMITMENT_BYTES];
    uint8_t signature [WIRE_SIGNATURE_BYTES];
} proof_storage_t;

//  Fill values with the SignalView fields of event that a proof commits to
//  outside the role parts (PROTOCOL 8.2: every field but seq, partner_ref
//  and actions). Strings point into event.
void
    proof_values (Zvh__V1__SignalView *values, const Zvh__V1__SignalEvent *event);

//  The commitment of field tag of values under salt: BLAKE2b-256 of the
//  salt, u64 (tag) and the field's canonical bytes (PROTOCOL 8.3).
void
    proof_commit (uint32_t tag, const Zvh__V1__SignalView *values,
                  const uint8_t salt [PROOF_SALT_BYTES],
                  uint8_t commitment [PROOF_COMMITMENT_BYTES]);

//  Make the proof of an event that publisher publishes, in storage: fresh
//  random salts for every field of values (the event's full view; its
//  partner_ref and actions are ignored) and of each of the roles, signed
//  with the publisher's secret key. Returns the proof (in storage), or
//  NULL if the roles are more than PROOF_ROLES_MAX, unnamed or named twice.
Zvh__V1__SignalProof *
    proof_sign (proof_storage_t *storage, const char *publisher,
                const Zvh__V1__SignalView *values,
                Zvh__V1__RoleView *const *roles, size_t role_count,
                const uint8_t secret_key [WIRE_SIGN_SECRET_BYTES]);

//  Check an event's proof: every field opened, one role part per role of
//  the event, and signed by the holder of public_key. 0 if it holds.
int
    proof_verify_event (const Zvh__V1__SignalProof *proof,
                        const Zvh__V1__SignalView *values,
                        Zvh__V1__RoleView *const *roles, size_t role_count,
                        const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES]);

//  Make a view's proof in storage from the event's (every field opened):
//  the salts of the fields in shown, the commitments of the others; of the
//  role parts, the one named opened_role (NULL: none) shows its fields in
//  shown, the others only commitments. values and roles are the event's,
//  as for proof_sign. Returns the proof, or NULL if the event's proof does
//  not have that shape.
Zvh__V1__SignalProof *
    proof_open (proof_storage_t *storage, const Zvh__V1__SignalProof *event_proof,
                const Zvh__V1__SignalView *values,
                Zvh__V1__RoleView *const *roles, size_t role_count,
                proof_shown_t shown, const char *opened_role);

//  Check the proof a view carries against public_key: the opened fields
//  are the view's values, every field the view holds is opened, at most
//  one role part (the view's partner_ref and actions) is opened, and the
//  view's region, if shown, is the publisher. 0 if it holds.
int
    proof_verify_view (const Zvh__V1__SignalView *view,
                       const uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES]);

#endif
