/*  config_directory: the federation directory (zvhd/directory, e.g.
 *  regions.zpl), which lists every region: id, name, federation endpoint,
 *  CURVE public key and Ed25519 sign key.
 *
 *  The invariant: config->regions holds each valid region once, by id and
 *  by key; a region with neither endpoint nor key is a placeholder, one
 *  with only one of them is refused. Lookups by key never find a revoked
 *  key (config_revocations.c).
 */
#include "config_files.h"
#include "config_value.h"

#define DIRECTORY_SECTION    "directory"
#define TCP_ANY_HOST         "tcp://*:"     //  binds everywhere; cannot connect

static const char *const s_region_keys [] = { "name", "endpoint", "public_key", "sign_key" };
#define REGION_KEY_COUNT (sizeof (s_region_keys) / sizeof (s_region_keys [0]))

static void
s_read_region_name (config_region_t *region, loader_t *self, const char *file,
                    zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    value_key_path (key_where, where, "name");
    const char *name = zconfig_get (entry, "name", "");
    if (!*name)
        loader_report (self, file, key_where, "missing; give the region's full name");
    else
    if (value_copy (region->name, sizeof (region->name), name) != 0)
        loader_report (self, file, key_where, "is %zu bytes; at most %d fit",
                       strlen (name), CONFIG_NAME_MAX - 1);
}

static void
s_read_region_endpoint (config_region_t *region, loader_t *self, const char *file,
                        zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    value_key_path (key_where, where, "endpoint");
    const char *endpoint = zconfig_get (entry, "endpoint", "");
    if (!*endpoint)
        return;                         //  a placeholder
    if (!value_is_tcp_endpoint (endpoint) && !value_is_ipc_endpoint (endpoint))
        loader_report (self, file, key_where, "'%s' must be tcp://host:port or "
                       "ipc://path, or \"\" for a region not yet federated", endpoint);
    else
    if (strncmp (endpoint, TCP_ANY_HOST, strlen (TCP_ANY_HOST)) == 0)
        loader_report (self, file, key_where, "'%s' is a bind address; peers connect "
                       "here, so give the region's host name or IP address", endpoint);
    else
    if (value_copy (region->endpoint, sizeof (region->endpoint), endpoint) != 0)
        loader_report (self, file, key_where, "is %zu bytes; at most %d fit",
                       strlen (endpoint), CONFIG_ENDPOINT_MAX - 1);
}

static void
s_read_region_key (config_region_t *region, loader_t *self, const char *file,
                   zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    value_key_path (key_where, where, "public_key");
    const char *key = zconfig_get (entry, "public_key", "");
    if (!*key)
        return;                         //  a placeholder
    if (value_is_public_key (key))
        value_copy (region->public_key, sizeof (region->public_key), key);
    else
        loader_report (self, file, key_where, "'%s' is not a CURVE public key: use the "
                       "%d-character Z85 key from " KEYGEN_HINT ", in double quotes "
                       "(Z85 may contain '#', which otherwise starts a comment), or "
                       "\"\" for a region not yet federated", key, CONFIG_KEY_Z85_LEN);
}

//  The region's Ed25519 key that verifies its signed events.
static void
s_read_region_sign_key (config_region_t *region, loader_t *self, const char *file,
                        zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    value_key_path (key_where, where, "sign_key");
    const char *key = zconfig_get (entry, "sign_key", "");
    if (!*key)
        return;
    if (value_is_hex (key, CONFIG_SIGN_KEY_HEX_LEN))
        value_copy (region->sign_key, sizeof (region->sign_key), key);
    else
        loader_report (self, file, key_where, "'%s' is not an Ed25519 public key: use the "
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
        loader_report (self, file, where, "has %s but no %s; set both to federate "
                       "with this region, or neither to keep it a placeholder",
                       has_endpoint? "an endpoint": "a public_key",
                       has_endpoint? "public_key": "endpoint");
    else
    if (has_endpoint && !*zconfig_get (entry, "sign_key", ""))
        //  Every event of a region without one would be refused (held)
        loader_report (self, file, where, "is federated (endpoint and public_key) but has no "
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
        loader_report (self, file, where, "region '%s' is listed twice; remove one",
                       region->id);
        return true;
    }
    const config_region_t *twin = config_region_by_key (config, region->public_key);
    if (twin) {
        char key_where [KEY_PATH_MAX];
        loader_report (self, file, value_key_path (key_where, where, "public_key"),
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
    value_key_path (where, DIRECTORY_SECTION, id);
    loader_check_keys (self, file, entry, where, s_region_keys, REGION_KEY_COUNT);

    config_region_t region;
    memset (&region, 0, sizeof (region));
    bool valid_id = value_is_id (id);
    if (valid_id)
        value_copy (region.id, sizeof (region.id), id);
    else
        loader_report (self, file, where, "'%s' is not a region id; use 1 to %d "
                       "characters from a-z, 0-9 and '-'", id, CONFIG_ID_MAX - 1);
    s_read_region_name (&region, self, file, entry, where);
    s_read_region_endpoint (&region, self, file, entry, where);
    s_read_region_key (&region, self, file, entry, where);
    s_read_region_sign_key (&region, self, file, entry, where);
    s_check_region_halves (self, file, entry, where);
    if (valid_id && !s_is_duplicate (config, self, file, &region, where))
        config->regions [config->region_count++] = region;
}

int
config_directory_load (config_t *config, loader_t *self)
{
    zconfig_t *root = loader_zpl_load (self, config->directory, self->path,
                                       DAEMON_SECTION "/directory");
    if (!root)
        return -1;
    zconfig_t *section = loader_section (self, config->directory, root, DIRECTORY_SECTION);
    if (section && value_child_count (section) > CONFIG_REGIONS_MAX)
        loader_report (self, config->directory, DIRECTORY_SECTION, "lists %zu regions; "
                       "zvhd supports at most %d (CONFIG_REGIONS_MAX)",
                       value_child_count (section), CONFIG_REGIONS_MAX);
    zconfig_t *entry = section? zconfig_child (section): NULL;
    for (; entry && config->region_count < CONFIG_REGIONS_MAX; entry = zconfig_next (entry))
        s_read_region_entry (config, self, entry);
    zconfig_destroy (&root);
    return 0;
}

void
config_directory_check_own_region (config_t *config, loader_t *self)
{
    const config_region_t *own = config_region (config, config->region);
    char where [KEY_PATH_MAX];
    if (!own)
        loader_report (self, self->path, DAEMON_SECTION "/region", "'%s' is not in the "
                       "directory %s; add it there, or fix the id", config->region,
                       config->directory);
    else
    if (!config_region_is_federated (own))
        loader_report (self, config->directory, value_key_path (where, DIRECTORY_SECTION, own->id),
                  "this is the daemon's own region, so it must be federated: set "
                  "its endpoint and its public_key (the public key in %s)",
                  config->secret_key);
}


//  --------------------------------------------------------------------------
//  Lookups

const config_region_t *
config_region (const config_t *self, const char *id)
{
    assert (self);
    for (size_t index = 0; id && index < self->region_count; index++)
        if (streq (self->regions [index].id, id))
            return &self->regions [index];
    return NULL;
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

bool
config_region_is_federated (const config_region_t *region)
{
    assert (region);
    return region->endpoint [0] != '\0' && region->public_key [0] != '\0';
}
