/*  authority: read an inbound event's facts, then judge them by one table.
 *
 *  authority_read never trusts a field for more than its shape: ids are
 *  validated before they can become LMDB keys (an empty or 600-byte id made
 *  a whole batch fail), and a signal event that carries another region's
 *  event id must carry that region's signed raise. authority_decide holds
 *  the rules of docs/PROTOCOL.md 2.8, one branch per event type.
 */
#include "authority.h"
#include "proof.h"
#include <ctype.h>
#include <sodium.h>

#define AUTHORITY_ID_CHARS  "._-"

bool
authority_id_valid (const char *id)
{
    size_t len = id ? strlen (id) : 0;
    if (len == 0 || len >= ZVH_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) id [i]) && !strchr (AUTHORITY_ID_CHARS, id [i]))
            return false;
    return true;
}

//  Copy src into dest (size bytes); false if it does not fit.
static bool
s_copy (char *dest, size_t size, const char *src)
{
    src = src ? src : "";
    if (strlen (src) >= size)
        return false;
    memcpy (dest, src, strlen (src) + 1);
    return true;
}

//  The directory's sign_key of region into key; false if it has none.
static bool
s_sign_key (const config_t *config, const char *region, uint8_t key [WIRE_SIGN_PUBLIC_BYTES])
{
    const config_region_t *found = config_region (config, region ? region : "");
    size_t length = 0;
    return found && *found->sign_key
        && sodium_hex2bin (key, WIRE_SIGN_PUBLIC_BYTES, found->sign_key,
                           strlen (found->sign_key), NULL, &length, NULL) == 0
        && length == WIRE_SIGN_PUBLIC_BYTES;
}

//  What reading an event needs: the directory's keys, and the signatures
//  verified before.
typedef struct {
    const config_t *config;
    sigcache_t *verified;
} reader_t;

static const char *
s_signature_error (const reader_t *reader, const Zvh__V1__Envelope *envelope)
{
    uint8_t key [WIRE_SIGN_PUBLIC_BYTES];
    if (!s_sign_key (reader->config, envelope->origin, key))
        return "its origin has no sign_key in the directory, so it cannot be verified";
    uint8_t digest [WIRE_DIGEST_BYTES];
    wire_envelope_digest (envelope, digest);
    if (sigcache_verify (reader->verified, envelope->signature.data, envelope->signature.len,
                         digest, key))
        return "its signature does not verify (forged or altered)";
    return NULL;
}

const char *
authority_signature_error (const config_t *config, sigcache_t *verified,
                           const Zvh__V1__Envelope *envelope)
{
    reader_t reader = { config, verified };
    return s_signature_error (&reader, envelope);
}

//  A custody statement signed by `signer`, as its directory sign_key says.
static bool
s_custody_signed (const reader_t *reader, wire_custody_t kind, const char *case_id,
                  const char *transfer_id, const char *source, const char *target,
                  const char *signer, ProtobufCBinaryData signature)
{
    uint8_t key [WIRE_SIGN_PUBLIC_BYTES];
    if (!s_sign_key (reader->config, signer, key))
        return false;
    uint8_t digest [WIRE_DIGEST_BYTES];
    wire_custody_digest (kind, case_id, transfer_id, source, target, digest);
    return sigcache_verify (reader->verified, signature.data, signature.len, digest, key) == 0;
}

//  A change of owner that both of its parties signed.
static bool
s_link_proven (const reader_t *reader, const char *case_id, const Zvh__V1__CustodyLink *link)
{
    return authority_id_valid (link->transfer_id)
        && s_custody_signed (reader, WIRE_CUSTODY_OFFER, case_id, link->transfer_id,
                             link->source, link->target, link->source,
                             link->offer_signature)
        && s_custody_signed (reader, WIRE_CUSTODY_ACCEPT, case_id, link->transfer_id,
                             link->source, link->target, link->target,
                             link->accept_signature);
}

