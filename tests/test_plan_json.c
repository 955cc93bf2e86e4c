/*  test_plan_json: life-course plans between JSON and zvh.v1.Plan bytes.
 *
 *  The example plan (config/example-plan.json) fills every field of the
 *  schema, so its round trip covers them all. Each error test starts from
 *  the smallest valid plan (REQUIRED_PARTS) and adds the one thing that is
 *  wrong, then checks the whole message: the message is the interface.
 */
#include "plan_json.h"
#include "wire.h"
#include "zvh/zvh_plan.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  cmocka.h needs these included before it
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define EXAMPLE_PATH "/config/example-plan.json"
#define FUZZ_SEED UINT64_C (0x2024060300000017) //  any non-zero value
#define FUZZ_INPUTS 500
#define FUZZ_MAX_BYTES 512
#define MUTATIONS 500
#define MUTATED_BYTES_MAX 4
//  Enough 4000-byte signals to pass the 1 MiB plan limit inside the JSON limit
#define OVERSIZE_SIGNALS 150
#define OVERSIZE_SIGNAL_BYTES 4000
#define OVERSIZE_SCENARIOS 2
#define UNKNOWN_ENUM_VALUE 99
#define ARRAY_LENGTH(array) (sizeof (array) / sizeof ((array)[0]))
#define SMALL_ERR_SIZE 8

//  The two parts every valid plan needs; tests add what they are about
#define REQUIRED_PARTS                                                                             \
    "\"legal_basis\": {\"route\": \"consent\"}, "                                                  \
    "\"inclusion\": {\"region\": \"groningen\", \"date\": \"2024-06-03\"}"

static char *s_example; //  the example plan's JSON text

//  ---------------------------------------------------------------- helpers

static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    rewind (file);
    char *text = size >= 0 ? (char *)malloc ((size_t)size + 1) : NULL;
    if (text && fread (text, 1, (size_t)size, file) == (size_t)size)
        text[size] = '\0';
    else {
        free (text);
        text = NULL;
    }
    fclose (file);
    return text;
}

static int
s_load_example (void **state)
{
    (void)state;
    const char *source_dir = getenv ("ZVH_SOURCE_DIR");
    if (!source_dir) {
        fprintf (stderr, "ZVH_SOURCE_DIR is not set: it names the source tree\n");
        return -1;
    }
    char path[FILENAME_MAX];
    snprintf (path, sizeof path, "%s%s", source_dir, EXAMPLE_PATH);
    s_example = s_read_file (path);
    if (!s_example)
        fprintf (stderr, "cannot read %s\n", path);
    return s_example ? 0 : -1;
}

static int
s_free_example (void **state)
{
    (void)state;
    free (s_example);
    return 0;
}

static uint8_t *
s_assert_parses (const char *json, size_t *size_p)
{
    uint8_t *bytes = NULL;
    char err[ZVH_PLAN_ERR_MAX];
    if (zvh_plan_from_json (json, &bytes, size_p, err, sizeof err))
        fail_msg ("refused: %s", err);
    assert_non_null (bytes);
    return bytes;
}

static char *
s_assert_renders (const uint8_t *bytes, size_t size)
{
    char err[ZVH_PLAN_ERR_MAX];
    char *json = zvh_plan_to_json (bytes, size, err, sizeof err);
    if (!json)
        fail_msg ("not rendered: %s", err);
    return json;
}

//  Refused with exactly this message
static void
s_assert_refused (const char *json, const char *expected)
{
    uint8_t *bytes = (uint8_t *)"not touched";
    size_t size = 1;
    char err[ZVH_PLAN_ERR_MAX];
    assert_int_equal (zvh_plan_from_json (json, &bytes, &size, err, sizeof err), -1);
    assert_null (bytes);
    assert_int_equal (size, 0);
    assert_string_equal (err, expected);
}

static void
s_assert_starts_with (const char *text, const char *prefix)
{
    if (strncmp (text, prefix, strlen (prefix)) != 0)
        fail_msg ("expected '%s...', got '%s'", prefix, text);
}

//  Refused with a message that starts with prefix (jansson writes the rest)
static void
s_assert_refused_starting (const char *json, const char *prefix)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    char err[ZVH_PLAN_ERR_MAX];
    assert_int_equal (zvh_plan_from_json (json, &bytes, &size, err, sizeof err), -1);
    s_assert_starts_with (err, prefix);
}

