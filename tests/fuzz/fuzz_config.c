/*  fuzz_config: config_load on any daemon file.
 *
 *  The input is written as the daemon file (zvhd.cfg) in a per-process temp
 *  directory that also holds a valid directory, partners file and the
 *  region's zcert, so that an input naming them goes deep. A config that
 *  loads must keep config.h's promises; a refusal must say why.
 */
#include "fuzz_common.h"
#include <stdio.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc, (void) argv;
    char path [1024];
    snprintf (path, sizeof path, "%s/" FUZZ_DAEMON_FILE, fuzz_fixture_dir ());
    //  The fixture itself must load, or every input would stop early
    FUZZ_CHECK (fuzz_config_check (path, true), "the fixture config %s does not load", path);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = fuzz_fixture_write (FUZZ_DAEMON_FILE, data, size);
    fuzz_config_check (path, true);
    return 0;
}
