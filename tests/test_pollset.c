/*  test_pollset: the loop's wait over real ZeroMQ sockets and descriptors:
 *  what it must find readable, including a socket whose pending commands an
 *  operation took without its descriptor firing again (the reason counted
 *  sockets exist), and that a signal other than SIGINT/SIGTERM (a SIGCONT
 *  after a stop, a debugger) does not end the loop.
 */
#include "pollset.h"
#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define WAIT_MS       5000          //  a wait that must end early, when something comes
#define SIGNAL_MS     50            //  the signalling thread waits this long first
#define ENDPOINT_MAX  64

typedef struct {
    zsock_t *server;                //  ROUTER: sends to the client
    zsock_t *client;                //  DEALER: the socket under test
    pollset_t *pollset;
    uint64_t ops;                   //  the client's operations, as peer.c counts them
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    //  A name of its own: a closed socket's inproc name is freed later, by
    //  libzmq's reaper, so the next test could not bind the same one
    char endpoint [ENDPOINT_MAX];
    snprintf (endpoint, sizeof endpoint, "inproc://test-pollset-%p-%" PRId64,
              (void *) fixture, zclock_usecs ());
    fixture->server = zsock_new_router (endpoint);
    fixture->client = zsock_new (ZMQ_DEALER);
    assert_non_null (fixture->server);
    assert_non_null (fixture->client);
    zsock_set_identity (fixture->client, "client");
    assert_int_equal (zsock_connect (fixture->client, "%s", endpoint), 0);
    fixture->pollset = pollset_new ();
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    pollset_destroy (&fixture->pollset);
    assert_null (fixture->pollset);
    zsock_destroy (&fixture->client);
    zsock_destroy (&fixture->server);
    free (fixture);
    return 0;
}

//  The client says hello, so that the ROUTER can route to it.
static void
s_hello (fixture_t *fixture)
{
    fixture->ops++;
    assert_int_equal (zstr_send (fixture->client, "hello"), 0);
    char *hello = zstr_recv (fixture->server);     //  the identity frame
    assert_string_equal (hello, "client");
    zstr_free (&hello);
    hello = zstr_recv (fixture->server);
    zstr_free (&hello);
}

//  The server sends one message to the client (after s_hello).
static void
s_event (fixture_t *fixture)
{
    assert_int_equal (zstr_sendm (fixture->server, "client"), 0);
    assert_int_equal (zstr_send (fixture->server, "event"), 0);
}

static void
s_send_to_client (fixture_t *fixture)
{
    s_hello (fixture);
    s_event (fixture);
}

static void
s_take (fixture_t *fixture)
{
    fixture->ops++;
    char *event = zstr_recv (fixture->client);
    assert_string_equal (event, "event");
    zstr_free (&event);
}

//  A message that arrives ends the wait, and the socket is named once.
static void
test_a_message_ends_the_wait (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    pollset_add_counted (fixture->pollset, fixture->client, &fixture->ops);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);
    s_send_to_client (fixture);
    assert_int_equal (pollset_wait (fixture->pollset, WAIT_MS), 1);
    size_t cursor = 0;
    assert_ptr_equal (pollset_next_ready (fixture->pollset, &cursor), fixture->client);
    assert_null (pollset_next_ready (fixture->pollset, &cursor));
    //  Not taken: still readable at the next wait
    assert_int_equal (pollset_wait (fixture->pollset, 0), 1);
    s_take (fixture);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);
}

//  An operation on the socket can take its pending commands, so that its
//  descriptor does not fire although a message waits: the count makes the
//  set ask the socket again. (zsock_events here stands for the send or
//  receive in the loop that took the commands.)
static void
test_a_counted_socket_is_asked_after_an_operation (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    pollset_add_counted (fixture->pollset, fixture->client, &fixture->ops);
    s_hello (fixture);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);  //  takes the count
    s_event (fixture);
    while (!(zsock_events (fixture->client) & ZMQ_POLLIN))
        assert_int_equal (zmq_poll (NULL, 0, 1), 0);   //  until the commands came
    //  The descriptor was drained by zsock_events: only the count tells
    fixture->ops++;
    assert_int_equal (pollset_wait (fixture->pollset, 0), 1);
    s_take (fixture);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);
}

//  A socket added without a count is asked at every wait.
static void
test_an_uncounted_socket_is_asked_every_time (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    pollset_add_socket (fixture->pollset, fixture->client);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);
    s_send_to_client (fixture);
    while (!(zsock_events (fixture->client) & ZMQ_POLLIN))
        assert_int_equal (zmq_poll (NULL, 0, 1), 0);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 1);
}

