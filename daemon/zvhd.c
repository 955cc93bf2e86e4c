/*  zvhd: the regional daemon of zvh-federation.
 *
 *  One process per ZVH region: an LMDB store, CURVE links to every other
 *  region, and a local control socket for zvhctl and libzvh. Everything
 *  runs in one thread around one poller, so no state is shared; the ZAP
 *  handler (zap.c) is the only other thread, and it speaks through its
 *  actor pipe. (A backup
 *  copies the store in a thread of its own: see store_backup_start.) The
 *  metrics endpoint is served from the same loop, without threads.
 *
 *  A loop turn (s_run) is one write transaction (store_turn_begin ..
 *  store_turn_end, store.h): every module's store_write in the turn is a
 *  transaction nested in it, so one refused or hostile input undoes only
 *  itself, and the turn commits once, with one fsync. What may only follow
 *  a durable change - control answers, federation ACKs, partner views and
 *  confirmations, the RAISED answer, waking the links to send what was
 *  queued - each module hands to store_after_commit; those effects run
 *  after the commit, in order, told whether it held (if not, nothing is
 *  acknowledged and clients get the store's error). Sends read committed
 *  state only (store_read), so nothing not yet durable leaves the daemon.
 *  Outside the turn: the metrics endpoint (its readiness check commits on
 *  its own, so "writable" means on disk) and, at most every 10 s, a new
 *  incarnation when a peer shows this store is an older copy (it renumbers
 *  every link, committed before any link sends again).
 *
 *    1. Wait in one zmq_poll (pollset.c) on every socket and descriptor:
 *       the SIGHUP signalfd, the metrics listener, the federation ROUTER,
 *       each link's DEALER, the partner ROUTER and its monitor, the ZAP
 *       pipe, the control ROUTER (in that order). The wait lasts until the
 *       first timer of any module is due (s_timeout_ms: heartbeats and
 *       retransmits per link, partner pings, joint-phase expiry, review and
 *       purge, held ACKs, audit refusal counts, the watchdog, metrics
 *       timeouts, a running backup), at most ZVHD_POLL_MAX_MS: idle, the
 *       daemon wakes for due work only, not on a tick.
 *    2. The turn begins. A SIGHUP reloads, and nothing else is served in
 *       that turn (the reload may have closed a socket the poll reported).
 *    3. Otherwise every readable socket is served once, in that order, each
 *       with a bounded batch: inbound federation up to FEDERATION_BATCH_MAX
 *       (256) frames, a link up to PEER_RECV_BATCH (256) ACKs, partners up
 *       to SUBSCRIBER_RECV_BATCH (256) frames, control up to
 *       CONTROL_BATCH_MAX (64) requests, one ZAP denial: all in the turn.
 *       So no socket waits for another that never runs dry: a flood of
 *       control requests costs the links at most one control batch per
 *       turn. A reload asked by a request ends the serving (step 2).
 *    4. After a reload the turn so far is committed and its effects run,
 *       the config is swapped, the poll set is rebuilt from the sockets that
 *       exist, and a new turn begins.
 *    5. What is due runs (s_run_due), in the turn: timers, refusal counts,
 *       control, the links (federation_pump: sends what earlier turns
 *       committed), the partners (subscriber_pump, last: it collects and
 *       audits the views of what this turn logged; they are sent after the
 *       commit). Each returns at once when it has nothing due (its next-due
 *       time), so an idle turn walks no link and writes nothing.
 *    6. The turn commits (nothing to commit: no fsync) and its effects run;
 *       a wake-up among them makes the next poll return at once. Then the
 *       metrics endpoint, if a request or its timer is due.
 *
 *  Under systemd (Type=notify) it says READY=1 once it serves, RELOADING=1
 *  and READY=1 around a reload, STOPPING=1 when it stops: datagrams to
 *  $NOTIFY_SOCKET, written here without libsystemd.
 *
 *  Exit codes: 0 clean stop, 1 bad usage or config, 2 start-up failure.
 */
#include "audit.h"
#include "log.h"
#include "config.h"
#include "control.h"
#include "crisis.h"
#include "fault.h"
#include "federation.h"
#include "metrics.h"
#include "outbox.h"
#include "pollset.h"
#include "signal_log.h"
#include "store.h"
#include "status.h"
#include "subscriber.h"
#include "transfer.h"
#include "version.h"
#include "zap.h"
#include <sodium.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ZVHD_EXIT_USAGE    1
#define ZVHD_EXIT_STARTUP  2
#define ZVHD_POLL_MAX_MS   1000     //  the longest wait: a bound, not a tick
#define ZVHD_VERIFIED_SLOTS 1024        //  signatures remembered (about 34 KiB)
#define ZVHD_TRIM_MS       1000     //  freed heap goes back to the system at most this often
#define ZVHD_TRIM_FREE_BYTES (1024 * 1024)  //  and only when this much of it is free
#define ZVHD_RETRY_MS      50       //  a timer whose write failed tries again after this
#define ZVHD_WATCHDOG_US_PER_HALF_MS  2000  //  WATCHDOG_USEC / this = half of it, in ms
#define ZVHD_PATH_MAX      (CONFIG_PATH_MAX + 64)