//  The offer's chain proves that its source owns the case (PROTOCOL 2.9):
//  every link signed by both parties and starting where the one before it
//  ended, the last ending at the source (no link: the source included it),
//  and the offer itself signed by the source.
static void
s_read_custody (const reader_t *reader, const Zvh__V1__TransferOffer *offer,
                authority_event_t *event)
{
    size_t count = offer->custody ? offer->custody->n_links : 0;
    if (count > WIRE_CUSTODY_LINKS_MAX)
        return;
    const char *holder = NULL;
    for (size_t i = 0; i < count; i++) {
        const Zvh__V1__CustodyLink *link = offer->custody->links [i];
        if ((holder && !streq (link->source, holder))
        ||  !s_link_proven (reader, offer->case_id, link))
            return;
        if (streq (link->source, event->self))
            snprintf (event->custody_self_transfer, sizeof event->custody_self_transfer,
                      "%s", link->transfer_id);
        holder = link->target;
    }
    event->custody_full = count == WIRE_CUSTODY_LINKS_MAX;
    event->custody_proven = (!holder || streq (holder, offer->source))
        && s_custody_signed (reader, WIRE_CUSTODY_OFFER, offer->case_id,
                             offer->transfer_id, offer->source, offer->target,
                             offer->source, offer->offer_signature);
}

//  An accept signed by its sender, and echoing the offer this region signed.
static void
s_read_accept (const reader_t *reader, const Zvh__V1__TransferAccept *accept,
               authority_event_t *event)
{
    event->accept_signed = s_custody_signed (reader, WIRE_CUSTODY_ACCEPT, accept->case_id,
                                             accept->transfer_id, event->self,
                                             event->from, event->from,
                                             accept->accept_signature);
    event->offer_proven = s_custody_signed (reader, WIRE_CUSTODY_OFFER, accept->case_id,
                                            accept->transfer_id, event->self,
                                            event->from, event->self,
                                            accept->offer_signature);
}

//  "region/seq": the region part into region (CONFIG_ID_MAX) and the seq.
static bool
s_split_event_id (const char *event_id, char *region, uint64_t *seq)
{
    const char *slash = strrchr (event_id, '/');
    if (!slash || slash == event_id || (size_t) (slash - event_id) >= CONFIG_ID_MAX
    ||  !slash [1] || strlen (slash + 1) > 20)
        return false;
    for (const char *digit = slash + 1; *digit; digit++)
        if (!isdigit ((unsigned char) *digit))
            return false;
    memcpy (region, event_id, (size_t) (slash - event_id));
    region [slash - event_id] = 0;
    *seq = strtoull (slash + 1, NULL, 10);
    return authority_id_valid (region);
}

static bool
s_same_text (const char *a, const char *b)
{
    return streq (a ? a : "", b ? b : "");
}

//  The raise a published signal carries is the one its event id names,
//  signed by the region that raised it, and says what the event says.
static bool
s_raise_attested (const reader_t *reader, const Zvh__V1__SignalEvent *event)
{
    char region [CONFIG_ID_MAX];
    uint64_t seq;
    if (!event->signal || !event->raise_envelope.len
    ||  !s_split_event_id (event->event_id, region, &seq))
        return false;
    Zvh__V1__Envelope *raised = WIRE_DECODE (Zvh__V1__Envelope, zvh__v1__envelope,
                                             event->raise_envelope.data,
                                             event->raise_envelope.len);
    Zvh__V1__SignalRaise *raise = raised
        ? WIRE_DECODE (Zvh__V1__SignalRaise, zvh__v1__signal_raise,
                       raised->payload.data, raised->payload.len)
        : NULL;
    const Zvh__V1__SignalRaise *said = event->signal;
    bool attested = raise
        && raised->type == ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE
        && streq (raised->origin, region) && raised->seq == seq
        && s_signature_error (reader, raised) == NULL
        && s_same_text (raise->case_id, said->case_id) && raise->national == said->national
        && raise->kind == said->kind && raise->urgency == said->urgency
        && raise->severity == said->severity && raise->certainty == said->certainty
        && s_same_text (raise->text, said->text)
        && s_same_text (raise->raised_by, said->raised_by)
        && s_same_text (raise->raised_role, said->raised_role)
        && raise->raised_ms == said->raised_ms;
    wire_free (raise ? &raise->base : NULL);
    wire_free (raised ? &raised->base : NULL);
    return attested;
}