//  A plain descriptor is readable when epoll says so, and tagged.
static void
test_a_plain_descriptor_is_named_by_its_tag (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    int pipe_fds [2];
    assert_int_equal (pipe (pipe_fds), 0);
    int tag;
    pollset_add_counted (fixture->pollset, fixture->client, &fixture->ops);
    pollset_add_fd (fixture->pollset, pipe_fds [0], &tag);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);
    assert_int_equal (write (pipe_fds [1], "x", 1), 1);
    assert_int_equal (pollset_wait (fixture->pollset, WAIT_MS), 1);
    size_t cursor = 0;
    assert_ptr_equal (pollset_next_ready (fixture->pollset, &cursor), &tag);
    assert_null (pollset_next_ready (fixture->pollset, &cursor));
    char byte;
    assert_int_equal (read (pipe_fds [0], &byte, 1), 1);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);
    //  Both at once, in the order they were added
    s_send_to_client (fixture);
    assert_int_equal (write (pipe_fds [1], "x", 1), 1);
    while (pollset_wait (fixture->pollset, WAIT_MS) < 2)
        ;
    cursor = 0;
    assert_ptr_equal (pollset_next_ready (fixture->pollset, &cursor), fixture->client);
    assert_ptr_equal (pollset_next_ready (fixture->pollset, &cursor), &tag);
    close (pipe_fds [0]);
    close (pipe_fds [1]);
}

//  A set rebuilt (pollset_clear) forgets what it held.
static void
test_a_cleared_set_is_rebuilt (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    pollset_add_counted (fixture->pollset, fixture->client, &fixture->ops);
    s_send_to_client (fixture);
    assert_int_equal (pollset_wait (fixture->pollset, WAIT_MS), 1);
    pollset_clear (fixture->pollset);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);
    pollset_add_counted (fixture->pollset, fixture->client, &fixture->ops);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 1);
}

//  Without epoll (a descriptor it refuses: a regular file) the set falls
//  back on zmq_poll and still finds the socket.
static void
test_without_epoll_the_set_falls_back_on_zmq_poll (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    FILE *file = tmpfile ();
    assert_non_null (file);
    int tag;
    pollset_add_fd (fixture->pollset, fileno (file), &tag);
    pollset_add_counted (fixture->pollset, fixture->client, &fixture->ops);
    s_send_to_client (fixture);
    size_t cursor = 0;
    void *found = NULL;
    while (found != fixture->client) {
        assert_true (pollset_wait (fixture->pollset, WAIT_MS) >= 1);
        cursor = 0;
        assert_ptr_equal (pollset_next_ready (fixture->pollset, &cursor), &tag);
        found = pollset_next_ready (fixture->pollset, &cursor);
    }
    fclose (file);
}

static void
s_on_signal (int signum)
{
    (void) signum;
}

static void *
s_signal_later (void *arg)
{
    zclock_sleep (SIGNAL_MS);
    pthread_kill (*(pthread_t *) arg, SIGUSR1);
    return NULL;
}

//  epoll_wait is never restarted after a signal: one that is not SIGINT or
//  SIGTERM (zsys_interrupted unset) ends the wait with nothing ready, never
//  with -1 (which ends the daemon's loop).
static void
test_another_signal_does_not_end_the_loop (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    struct sigaction action = { .sa_handler = s_on_signal };
    sigemptyset (&action.sa_mask);
    struct sigaction old;
    assert_int_equal (sigaction (SIGUSR1, &action, &old), 0);
    pollset_add_counted (fixture->pollset, fixture->client, &fixture->ops);
    assert_int_equal (pollset_wait (fixture->pollset, 0), 0);
    pthread_t self = pthread_self (), thread;
    assert_int_equal (pthread_create (&thread, NULL, s_signal_later, &self), 0);
    int64_t started = zclock_mono ();
    assert_int_equal (pollset_wait (fixture->pollset, WAIT_MS), 0);
    assert_true (zclock_mono () - started < WAIT_MS);  //  the signal ended it
    pthread_join (thread, NULL);
    sigaction (SIGUSR1, &old, NULL);
}

int
main (void)
{
    zsys_init ();
    zsys_handler_set (NULL);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_a_message_ends_the_wait, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_counted_socket_is_asked_after_an_operation,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_an_uncounted_socket_is_asked_every_time,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_plain_descriptor_is_named_by_its_tag,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_cleared_set_is_rebuilt, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_without_epoll_the_set_falls_back_on_zmq_poll,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_another_signal_does_not_end_the_loop,
                                         s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