//  A JSON plan with REQUIRED_PARTS and one field: "key": value
static char *
s_plan_with (const char *key, const char *value)
{
    const char *format = "{" REQUIRED_PARTS ", \"%s\": %s}";
    size_t size = strlen (format) + strlen (key) + strlen (value) + 1;
    char *json = (char *)malloc (size);
    assert_non_null (json);
    snprintf (json, size, format, key, value);
    return json;
}

//  "[\"xx\", \"xx\", ...]": count strings of length bytes each
static char *
s_string_list (size_t count, size_t length)
{
    const size_t item_size = length + strlen ("\"\", ");
    char *list = (char *)malloc (count * item_size + strlen ("[]") + 1);
    assert_non_null (list);
    char *cursor = list;
    *cursor++ = '[';
    for (size_t index = 0; index < count; index++) {
        if (index) {
            memcpy (cursor, ", ", 2);
            cursor += 2;
        }
        *cursor++ = '"';
        memset (cursor, 'x', length);
        cursor += length;
        *cursor++ = '"';
    }
    strcpy (cursor, "]");
    return list;
}

static void
s_minimal_plan (Zvh__V1__Plan *plan, Zvh__V1__LegalBasis *basis, Zvh__V1__Inclusion *inclusion)
{
    zvh__v1__plan__init (plan);
    zvh__v1__legal_basis__init (basis);
    zvh__v1__inclusion__init (inclusion);
    basis->route = ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_CONSENT;
    inclusion->region = "groningen";
    inclusion->date = "2024-06-03";
    plan->legal_basis = basis;
    plan->inclusion = inclusion;
}

//  Marsaglia's xorshift64: the same inputs on every run and platform
static uint64_t
s_random (uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

//  Every field of desc is present in at least one of the JSON objects
static void
s_assert_every_field_filled (const ProtobufCMessageDescriptor *desc, const json_t *objects)
{
    for (unsigned index = 0; index < desc->n_fields; index++) {
        const ProtobufCFieldDescriptor *field = &desc->fields[index];
        json_t *values = json_array ();
        size_t at;
        json_t *object;
        json_array_foreach (objects, at, object)
        {
            json_t *value = json_object_get (object, field->name);
            if (json_is_array (value))
                json_array_extend (values, value);
            else if (value)
                json_array_append (values, value);
        }
        if (json_array_size (values) == 0)
            fail_msg ("%s.%s is not filled in the example", desc->name, field->name);
        if (field->type == PROTOBUF_C_TYPE_MESSAGE)
            s_assert_every_field_filled ((const ProtobufCMessageDescriptor *)field->descriptor,
                                         values);
        json_decref (values);
    }
}

//  ---------------------------------------------------------------- the example

static void
test_example_plan_parses_and_validates (void **state)
{
    (void)state;
    size_t size;
    uint8_t *bytes = s_assert_parses (s_example, &size);
    char err[ZVH_PLAN_ERR_MAX] = "not cleared";
    assert_int_equal (zvh_plan_validate (bytes, size, err, sizeof err), 0);
    assert_string_equal (err, "");
    free (bytes);
}

static void
test_example_fills_every_field_of_the_schema (void **state)
{
    (void)state;
    json_t *plans = json_pack ("[o]", json_loads (s_example, 0, NULL));
    assert_non_null (plans);
    s_assert_every_field_filled (&zvh__v1__plan__descriptor, plans);
    json_decref (plans);
}

static void
test_round_trip_json_bytes_json_bytes_is_byte_identical (void **state)
{
    (void)state;
    size_t first_size, second_size;
    uint8_t *first = s_assert_parses (s_example, &first_size);
    char *json = s_assert_renders (first, first_size);
    uint8_t *second = s_assert_parses (json, &second_size);
    assert_int_equal (second_size, first_size);
    assert_memory_equal (second, first, first_size);
    free (first);
    free (json);
    free (second);
}

static void
test_rendering_is_deterministic_in_schema_order (void **state)
{
    (void)state;
    size_t size, again_size;
    uint8_t *bytes = s_assert_parses (s_example, &size);
    char *json = s_assert_renders (bytes, size);
    uint8_t *again = s_assert_parses (json, &again_size);
    char *json_again = s_assert_renders (again, again_size);
    assert_string_equal (json_again, json);
    //  Field number 1 first, two-space indent
    s_assert_starts_with (json, "{\n  \"version\": 1,\n  \"review_date\": ");
    free (bytes);
    free (json);
    free (again);
    free (json_again);
}

//  ---------------------------------------------------------------- refusals

static void
test_unknown_field_is_refused_with_its_path (void **state)
{
    (void)state;
    s_assert_refused ("{" REQUIRED_PARTS ", \"scenarios\": [{\"direction\": \"up\", \"foo\": 1}]}",
                      "scenarios[0].foo: unknown field");
    s_assert_refused ("{" REQUIRED_PARTS ", \"owner\": \"drenthe\"}", "owner: unknown field");
}

static void
test_wrong_type_is_refused_with_its_path (void **state)
{
    (void)state;
    s_assert_refused ("{" REQUIRED_PARTS ", \"version\": \"1\"}",
                      "version: expected an integer, got a string");
    s_assert_refused ("{" REQUIRED_PARTS ", \"version\": 1.5}",
                      "version: expected an integer, got a number with a fraction");
    s_assert_refused ("{" REQUIRED_PARTS ", \"domains\": {}}",
                      "domains: expected an array, got an object");
    s_assert_refused ("{" REQUIRED_PARTS ", \"team\": [{\"role\": 7}]}",
                      "team[0].role: expected a string, got an integer");
    s_assert_refused ("{\"legal_basis\": {\"route\": \"consent\", \"consent_given\": \"yes\"}}",
                      "legal_basis.consent_given: expected true or false, got a string");
    s_assert_refused ("{\"legal_basis\": null}", "legal_basis: expected an object, got null");
    s_assert_refused ("{" REQUIRED_PARTS ", \"partner_refs\": [\"police\"]}",
                      "partner_refs[0]: expected an object, got a string");
}

static void
test_negative_version_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("{" REQUIRED_PARTS ", \"version\": -1}",
                      "version: -1 is negative; expected an integer >= 0");
}

