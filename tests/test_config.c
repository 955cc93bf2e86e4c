/*  test_config: config_load accepts a good daemon file, directory and
 *  partners file, and refuses each kind of mistake with a message that
 *  names the key.
 *
 *  Every test gets a fresh directory under /tmp holding real CURVE
 *  certificates (zcert) for two regions, a valid daemon file and a valid
 *  directory, and real public keys for four partners; a test rewrites one
 *  of the files (or adds a partners file) to show the behaviour it names.
 *  Set ZVH_TEST_VERBOSE=1 to print the messages config_load returns.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMP_TEMPLATE     "/tmp/test_config.XXXXXX"
#define DAEMON_FILE       "zvhd.cfg"
#define DIRECTORY_FILE    "federation.zpl"
#define OWN_SECRET        "keys/groningen.key_secret"
#define PEER_SECRET       "keys/fryslan.key_secret"
#define OWN_DATA_KEY      "keys/groningen.data_key"
#define TEST_DATA_KEY     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
#define TEXT_MAX          (64 * 1024)
#define OPEN_FILES_MAX    16            //  for nftw while cleaning up
#define REPO_REGIONS      31            //  in config/regions.zpl
#define MEGABYTE          (1000 * 1000)
#define OVERSIZED_BYTES   (2 * 1024 * 1024)
#define GARBAGE_BYTES     4096
#define GARBAGE_SEED      0x2545F491u
#define FLOOD_KEYS        500           //  unknown keys in one file
#define PARTNERS_FILE     "partners.zpl"
#define PARTNER_KEYS      4             //  of the valid partners file
#define SUBSCRIBE_BIND    "tcp://127.0.0.1:7201"
#define SIGNAL_KEYS       "    subscribe_bind = " SUBSCRIBE_BIND "\n" \
                          "    partners = " PARTNERS_FILE "\n"
#define VIEW_FIELDS       19            //  in message SignalView

//  The views of the valid partners file, one line each.
#define POLICE_VIEW       "seq,type,event_id,region,national,kind,urgency," \
                          "severity,certainty,time_ms,partner_ref,actions," \
                          "coordinator_contact,previous_region"
#define POLICE_LINE       "    police = \"" POLICE_VIEW "\"\n"
#define CRISIS_LINE       "    crisis_service = \"" POLICE_VIEW ",text\"\n"
#define PROBATION_LINE    "    probation = \"seq, type, event_id, kind\"\n"
#define OPERATOR_LINE     "    operator = \"seq,type,event_id,case_id,text," \
                          "raised_by,raised_role,review_date\"\n"
#define VALID_VIEWS       POLICE_LINE CRISIS_LINE PROBATION_LINE OPERATOR_LINE

typedef struct {
    char dir [PATH_MAX];                //  absolute, symlinks resolved
    char daemon_path [PATH_MAX];
    char cwd [PATH_MAX];                //  restored after each test
    char own_key [CONFIG_KEY_Z85_LEN + 1];      //  groningen's public key
    char peer_key [CONFIG_KEY_Z85_LEN + 1];     //  fryslan's public key
    char peer_secret [CONFIG_KEY_Z85_LEN + 1];  //  fryslan's secret key
    char partner_key [PARTNER_KEYS][CONFIG_KEY_Z85_LEN + 1];
    zlist_t *errors;
    config_t *config;
} fixture_t;

//  The valid daemon file, one key per line; tests leave some out.
static const char *const s_daemon_keys [][2] = {
    { "region",     "groningen" },
    { "data_dir",   "data/groningen" },
    { "bind",       "tcp://127.0.0.1:7101" },
    { "secret_key", OWN_SECRET },
    { "directory",  DIRECTORY_FILE },
    { "data_key",   OWN_DATA_KEY },
};
#define DAEMON_KEY_COUNT (sizeof (s_daemon_keys) / sizeof (s_daemon_keys [0]))


//  --------------------------------------------------------------------------
//  Helpers

static void
s_path (const fixture_t *fx, const char *name, char *path)
{
    int written = snprintf (path, PATH_MAX, "%s/%s", fx->dir, name);
    assert_true (written > 0 && written < PATH_MAX);
}

static void
s_write (const fixture_t *fx, const char *name, const char *text)
{
    char path [PATH_MAX];
    s_path (fx, name, path);
    FILE *file = fopen (path, "wb");
    assert_non_null (file);
    assert_int_equal (fwrite (text, 1, strlen (text), file), strlen (text));
    assert_int_equal (fclose (file), 0);
}

static void CHECK_PRINTF (2)
s_appendf (char *text, const char *format, ...)
{
    size_t used = strlen (text);
    va_list args;
    va_start (args, format);
    int written = vsnprintf (text + used, TEXT_MAX - used, format, args);
    va_end (args);
    assert_true (written >= 0 && (size_t) written < TEXT_MAX - used);
}

static bool
s_is_word_in (const char *word, const char *words)
{
    char padded_word [PATH_MAX];
    char padded_words [PATH_MAX];
    snprintf (padded_word, sizeof (padded_word), " %s ", word);
    snprintf (padded_words, sizeof (padded_words), " %s ", words? words: "");
    return strstr (padded_words, padded_word) != NULL;
}

//  Writes the valid daemon file without the keys named in without (space
//  separated), then the lines in extra (indented by the caller).
static void
s_write_daemon (const fixture_t *fx, const char *without, const char *extra)
{
    static char text [TEXT_MAX];
    snprintf (text, sizeof (text), "zvhd\n");
    for (size_t index = 0; index < DAEMON_KEY_COUNT; index++)
        if (!s_is_word_in (s_daemon_keys [index][0], without))
            s_appendf (text, "    %s = %s\n", s_daemon_keys [index][0],
                       s_daemon_keys [index][1]);
    s_appendf (text, "%s", extra? extra: "");
    s_write (fx, DAEMON_FILE, text);
}

//  Any 64 hex digits: the loader checks the form, not the key
#define TEST_SIGN_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void
s_append_region (char *text, const char *id, const char *name,
                 const char *endpoint, const char *public_key)
{
    s_appendf (text, "    %s\n        name = \"%s\"\n        endpoint = \"%s\"\n"
               "        public_key = \"%s\"\n", id, name, endpoint, public_key);
    if (*public_key)
        s_appendf (text, "        sign_key = \"%s\"\n", TEST_SIGN_KEY);
}

//  Writes the valid directory (groningen and fryslan federated, drenthe a
//  placeholder), then the region blocks in extra.
static void
s_write_directory (const fixture_t *fx, const char *extra)
{
    static char text [TEXT_MAX];
    snprintf (text, sizeof (text), "directory\n");
    s_append_region (text, "groningen", "Zorg- en Veiligheidshuis Groningen",
                     "tcp://127.0.0.1:7101", fx->own_key);
    s_append_region (text, "fryslan", "Zorg- en Veiligheidshuis Fryslân",
                     "tcp://127.0.0.1:7102", fx->peer_key);
    s_append_region (text, "drenthe", "Zorg- en Veiligheidshuis Drenthe", "", "");
    s_appendf (text, "%s", extra? extra: "");
    s_write (fx, DIRECTORY_FILE, text);
}

static void
s_save_cert (const fixture_t *fx, const char *name, char *public_txt, char *secret_txt)
{
    char path [PATH_MAX];
    s_path (fx, name, path);
    zcert_t *cert = zcert_new ();
    assert_non_null (cert);
    assert_int_equal (zcert_save (cert, path), 0);
    strcpy (public_txt, zcert_public_txt (cert));
    if (secret_txt)
        strcpy (secret_txt, zcert_secret_txt (cert));
    zcert_destroy (&cert);
}

static void
s_new_public_key (char *public_txt)
{
    zcert_t *cert = zcert_new ();
    assert_non_null (cert);
    strcpy (public_txt, zcert_public_txt (cert));
    zcert_destroy (&cert);
}

//  Appends one partner entry; a NULL value leaves that key out.
static void
s_append_partner (char *text, const char *id, const char *role,
                  const char *public_key, const char *regions, const char *cases)
{
    s_appendf (text, "    %s\n", id);
    if (role)
        s_appendf (text, "        role = %s\n", role);
    if (public_key)
        s_appendf (text, "        public_key = \"%s\"\n", public_key);
    if (regions)
        s_appendf (text, "        regions = \"%s\"\n", regions);
    if (cases)
        s_appendf (text, "        cases = \"%s\"\n", cases);
}

//  Turns crisis signals on: the daemon file names the partners file, which
//  holds the four valid partners, then the entries in extra, then a views
//  section with the lines in views (the valid views when NULL).
static void
s_write_partners (const fixture_t *fx, const char *extra, const char *views)
{
    s_write_daemon (fx, NULL, SIGNAL_KEYS);
    static char text [TEXT_MAX];
    snprintf (text, sizeof (text), "partners\n");
    s_append_partner (text, "politie-noord", "police", fx->partner_key [0],
                      "groningen,fryslan", NULL);
    s_append_partner (text, "ggz-crisisdienst-noord", "crisis_service",
                      fx->partner_key [1], "groningen, drenthe", NULL);
    s_append_partner (text, "reclassering", "probation", fx->partner_key [2],
                      "*", NULL);
    s_append_partner (text, "casewatch", "operator", fx->partner_key [3],
                      NULL, "c-1,ZVH-2024.17_b");
    s_appendf (text, "%sviews\n%s", extra? extra: "", views? views: VALID_VIEWS);
    s_write (fx, PARTNERS_FILE, text);
}

static void
s_source_path (const char *name, char *path)
{
    const char *source_dir = getenv ("ZVH_SOURCE_DIR");
    if (!source_dir)
        fail_msg ("set ZVH_SOURCE_DIR to the source tree (CTest does)");
    int written = snprintf (path, PATH_MAX, "%s/%s", source_dir, name);
    assert_true (written > 0 && written < PATH_MAX);
}

//  Reads a file of the source tree into text (TEXT_MAX bytes).
static void
s_read_source (const char *name, char *text)
{
    char path [PATH_MAX];
    s_source_path (name, path);
    zfile_t *file = zfile_new (NULL, path);
    assert_non_null (file);
    assert_int_equal (zfile_input (file), 0);
    zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
    assert_non_null (chunk);
    assert_true (zchunk_size (chunk) < TEXT_MAX);
    memcpy (text, zchunk_data (chunk), zchunk_size (chunk));
    text [zchunk_size (chunk)] = '\0';
    zchunk_destroy (&chunk);
    zfile_destroy (&file);
}

static bool
s_verbose (void)
{
    return getenv ("ZVH_TEST_VERBOSE") != NULL;
}

static config_t *
s_load (fixture_t *fx)
{
    fx->config = config_load (fx->daemon_path, fx->errors);
    if (s_verbose ())
        for (char *error = zlist_first (fx->errors); error; error = zlist_next (fx->errors))
            print_message ("    %s\n", error);
    return fx->config;
}

//  True when one message holds every fragment given (NULL ends the list).
static bool
s_some_error_says (fixture_t *fx, const char *fragment, ...)
{
    for (char *error = zlist_first (fx->errors); error; error = zlist_next (fx->errors)) {
        bool all = true;
        va_list args;
        va_start (args, fragment);
        for (const char *part = fragment; part && all; part = va_arg (args, const char *))
            all = strstr (error, part) != NULL;
        va_end (args);
        if (all)
            return true;
    }
    return false;
}

static void
s_print_errors (fixture_t *fx)
{
    for (char *error = zlist_first (fx->errors); error; error = zlist_next (fx->errors))
        print_message ("    got: %s\n", error);
}

//  config_load must fail, and one message must name key and say words.
static void
s_assert_rejected (fixture_t *fx, const char *key, const char *words)
{
    assert_null (s_load (fx));
    bool found = s_some_error_says (fx, key, words, NULL);
    if (!found)
        s_print_errors (fx);
    assert_true (found);
}

static int
s_remove_entry (const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
    (void) info, (void) flag, (void) ftw;
    return remove (path);
}


//  --------------------------------------------------------------------------
//  Fixture

static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_non_null (fx);
    char template [] = TEMP_TEMPLATE;
    assert_non_null (mkdtemp (template));
    assert_non_null (realpath (template, fx->dir));
    assert_non_null (getcwd (fx->cwd, sizeof (fx->cwd)));
    s_path (fx, DAEMON_FILE, fx->daemon_path);
    char keys [PATH_MAX];
    s_path (fx, "keys", keys);
    assert_int_equal (mkdir (keys, S_IRWXU), 0);
    s_save_cert (fx, "keys/groningen.key", fx->own_key, NULL);
    s_save_cert (fx, "keys/fryslan.key", fx->peer_key, fx->peer_secret);
    char data_key [PATH_MAX];
    s_path (fx, OWN_DATA_KEY, data_key);
    s_write (fx, OWN_DATA_KEY, TEST_DATA_KEY);
    assert_int_equal (chmod (data_key, S_IRUSR | S_IWUSR), 0);
    for (size_t index = 0; index < PARTNER_KEYS; index++)
        s_new_public_key (fx->partner_key [index]);
    s_write_daemon (fx, NULL, NULL);
    s_write_directory (fx, NULL);
    fx->errors = zlist_new ();
    assert_non_null (fx->errors);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    config_destroy (&fx->config);
    while (zlist_size (fx->errors))
        free (zlist_pop (fx->errors));
    zlist_destroy (&fx->errors);
    assert_int_equal (chdir (fx->cwd), 0);
    nftw (fx->dir, s_remove_entry, OPEN_FILES_MAX, FTW_DEPTH | FTW_PHYS);
    free (fx);
    return 0;
}


//  --------------------------------------------------------------------------
//  Valid configurations

static void
test_valid_config_loads_with_defaults (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_int_equal (zlist_size (fx->errors), 0);
    assert_string_equal (config->region, "groningen");
    assert_string_equal (config->bind, "tcp://127.0.0.1:7101");
    assert_int_equal (config->map_size_mb, CONFIG_DEFAULT_MAP_SIZE_MB);
    assert_int_equal (config->map_max_mb, CONFIG_DEFAULT_MAP_MAX_MB);
    assert_int_equal (config->joint_phase_s, CONFIG_DEFAULT_JOINT_PHASE_S);
    assert_int_equal (config->heartbeat_ms, CONFIG_DEFAULT_HEARTBEAT_MS);
    assert_int_equal (config->peer_timeout_ms, CONFIG_DEFAULT_PEER_TIMEOUT_MS);
    assert_int_equal (config->retry_min_ms, CONFIG_DEFAULT_RETRY_MIN_MS);
    assert_int_equal (config->retry_max_ms, CONFIG_DEFAULT_RETRY_MAX_MS);
    assert_int_equal (config->window, CONFIG_DEFAULT_WINDOW);
    assert_int_equal (config->region_count, 3);
}

static void
test_given_numbers_override_defaults (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL,
        "    map_size_mb = 128\n    map_max_mb = 1024\n    joint_phase_s = 0\n"
        "    heartbeat_ms = 250\n    peer_timeout_ms = 900\n"
        "    retry_min_ms = 50\n    retry_max_ms = 5000\n    window = 8\n");
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_int_equal (config->map_size_mb, 128);
    assert_int_equal (config->map_max_mb, 1024);
    assert_int_equal (config->joint_phase_s, 0);
    assert_int_equal (config->heartbeat_ms, 250);
    assert_int_equal (config->peer_timeout_ms, 900);
    assert_int_equal (config->retry_min_ms, 50);
    assert_int_equal (config->retry_max_ms, 5000);
    assert_int_equal (config->window, 8);
}

static void
test_relative_paths_are_resolved_against_the_file (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    control = ipc://run/ctl.sock\n");
    config_t *config = s_load (fx);
    assert_non_null (config);
    char expected [PATH_MAX];
    s_path (fx, "data/groningen", expected);
    assert_string_equal (config->data_dir, expected);
    s_path (fx, OWN_SECRET, expected);
    assert_string_equal (config->secret_key, expected);
    s_path (fx, DIRECTORY_FILE, expected);
    assert_string_equal (config->directory, expected);
    char control [2 * PATH_MAX];
    snprintf (control, sizeof (control), "ipc://%s/run/ctl.sock", fx->dir);
    assert_string_equal (config->control, control);
}

static void
test_file_named_relative_to_cwd_resolves_paths_from_its_dir (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (chdir (fx->dir), 0);
    fx->config = config_load (DAEMON_FILE, fx->errors);
    assert_non_null (fx->config);
    char expected [PATH_MAX];
    s_path (fx, "data/groningen", expected);
    assert_string_equal (fx->config->data_dir, expected);
}

static void
test_absolute_paths_are_kept (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char directory [PATH_MAX];
    s_path (fx, DIRECTORY_FILE, directory);
    char extra [PATH_MAX + 64];
    snprintf (extra, sizeof (extra), "    directory = %s\n", directory);
    s_write_daemon (fx, "directory", extra);
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_string_equal (config->directory, directory);
}

static void
test_default_control_is_a_socket_in_data_dir (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    config_t *config = s_load (fx);
    assert_non_null (config);
    char expected [2 * PATH_MAX];
    snprintf (expected, sizeof (expected), "ipc://%s/data/groningen/control.sock", fx->dir);
    assert_string_equal (config->control, expected);
}

//  Issue 13: a tcp:// control socket let anyone who reached the port act as
//  the region's operator; refused with the reason, on every address
static void
test_tcp_control_endpoint_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  Without operator keys (PROTOCOL 9.1); with them: test_security
    s_write_daemon (fx, NULL, "    control = tcp://0.0.0.0:7301\n");
    s_assert_rejected (fx, "zvhd/control", "operator keys only");
    s_write_daemon (fx, NULL, "    control = tcp://127.0.0.1:7199\n");
    s_assert_rejected (fx, "zvhd/control", "zvhd/operators");
    s_write_daemon (fx, NULL, "    operators = operators.zpl\n");
    s_assert_rejected (fx, "zvhd/operators", "not tcp://");
}

//  The operators file of a tcp:// control endpoint (PROTOCOL 9.1): garbage
//  in each field is named; a good entry is found by its key.
static void
test_operators_file_is_checked (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *tcp = "    control = tcp://127.0.0.1:7199\n    operators = operators.zpl\n";
    char text [TEXT_MAX];
    snprintf (text, sizeof text, "operators\n    Anna\n        public_key = \"kort\"\n"
              "        access = \"alles\"\n        colour = \"blue\"\n"
              "    bert\n        public_key = \"%s\"\n        access = \"read-only\"\n",
              fx->peer_key);
    s_write (fx, "operators.zpl", text);
    s_write_daemon (fx, NULL, tcp);
    s_assert_rejected (fx, "operators/Anna", "not an operator id");
    assert_true (s_some_error_says (fx, "operators/Anna/public_key", "not a CURVE public key",
                                    NULL));
    assert_true (s_some_error_says (fx, "operators/Anna/access", "read-only", NULL));
    assert_true (s_some_error_says (fx, "operators/Anna/colour", "unknown key", NULL));
    assert_true (s_some_error_says (fx, "operators/bert/public_key", "own key pair", NULL));
    zcert_t *cert = zcert_new ();
    snprintf (text, sizeof text, "operators\n    anna\n        public_key = \"%s\"\n"
              "        access = \"read-write\"\n", zcert_public_txt (cert));
    s_write (fx, "operators.zpl", text);
    config_t *config = s_load (fx);
    assert_non_null (config);
    const config_operator_t *anna = config_operator_by_key (config, zcert_public_txt (cert));
    assert_non_null (anna);
    assert_string_equal (anna->id, "anna");
    assert_true (anna->read_write);
    assert_true (config_control_is_tcp (config));
    zcert_destroy (&cert);
}

static void
test_regions_are_found_by_id_and_by_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    config_t *config = s_load (fx);
    assert_non_null (config);
    const config_region_t *fryslan = config_region (config, "fryslan");
    assert_non_null (fryslan);
    assert_string_equal (fryslan->name, "Zorg- en Veiligheidshuis Fryslân");
    assert_true (config_region_is_federated (fryslan));
    assert_ptr_equal (config_region_by_key (config, fx->peer_key), fryslan);
    assert_string_equal (config_region_by_key (config, fx->own_key)->id, "groningen");
    assert_null (config_region (config, "atlantis"));
    assert_null (config_region_by_key (config, ""));
}

static void
test_placeholder_region_is_not_federated (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    config_t *config = s_load (fx);
    assert_non_null (config);
    const config_region_t *drenthe = config_region (config, "drenthe");
    assert_non_null (drenthe);
    assert_false (config_region_is_federated (drenthe));
}

static void
test_destroy_nulls_the_pointer (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    config_t *config = config_load (fx->daemon_path, fx->errors);
    assert_non_null (config);
    config_destroy (&config);
    assert_null (config);
    config_destroy (&config);           //  a second destroy is harmless
}

//  Copies the repository's regions.zpl with groningen's entry filled in.
static void
s_copy_repo_directory (fixture_t *fx, bool fill_in_own_region)
{
    char path [PATH_MAX];
    s_source_path ("config/regions.zpl", path);
    zconfig_t *directory = zconfig_load (path);
    assert_non_null (directory);
    zconfig_destroy (&directory);
    static char text [TEXT_MAX];
    s_read_source ("config/regions.zpl", text);
    if (fill_in_own_region) {
        //  The first endpoint and key after "groningen" are its own
        char *entry = strstr (text, "\n    groningen\n");
        assert_non_null (entry);
        static char filled [TEXT_MAX];
        char *endpoint = strstr (entry, "endpoint = \"\"");
        char *key = strstr (entry, "public_key = \"\"");
        assert_true (endpoint && key && endpoint < key);
        char *sign = strstr (entry, "sign_key = \"\"");
        assert_true (sign && key < sign);
        snprintf (filled, sizeof (filled), "%.*sendpoint = \"tcp://127.0.0.1:7101\"%.*s"
                  "public_key = \"%s\"%.*ssign_key = \"%s\"%s", (int) (endpoint - text), text,
                  (int) (key - endpoint - strlen ("endpoint = \"\"")),
                  endpoint + strlen ("endpoint = \"\""), fx->own_key,
                  (int) (sign - key - strlen ("public_key = \"\"")),
                  key + strlen ("public_key = \"\""), TEST_SIGN_KEY,
                  sign + strlen ("sign_key = \"\""));
        strcpy (text, filled);
    }
    s_write (fx, DIRECTORY_FILE, text);
}

static void
test_repo_regions_file_loads_with_31_regions (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_copy_repo_directory (fx, true);
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_int_equal (config->region_count, REPO_REGIONS);
    size_t placeholders = 0;
    for (size_t index = 0; index < config->region_count; index++)
        if (!config_region_is_federated (&config->regions [index]))
            placeholders++;
    assert_int_equal (placeholders, REPO_REGIONS - 1);
    assert_true (config_region_is_federated (config_region (config, "groningen")));
    assert_string_equal (config_region (config, "fryslan")->name,
                         "Zorg- en Veiligheidshuis Fryslân");
    assert_non_null (config_region (config, "parkstad"));
}

static void
test_repo_regions_file_only_lacks_our_own_entry (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_copy_repo_directory (fx, false);
    assert_null (s_load (fx));
    if (zlist_size (fx->errors) != 1)
        s_print_errors (fx);
    assert_int_equal (zlist_size (fx->errors), 1);
    assert_true (s_some_error_says (fx, "directory/groningen", "must be federated", NULL));
}


//  --------------------------------------------------------------------------
//  Files that are missing or not ZPL

static void
test_missing_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (remove (fx->daemon_path), 0);
    s_assert_rejected (fx, DAEMON_FILE, "No such file");
}

static void
test_directory_given_as_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_path (fx, "keys", fx->daemon_path);
    s_assert_rejected (fx, "keys", "not a regular file");
}

static void
test_empty_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, DAEMON_FILE, "");
    s_assert_rejected (fx, DAEMON_FILE, "is empty");
}

static void
test_binary_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    FILE *file = fopen (fx->daemon_path, "wb");
    assert_non_null (file);
    uint32_t noise = GARBAGE_SEED;
    for (size_t index = 0; index < GARBAGE_BYTES; index++) {
        noise ^= noise << 13, noise ^= noise >> 17, noise ^= noise << 5;
        fputc ((int) (noise & 0xff), file);
    }
    fclose (file);
    s_assert_rejected (fx, DAEMON_FILE, "is not text");
}

static void
test_megabyte_line_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    FILE *file = fopen (fx->daemon_path, "wb");
    assert_non_null (file);
    fputs ("zvhd\n    region = ", file);
    for (size_t index = 0; index < MEGABYTE; index++)
        fputc ('g', file);
    fclose (file);
    s_assert_rejected (fx, "line 2", "longer than 1024 bytes");
}

static void
test_oversized_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    FILE *file = fopen (fx->daemon_path, "wb");
    assert_non_null (file);
    for (size_t written = 0; written < OVERSIZED_BYTES; written += strlen ("#\n"))
        fputs ("#\n", file);
    fclose (file);
    s_assert_rejected (fx, DAEMON_FILE, "a configuration file is at most");
}

static void
test_windows_line_endings_are_accepted (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, DAEMON_FILE, "zvhd\r\n    region = groningen\r\n"
             "    data_dir = data/groningen\r\n    bind = tcp://127.0.0.1:7101\r\n"
             "    secret_key = " OWN_SECRET "\r\n    directory = \"" DIRECTORY_FILE "\"\r\n"
             "    data_key = " OWN_DATA_KEY "\r\n");
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_string_equal (config->bind, "tcp://127.0.0.1:7101");
}

static void
test_byte_order_mark_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, DAEMON_FILE, "\xEF\xBB\xBFzvhd\n    region = groningen\n");
    s_assert_rejected (fx, DAEMON_FILE, "byte order mark");
}

static void
test_bad_indentation_is_reported_with_its_line (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, DAEMON_FILE, "zvhd\n    region = groningen\n   bind = tcp://h:1\n");
    s_assert_rejected (fx, "line 3", "is not valid ZPL");
}

static void
test_tab_indentation_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, DAEMON_FILE, "zvhd\n\tregion = groningen\n");
    s_assert_rejected (fx, "line 2", "indented with a tab");
}

static void
test_misspelt_section_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, DAEMON_FILE, "zvdh\n    region = groningen\n");
    s_assert_rejected (fx, "zvdh", "not expected at the top level");
    assert_true (s_some_error_says (fx, "zvhd: missing", NULL));
}


//  --------------------------------------------------------------------------
//  Keys of the daemon file

static void
test_missing_required_keys_are_each_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "region data_dir bind secret_key directory data_key",
                    "    window = 8\n");
    assert_null (s_load (fx));
    for (size_t index = 0; index < DAEMON_KEY_COUNT; index++) {
        char where [PATH_MAX];
        snprintf (where, sizeof (where), "zvhd/%s: missing", s_daemon_keys [index][0]);
        assert_true (s_some_error_says (fx, where, NULL));
    }
}

static void
test_unknown_key_is_reported_with_the_known_ones (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    heartbeat_msec = 500\n");
    s_assert_rejected (fx, "zvhd/heartbeat_msec",
                       "unknown key 'heartbeat_msec'; known keys are region, ");
    assert_true (s_some_error_says (fx, "heartbeat_ms, peer_timeout_ms", NULL));
}

static void
test_key_set_twice_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    window = 8\n    window = 16\n");
    s_assert_rejected (fx, "zvhd/window", "set twice");
}

static void
test_key_with_nested_keys_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    window = 8\n        size = 16\n");
    s_assert_rejected (fx, "zvhd/window", "takes a value");
}

static void
test_non_integer_number_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    heartbeat_ms = abc\n    window = 1.5\n");
    s_assert_rejected (fx, DAEMON_FILE ": zvhd/heartbeat_ms: 'abc' is not a whole "
                       "number from 10 to 600000", NULL);
    assert_true (s_some_error_says (fx, "zvhd/window: '1.5' is not a whole number", NULL));
}

static void
test_number_below_range_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    heartbeat_ms = 5\n    window = -1\n");
    s_assert_rejected (fx, "zvhd/heartbeat_ms", "'5' is not a whole number");
    assert_true (s_some_error_says (fx, "zvhd/window", "'-1'", NULL));
}

static void
test_number_above_range_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    window = 65537\n"
                    "    map_max_mb = 99999999999999999999999999\n");
    s_assert_rejected (fx, "zvhd/window", "from 1 to 65536");
    assert_true (s_some_error_says (fx, "zvhd/map_max_mb", "not a whole number", NULL));
}

static void
test_retry_min_above_retry_max_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    retry_min_ms = 5000\n    retry_max_ms = 1000\n");
    s_assert_rejected (fx, "zvhd/retry_min_ms", "more than retry_max_ms");
}

static void
test_peer_timeout_not_above_heartbeat_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    heartbeat_ms = 2000\n    peer_timeout_ms = 2000\n");
    s_assert_rejected (fx, "zvhd/peer_timeout_ms", "not more than heartbeat_ms");
}

static void
test_map_size_above_map_max_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    map_size_mb = 2048\n    map_max_mb = 1024\n");
    s_assert_rejected (fx, "zvhd/map_size_mb", "more than map_max_mb");
}

static void
test_bad_region_id_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "region", "    region = Groningen!\n");
    s_assert_rejected (fx, "zvhd/region", "'Groningen!' is not a region id");
}

static void
test_bind_without_port_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "bind", "    bind = tcp://127.0.0.1\n");
    s_assert_rejected (fx, "zvhd/bind", "must look like tcp://host:port");
}

static void
test_bind_that_is_not_tcp_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "bind", "    bind = ipc://federation.sock\n");
    s_assert_rejected (fx, "zvhd/bind", "must look like tcp://host:port");
}

static void
test_control_with_unknown_transport_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    control = udp://127.0.0.1:7199\n");
    s_assert_rejected (fx, "zvhd/control", "must be ipc://path");
}

static void
test_control_socket_path_too_long_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char extra [PATH_MAX];
    snprintf (extra, sizeof (extra), "    data_dir = data/%0200d\n", 0);
    s_write_daemon (fx, "data_dir", extra);
    s_assert_rejected (fx, "zvhd/control", "set zvhd/control to a shorter ipc:// path");
}

static void
test_data_dir_that_is_a_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "data_dir", "    data_dir = " DAEMON_FILE "\n");
    s_assert_rejected (fx, "zvhd/data_dir", "is not a directory");
}

static void
test_missing_directory_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "directory", "    directory = nowhere.zpl\n");
    s_assert_rejected (fx, "zvhd/directory", "cannot read");
}


//  --------------------------------------------------------------------------
//  The directory

static void
test_bad_region_id_in_directory_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "Zeeland", "Zeeland", "", "");
    s_append_region (extra, "a123456789012345678901234567890123456789012345678901234567890123",
                     "Too long", "", "");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/Zeeland", "is not a region id");
    assert_true (s_some_error_says (fx, "directory/a1234", "is not a region id", NULL));
}

static void
test_duplicate_region_id_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "drenthe", "Drenthe again", "", "");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/drenthe", "listed twice");
}

static void
test_too_many_regions_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    for (int index = 3; index <= CONFIG_REGIONS_MAX; index++) {
        char id [CONFIG_ID_MAX];
        snprintf (id, sizeof (id), "region-%d", index);
        s_append_region (extra, id, id, "", "");
    }
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory", "lists 65 regions; zvhd supports at most 64");
}

static void
test_endpoint_with_unknown_transport_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "zeeland", "Zeeland", "http://zeeland.example:80",
                     "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/zeeland/endpoint", "must be tcp://host:port");
}

static void
test_wildcard_endpoint_in_directory_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "zeeland", "Zeeland", "tcp://*:7103",
                     "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/zeeland/endpoint", "is a bind address");
}

static void
test_endpoint_too_long_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char endpoint [CONFIG_ENDPOINT_MAX + 64];
    snprintf (endpoint, sizeof (endpoint), "tcp://%0*d:7101", CONFIG_ENDPOINT_MAX, 0);
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "zeeland", "Zeeland", endpoint,
                     "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/zeeland/endpoint", "at most 255 fit");
}

static void
test_public_key_of_wrong_length_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "zeeland", "Zeeland", "tcp://127.0.0.1:7103",
                     "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/zeeland/public_key", "is not a CURVE public key");
}

static void
test_public_key_that_is_not_z85_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "zeeland", "Zeeland", "tcp://127.0.0.1:7103",
                     "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8],f7");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/zeeland/public_key", "is not a CURVE public key");
}

static void
test_half_federated_region_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "zeeland", "Zeeland", "tcp://127.0.0.1:7103", "");
    s_append_region (extra, "twente", "Twente", "",
                     "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/zeeland", "has an endpoint but no public_key");
    assert_true (s_some_error_says (fx, "directory/twente",
                                    "has a public_key but no endpoint", NULL));
}

//  Issue 14: --check-config said OK for a federated region without
//  sign_key, whose events were then all refused
static void
test_federated_region_without_sign_key_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    snprintf (extra, sizeof (extra), "    zeeland\n        name = \"Zeeland\"\n"
              "        endpoint = \"tcp://127.0.0.1:7103\"\n"
              "        public_key = \"rq:rM>}U?@Lns47E1%%kR.o@n%%FcmmsL/@{H8]yf7\"\n");
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/zeeland", "has no sign_key");
    assert_true (s_some_error_says (fx, "directory/zeeland", "zvhctl keygen", NULL));
}

//  Issue 16: a secret key of mode 0644 was accepted (only data_key's mode
//  was checked); both secrets now get the same check and the same words
static void
test_secret_files_readable_by_others_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char path [PATH_MAX];
    s_path (fx, OWN_SECRET, path);
    assert_int_equal (chmod (path, 0644), 0);
    s_assert_rejected (fx, "zvhd/secret_key", "is readable by others (mode 644); chmod 600");
    assert_int_equal (chmod (path, 0600), 0);
    s_path (fx, OWN_DATA_KEY, path);
    assert_int_equal (chmod (path, 0640), 0);
    s_assert_rejected (fx, "zvhd/data_key", "is readable by others (mode 640); chmod 600");
}

static void
test_log_format_is_text_or_json (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    log_format = json\n");
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_true (config->log_json);
    config_destroy (&fx->config);
    s_write_daemon (fx, NULL, "    log_format = xml\n");
    s_assert_rejected (fx, "zvhd/log_format", "is not a log format: use text");
}

static void
test_duplicate_public_key_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_region (extra, "zeeland", "Zeeland", "tcp://127.0.0.1:7103", fx->peer_key);
    s_write_directory (fx, extra);
    s_assert_rejected (fx, "directory/zeeland/public_key", "same key as region 'fryslan'");
}

static void
test_region_without_name_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_directory (fx, "    zeeland\n        endpoint = \"\"\n");
    s_assert_rejected (fx, "directory/zeeland/name", "missing");
}

static void
test_unknown_key_in_directory_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_directory (fx, "    zeeland\n        name = Zeeland\n        pubkey = \"\"\n");
    s_assert_rejected (fx, "directory/zeeland/pubkey", "known keys are name, endpoint, public_key");
}

static void
test_own_region_missing_from_directory_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "region", "    region = zeeland\n");
    s_assert_rejected (fx, "zvhd/region", "'zeeland' is not in the directory");
}

static void
test_own_region_as_placeholder_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "region", "    region = drenthe\n");
    s_assert_rejected (fx, "directory/drenthe", "must be federated");
}


//  --------------------------------------------------------------------------
//  The key file

static void
test_missing_secret_key_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "secret_key", "    secret_key = keys/nobody.key_secret\n");
    s_assert_rejected (fx, "zvhd/secret_key", "cannot read");
}

static void
test_secret_key_file_that_is_not_a_cert_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, "keys/notes.txt", "shopping\n    milk = 2\n");
    s_write_daemon (fx, "secret_key", "    secret_key = keys/notes.txt\n");
    s_assert_rejected (fx, "zvhd/secret_key", "is not a CZMQ certificate");
}

static void
test_public_half_as_secret_key_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char public_cert [TEXT_MAX / 16];
    snprintf (public_cert, sizeof (public_cert), "curve\n    public-key = \"%s\"\n",
              fx->own_key);
    s_write (fx, "keys/public-only.cert", public_cert);
    s_write_daemon (fx, "secret_key", "    secret_key = keys/public-only.cert\n");
    s_assert_rejected (fx, "zvhd/secret_key", "holds no secret key");
}

static void
test_secret_key_not_belonging_to_its_public_key_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char cert [TEXT_MAX / 16];
    snprintf (cert, sizeof (cert), "curve\n    public-key = \"%s\"\n"
              "    secret-key = \"%s\"\n", fx->own_key, fx->peer_secret);
    s_write (fx, "keys/spliced.cert", cert);
    s_write_daemon (fx, "secret_key", "    secret_key = keys/spliced.cert\n");
    s_assert_rejected (fx, "zvhd/secret_key", "does not belong to the public key");
}

static void
test_secret_key_of_another_region_is_a_key_mismatch (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "secret_key", "    secret_key = " PEER_SECRET "\n");
    char words [2 * PATH_MAX];
    snprintf (words, sizeof (words), "key mismatch: the directory lists %s for region "
              "groningen but %s/%s holds %s; regenerate with zvhctl keygen or fix "
              "the directory", fx->own_key, fx->dir, PEER_SECRET, fx->peer_key);
    s_assert_rejected (fx, "zvhd/secret_key", words);
}


//  --------------------------------------------------------------------------
//  Crisis signals: settings, partners and views that load

static void
test_signal_settings_take_defaults_when_absent (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_string_equal (config->subscribe_bind, "");
    assert_string_equal (config->partners_file, "");
    assert_int_equal (config->retention_days, CONFIG_DEFAULT_RETENTION_DAYS);
    assert_int_equal (config->review_check_s, CONFIG_DEFAULT_REVIEW_CHECK_S);
    assert_int_equal (config->credit_max, CONFIG_DEFAULT_CREDIT_MAX);
    assert_int_equal (config->raise_per_min, CONFIG_DEFAULT_RAISE_PER_MIN);
    assert_int_equal (config->partner_count, 0);
    assert_int_equal (config->view_count, 0);
}

static void
test_given_signal_numbers_override_defaults (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    retention_days = 3650\n    review_check_s = 1\n"
                    "    credit_max = 65536\n    raise_per_min = 100000\n");
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_int_equal (config->retention_days, 3650);
    assert_int_equal (config->review_check_s, 1);
    assert_int_equal (config->credit_max, 65536);
    assert_int_equal (config->raise_per_min, 100000);
}

static void
test_partners_and_views_load (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_int_equal (zlist_size (fx->errors), 0);
    assert_string_equal (config->subscribe_bind, SUBSCRIBE_BIND);
    assert_int_equal (config->partner_count, PARTNER_KEYS);
    assert_int_equal (config->view_count, 4);
    const config_partner_t *police = &config->partners [0];
    assert_string_equal (police->id, "politie-noord");
    assert_string_equal (police->role, "police");
    assert_string_equal (police->public_key, fx->partner_key [0]);
    assert_false (police->all_regions);
    assert_int_equal (police->region_count, 2);
    assert_string_equal (police->regions [0], "groningen");
    assert_string_equal (police->regions [1], "fryslan");
    assert_int_equal (police->case_count, 0);
}

static void
test_partners_file_is_resolved_against_the_daemon_file (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    config_t *config = s_load (fx);
    assert_non_null (config);
    char expected [PATH_MAX];
    s_path (fx, PARTNERS_FILE, expected);
    assert_string_equal (config->partners_file, expected);
}

static void
test_spaces_around_list_items_are_ignored (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    config_t *config = s_load (fx);
    assert_non_null (config);
    const config_partner_t *crisis = config_partner_by_key (config, fx->partner_key [1]);
    assert_string_equal (crisis->regions [1], "drenthe");
    const config_view_t *probation = config_view (config, "probation");
    assert_int_equal (probation->field_count, 4);
    assert_string_equal (probation->fields [3], "kind");
}

static void
test_star_covers_all_regions (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    config_t *config = s_load (fx);
    assert_non_null (config);
    const config_partner_t *probation = config_partner_by_key (config, fx->partner_key [2]);
    assert_true (probation->all_regions);
    assert_int_equal (probation->region_count, 0);
}

static void
test_partner_may_follow_cases_without_regions (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    config_t *config = s_load (fx);
    assert_non_null (config);
    const config_partner_t *watcher = config_partner_by_key (config, fx->partner_key [3]);
    assert_false (watcher->all_regions);
    assert_int_equal (watcher->region_count, 0);
    assert_int_equal (watcher->case_count, 2);
    assert_string_equal (watcher->cases [0], "c-1");
    assert_string_equal (watcher->cases [1], "ZVH-2024.17_b");
}

static void
test_partners_are_found_by_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    config_t *config = s_load (fx);
    assert_non_null (config);
    const config_partner_t *crisis = config_partner_by_key (config, fx->partner_key [1]);
    assert_non_null (crisis);
    assert_string_equal (crisis->id, "ggz-crisisdienst-noord");
    assert_string_equal (crisis->role, "crisis_service");
    assert_null (config_partner_by_key (config, fx->own_key));    //  a region's
    assert_null (config_partner_by_key (config, ""));
    assert_null (config_partner_by_key (config, NULL));
}

static void
test_views_are_found_by_role_and_list_their_fields (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    config_t *config = s_load (fx);
    assert_non_null (config);
    const config_view_t *police = config_view (config, "police");
    assert_non_null (police);
    assert_string_equal (police->role, "police");
    assert_int_equal (police->field_count, 14);
    assert_true (config_view_has (police, "partner_ref"));
    assert_true (config_view_has (police, "previous_region"));
    assert_false (config_view_has (police, "text"));
    assert_false (config_view_has (police, "case_id"));
    assert_false (config_view_has (police, NULL));
    assert_true (config_view_has (config_view (config, "crisis_service"), "text"));
    assert_null (config_view (config, "region"));
    assert_null (config_view (config, "journalist"));
}

//  The names of the fields in message SignalView of proto/zvh.proto,
//  comma separated; not its proof, which no view lists (PROTOCOL 8.2).
static size_t
s_signal_view_fields (char *names, size_t size)
{
    static char proto [TEXT_MAX];
    s_read_source ("proto/zvh.proto", proto);
    char *line = strstr (proto, "\nmessage SignalView {\n");
    assert_non_null (line);
    line = strchr (line + 1, '\n') + 1;
    size_t count = 0;
    names [0] = '\0';
    for (; *line != '}'; line = strchr (line, '\n') + 1) {
        char *equals = strstr (line, " = ");
        assert_true (equals && equals < strchr (line, '\n'));
        if (strncmp (line, "  SignalProof ", strlen ("  SignalProof ")) == 0)
            continue;
        char *name = equals;
        while (name [-1] != ' ')
            name--;
        size_t used = strlen (names);
        snprintf (names + used, size - used, "%s%.*s", count? ",": "",
                  (int) (equals - name), name);
        count++;
    }
    return count;
}

static void
test_every_signal_view_field_of_the_proto_is_accepted (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char names [TEXT_MAX / 16];
    size_t count = s_signal_view_fields (names, sizeof (names));
    assert_int_equal (count, VIEW_FIELDS);
    char views [TEXT_MAX / 8];
    snprintf (views, sizeof (views), POLICE_LINE CRISIS_LINE PROBATION_LINE
              "    operator = \"%s\"\n", names);
    s_write_partners (fx, NULL, views);
    config_t *config = s_load (fx);
    if (!config)
        s_print_errors (fx);
    assert_non_null (config);
    assert_int_equal (config_view (config, "operator")->field_count, count);
}

static void
test_repo_partners_example_loads (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_copy_repo_directory (fx, true);
    char example [PATH_MAX];
    s_source_path ("config/partners.example.zpl", example);
    char extra [2 * PATH_MAX];
    snprintf (extra, sizeof (extra), "    subscribe_bind = tcp://0.0.0.0:7201\n"
              "    partners = %s\n", example);
    s_write_daemon (fx, NULL, extra);
    config_t *config = s_load (fx);
    if (!config)
        s_print_errors (fx);
    assert_non_null (config);
    assert_string_equal (config->partners_file, example);
    assert_int_equal (config->partner_count, 4);
    assert_int_equal (config->view_count, 4);
    const char *const roles [] = { "police", "crisis_service", "probation", "operator" };
    for (size_t index = 0; index < config->partner_count; index++)
        assert_string_equal (config->partners [index].role, roles [index]);
    assert_int_equal (config->partners [0].region_count, 3);
    assert_int_equal (config->partners [1].region_count, 2);
    assert_true (config->partners [2].all_regions);
    assert_string_equal (config->partners [3].regions [0], "groningen");
    const config_view_t *police = config_view (config, "police");
    assert_false (config_view_has (police, "case_id"));
    assert_false (config_view_has (police, "text"));
    assert_false (config_view_has (police, "raised_by"));
    assert_true (config_view_has (config_view (config, "crisis_service"), "text"));
    assert_int_equal (config_view (config, "crisis_service")->field_count,
                      police->field_count + 1);
    assert_int_equal (config_view (config, "probation")->field_count,
                      police->field_count);
    assert_int_equal (config_view (config, "operator")->field_count, VIEW_FIELDS);
}


//  --------------------------------------------------------------------------
//  Crisis signals: mistakes in the daemon file

static void
test_subscribe_bind_without_partners_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    subscribe_bind = " SUBSCRIBE_BIND "\n");
    s_assert_rejected (fx, "zvhd/subscribe_bind", "is set but zvhd/partners is not");
}

static void
test_partners_without_subscribe_bind_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    s_write_daemon (fx, NULL, "    partners = " PARTNERS_FILE "\n");
    s_assert_rejected (fx, "zvhd/partners", "is set but zvhd/subscribe_bind is not");
}

static void
test_subscribe_bind_that_is_not_tcp_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    s_write_daemon (fx, NULL, "    subscribe_bind = ipc://partners.sock\n"
                    "    partners = " PARTNERS_FILE "\n");
    s_assert_rejected (fx, "zvhd/subscribe_bind", "must look like tcp://host:port");
}

static void
test_subscribe_bind_on_the_federation_port_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    s_write_daemon (fx, NULL, "    subscribe_bind = tcp://*:7101\n"
                    "    partners = " PARTNERS_FILE "\n");
    s_assert_rejected (fx, "zvhd/subscribe_bind", "takes the port of zvhd/bind");
}

static void
test_signal_numbers_out_of_range_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    retention_days = 0\n    review_check_s = 86401\n"
                    "    credit_max = 65537\n    link_retention_days = 366\n"
                    "    raise_per_min = 0\n");
    s_assert_rejected (fx, "zvhd/retention_days", "from 1 to 3650");
    assert_true (s_some_error_says (fx, "zvhd/review_check_s", "from 1 to 86400", NULL));
    assert_true (s_some_error_says (fx, "zvhd/credit_max", "from 1 to 65536", NULL));
    assert_true (s_some_error_says (fx, "zvhd/raise_per_min", "from 1 to 100000", NULL));
    assert_true (s_some_error_says (fx, "zvhd/link_retention_days", "from 0 to 365", NULL));
}

//  --------------------------------------------------------------------------
//  Operations: the metrics endpoint and the health check

static void
test_metrics_settings_take_defaults_when_absent (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_string_equal (config->metrics_bind, "");
    assert_int_equal (config->health_peer_s, CONFIG_DEFAULT_HEALTH_PEER_S);
}

static void
test_metrics_bind_and_health_peer_s_load (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    metrics_bind = \"127.0.0.1:9101\"\n"
                    "    health_peer_s = 86400\n");
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_string_equal (config->metrics_bind, "127.0.0.1:9101");
    assert_int_equal (config->health_peer_s, 86400);
}

static void
test_metrics_bind_may_be_ipv6 (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    metrics_bind = \"[::1]:9101\"\n");
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_string_equal (config->metrics_bind, "[::1]:9101");
}

//  Each of these is refused on its own, naming the key and the right form.
static void
test_metrics_bind_that_is_not_address_and_port_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *const wrong [] = {
        "localhost:9101", "tcp://127.0.0.1:9101", "127.0.0.1", "127.0.0.1:0",
        "127.0.0.1:65536", ":9101", "[::1:9101", "127.0.0.1:91o1"
    };
    for (size_t index = 0; index < sizeof (wrong) / sizeof (wrong [0]); index++) {
        char extra [256];
        snprintf (extra, sizeof (extra), "    metrics_bind = \"%s\"\n", wrong [index]);
        s_write_daemon (fx, NULL, extra);
        if (s_verbose ())
            print_message ("  metrics_bind = %s\n", wrong [index]);
        s_assert_rejected (fx, "zvhd/metrics_bind", "must be address:port");
        while (zlist_size (fx->errors))
            free (zlist_pop (fx->errors));
    }
}

static void
test_metrics_bind_on_the_federation_port_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    metrics_bind = \"0.0.0.0:7101\"\n");
    s_assert_rejected (fx, "zvhd/metrics_bind", "takes the port of zvhd/bind");
}

static void
test_metrics_bind_on_the_partner_port_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    s_write_daemon (fx, NULL, SIGNAL_KEYS "    metrics_bind = \"127.0.0.1:7201\"\n");
    s_assert_rejected (fx, "zvhd/metrics_bind", "takes the port of zvhd/subscribe_bind");
}

static void
test_health_peer_s_out_of_range_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    health_peer_s = 0\n");
    s_assert_rejected (fx, "zvhd/health_peer_s", "from 1 to 86400");
    while (zlist_size (fx->errors))
        free (zlist_pop (fx->errors));
    s_write_daemon (fx, NULL, "    health_peer_s = 86401\n");
    s_assert_rejected (fx, "zvhd/health_peer_s", "from 1 to 86400");
}

static void
test_status_interval_s_out_of_range_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, "    status_interval_s = 0\n");
    s_assert_rejected (fx, "zvhd/status_interval_s", "from 1 to 3600");
    while (zlist_size (fx->errors))
        free (zlist_pop (fx->errors));
    s_write_daemon (fx, NULL, "    status_interval_s = often\n");
    s_assert_rejected (fx, "zvhd/status_interval_s", "often");
}

static void
test_missing_partners_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, SIGNAL_KEYS);
    s_assert_rejected (fx, "zvhd/partners", "cannot read");
}


//  --------------------------------------------------------------------------
//  Crisis signals: mistakes in the partners file

static void
test_partners_file_without_views_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, SIGNAL_KEYS);
    s_write (fx, PARTNERS_FILE, "partners\n");
    s_assert_rejected (fx, PARTNERS_FILE ": views", "missing");
}

static void
test_unknown_section_in_partners_file_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, VALID_VIEWS "view\n    police = \"seq\"\n");
    s_assert_rejected (fx, PARTNERS_FILE ": view", "only the sections partners, views");
}

static void
test_bad_partner_id_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "Politie_Zuid", "police", key, "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/Politie_Zuid", "is not a partner id");
}

static void
test_duplicate_partner_id_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-noord", "police", key, "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-noord", "listed twice");
}

static void
test_unknown_key_in_partner_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, "    politie-noord\n        region = groningen\n", NULL);
    s_assert_rejected (fx, "partners/politie-noord/region",
                       "known keys are role, public_key, public_key_next, regions, cases");
}

static void
test_unknown_role_is_reported_with_the_roles (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", "cops", key, "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, PARTNERS_FILE ": partners/politie-zuid/role: 'cops' is "
                       "not a role; use one of police, crisis_service, probation, "
                       "operator", NULL);
}

static void
test_region_role_for_a_partner_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "zeeland", "region", key, "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/zeeland/role", "regions are listed in the directory");
}

static void
test_partner_without_role_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", NULL, key, "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/role", "missing; set it to one of police");
}

static void
test_partner_without_key_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_partner (extra, "politie-zuid", "police", NULL, "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/public_key", "missing");
}

static void
test_partner_key_that_is_not_z85_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_partner (extra, "politie-zuid", "police",
                      "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8],f7", "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/public_key", "is not a CURVE public key");
}

static void
test_duplicate_partner_key_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_partner (extra, "politie-zuid", "police", fx->partner_key [0],
                      "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/public_key",
                       "same key as partner 'politie-noord'");
}

static void
test_partner_with_a_region_key_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_partner (extra, "politie-zuid", "police", fx->peer_key, "drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/public_key",
                       "same key as region 'fryslan' in the directory");
}

static void
test_region_not_in_directory_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zeeland", "police", key, "drenthe,zeeland", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zeeland/regions",
                       "'zeeland' is not a region in the directory");
}

static void
test_star_with_other_regions_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", "police", key, "*,drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/regions", "so it stands alone");
}

static void
test_region_listed_twice_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", "police", key, "drenthe,drenthe", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/regions", "'drenthe' is listed twice");
}

static void
test_empty_item_in_a_list_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", "police", key, "drenthe,", NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/regions", "has an empty item");
}

static void
test_partner_without_regions_or_cases_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", "police", key, NULL, NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/regions", "missing; list the regions");
}

static void
test_bad_case_id_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", "police", key, NULL, "c-1,c/2");
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/cases", "'c/2' is not a case id");
}

//  A list of count items, "<prefix>1,<prefix>2,...".
static void
s_make_list (char *list, size_t size, const char *prefix, int count)
{
    list [0] = '\0';
    for (int index = 1; index <= count; index++) {
        size_t used = strlen (list);
        int written = snprintf (list + used, size - used, "%s%s%d",
                                index > 1? ",": "", prefix, index);
        assert_true (written > 0 && (size_t) written < size - used);
    }
}

static void
test_too_many_regions_for_a_partner_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char regions [TEXT_MAX / 16];
    s_make_list (regions, sizeof (regions), "r", CONFIG_COVER_MAX + 1);
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", "police", key, regions, NULL);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/regions",
                       "lists 33 regions; a partner lists at most 32");
}

static void
test_too_many_cases_for_a_partner_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char cases [TEXT_MAX / 16];
    s_make_list (cases, sizeof (cases), "c-", CONFIG_COVER_MAX + 1);
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    s_new_public_key (key);
    s_append_partner (extra, "politie-zuid", "police", key, NULL, cases);
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, "partners/politie-zuid/cases",
                       "lists 33 cases; a partner lists at most 32");
}

static void
test_too_many_partners_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    for (int index = PARTNER_KEYS; index <= CONFIG_PARTNERS_MAX; index++) {
        char id [CONFIG_ID_MAX];
        char key [CONFIG_KEY_Z85_LEN + 1];
        snprintf (id, sizeof (id), "partner-%d", index);
        s_new_public_key (key);
        s_append_partner (extra, id, "probation", key, "*", NULL);
    }
    s_write_partners (fx, extra, NULL);
    s_assert_rejected (fx, PARTNERS_FILE ": partners",
                       "lists 257 partners; zvhd supports at most 256");
    assert_int_equal (zlist_size (fx->errors), 1);
}

static void
test_unknown_view_field_is_reported_with_the_valid_ones (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, CRISIS_LINE PROBATION_LINE OPERATOR_LINE
                      "    police = \"seq,type,event_id,adress\"\n");
    s_assert_rejected (fx, "views/police", "'adress' is not a field of SignalView");
    assert_true (s_some_error_says (fx, "use any of seq, type, event_id, case_id, "
                                    "region, national, kind, urgency, severity, "
                                    "certainty, text, raised_by, raised_role, "
                                    "time_ms, partner_ref, actions, "
                                    "coordinator_contact, previous_region, "
                                    "review_date", NULL));
}

static void
test_view_for_unknown_role_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, VALID_VIEWS "    journalist = \"seq,type,event_id\"\n");
    s_assert_rejected (fx, "views/journalist", "'journalist' is not a partner role");
}

static void
test_view_for_the_region_role_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, VALID_VIEWS "    region = \"seq,type,event_id\"\n");
    s_assert_rejected (fx, "views/region", "'region' is not a partner role");
}

static void
test_duplicate_view_field_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, CRISIS_LINE PROBATION_LINE OPERATOR_LINE
                      "    police = \"seq,type,event_id,kind,kind\"\n");
    s_assert_rejected (fx, "views/police", "'kind' is listed twice");
}

static void
test_view_without_seq_type_or_event_id_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, CRISIS_LINE PROBATION_LINE OPERATOR_LINE
                      "    police = \"kind,urgency\"\n");
    s_assert_rejected (fx, "views/police", "lacks 'seq'; every view must list seq, "
                       "type and event_id, which a subscriber needs to resume");
    assert_true (s_some_error_says (fx, "views/police", "lacks 'type'", NULL));
    assert_true (s_some_error_says (fx, "views/police", "lacks 'event_id'", NULL));
}

static void
test_empty_view_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, CRISIS_LINE PROBATION_LINE OPERATOR_LINE
                      "    police = \"\"\n");
    s_assert_rejected (fx, "views/police", "is empty");
}

static void
test_view_set_twice_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, VALID_VIEWS "    police = \"seq,type,event_id\"\n");
    s_assert_rejected (fx, "views/police", "set twice");
}

static void
test_too_many_view_fields_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char fields [TEXT_MAX / 16];
    s_make_list (fields, sizeof (fields), "f", CONFIG_VIEW_FIELDS_MAX + 1);
    char views [TEXT_MAX / 8];
    snprintf (views, sizeof (views), CRISIS_LINE PROBATION_LINE OPERATOR_LINE
              "    police = \"%s\"\n", fields);
    s_write_partners (fx, NULL, views);
    s_assert_rejected (fx, "views/police", "lists 33 fields; a view holds at most 32");
}

static void
test_too_many_views_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char views [TEXT_MAX];
    snprintf (views, sizeof (views), VALID_VIEWS);
    for (int index = 4; index < CONFIG_VIEWS_MAX + 1; index++)
        s_appendf (views, "    role-%d = \"seq,type,event_id\"\n", index);
    s_write_partners (fx, NULL, views);
    s_assert_rejected (fx, PARTNERS_FILE ": views", "lists 17 views; zvhd supports at most 16");
}

static void
test_role_without_view_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, POLICE_LINE CRISIS_LINE OPERATOR_LINE);
    s_assert_rejected (fx, "partners/reclassering/role", "partner reclassering has "
                       "role probation but the views section has no probation view");
}

static void
test_all_partner_problems_are_reported_at_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    s_append_partner (extra, "politie-zuid", "cops", "short", "zeeland", "c/1");
    s_write_partners (fx, extra, CRISIS_LINE PROBATION_LINE OPERATOR_LINE
                      "    police = \"seq,type,colour\"\n");
    assert_null (s_load (fx));
    assert_true (s_some_error_says (fx, "partners/politie-zuid/role", NULL));
    assert_true (s_some_error_says (fx, "partners/politie-zuid/public_key", NULL));
    assert_true (s_some_error_says (fx, "partners/politie-zuid/regions", NULL));
    assert_true (s_some_error_says (fx, "partners/politie-zuid/cases", NULL));
    assert_true (s_some_error_says (fx, "views/police", "'colour'", NULL));
    assert_true (s_some_error_says (fx, "views/police", "lacks 'event_id'", NULL));
}


//  --------------------------------------------------------------------------
//  The revocation list

#define REVOKED_FILE      "revoked.txt"
#define REVOKED_KEY       "    revoked = " REVOKED_FILE "\n"

//  A quoted key, a bare one, comments and blank lines: the two keys are
//  revoked, and a lookup by a revoked key finds nothing.
static void
test_revocation_list_loads_quoted_and_bare_keys (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_partners (fx, NULL, NULL);
    s_write_daemon (fx, NULL, SIGNAL_KEYS REVOKED_KEY);
    char text [TEXT_MAX];
    snprintf (text, sizeof text, "# revoked CURVE keys\n\n  \"%s\"  # fryslan\n%s\n",
              fx->peer_key, fx->partner_key [1]);
    s_write (fx, REVOKED_FILE, text);
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_int_equal (config->revoked_count, 2);
    assert_true (config_is_revoked (config, fx->peer_key));
    assert_true (config_is_revoked (config, fx->partner_key [1]));
    assert_false (config_is_revoked (config, fx->own_key));
    assert_null (config_region_by_key (config, fx->peer_key));
    assert_non_null (config_region (config, "fryslan"));
    assert_null (config_partner_by_key (config, fx->partner_key [1]));
    assert_non_null (config_partner_by_key (config, fx->partner_key [0]));
}

static void
test_empty_revocation_list_revokes_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, REVOKED_KEY);
    s_write (fx, REVOKED_FILE, "");
    config_t *config = s_load (fx);
    assert_non_null (config);
    assert_int_equal (config->revoked_count, 0);
}

static void
test_bad_key_in_revocation_list_is_reported_with_its_line (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, REVOKED_KEY);
    char text [TEXT_MAX];
    snprintf (text, sizeof text, "\"%s\"\nkort\n", fx->peer_key);
    s_write (fx, REVOKED_FILE, text);
    s_assert_rejected (fx, "zvhd/revoked", "line 2: 'kort' is not a Z85 CURVE public key");
    assert_true (s_some_error_says (fx, REVOKED_FILE ": zvhd/revoked", NULL));
}

static void
test_missing_revocation_list_is_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, REVOKED_KEY);
    s_assert_rejected (fx, "zvhd/revoked", "cannot read");
    assert_true (s_some_error_says (fx, REVOKED_FILE, "fix the path or create the file",
                                    NULL));
}

static void
test_too_many_revoked_keys_are_reported (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, NULL, REVOKED_KEY);
    static char text [(CONFIG_REVOKED_MAX + 1) * (CONFIG_KEY_Z85_LEN + 1) + 1];
    text [0] = '\0';
    char key [CONFIG_KEY_Z85_LEN + 1];
    for (size_t index = 0; index <= CONFIG_REVOKED_MAX; index++) {
        s_new_public_key (key);
        strcat (text, key);
        strcat (text, "\n");
    }
    s_write (fx, REVOKED_FILE, text);
    s_assert_rejected (fx, "zvhd/revoked", "more than 1024 revoked keys");
}


//  --------------------------------------------------------------------------
//  Reporting

static void
test_all_problems_are_reported_at_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "region bind", "    region = North\n    windw = 8\n"
                    "    heartbeat_ms = often\n");
    s_write_directory (fx, "    zeeland\n        endpoint = tcp://127.0.0.1:7103\n");
    assert_null (s_load (fx));
    assert_true (s_some_error_says (fx, "zvhd/region", NULL));
    assert_true (s_some_error_says (fx, "zvhd/bind", NULL));
    assert_true (s_some_error_says (fx, "zvhd/windw", NULL));
    assert_true (s_some_error_says (fx, "zvhd/heartbeat_ms", NULL));
    assert_true (s_some_error_says (fx, "directory/zeeland/name", NULL));
    assert_true (s_some_error_says (fx, "directory/zeeland", "no public_key", NULL));
}

static void
test_flood_of_errors_is_cut_short (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static char extra [TEXT_MAX];
    extra [0] = '\0';
    for (int index = 0; index < FLOOD_KEYS; index++)
        s_appendf (extra, "    typo%d = 1\n", index);
    s_write_daemon (fx, NULL, extra);
    assert_null (s_load (fx));
    assert_true (zlist_size (fx->errors) < FLOOD_KEYS);
    assert_non_null (strstr (zlist_tail (fx->errors), "fix the ones above first"));
}

static void
test_errors_list_is_optional (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_daemon (fx, "region", NULL);
    assert_null (config_load (fx->daemon_path, NULL));
}

static void
test_autofree_errors_list_gets_every_message (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zlist_t *errors = zlist_new ();
    zlist_autofree (errors);
    s_write_daemon (fx, "region bind", NULL);
    assert_null (config_load (fx->daemon_path, errors));
    assert_int_equal (zlist_size (errors), 2);
    zlist_destroy (&errors);
}


int
main (void)
{
#   define TEST(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
    const struct CMUnitTest tests [] = {
        TEST (test_valid_config_loads_with_defaults),
        TEST (test_given_numbers_override_defaults),
        TEST (test_relative_paths_are_resolved_against_the_file),
        TEST (test_file_named_relative_to_cwd_resolves_paths_from_its_dir),
        TEST (test_absolute_paths_are_kept),
        TEST (test_default_control_is_a_socket_in_data_dir),
        TEST (test_tcp_control_endpoint_is_refused),
        TEST (test_operators_file_is_checked),
        TEST (test_regions_are_found_by_id_and_by_key),
        TEST (test_placeholder_region_is_not_federated),
        TEST (test_destroy_nulls_the_pointer),
        TEST (test_repo_regions_file_loads_with_31_regions),
        TEST (test_repo_regions_file_only_lacks_our_own_entry),
        TEST (test_missing_file_is_reported),
        TEST (test_directory_given_as_file_is_reported),
        TEST (test_empty_file_is_reported),
        TEST (test_binary_file_is_reported),
        TEST (test_megabyte_line_is_reported),
        TEST (test_oversized_file_is_reported),
        TEST (test_windows_line_endings_are_accepted),
        TEST (test_byte_order_mark_is_reported),
        TEST (test_bad_indentation_is_reported_with_its_line),
        TEST (test_tab_indentation_is_reported),
        TEST (test_misspelt_section_is_reported),
        TEST (test_missing_required_keys_are_each_reported),
        TEST (test_unknown_key_is_reported_with_the_known_ones),
        TEST (test_key_set_twice_is_reported),
        TEST (test_key_with_nested_keys_is_reported),
        TEST (test_non_integer_number_is_reported),
        TEST (test_number_below_range_is_reported),
        TEST (test_number_above_range_is_reported),
        TEST (test_retry_min_above_retry_max_is_reported),
        TEST (test_peer_timeout_not_above_heartbeat_is_reported),
        TEST (test_map_size_above_map_max_is_reported),
        TEST (test_bad_region_id_is_reported),
        TEST (test_bind_without_port_is_reported),
        TEST (test_bind_that_is_not_tcp_is_reported),
        TEST (test_control_with_unknown_transport_is_reported),
        TEST (test_control_socket_path_too_long_is_reported),
        TEST (test_data_dir_that_is_a_file_is_reported),
        TEST (test_missing_directory_file_is_reported),
        TEST (test_bad_region_id_in_directory_is_reported),
        TEST (test_duplicate_region_id_is_reported),
        TEST (test_too_many_regions_are_reported),
        TEST (test_endpoint_with_unknown_transport_is_reported),
        TEST (test_wildcard_endpoint_in_directory_is_reported),
        TEST (test_endpoint_too_long_is_reported),
        TEST (test_public_key_of_wrong_length_is_reported),
        TEST (test_public_key_that_is_not_z85_is_reported),
        TEST (test_half_federated_region_is_reported),
        TEST (test_federated_region_without_sign_key_is_reported),
        TEST (test_secret_files_readable_by_others_are_reported),
        TEST (test_log_format_is_text_or_json),
        TEST (test_duplicate_public_key_is_reported),
        TEST (test_region_without_name_is_reported),
        TEST (test_unknown_key_in_directory_is_reported),
        TEST (test_own_region_missing_from_directory_is_reported),
        TEST (test_own_region_as_placeholder_is_reported),
        TEST (test_missing_secret_key_file_is_reported),
        TEST (test_secret_key_file_that_is_not_a_cert_is_reported),
        TEST (test_public_half_as_secret_key_is_reported),
        TEST (test_secret_key_not_belonging_to_its_public_key_is_reported),
        TEST (test_secret_key_of_another_region_is_a_key_mismatch),
        TEST (test_signal_settings_take_defaults_when_absent),
        TEST (test_given_signal_numbers_override_defaults),
        TEST (test_partners_and_views_load),
        TEST (test_partners_file_is_resolved_against_the_daemon_file),
        TEST (test_spaces_around_list_items_are_ignored),
        TEST (test_star_covers_all_regions),
        TEST (test_partner_may_follow_cases_without_regions),
        TEST (test_partners_are_found_by_key),
        TEST (test_views_are_found_by_role_and_list_their_fields),
        TEST (test_every_signal_view_field_of_the_proto_is_accepted),
        TEST (test_repo_partners_example_loads),
        TEST (test_subscribe_bind_without_partners_is_reported),
        TEST (test_partners_without_subscribe_bind_is_reported),
        TEST (test_subscribe_bind_that_is_not_tcp_is_reported),
        TEST (test_subscribe_bind_on_the_federation_port_is_reported),
        TEST (test_signal_numbers_out_of_range_are_reported),
        TEST (test_metrics_settings_take_defaults_when_absent),
        TEST (test_metrics_bind_and_health_peer_s_load),
        TEST (test_metrics_bind_may_be_ipv6),
        TEST (test_metrics_bind_that_is_not_address_and_port_is_reported),
        TEST (test_metrics_bind_on_the_federation_port_is_reported),
        TEST (test_metrics_bind_on_the_partner_port_is_reported),
        TEST (test_health_peer_s_out_of_range_is_reported),
        TEST (test_status_interval_s_out_of_range_is_reported),
        TEST (test_missing_partners_file_is_reported),
        TEST (test_partners_file_without_views_is_reported),
        TEST (test_unknown_section_in_partners_file_is_reported),
        TEST (test_bad_partner_id_is_reported),
        TEST (test_duplicate_partner_id_is_reported),
        TEST (test_unknown_key_in_partner_is_reported),
        TEST (test_unknown_role_is_reported_with_the_roles),
        TEST (test_region_role_for_a_partner_is_reported),
        TEST (test_partner_without_role_is_reported),
        TEST (test_partner_without_key_is_reported),
        TEST (test_partner_key_that_is_not_z85_is_reported),
        TEST (test_duplicate_partner_key_is_reported),
        TEST (test_partner_with_a_region_key_is_reported),
        TEST (test_region_not_in_directory_is_reported),
        TEST (test_star_with_other_regions_is_reported),
        TEST (test_region_listed_twice_is_reported),
        TEST (test_empty_item_in_a_list_is_reported),
        TEST (test_partner_without_regions_or_cases_is_reported),
        TEST (test_bad_case_id_is_reported),
        TEST (test_too_many_regions_for_a_partner_are_reported),
        TEST (test_too_many_cases_for_a_partner_are_reported),
        TEST (test_too_many_partners_are_reported),
        TEST (test_unknown_view_field_is_reported_with_the_valid_ones),
        TEST (test_view_for_unknown_role_is_reported),
        TEST (test_view_for_the_region_role_is_reported),
        TEST (test_duplicate_view_field_is_reported),
        TEST (test_view_without_seq_type_or_event_id_is_reported),
        TEST (test_empty_view_is_reported),
        TEST (test_view_set_twice_is_reported),
        TEST (test_too_many_view_fields_are_reported),
        TEST (test_too_many_views_are_reported),
        TEST (test_role_without_view_is_reported),
        TEST (test_all_partner_problems_are_reported_at_once),
        TEST (test_revocation_list_loads_quoted_and_bare_keys),
        TEST (test_empty_revocation_list_revokes_nothing),
        TEST (test_bad_key_in_revocation_list_is_reported_with_its_line),
        TEST (test_missing_revocation_list_is_reported),
        TEST (test_too_many_revoked_keys_are_reported),
        TEST (test_all_problems_are_reported_at_once),
        TEST (test_flood_of_errors_is_cut_short),
        TEST (test_errors_list_is_optional),
        TEST (test_autofree_errors_list_gets_every_message),
    };
    return cmocka_run_group_tests_name ("config", tests, NULL, NULL);
}