//  A proof of who published the event (PROTOCOL 8.3) that is not its
//  publisher's, or does not verify against the publisher's sign_key: its
//  partners' views would fail. An event without one is from before proofs.
static bool
s_proof_refuted (const reader_t *reader, const char *origin,
                 const Zvh__V1__SignalEvent *event)
{
    if (!event->proof)
        return false;
    uint8_t key [WIRE_SIGN_PUBLIC_BYTES];
    Zvh__V1__SignalView values;
    proof_values (&values, event);
    return !streq (event->proof->publisher, origin) || !s_sign_key (reader->config, origin, key)
        || proof_verify_event (event->proof, &values, event->roles, event->n_roles, key);
}

static const char *
s_read_signal_event (const reader_t *reader, const Zvh__V1__SignalEvent *msg,
                     authority_event_t *event)
{
    char region [CONFIG_ID_MAX];
    uint64_t seq;
    if (!s_copy (event->event_id, sizeof event->event_id, msg->event_id)
    ||  !s_split_event_id (event->event_id, region, &seq))
        return "signal event without a valid event id (region/seq)";
    if (!s_copy (event->event_region, sizeof event->event_region, msg->region))
        return "signal event with an over-long region";
    event->signal_type = msg->type;
    event->national = msg->national;
    bool national_signal = msg->national && msg->type == ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    if (national_signal ? *msg->case_id != 0 : !authority_id_valid (msg->case_id))
        return "signal event without a valid case id (or a national one with one)";
    snprintf (event->case_id, sizeof event->case_id, "%s", msg->case_id);
    event->raise_attested = msg->type == ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL
                         && s_raise_attested (reader, msg);
    const Zvh__V1__CustodyLink *moved = msg->moved_by;
    event->move_proven = msg->type == ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_MOVED && moved
                      && s_same_text (moved->target, msg->region)
                      && s_same_text (moved->source, msg->previous_region)
                      && s_link_proven (reader, msg->case_id, moved);
    event->proof_refuted = s_proof_refuted (reader, event->origin, msg);
    return NULL;
}

//  Decode the payload and note what the table needs; NULL or why not.
static const char *
s_read_payload (const reader_t *reader, const Zvh__V1__Envelope *envelope,
                authority_event_t *event)
{
    const char *why = NULL;
    const uint8_t *data = envelope->payload.data;
    size_t size = envelope->payload.len;
    const char *case_id = NULL, *transfer_id = NULL;
    ProtobufCMessage *msg = NULL;
    switch (envelope->type) {
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER: {
            Zvh__V1__TransferOffer *offer = WIRE_DECODE (Zvh__V1__TransferOffer,
                                                         zvh__v1__transfer_offer, data, size);
            msg = offer ? &offer->base : NULL;
            if (offer && (!s_copy (event->offer_source, CONFIG_ID_MAX, offer->source)
                      ||  !s_copy (event->offer_target, CONFIG_ID_MAX, offer->target)))
                why = "offer names an over-long region";
            case_id = offer ? offer->case_id : NULL;
            transfer_id = offer ? offer->transfer_id : NULL;
            if (offer && !why && authority_id_valid (case_id) && authority_id_valid (transfer_id))
                s_read_custody (reader, offer, event);
            break;
        }
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT: {
            Zvh__V1__TransferAccept *accept = WIRE_DECODE (Zvh__V1__TransferAccept,
                                                           zvh__v1__transfer_accept, data, size);
            msg = accept ? &accept->base : NULL;
            case_id = accept ? accept->case_id : NULL;
            transfer_id = accept ? accept->transfer_id : NULL;
            if (accept)
                s_read_accept (reader, accept, event);
            break;
        }
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT: {
            Zvh__V1__TransferReject *reject = WIRE_DECODE (Zvh__V1__TransferReject,
                                                           zvh__v1__transfer_reject, data, size);
            msg = reject ? &reject->base : NULL;
            case_id = reject ? reject->case_id : NULL;
            transfer_id = reject ? reject->transfer_id : NULL;
            break;
        }
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_COMPLETE: {
            Zvh__V1__TransferComplete *complete = WIRE_DECODE (
                Zvh__V1__TransferComplete, zvh__v1__transfer_complete, data, size);
            msg = complete ? &complete->base : NULL;
            case_id = complete ? complete->case_id : NULL;
            transfer_id = complete ? complete->transfer_id : NULL;
            break;
        }
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE: {
            Zvh__V1__PlanUpdate *update = WIRE_DECODE (Zvh__V1__PlanUpdate,
                                                       zvh__v1__plan_update, data, size);
            msg = update ? &update->base : NULL;
            case_id = update ? update->case_id : NULL;
            break;
        }
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL: {
            Zvh__V1__PlanProposal *proposal = WIRE_DECODE (Zvh__V1__PlanProposal,
                                                           zvh__v1__plan_proposal, data, size);
            msg = proposal ? &proposal->base : NULL;
            case_id = proposal ? proposal->case_id : NULL;
            break;
        }
        case ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE: {
            Zvh__V1__SignalRaise *raise = WIRE_DECODE (Zvh__V1__SignalRaise,
                                                       zvh__v1__signal_raise, data, size);
            msg = raise ? &raise->base : NULL;
            event->national = raise && raise->national;
            case_id = raise ? raise->case_id : NULL;
            break;
        }
        case ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_EVENT: {
            Zvh__V1__SignalEvent *signal = WIRE_DECODE (Zvh__V1__SignalEvent,
                                                        zvh__v1__signal_event, data, size);
            if (!signal)
                return "malformed payload";
            why = s_read_signal_event (reader, signal, event);
            wire_free (&signal->base);
            return why;
        }
        default:
            return "unknown event type";
    }
    bool national_raise = envelope->type == ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE
                       && event->national;
    if (!msg)
        why = "malformed payload";
    else
    if (!why && national_raise)
        case_id = "";               //  refused by the table, with its own reason
    else
    if (!why && !authority_id_valid (case_id))
        why = "invalid case id";
    else
    if (!why && transfer_id && !authority_id_valid (transfer_id))
        why = "invalid transfer id";
    if (!why) {
        snprintf (event->case_id, sizeof event->case_id, "%s", case_id);
        snprintf (event->transfer_id, sizeof event->transfer_id, "%s",
                  transfer_id ? transfer_id : "");
    }
    wire_free (msg);
    return why;
}

