/*  config: the daemon's configuration: the daemon file, and the loading of
 *  every file it names.
 *
 *  config_load reads the daemon file, the directory file it names, the
 *  region's key file and (when crisis signals are on) the partners file,
 *  the operators file and the revocation list, and checks them against
 *  each other; each of those files has its reader in config_<file>.c
 *  (config_files.h). It keeps going after a problem so that one run lists
 *  every mistake. The invariant: a config_t it returns is complete and
 *  consistent (every path absolute, every number in range, this region in
 *  the directory and federated, the key file holding the key the directory
 *  lists for it, every partner's key its own and its regions in the
 *  directory, and every partner's role with a view that names only
 *  SignalView fields); anything less returns NULL. A config_t is never
 *  changed after config_load returns it: a reload loads a new one.
 */
#include <sodium.h>
#include "config.h"
#include "config_files.h"
#include "config_value.h"

#include <errno.h>
#include <libgen.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>

#define IPC_ABSTRACT_MARK    '@'            //  Linux abstract socket, not a file
#define IPC_PATH_MAX         (sizeof (((struct sockaddr_un *) NULL)->sun_path) - 1)

//  Numeric keys of the daemon section, all read and checked the same way.
typedef enum { AS_INT, AS_INT64, AS_UINT64 } number_type_t;

typedef struct {
    const char *name;
    int64_t min;
    int64_t max;
    int64_t fallback;                       //  when the key is absent
    size_t offset;                          //  of the field in config_t
    number_type_t type;
} number_key_t;

static const number_key_t s_number_keys [] = {
    { "map_size_mb", CONFIG_MAP_MB_MIN, CONFIG_MAP_MB_MAX,
      CONFIG_DEFAULT_MAP_SIZE_MB, offsetof (config_t, map_size_mb), AS_UINT64 },
    { "map_max_mb", CONFIG_MAP_MB_MIN, CONFIG_MAP_MB_MAX,
      CONFIG_DEFAULT_MAP_MAX_MB, offsetof (config_t, map_max_mb), AS_UINT64 },
    { "joint_phase_s", CONFIG_JOINT_PHASE_S_MIN, CONFIG_JOINT_PHASE_S_MAX,
      CONFIG_DEFAULT_JOINT_PHASE_S, offsetof (config_t, joint_phase_s), AS_INT64 },
    { "heartbeat_ms", CONFIG_HEARTBEAT_MS_MIN, CONFIG_HEARTBEAT_MS_MAX,
      CONFIG_DEFAULT_HEARTBEAT_MS, offsetof (config_t, heartbeat_ms), AS_INT },
    { "peer_timeout_ms", CONFIG_PEER_TIMEOUT_MS_MIN, CONFIG_PEER_TIMEOUT_MS_MAX,
      CONFIG_DEFAULT_PEER_TIMEOUT_MS, offsetof (config_t, peer_timeout_ms), AS_INT },
    { "retry_min_ms", CONFIG_RETRY_MS_MIN, CONFIG_RETRY_MS_MAX,
      CONFIG_DEFAULT_RETRY_MIN_MS, offsetof (config_t, retry_min_ms), AS_INT },
    { "retry_max_ms", CONFIG_RETRY_MS_MIN, CONFIG_RETRY_MS_MAX,
      CONFIG_DEFAULT_RETRY_MAX_MS, offsetof (config_t, retry_max_ms), AS_INT },
    { "window", CONFIG_WINDOW_MIN, CONFIG_WINDOW_MAX,
      CONFIG_DEFAULT_WINDOW, offsetof (config_t, window), AS_INT },
    { "retention_days", CONFIG_RETENTION_DAYS_MIN, CONFIG_RETENTION_DAYS_MAX,
      CONFIG_DEFAULT_RETENTION_DAYS, offsetof (config_t, retention_days), AS_INT64 },
    { "link_retention_days", CONFIG_LINK_RETENTION_DAYS_MIN, CONFIG_LINK_RETENTION_DAYS_MAX,
      CONFIG_DEFAULT_LINK_RETENTION_DAYS, offsetof (config_t, link_retention_days),
      AS_INT64 },
    { "review_check_s", CONFIG_REVIEW_CHECK_S_MIN, CONFIG_REVIEW_CHECK_S_MAX,
      CONFIG_DEFAULT_REVIEW_CHECK_S, offsetof (config_t, review_check_s), AS_INT64 },
    { "credit_max", CONFIG_CREDIT_MAX_MIN, CONFIG_CREDIT_MAX_MAX,
      CONFIG_DEFAULT_CREDIT_MAX, offsetof (config_t, credit_max), AS_INT },
    { "raise_per_min", CONFIG_RAISE_PER_MIN_MIN, CONFIG_RAISE_PER_MIN_MAX,
      CONFIG_DEFAULT_RAISE_PER_MIN, offsetof (config_t, raise_per_min), AS_INT },
    { "health_peer_s", CONFIG_HEALTH_PEER_S_MIN, CONFIG_HEALTH_PEER_S_MAX,
      CONFIG_DEFAULT_HEALTH_PEER_S, offsetof (config_t, health_peer_s), AS_INT },
    { "status_interval_s", CONFIG_STATUS_INTERVAL_S_MIN, CONFIG_STATUS_INTERVAL_S_MAX,
      CONFIG_DEFAULT_STATUS_INTERVAL_S, offsetof (config_t, status_interval_s), AS_INT },
};
#define NUMBER_KEY_COUNT (sizeof (s_number_keys) / sizeof (s_number_keys [0]))

