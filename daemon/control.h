/*  control: the local API that libzvh and zvhctl speak to the daemon.
 *
 *  A ROUTER on a local endpoint (ipc://, never leaves the host; the socket
 *  file is private to the daemon's user). One ControlRequest in, one
 *  ControlReply out, and the reply to a change is sent only after its
 *  transaction committed: "OK" means durable. A backup is the one request
 *  answered later: the copy runs in its own thread while the daemon serves,
 *  and the reply goes out when the copy is on disk.
 */
#ifndef ZVH_CONTROL_H
#define ZVH_CONTROL_H

#include "audit.h"
#include "config.h"
#include "crisis.h"
#include "federation.h"
#include "outbox.h"
#include "store.h"
#include "transfer.h"
#include <czmq.h>

typedef struct _control_t control_t;

//  Bind the control endpoint: ipc:// (mode 0600, the host's own), or
//  tcp:// as a CURVE server with cert that admits the operator keys of the
//  config (ZAP domain ZAP_DOMAIN_CONTROL). Returns NULL (logged) on failure.
control_t *
    control_new (const config_t *config, zcert_t *cert, store_t *store, outbox_t *outbox,
                 transfer_t *transfer, crisis_t *crisis, audit_t *audit,
                 federation_t *federation);

//  Reads and checks the configuration files again; returns 0 if they are
//  good. The daemon swaps them in once the control batch is answered.
typedef int (control_reload_fn) (void *arg);

//  Who carries out OP_RELOAD (zvhctl reload), as SIGHUP does.
void
    control_set_reload (control_t *self, control_reload_fn *reload, void *arg);

//  Use config from now on: a reload's, which replaces the one given to
//  control_new (the endpoint itself stays: changing it needs a restart).
//  withdrawn: an operator key was revoked; its live connections are closed.
void
    control_set_config (control_t *self, const config_t *config, bool withdrawn);


//  Close and null the pointer.
void
    control_destroy (control_t **self_p);

//  The socket, for polling.
zsock_t *
    control_socket (control_t *self);

//  Serve one request that is waiting on the socket.
void
    control_handle (control_t *self, int64_t now_ms);

//  Answer what waits on work outside the request (OP_BACKUP: the backup
//  thread has finished); drop old request records. Cheap when nothing is
//  due: call it every loop turn.
void
    control_pump (control_t *self, int64_t now_ms);

//  When control_pump next has work (epoch ms): soon while a backup runs
//  (its thread does not wake the loop), else the next purge of records.
int64_t
    control_next_due_ms (control_t *self, int64_t now_ms);

typedef struct _status_t status_t;

//  Answer OP_FEDERATION_STATUS from status (PROTOCOL 4.10).
void
    control_set_status (control_t *self, status_t *status);

#endif