const char *
authority_read (const config_t *config, sigcache_t *verified, const Zvh__V1__Envelope *envelope,
                const char *from, bool restored, authority_event_t *event)
{
    assert (config && envelope && from && event);
    reader_t reader = { config, verified };
    memset (event, 0, sizeof *event);
    event->type = envelope->type;
    event->restored = restored;
    snprintf (event->self, sizeof event->self, "%s", config->region);
    snprintf (event->from, sizeof event->from, "%s", from);
    if (!authority_id_valid (envelope->origin)
    ||  !s_copy (event->origin, sizeof event->origin, envelope->origin))
        return "invalid origin";
    return s_read_payload (&reader, envelope, event);
}

//  ---------------------------------------------------------------- the table

static bool
s_is (const char *a, const char *b)
{
    return a && b && streq (a, b);
}

//  An answer (accept, reject) to the offer this region made to `from`.
static bool
s_answers_our_offer (const authority_event_t *event, const authority_case_t *here)
{
    return here->known && here->state == ZVH__V1__CASE_STATE__CASE_OFFERED
        && s_is (here->partner, event->from) && s_is (here->transfer_id, event->transfer_id);
}

static const char *
s_decide_offer (const authority_event_t *event, const authority_case_t *here)
{
    if (!s_is (event->offer_source, event->origin) || !s_is (event->offer_target, event->self))
        return "an offer that names other regions than its sender and this one";
    if (!event->custody_proven)
        return "an offer whose chain of custody does not prove that its sender owns the case";
    //  Moved on from here: only the owner that the chain proves, after this
    //  region's own last hand-over, may bring it back
    //  A full chain with no hand-over of ours: ours fell out of the window of
    //  kept links (the case moved on that often); taken as by a region that
    //  never knew the case (2.9)
    bool fell_out = event->custody_full && !*event->custody_self_transfer;
    if (here->known && here->state == ZVH__V1__CASE_STATE__CASE_TOMBSTONE
    &&  !s_is (event->custody_self_transfer, here->transfer_id) && !fell_out)
        return "an offer for a case this region handed over, whose chain does not go "
               "through that hand-over";
    //  Held here in a joint phase: only its owner may move it on
    if (here->known && here->state == ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE
    &&  !s_is (here->owner, event->from))
        return "an offer for a case whose owner is another region";
    return NULL;
}

