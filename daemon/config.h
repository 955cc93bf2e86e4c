/*  config: the daemon's configuration and the federation directory.
 *
 *  Both are ZPL files (CZMQ zconfig). The daemon file names this region,
 *  its data directory, endpoints, key file and the directory file; the
 *  directory lists every region (id, name, federation endpoint, CURVE
 *  public key). Relative paths are resolved against the directory of the
 *  file that names them. A region whose endpoint or key is empty is a
 *  placeholder: known by id, but not federated with.
 *
 *  config_load never stops at the first problem: it reports every error it
 *  finds, each naming the key and what to do about it. A config_t is never
 *  changed after config_load returns it (modules hold it const): a reload
 *  loads another one and zvhd swaps it in whole (zvhd.c, s_reload).
 */
#ifndef ZVH_CONFIG_H
#define ZVH_CONFIG_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define CONFIG_ID_MAX        64     //  region id, incl. NUL
#define CONFIG_NAME_MAX      128
#define CONFIG_ENDPOINT_MAX  256
#define CONFIG_PATH_MAX      1024
#define CONFIG_KEY_Z85_LEN   40     //  CURVE public key in Z85
#define CONFIG_REGIONS_MAX   64
#define CONFIG_SIGN_KEY_HEX_LEN 64  //  Ed25519 public key in hex
#define CONFIG_REVOKED_MAX   1024

typedef struct {
    char id [CONFIG_ID_MAX];
    char name [CONFIG_NAME_MAX];
    char endpoint [CONFIG_ENDPOINT_MAX];                //  "" = placeholder
    char public_key [CONFIG_KEY_Z85_LEN + 1];           //  "" = placeholder
    char sign_key [CONFIG_SIGN_KEY_HEX_LEN + 1];        //  Ed25519, hex; "" = none
} config_region_t;

#define CONFIG_PARTNERS_MAX   256
#define CONFIG_OPERATORS_MAX  64
#define CONFIG_ROLE_MAX       32
#define CONFIG_COVER_MAX      32      //  regions or cases one partner lists
#define CONFIG_VIEW_FIELDS_MAX 32
#define CONFIG_FIELD_MAX      32
#define CONFIG_VIEWS_MAX      16      //  roles with a view

//  The roles a key can have. Regions are in the directory; partners (and
//  operators, later) in the partners file.
#define CONFIG_ROLES "region police crisis_service probation operator"

//  A partner system that subscribes to crisis signals (and may raise them):
//  police, the acute mental-health crisis service, probation, or a region's
//  own operators. Coverage says which owner regions and which cases it sees;
//  "*" in regions means all. National signals reach every partner.
typedef struct {
    char id [CONFIG_ID_MAX];                        //  e.g. politie-noord
    char role [CONFIG_ROLE_MAX];                    //  police, crisis_service, ...
    char public_key [CONFIG_KEY_Z85_LEN + 1];
    char public_key_next [CONFIG_KEY_Z85_LEN + 1];  //  rotation overlap; "" = none
    bool all_regions;                               //  regions = "*"
    size_t region_count;
    char regions [CONFIG_COVER_MAX][CONFIG_ID_MAX];
    size_t case_count;
    char cases [CONFIG_COVER_MAX][CONFIG_ID_MAX];
} config_partner_t;

//  An operator allowed on a tcp:// control endpoint (the operators file):
//  its CURVE key, and whether it may change cases or only read.
typedef struct {
    char id [CONFIG_ID_MAX];                        //  e.g. anna-de-vries
    char public_key [CONFIG_KEY_Z85_LEN + 1];
    bool read_write;                                //  access = read-write
} config_operator_t;

//  What one role may see of a signal: the SignalView field names it gets
//  (proto/zvh.proto); every other field is removed before sending.
typedef struct {
    char role [CONFIG_ROLE_MAX];
    size_t field_count;
    char fields [CONFIG_VIEW_FIELDS_MAX][CONFIG_FIELD_MAX];
} config_view_t;

