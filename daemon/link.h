/*  link: the rules of a federation link as a pure state machine.
 *
 *  docs/PROTOCOL.md 4.5 (sender), 4.6 (receiver) and 4.9 (restore resync)
 *  decided over plain structs: stored state and a frame in, the new state
 *  and what to do out. No store, no socket, no log line: peer.c and
 *  federation.c read and write the store, send the frames and log what a
 *  step says happened. So every rule is tested without either
 *  (tests/test_link.c), and the two sides cannot drift from the spec apart.
 */
#ifndef ZVH_LINK_H
#define ZVH_LINK_H

#include "wire.h"
#include <stdbool.h>
#include <stdint.h>

//  ---------------------------------------------------------------- receiver

//  What the receiver keeps durable per sending region R (4.6, 4.9).
typedef struct {
    uint64_t lin;                   //  lin:R, the last link seq applied
    uint64_t linc;                  //  linc:R, the incarnation of R that lin follows
    uint64_t lres;                  //  lres:R, link seqs up to here are sent again
} link_in_t;

//  What becomes of a frame's envelope.
typedef enum {
    LINK_IGNORE,                    //  not DATA: nothing to apply
    LINK_STALE,                     //  from an incarnation before the one followed
    LINK_APPLY,                     //  the next in order: apply it
    LINK_RESEND,                    //  at or below lin: not applied again
    LINK_GAP                        //  after lin + 1: the sender will go back
} link_action_t;

//  One received frame decided. The store writes it asks for, in order: the
//  followed incarnation (next.linc, followed_lin, next.lres), the hole
//  (lin = the frame's floor), then the event and lin = next.lin.
typedef struct {
    bool follow;                    //  the sender is in a new incarnation
    uint64_t followed_lin;          //  lin right after following it
    bool hole;                      //  the sender no longer holds hole_from .. floor
    uint64_t hole_from;
    link_action_t action;
    bool resent;                    //  APPLY: sent again by a restored sender
    link_in_t next;                 //  the state after the frame
    bool overtaken;                 //  the sender holds our ACKs for more than lin
    uint64_t ack_seq;               //  the ACK to send: link_seq
    uint64_t ack_incarnation;       //  and link_incarnation
} link_in_step_t;

//  Decide what frame (DATA, PING or other, from the region whose state is
//  state) does, assuming an event to apply is applied.
void
    link_receive (const link_in_t *state, const Zvh__V1__LinkFrame *frame,
                  link_in_step_t *step);

//  The event step said to apply was refused and holds the link: lin stays
//  before it; step's state, ACK and overtaken are corrected.
void
    link_held (link_in_step_t *step, const Zvh__V1__LinkFrame *frame);

//  ---------------------------------------------------------------- sender

//  The sender's state of one link (4.5); acked and peer_incarnation are
//  also durable, the rest lives in memory.
typedef struct {
    uint64_t incarnation;           //  this region's: the numbering of sent
    uint64_t peer_incarnation;      //  rinc:P, the peer's as last heard
    uint64_t acked;                 //  the peer's last cumulative ACK taken
    uint64_t sent;                  //  the last link seq handed to ZeroMQ
    uint64_t last_out;              //  the last link seq queued, as last read
    uint64_t seq_seen;              //  our origin seq was at least this
    int rto_ms;                     //  the current retransmit timeout
    int64_t progress_ms;            //  last advancing ACK, resend or first send
    bool overtaken;                 //  a report not yet taken (link_overtaken)
    uint64_t overtaken_incarnation; //  the report: our incarnation the peer follows
    uint64_t overtaken_seq;         //  and our highest event seq it has
} link_out_t;

//  How many more entries may be sent now: the window's room.
uint64_t
    link_window_room (const link_out_t *state, int window);

//  Entry link_seq was handed to ZeroMQ at now_ms.
void
    link_on_sent (link_out_t *state, uint64_t link_seq, int64_t now_ms);

//  True if entries are in flight.
bool
    link_in_flight (const link_out_t *state);

//  Go-back-N: if nothing advanced acked within the timeout, send every
//  unacknowledged entry again and double the timeout (up to retry_max_ms).
//  Returns how many were in flight (0: not due); *rto_ms_p the timeout that ran out.
uint64_t
    link_on_timeout (link_out_t *state, int64_t now_ms, int retry_max_ms, int *rto_ms_p);

//  A new connection, or a new incarnation of ours: send again after acked.
void
    link_resend_all (link_out_t *state);

//  What an ACK was taken for.
typedef enum {
    LINK_ACK_IGNORED,               //  nothing changes
    LINK_ACK_TAKEN,                 //  acked moved: store it, fill the window
    LINK_ACK_RESTORED,              //  the peer was restored: link_on_restore
    LINK_ACK_OVERTAKEN              //  this store is an older copy: the report is set
} link_ack_t;

//  True if ack may show that this store is an older copy: read the last
//  link seq queued and the origin seq into state before link_on_ack.
bool
    link_ack_suspect (const link_out_t *state, const Zvh__V1__LinkFrame *ack);

//  Take an ACK at now_ms (the timeout returns to retry_min_ms if it advances).
link_ack_t
    link_on_ack (link_out_t *state, const Zvh__V1__LinkFrame *ack, int retry_min_ms,
                 int64_t now_ms);

//  What a restored peer's ACK did.
typedef struct {
    uint64_t had_acked;             //  acked before it
    bool complete;                  //  the peer has everything acknowledged
    uint64_t lost_to;               //  > 0: link seqs after the ACK's up to here are gone
    uint64_t resend_from;           //  > 0: the link is sent again from here
} link_restore_t;

//  The peer, in incarnation peer_incarnation, acknowledges link_seq; held is
//  what acked becomes when the entries after link_seq that are still held
//  are sent again (link_seq, or the oldest entry held minus one).
void
    link_on_restore (link_out_t *state, uint64_t peer_incarnation, uint64_t link_seq,
                     uint64_t held, int64_t now_ms, link_restore_t *restore);

//  True once if an ACK showed this store is an older copy: the incarnation
//  and event seq the peer reported.
bool
    link_overtaken (link_out_t *state, uint64_t *incarnation_p, uint64_t *seq_p);

#endif