static const char *
s_decide_accept (const authority_event_t *event, const authority_case_t *here)
{
    if (!event->accept_signed)
        return "an accept its sender did not sign (chain of custody)";
    if (s_answers_our_offer (event, here))
        return NULL;
    //  A restored store lost the offers it made after its backup (4.9); the
    //  accept proves one by echoing this region's signature of it
    if (event->restored && event->offer_proven && here->known
    &&  here->state == ZVH__V1__CASE_STATE__CASE_ACTIVE && s_is (here->owner, event->self))
        return NULL;
    return "an accept of no offer this region made to its sender";
}

static const char *
s_decide_complete (const authority_event_t *event, const authority_case_t *here)
{
    if (!here->known || !s_is (here->partner, event->from)
    ||  !s_is (here->transfer_id, event->transfer_id))
        return "a complete of no joint phase with its sender";
    //  Active or tombstone: both sides completed at once, nothing to do
    if (here->state == ZVH__V1__CASE_STATE__CASE_OFFERED
    ||  here->state == ZVH__V1__CASE_STATE__CASE_CLOSED)
        return "a complete of a case not in its joint phase";
    return NULL;
}

//  True if region handed the case over at some time (a link's source).
static bool
s_former_owner (const Zvh__V1__CustodyChain *custody, const char *region)
{
    for (size_t i = 0; custody && i < custody->n_links; i++)
        if (s_is (custody->links [i]->source, region))
            return true;
    return false;
}

//  At the owner, a proposal is applied when its maker is the case's (last)
//  joint-phase partner, racing the end of that phase included; or this
//  region itself (its own proposal came back once the case did); or when it
//  comes over the link from that partner, which passed it on after passing
//  the case on (an accepted proposal is never lost), and its maker owned the
//  case before by the chain of custody (the partner's word is not enough).
//  Anyone else's is refused. Elsewhere it is passed on towards the owner.
static const char *
s_decide_proposal (const authority_event_t *event, const authority_case_t *here)
{
    bool owned = here->known && (here->state == ZVH__V1__CASE_STATE__CASE_ACTIVE
                             ||  here->state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET);
    if (!owned || s_is (event->origin, event->self) || s_is (event->origin, here->partner))
        return NULL;
    if (!s_is (event->from, here->partner))
        return "a proposal from a region that is not the case's joint-phase partner";
    if (!s_former_owner (here->custody, event->origin))
        return "a proposal passed on by the joint-phase partner, made by a region that "
               "never owned the case (chain of custody)";
    return NULL;
}

static const char *
s_decide_signal_event (const authority_event_t *event)
{
    char region [CONFIG_ID_MAX];
    uint64_t seq;
    if (!s_is (event->event_region, event->origin))
        return "a signal event published in another region's name";
    if (!s_split_event_id (event->event_id, region, &seq))
        return "a signal event without a valid event id";
    if (event->signal_type == ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_MOVED
    &&  !event->move_proven)
        return "a label_moved without the signed hand-over it reports (chain of custody)";
    if (event->proof_refuted)
        return "a signal event whose proof of who published it does not verify against "
               "its origin's sign_key";
    if (streq (region, event->origin))
        return NULL;
    if (event->signal_type == ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL && event->raise_attested)
        return NULL;
    return "a signal event with another region's event id, without that region's "
           "signed raise";
}

const char *
authority_decide (const authority_event_t *event, const authority_case_t *here)
{
    assert (event && here);
    bool relayable = event->type == ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE
                  || event->type == ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL;
    if (!s_is (event->origin, event->from) && !relayable)
        return "an event in another region's name (only a raise or a proposal is "
               "passed on)";
    switch (event->type) {
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER:
            return s_decide_offer (event, here);
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT:
            return s_decide_accept (event, here);
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT:
            return s_answers_our_offer (event, here)
                   ? NULL : "a reject of no offer this region made to its sender";
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_COMPLETE:
            return s_decide_complete (event, here);
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE:
            return here->known && here->state == ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE
                && s_is (here->partner, event->from)
                   ? NULL : "a plan update from a region that does not own the case in a "
                            "joint phase with this one";
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL:
            return s_decide_proposal (event, here);
        case ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE:
            return event->national ? "a national raise over the federation (a region "
                                     "publishes its national signals itself)" : NULL;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_EVENT:
            return s_decide_signal_event (event);
        default:
            return "an unknown event type";
    }
}