//  The daemon section's other keys; each has its own reader below.
static const char *const s_text_keys [] = {
    "region", "data_dir", "bind", "control", "secret_key", "directory",
    "subscribe_bind", "partners", "data_key", "revoked", "metrics_bind", "log_format",
    "operators", "metrics_tls_cert", "metrics_tls_key", "metrics_token"
};
#define TEXT_KEY_COUNT (sizeof (s_text_keys) / sizeof (s_text_keys [0]))



//  --------------------------------------------------------------------------
//  The daemon section

static const char *
s_required_value (loader_t *self, const char *key, char *where, const char *hint)
{
    const char *value = loader_daemon_value (self, key, where);
    if (!value || !*value) {
        loader_report (self, self->path, where, "missing; set it to %s", hint);
        return NULL;
    }
    return value;
}

static void
s_read_region (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *id = s_required_value (self, "region", where,
                                       "this daemon's region id, as in the directory");
    if (!id)
        return;
    if (value_is_id (id))
        value_copy (config->region, sizeof (config->region), id);
    else
        loader_report (self, self->path, where, "'%s' is not a region id; use 1 to %d "
                       "characters from a-z, 0-9 and '-'", id, CONFIG_ID_MAX - 1);
}

//  Reads a required path key into dest (CONFIG_PATH_MAX), made absolute.
static int
s_read_path (loader_t *self, const char *key, const char *hint, char *dest)
{
    char where [KEY_PATH_MAX];
    const char *name = s_required_value (self, key, where, hint);
    return name? loader_store_path (self, where, name, dest): -1;
}

static void
s_read_paths (config_t *config, loader_t *self)
{
    if (s_read_path (self, "data_dir", "the directory for this region's data "
                     "(relative to this file)", config->data_dir) == 0) {
        struct stat info;
        if (stat (config->data_dir, &info) == 0 && !S_ISDIR (info.st_mode))
            loader_report (self, self->path, DAEMON_SECTION "/data_dir", "'%s' exists "
                           "and is not a directory; point data_dir elsewhere",
                           config->data_dir);
    }
    if (s_read_path (self, "secret_key", "this region's zcert secret key file ("
                     KEYGEN_HINT " writes one)", config->secret_key) == 0)
        config_keys_check_private (self, DAEMON_SECTION "/secret_key", config->secret_key,
                                   KEYGEN_HINT " NAME writes one",
                                   "whoever reads it can speak as this region");
    s_read_path (self, "directory", "the federation directory file "
                 "(e.g. regions.zpl)", config->directory);
}

