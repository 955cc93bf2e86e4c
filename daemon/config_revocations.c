/*  config_revocations: the revocation list (zvhd/revoked): CURVE keys that
 *  no endpoint admits any more, whoever listed them. One Z85 key a line,
 *  optionally in double quotes; a line starting with '#' is a comment (a
 *  key may contain '#' itself). An empty file revokes nothing.
 */
#include "config_files.h"
#include "config_value.h"

#include <sys/stat.h>

void
config_revocations_load (config_t *config, loader_t *self, const char *where)
{
    struct stat info;
    if (stat (config->revoked_file, &info) == 0 && S_ISREG (info.st_mode) && info.st_size == 0)
        return;                         //  an empty list revokes nothing
    zchunk_t *chunk = loader_read_text (self, config->revoked_file, self->path, where);
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
        if (!value_is_public_key (line))
            loader_report (self, config->revoked_file, where, "line %zu: '%s' is not a "
                           "Z85 CURVE public key", line_number, line);
        else
        if (config->revoked_count == CONFIG_REVOKED_MAX)
            loader_report (self, config->revoked_file, where, "more than %d revoked keys",
                           CONFIG_REVOKED_MAX);
        else
            value_copy (config->revoked [config->revoked_count++], CONFIG_KEY_Z85_LEN + 1, line);
    }
    free (text);
}


//  --------------------------------------------------------------------------
//  Lookups

bool
config_is_revoked (const config_t *self, const char *public_key)
{
    assert (self);
    for (size_t index = 0; public_key && index < self->revoked_count; index++)
        if (streq (self->revoked [index], public_key))
            return true;
    return false;
}