typedef struct {
    config_t *config;                   //  in force; never changed, only swapped
    config_t *fresh;                    //  a reload's, until s_swap_config
    zcert_t *cert;
    zap_t *zap;
    int lock_fd;
    store_t *store;
    outbox_t *outbox;
    transfer_t *transfer;
    signal_log_t *log;
    crisis_t *crisis;
    audit_t *audit;
    const char *config_path;
    federation_t *federation;
    subscriber_t *subscriber;           //  NULL without subscribe_bind
    sigcache_t *verified;               //  signatures made or verified here
    control_t *control;
    metrics_t *metrics;                 //  NULL without metrics_bind
    status_t *status;                   //  this region's and the peers' summaries
    int64_t next_status_ms;             //  this region's summary is due
    int64_t next_review_ms;
    bool review_done;                   //  the last review step ended a pass
    int64_t next_purge_ms;
    int64_t watchdog_ms;            //  WATCHDOG=1 this often (half WatchdogSec), 0 = off
    int64_t next_watchdog_ms;
    int64_t next_expiry_try_ms;         //  after a failed expiry pass
    int hangup_fd;                      //  readable while a SIGHUP waits, -1 = none
    bool metrics_ready;                 //  the metrics listener has a request
} daemon_t;

#define ZVHD_PURGE_INTERVAL_MS  (3600 * 1000)   //  signal log retention check
#define ZVHD_NOTIFY_MAX         512             //  one sd_notify datagram
#define ZVHD_MS_PER_DAY         (24LL * 3600 * 1000)
#define ZVHD_US_PER_MS          1000

//  systemd's notify protocol without libsystemd: one datagram to the unix
//  socket named by $NOTIFY_SOCKET ("@name" is an abstract socket). Does
//  nothing outside systemd's Type=notify (the variable is unset).
static void
s_notify (const char *format, ...)
{
    const char *path = getenv ("NOTIFY_SOCKET");
    if (!path || !*path)
        return;
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    size_t length = strlen (path);
    if ((path [0] != '/' && path [0] != '@') || length >= sizeof address.sun_path) {
        log_warning ("NOTIFY_SOCKET '%s' is not a unix socket path; systemd is "
                      "not told of the daemon's state", path);
        return;
    }
    memcpy (address.sun_path, path, length);
    if (address.sun_path [0] == '@')
        address.sun_path [0] = 0;
    char state [ZVHD_NOTIFY_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (state, sizeof state, format, args);
    va_end (args);
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t size = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + length);
    if (fd < 0 || sendto (fd, state, strlen (state), MSG_NOSIGNAL,
                          (struct sockaddr *) &address, size) < 0)
        log_warning ("cannot notify systemd at %s: %s", path, strerror (errno));
    if (fd >= 0)
        close (fd);
}

static uint64_t
s_monotonic_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000000 + (uint64_t) now.tv_nsec / 1000;
}

static void
s_usage (void)
{
    fprintf (stderr,
        "usage: zvhd -c CONFIG [-v]      run the daemon of one region (-v: log the\n"
        "                                settings in force at start)\n"
        "       zvhd --check-config CONFIG   validate a config and explain every error\n"
        "       zvhd -c CONFIG --rekey NEW_KEY_FILE\n"
        "                                re-encrypt the store (daemon stopped), then\n"
        "                                point data_key at NEW_KEY_FILE\n"
        "       zvhd --version\n");
}

//  Print every error in a config; returns the config or NULL.
static config_t *
s_load_config (const char *path)
{
    zlist_t *errors = zlist_new ();
    zlist_autofree (errors);
    config_t *config = config_load (path, errors);
    for (char *error = (char *) zlist_first (errors); error;
         error = (char *) zlist_next (errors))
        fprintf (stderr, "error: %s\n", error);
    if (!config)
        fprintf (stderr, "%s: %zu error(s); zvhd did not start\n", path,
                 zlist_size (errors));
    zlist_destroy (&errors);
    return config;
}

static int
s_check_config (const char *path)
{
    config_t *config = s_load_config (path);
    if (!config)
        return ZVHD_EXIT_USAGE;
    size_t federated = 0;
    for (size_t i = 0; i < config->region_count; i++)
        federated += config_region_is_federated (&config->regions [i]);
    printf ("%s: OK: region %s, data_dir %s, bind %s, control %s; directory has "
            "%zu regions, %zu federated\n", path, config->region, config->data_dir,
            config->bind, config->control, config->region_count, federated);
    config_destroy (&config);
    return 0;
}

//  One zvhd per data_dir: LMDB would allow a second, and it would steal
//  the control socket. A data_dir this user cannot write is a configuration
//  error (exit 1: restarting cannot fix it); one in use may free up (exit 2).
static int
s_lock_data_dir (daemon_t *self)
{
    char path [ZVHD_PATH_MAX];
    //  zsys_dir_create makes the parents too, as mkdir -p
    if (zsys_dir_create ("%s", self->config->data_dir)) {
        log_error ("cannot create data_dir %s: %s; it must be writable by the user zvhd "
                    "runs as", self->config->data_dir, strerror (errno));
        return ZVHD_EXIT_USAGE;
    }
    snprintf (path, sizeof path, "%s/zvhd.lock", self->config->data_dir);
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        log_error ("cannot write to data_dir %s (lock file %s: %s); it must be writable "
                    "by the user zvhd runs as", self->config->data_dir, path,
                    strerror (errno));
        return ZVHD_EXIT_USAGE;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB)) {
        log_error ("data_dir %s is in use by another zvhd (lock %s): stop it first",
                    self->config->data_dir, path);
        return ZVHD_EXIT_STARTUP;
    }
    return 0;
}