typedef struct {
    char region [CONFIG_ID_MAX];            //  this daemon's region id
    char data_dir [CONFIG_PATH_MAX];
    char bind [CONFIG_ENDPOINT_MAX];        //  federation endpoint (CURVE server)
    char control [CONFIG_ENDPOINT_MAX];     //  local control endpoint (ipc://...)
    char secret_key [CONFIG_PATH_MAX];      //  zcert secret file of this region
    char directory [CONFIG_PATH_MAX];       //  federation directory file
    uint64_t map_size_mb;                   //  initial LMDB map size
    uint64_t map_max_mb;                    //  map never grows beyond this
    int64_t joint_phase_s;                  //  joint phase length; 0 = until completed
    int heartbeat_ms;
    int peer_timeout_ms;                    //  no traffic this long = peer down
    int retry_min_ms;                       //  first redelivery delay
    int retry_max_ms;                       //  back-off ceiling
    int window;                             //  unacked events in flight per peer
    size_t region_count;
    config_region_t regions [CONFIG_REGIONS_MAX];
    //  Crisis signals (all optional: without subscribe_bind no partner socket)
    char subscribe_bind [CONFIG_ENDPOINT_MAX];  //  partner endpoint (CURVE server)
    char partners_file [CONFIG_PATH_MAX];       //  partners and views file
    int64_t retention_days;                     //  signal log retention
    int64_t link_retention_days;                //  acked events kept for a restored peer
    int64_t review_check_s;                     //  how often review dates are checked
    int credit_max;                             //  most deliveries in flight per subscriber
    int raise_per_min;                          //  partner raises per partner per minute
    size_t partner_count;
    config_partner_t partners [CONFIG_PARTNERS_MAX];
    size_t view_count;
    config_view_t views [CONFIG_VIEWS_MAX];
    //  Security
    char operators_file [CONFIG_PATH_MAX];  //  operator keys for a tcp:// control
    size_t operator_count;
    config_operator_t operators [CONFIG_OPERATORS_MAX];
    char data_key [CONFIG_PATH_MAX];        //  store encryption key file (hex, 0600)
    char revoked_file [CONFIG_PATH_MAX];    //  revoked keys, one Z85 key per line
    size_t revoked_count;
    char revoked [CONFIG_REVOKED_MAX][CONFIG_KEY_Z85_LEN + 1];
    //  Operations (optional: without metrics_bind no HTTP server)
    char metrics_bind [CONFIG_ENDPOINT_MAX];    //  host:port of /metrics, /healthz
    char metrics_tls_cert [CONFIG_PATH_MAX];    //  PEM certificate: serve HTTPS ("" = HTTP)
    char metrics_tls_key [CONFIG_PATH_MAX];     //  its PEM private key (mode 0600)
    char metrics_token [CONFIG_PATH_MAX];       //  file of the bearer token /metrics needs
    int health_peer_s;                      //  /healthz wants a peer seen this recently
    int status_interval_s;                  //  send this region's summary this often (4.10)
    bool log_json;                          //  log_format = json: one JSON object a line
} config_t;

//  Defaults: a key that is absent from the file takes these values.
#define CONFIG_DEFAULT_MAP_SIZE_MB   64
#define CONFIG_DEFAULT_MAP_MAX_MB    65536
#define CONFIG_DEFAULT_JOINT_PHASE_S (90 * 24 * 3600)
#define CONFIG_DEFAULT_HEARTBEAT_MS  1000
#define CONFIG_DEFAULT_PEER_TIMEOUT_MS 5000
#define CONFIG_DEFAULT_RETRY_MIN_MS  200
#define CONFIG_DEFAULT_RETRY_MAX_MS  30000
#define CONFIG_DEFAULT_WINDOW        64
#define CONFIG_DEFAULT_RETENTION_DAYS 30
#define CONFIG_DEFAULT_LINK_RETENTION_DAYS 7     //  > the interval between backups
#define CONFIG_DEFAULT_REVIEW_CHECK_S 3600
#define CONFIG_DEFAULT_CREDIT_MAX    256
#define CONFIG_DEFAULT_RAISE_PER_MIN 60     //  partner raises per partner per minute
#define CONFIG_DEFAULT_HEALTH_PEER_S 60
#define CONFIG_DEFAULT_STATUS_INTERVAL_S 30

