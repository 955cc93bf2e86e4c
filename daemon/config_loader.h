/*  config_loader: what every reader of a configuration file shares.
 *
 *  One loader_t lives for one config_load call. It collects problems (each
 *  "file: where: detail", at most ERRORS_REPORTED_MAX of them), reads files
 *  that must be small text, and hands checked bytes to CZMQ's ZPL parser
 *  (which would silently cut long lines and name a bad line only on
 *  stdout). Internal to config: the rest of the daemon uses config.h.
 */
#ifndef ZVH_CONFIG_LOADER_H
#define ZVH_CONFIG_LOADER_H

#include "config.h"

#define ZPL_LINE_MAX         1024           //  CZMQ's reader cuts longer lines
#define KEY_PATH_MAX         (3 * ZPL_LINE_MAX)   //  section/id/key
#define KEYS_PER_SECTION_MAX 32
#define KNOWN_KEYS_TEXT_MAX  512
#define CURVE_KEY_BYTES      32
#define PARTNER_ROLES_MAX    8
#define DAEMON_SECTION       "zvhd"
#define KEYGEN_HINT          "zvhctl keygen"
#define CONTROL_SOCKET_NAME  "control.sock"   //  in data_dir, when control is not set

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
    role_list_t partner_roles;              //  filled by the partners reader
} loader_t;

//  Record one problem as "file: where: detail" (where may be NULL).
void CHECK_PRINTF (4)
    loader_report (loader_t *self, const char *file, const char *where,
                   const char *format, ...);

//  Read a whole file that must be small text; NULL after reporting why.
//  named_in and named_by say which file and key named this one, if any.
zchunk_t *
    loader_read_text (loader_t *self, const char *path, const char *named_in,
                      const char *named_by);

//  Load a ZPL file into a tree; NULL after reporting why (for a syntax
//  error: the first line CZMQ rejects).
zconfig_t *
    loader_zpl_load (loader_t *self, const char *path, const char *named_in,
                     const char *named_by);

//  Find the top-level sections a file must hold, each once, into found (in
//  the order of names; NULL when missing); report anything else there.
void
    loader_sections (loader_t *self, const char *path, zconfig_t *root,
                     const char *const *names, size_t count, zconfig_t **found);

//  The one top-level section a file must hold; see loader_sections.
zconfig_t *
    loader_section (loader_t *self, const char *path, zconfig_t *root, const char *name);

//  Report unknown keys (typos), keys set twice and keys with keys below
//  them, so that nothing in a section is silently ignored.
void
    loader_check_keys (loader_t *self, const char *path, zconfig_t *section,
                       const char *section_path, const char *const *known,
                       size_t known_count);

//  Value of zvhd/<key> in the daemon file, or NULL when absent; where gets
//  the key's path (KEY_PATH_MAX).
const char *
    loader_daemon_value (loader_t *self, const char *key, char *where);

//  Store the path a daemon file key names into dest (CONFIG_PATH_MAX),
//  made absolute; -1 after reporting a path too long.
int
    loader_store_path (loader_t *self, const char *where, const char *name, char *dest);

#endif
