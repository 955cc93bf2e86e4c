/*  config_value: checks of what a configuration key holds, and the string
 *  helpers every reader uses (see config_value.h).
 */
#include "config_value.h"

#include <ctype.h>
#include <errno.h>

#define TCP_PORT_MAX         65535
#define LIST_SEPARATOR       ","            //  between a key's regions, cases, fields

const char *
value_key_path (char *buffer, const char *section, const char *key)
{
    //  Each part comes from one ZPL line, so this fits; if not, say so
    int written = snprintf (buffer, KEY_PATH_MAX, "%s/%s", section, key);
    if (written < 0 || written >= KEY_PATH_MAX)
        strcpy (buffer + KEY_PATH_MAX - sizeof ("..."), "...");
    return buffer;
}

int
value_copy (char *dest, size_t size, const char *src)
{
    size_t length = strlen (src);
    if (length >= size)
        return -1;
    memcpy (dest, src, length + 1);
    return 0;
}

size_t
value_index (const char *const *known, size_t known_count, const char *name)
{
    size_t index = 0;
    while (index < known_count && !streq (known [index], name))
        index++;
    return index;
}

void
value_join (const char *const *names, size_t count, char *text, size_t size)
{
    size_t used = 0;
    text [0] = '\0';
    for (size_t index = 0; index < count && used < size; index++)
        used += snprintf (text + used, size - used, "%s%s",
                          index? ", ": "", names [index]);
}

size_t
value_child_count (zconfig_t *section)
{
    size_t count = 0;
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item))
        count++;
    return count;
}

bool
value_is_id (const char *id)
{
    size_t length = strlen (id);
    return length > 0 && length < CONFIG_ID_MAX
        && strspn (id, "abcdefghijklmnopqrstuvwxyz0123456789-") == length;
}

bool
value_parse_number (const char *text, int64_t min, int64_t max, int64_t *value)
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

bool
value_is_port (const char *text)
{
    int64_t port;
    return value_parse_number (text, 1, TCP_PORT_MAX, &port);
}

bool
value_is_tcp_endpoint (const char *endpoint)
{
    if (strncmp (endpoint, TCP_SCHEME, strlen (TCP_SCHEME)) != 0)
        return false;
    const char *host = endpoint + strlen (TCP_SCHEME);
    const char *colon = strrchr (host, ':');
    return colon && colon > host
        && strcspn (host, " \t") == strlen (host)
        && value_is_port (colon + 1);
}

bool
value_is_ipc_endpoint (const char *endpoint)
{
    return strncmp (endpoint, IPC_SCHEME, strlen (IPC_SCHEME)) == 0
        && endpoint [strlen (IPC_SCHEME)] != '\0';
}

bool
value_is_public_key (const char *text)
{
    uint8_t key [CURVE_KEY_BYTES];
    return strlen (text) == CONFIG_KEY_Z85_LEN && zmq_z85_decode (key, text) != NULL;
}

bool
value_is_hex (const char *text, size_t length)
{
    if (strlen (text) != length)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!isxdigit ((unsigned char) text [i]))
            return false;
    return true;
}

//  True for a host that means every interface.
static bool
s_is_any_host (const char *host, size_t length)
{
    static const char *const any [] = { "*", "0.0.0.0", "[::]" };
    for (size_t index = 0; index < sizeof (any) / sizeof (any [0]); index++)
        if (strlen (any [index]) == length && strncmp (host, any [index], length) == 0)
            return true;
    return false;
}

//  The port of an endpoint that value_is_tcp_endpoint accepts.
static int64_t
s_tcp_port (const char *endpoint)
{
    int64_t port = 0;
    value_parse_number (strrchr (endpoint, ':') + 1, 1, TCP_PORT_MAX, &port);
    return port;
}

bool
value_endpoints_clash (const char *endpoint, const char *other)
{
    if (!value_is_tcp_endpoint (endpoint) || !value_is_tcp_endpoint (other)
    ||  s_tcp_port (endpoint) != s_tcp_port (other))
        return false;
    const char *host = endpoint + strlen (TCP_SCHEME);
    const char *other_host = other + strlen (TCP_SCHEME);
    size_t length = (size_t) (strrchr (host, ':') - host);
    size_t other_length = (size_t) (strrchr (other_host, ':') - other_host);
    return s_is_any_host (host, length) || s_is_any_host (other_host, other_length)
        || (length == other_length && strncmp (host, other_host, length) == 0);
}

bool
value_next_item (const char **list, char *item, size_t size)
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

size_t
value_item_count (const char *list)
{
    size_t count = 1;
    for (; *list; list++)
        if (*list == LIST_SEPARATOR [0])
            count++;
    return count;
}

int
value_resolve_path (const char *base_dir, const char *name, char *dest, size_t size)
{
    int written = name [0] == '/'
                ? snprintf (dest, size, "%s", name)
                : snprintf (dest, size, "%s/%s", base_dir, name);
    return written >= 0 && (size_t) written < size? 0: -1;
}
