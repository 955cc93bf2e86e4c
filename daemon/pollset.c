/*  pollset: epoll over the sockets' ZMQ_FDs and the plain descriptors.
 *
 *  zmq_poll asks every socket for ZMQ_EVENTS twice per wait (a poll and a
 *  getpid syscall each): with 30 links that is most of an idle daemon's
 *  CPU. Here a socket is asked only when its ZMQ_FD fired, when it was
 *  readable at the last wait (a turn reads a bounded batch), or when it
 *  is not counted (pollset_add_socket). A counted socket's owner counts
 *  each send and receive on it (pollset_add_counted): such an operation
 *  may take the socket's pending commands without the descriptor firing
 *  again (ZMQ_FD is edge-like), so a socket with new operations is asked
 *  too. Without epoll (it could not be made) the set falls back on
 *  zmq_poll, as before.
 *
 *  The arrays only grow (the set is rebuilt at a reload, not on every
 *  turn), so a wait allocates nothing.
 */
#include "pollset.h"
#include "log.h"
#include <sys/epoll.h>

#define POLLSET_FIRST_SIZE  16      //  items room is made for at first; doubles

typedef struct {
    void *handle;                   //  the libzmq socket, NULL for a plain fd
    int fd;                         //  ZMQ_FD, or the plain descriptor
    void *tag;
    const uint64_t *ops;            //  the owner's count of operations, NULL: ask always
    uint64_t ops_seen;
    bool ready;                     //  readable at the last wait
} item_t;

struct _pollset_t {
    item_t *items;
    zmq_pollitem_t *poll_items;     //  the fallback's array
    struct epoll_event *events;
    size_t size;
    size_t room;
    int epoll_fd;                   //  -1 before the first add, or without epoll
    bool no_epoll;                  //  epoll could not be made: zmq_poll
};

pollset_t *
pollset_new (void)
{
    pollset_t *self = (pollset_t *) zmalloc (sizeof (pollset_t));
    self->epoll_fd = -1;
    return self;
}

void
pollset_destroy (pollset_t **self_p)
{
    assert (self_p);
    pollset_t *self = *self_p;
    if (!self)
        return;
    pollset_clear (self);
    free (self->items);
    free (self->poll_items);
    free (self->events);
    free (self);
    *self_p = NULL;
}

void
pollset_clear (pollset_t *self)
{
    assert (self);
    if (self->epoll_fd >= 0)
        close (self->epoll_fd);     //  every registration goes with it
    self->epoll_fd = -1;
    self->no_epoll = false;
    self->size = 0;
}

static void
s_grow (pollset_t *self)
{
    self->room = self->room ? self->room * 2 : POLLSET_FIRST_SIZE;
    self->items = (item_t *) realloc (self->items, self->room * sizeof (item_t));
    self->poll_items = (zmq_pollitem_t *) realloc (self->poll_items,
                                                   self->room * sizeof (zmq_pollitem_t));
    self->events = (struct epoll_event *) realloc (self->events,
                                                   self->room * sizeof (struct epoll_event));
    //  as zmalloc: out of memory is fatal
    assert (self->items && self->poll_items && self->events);
}

//  Watch the item at index with epoll; on failure the set uses zmq_poll.
static void
s_watch (pollset_t *self, size_t index)
{
    if (self->no_epoll)
        return;
    if (self->epoll_fd < 0)
        self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    struct epoll_event event = { .events = EPOLLIN, .data.u64 = index };
    if (self->epoll_fd < 0
    ||  epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, self->items [index].fd, &event)) {
        log_warning ("pollset: epoll (%s): polling every socket each turn instead",
                     strerror (errno));
        if (self->epoll_fd >= 0)
            close (self->epoll_fd);
        self->epoll_fd = -1;
        self->no_epoll = true;
    }
}

static void
s_add (pollset_t *self, void *handle, int fd, void *tag, const uint64_t *ops)
{
    if (self->size == self->room)
        s_grow (self);
    size_t fd_size = sizeof fd;
    if (handle && zmq_getsockopt (handle, ZMQ_FD, &fd, &fd_size))
        fd = -1;                    //  epoll refuses it: the set falls back on zmq_poll
    item_t item = { handle, fd, tag, ops, ops ? *ops : 0, true };
    self->items [self->size] = item;
    zmq_pollitem_t poll_item = { .socket = handle, .fd = handle ? 0 : fd,
                                 .events = ZMQ_POLLIN };
    self->poll_items [self->size] = poll_item;
    s_watch (self, self->size++);
}

