/*  config: the daemon's configuration, the federation directory and the
 *  partners file.
 *
 *  config_load reads the daemon file, the directory file it names, the
 *  region's key file and (when crisis signals are on) the partners file,
 *  and checks them against each other. It keeps going after a problem so
 *  that one run lists every mistake. The invariant: a config_t it returns
 *  is complete and consistent (every path absolute, every number in range,
 *  this region in the directory and federated, the key file holding the
 *  key the directory lists for it, every partner's key its own and its
 *  regions in the directory, and every partner's role with a view that
 *  names only SignalView fields); anything less returns NULL.
 *
 *  We read each file ourselves and hand the checked bytes to zconfig: CZMQ's
 *  ZPL reader silently cuts lines longer than 1024 bytes and names a syntax
 *  error's line only on stdout, so we refuse what it would mangle and find
 *  the line it rejects ourselves.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>

#define ZPL_LINE_MAX         1024           //  CZMQ's reader cuts longer lines
#define FILE_MAX_BYTES       (1024 * 1024)  //  a 64-region directory is ~12 KB
#define ERRORS_REPORTED_MAX  100            //  more would bury the first ones
#define SHOWN_LINE_MAX       80             //  of a bad line, in a message
#define KEY_PATH_MAX         (3 * ZPL_LINE_MAX)   //  section/id/key
#define KEYS_PER_SECTION_MAX 32
#define KNOWN_KEYS_TEXT_MAX  512
#define CURVE_KEY_BYTES      32
#define TCP_PORT_MAX         65535
#define ASCII_DELETE         0x7f
#define UTF8_BOM             "\xEF\xBB\xBF" //  some editors start files with it
#define TCP_SCHEME           "tcp://"
#define TCP_ANY_HOST         "tcp://*:"     //  binds everywhere; cannot connect
#define IPC_SCHEME           "ipc://"
#define IPC_ABSTRACT_MARK    '@'            //  Linux abstract socket, not a file
#define IPC_PATH_MAX         (sizeof (((struct sockaddr_un *) NULL)->sun_path) - 1)
#define CONTROL_SOCKET_NAME  "control.sock"
#define DAEMON_SECTION       "zvhd"
#define DIRECTORY_SECTION    "directory"
#define PARTNERS_SECTION     "partners"
#define OPERATORS_SECTION    "operators"
#define ACCESS_READ_ONLY     "read-only"
#define ACCESS_READ_WRITE    "read-write"
#define VIEWS_SECTION        "views"
#define REGION_ROLE          "region"       //  of CONFIG_ROLES, the one partners lack
#define PARTNER_ROLES_MAX    8
#define ALL_REGIONS          "*"
#define LIST_SEPARATOR       ","            //  between a key's regions, cases, fields
#define KEYGEN_HINT          "zvhctl keygen"

//  The roles a partner may have: CONFIG_ROLES but for "region", whose keys
//  are in the directory. Split from the one list in config.h.
typedef struct {
    char buffer [sizeof (CONFIG_ROLES)];
    const char *names [PARTNER_ROLES_MAX];
    size_t count;
    char text [KNOWN_KEYS_TEXT_MAX];        //  "police, crisis_service, ..."
} role_list_t;

//  State of one config_load call: where problems go, and the daemon file.
typedef struct {
    zlist_t *errors;                        //  caller's list; may be NULL
    size_t error_count;                     //  counted even without a list
    const char *path;                       //  the daemon file, as given
    char base_dir [CONFIG_PATH_MAX];        //  its directory, absolute
    zconfig_t *root;                        //  the daemon file's tree
    bool have_directory;                    //  so region ids can be checked
    role_list_t partner_roles;
} loader_t;

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
};
#define NUMBER_KEY_COUNT (sizeof (s_number_keys) / sizeof (s_number_keys [0]))

//  The daemon section's other keys; each has its own reader below.
static const char *const s_text_keys [] = {
    "region", "data_dir", "bind", "control", "secret_key", "directory",
    "subscribe_bind", "partners", "data_key", "revoked", "metrics_bind", "log_format",
    "operators"
};
#define TEXT_KEY_COUNT (sizeof (s_text_keys) / sizeof (s_text_keys [0]))

static const char *const s_region_keys [] = { "name", "endpoint", "public_key", "sign_key" };
#define REGION_KEY_COUNT (sizeof (s_region_keys) / sizeof (s_region_keys [0]))

static const char *const s_partner_keys [] = {
    "role", "public_key", "public_key_next", "regions", "cases" };
#define PARTNER_KEY_COUNT (sizeof (s_partner_keys) / sizeof (s_partner_keys [0]))

//  The fields of message SignalView (proto/zvh.proto), in its order: what a
//  view may list. The tests check every field of the proto is here.
static const char *const s_view_fields [] = {
    "seq", "type", "event_id", "case_id", "region", "national", "kind",
    "urgency", "severity", "certainty", "text", "raised_by", "raised_role",
    "time_ms", "partner_ref", "actions", "coordinator_contact",
    "previous_region", "review_date"
};
#define VIEW_FIELD_COUNT (sizeof (s_view_fields) / sizeof (s_view_fields [0]))

//  Every view lists these: a subscriber resumes after seq, tells what it
//  got by type and drops a redelivered event by event_id.
static const char *const s_required_view_fields [] = { "seq", "type", "event_id" };
#define REQUIRED_VIEW_FIELD_COUNT \
    (sizeof (s_required_view_fields) / sizeof (s_required_view_fields [0]))


//  --------------------------------------------------------------------------
//  Reporting

//  The caller's list may copy what we append (zlist_autofree) or keep it;
//  we learn which by looking at what it stored, so neither way leaks.
static void
s_append (zlist_t *errors, char *message)
{
    zlist_append (errors, message);
    if (zlist_tail (errors) != message)
        free (message);
}

//  Records one problem as "file: where: detail" (where may be NULL).
static void CHECK_PRINTF (4)
s_report (loader_t *self, const char *file, const char *where, const char *format, ...)
{
    self->error_count++;
    if (!self->errors || self->error_count > ERRORS_REPORTED_MAX + 1)
        return;
    if (self->error_count > ERRORS_REPORTED_MAX) {
        s_append (self->errors, zsys_sprintf (
            "%s: more than %d problems; fix the ones above first", file,
            ERRORS_REPORTED_MAX));
        return;
    }
    va_list args;
    va_start (args, format);
    char *detail = zsys_vprintf (format, args);
    va_end (args);
    if (!detail)
        return;
    char *message = where? zsys_sprintf ("%s: %s: %s", file, where, detail)
                         : zsys_sprintf ("%s: %s", file, detail);
    zstr_free (&detail);
    if (message)
        s_append (self->errors, message);
}

static const char *
s_key_path (char *buffer, const char *section, const char *key)
{
    //  Each part comes from one ZPL line, so this fits; if not, say so
    int written = snprintf (buffer, KEY_PATH_MAX, "%s/%s", section, key);
    if (written < 0 || written >= KEY_PATH_MAX)
        strcpy (buffer + KEY_PATH_MAX - sizeof ("..."), "...");
    return buffer;
}

//  Copies src into a buffer of size bytes; -1 when it does not fit.
static int
s_copy (char *dest, size_t size, const char *src)
{
    size_t length = strlen (src);
    if (length >= size)
        return -1;
    memcpy (dest, src, length + 1);
    return 0;
}


//  --------------------------------------------------------------------------
//  Reading ZPL files

//  "Cannot read" points at the key that named the file, when one did.
static void
s_report_unreadable (loader_t *self, const char *path, const char *named_in,
                     const char *named_by, const char *why)
{
    if (named_in)
        s_report (self, named_in, named_by,
                  "cannot read '%s': %s; fix the path or create the file",
                  path, why);
    else
        s_report (self, path, NULL, "cannot read: %s; check the path", why);
}

static bool
s_is_text_byte (byte value)
{
    //  Bytes from 0x80 are allowed: names are UTF-8 ("Fryslân")
    return value >= ' '? value != ASCII_DELETE: value == '\t' || value == '\r';
}

//  Refuses empty files, binary bytes and lines zconfig would cut short.
static int
s_check_text (loader_t *self, const char *path, zchunk_t *chunk)
{
    const byte *data = zchunk_data (chunk);
    size_t size = zchunk_size (chunk);
    if (size == 0) {
        s_report (self, path, NULL, "is empty; expected a ZPL file");
        return -1;
    }
    if (size >= strlen (UTF8_BOM) && memcmp (data, UTF8_BOM, strlen (UTF8_BOM)) == 0) {
        s_report (self, path, NULL, "starts with a byte order mark, which ZPL "
                  "does not allow; save it as UTF-8 without BOM");
        return -1;
    }
    size_t lineno = 1;
    size_t line_start = 0;
    for (size_t at = 0; at < size; at++) {
        if (data [at] == '\n') {
            lineno++;
            line_start = at + 1;
        }
        else
        if (at - line_start >= ZPL_LINE_MAX) {
            s_report (self, path, NULL, "line %zu is longer than %d bytes, "
                      "which ZPL cannot hold; shorten it", lineno, ZPL_LINE_MAX);
            return -1;
        }
        else
        if (!s_is_text_byte (data [at])) {
            s_report (self, path, NULL, "line %zu: byte 0x%02x is not text; "
                      "is this really a ZPL file?", lineno, data [at]);
            return -1;
        }
    }
    return 0;
}

//  Reads a whole file that must be small text; NULL after reporting why.
//  named_in and named_by say which file and key named this one, if any.
static zchunk_t *
s_read_text (loader_t *self, const char *path, const char *named_in,
             const char *named_by)
{
    FILE *handle = fopen (path, "rb");
    if (!handle) {
        s_report_unreadable (self, path, named_in, named_by, strerror (errno));
        return NULL;
    }
    zchunk_t *chunk = NULL;
    struct stat info;
    if (fstat (fileno (handle), &info) != 0)
        s_report_unreadable (self, path, named_in, named_by, strerror (errno));
    else
    if (!S_ISREG (info.st_mode))
        s_report_unreadable (self, path, named_in, named_by, "not a regular file");
    else
    if (info.st_size > FILE_MAX_BYTES)
        s_report (self, path, NULL, "is %lld bytes; a configuration file is "
                  "at most %d bytes", (long long) info.st_size, FILE_MAX_BYTES);
    else
        chunk = zchunk_read (handle, (size_t) info.st_size);
    fclose (handle);
    if (chunk && s_check_text (self, path, chunk) != 0)
        zchunk_destroy (&chunk);
    return chunk;
}

//  Bytes in the first lines lines of the chunk, newlines included.
static size_t
s_prefix_size (zchunk_t *chunk, size_t lines)
{
    const byte *data = zchunk_data (chunk);
    size_t size = zchunk_size (chunk);
    size_t at = 0;
    while (lines > 0 && at < size)
        if (data [at++] == '\n')
            lines--;
    return at;
}

static bool
s_prefix_parses (zchunk_t *chunk, size_t lines)
{
    zchunk_t *prefix = zchunk_new (zchunk_data (chunk), s_prefix_size (chunk, lines));
    zconfig_t *tree = zconfig_chunk_load (prefix);
    bool parses = tree != NULL;
    zconfig_destroy (&tree);
    zchunk_destroy (&prefix);
    return parses;
}

static size_t
s_line_count (zchunk_t *chunk)
{
    const byte *data = zchunk_data (chunk);
    size_t size = zchunk_size (chunk);
    size_t lines = 0;
    for (size_t at = 0; at < size; at++)
        if (data [at] == '\n')
            lines++;
    return data [size - 1] == '\n'? lines: lines + 1;
}

//  zconfig stops at the first bad line and keeps nothing, so a prefix of
//  the file parses exactly when it ends before that line: bisect for it.
static size_t
s_first_bad_line (zchunk_t *chunk)
{
    size_t good = 0;                    //  this many lines parse
    size_t bad = s_line_count (chunk);  //  this many do not
    while (bad - good > 1) {
        size_t middle = good + (bad - good) / 2;
        if (s_prefix_parses (chunk, middle))
            good = middle;
        else
            bad = middle;
    }
    return bad;
}

static void
s_report_syntax (loader_t *self, const char *path, zchunk_t *chunk)
{
    size_t lineno = s_first_bad_line (chunk);
    size_t start = s_prefix_size (chunk, lineno - 1);
    //  Chunk data is not a string; s_check_text has bounded the line
    char line [ZPL_LINE_MAX + 1];
    size_t length = s_prefix_size (chunk, lineno) - start;
    memcpy (line, zchunk_data (chunk) + start, length);
    line [length] = '\0';
    line [strcspn (line, "\r\n")] = '\0';
    int shown = strlen (line) < SHOWN_LINE_MAX? (int) strlen (line): SHOWN_LINE_MAX;
    if (line [strspn (line, " ")] == '\t')
        s_report (self, path, NULL, "line %zu is indented with a tab; "
                  "ZPL indents with 4 spaces per level", lineno);
    else
        s_report (self, path, NULL, "line %zu is not valid ZPL: '%.*s%s'; "
                  "indent 4 spaces per level, write 'name' or 'name = value', "
                  "and quote values that contain '#'", lineno, shown, line,
                  strlen (line) > SHOWN_LINE_MAX? "...": "");
}

//  Loads a ZPL file into a tree; NULL after reporting why.
static zconfig_t *
s_zpl_load (loader_t *self, const char *path, const char *named_in,
            const char *named_by)
{
    zchunk_t *chunk = s_read_text (self, path, named_in, named_by);
    if (!chunk)
        return NULL;
    zconfig_t *root = zconfig_chunk_load (chunk);
    if (!root)
        s_report_syntax (self, path, chunk);
    zchunk_destroy (&chunk);
    return root;
}

static size_t
s_key_index (const char *const *known, size_t known_count, const char *name)
{
    size_t index = 0;
    while (index < known_count && !streq (known [index], name))
        index++;
    return index;
}

static void
s_join (const char *const *names, size_t count, char *text, size_t size)
{
    size_t used = 0;
    text [0] = '\0';
    for (size_t index = 0; index < count && used < size; index++)
        used += snprintf (text + used, size - used, "%s%s",
                          index? ", ": "", names [index]);
}

//  Finds the top-level sections a file must hold, each once, and stores
//  them in found (in the order of names; NULL when missing). Anything else
//  at the top level is reported: a typo there would otherwise go unnoticed.
static void
s_sections (loader_t *self, const char *path, zconfig_t *root,
            const char *const *names, size_t count, zconfig_t **found)
{
    for (size_t index = 0; index < count; index++)
        found [index] = NULL;
    for (zconfig_t *item = zconfig_child (root); item; item = zconfig_next (item)) {
        size_t index = s_key_index (names, count, zconfig_name (item));
        if (index == count) {
            char list [KNOWN_KEYS_TEXT_MAX];
            s_join (names, count, list, sizeof (list));
            if (count == 1)
                s_report (self, path, zconfig_name (item), "not expected at the "
                          "top level; this file holds one '%s' section, with "
                          "everything else indented 4 spaces below it", list);
            else
                s_report (self, path, zconfig_name (item), "not expected at the "
                          "top level; this file holds only the sections %s; indent "
                          "everything else 4 spaces below them", list);
        }
        else
        if (found [index])
            s_report (self, path, names [index], "appears twice; merge the "
                      "two sections");
        else
            found [index] = item;
    }
    for (size_t index = 0; index < count; index++)
        if (!found [index])
            s_report (self, path, names [index], "missing; the file must have "
                      "a line '%s' with its keys indented 4 spaces below it",
                      names [index]);
}

//  Returns the one top-level section a file must hold; see s_sections.
static zconfig_t *
s_section (loader_t *self, const char *path, zconfig_t *root, const char *name)
{
    zconfig_t *section;
    s_sections (self, path, root, &name, 1, &section);
    return section;
}

//  Reports unknown keys (typos), keys set twice and keys with keys below
//  them, so that nothing in a section is silently ignored.
static void
s_check_keys (loader_t *self, const char *path, zconfig_t *section,
              const char *section_path, const char *const *known, size_t known_count)
{
    assert (known_count <= KEYS_PER_SECTION_MAX);
    bool seen [KEYS_PER_SECTION_MAX] = { false };
    char where [KEY_PATH_MAX];
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item)) {
        const char *name = zconfig_name (item);
        s_key_path (where, section_path, name);
        size_t index = s_key_index (known, known_count, name);
        if (index == known_count) {
            char list [KNOWN_KEYS_TEXT_MAX];
            s_join (known, known_count, list, sizeof (list));
            s_report (self, path, where, "unknown key '%s'; known keys are %s",
                      name, list);
        }
        else
        if (seen [index])
            s_report (self, path, where, "set twice; keep one line");
        else
            seen [index] = true;
        if (zconfig_child (item))
            s_report (self, path, where, "takes a value, not keys indented "
                      "below it; outdent them");
    }
}


//  --------------------------------------------------------------------------
//  Values

//  Region and partner ids: lower case, so that they are spelt one way.
static bool
s_is_id (const char *id)
{
    size_t length = strlen (id);
    return length > 0 && length < CONFIG_ID_MAX
        && strspn (id, "abcdefghijklmnopqrstuvwxyz0123456789-") == length;
}

//  Digits only: strtoll alone accepts " 7", "+7", "7abc" and "0x7".
static bool
s_parse_number (const char *text, int64_t min, int64_t max, int64_t *value)
{
    size_t length = strspn (text, "0123456789");
    if (length == 0 || text [length] != '\0')
        return false;
    errno = 0;
    long long parsed = strtoll (text, NULL, 10);
    if (errno == ERANGE || parsed < min || parsed > max)
        return false;
    *value = parsed;
    return true;
}

static bool
s_is_port (const char *text)
{
    int64_t port;
    return s_parse_number (text, 1, TCP_PORT_MAX, &port);
}

//  tcp://host:port, where host is a name, an address, [v6] or *.
static bool
s_is_tcp_endpoint (const char *endpoint)
{
    if (strncmp (endpoint, TCP_SCHEME, strlen (TCP_SCHEME)) != 0)
        return false;
    const char *host = endpoint + strlen (TCP_SCHEME);
    const char *colon = strrchr (host, ':');
    return colon && colon > host
        && strcspn (host, " \t") == strlen (host)
        && s_is_port (colon + 1);
}

static bool
s_is_ipc_endpoint (const char *endpoint)
{
    return strncmp (endpoint, IPC_SCHEME, strlen (IPC_SCHEME)) == 0
        && endpoint [strlen (IPC_SCHEME)] != '\0';
}

static bool
s_is_public_key (const char *text)
{
    uint8_t key [CURVE_KEY_BYTES];
    return strlen (text) == CONFIG_KEY_Z85_LEN && zmq_z85_decode (key, text) != NULL;
}

//  Case ids come from case systems, so they may use capitals and dots.
static bool
s_is_case_id (const char *id)
{
    size_t length = strlen (id);
    return length > 0 && length < CONFIG_ID_MAX
        && strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789._-") == length;
}

//  True when two tcp:// endpoints would bind the same port: same port, and
//  the same host or one that means every interface.
static bool
s_is_any_host (const char *host, size_t length)
{
    static const char *const any [] = { "*", "0.0.0.0", "[::]" };
    for (size_t index = 0; index < sizeof (any) / sizeof (any [0]); index++)
        if (strlen (any [index]) == length && strncmp (host, any [index], length) == 0)
            return true;
    return false;
}

//  The port of an endpoint that s_is_tcp_endpoint accepts.
static int64_t
s_tcp_port (const char *endpoint)
{
    int64_t port = 0;
    s_parse_number (strrchr (endpoint, ':') + 1, 1, TCP_PORT_MAX, &port);
    return port;
}

static bool
s_endpoints_clash (const char *endpoint, const char *other)
{
    if (!s_is_tcp_endpoint (endpoint) || !s_is_tcp_endpoint (other)
    ||  s_tcp_port (endpoint) != s_tcp_port (other))
        return false;
    const char *host = endpoint + strlen (TCP_SCHEME);
    const char *other_host = other + strlen (TCP_SCHEME);
    size_t length = (size_t) (strrchr (host, ':') - host);
    size_t other_length = (size_t) (strrchr (other_host, ':') - other_host);
    return s_is_any_host (host, length) || s_is_any_host (other_host, other_length)
        || (length == other_length && strncmp (host, other_host, length) == 0);
}

//  Copies the next item of a comma-separated list into item (size bytes,
//  cut short if longer), without the spaces around it, and moves *list on;
//  false when the list is used up.
static bool
s_next_item (const char **list, char *item, size_t size)
{
    const char *start = *list;
    if (!start)
        return false;
    size_t length = strcspn (start, LIST_SEPARATOR);
    *list = start [length]? start + length + 1: NULL;
    while (length > 0 && (*start == ' ' || *start == '\t'))
        start++, length--;
    while (length > 0 && (start [length - 1] == ' ' || start [length - 1] == '\t'))
        length--;
    if (length >= size)
        length = size - 1;
    memcpy (item, start, length);
    item [length] = '\0';
    return true;
}

static size_t
s_item_count (const char *list)
{
    size_t count = 1;
    for (; *list; list++)
        if (*list == LIST_SEPARATOR [0])
            count++;
    return count;
}

//  A path relative to the file that names it, made absolute.
static int
s_resolve_path (const char *base_dir, const char *name, char *dest, size_t size)
{
    int written = name [0] == '/'
                ? snprintf (dest, size, "%s", name)
                : snprintf (dest, size, "%s/%s", base_dir, name);
    return written >= 0 && (size_t) written < size? 0: -1;
}


//  --------------------------------------------------------------------------
//  The daemon section

//  Value of zvhd/<key>, or NULL when absent; where gets the key's path.
static const char *
s_daemon_value (loader_t *self, const char *key, char *where)
{
    s_key_path (where, DAEMON_SECTION, key);
    return zconfig_get (self->root, where, NULL);
}

static const char *
s_required_value (loader_t *self, const char *key, char *where, const char *hint)
{
    const char *value = s_daemon_value (self, key, where);
    if (!value || !*value) {
        s_report (self, self->path, where, "missing; set it to %s", hint);
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
    if (s_is_id (id))
        s_copy (config->region, sizeof (config->region), id);
    else
        s_report (self, self->path, where, "'%s' is not a region id; use 1 to %d "
                  "characters from a-z, 0-9 and '-'", id, CONFIG_ID_MAX - 1);
}

//  Stores the path a key names into dest (CONFIG_PATH_MAX), made absolute.
static int
s_store_path (loader_t *self, const char *where, const char *name, char *dest)
{
    if (s_resolve_path (self->base_dir, name, dest, CONFIG_PATH_MAX) == 0)
        return 0;
    dest [0] = '\0';
    s_report (self, self->path, where, "'%s' makes a path longer than %d bytes; "
              "use a shorter one", name, CONFIG_PATH_MAX - 1);
    return -1;
}

//  Reads a required path key into dest (CONFIG_PATH_MAX), made absolute.
static int
s_read_path (loader_t *self, const char *key, const char *hint, char *dest)
{
    char where [KEY_PATH_MAX];
    const char *name = s_required_value (self, key, where, hint);
    return name? s_store_path (self, where, name, dest): -1;
}

#define PRIVATE_MODE_MASK  0077    //  group and others must have no access

//  A secret file must exist and be readable by its owner only: the same
//  check, and words, for every secret the daemon reads.
static void
s_check_private_file (loader_t *self, const char *where, const char *path,
                      const char *how_to_make, const char *why)
{
    struct stat info;
    if (stat (path, &info))
        s_report (self, self->path, where, "cannot read %s: %s; %s", path, strerror (errno),
                  how_to_make);
    else
    if (info.st_mode & PRIVATE_MODE_MASK)
        s_report (self, self->path, where, "%s is readable by others (mode %o); chmod 600 "
                  "it: %s", path, (unsigned) (info.st_mode & 0777), why);
}

static void
s_read_paths (config_t *config, loader_t *self)
{
    if (s_read_path (self, "data_dir", "the directory for this region's data "
                     "(relative to this file)", config->data_dir) == 0) {
        struct stat info;
        if (stat (config->data_dir, &info) == 0 && !S_ISDIR (info.st_mode))
            s_report (self, self->path, DAEMON_SECTION "/data_dir", "'%s' exists "
                      "and is not a directory; point data_dir elsewhere",
                      config->data_dir);
    }
    if (s_read_path (self, "secret_key", "this region's zcert secret key file ("
                     KEYGEN_HINT " writes one)", config->secret_key) == 0)
        s_check_private_file (self, DAEMON_SECTION "/secret_key", config->secret_key,
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
    if (!s_is_tcp_endpoint (bind))
        s_report (self, self->path, where, "'%s' must look like tcp://host:port, "
                  "e.g. tcp://0.0.0.0:7101", bind);
    else
    if (s_copy (config->bind, sizeof (config->bind), bind) != 0)
        s_report (self, self->path, where, "'%s' is longer than %d bytes",
                  bind, CONFIG_ENDPOINT_MAX - 1);
}

//  Stores ipc://<absolute path>, refusing paths the OS cannot bind.
static void
s_set_ipc_control (config_t *config, loader_t *self, const char *where,
                   const char *path)
{
    if (strlen (path) > IPC_PATH_MAX)
        s_report (self, self->path, where, "socket path '%s' is %zu bytes, but "
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
    if (s_resolve_path (self->base_dir, name, path, sizeof (path)) == 0)
        s_set_ipc_control (config, self, where, path);
    else
        s_report (self, self->path, where, "'%s' makes a path longer than %d "
                  "bytes; use a shorter one", control, CONFIG_PATH_MAX - 1);
}

static void
s_set_default_control (config_t *config, loader_t *self, const char *where)
{
    char path [CONFIG_PATH_MAX];
    if (s_resolve_path (config->data_dir, CONTROL_SOCKET_NAME, path, sizeof (path)) == 0)
        s_set_ipc_control (config, self, where, path);
    else
        s_report (self, self->path, where, "data_dir is too long to hold the "
                  "control socket; set zvhd/control to a short ipc:// path");
}

static void
s_read_control (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *control = s_daemon_value (self, "control", where);
    if (!control || !*control) {
        if (*config->data_dir)
            s_set_default_control (config, self, where);
    }
    else
    if (s_is_ipc_endpoint (control))
        s_read_ipc_control (config, self, where, control);
    else
    //  Anyone who reached the port could include cases, read plans and export
    //  the audit trail: tcp:// only with CURVE and operator keys (checked
    //  once the operators file is read)
    if (s_is_tcp_endpoint (control)
    &&  s_copy (config->control, sizeof (config->control), control) != 0)
        s_report (self, self->path, where, "'%s' is longer than %d bytes", control,
                  CONFIG_ENDPOINT_MAX - 1);
    else
    if (s_is_tcp_endpoint (control))
        ;
    else
        s_report (self, self->path, where, "'%s' must be ipc://path (or tcp://host:port "
                  "with zvhd/operators); leave it out for ipc://<data_dir>/"
                  CONTROL_SOCKET_NAME, control);
}

//  ---------------------------------------------------------------- operators

static size_t
s_child_count (zconfig_t *section)
{
    size_t count = 0;
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item))
        count++;
    return count;
}


static const char *const s_operator_keys [] = { "public_key", "access" };
#define OPERATOR_KEY_COUNT (sizeof (s_operator_keys) / sizeof (s_operator_keys [0]))

//  One operator: an id, a key of its own, and read-only or read-write.
static void
s_read_operator (config_t *config, loader_t *self, zconfig_t *entry)
{
    const char *file = config->operators_file, *id = zconfig_name (entry);
    char where [KEY_PATH_MAX], key_where [KEY_PATH_MAX];
    s_key_path (where, OPERATORS_SECTION, id);
    s_check_keys (self, file, entry, where, s_operator_keys, OPERATOR_KEY_COUNT);
    const char *key = zconfig_get (entry, "public_key", "");
    const char *access = zconfig_get (entry, "access", "");
    size_t errors = self->error_count;
    if (!s_is_id (id))
        s_report (self, file, where, "'%s' is not an operator id; use 1 to %d characters "
                  "from a-z, 0-9 and '-'", id, CONFIG_ID_MAX - 1);
    s_key_path (key_where, where, "public_key");
    if (!s_is_public_key (key))
        s_report (self, file, key_where, "'%s' is not a CURVE public key: use the "
                  "%d-character Z85 key from " KEYGEN_HINT ", in double quotes", key,
                  CONFIG_KEY_Z85_LEN);
    else
    if (config_region_by_key (config, key) || config_partner_by_key (config, key)
    ||  config_operator_by_key (config, key))
        s_report (self, file, key_where, "is the key of a region, a partner or another "
                  "operator; an operator needs its own key pair (" KEYGEN_HINT ")");
    s_key_path (key_where, where, "access");
    if (!streq (access, ACCESS_READ_ONLY) && !streq (access, ACCESS_READ_WRITE))
        s_report (self, file, key_where, "'%s': set " ACCESS_READ_ONLY " (status, show, "
                  "list, audit) or " ACCESS_READ_WRITE " (every operation)", access);
    if (self->error_count != errors || config->operator_count >= CONFIG_OPERATORS_MAX)
        return;
    config_operator_t *operator_ = &config->operators [config->operator_count++];
    s_copy (operator_->id, sizeof (operator_->id), id);
    s_copy (operator_->public_key, sizeof (operator_->public_key), key);
    operator_->read_write = streq (access, ACCESS_READ_WRITE);
}

//  zvhd/operators names the file of operator keys, which a tcp:// control
//  endpoint needs and an ipc:// one does not use.
static void
s_load_operators (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *name = s_daemon_value (self, "operators", where);
    bool tcp = config_control_is_tcp (config);
    if (name && *name && !tcp)
        s_report (self, self->path, where, "is set, but zvhd/control is not tcp://: the "
                  "ipc:// control socket is the host's own (mode 0600) and takes no keys");
    if (!name || !*name || !tcp || s_store_path (self, where, name, config->operators_file))
        return;
    zconfig_t *root = s_zpl_load (self, config->operators_file, self->path, where);
    zconfig_t *section = root ? s_section (self, config->operators_file, root,
                                           OPERATORS_SECTION) : NULL;
    if (section && s_child_count (section) > CONFIG_OPERATORS_MAX)
        s_report (self, config->operators_file, OPERATORS_SECTION, "lists more than %d "
                  "operators (CONFIG_OPERATORS_MAX)", CONFIG_OPERATORS_MAX);
    for (zconfig_t *entry = section ? zconfig_child (section) : NULL; entry;
         entry = zconfig_next (entry))
        s_read_operator (config, self, entry);
    zconfig_destroy (&root);
}

//  A tcp:// control endpoint without operator keys would take any caller.
static void
s_check_tcp_control (config_t *config, loader_t *self)
{
    if (config_control_is_tcp (config) && config->operator_count == 0)
        s_report (self, self->path, DAEMON_SECTION "/control", "'%s': a tcp:// control "
                  "endpoint takes CURVE operator keys only: set zvhd/operators to a file "
                  "listing them (id, public_key, access = " ACCESS_READ_ONLY " or "
                  ACCESS_READ_WRITE "), or leave control out for ipc://<data_dir>/"
                  CONTROL_SOCKET_NAME " on this host", config->control);
}

//  Partners subscribe at subscribe_bind and are listed in the partners
//  file: one without the other is a half-finished edit.
static void
s_check_signal_halves (loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *bind = s_daemon_value (self, "subscribe_bind", where);
    const char *partners = s_daemon_value (self, "partners", where);
    bool has_bind = bind && *bind;
    bool has_partners = partners && *partners;
    if (has_bind && !has_partners)
        s_report (self, self->path, DAEMON_SECTION "/subscribe_bind", "is set "
                  "but zvhd/partners is not, so no partner could subscribe: "
                  "set partners to the file listing their keys and views (e.g. "
                  "partners.zpl), or leave both out");
    if (has_partners && !has_bind)
        s_report (self, self->path, DAEMON_SECTION "/partners", "is set but "
                  "zvhd/subscribe_bind is not, so no partner could connect: set "
                  "subscribe_bind (e.g. tcp://0.0.0.0:7201), or leave both out");
}

//  The partners' endpoint; it must not take the port of another one.
static void
s_read_subscribe_bind (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *endpoint = s_daemon_value (self, "subscribe_bind", where);
    if (!endpoint || !*endpoint)
        return;
    if (!s_is_tcp_endpoint (endpoint))
        s_report (self, self->path, where, "'%s' must look like tcp://host:port, "
                  "e.g. tcp://0.0.0.0:7201", endpoint);
    else
    if (s_endpoints_clash (endpoint, config->bind))
        s_report (self, self->path, where, "'%s' takes the port of zvhd/bind "
                  "(%s); partners need an endpoint of their own", endpoint,
                  config->bind);
    else
    if (s_endpoints_clash (endpoint, config->control))
        s_report (self, self->path, where, "'%s' takes the port of zvhd/control "
                  "(%s); partners need an endpoint of their own", endpoint,
                  config->control);
    else
    if (s_copy (config->subscribe_bind, sizeof (config->subscribe_bind), endpoint) != 0)
        s_report (self, self->path, where, "'%s' is longer than %d bytes",
                  endpoint, CONFIG_ENDPOINT_MAX - 1);
}

//  The metrics endpoint: plain host:port with a numeric address (an HTTP
//  server, not a ZeroMQ endpoint), on a port no other endpoint takes.
static bool
s_is_metrics_address (const char *address)
{
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address || !s_is_port (colon + 1))
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
    const char *format = s_daemon_value (self, "log_format", where);
    if (!format || !*format || streq (format, "text"))
        return;
    if (streq (format, "json"))
        config->log_json = true;
    else
        s_report (self, self->path, where, "'%s' is not a log format: use text (the "
                  "default) or json (one JSON object a line, for log shippers)", format);
}

static void
s_read_metrics_bind (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *address = s_daemon_value (self, "metrics_bind", where);
    if (!address || !*address)
        return;
    char as_tcp [CONFIG_ENDPOINT_MAX + sizeof (TCP_SCHEME)];
    snprintf (as_tcp, sizeof (as_tcp), TCP_SCHEME "%s", address);
    const char *const others [][2] = {
        { "zvhd/bind", config->bind }, { "zvhd/control", config->control },
        { "zvhd/subscribe_bind", config->subscribe_bind } };
    if (!s_is_metrics_address (address)) {
        s_report (self, self->path, where, "'%s' must be address:port with a "
                  "numeric address, e.g. 127.0.0.1:9101 or [::1]:9101 (no "
                  "scheme, no host name)", address);
        return;
    }
    for (size_t index = 0; index < sizeof (others) / sizeof (others [0]); index++)
        if (s_endpoints_clash (as_tcp, others [index][1])) {
            s_report (self, self->path, where, "'%s' takes the port of %s (%s); "
                      "metrics need a port of their own", address, others [index][0],
                      others [index][1]);
            return;
        }
    if (s_copy (config->metrics_bind, sizeof (config->metrics_bind), address) != 0)
        s_report (self, self->path, where, "'%s' is longer than %d bytes",
                  address, CONFIG_ENDPOINT_MAX - 1);
}

static void
s_read_partners_path (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *name = s_daemon_value (self, "partners", where);
    if (name && *name)
        s_store_path (self, where, name, config->partners_file);
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
        const char *text = s_daemon_value (self, key->name, where);
        int64_t value = key->fallback;
        if (text && !s_parse_number (text, key->min, key->max, &value))
            s_report (self, self->path, where, "'%s' is not a whole number from "
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
        s_report (self, self->path, DAEMON_SECTION "/retry_min_ms", "%d is more "
                  "than retry_max_ms (%d); the first retry cannot wait longer "
                  "than the back-off ceiling", config->retry_min_ms,
                  config->retry_max_ms);
    if (config->peer_timeout_ms <= config->heartbeat_ms)
        s_report (self, self->path, DAEMON_SECTION "/peer_timeout_ms", "%d is not "
                  "more than heartbeat_ms (%d), so peers would time out between "
                  "heartbeats; raise it", config->peer_timeout_ms,
                  config->heartbeat_ms);
    if (config->map_size_mb > config->map_max_mb)
        s_report (self, self->path, DAEMON_SECTION "/map_size_mb", "%llu is more "
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
    s_check_keys (self, self->path, section, DAEMON_SECTION, known, count);
}


//  --------------------------------------------------------------------------
//  The directory

static void
s_read_region_name (config_region_t *region, loader_t *self, const char *file,
                    zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    s_key_path (key_where, where, "name");
    const char *name = zconfig_get (entry, "name", "");
    if (!*name)
        s_report (self, file, key_where, "missing; give the region's full name");
    else
    if (s_copy (region->name, sizeof (region->name), name) != 0)
        s_report (self, file, key_where, "is %zu bytes; at most %d fit",
                  strlen (name), CONFIG_NAME_MAX - 1);
}

static void
s_read_region_endpoint (config_region_t *region, loader_t *self, const char *file,
                        zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    s_key_path (key_where, where, "endpoint");
    const char *endpoint = zconfig_get (entry, "endpoint", "");
    if (!*endpoint)
        return;                         //  a placeholder
    if (!s_is_tcp_endpoint (endpoint) && !s_is_ipc_endpoint (endpoint))
        s_report (self, file, key_where, "'%s' must be tcp://host:port or "
                  "ipc://path, or \"\" for a region not yet federated", endpoint);
    else
    if (strncmp (endpoint, TCP_ANY_HOST, strlen (TCP_ANY_HOST)) == 0)
        s_report (self, file, key_where, "'%s' is a bind address; peers connect "
                  "here, so give the region's host name or IP address", endpoint);
    else
    if (s_copy (region->endpoint, sizeof (region->endpoint), endpoint) != 0)
        s_report (self, file, key_where, "is %zu bytes; at most %d fit",
                  strlen (endpoint), CONFIG_ENDPOINT_MAX - 1);
}

static void
s_read_region_key (config_region_t *region, loader_t *self, const char *file,
                   zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    s_key_path (key_where, where, "public_key");
    const char *key = zconfig_get (entry, "public_key", "");
    if (!*key)
        return;                         //  a placeholder
    if (s_is_public_key (key))
        s_copy (region->public_key, sizeof (region->public_key), key);
    else
        s_report (self, file, key_where, "'%s' is not a CURVE public key: use the "
                  "%d-character Z85 key from " KEYGEN_HINT ", in double quotes "
                  "(Z85 may contain '#', which otherwise starts a comment), or "
                  "\"\" for a region not yet federated", key, CONFIG_KEY_Z85_LEN);
}

static bool
s_is_hex (const char *text, size_t length)
{
    if (strlen (text) != length)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!isxdigit ((unsigned char) text [i]))
            return false;
    return true;
}

//  The region's Ed25519 key that verifies its signed events.
static void
s_read_region_sign_key (config_region_t *region, loader_t *self, const char *file,
                        zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    s_key_path (key_where, where, "sign_key");
    const char *key = zconfig_get (entry, "sign_key", "");
    if (!*key)
        return;
    if (s_is_hex (key, CONFIG_SIGN_KEY_HEX_LEN))
        s_copy (region->sign_key, sizeof (region->sign_key), key);
    else
        s_report (self, file, key_where, "'%s' is not an Ed25519 public key: use the "
                  "%d hex digits of sign_key from " KEYGEN_HINT, key,
                  CONFIG_SIGN_KEY_HEX_LEN);
}

//  A region is federated with both endpoint and key, or neither: one alone
//  is a half-finished edit.
static void
s_check_region_halves (loader_t *self, const char *file, zconfig_t *entry,
                       const char *where)
{
    bool has_endpoint = *zconfig_get (entry, "endpoint", "") != '\0';
    bool has_key = *zconfig_get (entry, "public_key", "") != '\0';
    if (has_endpoint != has_key)
        s_report (self, file, where, "has %s but no %s; set both to federate "
                  "with this region, or neither to keep it a placeholder",
                  has_endpoint? "an endpoint": "a public_key",
                  has_endpoint? "public_key": "endpoint");
    else
    if (has_endpoint && !*zconfig_get (entry, "sign_key", ""))
        //  Every event of a region without one would be refused (held)
        s_report (self, file, where, "is federated (endpoint and public_key) but has no "
                  "sign_key, so every event it signs would be refused; add the sign_key "
                  "line that " KEYGEN_HINT " printed with its public_key (the 64 hex "
                  "digits; `zvhctl --json keygen` gives it as \"sign_key\")");
}

//  True when another region already has this id or key (and says so).
static bool
s_is_duplicate (const config_t *config, loader_t *self, const char *file,
                const config_region_t *region, const char *where)
{
    if (config_region (config, region->id)) {
        s_report (self, file, where, "region '%s' is listed twice; remove one",
                  region->id);
        return true;
    }
    const config_region_t *twin = config_region_by_key (config, region->public_key);
    if (twin) {
        char key_where [KEY_PATH_MAX];
        s_report (self, file, s_key_path (key_where, where, "public_key"),
                  "same key as region '%s'; every region needs its own key "
                  "pair (" KEYGEN_HINT ")", twin->id);
        return true;
    }
    return false;
}

static void
s_read_region_entry (config_t *config, loader_t *self, zconfig_t *entry)
{
    const char *file = config->directory;
    const char *id = zconfig_name (entry);
    char where [KEY_PATH_MAX];
    s_key_path (where, DIRECTORY_SECTION, id);
    s_check_keys (self, file, entry, where, s_region_keys, REGION_KEY_COUNT);

    config_region_t region;
    memset (&region, 0, sizeof (region));
    bool valid_id = s_is_id (id);
    if (valid_id)
        s_copy (region.id, sizeof (region.id), id);
    else
        s_report (self, file, where, "'%s' is not a region id; use 1 to %d "
                  "characters from a-z, 0-9 and '-'", id, CONFIG_ID_MAX - 1);
    s_read_region_name (&region, self, file, entry, where);
    s_read_region_endpoint (&region, self, file, entry, where);
    s_read_region_key (&region, self, file, entry, where);
    s_read_region_sign_key (&region, self, file, entry, where);
    s_check_region_halves (self, file, entry, where);
    if (valid_id && !s_is_duplicate (config, self, file, &region, where))
        config->regions [config->region_count++] = region;
}

//  Returns 0 when the directory file could be read, even with bad entries.
static int
s_load_directory (config_t *config, loader_t *self)
{
    zconfig_t *root = s_zpl_load (self, config->directory, self->path,
                                  DAEMON_SECTION "/directory");
    if (!root)
        return -1;
    zconfig_t *section = s_section (self, config->directory, root, DIRECTORY_SECTION);
    if (section && s_child_count (section) > CONFIG_REGIONS_MAX)
        s_report (self, config->directory, DIRECTORY_SECTION, "lists %zu regions; "
                  "zvhd supports at most %d (CONFIG_REGIONS_MAX)",
                  s_child_count (section), CONFIG_REGIONS_MAX);
    zconfig_t *entry = section? zconfig_child (section): NULL;
    for (; entry && config->region_count < CONFIG_REGIONS_MAX; entry = zconfig_next (entry))
        s_read_region_entry (config, self, entry);
    zconfig_destroy (&root);
    return 0;
}

static void
s_check_own_region (config_t *config, loader_t *self)
{
    const config_region_t *own = config_region (config, config->region);
    char where [KEY_PATH_MAX];
    if (!own)
        s_report (self, self->path, DAEMON_SECTION "/region", "'%s' is not in the "
                  "directory %s; add it there, or fix the id", config->region,
                  config->directory);
    else
    if (!config_region_is_federated (own))
        s_report (self, config->directory, s_key_path (where, DIRECTORY_SECTION, own->id),
                  "this is the daemon's own region, so it must be federated: set "
                  "its endpoint and its public_key (the public key in %s)",
                  config->secret_key);
}


//  --------------------------------------------------------------------------
//  The partners file

static void
s_split_partner_roles (role_list_t *roles)
{
    memcpy (roles->buffer, CONFIG_ROLES, sizeof (CONFIG_ROLES));
    roles->count = 0;
    char *saved = NULL;
    for (char *role = strtok_r (roles->buffer, " ", &saved); role;
         role = strtok_r (NULL, " ", &saved))
        if (!streq (role, REGION_ROLE)) {
            assert (roles->count < PARTNER_ROLES_MAX);
            roles->names [roles->count++] = role;
        }
    s_join (roles->names, roles->count, roles->text, sizeof (roles->text));
}

static bool
s_is_partner_role (loader_t *self, const char *role)
{
    const role_list_t *roles = &self->partner_roles;
    return s_key_index (roles->names, roles->count, role) < roles->count;
}

static bool
s_is_view_field (const char *name)
{
    return s_key_index (s_view_fields, VIEW_FIELD_COUNT, name) < VIEW_FIELD_COUNT;
}

static void
s_read_view_field (config_view_t *view, loader_t *self, const char *file,
                   const char *where, const char *field)
{
    if (!*field)
        s_report (self, file, where, "has an empty field name; remove the extra "
                  "comma");
    else
    if (!s_is_view_field (field)) {
        char list [KNOWN_KEYS_TEXT_MAX];
        s_join (s_view_fields, VIEW_FIELD_COUNT, list, sizeof (list));
        s_report (self, file, where, "'%s' is not a field of SignalView "
                  "(proto/zvh.proto); use any of %s", field, list);
    }
    else
    if (config_view_has (view, field))
        s_report (self, file, where, "'%s' is listed twice; keep one", field);
    else
        s_copy (view->fields [view->field_count++], CONFIG_FIELD_MAX, field);
}

static void
s_check_required_view_fields (const config_view_t *view, loader_t *self,
                              const char *file, const char *where)
{
    for (size_t index = 0; index < REQUIRED_VIEW_FIELD_COUNT; index++)
        if (!config_view_has (view, s_required_view_fields [index]))
            s_report (self, file, where, "lacks '%s'; every view must list seq, "
                      "type and event_id, which a subscriber needs to resume "
                      "after a break (seq), to tell what it got (type) and to "
                      "drop a redelivered event (event_id)",
                      s_required_view_fields [index]);
}

//  A view is stored even with bad fields, so that partners of its role are
//  not also reported as lacking one; the config is refused all the same.
static void
s_read_view (config_t *config, loader_t *self, zconfig_t *entry)
{
    const char *file = config->partners_file;
    const char *role = zconfig_name (entry);
    char where [KEY_PATH_MAX];
    s_key_path (where, VIEWS_SECTION, role);
    if (!s_is_partner_role (self, role)) {
        s_report (self, file, where, "'%s' is not a partner role, so no key can "
                  "use this view; views are for %s", role,
                  self->partner_roles.text);
        return;
    }
    if (config_view (config, role)) {
        s_report (self, file, where, "set twice; keep one line");
        return;
    }
    if (zconfig_child (entry))
        s_report (self, file, where, "takes a value, not keys indented below "
                  "it; outdent them");
    config_view_t *view = &config->views [config->view_count++];
    s_copy (view->role, sizeof (view->role), role);
    const char *fields = zconfig_value (entry);
    if (!fields || !*fields) {
        s_report (self, file, where, "is empty; list the SignalView fields this "
                  "role may see, comma-separated, at least seq,type,event_id");
        return;
    }
    if (s_item_count (fields) > CONFIG_VIEW_FIELDS_MAX) {
        s_report (self, file, where, "lists %zu fields; a view holds at most %d "
                  "(CONFIG_VIEW_FIELDS_MAX)", s_item_count (fields),
                  CONFIG_VIEW_FIELDS_MAX);
        return;
    }
    char field [ZPL_LINE_MAX];
    for (const char *rest = fields; s_next_item (&rest, field, sizeof (field)); )
        s_read_view_field (view, self, file, where, field);
    s_check_required_view_fields (view, self, file, where);
}

static void
s_read_views (config_t *config, loader_t *self, zconfig_t *section)
{
    size_t count = s_child_count (section);
    if (count > CONFIG_VIEWS_MAX)
        s_report (self, config->partners_file, VIEWS_SECTION, "lists %zu views; "
                  "zvhd supports at most %d (CONFIG_VIEWS_MAX)", count,
                  CONFIG_VIEWS_MAX);
    zconfig_t *entry = zconfig_child (section);
    for (; entry && config->view_count < CONFIG_VIEWS_MAX; entry = zconfig_next (entry))
        s_read_view (config, self, entry);
}

static void
s_read_partner_role (config_partner_t *partner, const config_t *config,
                     loader_t *self, zconfig_t *entry, const char *where,
                     bool have_views)
{
    const char *file = config->partners_file;
    const char *roles = self->partner_roles.text;
    char key_where [KEY_PATH_MAX];
    s_key_path (key_where, where, "role");
    const char *role = zconfig_get (entry, "role", "");
    if (!*role)
        s_report (self, file, key_where, "missing; set it to one of %s", roles);
    else
    if (streq (role, REGION_ROLE))
        s_report (self, file, key_where, "'%s' is not a partner role: regions are "
                  "listed in the directory; use one of %s", role, roles);
    else
    if (!s_is_partner_role (self, role))
        s_report (self, file, key_where, "'%s' is not a role; use one of %s",
                  role, roles);
    else {
        s_copy (partner->role, sizeof (partner->role), role);
        if (have_views && !config_view (config, role))
            s_report (self, file, key_where, "partner %s has role %s but the "
                      "views section has no %s view; add one listing the "
                      "SignalView fields a %s partner may see", zconfig_name (entry),
                      role, role, role);
    }
}

static void
s_read_partner_key (config_partner_t *partner, const config_t *config,
                    loader_t *self, zconfig_t *entry, const char *where)
{
    const char *file = config->partners_file;
    char key_where [KEY_PATH_MAX];
    s_key_path (key_where, where, "public_key");
    const char *key = zconfig_get (entry, "public_key", "");
    const config_region_t *region = config_region_by_key (config, key);
    if (!*key)
        s_report (self, file, key_where, "missing; set it to the partner's CURVE "
                  "public key, the %d-character Z85 key from " KEYGEN_HINT
                  ", in double quotes", CONFIG_KEY_Z85_LEN);
    else
    if (!s_is_public_key (key))
        s_report (self, file, key_where, "'%s' is not a CURVE public key: use the "
                  "%d-character Z85 key from " KEYGEN_HINT ", in double quotes "
                  "(Z85 may contain '#', which otherwise starts a comment)",
                  key, CONFIG_KEY_Z85_LEN);
    else
    if (region)
        s_report (self, file, key_where, "same key as region '%s' in the "
                  "directory; a partner needs its own key pair (" KEYGEN_HINT
                  "), since a key's role decides what it may see", region->id);
    else
        s_copy (partner->public_key, sizeof (partner->public_key), key);
    const char *next = zconfig_get (entry, "public_key_next", "");
    s_key_path (key_where, where, "public_key_next");
    const config_partner_t *twin = *next? config_partner_by_key (config, next): NULL;
    if (*next && (!s_is_public_key (next) || config_region_by_key (config, next)))
        s_report (self, file, key_where, "'%s' is not a CURVE public key of this "
                  "partner's own: use the new key from " KEYGEN_HINT " while "
                  "rotating, in double quotes", next);
    else
    if (twin)
        s_report (self, file, key_where, "same key as partner '%s'; every partner "
                  "needs its own key pair (" KEYGEN_HINT ")", twin->id);
    else
        s_copy (partner->public_key_next, sizeof (partner->public_key_next), next);
}

static bool
s_list_has (char items [][CONFIG_ID_MAX], size_t count, const char *item)
{
    for (size_t index = 0; index < count; index++)
        if (streq (items [index], item))
            return true;
    return false;
}

//  Reports an item that is not what the list holds; true when it is.
typedef bool (item_check_fn) (const config_t *config, loader_t *self,
                              const char *where, const char *item);

static bool
s_check_region_item (const config_t *config, loader_t *self, const char *where,
                     const char *item)
{
    if (streq (item, ALL_REGIONS))
        s_report (self, config->partners_file, where, "'" ALL_REGIONS "' means "
                  "every region, so it stands alone; drop it or the region ids");
    else
    if (!s_is_id (item) || (self->have_directory && !config_region (config, item)))
        s_report (self, config->partners_file, where, "'%s' is not a region in "
                  "the directory %s; fix the id (regions are lower case, e.g. "
                  "groningen) or add the region there", item, config->directory);
    else
        return true;
    return false;
}

static bool
s_check_case_item (const config_t *config, loader_t *self, const char *where,
                   const char *item)
{
    if (s_is_case_id (item))
        return true;
    s_report (self, config->partners_file, where, "'%s' is not a case id; use 1 "
              "to %d characters from A-Z, a-z, 0-9, '.', '_' and '-'", item,
              CONFIG_ID_MAX - 1);
    return false;
}

//  Reads a comma-separated list of ids into items, each checked.
static void
s_read_cover_list (const config_t *config, loader_t *self, const char *where,
                   const char *list, const char *noun, item_check_fn *check,
                   char items [][CONFIG_ID_MAX], size_t *count)
{
    const char *file = config->partners_file;
    if (s_item_count (list) > CONFIG_COVER_MAX) {
        s_report (self, file, where, "lists %zu %s; a partner lists at most %d "
                  "(CONFIG_COVER_MAX)", s_item_count (list), noun,
                  CONFIG_COVER_MAX);
        return;
    }
    char item [ZPL_LINE_MAX];
    for (const char *rest = list; s_next_item (&rest, item, sizeof (item)); ) {
        if (!*item) {
            s_report (self, file, where, "has an empty item; remove the extra comma");
            continue;
        }
        if (!check (config, self, where, item))
            continue;                   //  check said why
        if (s_list_has (items, *count, item))
            s_report (self, file, where, "'%s' is listed twice; keep one", item);
        else
            s_copy (items [(*count)++], CONFIG_ID_MAX, item);
    }
}

//  What a partner sees: the signals of its regions ("*": all) and of its
//  cases, wherever those are held.
static void
s_read_partner_cover (config_partner_t *partner, const config_t *config,
                      loader_t *self, zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    s_key_path (key_where, where, "regions");
    const char *regions = zconfig_get (entry, "regions", "");
    const char *cases = zconfig_get (entry, "cases", "");
    char first [ZPL_LINE_MAX];
    const char *rest = regions;
    if (!*regions && !*cases)
        s_report (self, config->partners_file, key_where, "missing; list the "
                  "regions whose signals this partner sees (ids from the "
                  "directory, comma-separated, or \"" ALL_REGIONS "\" for all), "
                  "or give cases");
    else
    if (s_next_item (&rest, first, sizeof (first)) && streq (first, ALL_REGIONS)
    &&  !rest)
        partner->all_regions = true;
    else
    if (*regions)
        s_read_cover_list (config, self, key_where, regions, "regions",
                           s_check_region_item, partner->regions,
                           &partner->region_count);
    s_key_path (key_where, where, "cases");
    if (*cases)
        s_read_cover_list (config, self, key_where, cases, "cases",
                           s_check_case_item, partner->cases, &partner->case_count);
}

//  True when another partner already has this id or key (and says so).
static bool
s_is_duplicate_partner (const config_t *config, loader_t *self,
                        const config_partner_t *partner, const char *where)
{
    for (size_t index = 0; index < config->partner_count; index++)
        if (streq (config->partners [index].id, partner->id)) {
            s_report (self, config->partners_file, where, "partner '%s' is "
                      "listed twice; remove one", partner->id);
            return true;
        }
    const config_partner_t *twin = config_partner_by_key (config, partner->public_key);
    if (twin) {
        char key_where [KEY_PATH_MAX];
        s_report (self, config->partners_file,
                  s_key_path (key_where, where, "public_key"), "same key as "
                  "partner '%s'; every partner needs its own key pair ("
                  KEYGEN_HINT ")", twin->id);
        return true;
    }
    return false;
}

static void
s_read_partner_entry (config_t *config, loader_t *self, zconfig_t *entry,
                      bool have_views)
{
    const char *file = config->partners_file;
    const char *id = zconfig_name (entry);
    char where [KEY_PATH_MAX];
    s_key_path (where, PARTNERS_SECTION, id);
    s_check_keys (self, file, entry, where, s_partner_keys, PARTNER_KEY_COUNT);

    //  Filled in place: the slot counts only once the partner is valid
    config_partner_t *partner = &config->partners [config->partner_count];
    memset (partner, 0, sizeof (*partner));
    bool valid_id = s_is_id (id);
    if (valid_id)
        s_copy (partner->id, sizeof (partner->id), id);
    else
        s_report (self, file, where, "'%s' is not a partner id; use 1 to %d "
                  "characters from a-z, 0-9 and '-'", id, CONFIG_ID_MAX - 1);
    s_read_partner_role (partner, config, self, entry, where, have_views);
    s_read_partner_key (partner, config, self, entry, where);
    s_read_partner_cover (partner, config, self, entry, where);
    if (valid_id && !s_is_duplicate_partner (config, self, partner, where))
        config->partner_count++;
}

static void
s_read_partners (config_t *config, loader_t *self, zconfig_t *section,
                 bool have_views)
{
    size_t count = s_child_count (section);
    if (count > CONFIG_PARTNERS_MAX)
        s_report (self, config->partners_file, PARTNERS_SECTION, "lists %zu "
                  "partners; zvhd supports at most %d (CONFIG_PARTNERS_MAX)",
                  count, CONFIG_PARTNERS_MAX);
    zconfig_t *entry = zconfig_child (section);
    for (; entry && config->partner_count < CONFIG_PARTNERS_MAX; entry = zconfig_next (entry))
        s_read_partner_entry (config, self, entry, have_views);
}

//  Views come first, so that each partner's role can be checked against
//  them. Without a views section that is reported once, not per partner.
static void
s_load_partners (config_t *config, loader_t *self)
{
    zconfig_t *root = s_zpl_load (self, config->partners_file, self->path,
                                  DAEMON_SECTION "/partners");
    if (!root)
        return;
    s_split_partner_roles (&self->partner_roles);
    const char *const names [] = { PARTNERS_SECTION, VIEWS_SECTION };
    zconfig_t *sections [2];
    s_sections (self, config->partners_file, root, names, 2, sections);
    zconfig_t *partners = sections [0];
    zconfig_t *views = sections [1];
    if (views)
        s_read_views (config, self, views);
    if (partners)
        s_read_partners (config, self, partners, views != NULL);
    zconfig_destroy (&root);
}


//  --------------------------------------------------------------------------
//  The key file

static bool
s_has_secret_key (zcert_t *cert)
{
    const byte *secret = zcert_secret_key (cert);
    for (size_t index = 0; index < CURVE_KEY_BYTES; index++)
        if (secret [index])
            return true;
    return false;
}

//  A hand-edited certificate can pair a secret with the wrong public key.
static bool
s_keys_belong_together (zcert_t *cert)
{
    char derived [CONFIG_KEY_Z85_LEN + 1];
    if (zmq_curve_public (derived, zcert_secret_txt (cert)) != 0)
        return true;                    //  libzmq without CURVE: cannot tell
    return streq (derived, zcert_public_txt (cert));
}

static void
s_check_key_matches_directory (config_t *config, loader_t *self, zcert_t *cert)
{
    const config_region_t *own = config_region (config, config->region);
    if (own && config_region_is_federated (own)
    &&  !streq (own->public_key, zcert_public_txt (cert)))
        s_report (self, self->path, DAEMON_SECTION "/secret_key", "key mismatch: "
                  "the directory lists %s for region %s but %s holds %s; "
                  "regenerate with " KEYGEN_HINT " or fix the directory",
                  own->public_key, own->id, config->secret_key,
                  zcert_public_txt (cert));
}

static void
s_check_secret_key (config_t *config, loader_t *self)
{
    const char *where = DAEMON_SECTION "/secret_key";
    //  Parsed here, not by zcert_load: CZMQ's zconfig_load leaks when a file
    //  does not parse, and zcert_load would first try an unvetted
    //  "<path>_secret"
    zconfig_t *root = s_zpl_load (self, config->secret_key, self->path, where);
    if (!root)
        return;
    const char *public_txt = zconfig_get (root, "curve/public-key", "");
    const char *secret_txt = zconfig_get (root, "curve/secret-key", "");
    byte public_key [CURVE_KEY_BYTES] = { 0 };
    byte secret_key [CURVE_KEY_BYTES] = { 0 };
    zcert_t *cert = NULL;
    if (strlen (public_txt) == CONFIG_KEY_Z85_LEN && zmq_z85_decode (public_key, public_txt)) {
        if (strlen (secret_txt) == CONFIG_KEY_Z85_LEN)
            zmq_z85_decode (secret_key, secret_txt);
        cert = zcert_new_from (public_key, secret_key);
    }
    zconfig_destroy (&root);
    if (!cert)
        s_report (self, self->path, where, "'%s' is not a CZMQ certificate; "
                  "generate one with " KEYGEN_HINT, config->secret_key);
    else
    if (!s_has_secret_key (cert))
        s_report (self, self->path, where, "'%s' holds no secret key (is it the "
                  "public half?); point secret_key at the _secret file",
                  config->secret_key);
    else
    if (!s_keys_belong_together (cert))
        s_report (self, self->path, where, "in '%s' the secret key does not "
                  "belong to the public key; regenerate with " KEYGEN_HINT,
                  config->secret_key);
    else
        s_check_key_matches_directory (config, self, cert);
    zcert_destroy (&cert);
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
        s_report (self, self->path, NULL, "cannot resolve its directory: %s",
                  strerror (errno));
        return -1;
    }
    int rc = s_copy (self->base_dir, sizeof (self->base_dir), resolved);
    if (rc != 0)
        s_report (self, self->path, NULL, "its directory '%s' is longer than %d "
                  "bytes; move the file", resolved, CONFIG_PATH_MAX - 1);
    free (resolved);
    return rc;
}

#define DATA_KEY_HEX_LEN   64      //  32 bytes, hex

//  The store key: 64 hex digits in a file only the daemon's user can read.
static void
s_check_data_key (config_t *config, loader_t *self, const char *where)
{
    struct stat info;
    s_check_private_file (self, where, config->data_key, "make one with zvhctl datakey FILE",
                          "it decrypts every plan in the store");
    if (stat (config->data_key, &info))
        return;
    zchunk_t *chunk = s_read_text (self, config->data_key, self->path, where);
    if (!chunk)
        return;
    char text [DATA_KEY_HEX_LEN + 2] = "";
    size_t size = zchunk_size (chunk) < sizeof text - 1 ? zchunk_size (chunk) : sizeof text - 1;
    memcpy (text, zchunk_data (chunk), size);
    text [strcspn (text, "\r\n")] = 0;
    if (!s_is_hex (text, DATA_KEY_HEX_LEN))
        s_report (self, config->data_key, where, "does not hold a key: expected %d hex "
                  "digits on one line (zvhctl datakey FILE)", DATA_KEY_HEX_LEN);
    zchunk_destroy (&chunk);
}

//  The revocation list: one Z85 key per line, optionally in double quotes;
//  a line starting with '#' is a comment (a key may contain '#' itself).
static void
s_read_revoked (config_t *config, loader_t *self, const char *where)
{
    struct stat info;
    if (stat (config->revoked_file, &info) == 0 && S_ISREG (info.st_mode) && info.st_size == 0)
        return;                         //  an empty list revokes nothing
    zchunk_t *chunk = s_read_text (self, config->revoked_file, self->path, where);
    if (!chunk)
        return;
    char *text = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    size_t line_number = 0;
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        line_number++;
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '"') {             //  quoted: Z85 has '#' in its alphabet
            line++;
            line [strcspn (line, "\"")] = 0;
        }
        else
        if (*line == '#')
            continue;                   //  a comment line
        else
            line [strcspn (line, " \t\r")] = 0;
        size_t length = strcspn (line, " \t\"");
        line [length] = 0;
        if (!*line)
            continue;
        if (!s_is_public_key (line))
            s_report (self, config->revoked_file, where, "line %zu: '%s' is not a "
                      "Z85 CURVE public key", line_number, line);
        else
        if (config->revoked_count == CONFIG_REVOKED_MAX)
            s_report (self, config->revoked_file, where, "more than %d revoked keys",
                      CONFIG_REVOKED_MAX);
        else
            s_copy (config->revoked [config->revoked_count++], CONFIG_KEY_Z85_LEN + 1, line);
    }
    free (text);
}

static void
s_read_security_files (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *name = s_daemon_value (self, "data_key", where);
    if (!name || !*name)
        //  The start would refuse it: say so here, where the fix is named
        s_report (self, self->path, DAEMON_SECTION "/data_key", "missing; zvhd keeps "
                  "personal data encrypted at rest: make a key with zvhctl datakey FILE "
                  "(mode 0600) and set data_key = FILE");
    else
    if (s_store_path (self, where, name, config->data_key) == 0)
        s_check_data_key (config, self, where);
    name = s_daemon_value (self, "revoked", where);
    if (name && *name && s_store_path (self, where, name, config->revoked_file) == 0)
        s_read_revoked (config, self, where);
}

static void
s_load_daemon (config_t *config, loader_t *self)
{
    zconfig_t *section = s_section (self, self->path, self->root, DAEMON_SECTION);
    if (!section || s_find_base_dir (self) != 0)
        return;
    s_check_daemon_keys (self, section);
    s_read_region (config, self);
    s_read_paths (config, self);
    s_read_bind (config, self);
    s_read_control (config, self);
    s_read_subscribe_bind (config, self);
    s_read_metrics_bind (config, self);
    s_read_log_format (config, self);
    s_read_partners_path (config, self);
    s_check_signal_halves (self);
    size_t errors_before = self->error_count;
    s_read_numbers (config, self);
    if (self->error_count == errors_before)
        s_check_number_relations (config, self);
    self->have_directory = *config->directory && s_load_directory (config, self) == 0;
    if (self->have_directory && *config->region)
        s_check_own_region (config, self);
    if (*config->secret_key)
        s_check_secret_key (config, self);
    if (*config->partners_file)
        s_load_partners (config, self);
    s_load_operators (config, self);
    s_check_tcp_control (config, self);
    s_read_security_files (config, self);
}

config_t *
config_load (const char *path, zlist_t *errors)
{
    assert (path);
    loader_t loader = { .errors = errors, .path = path };
    loader.root = s_zpl_load (&loader, path, NULL, NULL);
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

const config_region_t *
config_region (const config_t *self, const char *id)
{
    assert (self);
    for (size_t index = 0; id && index < self->region_count; index++)
        if (streq (self->regions [index].id, id))
            return &self->regions [index];
    return NULL;
}

bool
config_is_revoked (const config_t *self, const char *public_key)
{
    assert (self);
    for (size_t index = 0; public_key && index < self->revoked_count; index++)
        if (streq (self->revoked [index], public_key))
            return true;
    return false;
}

const config_region_t *
config_region_by_key (const config_t *self, const char *public_key)
{
    assert (self);
    if (!public_key || !*public_key || config_is_revoked (self, public_key))
        return NULL;                    //  placeholders share the empty key
    for (size_t index = 0; index < self->region_count; index++)
        if (streq (self->regions [index].public_key, public_key))
            return &self->regions [index];
    return NULL;
}

const config_partner_t *
config_partner_by_key (const config_t *self, const char *public_key)
{
    assert (self);
    if (!public_key || !*public_key || config_is_revoked (self, public_key))
        return NULL;
    for (size_t index = 0; index < self->partner_count; index++)
        if (streq (self->partners [index].public_key, public_key)
        ||  streq (self->partners [index].public_key_next, public_key))
            return &self->partners [index];
    return NULL;
}

const config_operator_t *
config_operator_by_key (const config_t *self, const char *public_key)
{
    assert (self);
    if (!public_key || !*public_key || config_is_revoked (self, public_key))
        return NULL;
    for (size_t index = 0; index < self->operator_count; index++)
        if (streq (self->operators [index].public_key, public_key))
            return &self->operators [index];
    return NULL;
}

bool
config_control_is_tcp (const config_t *self)
{
    assert (self);
    return strncmp (self->control, "tcp://", strlen ("tcp://")) == 0;
}

const config_view_t *
config_view (const config_t *self, const char *role)
{
    assert (self);
    for (size_t index = 0; role && index < self->view_count; index++)
        if (streq (self->views [index].role, role))
            return &self->views [index];
    return NULL;
}

bool
config_view_has (const config_view_t *view, const char *field)
{
    assert (view);
    for (size_t index = 0; field && index < view->field_count; index++)
        if (streq (view->fields [index], field))
            return true;
    return false;
}

bool
config_region_is_federated (const config_region_t *region)
{
    assert (region);
    return region->endpoint [0] != '\0' && region->public_key [0] != '\0';
}