//  The three CURVE endpoints a daemon may serve, each with its own keys.
typedef enum { ZVHD_REGIONS, ZVHD_PARTNERS, ZVHD_OPERATORS } zvhd_endpoint_t;

//  The keys an endpoint admits under config, appended to keys (strings
//  owned by config).
static void
s_admitted (const config_t *config, zvhd_endpoint_t endpoint, zlist_t *keys)
{
    for (size_t i = 0; i < config->region_count && endpoint == ZVHD_REGIONS; i++) {
        const config_region_t *region = &config->regions [i];
        if (config_region_is_federated (region)
        &&  !config_is_revoked (config, region->public_key))
            zlist_append (keys, (void *) region->public_key);
    }
    for (size_t i = 0; i < config->partner_count && endpoint == ZVHD_PARTNERS; i++) {
        const config_partner_t *partner = &config->partners [i];
        if (!config_is_revoked (config, partner->public_key))
            zlist_append (keys, (void *) partner->public_key);
        if (*partner->public_key_next && !config_is_revoked (config, partner->public_key_next))
            zlist_append (keys, (void *) partner->public_key_next);
    }
    for (size_t i = 0; i < config->operator_count && endpoint == ZVHD_OPERATORS; i++)
        if (!config_is_revoked (config, config->operators [i].public_key))
            zlist_append (keys, (void *) config->operators [i].public_key);
}

//  True if an endpoint admits a key under old that it does not under fresh:
//  that key's live connections must be closed (PROTOCOL 2.7).
static bool
s_key_withdrawn (const config_t *old, const config_t *fresh, zvhd_endpoint_t endpoint)
{
    zlist_t *before = zlist_new (), *after = zlist_new ();
    s_admitted (old, endpoint, before);
    s_admitted (fresh, endpoint, after);
    bool withdrawn = false;
    for (const char *key = (const char *) zlist_first (before); key && !withdrawn;
         key = (const char *) zlist_next (before)) {
        bool kept = false;
        for (const char *other = (const char *) zlist_first (after); other && !kept;
             other = (const char *) zlist_next (after))
            kept = streq (key, other);
        withdrawn = !kept;
    }
    zlist_destroy (&before);
    zlist_destroy (&after);
    return withdrawn;
}

//  The keys each endpoint admits, from the config: those are the only keys
//  the ZAP handler lets through its handshake, per endpoint.
static int
s_admit_keys (daemon_t *self)
{
    zlist_t *regions = zlist_new ();
    zlist_t *partners = zlist_new ();
    zlist_t *operators = zlist_new ();
    s_admitted (self->config, ZVHD_REGIONS, regions);
    s_admitted (self->config, ZVHD_PARTNERS, partners);
    s_admitted (self->config, ZVHD_OPERATORS, operators);
    int rc = zap_set_keys (self->zap, ZAP_DOMAIN_FEDERATION, regions);
    if (rc == 0)
        rc = zap_set_keys (self->zap, ZAP_DOMAIN_PARTNERS, partners);
    if (rc == 0)
        rc = zap_set_keys (self->zap, ZAP_DOMAIN_CONTROL, operators);
    zlist_destroy (&operators);
    if (rc)
        log_error ("the ZAP handler did not take the keys: no key is admitted");
    zlist_destroy (&regions);
    zlist_destroy (&partners);
    return rc;
}

//  The ZAP handler must answer before any CURVE socket binds: without one
//  libzmq would admit any key.
static int
s_start_auth (daemon_t *self)
{
    self->zap = zap_new ();
    return self->zap ? s_admit_keys (self) : -1;
}

//  Personal data at rest is sealed: no data_key, no daemon.
static int
s_unlock_store (daemon_t *self)
{
    if (!*self->config->data_key) {
        log_error ("no data_key in the config: zvhd keeps personal data encrypted "
                    "at rest; make a key with zvhctl datakey FILE (mode 0600) and "
                    "set data_key = FILE");
        return -1;
    }
    uint8_t key [STORE_KEY_BYTES];
    int rc = store_read_key_file (self->config->data_key, key);
    if (rc == 0)
        rc = store_set_key (self->store, key);
    sodium_memzero (key, sizeof key);
    return rc;
}

//  Settings a reload cannot change: they need a restart.
static const char *
s_fixed_setting_changed (const config_t *old, const config_t *fresh)
{
    if (!streq (old->region, fresh->region))
        return "region";
    if (!streq (old->data_dir, fresh->data_dir))
        return "data_dir";
    if (!streq (old->bind, fresh->bind))
        return "bind";
    if (!streq (old->control, fresh->control))
        return "control";
    if (!streq (old->subscribe_bind, fresh->subscribe_bind))
        return "subscribe_bind";
    if (!streq (old->metrics_bind, fresh->metrics_bind)
    ||  !streq (old->metrics_tls_cert, fresh->metrics_tls_cert)
    ||  !streq (old->metrics_tls_key, fresh->metrics_tls_key)
    ||  !streq (old->metrics_token, fresh->metrics_token))
        return "metrics_bind, metrics_tls_cert, metrics_tls_key or metrics_token";
    if (!streq (old->secret_key, fresh->secret_key) || !streq (old->data_key, fresh->data_key))
        return "secret_key or data_key";
    if (old->log_json != fresh->log_json)
        return "log_format";
    return NULL;
}

