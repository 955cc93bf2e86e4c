/*  config_keys: the secret files the daemon file names: the region's CURVE
 *  certificate (zvhd/secret_key) and the store key (zvhd/data_key).
 *
 *  Both must be readable by their owner only. The certificate must hold a
 *  secret key that belongs to its public key, and that public key must be
 *  the one the directory lists for this region; the store key must be 64
 *  hex digits. Neither secret is kept in the config: only the paths are.
 */
#include "config_files.h"
#include "config_value.h"

#include <errno.h>
#include <sys/stat.h>

#define PRIVATE_MODE_MASK  0077    //  group and others must have no access
#define DATA_KEY_HEX_LEN   64      //  32 bytes, hex

void
config_keys_check_private (loader_t *self, const char *where, const char *path,
                           const char *how_to_make, const char *why)
{
    struct stat info;
    if (stat (path, &info))
        loader_report (self, self->path, where, "cannot read %s: %s; %s", path, strerror (errno),
                       how_to_make);
    else
    if (info.st_mode & PRIVATE_MODE_MASK)
        loader_report (self, self->path, where, "%s is readable by others (mode %o); chmod 600 "
                       "it: %s", path, (unsigned) (info.st_mode & 0777), why);
}

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
        loader_report (self, self->path, DAEMON_SECTION "/secret_key", "key mismatch: "
                       "the directory lists %s for region %s but %s holds %s; "
                       "regenerate with " KEYGEN_HINT " or fix the directory",
                       own->public_key, own->id, config->secret_key,
                       zcert_public_txt (cert));
}

void
config_keys_check_secret (config_t *config, loader_t *self)
{
    const char *where = DAEMON_SECTION "/secret_key";
    //  Parsed here, not by zcert_load: CZMQ's zconfig_load leaks when a file
    //  does not parse, and zcert_load would first try an unvetted
    //  "<path>_secret"
    zconfig_t *root = loader_zpl_load (self, config->secret_key, self->path, where);
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
        loader_report (self, self->path, where, "'%s' is not a CZMQ certificate; "
                       "generate one with " KEYGEN_HINT, config->secret_key);
    else
    if (!s_has_secret_key (cert))
        loader_report (self, self->path, where, "'%s' holds no secret key (is it the "
                       "public half?); point secret_key at the _secret file",
                       config->secret_key);
    else
    if (!s_keys_belong_together (cert))
        loader_report (self, self->path, where, "in '%s' the secret key does not "
                       "belong to the public key; regenerate with " KEYGEN_HINT,
                       config->secret_key);
    else
        s_check_key_matches_directory (config, self, cert);
    zcert_destroy (&cert);
}

void
config_keys_check_data_key (config_t *config, loader_t *self, const char *where)
{
    struct stat info;
    config_keys_check_private (self, where, config->data_key, "make one with zvhctl datakey FILE",
                               "it decrypts every plan in the store");
    if (stat (config->data_key, &info))
        return;
    zchunk_t *chunk = loader_read_text (self, config->data_key, self->path, where);
    if (!chunk)
        return;
    char text [DATA_KEY_HEX_LEN + 2] = "";
    size_t size = zchunk_size (chunk) < sizeof text - 1 ? zchunk_size (chunk) : sizeof text - 1;
    memcpy (text, zchunk_data (chunk), size);
    text [strcspn (text, "\r\n")] = 0;
    if (!value_is_hex (text, DATA_KEY_HEX_LEN))
        loader_report (self, config->data_key, where, "does not hold a key: expected %d hex "
                       "digits on one line (zvhctl datakey FILE)", DATA_KEY_HEX_LEN);
    zchunk_destroy (&chunk);
}