static void
test_bad_enum_is_refused_with_the_allowed_names (void **state)
{
    (void)state;
    s_assert_refused ("{" REQUIRED_PARTS ", \"domains\": [{\"kind\": \"housing\"}, "
                      "{\"kind\": \"care\"}, {\"kind\": \"justice\", \"goals\": "
                      "[{\"term\": \"later\"}]}]}",
                      "domains[2].goals[0].term: 'later' is not one of long, medium, short");
    //  The zero value is never written: it means "not given"
    s_assert_refused ("{" REQUIRED_PARTS ", \"domains\": [{\"kind\": \"unspecified\"}]}",
                      "domains[0].kind: 'unspecified' is not one of housing, care, justice, "
                      "support, livelihood, daytime, network");
    s_assert_refused ("{" REQUIRED_PARTS ", \"scenarios\": [{\"direction\": \"UP\"}]}",
                      "scenarios[0].direction: 'UP' is not one of up, down");
    s_assert_refused ("{" REQUIRED_PARTS ", \"risk_assessments\": [{\"outcome\": 3}]}",
                      "risk_assessments[0].outcome: expected a string, got an integer");
}

static void
test_bad_date_is_refused_with_its_path (void **state)
{
    (void)state;
    const char *bad_dates[] = {"2024-02-30", "2023-02-29", "2024-13-01",       "2024-00-10",
                               "2024-01-00", "2024-04-31", "24-01-01",         "2024-1-01",
                               "2024-01-1",  "2024/01/01", "2024-01-01T10:00", " 2024-01-01",
                               "1850-01-01", "2204-01-01", "dinsdag"};
    for (size_t index = 0; index < sizeof bad_dates / sizeof bad_dates[0]; index++) {
        char value[64], expected[ZVH_PLAN_ERR_MAX];
        snprintf (value, sizeof value, "\"%s\"", bad_dates[index]);
        snprintf (expected, sizeof expected, "review_date: '%s' is not a date (YYYY-MM-DD)",
                  bad_dates[index]);
        char *json = s_plan_with ("review_date", value);
        s_assert_refused (json, expected);
        free (json);
    }
    s_assert_refused ("{" REQUIRED_PARTS ", \"domains\": [{\"goals\": [{\"due\": \"2024-06-01\"}, "
                      "{\"due\": \"morgen\"}]}]}",
                      "domains[0].goals[1].due: 'morgen' is not a date (YYYY-MM-DD)");
    s_assert_refused ("{\"legal_basis\": {\"route\": \"consent\"}, "
                      "\"inclusion\": {\"region\": \"groningen\", \"date\": \"3-6-2024\"}}",
                      "inclusion.date: '3-6-2024' is not a date (YYYY-MM-DD)");
}

