/*  config_partners: the partners file (zvhd/partners): the partner systems
 *  that subscribe to crisis signals, and the view of each partner role.
 *
 *  Views come first, so that each partner's role can be checked against
 *  them. The invariant: every partner stored has an id and a key of its
 *  own (not a region's, not another partner's), regions that are in the
 *  directory, and a role with a view; every view lists seq, type and
 *  event_id and only SignalView fields.
 */
#include "config_files.h"
#include "config_value.h"

#define PARTNERS_SECTION     "partners"
#define VIEWS_SECTION        "views"
#define REGION_ROLE          "region"       //  of CONFIG_ROLES, the one partners lack
#define ALL_REGIONS          "*"

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

//  Case ids come from case systems, so they may use capitals and dots.
static bool
s_is_case_id (const char *id)
{
    size_t length = strlen (id);
    return length > 0 && length < CONFIG_ID_MAX
        && strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789._-") == length;
}

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
    value_join (roles->names, roles->count, roles->text, sizeof (roles->text));
}

static bool
s_is_partner_role (loader_t *self, const char *role)
{
    const role_list_t *roles = &self->partner_roles;
    return value_index (roles->names, roles->count, role) < roles->count;
}

static bool
s_is_view_field (const char *name)
{
    return value_index (s_view_fields, VIEW_FIELD_COUNT, name) < VIEW_FIELD_COUNT;
}

static void
s_read_view_field (config_view_t *view, loader_t *self, const char *file,
                   const char *where, const char *field)
{
    if (!*field)
        loader_report (self, file, where, "has an empty field name; remove the extra "
                       "comma");
    else
    if (!s_is_view_field (field)) {
        char list [KNOWN_KEYS_TEXT_MAX];
        value_join (s_view_fields, VIEW_FIELD_COUNT, list, sizeof (list));
        loader_report (self, file, where, "'%s' is not a field of SignalView "
                       "(proto/zvh.proto); use any of %s", field, list);
    }
    else
    if (config_view_has (view, field))
        loader_report (self, file, where, "'%s' is listed twice; keep one", field);
    else
        value_copy (view->fields [view->field_count++], CONFIG_FIELD_MAX, field);
}

