/*  test_zvh_client: libzvh's pipelined moves (zvh_client_case_move_many)
 *  against a real ROUTER that plays the daemon frame by frame: no more than
 *  the window is ever in flight, answers are matched by request id whatever
 *  their order, a lost answer is asked for again with the same ids (so the
 *  daemon does the move once, PROTOCOL 9.2), and a refused move fails its
 *  own case only.
 */
#include "zvh/zvh.h"
#include "wire.h"
#include <czmq.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define WAIT_MS         60000   //  a frame that has not come by then never will
#define QUIET_MS        300     //  no frame in this long: none was sent
#define CASES_MAX       16
#define REGION          "drenthe"

typedef struct {
    zsock_t *router;            //  the daemon's side
    zvh_client_t *client;
    //  the call, made in a thread of its own
    const char *ids [CASES_MAX];
    char names [CASES_MAX][ZVH_ID_MAX];
    size_t count;
    size_t window;
    int results [CASES_MAX];
    zvh_case_t cases [CASES_MAX];
    int rc;
    char error [256];
    pthread_t thread;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    fixture->router = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (fixture->router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    fixture->client = zvh_client_new (endpoint);
    assert_non_null (fixture->client);
    for (size_t i = 0; i < CASES_MAX; i++) {
        snprintf (fixture->names [i], ZVH_ID_MAX, "C-%zu", i);
        fixture->ids [i] = fixture->names [i];
    }
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zvh_client_destroy (&fixture->client);
    zsock_destroy (&fixture->router);
    free (fixture);
    return 0;
}

static void *
s_call (void *arg)
{
    fixture_t *self = (fixture_t *) arg;
    self->rc = zvh_client_case_move_many (self->client, self->ids, self->count, REGION,
                                          self->window, self->results, self->cases);
    snprintf (self->error, sizeof self->error, "%s", zvh_client_error (self->client));
    return NULL;
}

static void
s_start (fixture_t *self, size_t count, size_t window)
{
    self->count = count;
    self->window = window;
    assert_int_equal (pthread_create (&self->thread, NULL, s_call, self), 0);
}

static void
s_join (fixture_t *self)
{
    assert_int_equal (pthread_join (self->thread, NULL), 0);
}

//  One request as the daemon reads it, with the connection it came on.
typedef struct {
    zframe_t *routing_id;
    Zvh__V1__ControlRequest *request;
} received_t;

//  The next request, or request NULL if none comes within wait_ms.
static received_t
s_receive (fixture_t *self, int wait_ms)
{
    received_t got = { NULL, NULL };
    zpoller_t *poller = zpoller_new (self->router, NULL);
    if (zpoller_wait (poller, wait_ms)) {
        zmsg_t *msg = zmsg_recv (self->router);
        assert_int_equal (zmsg_size (msg), 2);
        got.routing_id = zmsg_pop (msg);
        zframe_t *frame = zmsg_pop (msg);
        got.request = WIRE_DECODE (Zvh__V1__ControlRequest, zvh__v1__control_request,
                                   zframe_data (frame), zframe_size (frame));
        assert_non_null (got.request);
        zframe_destroy (&frame);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return got;
}

static void
s_free (received_t *got)
{
    zframe_destroy (&got->routing_id);
    wire_free (got->request ? &got->request->base : NULL);
    got->request = NULL;
}

//  Answer a request as zvhd does: its request id, the case as OFFERED.
static void
s_answer (fixture_t *self, received_t *got, Zvh__V1__ControlReply__Status status,
          const char *error)
{
    Zvh__V1__ControlReply reply = ZVH__V1__CONTROL_REPLY__INIT;
    Zvh__V1__Case record = ZVH__V1__CASE__INIT;
    reply.status = status;
    reply.error = (char *) (error ? error : "");
    reply.region = (char *) "groningen";
    reply.request_id = got->request->request_id;
    if (status == ZVH__V1__CONTROL_REPLY__STATUS__STATUS_OK) {
        record.id = got->request->case_id;
        record.state = 2;                   //  offered
        record.owner = (char *) "groningen";
        record.partner = (char *) REGION;
        record.transfer_id = (char *) "t-1";
        reply.case_ = &record;
    }
    size_t size;
    uint8_t *bytes = wire_encode (&reply.base, &size);
    assert_non_null (bytes);
    zframe_t *routing_id = zframe_dup (got->routing_id);
    zframe_send (&routing_id, self->router, ZFRAME_MORE);
    zframe_t *frame = zframe_new (bytes, size);
    zframe_send (&frame, self->router, 0);
    free (bytes);
}

static void
s_ok (fixture_t *self, received_t *got)
{
    s_answer (self, got, ZVH__V1__CONTROL_REPLY__STATUS__STATUS_OK, NULL);
}

//  Case i of the call: its request names it, to the region asked.
static size_t
s_index_of (const received_t *got)
{
    assert_int_equal (got->request->op, ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_MOVE);
    assert_string_equal (got->request->region, REGION);
    assert_int_equal (got->request->client_id.len, 16);
    unsigned index;
    assert_int_equal (sscanf (got->request->case_id, "C-%u", &index), 1);
    return index;
}

//  Ten moves, window four: four arrive, no fifth until one is answered;
//  answered last-first, each case gets its own answer.
static void
test_no_more_than_the_window_is_in_flight (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_start (self, 10, 4);
    size_t answered = 0;
    while (answered < 10) {
        received_t flight [4];
        size_t in_flight = 0;
        size_t expect = 10 - answered < 4 ? 10 - answered : 4;
        while (in_flight < expect) {
            flight [in_flight] = s_receive (self, WAIT_MS);
            assert_non_null (flight [in_flight].request);
            assert_int_equal (s_index_of (&flight [in_flight]), answered + in_flight);
            in_flight++;
        }
        received_t more = s_receive (self, QUIET_MS);
        assert_null (more.request);             //  the window is full
        for (size_t i = in_flight; i-- > 0;) {
            s_ok (self, &flight [i]);
            s_free (&flight [i]);
        }
        answered += in_flight;
    }
    s_join (self);
    assert_int_equal (self->rc, ZVH_OK);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal (self->results [i], ZVH_OK);
        assert_string_equal (self->cases [i].id, self->ids [i]);
        assert_string_equal (self->cases [i].state, "offered");
    }
}

//  A lost answer: the request comes again with the same client and request
//  id, and the case is done when that is answered.
static void
test_a_lost_answer_is_asked_again_with_the_same_ids (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_start (self, 3, 3);
    received_t got [3];
    for (size_t i = 0; i < 3; i++) {
        got [i] = s_receive (self, WAIT_MS);
        assert_non_null (got [i].request);
        assert_int_equal (s_index_of (&got [i]), i);
    }
    s_ok (self, &got [0]);
    s_ok (self, &got [2]);
    received_t again = s_receive (self, WAIT_MS);
    assert_non_null (again.request);
    assert_int_equal (s_index_of (&again), 1);
    assert_true (again.request->request_id == got [1].request->request_id);
    assert_memory_equal (again.request->client_id.data, got [1].request->client_id.data, 16);
    assert_memory_equal (got [0].request->client_id.data, got [1].request->client_id.data, 16);
    //  A late answer to the first send and one to the resend: one result
    s_ok (self, &got [1]);
    s_ok (self, &again);
    s_join (self);
    assert_int_equal (self->rc, ZVH_OK);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (self->results [i], ZVH_OK);
    uint64_t last_id = got [2].request->request_id;
    for (size_t i = 0; i < 3; i++)
        s_free (&got [i]);
    s_free (&again);
    //  Request ids are never reused: a next call starts past these
    s_start (self, 1, 1);
    received_t next = s_receive (self, WAIT_MS);
    assert_non_null (next.request);
    assert_true (next.request->request_id > last_id);
    s_ok (self, &next);
    s_free (&next);
    s_join (self);
}

//  A refused move fails its case, with the daemon's reason; the others are done.
static void
test_a_refused_move_fails_only_its_case (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_start (self, 3, 2);
    for (size_t n = 0; n < 3; n++) {
        received_t got = s_receive (self, WAIT_MS);
        assert_non_null (got.request);
        if (s_index_of (&got) == 1)
            s_answer (self, &got, ZVH__V1__CONTROL_REPLY__STATUS__STATUS_NOT_FOUND,
                      "no case C-1 here");
        else
            s_ok (self, &got);
        s_free (&got);
    }
    s_join (self);
    assert_int_equal (self->rc, ZVH_E_NOT_FOUND);
    assert_int_equal (self->results [0], ZVH_OK);
    assert_int_equal (self->results [1], ZVH_E_NOT_FOUND);
    assert_int_equal (self->results [2], ZVH_OK);
    assert_non_null (strstr (self->error, "C-1"));
    assert_non_null (strstr (self->error, "no case C-1 here"));
}

//  No answer at all: every case fails as unreachable once the timeout passed.
static void
test_no_answer_fails_every_case_as_unreachable (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    zvh_client_set_timeout (self->client, QUIET_MS);
    s_start (self, 5, 2);
    s_join (self);
    assert_int_equal (self->rc, ZVH_E_UNREACHABLE);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal (self->results [i], ZVH_E_UNREACHABLE);
}

static void
test_bad_arguments_are_refused_without_sending (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    assert_int_equal (zvh_client_case_move_many (self->client, NULL, 0, REGION, 4, NULL, NULL),
                      ZVH_OK);
    assert_int_equal (zvh_client_case_move_many (self->client, self->ids, 2, NULL, 4, NULL, NULL),
                      ZVH_E_BAD_REQUEST);
    assert_int_equal (zvh_client_case_move_many (self->client, NULL, 2, REGION, 4, NULL, NULL),
                      ZVH_E_BAD_REQUEST);
    received_t got = s_receive (self, QUIET_MS);
    assert_null (got.request);
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_no_more_than_the_window_is_in_flight,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_lost_answer_is_asked_again_with_the_same_ids,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_refused_move_fails_only_its_case,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_no_answer_fails_every_case_as_unreachable,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_arguments_are_refused_without_sending,
                                         s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