static void
test_real_dates_are_accepted (void **state)
{
    (void)state;
    const char *dates[] = {"2024-02-29", "2000-02-29", "1900-01-01", "2099-12-31", "2024-04-30"};
    for (size_t index = 0; index < sizeof dates / sizeof dates[0]; index++) {
        char value[64];
        snprintf (value, sizeof value, "\"%s\"", dates[index]);
        char *json = s_plan_with ("review_date", value);
        size_t size;
        free (s_assert_parses (json, &size));
        free (json);
    }
}

static void
test_missing_legal_route_is_refused (void **state)
{
    (void)state;
    const char *expected = "legal_basis.route: missing; a plan must name its legal route "
                           "(consent, conditional, wvggz, wzd, bemoeizorg)";
    s_assert_refused ("{\"inclusion\": {\"region\": \"groningen\", \"date\": \"2024-06-03\"}}",
                      expected);
    s_assert_refused ("{\"legal_basis\": {\"consent_given\": true}, "
                      "\"inclusion\": {\"region\": \"groningen\", \"date\": \"2024-06-03\"}}",
                      expected);
}

static void
test_missing_inclusion_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("{\"legal_basis\": {\"route\": \"wvggz\"}}",
                      "inclusion: missing; a plan must carry its inclusion decision "
                      "(region, date, decision)");
    s_assert_refused ("{\"legal_basis\": {\"route\": \"wvggz\"}, "
                      "\"inclusion\": {\"date\": \"2024-06-03\"}}",
                      "inclusion.region: missing; a plan must name the region that "
                      "decided inclusion");
    s_assert_refused ("{\"legal_basis\": {\"route\": \"wvggz\"}, "
                      "\"inclusion\": {\"region\": \"groningen\", \"date\": \"\"}}",
                      "inclusion.date: missing; a plan must carry the date of the "
                      "inclusion decision");
}

static void
test_too_long_string_is_refused (void **state)
{
    (void)state;
    char *list = s_string_list (1, ZVH_PLAN_STRING_MAX_BYTES + 1);
    //  The string alone, without the list's brackets
    list[strlen (list) - 1] = '\0';
    char *json = s_plan_with ("summary", list + 1);
    char expected[ZVH_PLAN_ERR_MAX];
    snprintf (expected, sizeof expected, "summary: %d bytes; at most %d allowed",
              ZVH_PLAN_STRING_MAX_BYTES + 1, ZVH_PLAN_STRING_MAX_BYTES);
    s_assert_refused (json, expected);
    free (json);
    free (list);

    list = s_string_list (1, ZVH_PLAN_STRING_MAX_BYTES);
    list[strlen (list) - 1] = '\0';
    json = s_plan_with ("summary", list + 1);
    size_t size;
    free (s_assert_parses (json, &size));
    free (json);
    free (list);
}

static void
test_too_long_array_is_refused (void **state)
{
    (void)state;
    char *list = s_string_list (ZVH_PLAN_ARRAY_MAX_ITEMS + 1, 1);
    char *value = (char *)malloc (strlen (list) + sizeof "[{\"signals\": }]");
    sprintf (value, "[{\"signals\": %s}]", list);
    char *json = s_plan_with ("scenarios", value);
    char expected[ZVH_PLAN_ERR_MAX];
    snprintf (expected, sizeof expected, "scenarios[0].signals: %d items; at most %d allowed",
              ZVH_PLAN_ARRAY_MAX_ITEMS + 1, ZVH_PLAN_ARRAY_MAX_ITEMS);
    s_assert_refused (json, expected);
    free (json);
    free (value);
    free (list);

    list = s_string_list (ZVH_PLAN_ARRAY_MAX_ITEMS, 1);
    value = (char *)malloc (strlen (list) + sizeof "[{\"signals\": }]");
    sprintf (value, "[{\"signals\": %s}]", list);
    json = s_plan_with ("scenarios", value);
    size_t size;
    free (s_assert_parses (json, &size));
    free (json);
    free (value);
    free (list);
}

