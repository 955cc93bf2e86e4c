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
#define ZVH_E_TIMEOUT         -9    //  nothing arrived in the time given
#define ZVH_E_GAP            -10    //  signals before the resume point were purged
#define ZVH_E_FORGED         -11    //  a signal's proof of who published it fails

#define ZVH_ID_MAX            64    //  ids incl. NUL: case, region, transfer
#define ZVH_HASH_HEX_MAX      65    //  BLAKE2b-256 as hex, incl. NUL
#define ZVH_VERSION_MAX       24    //  a protocol version "major.minor", incl. NUL
#define ZVH_STATE_MAX         16
#define ZVH_DEFAULT_TIMEOUT_MS 10000
#define ZVH_WINDOW_MAX 512           //  requests in flight per pipelined call

//  A region's view of a case.
typedef struct {
    char id [ZVH_ID_MAX];
    char state [ZVH_STATE_MAX];     //  active, offered, joint_target, joint_source, tombstone, closed
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
    char version [ZVH_VERSION_MAX]; //  the peer's protocol version, "" = not heard
} zvh_peer_t;

#define ZVH_CASE_STATES 6           //  active .. closed

typedef struct {
    char region [ZVH_ID_MAX];
    size_t peer_count;
    zvh_peer_t *peers;              //  owned by the status; zvh_status_free
    uint64_t cases [ZVH_CASE_STATES + 1];   //  count per state, index = state code
} zvh_status_t;

//  One change of owner of a case (PROTOCOL 2.9), as proven by both regions'
//  signatures at the daemon.
typedef struct {
    char transfer_id [ZVH_ID_MAX];
    char source [ZVH_ID_MAX];
    char target [ZVH_ID_MAX];
} zvh_custody_link_t;

typedef struct _zvh_client_t zvh_client_t;

//  Create a client for the daemon's control endpoint (e.g.
//  "ipc:///var/lib/zvhd/control.sock"). Returns NULL if the endpoint is
//  unusable. Nothing is sent until the first call.
zvh_client_t *
    zvh_client_new (const char *endpoint);

//  The same for a tcp:// control endpoint (PROTOCOL 9.1): CURVE with the
//  daemon's public key (Z85) and the operator's key file (zcert secret).
//  NULL if the endpoint or the key file is unusable.
zvh_client_t *
    zvh_client_new_curve (const char *endpoint, const char *server_key,
                          const char *cert_file);

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

//  Start the warm handover of count cases to one region, pipelined: up to
//  window requests (1..ZVH_WINDOW_MAX) in flight at once, so the daemon can
//  carry many in one commit. results[i] and cases_out[i] (either may be
//  NULL) get case i's code and record. Returns ZVH_OK when every move was
//  done, else the first failure's code (zvh_client_error names its case).
//  Each request is sent again with the same id until answered (PROTOCOL
//  9.2); the timeout counts from the last answer.
int
    zvh_client_case_move_many (zvh_client_t *self, const char *const *case_ids,
                               size_t count, const char *region, size_t window,
                               int *results, zvh_case_t *cases_out);

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

//  Read a case's chain of custody (its hand-overs, oldest first) into
//  *links_p (malloc'd, caller frees; NULL and 0 for a case never moved).
int
    zvh_client_case_custody (zvh_client_t *self, const char *case_id,
                             zvh_custody_link_t **links_p, size_t *count_p);

//  List every case this region knows; *cases_p is malloc'd (caller frees).
int
    zvh_client_case_list (zvh_client_t *self, zvh_case_t **cases_p,
                          size_t *count_p);

//  Close a case owned here (outflow): the plan is purged and partners are
//  told the label is removed.
int
    zvh_client_case_close (zvh_client_t *self, const char *case_id,
                           zvh_case_t *case_out);

//  A crisis signal to raise. Enumerations are given by name (NULL = unknown):
//  kind: incident, scale_up, scale_down, out_of_view, other;
//  urgency: immediate, expected, future, past; severity: extreme, severe,
//  moderate, minor; certainty: observed, likely, possible, unlikely.
typedef struct {
    const char *case_id;            //  NULL or "" for a national signal
    bool national;
    const char *kind;
    const char *urgency;
    const char *severity;
    const char *certainty;
    const char *text;               //  short; at most 500 bytes
} zvh_raise_t;

