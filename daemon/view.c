/*  view: builds the full SignalView, then clears every field the role's
 *  view does not list, so that one table (the config) decides disclosure.
 */
#include "view.h"
#include <czmq.h>

#define VIEW_OPERATOR_ROLE  "operator"
#define VIEW_REGION_ROLE    "region"    //  the plan's name for the region's own team

static bool
s_covers_region (const config_partner_t *partner, const char *region)
{
    for (size_t i = 0; region && *region && i < partner->region_count; i++)
        if (streq (partner->regions [i], region))
            return true;
    return false;
}

//  Covered as any event is: national, all regions, the case, or its region.
static bool
s_covers_fully (const config_partner_t *partner, const Zvh__V1__SignalEvent *event)
{
    if (event->national || partner->all_regions)
        return true;
    for (size_t i = 0; i < partner->case_count; i++)
        if (event->case_id && streq (partner->cases [i], event->case_id))
            return true;
    return s_covers_region (partner, event->region);
}

//  A label_moved event that a partner gets only as a partner of the region
//  the case left: it learns that the case left, nothing of the new owner.
static bool
s_departure_only (const config_partner_t *partner, const Zvh__V1__SignalEvent *event)
{
    return event->type == ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_MOVED
        && s_covers_region (partner, event->previous_region)
        && !s_covers_fully (partner, event);
}

bool
view_covers (const config_partner_t *partner, const Zvh__V1__SignalEvent *event)
{
    //  A review date is the owner region's own business
    if (event->type == ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_REVIEW_DUE
    &&  !streq (partner->role, VIEW_OPERATOR_ROLE))
        return false;
    return s_covers_fully (partner, event) || s_departure_only (partner, event);
}

static const Zvh__V1__RoleView *
s_role_part (const Zvh__V1__SignalEvent *event, const char *role)
{
    //  Operators act for their region: the plan calls them "region"
    const char *alias = streq (role, VIEW_OPERATOR_ROLE) ? VIEW_REGION_ROLE : role;
    for (size_t i = 0; i < event->n_roles; i++)
        if (event->roles [i]->role && (streq (event->roles [i]->role, role)
                                   ||  streq (event->roles [i]->role, alias)))
            return event->roles [i];
    return NULL;
}

static void
s_fill (Zvh__V1__SignalView *view, const Zvh__V1__SignalEvent *event,
        const Zvh__V1__RoleView *part, uint64_t seq)
{
    proof_values (view, event);
    view->seq = seq;
    if (part) {
        view->partner_ref = part->partner_ref;
        view->actions = part->actions;
        view->n_actions = part->n_actions;
    }
}

//  Clear each field of view that the role may not see. Fields are found by
//  name in the generated descriptor, so a new SignalView field is hidden
//  until a view lists it. Returns the fields left.
static proof_shown_t
s_minimise (Zvh__V1__SignalView *view, const config_view_t *allowed)
{
    const ProtobufCMessageDescriptor *desc = view->base.descriptor;
    proof_shown_t shown = 0;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &desc->fields [i];
        if (config_view_has (allowed, field->name)) {
            shown |= PROOF_SHOWN (field->id);
            continue;
        }
        char *member = (char *) view + field->offset;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            *(size_t *) ((char *) view + field->quantifier_offset) = 0;
            *(void **) member = NULL;
        }
        else
        if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE)
            *(char **) member = NULL;
        else
        if (field->type == PROTOBUF_C_TYPE_UINT64 || field->type == PROTOBUF_C_TYPE_INT64)
            *(uint64_t *) member = 0;
        else
        if (field->type == PROTOBUF_C_TYPE_BOOL)
            *(protobuf_c_boolean *) member = 0;
        else
        if (field->type == PROTOBUF_C_TYPE_ENUM)
            *(int *) member = 0;
        else
            assert (false);     //  a SignalView field type this code does not know
    }
    return shown;
}

uint8_t *
view_encode (const config_t *config, const config_partner_t *partner,
             const Zvh__V1__SignalEvent *event, uint64_t seq, size_t *size_p)
{
    const config_view_t *allowed = config_view (config, partner->role);
    if (!allowed)
        return NULL;
    const Zvh__V1__RoleView *part = s_role_part (event, partner->role);
    Zvh__V1__SignalView view;
    s_fill (&view, event, part, seq);
    proof_shown_t shown = s_minimise (&view, allowed);
    if (s_departure_only (partner, event)) {
        //  Not the new owner, its contact or its actions (PROTOCOL 8.1)
        view.region = NULL;
        view.coordinator_contact = NULL;
        view.actions = NULL;
        view.n_actions = 0;
        shown &= ~(PROOF_SHOWN (PROOF_TAG_REGION) | PROOF_SHOWN (PROOF_TAG_CONTACT)
                 | PROOF_SHOWN (PROOF_TAG_ACTIONS));
    }
    //  Who published it: the salts of what this view shows, the commitments
    //  of the rest (PROTOCOL 8.3); an event from before proofs has none
    proof_storage_t storage;
    Zvh__V1__SignalView values;
    if (event->proof) {
        proof_values (&values, event);
        view.proof = proof_open (&storage, event->proof, &values, event->roles,
                                 event->n_roles, shown, part ? part->role : NULL);
    }
    return wire_encode (&view.base, size_p);
}