static void
test_plan_over_the_wire_limit_is_refused (void **state)
{
    (void)state;
    char *list = s_string_list (OVERSIZE_SIGNALS, OVERSIZE_SIGNAL_BYTES);
    const char *scenario = "{\"signals\": %s}, ";
    size_t value_size = OVERSIZE_SCENARIOS * (strlen (scenario) + strlen (list)) + 1;
    char *value = (char *)malloc (value_size);
    assert_non_null (value);
    strcpy (value, "[");
    for (int index = 0; index < OVERSIZE_SCENARIOS; index++)
        sprintf (value + strlen (value), "%s{\"signals\": %s}", index ? ", " : "", list);
    strcat (value, "]");
    char *json = s_plan_with ("scenarios", value);
    uint8_t *bytes = NULL;
    size_t size = 0;
    char err[ZVH_PLAN_ERR_MAX];
    assert_int_equal (zvh_plan_from_json (json, &bytes, &size, err, sizeof err), -1);
    assert_null (bytes);
    //  "plan: 1201234 bytes encoded; at most 1048576 allowed"
    char expected_end[ZVH_PLAN_ERR_MAX];
    snprintf (expected_end, sizeof expected_end, " bytes encoded; at most %d allowed",
              WIRE_MAX_PLAN_BYTES);
    s_assert_starts_with (err, "plan: ");
    assert_non_null (strstr (err, expected_end));
    free (json);
    free (value);
    free (list);
}

static void
test_syntax_error_reports_line_and_column (void **state)
{
    (void)state;
    //  The comma after "version": 1 is missing
    s_assert_refused_starting ("{\n  \"version\": 1\n  \"summary\": \"x\"\n}",
                               "line 3, column 11: ");
}

static void
test_duplicate_key_is_refused (void **state)
{
    (void)state;
    char err[ZVH_PLAN_ERR_MAX];
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal (zvh_plan_from_json ("{" REQUIRED_PARTS
                                          ", \"summary\": \"a\",\n\"summary\": \"b\"}",
                                          &bytes, &size, err, sizeof err),
                      -1);
    assert_non_null (strstr (err, "line 2"));
    assert_non_null (strstr (err, "duplicate object key"));
    assert_non_null (strstr (err, "summary"));
}

static void
test_empty_input_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("", "empty input; expected a JSON object holding a plan");
    s_assert_refused_starting ("  \n", "line 2, column 0: ");
}

static void
test_null_input_is_refused (void **state)
{
    (void)state;
    s_assert_refused (NULL, "no JSON given (NULL)");
}

static void
test_non_object_top_level_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("[]", "plan: expected an object, got an array");
    s_assert_refused ("42", "plan: expected an object, got an integer");
    s_assert_refused ("\"plan\"", "plan: expected an object, got a string");
    s_assert_refused ("null", "plan: expected an object, got null");
}

static void
test_error_is_cut_to_the_buffer_size (void **state)
{
    (void)state;
    char err[SMALL_ERR_SIZE];
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal (zvh_plan_from_json ("[]", &bytes, &size, err, sizeof err), -1);
    assert_string_equal (err, "plan: e");
    assert_int_equal (zvh_plan_from_json ("[]", &bytes, &size, NULL, 0), -1);
    assert_null (zvh_plan_to_json ((const uint8_t *)"\xff", 1, NULL, 0));
}

//  ---------------------------------------------------------------- bytes

static void
test_validate_refuses_garbage_bytes (void **state)
{
    (void)state;
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    char err[ZVH_PLAN_ERR_MAX];
    assert_int_equal (zvh_plan_validate (garbage, sizeof garbage, err, sizeof err), -1);
    assert_string_equal (err, "plan: the bytes are not a zvh.v1.Plan");
    assert_null (zvh_plan_to_json (garbage, sizeof garbage, err, sizeof err));
    assert_string_equal (err, "plan: the bytes are not a zvh.v1.Plan");
}

static void
test_validate_refuses_plan_without_legal_route (void **state)
{
    (void)state;
    Zvh__V1__Plan plan;
    Zvh__V1__LegalBasis basis;
    Zvh__V1__Inclusion inclusion;
    s_minimal_plan (&plan, &basis, &inclusion);
    plan.legal_basis = NULL;
    size_t size;
    uint8_t *bytes = wire_encode (&plan.base, &size);
    char err[ZVH_PLAN_ERR_MAX];
    assert_int_equal (zvh_plan_validate (bytes, size, err, sizeof err), -1);
    assert_string_equal (err, "legal_basis.route: missing; a plan must name its legal route "
                              "(consent, conditional, wvggz, wzd, bemoeizorg)");
    free (bytes);
}