static void
s_read_bind (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *bind = s_required_value (self, "bind", where, "the federation "
                                         "endpoint, e.g. tcp://0.0.0.0:7101");
    if (!bind)
        return;
    if (!value_is_tcp_endpoint (bind))
        loader_report (self, self->path, where, "'%s' must look like tcp://host:port, "
                       "e.g. tcp://0.0.0.0:7101", bind);
    else
    if (value_copy (config->bind, sizeof (config->bind), bind) != 0)
        loader_report (self, self->path, where, "'%s' is longer than %d bytes",
                       bind, CONFIG_ENDPOINT_MAX - 1);
}

//  Stores ipc://<absolute path>, refusing paths the OS cannot bind.
static void
s_set_ipc_control (config_t *config, loader_t *self, const char *where,
                   const char *path)
{
    if (strlen (path) > IPC_PATH_MAX)
        loader_report (self, self->path, where, "socket path '%s' is %zu bytes, but "
                       "the OS allows %zu; set zvhd/control to a shorter ipc:// path",
                       path, strlen (path), IPC_PATH_MAX);
    else
        snprintf (config->control, sizeof (config->control), IPC_SCHEME "%s", path);
}

//  ipc://path, with a relative path taken from this file's directory.
static void
s_read_ipc_control (config_t *config, loader_t *self, const char *where,
                    const char *control)
{
    const char *name = control + strlen (IPC_SCHEME);
    char path [CONFIG_PATH_MAX];
    if (name [0] == IPC_ABSTRACT_MARK)
        s_set_ipc_control (config, self, where, name);
    else
    if (value_resolve_path (self->base_dir, name, path, sizeof (path)) == 0)
        s_set_ipc_control (config, self, where, path);
    else
        loader_report (self, self->path, where, "'%s' makes a path longer than %d "
                       "bytes; use a shorter one", control, CONFIG_PATH_MAX - 1);
}

static void
s_set_default_control (config_t *config, loader_t *self, const char *where)
{
    char path [CONFIG_PATH_MAX];
    if (value_resolve_path (config->data_dir, CONTROL_SOCKET_NAME, path, sizeof (path)) == 0)
        s_set_ipc_control (config, self, where, path);
    else
        loader_report (self, self->path, where, "data_dir is too long to hold the "
                       "control socket; set zvhd/control to a short ipc:// path");
}

static void
s_read_control (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *control = loader_daemon_value (self, "control", where);
    if (!control || !*control) {
        if (*config->data_dir)
            s_set_default_control (config, self, where);
    }
    else
    if (value_is_ipc_endpoint (control))
        s_read_ipc_control (config, self, where, control);
    else
    //  Anyone who reached the port could include cases, read plans and export
    //  the audit trail: tcp:// only with CURVE and operator keys (checked
    //  once the operators file is read)
    if (value_is_tcp_endpoint (control)
    &&  value_copy (config->control, sizeof (config->control), control) != 0)
        loader_report (self, self->path, where, "'%s' is longer than %d bytes", control,
                       CONFIG_ENDPOINT_MAX - 1);
    else
    if (value_is_tcp_endpoint (control))
        ;
    else
        loader_report (self, self->path, where, "'%s' must be ipc://path (or tcp://host:port "
                       "with zvhd/operators); leave it out for ipc://<data_dir>/"
                       CONTROL_SOCKET_NAME, control);
}

//  Partners subscribe at subscribe_bind and are listed in the partners
//  file: one without the other is a half-finished edit.
static void
s_check_signal_halves (loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *bind = loader_daemon_value (self, "subscribe_bind", where);
    const char *partners = loader_daemon_value (self, "partners", where);
    bool has_bind = bind && *bind;
    bool has_partners = partners && *partners;
    if (has_bind && !has_partners)
        loader_report (self, self->path, DAEMON_SECTION "/subscribe_bind", "is set "
                       "but zvhd/partners is not, so no partner could subscribe: "
                       "set partners to the file listing their keys and views (e.g. "
                       "partners.zpl), or leave both out");
    if (has_partners && !has_bind)
        loader_report (self, self->path, DAEMON_SECTION "/partners", "is set but "
                       "zvhd/subscribe_bind is not, so no partner could connect: set "
                       "subscribe_bind (e.g. tcp://0.0.0.0:7201), or leave both out");
}

