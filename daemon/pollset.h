/*  pollset: what the daemon's loop waits on, all of it in one wait a turn.
 *
 *  zpoller answers with one ready socket per wait, so a loop built on it
 *  serves one socket per turn and a busy socket starves the others. A
 *  pollset answers with every ready item at once, and asks a socket for its
 *  state only when it may have changed, so an idle wait does not cost a
 *  syscall per link. It holds the sockets' handles, not the sockets:
 *  rebuild it (pollset_clear, then add) whenever a socket is closed.
 */
#ifndef ZVH_POLLSET_H
#define ZVH_POLLSET_H

#include <czmq.h>

typedef struct _pollset_t pollset_t;

//  An empty set.
pollset_t *
    pollset_new (void);

//  Free the set and null the pointer.
void
    pollset_destroy (pollset_t **self_p);

//  Forget every item.
void
    pollset_clear (pollset_t *self);

//  Wait for socket (a zsock_t or zactor_t) to be readable; it is its own
//  tag in pollset_next_ready.
void
    pollset_add_socket (pollset_t *self, void *socket);

//  As pollset_add_socket, for a socket whose owner counts every send and
//  receive on it in *ops: it is asked for its state only when *ops moved,
//  when its descriptor fired, or when it was readable at the last wait.
void
    pollset_add_counted (pollset_t *self, void *socket, const uint64_t *ops);

//  Wait for a plain descriptor to be readable; tag names it in
//  pollset_next_ready.
void
    pollset_add_fd (pollset_t *self, int fd, void *tag);

//  Wait up to timeout_ms (-1: for ever) until an item is readable. Returns
//  the number of readable items, or -1 if interrupted (a signal, or the
//  context was terminated).
int
    pollset_wait (pollset_t *self, int timeout_ms);

//  The tag of the next item the last wait found readable, in the order of
//  adding, from *cursor on (start at 0); NULL after the last.
void *
    pollset_next_ready (pollset_t *self, size_t *cursor);

#endif