static void
test_validate_applies_the_json_rules_to_bytes (void **state)
{
    (void)state;
    Zvh__V1__Plan plan;
    Zvh__V1__LegalBasis basis;
    Zvh__V1__Inclusion inclusion;
    s_minimal_plan (&plan, &basis, &inclusion);
    size_t size;
    uint8_t *bytes = wire_encode (&plan.base, &size);
    char err[ZVH_PLAN_ERR_MAX];
    assert_int_equal (zvh_plan_validate (bytes, size, err, sizeof err), 0);
    free (bytes);

    plan.review_date = "2024-31-12";
    bytes = wire_encode (&plan.base, &size);
    assert_int_equal (zvh_plan_validate (bytes, size, err, sizeof err), -1);
    assert_string_equal (err, "review_date: '2024-31-12' is not a date (YYYY-MM-DD)");
    free (bytes);
}

static void
test_to_json_refuses_an_unknown_enum_value (void **state)
{
    (void)state;
    Zvh__V1__Plan plan;
    Zvh__V1__LegalBasis basis;
    Zvh__V1__Inclusion inclusion;
    s_minimal_plan (&plan, &basis, &inclusion);
    Zvh__V1__Goal goal = ZVH__V1__GOAL__INIT;
    goal.term = (Zvh__V1__Goal__Term)UNKNOWN_ENUM_VALUE;
    Zvh__V1__Goal *goals[] = {&goal};
    Zvh__V1__LifeDomain domain = ZVH__V1__LIFE_DOMAIN__INIT;
    domain.n_goals = 1;
    domain.goals = goals;
    Zvh__V1__LifeDomain *domains[] = {&domain};
    plan.n_domains = 1;
    plan.domains = domains;
    size_t size;
    uint8_t *bytes = wire_encode (&plan.base, &size);
    char err[ZVH_PLAN_ERR_MAX];
    assert_null (zvh_plan_to_json (bytes, size, err, sizeof err));
    assert_string_equal (err, "domains[0].goals[0].term: 99 is not a known value");
    assert_int_equal (zvh_plan_validate (bytes, size, err, sizeof err), -1);
    free (bytes);
}

static void
test_to_json_refuses_a_version_beyond_json_integers (void **state)
{
    (void)state;
    Zvh__V1__Plan plan;
    Zvh__V1__LegalBasis basis;
    Zvh__V1__Inclusion inclusion;
    s_minimal_plan (&plan, &basis, &inclusion);
    plan.version = UINT64_MAX;
    size_t size;
    uint8_t *bytes = wire_encode (&plan.base, &size);
    char err[ZVH_PLAN_ERR_MAX];
    assert_null (zvh_plan_to_json (bytes, size, err, sizeof err));
    assert_string_equal (err, "version: 18446744073709551615 is larger than a JSON "
                              "integer can hold");
    free (bytes);
}

//  The fast check (plan_check) and the rendering (plan_validate_rendered)
//  answer alike, and zvh_plan_validate gives that answer.
static void
s_both_say (const Zvh__V1__Plan *plan, bool valid)
{
    size_t size;
    uint8_t *bytes = wire_encode (&plan->base, &size);
    assert_non_null (bytes);
    Zvh__V1__Plan *decoded = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, bytes, size);
    assert_non_null (decoded);
    char err[ZVH_PLAN_ERR_MAX];
    assert_int_equal (plan_check (decoded), valid);
    assert_int_equal (plan_validate_rendered (bytes, size, err, sizeof err) == 0, valid);
    assert_int_equal (zvh_plan_validate (bytes, size, err, sizeof err) == 0, valid);
    assert_true (valid ? *err == 0 : *err != 0);      //  a refusal says why
    wire_free (&decoded->base);
    free (bytes);
}

