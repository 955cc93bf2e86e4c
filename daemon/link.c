/*  link: the federation link's rules as pure functions (PROTOCOL 4.5, 4.6,
 *  4.9). Each function reads a plain struct and a frame and writes the
 *  decision; the callers own the store, the sockets and the log.
 *
 *  Invariant on both sides: a link seq is taken at most once and only in
 *  order (the receiver applies lin + 1 only; the sender's acked only moves
 *  up within its own incarnation's numbering, except when a restored peer
 *  says it has less).
 */
#include "link.h"
#include <string.h>

#define LINK_KIND_DATA  ZVH__V1__LINK_FRAME__KIND__KIND_DATA
#define LINK_KIND_PING  ZVH__V1__LINK_FRAME__KIND__KIND_PING

//  ---------------------------------------------------------------- receiver

//  Where a DATA frame in the followed incarnation puts the link, from lin.
static uint64_t
s_place_data (link_in_step_t *step, const Zvh__V1__LinkFrame *frame, uint64_t lin)
{
    if (frame->floor > lin) {
        step->hole = true;
        step->hole_from = lin + 1;
        lin = frame->floor;
    }
    if (frame->link_seq == lin + 1) {
        step->action = LINK_APPLY;
        step->resent = frame->link_seq <= step->next.lres;
        return frame->link_seq;
    }
    step->action = frame->link_seq <= lin ? LINK_RESEND : LINK_GAP;
    return lin;
}

//  The ACK and the overtaken check once lin is known.
static void
s_settle (link_in_step_t *step, const Zvh__V1__LinkFrame *frame)
{
    bool current = frame->incarnation == step->next.linc;
    bool heard = frame->kind == LINK_KIND_DATA || frame->kind == LINK_KIND_PING;
    step->overtaken = current && heard && frame->resume_after > step->next.lin;
    step->ack_seq = step->next.lin;
    step->ack_incarnation = step->next.linc;
}

void
link_receive (const link_in_t *state, const Zvh__V1__LinkFrame *frame,
              link_in_step_t *step)
{
    memset (step, 0, sizeof *step);
    step->next = *state;
    uint64_t lin = state->lin;
    if (frame->incarnation > state->linc) {
        //  Never forward of what was applied here; up to the old lin, the
        //  new numbering carries what the restored sender sends again
        step->follow = true;
        lin = frame->resume_after < lin ? frame->resume_after : lin;
        step->followed_lin = lin;
        step->next.linc = frame->incarnation;
        step->next.lres = state->lin;
    }
    if (frame->kind != LINK_KIND_DATA)
        step->action = LINK_IGNORE;
    else
    if (frame->incarnation != step->next.linc)
        step->action = LINK_STALE;
    else
        lin = s_place_data (step, frame, lin);
    step->next.lin = lin;
    s_settle (step, frame);
}

void
link_held (link_in_step_t *step, const Zvh__V1__LinkFrame *frame)
{
    if (step->action != LINK_APPLY)
        return;
    step->next.lin = frame->link_seq - 1;  //  applying lin + 1 was the action
    s_settle (step, frame);
}

//  ---------------------------------------------------------------- sender

uint64_t
link_window_room (const link_out_t *state, int window)
{
    uint64_t in_flight = state->sent - state->acked;
    return in_flight >= (uint64_t) window ? 0 : (uint64_t) window - in_flight;
}

void
link_on_sent (link_out_t *state, uint64_t link_seq, int64_t now_ms)
{
    if (state->sent == state->acked)
        state->progress_ms = now_ms;    //  the timeout runs from here
    state->sent = link_seq;
}

bool
link_in_flight (const link_out_t *state)
{
    return state->sent > state->acked;
}

uint64_t
link_on_timeout (link_out_t *state, int64_t now_ms, int retry_max_ms, int *rto_ms_p)
{
    if (!link_in_flight (state) || now_ms - state->progress_ms < state->rto_ms)
        return 0;
    uint64_t in_flight = state->sent - state->acked;
    *rto_ms_p = state->rto_ms;
    state->sent = state->acked;
    state->progress_ms = now_ms;
    state->rto_ms = state->rto_ms * 2 > retry_max_ms ? retry_max_ms : state->rto_ms * 2;
    return in_flight;
}

void
link_resend_all (link_out_t *state)
{
    state->sent = state->acked;
}

bool
link_ack_suspect (const link_out_t *state, const Zvh__V1__LinkFrame *ack)
{
    return ack->link_incarnation == state->incarnation
        && (ack->link_seq > state->sent || ack->origin_seq > state->seq_seen);
}

//  The peer follows a later incarnation of ours, or has in our numbering a
//  link seq we never queued or an event seq we never gave. A link seq up to
//  sent was queued (last_out is read only for a suspect ACK).
static bool
s_ahead (const link_out_t *state, const Zvh__V1__LinkFrame *ack)
{
    if (ack->link_incarnation != state->incarnation)
        return ack->link_incarnation > state->incarnation;
    return (ack->link_seq > state->sent && ack->link_seq > state->last_out)
        || ack->origin_seq > state->seq_seen;
}

link_ack_t
link_on_ack (link_out_t *state, const Zvh__V1__LinkFrame *ack, int retry_min_ms,
             int64_t now_ms)
{
    if (s_ahead (state, ack)) {
        state->overtaken = true;
        state->overtaken_incarnation = ack->link_incarnation;
        state->overtaken_seq = ack->origin_seq;
        return LINK_ACK_OVERTAKEN;
    }
    //  An ack in another incarnation's numbering says nothing about ours
    if (state->overtaken || ack->link_incarnation != state->incarnation)
        return LINK_ACK_IGNORED;
    if (ack->incarnation > state->peer_incarnation)
        return LINK_ACK_RESTORED;
    uint64_t link_seq = ack->link_seq;
    if (link_seq > state->sent)
        link_seq = state->sent;     //  acks for more than we sent are not ours to trust
    if (link_seq <= state->acked)
        return LINK_ACK_IGNORED;
    state->acked = link_seq;
    state->rto_ms = retry_min_ms;
    state->progress_ms = now_ms;
    return LINK_ACK_TAKEN;
}

void
link_on_restore (link_out_t *state, uint64_t peer_incarnation, uint64_t link_seq,
                 uint64_t held, int64_t now_ms, link_restore_t *restore)
{
    memset (restore, 0, sizeof *restore);
    restore->had_acked = state->acked;
    state->peer_incarnation = peer_incarnation;
    restore->complete = link_seq >= state->acked;
    if (restore->complete)
        return;
    if (held > link_seq)
        restore->lost_to = held;
    if (held < state->acked) {
        restore->resend_from = held + 1;
        state->acked = state->sent = held;
        state->progress_ms = now_ms;
    }
}

bool
link_overtaken (link_out_t *state, uint64_t *incarnation_p, uint64_t *seq_p)
{
    if (!state->overtaken)
        return false;
    state->overtaken = false;
    *incarnation_p = state->overtaken_incarnation;
    *seq_p = state->overtaken_seq;
    return true;
}