void
pollset_add_socket (pollset_t *self, void *socket)
{
    assert (self && socket);
    s_add (self, zsock_resolve (socket), -1, socket, NULL);
}

void
pollset_add_counted (pollset_t *self, void *socket, const uint64_t *ops)
{
    assert (self && socket && ops);
    s_add (self, zsock_resolve (socket), -1, socket, ops);
}

void
pollset_add_fd (pollset_t *self, int fd, void *tag)
{
    assert (self && fd >= 0 && tag);
    s_add (self, NULL, fd, tag, NULL);
}

//  Ask a socket whether it has a message; -1 if the context is ending.
static int
s_ask (item_t *item)
{
    uint32_t events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt (item->handle, ZMQ_EVENTS, &events, &size))
        return -1;
    item->ops_seen = item->ops ? *item->ops : 0;
    item->ready = (events & ZMQ_POLLIN) != 0;
    return item->ready;
}

//  The sockets that may be readable without their descriptor firing.
static int
s_ask_candidates (pollset_t *self)
{
    int ready = 0;
    for (size_t i = 0; i < self->size; i++) {
        item_t *item = &self->items [i];
        if (!item->handle) {
            item->ready = false;    //  a plain fd is readable when epoll says so
            continue;
        }
        if (!item->ready && item->ops && *item->ops == item->ops_seen)
            continue;               //  nothing changed it since it was asked
        int rc = s_ask (item);
        if (rc < 0)
            return -1;
        ready += rc;
    }
    return ready;
}

//  Take what epoll found; the number of items that became readable.
static int
s_take_events (pollset_t *self, int count)
{
    int ready = 0;
    for (int i = 0; i < count; i++) {
        item_t *item = &self->items [self->events [i].data.u64];
        if (item->ready)
            continue;               //  counted already
        int rc = item->handle ? s_ask (item) : (item->ready = true);
        if (rc < 0)
            return -1;
        ready += rc;
    }
    return ready;
}

static int
s_wait_zmq_poll (pollset_t *self, int timeout_ms)
{
    for (size_t i = 0; i < self->size; i++)
        self->poll_items [i].revents = 0;
    int rc = zmq_poll (self->poll_items, (int) self->size, timeout_ms);
    for (size_t i = 0; i < self->size; i++)
        self->items [i].ready = (self->poll_items [i].revents & ZMQ_POLLIN) != 0;
    return rc < 0 ? -1 : rc;
}

int
pollset_wait (pollset_t *self, int timeout_ms)
{
    assert (self);
    if (self->epoll_fd < 0)
        return s_wait_zmq_poll (self, timeout_ms);
    int ready = s_ask_candidates (self);
    int64_t until_ms = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    while (ready >= 0) {
        //  Something is readable already: only collect what else fired
        int wait_ms = ready ? 0 : timeout_ms;
        if (wait_ms > 0) {
            int64_t left_ms = until_ms - zclock_mono ();
            wait_ms = left_ms > 0 ? (int) left_ms : 0;
        }
        int count = epoll_wait (self->epoll_fd, self->events, (int) self->size, wait_ms);
        //  epoll_wait is never restarted: a SIGCONT after a stop, or a
        //  debugger, ends it too; only SIGINT and SIGTERM end the loop
        if (count < 0 && (errno != EINTR || zsys_interrupted))
            return -1;
        if (count < 0)
            return ready;
        int taken = s_take_events (self, count);
        ready = taken < 0 ? -1 : ready + taken;
        //  A descriptor can fire for commands that make nothing readable
        if (ready != 0 || count == 0 || wait_ms == 0)
            break;
    }
    return ready;
}

void *
pollset_next_ready (pollset_t *self, size_t *cursor)
{
    assert (self && cursor);
    while (*cursor < self->size) {
        size_t index = (*cursor)++;
        if (self->items [index].ready)
            return self->items [index].tag;
    }
    return NULL;
}