static void
test_the_fast_check_answers_as_the_rendering_does (void **state)
{
    (void)state;
    size_t size;
    uint8_t *example = s_assert_parses (s_example, &size);
    Zvh__V1__Plan *full = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, example, size);
    s_both_say (full, true);
    wire_free (&full->base);
    free (example);
    Zvh__V1__Plan plan;
    Zvh__V1__LegalBasis basis;
    Zvh__V1__Inclusion inclusion;
    s_minimal_plan (&plan, &basis, &inclusion);
    s_both_say (&plan, true);
    //  Text as jansson takes it: UTF-8 without overlong forms, surrogates
    //  or code points past U+10FFFF, and no longer than the limit
    const char *texts[] = {"caf\xc3\xa9", "\xf0\x9f\x98\x80", "\xc3\x28", "\xc0\xaf",
                           "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
                           "\xf5\x80\x80\x80", "\x80"};
    bool text_valid[] = {true, true, false, false, false, false, false, false, false, false};
    for (size_t index = 0; index < ARRAY_LENGTH (texts); index++) {
        plan.summary = (char *)texts[index];
        s_both_say (&plan, text_valid[index]);
    }
    char *longest = (char *)malloc (ZVH_PLAN_STRING_MAX_BYTES + 2);
    memset (longest, 'a', ZVH_PLAN_STRING_MAX_BYTES + 1);
    longest[ZVH_PLAN_STRING_MAX_BYTES + 1] = 0;
    plan.summary = longest;
    s_both_say (&plan, false);
    longest[ZVH_PLAN_STRING_MAX_BYTES] = 0;
    s_both_say (&plan, true);
    free (longest);
    plan.summary = "";
    //  Numbers JSON holds, enum values that have a name
    plan.version = UINT64_MAX;
    s_both_say (&plan, false);
    plan.version = (uint64_t)INT64_MAX;
    s_both_say (&plan, true);
    plan.version = 0;
    basis.route = (Zvh__V1__LegalBasis__Route)UNKNOWN_ENUM_VALUE;
    s_both_say (&plan, false);
    basis.route = ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_UNSPECIFIED;
    s_both_say (&plan, false);
    basis.route = ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_CONSENT;
    //  Dates, in every message that has one
    const char *dates[] = {"2024-02-29", "2023-02-29", "2024-13-01", "1899-12-31", "24-01-01",
                           "2024-01-01x"};
    bool date_valid[] = {true, false, false, false, false, false};
    Zvh__V1__Goal goal = ZVH__V1__GOAL__INIT;
    Zvh__V1__Goal *goals[ZVH_PLAN_ARRAY_MAX_ITEMS + 1];
    Zvh__V1__LifeDomain domain = ZVH__V1__LIFE_DOMAIN__INIT;
    Zvh__V1__LifeDomain *domains[] = {&domain};
    domain.goals = goals;
    plan.n_domains = 1;
    plan.domains = domains;
    for (size_t index = 0; index < ARRAY_LENGTH (dates); index++) {
        plan.review_date = (char *)dates[index];
        s_both_say (&plan, date_valid[index]);
        plan.review_date = "";
        goals[0] = &goal;
        domain.n_goals = 1;
        goal.due = (char *)dates[index];
        s_both_say (&plan, date_valid[index]);
        goal.due = "";
        inclusion.date = (char *)dates[index];
        s_both_say (&plan, date_valid[index]);
        inclusion.date = "2024-06-03";
    }
    //  Lists up to the limit; a goal's unknown term
    for (size_t index = 0; index <= ZVH_PLAN_ARRAY_MAX_ITEMS; index++)
        goals[index] = &goal;
    domain.n_goals = ZVH_PLAN_ARRAY_MAX_ITEMS;
    s_both_say (&plan, true);
    domain.n_goals = ZVH_PLAN_ARRAY_MAX_ITEMS + 1;
    s_both_say (&plan, false);
    domain.n_goals = 1;
    goal.term = (Zvh__V1__Goal__Term)UNKNOWN_ENUM_VALUE;
    s_both_say (&plan, false);
    goal.term = ZVH__V1__GOAL__TERM__TERM_SHORT;
    s_both_say (&plan, true);
    //  What the plan must carry
    inclusion.region = "";
    s_both_say (&plan, false);
    inclusion.region = "groningen";
    inclusion.date = "";
    s_both_say (&plan, false);
    inclusion.date = "2024-06-03";
    plan.inclusion = NULL;
    s_both_say (&plan, false);
    plan.inclusion = &inclusion;
    plan.legal_basis = NULL;
    s_both_say (&plan, false);
}

