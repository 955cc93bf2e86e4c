/*  fuzz_common: what the libFuzzer harnesses and the seed generator share.
 *
 *  - The round-trip property of the wire codec: bytes that decode re-encode
 *    to a canonical form that decodes again and encodes to the same bytes.
 *  - The plan properties of zvh_plan.h: a plan that validates renders as
 *    JSON, and that JSON parses back to the same bytes.
 *  - A config fixture: a per-process temp directory with a real zcert, a
 *    valid daemon file, directory and partners file. Its keys are derived
 *    from fixed names, so an input that names a key means the same in
 *    every run and a crash always reproduces.
 *
 *  Every property violation prints what broke and aborts, which libFuzzer
 *  reports as a crash and saves as an artifact.
 */
#ifndef ZVH_FUZZ_COMMON_H
#define ZVH_FUZZ_COMMON_H

#include "wire.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A property the code under test promised does not hold: report and abort.
#define FUZZ_CHECK(condition, ...) \
    do { \
        if (!(condition)) \
            fuzz_fail (__FILE__, __LINE__, #condition, __VA_ARGS__); \
    } while (0)

void
    fuzz_fail (const char *file, int line, const char *condition,
               const char *format, ...)
    __attribute__ ((noreturn, format (printf, 4, 5)));

//  ---------------------------------------------------------------- wire

//  The messages that reach wire_decode, in selector order: the first byte
//  of a wire input picks one (modulo the count).
extern const ProtobufCMessageDescriptor *const fuzz_wire_types [];
extern const size_t fuzz_wire_type_count;

//  Index of desc in fuzz_wire_types (the selector byte), or -1.
int
    fuzz_wire_type_index (const ProtobufCMessageDescriptor *desc);

//  Decodes data as desc and, when it decodes, checks the round trip, the
//  bytes fields the daemon decodes in turn (an envelope's payload by its
//  type, every plan) and the plan properties; frees everything.
void
    fuzz_wire_check (const ProtobufCMessageDescriptor *desc,
                     const uint8_t *data, size_t size);

//  ---------------------------------------------------------------- plans

//  The checks of zvh_plan_to_json and zvh_plan_validate on plan bytes: a
//  plan that validates renders, its JSON parses back to the canonical
//  bytes, and parsing is a fixed point.
void
    fuzz_plan_bytes_check (const uint8_t *data, size_t size);

//  ---------------------------------------------------------------- config

#define FUZZ_DAEMON_FILE      "zvhd.cfg"
#define FUZZ_DIRECTORY_FILE   "federation.zpl"
#define FUZZ_PARTNERS_FILE    "partners.zpl"
#define FUZZ_OWN_REGION       "groningen"
#define FUZZ_SECRET_FILE      "keys/groningen.key_secret"
#define FUZZ_PUBLIC_FILE      "keys/groningen.key"
#define FUZZ_DATA_KEY_FILE    "keys/data.key"
#define FUZZ_REVOKED_FILE     "revoked.txt"

//  The Z85 public key derived from name (40 characters and a NUL).
void
    fuzz_public_key (const char *name, char public_txt [41]);

//  Valid texts of the fixture's files, malloc'd (caller frees). The daemon
//  file names the key file, directory, partners, store key and revocation
//  list (NULL leaves partners, data_key or revoked out).
char *
    fuzz_daemon_text (const char *secret_key, const char *directory, const char *partners,
                      const char *data_key, const char *revoked);
char *
    fuzz_directory_text (void);
char *
    fuzz_partners_text (void);
char *
    fuzz_data_key_text (void);
char *
    fuzz_revoked_text (void);
//  The secret zcert of the own region as zcert_save writes it.
char *
    fuzz_secret_key_text (void);

//  Makes a fresh temp directory holding the own region's zcert and the
//  valid directory, partners, store key and revocation files, and the
//  daemon file naming them all; returns its path (static storage). It is
//  removed at exit. Aborts if the fixture cannot be made.
const char *
    fuzz_fixture_dir (void);

//  Writes size bytes to name in the fixture directory, a new file with mode
//  0600 (as the store key must have); returns the path (static storage,
//  overwritten by the next call).
const char *
    fuzz_fixture_write (const char *name, const void *data, size_t size);

//  Runs config_load on the daemon file at path and checks its promises: a
//  config it returns is complete and consistent (config.h, config.c), and
//  a refusal comes with at least one message. autofree says whether the
//  error list copies the messages (zlist_autofree) or takes them. Returns
//  true when the config loaded.
bool
    fuzz_config_check (const char *path, bool autofree);

#endif
