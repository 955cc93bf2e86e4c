/*  libzvh: the client library of zvh-federation.
 *
 *  Case systems, operators (zvhctl) and partner integrations talk to their
 *  region's zvhd through this API. Every call is one request to the local
 *  daemon and returns only after the daemon has committed the result to
 *  disk: ZVH_OK means the change survives a crash of the daemon.
 *
 *  Functions return ZVH_OK (0) or a negative ZVH_E_* code; the daemon's
 *  explanation of a failure is in zvh_client_error().
 */
#ifndef ZVH_H
#define ZVH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZVH_OK                 0
#define ZVH_E_BAD_REQUEST     -1    //  the request is malformed or invalid
#define ZVH_E_NOT_FOUND       -2    //  no such case
#define ZVH_E_CONFLICT        -3    //  the case is in the wrong state for this
#define ZVH_E_UNKNOWN_REGION  -4    //  region not in the federation directory
#define ZVH_E_STORE           -5    //  the daemon could not write its store
#define ZVH_E_UNREACHABLE     -6    //  no answer from the daemon in time
#define ZVH_E_PROTOCOL        -7    //  the daemon's answer made no sense
#define ZVH_E_FULL            -8    //  disk or store map full

#define ZVH_ID_MAX            64    //  ids incl. NUL: case, region, transfer
#define ZVH_HASH_HEX_MAX      65    //  BLAKE2b-256 as hex, incl. NUL
#define ZVH_STATE_MAX         16
#define ZVH_DEFAULT_TIMEOUT_MS 10000

//  A region's view of a case.
typedef struct {
    char id [ZVH_ID_MAX];
    char state [ZVH_STATE_MAX];     //  active, offered, joint_target, joint_source, tombstone
    char owner [ZVH_ID_MAX];
    char partner [ZVH_ID_MAX];      //  other region of a handover or joint phase
    char transfer_id [ZVH_ID_MAX];
    uint64_t plan_version;
    char plan_hash [ZVH_HASH_HEX_MAX];
    int64_t joint_until_ms;         //  end of the joint phase, 0 = none
    int64_t updated_ms;
} zvh_case_t;

typedef struct {
    char region [ZVH_ID_MAX];
    bool up;
    uint64_t outbox_depth;
    int64_t last_seen_ms;           //  0 = never
    int64_t oldest_ms;              //  time of the oldest queued event, 0 = none
} zvh_peer_t;

#define ZVH_CASE_STATES 5           //  active .. tombstone

typedef struct {
    char region [ZVH_ID_MAX];
    size_t peer_count;
    zvh_peer_t *peers;              //  owned by the status; zvh_status_free
    uint64_t cases [ZVH_CASE_STATES + 1];   //  count per state, index = state code
} zvh_status_t;

typedef struct _zvh_client_t zvh_client_t;

//  Create a client for the daemon's control endpoint (e.g.
//  "ipc:///var/lib/zvhd/control.sock"). Returns NULL if the endpoint is
//  unusable. Nothing is sent until the first call.
zvh_client_t *
    zvh_client_new (const char *endpoint);

//  Destroy the client and null the pointer.
void
    zvh_client_destroy (zvh_client_t **self_p);

//  How long a call waits for the daemon (default ZVH_DEFAULT_TIMEOUT_MS).
void
    zvh_client_set_timeout (zvh_client_t *self, int timeout_ms);

//  The daemon's (or the library's) explanation of the last failure.
const char *
    zvh_client_error (zvh_client_t *self);

//  Include a case (inclusion decided at the inclusion table) with its plan
//  (a serialised zvh.v1.Plan, see zvh_plan.h). case_id NULL = generate one.
int
    zvh_client_case_include (zvh_client_t *self, const char *case_id,
                             const uint8_t *plan, size_t plan_size,
                             zvh_case_t *case_out);

//  Start the warm handover of a case to another region.
int
    zvh_client_case_move (zvh_client_t *self, const char *case_id,
                          const char *region, zvh_case_t *case_out);

//  End the joint phase of a handover (either region may do this).
int
    zvh_client_case_complete (zvh_client_t *self, const char *case_id,
                              zvh_case_t *case_out);

//  Store a new plan version. At the owner it becomes the next version; at a
//  joint-phase source it is proposed to the owner, who assigns the version.
int
    zvh_client_plan_update (zvh_client_t *self, const char *case_id,
                            const uint8_t *plan, size_t plan_size,
                            zvh_case_t *case_out);

//  Read a case; if plan_p is not NULL, also its current plan (caller frees
//  *plan_p; NULL and 0 when this region holds no plan content).
int
    zvh_client_case_show (zvh_client_t *self, const char *case_id,
                          zvh_case_t *case_out,
                          uint8_t **plan_p, size_t *plan_size_p);

//  List every case this region knows; *cases_p is malloc'd (caller frees).
int
    zvh_client_case_list (zvh_client_t *self, zvh_case_t **cases_p,
                          size_t *count_p);

//  The daemon's region, peers and case counts; free with zvh_status_free.
int
    zvh_client_status (zvh_client_t *self, zvh_status_t *status);

//  Free what zvh_client_status allocated inside status.
void
    zvh_status_free (zvh_status_t *status);

//  Name of a ZVH_E_* code ("not found", ...).
const char *
    zvh_strerror (int code);

#ifdef __cplusplus
}
#endif

#endif