static void
test_random_bytes_never_crash_to_json_or_validate (void **state)
{
    (void)state;
    uint64_t seed = FUZZ_SEED;
    uint8_t bytes[FUZZ_MAX_BYTES];
    char err[ZVH_PLAN_ERR_MAX];
    for (int input = 0; input < FUZZ_INPUTS; input++) {
        size_t size = s_random (&seed) % (FUZZ_MAX_BYTES + 1);
        for (size_t index = 0; index < size; index++)
            bytes[index] = (uint8_t)s_random (&seed);
        free (zvh_plan_to_json (bytes, size, err, sizeof err));
        zvh_plan_validate (bytes, size, err, sizeof err);
    }
}

//  Mutations keep most of a real plan, so they reach deep into the walk;
//  any that still validates must round-trip through JSON.
static void
test_mutated_plan_bytes_that_validate_round_trip (void **state)
{
    (void)state;
    size_t size;
    uint8_t *original = s_assert_parses (s_example, &size);
    uint8_t *bytes = (uint8_t *)malloc (size);
    uint64_t seed = FUZZ_SEED;
    char err[ZVH_PLAN_ERR_MAX];
    int validated = 0;
    for (int mutation = 0; mutation < MUTATIONS; mutation++) {
        memcpy (bytes, original, size);
        size_t changes = 1 + s_random (&seed) % MUTATED_BYTES_MAX;
        for (size_t change = 0; change < changes; change++)
            bytes[s_random (&seed) % size] = (uint8_t)s_random (&seed);
        size_t mutated_size = mutation % 2 ? size : s_random (&seed) % size;
        free (zvh_plan_to_json (bytes, mutated_size, err, sizeof err));
        if (zvh_plan_validate (bytes, mutated_size, err, sizeof err))
            continue;
        validated++;
        char *json = s_assert_renders (bytes, mutated_size);
        size_t again_size;
        uint8_t *again = s_assert_parses (json, &again_size);
        char *json_again = s_assert_renders (again, again_size);
        assert_string_equal (json_again, json);
        free (json);
        free (again);
        free (json_again);
    }
    //  Else the property above was never exercised
    assert_true (validated > 0);
    free (bytes);
    free (original);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_example_plan_parses_and_validates),
        cmocka_unit_test (test_example_fills_every_field_of_the_schema),
        cmocka_unit_test (test_round_trip_json_bytes_json_bytes_is_byte_identical),
        cmocka_unit_test (test_rendering_is_deterministic_in_schema_order),
        cmocka_unit_test (test_unknown_field_is_refused_with_its_path),
        cmocka_unit_test (test_wrong_type_is_refused_with_its_path),
        cmocka_unit_test (test_negative_version_is_refused),
        cmocka_unit_test (test_bad_enum_is_refused_with_the_allowed_names),
        cmocka_unit_test (test_bad_date_is_refused_with_its_path),
        cmocka_unit_test (test_real_dates_are_accepted),
        cmocka_unit_test (test_missing_legal_route_is_refused),
        cmocka_unit_test (test_missing_inclusion_is_refused),
        cmocka_unit_test (test_too_long_string_is_refused),
        cmocka_unit_test (test_too_long_array_is_refused),
        cmocka_unit_test (test_plan_over_the_wire_limit_is_refused),
        cmocka_unit_test (test_syntax_error_reports_line_and_column),
        cmocka_unit_test (test_duplicate_key_is_refused),
        cmocka_unit_test (test_empty_input_is_refused),
        cmocka_unit_test (test_null_input_is_refused),
        cmocka_unit_test (test_non_object_top_level_is_refused),
        cmocka_unit_test (test_error_is_cut_to_the_buffer_size),
        cmocka_unit_test (test_validate_refuses_garbage_bytes),
        cmocka_unit_test (test_validate_refuses_plan_without_legal_route),
        cmocka_unit_test (test_validate_applies_the_json_rules_to_bytes),
        cmocka_unit_test (test_to_json_refuses_an_unknown_enum_value),
        cmocka_unit_test (test_to_json_refuses_a_version_beyond_json_integers),
        cmocka_unit_test (test_the_fast_check_answers_as_the_rendering_does),
        cmocka_unit_test (test_random_bytes_never_crash_to_json_or_validate),
        cmocka_unit_test (test_mutated_plan_bytes_that_validate_round_trip),
    };
    return cmocka_run_group_tests (tests, s_load_example, s_free_example);
}