//  SIGHUP and zvhctl reload: take new keys, directory, partners and
//  revocation list without a restart. Revoked keys are refused from the next
//  message on; other links and streams go on.
//
//  A config_t is immutable: a reload never edits the one in force. It loads
//  and checks a fresh one (s_reload_files, which may run inside a control
//  request), and the event loop swaps it in at one point, between handlers,
//  when no module is inside a call that could hold a pointer into the old
//  one (s_swap_config): every module is handed the fresh config there, and
//  only then is the old one destroyed. Whatever a module keeps from a
//  config (crisis's peer ids, the subscriber's partners, the federation's
//  links) it rebuilds from the fresh one in that call; the ZAP handler,
//  outbox and log keep copies.
static int s_reload_files (daemon_t *self);

static int
s_reload (void *arg)
{
    daemon_t *self = (daemon_t *) arg;
    s_notify ("RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading %s",
              s_monotonic_us (), self->config_path);
    int rc = s_reload_files (self);
    //  After a good one, READY=1 comes once the fresh config is in force
    if (rc)
        s_notify ("READY=1\nSTATUS=region %s: serving (the last reload failed; see "
                  "the log)", self->config->region);
    return rc;
}

//  A later reload before the swap replaces the earlier one's config.
static int
s_reload_files (daemon_t *self)
{
    config_t *fresh = s_load_config (self->config_path);
    if (!fresh) {
        log_error ("reload: %s has errors (above); the daemon keeps its keys",
                    self->config_path);
        return -1;
    }
    const char *changed = s_fixed_setting_changed (self->config, fresh);
    if (changed) {
        log_error ("reload: %s changed; that needs a restart; nothing reloaded", changed);
        config_destroy (&fresh);
        return -1;
    }
    config_destroy (&self->fresh);
    self->fresh = fresh;
    return 0;
}

//  The swap point (see s_reload): every module gets the fresh config, then
//  the old one is destroyed, so that a pointer left into it is a
//  use-after-free the sanitizer build reports, not a stale read.
static void
s_swap_config (daemon_t *self)
{
    assert (self->fresh);
    config_t *old = self->config;
    const config_t *fresh = self->fresh;
    bool regions_withdrawn = s_key_withdrawn (old, fresh, ZVHD_REGIONS);
    bool partners_withdrawn = s_key_withdrawn (old, fresh, ZVHD_PARTNERS);
    bool operators_withdrawn = s_key_withdrawn (old, fresh, ZVHD_OPERATORS);
    self->config = self->fresh;
    self->fresh = NULL;
    outbox_set_retention (self->outbox, fresh->link_retention_days * ZVHD_MS_PER_DAY);
    s_admit_keys (self);
    transfer_set_config (self->transfer, fresh);
    crisis_reload (self->crisis, fresh);
    federation_reload (self->federation, fresh, regions_withdrawn);
    if (self->subscriber)
        subscriber_reload (self->subscriber, fresh, partners_withdrawn);
    control_set_config (self->control, fresh, operators_withdrawn);
    if (self->metrics)
        metrics_set_config (self->metrics, fresh);
    status_set_config (self->status, fresh);
    config_destroy (&old);
    log_info ("reload: %zu regions, %zu partners, %zu revoked key(s)",
               fresh->region_count, fresh->partner_count, fresh->revoked_count);
    s_notify ("READY=1\nSTATUS=region %s: serving (reloaded)", fresh->region);
}

//  A store restored from a backup is older than what the peers know of
//  this region: say so, every start, with what it means (docs/OPERATIONS.md).
static void
s_warn_if_restored (daemon_t *self)
{
    int64_t taken_ms = store_backup_taken_ms (self->store);
    if (!taken_ms)
        return;
    time_t taken = (time_t) (taken_ms / 1000);
    char when [32];
    strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime (&taken));
    log_warning ("store %s was restored from a backup taken %s: its peers send "
                  "again what they sent it since (within link_retention_days); what "
                  "this region itself did after that is not here (see "
                  "docs/OPERATIONS.md, 'Restore')", store_path (self->store), when);
}

//  Every start but the first: the log goes on past the clock in
//  microseconds, as origin seqs do (outbox_start; docs/PROTOCOL.md 7.7): if
//  this store is a copy, partners that saw the lost store's later seqs miss
//  nothing new.
static int
s_skip_log (MDB_txn *txn, void *arg)
{
    daemon_t *self = (daemon_t *) arg;
    uint64_t clock = (uint64_t) zclock_time () * ZVHD_US_PER_MS;
    return signal_log_skip_to (self->log, txn,
                               outbox_started_before (self->outbox) ? clock : 0);
}

//  The partner endpoint's part in other modules' write transactions.
//  -v: the settings in force, defaults included, so that what runs is known.
static void
s_log_settings (const config_t *config)
{
    log_info ("settings: region %s, data_dir %s, bind %s, control %s, "
               "subscribe_bind %s, metrics_bind %s", config->region, config->data_dir,
               config->bind, config->control,
               *config->subscribe_bind ? config->subscribe_bind : "(none)",
               *config->metrics_bind ? config->metrics_bind : "(none)");
    log_info ("settings: map_size_mb %" PRIu64 ", map_max_mb %" PRIu64 ", "
               "joint_phase_s %" PRId64 ", heartbeat_ms %d, peer_timeout_ms %d, "
               "retry_min_ms %d, retry_max_ms %d, window %d", config->map_size_mb,
               config->map_max_mb, config->joint_phase_s, config->heartbeat_ms,
               config->peer_timeout_ms, config->retry_min_ms, config->retry_max_ms,
               config->window);
    log_info ("settings: retention_days %" PRId64 ", link_retention_days %" PRId64
               ", review_check_s %" PRId64 ", credit_max %d, health_peer_s %d; %zu "
               "regions, %zu partners, %zu revoked key(s)", config->retention_days,
               config->link_retention_days, config->review_check_s,
               config->credit_max, config->health_peer_s, config->region_count,
               config->partner_count, config->revoked_count);
}

