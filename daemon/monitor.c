/*  monitor: zmq_socket_monitor on an inproc endpoint, read in the main loop.
 *
 *  No zmonitor actor: one thread per link would be 30 threads per daemon
 *  for events that are rare. The event frame is a uint16 event number and a
 *  uint32 value (libzmq's monitor format v1), followed by an endpoint frame.
 */
#include "monitor.h"
#include "log.h"

#define MONITOR_EVENTS (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH \
                      | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL \
                      | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL \
                      | ZMQ_EVENT_HANDSHAKE_SUCCEEDED \
                      | ZMQ_EVENT_DISCONNECTED)
#define MONITOR_EVENT_FRAME_SIZE 6
#define MONITOR_ENDPOINT_MAX     256

zsock_t *
monitor_attach (zsock_t *sock, const char *name)
{
    char endpoint [MONITOR_ENDPOINT_MAX];
    //  The socket's address makes the endpoint unique within the context
    snprintf (endpoint, sizeof endpoint, "inproc://zvh-monitor-%p", (void *) sock);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint, MONITOR_EVENTS)) {
        log_error ("%s: cannot monitor socket: %s", name, zmq_strerror (zmq_errno ()));
        return NULL;
    }
    char connect [MONITOR_ENDPOINT_MAX + 1];
    snprintf (connect, sizeof connect, ">%s", endpoint);
    zsock_t *monitor = zsock_new_pair (connect);
    if (!monitor)
        log_error ("%s: cannot open the monitor pair %s: %s", name, endpoint,
                    zmq_strerror (zmq_errno ()));
    return monitor;
}

int
monitor_recv (zsock_t *monitor, const char *name, bool server)
{
    zmsg_t *msg = zmsg_recv (monitor);
    if (!msg)
        return 0;
    zframe_t *event_frame = zmsg_first (msg);
    zframe_t *address_frame = zmsg_next (msg);
    int event = 0;
    if (event_frame && zframe_size (event_frame) == MONITOR_EVENT_FRAME_SIZE) {
        uint16_t code;
        memcpy (&code, zframe_data (event_frame), sizeof code);
        event = code;
    }
    char *address = address_frame ? zframe_strdup (address_frame) : strdup ("?");
    //  A key our ZAP handler denied: zap.c logs it, once per interval
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && server)
        ;
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        log_error ("%s: CURVE handshake with %s refused (authentication failed): "
                    "the key is not in the federation directory of the other side, "
                    "or our directory holds the wrong key for it", name, address);
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    ||  event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        log_error ("%s: handshake with %s failed (protocol error or wrong server "
                    "key): check the public key of this region in the directory",
                    name, address);
    else
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        log_info ("%s: secure link to %s up", name, address);
    else
    if (event == ZMQ_EVENT_DISCONNECTED)
        //  A peer or partner gone is what an operator looks for first
        log_warning ("%s: link to %s disconnected", name, address);
    free (address);
    zmsg_destroy (&msg);
    return event;
}