static void
s_check_required_view_fields (const config_view_t *view, loader_t *self,
                              const char *file, const char *where)
{
    for (size_t index = 0; index < REQUIRED_VIEW_FIELD_COUNT; index++)
        if (!config_view_has (view, s_required_view_fields [index]))
            loader_report (self, file, where, "lacks '%s'; every view must list seq, "
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
    value_key_path (where, VIEWS_SECTION, role);
    if (!s_is_partner_role (self, role)) {
        loader_report (self, file, where, "'%s' is not a partner role, so no key can "
                       "use this view; views are for %s", role,
                       self->partner_roles.text);
        return;
    }
    if (config_view (config, role)) {
        loader_report (self, file, where, "set twice; keep one line");
        return;
    }
    if (zconfig_child (entry))
        loader_report (self, file, where, "takes a value, not keys indented below "
                       "it; outdent them");
    config_view_t *view = &config->views [config->view_count++];
    value_copy (view->role, sizeof (view->role), role);
    const char *fields = zconfig_value (entry);
    if (!fields || !*fields) {
        loader_report (self, file, where, "is empty; list the SignalView fields this "
                       "role may see, comma-separated, at least seq,type,event_id");
        return;
    }
    if (value_item_count (fields) > CONFIG_VIEW_FIELDS_MAX) {
        loader_report (self, file, where, "lists %zu fields; a view holds at most %d "
                       "(CONFIG_VIEW_FIELDS_MAX)", value_item_count (fields),
                       CONFIG_VIEW_FIELDS_MAX);
        return;
    }
    char field [ZPL_LINE_MAX];
    for (const char *rest = fields; value_next_item (&rest, field, sizeof (field)); )
        s_read_view_field (view, self, file, where, field);
    s_check_required_view_fields (view, self, file, where);
}

static void
s_read_views (config_t *config, loader_t *self, zconfig_t *section)
{
    size_t count = value_child_count (section);
    if (count > CONFIG_VIEWS_MAX)
        loader_report (self, config->partners_file, VIEWS_SECTION, "lists %zu views; "
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
    value_key_path (key_where, where, "role");
    const char *role = zconfig_get (entry, "role", "");
    if (!*role)
        loader_report (self, file, key_where, "missing; set it to one of %s", roles);
    else
    if (streq (role, REGION_ROLE))
        loader_report (self, file, key_where, "'%s' is not a partner role: regions are "
                       "listed in the directory; use one of %s", role, roles);
    else
    if (!s_is_partner_role (self, role))
        loader_report (self, file, key_where, "'%s' is not a role; use one of %s",
                       role, roles);
    else {
        value_copy (partner->role, sizeof (partner->role), role);
        if (have_views && !config_view (config, role))
            loader_report (self, file, key_where, "partner %s has role %s but the "
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
    value_key_path (key_where, where, "public_key");
    const char *key = zconfig_get (entry, "public_key", "");
    const config_region_t *region = config_region_by_key (config, key);
    if (!*key)
        loader_report (self, file, key_where, "missing; set it to the partner's CURVE "
                       "public key, the %d-character Z85 key from " KEYGEN_HINT
                       ", in double quotes", CONFIG_KEY_Z85_LEN);
    else
    if (!value_is_public_key (key))
        loader_report (self, file, key_where, "'%s' is not a CURVE public key: use the "
                       "%d-character Z85 key from " KEYGEN_HINT ", in double quotes "
                       "(Z85 may contain '#', which otherwise starts a comment)",
                       key, CONFIG_KEY_Z85_LEN);
    else
    if (region)
        loader_report (self, file, key_where, "same key as region '%s' in the "
                       "directory; a partner needs its own key pair (" KEYGEN_HINT
                       "), since a key's role decides what it may see", region->id);
    else
        value_copy (partner->public_key, sizeof (partner->public_key), key);
    const char *next = zconfig_get (entry, "public_key_next", "");
    value_key_path (key_where, where, "public_key_next");
    const config_partner_t *twin = *next? config_partner_by_key (config, next): NULL;
    if (*next && (!value_is_public_key (next) || config_region_by_key (config, next)))
        loader_report (self, file, key_where, "'%s' is not a CURVE public key of this "
                       "partner's own: use the new key from " KEYGEN_HINT " while "
                       "rotating, in double quotes", next);
    else
    if (twin)
        loader_report (self, file, key_where, "same key as partner '%s'; every partner "
                       "needs its own key pair (" KEYGEN_HINT ")", twin->id);
    else
        value_copy (partner->public_key_next, sizeof (partner->public_key_next), next);
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
        loader_report (self, config->partners_file, where, "'" ALL_REGIONS "' means "
                       "every region, so it stands alone; drop it or the region ids");
    else
    if (!value_is_id (item) || (self->have_directory && !config_region (config, item)))
        loader_report (self, config->partners_file, where, "'%s' is not a region in "
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
    loader_report (self, config->partners_file, where, "'%s' is not a case id; use 1 "
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
    if (value_item_count (list) > CONFIG_COVER_MAX) {
        loader_report (self, file, where, "lists %zu %s; a partner lists at most %d "
                       "(CONFIG_COVER_MAX)", value_item_count (list), noun,
                       CONFIG_COVER_MAX);
        return;
    }
    char item [ZPL_LINE_MAX];
    for (const char *rest = list; value_next_item (&rest, item, sizeof (item)); ) {
        if (!*item) {
            loader_report (self, file, where, "has an empty item; remove the extra comma");
            continue;
        }
        if (!check (config, self, where, item))
            continue;                   //  check said why
        if (s_list_has (items, *count, item))
            loader_report (self, file, where, "'%s' is listed twice; keep one", item);
        else
            value_copy (items [(*count)++], CONFIG_ID_MAX, item);
    }
}

//  What a partner sees: the signals of its regions ("*": all) and of its
//  cases, wherever those are held.
static void
s_read_partner_cover (config_partner_t *partner, const config_t *config,
                      loader_t *self, zconfig_t *entry, const char *where)
{
    char key_where [KEY_PATH_MAX];
    value_key_path (key_where, where, "regions");
    const char *regions = zconfig_get (entry, "regions", "");
    const char *cases = zconfig_get (entry, "cases", "");
    char first [ZPL_LINE_MAX];
    const char *rest = regions;
    if (!*regions && !*cases)
        loader_report (self, config->partners_file, key_where, "missing; list the "
                       "regions whose signals this partner sees (ids from the "
                       "directory, comma-separated, or \"" ALL_REGIONS "\" for all), "
                       "or give cases");
    else
    if (value_next_item (&rest, first, sizeof (first)) && streq (first, ALL_REGIONS)
    &&  !rest)
        partner->all_regions = true;
    else
    if (*regions)
        s_read_cover_list (config, self, key_where, regions, "regions",
                           s_check_region_item, partner->regions,
                           &partner->region_count);
    value_key_path (key_where, where, "cases");
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
            loader_report (self, config->partners_file, where, "partner '%s' is "
                           "listed twice; remove one", partner->id);
            return true;
        }
    const config_partner_t *twin = config_partner_by_key (config, partner->public_key);
    if (twin) {
        char key_where [KEY_PATH_MAX];
        loader_report (self, config->partners_file,
                       value_key_path (key_where, where, "public_key"), "same key as "
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
    value_key_path (where, PARTNERS_SECTION, id);
    loader_check_keys (self, file, entry, where, s_partner_keys, PARTNER_KEY_COUNT);

    //  Filled in place: the slot counts only once the partner is valid
    config_partner_t *partner = &config->partners [config->partner_count];
    memset (partner, 0, sizeof (*partner));
    bool valid_id = value_is_id (id);
    if (valid_id)
        value_copy (partner->id, sizeof (partner->id), id);
    else
        loader_report (self, file, where, "'%s' is not a partner id; use 1 to %d "
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
    size_t count = value_child_count (section);
    if (count > CONFIG_PARTNERS_MAX)
        loader_report (self, config->partners_file, PARTNERS_SECTION, "lists %zu "
                       "partners; zvhd supports at most %d (CONFIG_PARTNERS_MAX)",
                       count, CONFIG_PARTNERS_MAX);
    zconfig_t *entry = zconfig_child (section);
    for (; entry && config->partner_count < CONFIG_PARTNERS_MAX; entry = zconfig_next (entry))
        s_read_partner_entry (config, self, entry, have_views);
}

void
config_partners_load (config_t *config, loader_t *self)
{
    zconfig_t *root = loader_zpl_load (self, config->partners_file, self->path,
                                       DAEMON_SECTION "/partners");
    if (!root)
        return;
    s_split_partner_roles (&self->partner_roles);
    const char *const names [] = { PARTNERS_SECTION, VIEWS_SECTION };
    zconfig_t *sections [2];
    loader_sections (self, config->partners_file, root, names, 2, sections);
    zconfig_t *partners = sections [0];
    zconfig_t *views = sections [1];
    if (views)
        s_read_views (config, self, views);
    if (partners)
        s_read_partners (config, self, partners, views != NULL);
    zconfig_destroy (&root);
}


//  --------------------------------------------------------------------------
//  Lookups

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
