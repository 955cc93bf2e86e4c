/*  config_operators: the operators file (zvhd/operators): the CURVE keys a
 *  tcp:// control endpoint admits, each read-only or read-write.
 *
 *  Only a tcp:// control endpoint reads it (the ipc:// socket is the
 *  host's own), and a tcp:// one without operators is refused: it would
 *  take any caller. Every operator key is its own: not a region's, not a
 *  partner's, not another operator's.
 */
#include "config_files.h"
#include "config_value.h"

#define OPERATORS_SECTION    "operators"
#define ACCESS_READ_ONLY     "read-only"
#define ACCESS_READ_WRITE    "read-write"

static const char *const s_operator_keys [] = { "public_key", "access" };
#define OPERATOR_KEY_COUNT (sizeof (s_operator_keys) / sizeof (s_operator_keys [0]))

//  One operator: an id, a key of its own, and read-only or read-write.
static void
s_read_operator (config_t *config, loader_t *self, zconfig_t *entry)
{
    const char *file = config->operators_file, *id = zconfig_name (entry);
    char where [KEY_PATH_MAX], key_where [KEY_PATH_MAX];
    value_key_path (where, OPERATORS_SECTION, id);
    loader_check_keys (self, file, entry, where, s_operator_keys, OPERATOR_KEY_COUNT);
    const char *key = zconfig_get (entry, "public_key", "");
    const char *access = zconfig_get (entry, "access", "");
    size_t errors = self->error_count;
    if (!value_is_id (id))
        loader_report (self, file, where, "'%s' is not an operator id; use 1 to %d characters "
                       "from a-z, 0-9 and '-'", id, CONFIG_ID_MAX - 1);
    value_key_path (key_where, where, "public_key");
    if (!value_is_public_key (key))
        loader_report (self, file, key_where, "'%s' is not a CURVE public key: use the "
                       "%d-character Z85 key from " KEYGEN_HINT ", in double quotes", key,
                       CONFIG_KEY_Z85_LEN);
    else
    if (config_region_by_key (config, key) || config_partner_by_key (config, key)
    ||  config_operator_by_key (config, key))
        loader_report (self, file, key_where, "is the key of a region, a partner or another "
                       "operator; an operator needs its own key pair (" KEYGEN_HINT ")");
    value_key_path (key_where, where, "access");
    if (!streq (access, ACCESS_READ_ONLY) && !streq (access, ACCESS_READ_WRITE))
        loader_report (self, file, key_where, "'%s': set " ACCESS_READ_ONLY " (status, show, "
                       "list, audit) or " ACCESS_READ_WRITE " (every operation)", access);
    if (self->error_count != errors || config->operator_count >= CONFIG_OPERATORS_MAX)
        return;
    config_operator_t *operator_ = &config->operators [config->operator_count++];
    value_copy (operator_->id, sizeof (operator_->id), id);
    value_copy (operator_->public_key, sizeof (operator_->public_key), key);
    operator_->read_write = streq (access, ACCESS_READ_WRITE);
}

void
config_operators_load (config_t *config, loader_t *self)
{
    char where [KEY_PATH_MAX];
    const char *name = loader_daemon_value (self, "operators", where);
    bool tcp = config_control_is_tcp (config);
    if (name && *name && !tcp)
        loader_report (self, self->path, where, "is set, but zvhd/control is not tcp://: the "
                       "ipc:// control socket is the host's own (mode 0600) and takes no keys");
    if (!name || !*name || !tcp || loader_store_path (self, where, name, config->operators_file))
        return;
    zconfig_t *root = loader_zpl_load (self, config->operators_file, self->path, where);
    zconfig_t *section = root ? loader_section (self, config->operators_file, root,
                                                OPERATORS_SECTION) : NULL;
    if (section && value_child_count (section) > CONFIG_OPERATORS_MAX)
        loader_report (self, config->operators_file, OPERATORS_SECTION, "lists more than %d "
                       "operators (CONFIG_OPERATORS_MAX)", CONFIG_OPERATORS_MAX);
    for (zconfig_t *entry = section ? zconfig_child (section) : NULL; entry;
         entry = zconfig_next (entry))
        s_read_operator (config, self, entry);
    zconfig_destroy (&root);
}

void
config_operators_check_control (config_t *config, loader_t *self)
{
    if (config_control_is_tcp (config) && config->operator_count == 0)
        loader_report (self, self->path, DAEMON_SECTION "/control", "'%s': a tcp:// control "
                       "endpoint takes CURVE operator keys only: set zvhd/operators to a file "
                       "listing them (id, public_key, access = " ACCESS_READ_ONLY " or "
                       ACCESS_READ_WRITE "), or leave control out for ipc://<data_dir>/"
                       CONTROL_SOCKET_NAME " on this host", config->control);
}


//  --------------------------------------------------------------------------
//  Lookups

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
