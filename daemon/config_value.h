/*  config_value: checks of what a configuration key holds, and the small
 *  string helpers every reader of a configuration file uses. No state, no
 *  reporting: the readers say what is wrong, in their own words.
 */
#ifndef ZVH_CONFIG_VALUE_H
#define ZVH_CONFIG_VALUE_H

#include "config_loader.h"

#define TCP_SCHEME           "tcp://"
#define IPC_SCHEME           "ipc://"

//  "section/key" into buffer (KEY_PATH_MAX), cut short with "..." if longer;
//  returns buffer.
const char *
    value_key_path (char *buffer, const char *section, const char *key);

//  Copy src into a buffer of size bytes; -1 when it does not fit.
int
    value_copy (char *dest, size_t size, const char *src);

//  Index of name in known, or known_count when it is not there.
size_t
    value_index (const char *const *known, size_t known_count, const char *name);

//  The names joined by ", " into text (size bytes, cut short if longer).
void
    value_join (const char *const *names, size_t count, char *text, size_t size);

//  How many entries a ZPL section holds.
size_t
    value_child_count (zconfig_t *section);

//  True for a region, partner or operator id: 1 to CONFIG_ID_MAX - 1
//  characters from a-z, 0-9 and '-', so that ids are spelt one way.
bool
    value_is_id (const char *id);

//  Parse digits only (strtoll alone accepts " 7", "+7", "7abc" and "0x7")
//  into value; false when not a whole number from min to max.
bool
    value_parse_number (const char *text, int64_t min, int64_t max, int64_t *value);

//  True for a TCP port number, 1 to 65535.
bool
    value_is_port (const char *text);

//  True for tcp://host:port, where host is a name, an address, [v6] or *.
bool
    value_is_tcp_endpoint (const char *endpoint);

//  True for ipc://path with a path.
bool
    value_is_ipc_endpoint (const char *endpoint);

//  True for a CURVE public key in Z85 (40 characters).
bool
    value_is_public_key (const char *text);

//  True when text is exactly length hex digits.
bool
    value_is_hex (const char *text, size_t length);

//  True when two tcp:// endpoints would bind the same port: same port, and
//  the same host or one that means every interface.
bool
    value_endpoints_clash (const char *endpoint, const char *other);

//  Copy the next item of a comma-separated list into item (size bytes, cut
//  short if longer), without the spaces around it, and move *list on;
//  false when the list is used up.
bool
    value_next_item (const char **list, char *item, size_t size);

//  How many items a comma-separated list holds (empty ones included).
size_t
    value_item_count (const char *list);

//  A path relative to base_dir made absolute into dest (size bytes); -1
//  when it does not fit.
int
    value_resolve_path (const char *base_dir, const char *name, char *dest, size_t size);

#endif
