/*  pollset: a zmq_pollitem_t array and the tag of each item.
 *
 *  The array only grows (it is rebuilt at a reload, not on every turn), so
 *  a wait allocates nothing.
 */
#include "pollset.h"

#define POLLSET_FIRST_SIZE  16      //  items room is made for at first; doubles

struct _pollset_t {
    zmq_pollitem_t *items;
    void **tags;
    size_t size;
    size_t room;
};

pollset_t *
pollset_new (void)
{
    return (pollset_t *) zmalloc (sizeof (pollset_t));
}

void
pollset_destroy (pollset_t **self_p)
{
    assert (self_p);
    pollset_t *self = *self_p;
    if (!self)
        return;
    free (self->items);
    free (self->tags);
    free (self);
    *self_p = NULL;
}

void
pollset_clear (pollset_t *self)
{
    assert (self);
    self->size = 0;
}

static void
s_add (pollset_t *self, void *socket, int fd, void *tag)
{
    if (self->size == self->room) {
        self->room = self->room ? self->room * 2 : POLLSET_FIRST_SIZE;
        self->items = (zmq_pollitem_t *) realloc (self->items,
                                                  self->room * sizeof (zmq_pollitem_t));
        self->tags = (void **) realloc (self->tags, self->room * sizeof (void *));
        assert (self->items && self->tags);     //  as zmalloc: out of memory is fatal
    }
    zmq_pollitem_t item = { .socket = socket, .fd = fd, .events = ZMQ_POLLIN };
    self->items [self->size] = item;
    self->tags [self->size++] = tag;
}

void
pollset_add_socket (pollset_t *self, void *socket)
{
    assert (self && socket);
    s_add (self, zsock_resolve (socket), 0, socket);
}

void
pollset_add_fd (pollset_t *self, int fd, void *tag)
{
    assert (self && fd >= 0 && tag);
    s_add (self, NULL, fd, tag);
}

int
pollset_wait (pollset_t *self, int timeout_ms)
{
    assert (self);
    for (size_t i = 0; i < self->size; i++)
        self->items [i].revents = 0;
    int rc = zmq_poll (self->items, (int) self->size, timeout_ms);
    return rc < 0 ? -1 : rc;
}

void *
pollset_next_ready (pollset_t *self, size_t *cursor)
{
    assert (self && cursor);
    while (*cursor < self->size) {
        size_t index = (*cursor)++;
        if (self->items [index].revents & ZMQ_POLLIN)
            return self->tags [index];
    }
    return NULL;
}