//  The partners' endpoint; it must not take the port of another one.
static void
s_read_subscribe_bind (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *endpoint = loader_daemon_value (self, "subscribe_bind", where);
    if (!endpoint || !*endpoint)
        return;
    if (!value_is_tcp_endpoint (endpoint))
        loader_report (self, self->path, where, "'%s' must look like tcp://host:port, "
                       "e.g. tcp://0.0.0.0:7201", endpoint);
    else
    if (value_endpoints_clash (endpoint, config->bind))
        loader_report (self, self->path, where, "'%s' takes the port of zvhd/bind "
                       "(%s); partners need an endpoint of their own", endpoint,
                       config->bind);
    else
    if (value_endpoints_clash (endpoint, config->control))
        loader_report (self, self->path, where, "'%s' takes the port of zvhd/control "
                       "(%s); partners need an endpoint of their own", endpoint,
                       config->control);
    else
    if (value_copy (config->subscribe_bind, sizeof (config->subscribe_bind), endpoint) != 0)
        loader_report (self, self->path, where, "'%s' is longer than %d bytes",
                       endpoint, CONFIG_ENDPOINT_MAX - 1);
}

//  The metrics endpoint: plain host:port with a numeric address (an HTTP
//  server, not a ZeroMQ endpoint), on a port no other endpoint takes.
static bool
s_is_metrics_address (const char *address)
{
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address || !value_is_port (colon + 1))
        return false;
    char host [CONFIG_ENDPOINT_MAX];
    size_t length = (size_t) (colon - address);
    if (length >= sizeof (host))
        return false;
    memcpy (host, address, length);
    host [length] = '\0';
    uint8_t bytes [sizeof (struct in6_addr)];
    if (length > 2 && host [0] == '[' && host [length - 1] == ']') {
        host [length - 1] = '\0';
        return inet_pton (AF_INET6, host + 1, bytes) == 1;
    }
    return inet_pton (AF_INET, host, bytes) == 1;
}

//  log_format: text (ISO-8601 UTC lines) or json (one object a line).
static void
s_read_log_format (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *format = loader_daemon_value (self, "log_format", where);
    if (!format || !*format || streq (format, "text"))
        return;
    if (streq (format, "json"))
        config->log_json = true;
    else
        loader_report (self, self->path, where, "'%s' is not a log format: use text (the "
                       "default) or json (one JSON object a line, for log shippers)", format);
}

static void
s_read_metrics_bind (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *address = loader_daemon_value (self, "metrics_bind", where);
    if (!address || !*address)
        return;
    char as_tcp [CONFIG_ENDPOINT_MAX + sizeof (TCP_SCHEME)];
    snprintf (as_tcp, sizeof (as_tcp), TCP_SCHEME "%s", address);
    const char *const others [][2] = {
        { "zvhd/bind", config->bind }, { "zvhd/control", config->control },
        { "zvhd/subscribe_bind", config->subscribe_bind } };
    if (!s_is_metrics_address (address)) {
        loader_report (self, self->path, where, "'%s' must be address:port with a "
                       "numeric address, e.g. 127.0.0.1:9101 or [::1]:9101 (no "
                       "scheme, no host name)", address);
        return;
    }
    for (size_t index = 0; index < sizeof (others) / sizeof (others [0]); index++)
        if (value_endpoints_clash (as_tcp, others [index][1])) {
            loader_report (self, self->path, where, "'%s' takes the port of %s (%s); "
                           "metrics need a port of their own", address, others [index][0],
                           others [index][1]);
            return;
        }
    if (value_copy (config->metrics_bind, sizeof (config->metrics_bind), address) != 0)
        loader_report (self, self->path, where, "'%s' is longer than %d bytes",
                       address, CONFIG_ENDPOINT_MAX - 1);
}