//  Sane ranges: a value outside these is a typo or a unit mistake, so
//  config_load rejects it rather than run with it.
#define CONFIG_MAP_MB_MIN            1
#define CONFIG_MAP_MB_MAX            (16 * 1024 * 1024)         //  16 TiB
#define CONFIG_JOINT_PHASE_S_MIN     0                          //  0 = until completed
#define CONFIG_JOINT_PHASE_S_MAX     (10 * 365 * 24 * 3600)     //  ten years
#define CONFIG_HEARTBEAT_MS_MIN      10
#define CONFIG_HEARTBEAT_MS_MAX      (10 * 60 * 1000)
#define CONFIG_PEER_TIMEOUT_MS_MIN   20
#define CONFIG_PEER_TIMEOUT_MS_MAX   (60 * 60 * 1000)
#define CONFIG_RETRY_MS_MIN          1
#define CONFIG_RETRY_MS_MAX          (24 * 60 * 60 * 1000)
#define CONFIG_WINDOW_MIN            1
#define CONFIG_WINDOW_MAX            65536
#define CONFIG_RETENTION_DAYS_MIN    1
#define CONFIG_RETENTION_DAYS_MAX    (10 * 365)                 //  ten years
#define CONFIG_LINK_RETENTION_DAYS_MIN  0                          //  0: delete on ack
#define CONFIG_LINK_RETENTION_DAYS_MAX  365
#define CONFIG_REVIEW_CHECK_S_MIN    1
#define CONFIG_REVIEW_CHECK_S_MAX    (24 * 3600)                //  once a day
#define CONFIG_CREDIT_MAX_MIN        1                          //  range of credit_max
#define CONFIG_CREDIT_MAX_MAX        65536
#define CONFIG_RAISE_PER_MIN_MIN     1                          //  range of raise_per_min
#define CONFIG_RAISE_PER_MIN_MAX     100000
#define CONFIG_HEALTH_PEER_S_MIN     1
#define CONFIG_HEALTH_PEER_S_MAX     (24 * 3600)                //  a day
#define CONFIG_METRICS_TOKEN_MIN     16     //  characters of a bearer token at least
#define CONFIG_METRICS_TOKEN_LINE_MAX 1024  //  the token file's first line at most
#define CONFIG_STATUS_INTERVAL_S_MIN 1
#define CONFIG_STATUS_INTERVAL_S_MAX 3600

//  Load and validate the daemon file at path and the directory it names.
//  Returns the config, or NULL when anything is wrong; every problem found is
//  appended to errors (if not NULL) as a string the caller must free.
config_t *
    config_load (const char *path, zlist_t *errors);

//  Destroy a config and null the pointer.
void
    config_destroy (config_t **self_p);

//  Look a region up by id; NULL when unknown.
const config_region_t *
    config_region (const config_t *self, const char *id);

//  Look a region up by its CURVE public key (Z85); NULL when unknown or
//  revoked.
const config_region_t *
    config_region_by_key (const config_t *self, const char *public_key);

//  True if key is on the revocation list. Lookups by key never return a
//  revoked key's region or partner.
bool
    config_is_revoked (const config_t *self, const char *public_key);

//  Look a partner up by its CURVE public key (Z85), current or next; NULL
//  when unknown or revoked.
const config_partner_t *
    config_partner_by_key (const config_t *self, const char *public_key);

//  Look an operator up by its CURVE public key (Z85); NULL when unknown or
//  revoked.
const config_operator_t *
    config_operator_by_key (const config_t *self, const char *public_key);

//  True if the control endpoint is tcp:// (CURVE with operator keys).
bool
    config_control_is_tcp (const config_t *self);

//  The view of a role; NULL when the config defines none (the role sees
//  nothing).
const config_view_t *
    config_view (const config_t *self, const char *role);

//  True if the view lists field.
bool
    config_view_has (const config_view_t *view, const char *field);

//  True when the region has both an endpoint and a key (not a placeholder).
bool
    config_region_is_federated (const config_region_t *region);

#endif
