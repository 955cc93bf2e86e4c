/*  monitor: ZeroMQ socket events that an operator must see.
 *
 *  A refused CURVE handshake looks exactly like a peer that is down, and the
 *  refused side retries for ever (libzmq#3059): this module surfaces
 *  HANDSHAKE_FAILED_* events as log lines that name the link and the cause.
 */
#ifndef ZVH_MONITOR_H
#define ZVH_MONITOR_H

#include <czmq.h>

//  Attach a monitor to sock; events arrive on the returned PAIR socket.
//  name identifies the link in log lines. Returns NULL on failure.
zsock_t *
    monitor_attach (zsock_t *sock, const char *name);

//  Read one event from a monitor socket and log it (on a server socket a
//  denied key is not: the ZAP handler logs it, rate-limited). Returns the
//  ZMQ_EVENT_* code, or 0 if nothing could be read.
int
    monitor_recv (zsock_t *monitor, const char *name, bool server);

#endif