#define ZVH_EVENT_ID_MAX  96

//  Raise a crisis signal as this region's operator. On ZVH_OK the signal is
//  durable at the daemon and its id is in event_id_out (ZVH_EVENT_ID_MAX).
int
    zvh_client_signal_raise (zvh_client_t *self, const zvh_raise_t *raise,
                             char *event_id_out);

//  Make the daemon re-read its keys, directory, partners and revocation
//  list (as SIGHUP does). ZVH_OK if it took them.
int
    zvh_client_reload (zvh_client_t *self);

//  Make the daemon write a compacted copy of its store into directory dir
//  (an absolute path on the daemon's host; created if missing; it must not
//  hold a backup already) while it goes on serving. ZVH_OK once the copy is
//  complete and on disk; it holds everything committed before the call.
//  Large stores take a while: raise the timeout (zvh_client_set_timeout).
int
    zvh_client_backup (zvh_client_t *self, const char *dir);

//  Check the daemon's audit trail: ZVH_OK with *intact and *count filled;
//  when broken, zvh_client_error says where.
int
    zvh_client_audit_verify (zvh_client_t *self, bool *intact, uint64_t *count);

//  Visit audit entries after seq `after` as JSON objects (one per call of
//  visit, a NUL-terminated string); returns the number visited or a
//  ZVH_E_* code. Pages through the whole trail.
typedef void (zvh_audit_visit_fn) (const char *json, void *arg);
int
    zvh_client_audit_export (zvh_client_t *self, uint64_t after,
                             zvh_audit_visit_fn *visit, void *arg);

//  The daemon's region, peers and case counts; free with zvh_status_free.
int
    zvh_client_status (zvh_client_t *self, zvh_status_t *status);

//  Every region of the federation as this daemon knows it (PROTOCOL 4.10):
//  the JSON document of its GET /status, into *json_p (free it). Returns 0
//  or a ZVH_E_* code.
int
    zvh_client_federation_status (zvh_client_t *self, char **json_p);

//  Free what zvh_client_status allocated inside status.
void
    zvh_status_free (zvh_status_t *status);

//  Name of a ZVH_E_* code ("not found", ...).
const char *
    zvh_strerror (int code);

//  ---------------------------------------------------------------- FHIR R4

//  A case as a FHIR R4 Bundle (type collection, JSON text; caller frees):
//  CarePlan from plan_json (zvh_plan_to_json's text, or NULL), Flag for the
//  label, Provenance for the inclusion and each link. NULL if plan_json is
//  not a JSON object.
char *
    zvh_case_fhir (const zvh_case_t *c, const char *plan_json,
                   const zvh_custody_link_t *links, size_t link_count);

//  One audit entry (a JSON object as zvh_client_audit_export visits it) of
//  region's trail as a FHIR R4 AuditEvent (compact JSON; caller frees).
//  NULL if audit_json is not a JSON object.
char *
    zvh_audit_fhir (const char *audit_json, const char *region);

//  An audit action (create, read, ...) as AuditEvent.action: C, R, U or E.
const char *
    zvh_fhir_action_code (const char *action);

//  An audit outcome (ok, refused) as AuditEvent.outcome: 0, 4 (8 if unknown).
int
    zvh_fhir_outcome_code (const char *outcome);

//  ---------------------------------------------------------------- subscribers

//  One signal (or label event) as a partner receives it. Strings point into
//  the subscriber and stay valid until its next call; a field the partner's
//  role may not see is NULL (or 0). raw is the whole frame as received (a
//  SubFrame DELIVERY holding the SignalView).
typedef struct {
    uint64_t seq;                   //  position in the region's log
    const char *type;               //  signal, label_set, label_moved, label_removed, review_due
    const char *event_id;
    const char *case_id;
    const char *region;
    bool national;
    const char *kind;
    const char *urgency;
    const char *severity;
    const char *certainty;
    const char *text;
    const char *raised_by;
    const char *raised_role;
    int64_t time_ms;
    const char *partner_ref;        //  this partner's own reference for the person
    size_t action_count;
    char **actions;                 //  this partner's actions in the plan's scenario
    const char *coordinator_contact;
    const char *previous_region;
    const char *review_date;
    const uint8_t *raw;
    size_t raw_size;
    const char *publisher;          //  the region whose proof it carries, NULL if none
                                    //  (unchecked until zvh_signal_verify)
} zvh_signal_t;

