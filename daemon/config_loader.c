/*  config_loader: the reporting and the ZPL reading every configuration
 *  file shares (see config_loader.h).
 *
 *  We read each file ourselves and hand the checked bytes to zconfig: CZMQ's
 *  ZPL reader silently cuts lines longer than 1024 bytes and names a syntax
 *  error's line only on stdout, so we refuse what it would mangle and find
 *  the line it rejects ourselves.
 */
#include "config_loader.h"
#include "config_value.h"

#include <errno.h>
#include <sys/stat.h>

#define FILE_MAX_BYTES       (1024 * 1024)  //  a 64-region directory is ~12 KB
#define ERRORS_REPORTED_MAX  100            //  more would bury the first ones
#define SHOWN_LINE_MAX       80             //  of a bad line, in a message
#define ASCII_DELETE         0x7f
#define UTF8_BOM             "\xEF\xBB\xBF" //  some editors start files with it


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

void CHECK_PRINTF (4)
loader_report (loader_t *self, const char *file, const char *where, const char *format, ...)
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


//  --------------------------------------------------------------------------
//  Reading ZPL files

//  "Cannot read" points at the key that named the file, when one did.
static void
s_report_unreadable (loader_t *self, const char *path, const char *named_in,
                     const char *named_by, const char *why)
{
    if (named_in)
        loader_report (self, named_in, named_by,
                       "cannot read '%s': %s; fix the path or create the file",
                       path, why);
    else
        loader_report (self, path, NULL, "cannot read: %s; check the path", why);
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
        loader_report (self, path, NULL, "is empty; expected a ZPL file");
        return -1;
    }
    if (size >= strlen (UTF8_BOM) && memcmp (data, UTF8_BOM, strlen (UTF8_BOM)) == 0) {
        loader_report (self, path, NULL, "starts with a byte order mark, which ZPL "
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
            loader_report (self, path, NULL, "line %zu is longer than %d bytes, "
                           "which ZPL cannot hold; shorten it", lineno, ZPL_LINE_MAX);
            return -1;
        }
        else
        if (!s_is_text_byte (data [at])) {
            loader_report (self, path, NULL, "line %zu: byte 0x%02x is not text; "
                           "is this really a ZPL file?", lineno, data [at]);
            return -1;
        }
    }
    return 0;
}

zchunk_t *
loader_read_text (loader_t *self, const char *path, const char *named_in,
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
        loader_report (self, path, NULL, "is %lld bytes; a configuration file is "
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
        loader_report (self, path, NULL, "line %zu is indented with a tab; "
                       "ZPL indents with 4 spaces per level", lineno);
    else
        loader_report (self, path, NULL, "line %zu is not valid ZPL: '%.*s%s'; "
                       "indent 4 spaces per level, write 'name' or 'name = value', "
                       "and quote values that contain '#'", lineno, shown, line,
                       strlen (line) > SHOWN_LINE_MAX? "...": "");
}

zconfig_t *
loader_zpl_load (loader_t *self, const char *path, const char *named_in,
                 const char *named_by)
{
    zchunk_t *chunk = loader_read_text (self, path, named_in, named_by);
    if (!chunk)
        return NULL;
    zconfig_t *root = zconfig_chunk_load (chunk);
    if (!root)
        s_report_syntax (self, path, chunk);
    zchunk_destroy (&chunk);
    return root;
}

void
loader_sections (loader_t *self, const char *path, zconfig_t *root,
                 const char *const *names, size_t count, zconfig_t **found)
{
    for (size_t index = 0; index < count; index++)
        found [index] = NULL;
    for (zconfig_t *item = zconfig_child (root); item; item = zconfig_next (item)) {
        size_t index = value_index (names, count, zconfig_name (item));
        if (index == count) {
            char list [KNOWN_KEYS_TEXT_MAX];
            value_join (names, count, list, sizeof (list));
            if (count == 1)
                loader_report (self, path, zconfig_name (item), "not expected at the "
                               "top level; this file holds one '%s' section, with "
                               "everything else indented 4 spaces below it", list);
            else
                loader_report (self, path, zconfig_name (item), "not expected at the "
                               "top level; this file holds only the sections %s; indent "
                               "everything else 4 spaces below them", list);
        }
        else
        if (found [index])
            loader_report (self, path, names [index], "appears twice; merge the "
                           "two sections");
        else
            found [index] = item;
    }
    for (size_t index = 0; index < count; index++)
        if (!found [index])
            loader_report (self, path, names [index], "missing; the file must have "
                           "a line '%s' with its keys indented 4 spaces below it",
                           names [index]);
}

zconfig_t *
loader_section (loader_t *self, const char *path, zconfig_t *root, const char *name)
{
    zconfig_t *section;
    loader_sections (self, path, root, &name, 1, &section);
    return section;
}

void
loader_check_keys (loader_t *self, const char *path, zconfig_t *section,
                   const char *section_path, const char *const *known, size_t known_count)
{
    assert (known_count <= KEYS_PER_SECTION_MAX);
    bool seen [KEYS_PER_SECTION_MAX] = { false };
    char where [KEY_PATH_MAX];
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item)) {
        const char *name = zconfig_name (item);
        value_key_path (where, section_path, name);
        size_t index = value_index (known, known_count, name);
        if (index == known_count) {
            char list [KNOWN_KEYS_TEXT_MAX];
            value_join (known, known_count, list, sizeof (list));
            loader_report (self, path, where, "unknown key '%s'; known keys are %s",
                           name, list);
        }
        else
        if (seen [index])
            loader_report (self, path, where, "set twice; keep one line");
        else
            seen [index] = true;
        if (zconfig_child (item))
            loader_report (self, path, where, "takes a value, not keys indented "
                           "below it; outdent them");
    }
}


//  --------------------------------------------------------------------------
//  Keys of the daemon file

const char *
loader_daemon_value (loader_t *self, const char *key, char *where)
{
    value_key_path (where, DAEMON_SECTION, key);
    return zconfig_get (self->root, where, NULL);
}

int
loader_store_path (loader_t *self, const char *where, const char *name, char *dest)
{
    if (value_resolve_path (self->base_dir, name, dest, CONFIG_PATH_MAX) == 0)
        return 0;
    dest [0] = '\0';
    loader_report (self, self->path, where, "'%s' makes a path longer than %d bytes; "
                   "use a shorter one", name, CONFIG_PATH_MAX - 1);
    return -1;
}