//  The token is the token file's first line: too short a one is refused
//  here, so --check-config says what the start would.
static void
s_check_metrics_token (config_t *config, loader_t *self)
{
    FILE *file = fopen (config->metrics_token, "r");
    char line [CONFIG_METRICS_TOKEN_LINE_MAX] = "";
    if (file && !fgets (line, sizeof line, file))
        *line = 0;
    if (file)
        fclose (file);
    size_t length = strcspn (line, "\r\n");
    sodium_memzero (line, sizeof line);
    if (file && length < CONFIG_METRICS_TOKEN_MIN)
        loader_report (self, self->path, DAEMON_SECTION "/metrics_token", "the token in %s "
                       "is %zu characters; it needs at least %d: make one with head -c 32 "
                       "/dev/urandom | base64", config->metrics_token, length,
                       CONFIG_METRICS_TOKEN_MIN);
}

//  The metrics listener's own secrets: a TLS certificate and key (both or
//  neither) and a bearer token file, for a scraper across the network.
static void
s_read_metrics_security (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *keys [] = { "metrics_tls_cert", "metrics_tls_key", "metrics_token" };
    char *paths [] = { config->metrics_tls_cert, config->metrics_tls_key,
                       config->metrics_token };
    for (size_t index = 0; index < sizeof (keys) / sizeof (keys [0]); index++) {
        const char *name = loader_daemon_value (self, keys [index], where);
        if (!name || !*name)
            continue;
        if (!*config->metrics_bind)
            loader_report (self, self->path, where, "set without metrics_bind: there is "
                           "no metrics listener to use it");
        else
        if (loader_store_path (self, where, name, paths [index]) == 0 && index > 0)
            config_keys_check_private (self, where, paths [index], "make it (see "
                                       "docs/OPERATIONS.md, Monitoring)", "it is a secret "
                                       "of the metrics listener");
    }
    if ((*config->metrics_tls_cert != 0) != (*config->metrics_tls_key != 0))
        loader_report (self, self->path, DAEMON_SECTION "/metrics_tls_key", "set "
                       "metrics_tls_cert and metrics_tls_key together (HTTPS needs both)");
    if (*config->metrics_token)
        s_check_metrics_token (config, self);
}

static void
s_read_partners_path (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *name = loader_daemon_value (self, "partners", where);
    if (name && *name)
        loader_store_path (self, where, name, config->partners_file);
}

static void
s_store_number (config_t *config, const number_key_t *key, int64_t value)
{
    void *field = (char *) config + key->offset;
    if (key->type == AS_UINT64)
        *(uint64_t *) field = (uint64_t) value;
    else
    if (key->type == AS_INT64)
        *(int64_t *) field = value;
    else
        *(int *) field = (int) value;
}

static void
s_read_numbers (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    for (size_t index = 0; index < NUMBER_KEY_COUNT; index++) {
        const number_key_t *key = &s_number_keys [index];
        const char *text = loader_daemon_value (self, key->name, where);
        int64_t value = key->fallback;
        if (text && !value_parse_number (text, key->min, key->max, &value))
            loader_report (self, self->path, where, "'%s' is not a whole number from "
                           "%lld to %lld; fix it, or leave it out for the default (%lld)",
                           text, (long long) key->min, (long long) key->max,
                           (long long) key->fallback);
        s_store_number (config, key, value);
    }
}

//  Rules between numbers, checked once each number is valid on its own.
static void
s_check_number_relations (config_t *config, loader_t *self)
{
    if (config->retry_min_ms > config->retry_max_ms)
        loader_report (self, self->path, DAEMON_SECTION "/retry_min_ms", "%d is more "
                       "than retry_max_ms (%d); the first retry cannot wait longer "
                       "than the back-off ceiling", config->retry_min_ms,
                       config->retry_max_ms);
    if (config->peer_timeout_ms <= config->heartbeat_ms)
        loader_report (self, self->path, DAEMON_SECTION "/peer_timeout_ms", "%d is not "
                       "more than heartbeat_ms (%d), so peers would time out between "
                       "heartbeats; raise it", config->peer_timeout_ms,
                       config->heartbeat_ms);
    if (config->map_size_mb > config->map_max_mb)
        loader_report (self, self->path, DAEMON_SECTION "/map_size_mb", "%llu is more "
                       "than map_max_mb (%llu); the map cannot start above its ceiling",
                       (unsigned long long) config->map_size_mb,
                       (unsigned long long) config->map_max_mb);
}