static int
s_start (daemon_t *self, const char *config_path, bool verbose)
{
    self->lock_fd = -1;
    self->config_path = config_path;
    self->config = s_load_config (config_path);
    if (!self->config)
        return ZVHD_EXIT_USAGE;
    log_setup (self->config->region, self->config->log_json);
    int locked = s_lock_data_dir (self);
    if (locked)
        return locked;
    self->cert = zcert_load (self->config->secret_key);
    if (!self->cert) {
        log_error ("cannot load secret_key %s: missing, unreadable, or not a zcert "
                    "secret certificate (make one with zvhctl keygen)",
                    self->config->secret_key);
        return ZVHD_EXIT_STARTUP;
    }
    if (s_start_auth (self))
        return ZVHD_EXIT_STARTUP;
    char store_dir [ZVHD_PATH_MAX];
    snprintf (store_dir, sizeof store_dir, "%s/store", self->config->data_dir);
    self->store = store_new (store_dir, self->config->region,
                             self->config->map_size_mb, self->config->map_max_mb);
    if (!self->store || s_unlock_store (self))
        return ZVHD_EXIT_STARTUP;
    s_warn_if_restored (self);
    uint8_t sign_public [WIRE_SIGN_PUBLIC_BYTES], sign_secret [WIRE_SIGN_SECRET_BYTES];
    wire_sign_keypair (zcert_secret_key (self->cert), sign_public, sign_secret);
    self->outbox = outbox_new (self->store, self->config->region, sign_secret);
    self->transfer = transfer_new (self->store, self->outbox, self->config);
    transfer_set_sign_key (self->transfer, sign_secret);
    self->verified = sigcache_new (ZVHD_VERIFIED_SLOTS);
    if (!self->verified)
        return ZVHD_EXIT_STARTUP;
    transfer_set_verified (self->transfer, self->verified);
    sodium_memzero (sign_secret, sizeof sign_secret);
    outbox_set_retention (self->outbox, self->config->link_retention_days * ZVHD_MS_PER_DAY);
    int rc = outbox_start (self->outbox, store_backup_taken_ms (self->store), zclock_time ());
    if (rc) {
        log_error ("store %s: cannot begin the restored store's incarnation: %s",
                    store_path (self->store), mdb_strerror (rc));
        return ZVHD_EXIT_STARTUP;
    }
    rc = transfer_start (self->transfer);
    if (rc) {
        log_error ("store %s: cannot count the cases per state: %s",
                    store_path (self->store), mdb_strerror (rc));
        return ZVHD_EXIT_STARTUP;
    }
    self->log = signal_log_new (self->store);
    rc = store_write (self->store, s_skip_log, self);
    if (rc) {
        log_error ("store %s: cannot move the signal log past the clock: %s",
                    store_path (self->store), mdb_strerror (rc));
        return ZVHD_EXIT_STARTUP;
    }
    self->audit = audit_new (self->store);
    self->crisis = crisis_new (self->store, self->outbox, self->log, self->transfer,
                               self->config);
    //  The same key again (zeroed above): it signs the proofs of the events
    //  this region publishes (PROTOCOL 8.3)
    wire_sign_keypair (zcert_secret_key (self->cert), sign_public, sign_secret);
    crisis_set_sign_key (self->crisis, sign_secret);
    sodium_memzero (sign_secret, sizeof sign_secret);
    self->federation = federation_new (self->config, self->cert, self->store,
                                       self->outbox, self->transfer, self->crisis,
                                       self->audit);
    if (!self->federation)
        return ZVHD_EXIT_STARTUP;
    federation_set_verified (self->federation, self->verified);
    self->status = status_new (self->config, self->store, self->outbox, self->transfer,
                               self->federation);
    federation_set_status (self->federation, self->status);
    if (*self->config->subscribe_bind) {
        self->subscriber = subscriber_new (self->config, self->cert, self->store,
                                           self->log, self->crisis, self->audit);
        if (!self->subscriber)
            return ZVHD_EXIT_STARTUP;
    }
    self->control = control_new (self->config, self->cert, self->store, self->outbox,
                                 self->transfer, self->crisis, self->audit,
                                 self->federation);
    if (!self->control)
        return ZVHD_EXIT_STARTUP;
    control_set_reload (self->control, s_reload, self);
    control_set_status (self->control, self->status);
    if (*self->config->metrics_bind) {
        self->metrics = metrics_new (self->config, self->store, self->outbox,
                                     self->transfer, self->log, self->audit,
                                     self->federation, self->subscriber);
        if (!self->metrics)
            return ZVHD_EXIT_STARTUP;
        metrics_set_status (self->metrics, self->status);
    }
    if (verbose)
        s_log_settings (self->config);
    log_info ("zvhd %s: region %s serving on %s (control %s), %zu peer(s)",
               ZVH_RELEASE, self->config->region, self->config->bind,
               self->config->control, federation_peer_count (self->federation));
    return 0;
}

