/*  fuzz_config_files: config_load on any file the daemon file names.
 *
 *  The first input byte picks the file under test (modulo 5): the
 *  federation directory, the partners file, the region's zcert secret key
 *  file, the revocation list or the store key file. The rest of the input
 *  is written as that file, and a fixed valid daemon file names it in place
 *  of the fixture's valid one; every other file stays valid. A config that
 *  loads must keep config.h's promises; a refusal must say why.
 */
#include "fuzz_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZED_FILE "fuzzed.txt"
#define PATH_SIZE   1024

typedef enum {
    FUZZ_DIRECTORY, FUZZ_PARTNERS, FUZZ_KEY, FUZZ_REVOKED, FUZZ_DATA_KEY, FUZZ_TARGETS
} target_t;

static const char *const s_daemon_files [FUZZ_TARGETS] = {
    "zvhd-directory.cfg", "zvhd-partners.cfg", "zvhd-key.cfg", "zvhd-revoked.cfg",
    "zvhd-data-key.cfg"
};
static char s_daemon_paths [FUZZ_TARGETS][PATH_SIZE];

//  The name the daemon file uses for each file: the fuzzed one for target
static const char *
s_name (target_t target, target_t file, const char *valid)
{
    return target == file? FUZZED_FILE: valid;
}

static char *
s_daemon_text (target_t target)
{
    return fuzz_daemon_text (s_name (target, FUZZ_KEY, FUZZ_SECRET_FILE),
                             s_name (target, FUZZ_DIRECTORY, FUZZ_DIRECTORY_FILE),
                             s_name (target, FUZZ_PARTNERS, FUZZ_PARTNERS_FILE),
                             s_name (target, FUZZ_DATA_KEY, FUZZ_DATA_KEY_FILE),
                             s_name (target, FUZZ_REVOKED, FUZZ_REVOKED_FILE));
}

static char *
s_valid_text (target_t target)
{
    switch (target) {
        case FUZZ_DIRECTORY: return fuzz_directory_text ();
        case FUZZ_PARTNERS:  return fuzz_partners_text ();
        case FUZZ_KEY:       return fuzz_secret_key_text ();
        case FUZZ_REVOKED:   return fuzz_revoked_text ();
        default:             return fuzz_data_key_text ();
    }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc, (void) argv;
    const char *dir = fuzz_fixture_dir ();
    for (int target = 0; target < FUZZ_TARGETS; target++) {
        snprintf (s_daemon_paths [target], PATH_SIZE, "%s/%s", dir, s_daemon_files [target]);
        char *text = s_daemon_text ((target_t) target);
        fuzz_fixture_write (s_daemon_files [target], text, strlen (text));
        free (text);
        //  With the valid file in its place each daemon file must load, or
        //  every input would stop early
        char *valid = s_valid_text ((target_t) target);
        fuzz_fixture_write (FUZZED_FILE, valid, strlen (valid));
        FUZZ_CHECK (fuzz_config_check (s_daemon_paths [target], false),
                    "the fixture %s does not load", s_daemon_paths [target]);
        free (valid);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    target_t target = (target_t) (data [0] % FUZZ_TARGETS);
    fuzz_fixture_write (FUZZED_FILE, data + 1, size - 1);
    //  Both ways of owning error messages (see config.c s_append)
    fuzz_config_check (s_daemon_paths [target], size % 2 == 0);
    return 0;
}