static void
s_check_daemon_keys (loader_t *self, zconfig_t *section)
{
    const char *known [KEYS_PER_SECTION_MAX];
    size_t count = 0;
    for (size_t index = 0; index < TEXT_KEY_COUNT; index++)
        known [count++] = s_text_keys [index];
    for (size_t index = 0; index < NUMBER_KEY_COUNT; index++)
        known [count++] = s_number_keys [index].name;
    loader_check_keys (self, self->path, section, DAEMON_SECTION, known, count);
}


//  --------------------------------------------------------------------------
//  Loading

static int
s_find_base_dir (loader_t *self)
{
    char *copy = strdup (self->path);
    assert (copy);
    char *resolved = realpath (dirname (copy), NULL);
    free (copy);
    if (!resolved) {
        loader_report (self, self->path, NULL, "cannot resolve its directory: %s",
                       strerror (errno));
        return -1;
    }
    int rc = value_copy (self->base_dir, sizeof (self->base_dir), resolved);
    if (rc != 0)
        loader_report (self, self->path, NULL, "its directory '%s' is longer than %d "
                       "bytes; move the file", resolved, CONFIG_PATH_MAX - 1);
    free (resolved);
    return rc;
}

static void
s_read_security_files (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *name = loader_daemon_value (self, "data_key", where);
    if (!name || !*name)
        //  The start would refuse it: say so here, where the fix is named
        loader_report (self, self->path, DAEMON_SECTION "/data_key", "missing; zvhd keeps "
                       "personal data encrypted at rest: make a key with zvhctl datakey FILE "
                       "(mode 0600) and set data_key = FILE");
    else
    if (loader_store_path (self, where, name, config->data_key) == 0)
        config_keys_check_data_key (config, self, where);
    name = loader_daemon_value (self, "revoked", where);
    if (name && *name && loader_store_path (self, where, name, config->revoked_file) == 0)
        config_revocations_load (config, self, where);
}

static void
s_load_daemon (config_t *config, loader_t *self)
{
    zconfig_t *section = loader_section (self, self->path, self->root, DAEMON_SECTION);
    if (!section || s_find_base_dir (self) != 0)
        return;
    s_check_daemon_keys (self, section);
    s_read_region (config, self);
    s_read_paths (config, self);
    s_read_bind (config, self);
    s_read_control (config, self);
    s_read_subscribe_bind (config, self);
    s_read_metrics_bind (config, self);
    s_read_metrics_security (config, self);
    s_read_log_format (config, self);
    s_read_partners_path (config, self);
    s_check_signal_halves (self);
    size_t errors_before = self->error_count;
    s_read_numbers (config, self);
    if (self->error_count == errors_before)
        s_check_number_relations (config, self);
    self->have_directory = *config->directory && config_directory_load (config, self) == 0;
    if (self->have_directory && *config->region)
        config_directory_check_own_region (config, self);
    if (*config->secret_key)
        config_keys_check_secret (config, self);
    if (*config->partners_file)
        config_partners_load (config, self);
    config_operators_load (config, self);
    config_operators_check_control (config, self);
    s_read_security_files (config, self);
}

config_t *
config_load (const char *path, zlist_t *errors)
{
    assert (path);
    loader_t loader = { .errors = errors, .path = path };
    loader.root = loader_zpl_load (&loader, path, NULL, NULL);
    if (!loader.root)
        return NULL;
    config_t *self = (config_t *) zmalloc (sizeof (config_t));
    assert (self);
    s_load_daemon (self, &loader);
    zconfig_destroy (&loader.root);
    if (loader.error_count > 0)
        config_destroy (&self);
    return self;
}

void
config_destroy (config_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

bool
config_control_is_tcp (const config_t *self)
{
    assert (self);
    return strncmp (self->control, "tcp://", strlen ("tcp://")) == 0;
}