static void
s_stop (daemon_t *self)
{
    metrics_destroy (&self->metrics);
    control_destroy (&self->control);
    subscriber_destroy (&self->subscriber);
    federation_destroy (&self->federation);
    status_destroy (&self->status);
    crisis_destroy (&self->crisis);
    audit_destroy (&self->audit);
    signal_log_destroy (&self->log);
    transfer_destroy (&self->transfer);
    sigcache_destroy (&self->verified);
    outbox_destroy (&self->outbox);
    store_destroy (&self->store);
    zap_destroy (&self->zap);
    zcert_destroy (&self->cert);
    config_destroy (&self->fresh);
    config_destroy (&self->config);
    if (self->lock_fd >= 0)
        close (self->lock_fd);
}

static int
s_expire_joint_phases (MDB_txn *txn, void *arg)
{
    daemon_t *self = (daemon_t *) arg;
    return transfer_expire (self->transfer, txn, zclock_time ());
}

static int
s_review_and_purge (MDB_txn *txn, void *arg)
{
    daemon_t *self = (daemon_t *) arg;
    int64_t now_ms = zclock_time ();
    int rc = 0;
    if (now_ms >= self->next_review_ms)
        rc = crisis_check_reviews (self->crisis, txn, now_ms, &self->review_done);
    if (rc == 0 && now_ms >= self->next_purge_ms)
        rc = crisis_purge (self->crisis, txn, now_ms);
    return rc;
}

//  Timers: joint phases that end, review dates that pass, log retention.
//  systemd's watchdog (WatchdogSec= in the unit sets WATCHDOG_USEC): the
//  loop says it is alive at half the interval, so a wedged loop is restarted.
static void
s_watchdog_init (daemon_t *self)
{
    const char *usec = getenv ("WATCHDOG_USEC");
    const char *pid = getenv ("WATCHDOG_PID");
    long long interval_us = usec ? atoll (usec) : 0;
    if (interval_us <= 0 || (pid && *pid && atoll (pid) != (long long) getpid ()))
        return;
    self->watchdog_ms = interval_us / ZVHD_WATCHDOG_US_PER_HALF_MS;
    if (self->watchdog_ms < 1)
        self->watchdog_ms = 1;
    log_info ("zvhd: systemd watchdog every %" PRId64 " ms", self->watchdog_ms);
}

static void
s_run_timers (daemon_t *self, int64_t now_ms)
{
    if (self->watchdog_ms && now_ms >= self->next_watchdog_ms) {
        s_notify ("WATCHDOG=1");
        self->next_watchdog_ms = now_ms + self->watchdog_ms;
    }
    if (transfer_next_expiry (self->transfer) <= now_ms
    &&  self->next_expiry_try_ms <= now_ms) {
        if (store_write (self->store, s_expire_joint_phases, self) == 0)
            federation_wake_after_commit (self->federation);
        else
            self->next_expiry_try_ms = now_ms + ZVHD_RETRY_MS;
    }
    if (now_ms >= self->next_review_ms || now_ms >= self->next_purge_ms) {
        self->review_done = false;
        bool reviewed = store_write (self->store, s_review_and_purge, self) == 0;
        //  A pass is done in steps, one a loop turn, so that signals keep flowing
        if (now_ms >= self->next_review_ms && (!reviewed || self->review_done))
            self->next_review_ms = now_ms + self->config->review_check_s * 1000;
        if (now_ms >= self->next_purge_ms)
            self->next_purge_ms = now_ms + ZVHD_PURGE_INTERVAL_MS;
    }
}

//  SIGHUP is blocked in every thread (main blocks it before any thread
//  starts) and taken here, by the event loop. A handler could run on any
//  thread that has it unblocked: on the ZAP handler's actor thread it ends the actor
//  (its poll returns EINTR), and the reload then waits for ever on the dead
//  actor (seen when a SIGHUP came while the daemon was stopped).
static sigset_t
s_hangup_set (void)
{
    sigset_t hangup;
    sigemptyset (&hangup);
    sigaddset (&hangup, SIGHUP);
    return hangup;
}

static bool
s_hangup_taken (void)
{
    sigset_t hangup = s_hangup_set ();
    const struct timespec now = { 0, 0 };
    return sigtimedwait (&hangup, NULL, &now) == SIGHUP;
}