#define ZVH_SIGN_KEY_HEX_LEN  64    //  an Ed25519 public key in hex (a region's sign_key)

//  Check who published a delivered signal (PROTOCOL 8.3): its proof must be
//  signed with sign_key, the publisher's `sign_key` in the federation
//  directory (64 hex digits), and every field the signal holds must be one
//  that the publisher vouched for, unchanged. Look sign_key up by
//  signal->publisher. ZVH_OK if it holds; ZVH_E_FORGED if the signal has no
//  proof, or it does not verify (altered, or not published by that region);
//  ZVH_E_BAD_REQUEST if sign_key is not 64 hex digits.
int
    zvh_signal_verify (const zvh_signal_t *signal, const char *sign_key);

//  The signal as one OASIS CAP 1.2 <alert> document for a partner of role
//  (named in its restriction), into *xml_p (free it): one line, UTF-8,
//  only the fields the signal holds (docs/PARTNERS.md has the mapping).
//  ZVH_OK; ZVH_E_BAD_REQUEST without a type, event id or role.
int
    zvh_signal_cap (const zvh_signal_t *signal, const char *role, char **xml_p);

typedef struct _zvh_subscriber_t zvh_subscriber_t;

//  A partner's link to one region's subscriber endpoint over CURVE.
//  server_key is the region's public key (Z85); cert_file the partner's
//  secret certificate (zvhctl keygen). NULL if the certificate is unusable.
zvh_subscriber_t *
    zvh_subscriber_new (const char *endpoint, const char *server_key,
                        const char *cert_file);

//  Close the link and null the pointer.
void
    zvh_subscriber_destroy (zvh_subscriber_t **self_p);

//  Why the last call failed.
const char *
    zvh_subscriber_error (zvh_subscriber_t *self);

//  Start (or restart) the stream: after log seq after_seq, or after the
//  daemon's stored cursor if from_cursor; at most credit views in flight
//  (0 = the daemon's maximum). Seqs at or below the resume point are never
//  handed out again by zvh_subscriber_next.
int
    zvh_subscriber_start (zvh_subscriber_t *self, uint64_t after_seq,
                          bool from_cursor, uint32_t credit);

//  Wait up to timeout_ms for the next signal. ZVH_OK fills *signal;
//  ZVH_E_TIMEOUT if none came; ZVH_E_GAP if the stream cannot resume where
//  asked (entries purged, or a seq past the end of this region's log, a
//  RESET): signal->seq is where it goes on; ZVH_E_PROTOCOL if the daemon
//  refused this key (not a partner, or revoked) or speaks another major
//  protocol version: retrying cannot help. Keeps the link alive and
//  resubscribes by itself (at most once a second) after the daemon went
//  silent or restarted.
int
    zvh_subscriber_next (zvh_subscriber_t *self, int timeout_ms, zvh_signal_t *signal);

//  Acknowledge every signal up to seq: the daemon moves the stored cursor.
int
    zvh_subscriber_ack (zvh_subscriber_t *self, uint64_t seq);

//  Acknowledge every signal up to seq and wait up to timeout_ms until the
//  daemon says its stored cursor is at seq or beyond (ACKED): call before
//  closing, so that a resume from the cursor does not repeat them.
//  ZVH_OK, ZVH_E_TIMEOUT (not confirmed: it may or may not be stored).
int
    zvh_subscriber_confirm (zvh_subscriber_t *self, uint64_t seq, int timeout_ms);

//  Raise a signal as this partner (the daemon records the key's partner id
//  and role as the raiser). Waits up to timeout_ms for the daemon's answer.
int
    zvh_subscriber_raise (zvh_subscriber_t *self, const zvh_raise_t *raise,
                          char *event_id_out, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