//  A descriptor that is readable while a SIGHUP waits (it stays blocked and
//  is taken by s_hangup_taken): a reload need not wait for a timer. -1 if
//  there is none; then a reload waits for the next wake-up.
static int
s_hangup_fd (void)
{
    sigset_t hangup = s_hangup_set ();
    int fd = signalfd (-1, &hangup, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        log_warning ("zvhd: no signalfd (%s): a SIGHUP reloads at the next wake-up, "
                      "within %d ms", strerror (errno), ZVHD_POLL_MAX_MS);
    return fd;
}

//  Poll every socket that exists now, and nothing else: a closed socket in
//  the set would end the loop. Control comes last: its requests are
//  served after the links' traffic of the same turn.
static void
s_poll_build (daemon_t *self, pollset_t *pollset)
{
    pollset_clear (pollset);
    if (self->hangup_fd >= 0)
        pollset_add_fd (pollset, self->hangup_fd, &self->hangup_fd);
    if (self->metrics && metrics_fd (self->metrics) >= 0)
        pollset_add_fd (pollset, metrics_fd (self->metrics), self->metrics);
    federation_poll_add (self->federation, pollset);
    if (self->subscriber)
        subscriber_poll_add (self->subscriber, pollset);
    pollset_add_socket (pollset, zap_socket (self->zap));
    pollset_add_socket (pollset, control_socket (self->control));
}

//  A key the ZAP handler refused at a handshake: audited once per interval
//  per key (a refused key retries for ever), as refused frames are.
static void
s_audit_denial (daemon_t *self, int64_t now_ms)
{
    char domain [ZAP_DOMAIN_MAX], key [ZAP_KEY_MAX];
    if (zap_denial (self->zap, domain, key))
        audit_note_refusal (self->audit, key,
                            streq (domain, ZAP_DOMAIN_PARTNERS) ? "partner endpoint"
                                                                : "federation",
                            "denied at the CURVE handshake: not a key of this endpoint "
                            "(unknown, revoked, or of the other endpoint)", now_ms);
}

//  Serve one ready socket: a bounded batch of what waits on it.
static void
s_serve (daemon_t *self, void *socket, int64_t now_ms)
{
    if (socket == &self->hangup_fd)
        ;                           //  the SIGHUP was taken before serving
    else
    if (self->metrics && socket == self->metrics)
        self->metrics_ready = true; //  served after the turn (s_run_metrics)
    else
    if (socket == control_socket (self->control))
        control_handle (self->control, now_ms);
    else
    if (socket == zap_socket (self->zap))
        s_audit_denial (self, now_ms);
    else
    if (!federation_handle (self->federation, socket, now_ms)
    &&  self->subscriber && subscriber_handle (self->subscriber, socket, now_ms))
        federation_wake_after_commit (self->federation);    //  a raise may have queued events
}

//  Every socket the poll found readable, each once. A request may reload
//  (zvhctl reload): the sockets after it in the set may be closed, and
//  wait for the next turn, polled in the rebuilt set.
static void
s_serve_ready (daemon_t *self, pollset_t *pollset, int64_t now_ms)
{
    size_t cursor = 0;
    void *socket;
    while (!self->fresh && (socket = pollset_next_ready (pollset, &cursor)))
        s_serve (self, socket, now_ms);
}

static int64_t
s_earlier (int64_t due_ms, int64_t other_ms)
{
    return other_ms < due_ms ? other_ms : due_ms;
}

//  How long the poll may wait: until the first timer of any module is due,
//  at most ZVHD_POLL_MAX_MS.
static int
s_timeout_ms (daemon_t *self, int64_t now_ms)
{
    int64_t due_ms = s_earlier (self->next_review_ms, self->next_purge_ms);
    if (self->watchdog_ms)
        due_ms = s_earlier (due_ms, self->next_watchdog_ms);
    int64_t expiry_ms = transfer_next_expiry (self->transfer);
    due_ms = s_earlier (due_ms, expiry_ms > self->next_expiry_try_ms
                                ? expiry_ms : self->next_expiry_try_ms);
    due_ms = s_earlier (due_ms, audit_next_flush_ms (self->audit));
    due_ms = s_earlier (due_ms, control_next_due_ms (self->control, now_ms));
    due_ms = s_earlier (due_ms, federation_next_due_ms (self->federation));
    due_ms = s_earlier (due_ms, self->next_status_ms);
    if (self->subscriber)
        due_ms = s_earlier (due_ms, subscriber_next_due_ms (self->subscriber));
    if (self->metrics)
        due_ms = s_earlier (due_ms, metrics_next_due_ms (self->metrics, now_ms));
    if (due_ms <= now_ms)
        return 0;
    return due_ms - now_ms < ZVHD_POLL_MAX_MS ? (int) (due_ms - now_ms) : ZVHD_POLL_MAX_MS;
}

//  What is due after the sockets: each module returns at once if it has
//  nothing to do (its own next-due time), so no link is walked for nothing.
static void
s_run_due (daemon_t *self, int64_t now_ms)
{
    s_run_timers (self, now_ms);
    audit_flush_refusals (self->audit, now_ms, false);
    control_pump (self->control, now_ms);
    federation_pump (self->federation, now_ms);
    self->next_status_ms = status_pump (self->status, now_ms);
    if (self->subscriber)
        subscriber_pump (self->subscriber, now_ms);     //  last: after every commit
}

//  End the turn: one commit, then its effects (store_turn_end).
static void
s_end_turn (daemon_t *self)
{
    if (store_turn_end (self->store))
        log_error ("zvhd: the turn's changes could not be committed (see the store error "
                    "above): nothing of it was acknowledged or answered as done; senders "
                    "and clients try again");
}

//  The metrics endpoint runs outside the turn: its readiness check is a
//  commit of its own, so that "store writable" means written to disk.
static void
s_run_metrics (daemon_t *self, int64_t now_ms)
{
    if (self->metrics && (self->metrics_ready
                          || now_ms >= metrics_next_due_ms (self->metrics, now_ms)))
        metrics_run (self->metrics);
    self->metrics_ready = false;
}

static void
s_run (daemon_t *self)
{
    pollset_t *pollset = pollset_new ();
    self->hangup_fd = s_hangup_fd ();
    s_poll_build (self, pollset);
    bool busy = false;              //  a socket was served since the last trim
    int64_t trimmed_ms = 0;
    while (!zsys_interrupted) {
        int ready = pollset_wait (pollset, s_timeout_ms (self, zclock_time ()));
        if (ready < 0)
            break;                  //  SIGINT or SIGTERM
        int64_t now_ms = zclock_time ();
        //  A burst (64 plans a turn) leaves freed heap that glibc keeps; a
        //  wait that times out after it gives it back (at most once a second,
        //  and only if there is enough to be worth the page walk)
        busy |= ready > 0;
        if (ready == 0 && busy && now_ms - trimmed_ms >= ZVHD_TRIM_MS) {
            if (mallinfo2 ().fordblks >= ZVHD_TRIM_FREE_BYTES)
                malloc_trim (0);
            trimmed_ms = now_ms;
            busy = false;
        }
        store_turn_begin (self->store);
        if (s_hangup_taken ())
            s_reload (self);        //  what the poll found may be closed now
        else
            s_serve_ready (self, pollset, now_ms);
        if (self->fresh) {
            //  The one point a reloaded config is swapped in (s_reload). It
            //  closes and opens links: the turn's effects go out before, and
            //  the poll takes exactly the sockets that exist after
            s_end_turn (self);
            s_swap_config (self);
            s_poll_build (self, pollset);
            store_turn_begin (self->store);
        }
        s_run_due (self, now_ms);
        s_end_turn (self);
        s_run_metrics (self, now_ms);
    }
    pollset_destroy (&pollset);
    if (self->hangup_fd >= 0)
        close (self->hangup_fd);
    s_notify ("STOPPING=1\nSTATUS=region %s: stopping", self->config->region);
    log_info ("zvhd: region %s stopping", self->config->region);
}

//  Re-encrypt the store of a stopped daemon under a new key.
static int
s_rekey (const char *config_path, const char *new_key_file)
{
    daemon_t daemon = { 0 };
    daemon.lock_fd = -1;
    daemon.config = s_load_config (config_path);
    if (!daemon.config)
        return ZVHD_EXIT_USAGE;
    char store_dir [ZVHD_PATH_MAX];
    snprintf (store_dir, sizeof store_dir, "%s/store", daemon.config->data_dir);
    uint8_t fresh [STORE_KEY_BYTES];
    int rc = s_lock_data_dir (&daemon) || store_read_key_file (new_key_file, fresh)
           ? ZVHD_EXIT_STARTUP : 0;
    if (rc == 0) {
        daemon.store = store_new (store_dir, daemon.config->region,
                                  daemon.config->map_size_mb, daemon.config->map_max_mb);
        //  A store that was never sealed is rekeyed from plaintext
        uint8_t old [STORE_KEY_BYTES];
        bool have_old = *daemon.config->data_key
                     && store_read_key_file (daemon.config->data_key, old) == 0;
        if (!daemon.store || (have_old && store_set_key (daemon.store, old))
        ||  store_rekey (daemon.store, fresh))
            rc = ZVHD_EXIT_STARTUP;
        sodium_memzero (old, sizeof old);
    }
    sodium_memzero (fresh, sizeof fresh);
    if (rc == 0)
        printf ("store re-encrypted; now set data_key = %s and start zvhd\n", new_key_file);
    s_stop (&daemon);
    return rc;
}

int
main (int argc, char *argv [])
{
    const char *config_path = NULL;
    const char *rekey_file = NULL;
    bool verbose = false;
    for (int arg = 1; arg < argc; arg++) {
        if (streq (argv [arg], "--check-config") && arg + 1 < argc)
            return s_check_config (argv [arg + 1]);
        if (streq (argv [arg], "--version")) {
            printf ("zvhd %s (protocol %d.%d, store format %d)%s\n", ZVH_RELEASE,
                    VERSION_PROTOCOL_MAJOR, VERSION_PROTOCOL_MINOR, STORE_FORMAT_VERSION,
                    fault_points_built () ? " with test fault points" : "");
            return 0;
        }
        if (streq (argv [arg], "-c") && arg + 1 < argc)
            config_path = argv [++arg];
        else
        if (streq (argv [arg], "--rekey") && arg + 1 < argc)
            rekey_file = argv [++arg];
        else
        if (streq (argv [arg], "-v"))
            verbose = true;
        else {
            s_usage ();
            return ZVHD_EXIT_USAGE;
        }
    }
    if (!config_path) {
        s_usage ();
        return ZVHD_EXIT_USAGE;
    }
    //  Before any thread starts, so that every thread inherits it: the event
    //  loop takes SIGHUP (a reload) with sigtimedwait, and one that comes
    //  while the daemon starts waits for the loop instead of ending it
    sigset_t hangup = s_hangup_set ();
    pthread_sigmask (SIG_BLOCK, &hangup, NULL);
    zsys_init ();
    zsys_set_logstream (stderr);
    if (rekey_file)
        return s_rekey (config_path, rekey_file);
    daemon_t daemon = { 0 };
    int rc = s_start (&daemon, config_path, verbose);
    if (rc == ZVHD_EXIT_STARTUP || rc == ZVHD_EXIT_USAGE)
        //  Each failure logs its cause above; this line says it was fatal
        fprintf (stderr, "zvhd: did not start (exit %d: %s): see the error above\n", rc,
                 rc == ZVHD_EXIT_USAGE ? "configuration; restarting will not help"
                                       : "may pass; a restart will try again");
    else
    if (rc == 0) {
        s_notify ("READY=1\nSTATUS=region %s: serving", daemon.config->region);
        s_watchdog_init (&daemon);
        s_run (&daemon);
    }
    s_stop (&daemon);
    return rc;
}
