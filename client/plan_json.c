/*  plan_json: life-course plans between JSON and zvh.v1.Plan bytes.
 *
 *  The mapping is driven by the protobuf-c descriptors, so the JSON shape is
 *  the schema field by field (proto names, enum names without their prefix)
 *  and a field added to zvh.proto appears in JSON with no change here. The
 *  rules the schema cannot state live beside it: size limits, which fields
 *  are dates, and that a plan names its legal route and inclusion decision.
 *
 *  One set of rules: zvh_plan_validate renders the bytes as a JSON tree and
 *  reads that tree back exactly as zvh_plan_from_json does. So a plan that
 *  validates always renders, and its JSON always parses back.
 *
 *  Structs built from JSON are malloc'd piece by piece in the same layout
 *  protobuf-c unpacks into, so one protobuf_c_message_free_unpacked (NULL
 *  allocator) frees a plan however far its building got.
 */
#include "plan_json.h"
#include "wire.h"
#include "zvh/zvh_plan.h"
#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  JSON is wordier than protobuf: this bounds jansson's memory before the
//  encoded plan can be held to WIRE_MAX_PLAN_BYTES
#define JSON_MAX_BYTES (4 * WIRE_MAX_PLAN_BYTES)
#define JSON_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
//  Keys in field-number order (the order they are inserted), two spaces
#define JSON_DUMP_FLAGS (JSON_INDENT (2) | JSON_PRESERVE_ORDER)
//  A path longer than an error message could not be shown anyway
#define PATH_MAX_CHARS ZVH_PLAN_ERR_MAX
//  How much of a bad value an error repeats: enough to recognise it
#define QUOTE_MAX_CHARS 40
#define ENUM_NAME_MAX 64
#define ENUM_LIST_MAX 128
//  Plan dates are of living people and current care: a year outside this
//  range is a typo (2204 for 2024), not a date
#define DATE_YEAR_MIN 1900
#define DATE_YEAR_MAX 2099
#define MONTHS_PER_YEAR 12
#define FEBRUARY 2
#define LEAP_DAY 29

//  Largest version JSON can carry: jansson integers are signed
#define JSON_INTEGER_LIMIT INT64_MAX
_Static_assert(sizeof (json_int_t) >= sizeof (int64_t), "json_int_t holds 64 bits");

#define ARRAY_LENGTH(array) (sizeof (array) / sizeof ((array)[0]))

//  Where a conversion is in the plan ("domains[2].goals[0].term") and where
//  its error goes.
typedef struct {
    char path[PATH_MAX_CHARS];
    size_t path_length;
    char *err;
    size_t err_size;
} walk_t;

//  String fields that hold an ISO 8601 date (YYYY-MM-DD) when not empty.
static const struct {
    const ProtobufCMessageDescriptor *message;
    const char *field;
} s_date_fields[] = {
    {&zvh__v1__plan__descriptor, "review_date"},
    {&zvh__v1__goal__descriptor, "due"},
    {&zvh__v1__risk_assessment__descriptor, "date"},
    {&zvh__v1__legal_basis__descriptor, "consent_date"},
    {&zvh__v1__inclusion__descriptor, "date"},
};

static json_t *s_message_to_json (walk_t *walk, const ProtobufCMessage *message);
static int s_message_from_json (walk_t *walk, const json_t *object, ProtobufCMessage *message);

//  ---------------------------------------------------------------- errors

static void
s_set_error (char *err, size_t err_size, const char *format, ...)
{
    if (!err || !err_size)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (err, err_size, format, args);
    va_end (args);
}

static walk_t
s_walk (char *err, size_t err_size)
{
    walk_t walk = {.path_length = 0, .err = err, .err_size = err_size};
    walk.path[0] = '\0';
    s_set_error (err, err_size, "%s", "");
    return walk;
}

//  Formats "path: message" into the caller's err; always returns -1.
static int
s_fail (walk_t *walk, const char *format, ...)
{
    char message[ZVH_PLAN_ERR_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    const char *path = walk->path_length ? walk->path : "plan";
    s_set_error (walk->err, walk->err_size, "%s: %s", path, message);
    return -1;
}

//  Appends to the path (truncating if it must) and returns the old length,
//  which s_path_pop restores.
static size_t
s_path_append (walk_t *walk, const char *format, ...)
{
    size_t mark = walk->path_length;
    size_t room = sizeof walk->path - mark;
    va_list args;
    va_start (args, format);
    int written = vsnprintf (walk->path + mark, room, format, args);
    va_end (args);
    if (written > 0)
        walk->path_length += (size_t)written < room ? (size_t)written : room - 1;
    return mark;
}

static size_t
s_path_push_key (walk_t *walk, const char *key)
{
    return s_path_append (walk, walk->path_length ? ".%s" : "%s", key);
}

static size_t
s_path_push_index (walk_t *walk, size_t index)
{
    return s_path_append (walk, "[%zu]", index);
}

static void
s_path_pop (walk_t *walk, size_t mark)
{
    walk->path_length = mark;
    walk->path[mark] = '\0';
}

static const char *
s_json_type_name (const json_t *value)
{
    switch (json_typeof (value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown JSON type";
}

static int
s_fail_type (walk_t *walk, const char *expected, const json_t *value)
{
    return s_fail (walk, "expected %s, got %s", expected, s_json_type_name (value));
}

//  A schema change this file does not cover yet: say so rather than guess
static int
s_fail_unsupported (walk_t *walk)
{
    return s_fail (walk, "field type not supported by plan_json.c; extend it for the new schema");
}

//  ---------------------------------------------------------------- fields

static bool
s_is_empty (const char *text)
{
    return !text || !*text;
}

//  The field shapes Plan uses; oneof and proto3 `optional` would need
//  their case and has_ members set, so they are refused until needed.
static bool
s_field_is_supported (const ProtobufCFieldDescriptor *field)
{
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return false;
    if (field->label != PROTOBUF_C_LABEL_NONE && field->label != PROTOBUF_C_LABEL_REPEATED)
        return false;
    return field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_BOOL ||
           field->type == PROTOBUF_C_TYPE_ENUM || field->type == PROTOBUF_C_TYPE_UINT64 ||
           field->type == PROTOBUF_C_TYPE_MESSAGE;
}

//  Size of one value in the struct, i.e. of one element of a repeated field
static size_t
s_slot_size (const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING:
        return sizeof (char *);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof (protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof (int32_t);
    case PROTOBUF_C_TYPE_UINT64:
        return sizeof (uint64_t);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof (ProtobufCMessage *);
    default:
        return 0;
    }
}

static void *
s_member (const ProtobufCMessage *message, size_t offset)
{
    return (char *)message + offset;
}

//  proto3 does not send a scalar at its default, so neither does JSON
static bool
s_is_default (const ProtobufCFieldDescriptor *field, const void *slot)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING:
        return s_is_empty (*(char *const *)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)slot;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int32_t *)slot == 0;
    case PROTOBUF_C_TYPE_UINT64:
        return *(const uint64_t *)slot == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)slot == NULL;
    default:
        return false;
    }
}

//  ---------------------------------------------------------------- enums

//  "OUTCOME_VERY_HIGH" -> "very_high": the value name without its prefix,
//  lower case. Every enum in the schema prefixes its values this way.
static void
s_enum_json_name (const ProtobufCEnumValue *value, char *name, size_t size)
{
    const char *underscore = strchr (value->name, '_');
    const char *suffix = underscore ? underscore + 1 : value->name;
    size_t length = 0;
    for (; suffix[length] && length + 1 < size; length++)
        name[length] = (char)tolower ((unsigned char)suffix[length]);
    name[length] = '\0';
}

//  "long, medium, short": the names JSON may use (never the zero value)
static void
s_enum_names (const ProtobufCEnumDescriptor *desc, char *list, size_t size)
{
    size_t length = 0;
    list[0] = '\0';
    for (unsigned index = 0; index < desc->n_values && length < size; index++) {
        if (desc->values[index].value == 0)
            continue;
        char name[ENUM_NAME_MAX];
        s_enum_json_name (&desc->values[index], name, sizeof name);
        int written = snprintf (list + length, size - length, "%s%s", length ? ", " : "", name);
        length += written > 0 ? (size_t)written : 0;
    }
}

static int
s_enum_from_json (walk_t *walk, const ProtobufCEnumDescriptor *desc, const json_t *value,
                  int32_t *slot)
{
    if (!json_is_string (value))
        return s_fail_type (walk, "a string", value);
    const char *text = json_string_value (value);
    for (unsigned index = 0; index < desc->n_values; index++) {
        char name[ENUM_NAME_MAX];
        s_enum_json_name (&desc->values[index], name, sizeof name);
        if (desc->values[index].value != 0 && strcmp (name, text) == 0) {
            *slot = desc->values[index].value;
            return 0;
        }
    }
    char names[ENUM_LIST_MAX];
    s_enum_names (desc, names, sizeof names);
    return s_fail (walk, "'%.*s' is not one of %s", QUOTE_MAX_CHARS, text, names);
}

static json_t *
s_enum_to_json (walk_t *walk, const ProtobufCEnumDescriptor *desc, int32_t number)
{
    const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value (desc, number);
    if (!value) {
        //  From a newer schema, or garbage: no name to give it
        s_fail (walk, "%d is not a known value", (int)number);
        return NULL;
    }
    char name[ENUM_NAME_MAX];
    s_enum_json_name (value, name, sizeof name);
    return json_string (name);
}

//  ---------------------------------------------------------------- dates

static bool
s_is_leap_year (int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
s_days_in_month (int year, int month)
{
    static const int days[MONTHS_PER_YEAR] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == FEBRUARY && s_is_leap_year (year))
        return LEAP_DAY;
    return days[month - 1];
}

//  Digits and dashes exactly where "YYYY-MM-DD" has them, nothing more
static bool
s_has_date_shape (const char *text)
{
    static const char shape[] = "dddd-dd-dd"; //  d: a digit
    for (size_t index = 0; index < sizeof shape; index++) {
        bool matches = shape[index] == 'd' ? isdigit ((unsigned char)text[index]) != 0
                                           : text[index] == shape[index];
        if (!matches)
            return false; //  also stops at text's end, before reading past it
    }
    return true;
}

static bool
s_is_iso_date (const char *text)
{
    int year, month, day;
    if (!s_has_date_shape (text) || sscanf (text, "%4d-%2d-%2d", &year, &month, &day) != 3)
        return false;
    return year >= DATE_YEAR_MIN && year <= DATE_YEAR_MAX && month >= 1 &&
           month <= MONTHS_PER_YEAR && day >= 1 && day <= s_days_in_month (year, month);
}

static int
s_check_dates (walk_t *walk, const ProtobufCMessage *message)
{
    for (size_t index = 0; index < ARRAY_LENGTH (s_date_fields); index++) {
        if (s_date_fields[index].message != message->descriptor)
            continue;
        const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field_by_name (
            message->descriptor, s_date_fields[index].field);
        //  The table must name string fields of the schema
        assert (field && field->type == PROTOBUF_C_TYPE_STRING &&
                field->label == PROTOBUF_C_LABEL_NONE);
        const char *date = *(char **)s_member (message, field->offset);
        if (s_is_empty (date) || s_is_iso_date (date))
            continue;
        s_path_push_key (walk, field->name);
        return s_fail (walk, "'%.*s' is not a date (YYYY-MM-DD)", QUOTE_MAX_CHARS, date);
    }
    return 0;
}

//  ---------------------------------------------------------------- JSON to struct

static int
s_string_from_json (walk_t *walk, const json_t *value, char **slot)
{
    if (!json_is_string (value))
        return s_fail_type (walk, "a string", value);
    size_t length = json_string_length (value);
    if (length > ZVH_PLAN_STRING_MAX_BYTES)
        return s_fail (walk, "%zu bytes; at most %d allowed", length, ZVH_PLAN_STRING_MAX_BYTES);
    //  jansson refuses \u0000 by default, so the value has no inner NUL
    char *copy = (char *)malloc (length + 1);
    if (!copy)
        return s_fail (walk, "out of memory");
    memcpy (copy, json_string_value (value), length + 1);
    *slot = copy;
    return 0;
}

static int
s_uint64_from_json (walk_t *walk, const json_t *value, uint64_t *slot)
{
    if (!json_is_integer (value))
        return s_fail_type (walk, "an integer", value);
    json_int_t number = json_integer_value (value);
    if (number < 0)
        return s_fail (walk, "%" JSON_INTEGER_FORMAT " is negative; expected an integer >= 0",
                       number);
    *slot = (uint64_t)number;
    return 0;
}

static int
s_bool_from_json (walk_t *walk, const json_t *value, protobuf_c_boolean *slot)
{
    if (!json_is_boolean (value))
        return s_fail_type (walk, "true or false", value);
    *slot = json_is_true (value);
    return 0;
}

static int
s_submessage_from_json (walk_t *walk, const ProtobufCMessageDescriptor *desc, const json_t *value,
                        ProtobufCMessage **slot)
{
    if (!json_is_object (value))
        return s_fail_type (walk, "an object", value);
    ProtobufCMessage *message = (ProtobufCMessage *)malloc (desc->sizeof_message);
    if (!message)
        return s_fail (walk, "out of memory");
    desc->message_init (message);
    //  The parent owns it from here: an error below frees it with the plan
    *slot = message;
    return s_message_from_json (walk, value, message);
}

//  One value into its place in the struct (a field, or an array element)
static int
s_value_from_json (walk_t *walk, const ProtobufCFieldDescriptor *field, const json_t *value,
                   void *slot)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING:
        return s_string_from_json (walk, value, (char **)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return s_bool_from_json (walk, value, (protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM:
        return s_enum_from_json (walk, field->descriptor, value, (int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT64:
        return s_uint64_from_json (walk, value, (uint64_t *)slot);
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_submessage_from_json (walk, field->descriptor, value, (ProtobufCMessage **)slot);
    default:
        return s_fail_unsupported (walk);
    }
}

static int
s_repeated_from_json (walk_t *walk, const ProtobufCFieldDescriptor *field, const json_t *value,
                      ProtobufCMessage *message)
{
    if (!json_is_array (value))
        return s_fail_type (walk, "an array", value);
    size_t count = json_array_size (value);
    if (count > ZVH_PLAN_ARRAY_MAX_ITEMS)
        return s_fail (walk, "%zu items; at most %d allowed", count, ZVH_PLAN_ARRAY_MAX_ITEMS);
    if (count == 0)
        return 0;
    size_t slot_size = s_slot_size (field);
    char *array = (char *)calloc (count, slot_size);
    if (!array)
        return s_fail (walk, "out of memory");
    *(void **)s_member (message, field->offset) = array;
    size_t *filled = (size_t *)s_member (message, field->quantifier_offset);
    for (size_t index = 0; index < count; index++) {
        //  Counted before it is filled: a half-built element is freed too
        *filled = index + 1;
        size_t mark = s_path_push_index (walk, index);
        if (s_value_from_json (walk, field, json_array_get (value, index),
                               array + index * slot_size))
            return -1;
        s_path_pop (walk, mark);
    }
    return 0;
}

static int
s_field_from_json (walk_t *walk, const ProtobufCFieldDescriptor *field, const json_t *value,
                   ProtobufCMessage *message)
{
    if (!field)
        return s_fail (walk, "unknown field");
    if (!s_field_is_supported (field))
        return s_fail_unsupported (walk);
    if (field->label == PROTOBUF_C_LABEL_REPEATED)
        return s_repeated_from_json (walk, field, value, message);
    return s_value_from_json (walk, field, value, s_member (message, field->offset));
}

static int
s_message_from_json (walk_t *walk, const json_t *object, ProtobufCMessage *message)
{
    if (!json_is_object (object))
        return s_fail_type (walk, "an object", object);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)object, key, value)
    {
        size_t mark = s_path_push_key (walk, key);
        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field_by_name (message->descriptor, key);
        if (s_field_from_json (walk, field, value, message))
            return -1; //  the path stays: the error names it
        s_path_pop (walk, mark);
    }
    return s_check_dates (walk, message);
}

//  ---------------------------------------------------------------- plan rules

static int
s_fail_at (walk_t *walk, const char *path, const char *message)
{
    s_path_push_key (walk, path);
    return s_fail (walk, "%s", message);
}

//  Sharing data without a named legal route is not allowed (AVG): the
//  receiving partners must know on which ground they hold it.
static int
s_check_legal_route (walk_t *walk, const Zvh__V1__LegalBasis *basis)
{
    if (basis && basis->route != ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_UNSPECIFIED)
        return 0;
    char routes[ENUM_LIST_MAX];
    s_enum_names (&zvh__v1__legal_basis__route__descriptor, routes, sizeof routes);
    s_path_push_key (walk, "legal_basis.route");
    return s_fail (walk, "missing; a plan must name its legal route (%s)", routes);
}

//  The receiving region follows the plan and never redoes inclusion, so
//  the decision must travel with it.
static int
s_check_inclusion (walk_t *walk, const Zvh__V1__Inclusion *inclusion)
{
    if (!inclusion)
        return s_fail_at (walk, "inclusion",
                          "missing; a plan must carry its inclusion "
                          "decision (region, date, decision)");
    if (s_is_empty (inclusion->region))
        return s_fail_at (walk, "inclusion.region",
                          "missing; a plan must name the region "
                          "that decided inclusion");
    if (s_is_empty (inclusion->date))
        return s_fail_at (walk, "inclusion.date",
                          "missing; a plan must carry the date of "
                          "the inclusion decision");
    return 0;
}

//  Builds a plan from a parsed JSON tree and applies every rule. Returns
//  NULL with the error in walk; the caller frees with free_unpacked (NULL).
static Zvh__V1__Plan *
s_plan_from_tree (walk_t *walk, const json_t *tree)
{
    Zvh__V1__Plan *plan = (Zvh__V1__Plan *)malloc (sizeof (Zvh__V1__Plan));
    if (!plan) {
        s_fail (walk, "out of memory");
        return NULL;
    }
    zvh__v1__plan__init (plan);
    if (s_message_from_json (walk, tree, &plan->base) ||
        s_check_legal_route (walk, plan->legal_basis) ||
        s_check_inclusion (walk, plan->inclusion)) {
        protobuf_c_message_free_unpacked (&plan->base, NULL);
        return NULL;
    }
    return plan;
}

//  ---------------------------------------------------------------- struct to JSON

static json_t *
s_string_to_json (walk_t *walk, const char *text)
{
    json_t *value = json_string (text);
    if (!value)
        s_fail (walk, "not valid UTF-8 text");
    return value;
}

static json_t *
s_uint64_to_json (walk_t *walk, uint64_t number)
{
    if (number > (uint64_t)JSON_INTEGER_LIMIT) {
        s_fail (walk, "%llu is larger than a JSON integer can hold", (unsigned long long)number);
        return NULL;
    }
    return json_integer ((json_int_t)number);
}

static json_t *
s_value_to_json (walk_t *walk, const ProtobufCFieldDescriptor *field, const void *slot)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING:
        return s_string_to_json (walk, *(char *const *)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean (*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM:
        return s_enum_to_json (walk, field->descriptor, *(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT64:
        return s_uint64_to_json (walk, *(const uint64_t *)slot);
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_message_to_json (walk, *(ProtobufCMessage *const *)slot);
    default:
        s_fail_unsupported (walk);
        return NULL;
    }
}

//  Elements are rendered even at their default: an empty string in a list
//  is on the wire and must come back.
static int
s_repeated_to_json (walk_t *walk, const ProtobufCFieldDescriptor *field,
                    const ProtobufCMessage *message, json_t **value_p)
{
    size_t count = *(const size_t *)s_member (message, field->quantifier_offset);
    if (count == 0)
        return 0;
    const char *array = *(char **)s_member (message, field->offset);
    json_t *list = json_array ();
    for (size_t index = 0; list && index < count; index++) {
        size_t mark = s_path_push_index (walk, index);
        json_t *item = s_value_to_json (walk, field, array + index * s_slot_size (field));
        if (!item || json_array_append_new (list, item)) {
            json_decref (list);
            return item ? s_fail (walk, "out of memory") : -1;
        }
        s_path_pop (walk, mark);
    }
    *value_p = list;
    return list ? 0 : s_fail (walk, "out of memory");
}

//  Sets *value_p to the field's JSON, or leaves it NULL to omit the field
static int
s_field_to_json (walk_t *walk, const ProtobufCFieldDescriptor *field,
                 const ProtobufCMessage *message, json_t **value_p)
{
    if (!s_field_is_supported (field))
        return s_fail_unsupported (walk);
    if (field->label == PROTOBUF_C_LABEL_REPEATED)
        return s_repeated_to_json (walk, field, message, value_p);
    const void *slot = s_member (message, field->offset);
    if (s_is_default (field, slot))
        return 0;
    *value_p = s_value_to_json (walk, field, slot);
    return *value_p ? 0 : -1;
}

static json_t *
s_message_to_json (walk_t *walk, const ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *desc = message->descriptor;
    json_t *object = json_object ();
    for (unsigned index = 0; object && index < desc->n_fields; index++) {
        const ProtobufCFieldDescriptor *field = &desc->fields[index];
        size_t mark = s_path_push_key (walk, field->name);
        json_t *value = NULL;
        if (s_field_to_json (walk, field, message, &value) ||
            (value && json_object_set_new (object, field->name, value))) {
            if (value)
                s_fail (walk, "out of memory");
            json_decref (object);
            return NULL;
        }
        s_path_pop (walk, mark);
    }
    if (!object)
        s_fail (walk, "out of memory");
    return object;
}

//  ---------------------------------------------------------------- entry points

static json_t *
s_parse (const char *json, char *err, size_t err_size)
{
    if (!json) {
        s_set_error (err, err_size, "no JSON given (NULL)");
        return NULL;
    }
    if (!*json) {
        s_set_error (err, err_size, "empty input; expected a JSON object holding a plan");
        return NULL;
    }
    if (strnlen (json, JSON_MAX_BYTES + 1) > JSON_MAX_BYTES) {
        s_set_error (err, err_size, "JSON larger than %d bytes", JSON_MAX_BYTES);
        return NULL;
    }
    json_error_t error;
    json_t *tree = json_loads (json, JSON_LOAD_FLAGS, &error);
    if (!tree)
        s_set_error (err, err_size, "line %d, column %d: %s", error.line, error.column, error.text);
    return tree;
}

static int
s_encode (const Zvh__V1__Plan *plan, uint8_t **bytes_p, size_t *size_p, char *err, size_t err_size)
{
    size_t size = 0;
    uint8_t *bytes = wire_encode (&plan->base, &size);
    if (!bytes) {
        s_set_error (err, err_size, "out of memory");
        return -1;
    }
    //  Larger plans would be refused by every decoder (wire_decode)
    if (size > WIRE_MAX_PLAN_BYTES) {
        free (bytes);
        s_set_error (err, err_size, "plan: %zu bytes encoded; at most %d allowed", size,
                     WIRE_MAX_PLAN_BYTES);
        return -1;
    }
    *bytes_p = bytes;
    *size_p = size;
    return 0;
}

static Zvh__V1__Plan *
s_decode (const uint8_t *bytes, size_t size, char *err, size_t err_size)
{
    if (size > WIRE_MAX_PLAN_BYTES) {
        s_set_error (err, err_size, "plan: %zu bytes; at most %d allowed", size,
                     WIRE_MAX_PLAN_BYTES);
        return NULL;
    }
    Zvh__V1__Plan *plan = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, bytes, size);
    if (!plan)
        s_set_error (err, err_size, "plan: the bytes are not a zvh.v1.Plan");
    return plan;
}

//  The decoded plan as a JSON tree, or NULL with the error in walk
static json_t *
s_bytes_to_tree (walk_t *walk, const uint8_t *bytes, size_t size)
{
    Zvh__V1__Plan *plan = s_decode (bytes, size, walk->err, walk->err_size);
    if (!plan)
        return NULL;
    json_t *tree = s_message_to_json (walk, &plan->base);
    wire_free (&plan->base);
    return tree;
}

//  json_dumps would allocate with jansson's allocator, which an application
//  may replace: the header promises a buffer that free() takes.
static char *
s_dump (const json_t *tree, char *err, size_t err_size)
{
    size_t length = json_dumpb (tree, NULL, 0, JSON_DUMP_FLAGS);
    char *text = length ? (char *)malloc (length + 1) : NULL;
    if (!text) {
        s_set_error (err, err_size, "out of memory");
        return NULL;
    }
    json_dumpb (tree, text, length, JSON_DUMP_FLAGS);
    text[length] = '\0';
    return text;
}

int
zvh_plan_from_json (const char *json, uint8_t **bytes_p, size_t *size_p, char *err, size_t err_size)
{
    assert (bytes_p && size_p);
    *bytes_p = NULL;
    *size_p = 0;
    walk_t walk = s_walk (err, err_size);
    json_t *tree = s_parse (json, err, err_size);
    if (!tree)
        return -1;
    Zvh__V1__Plan *plan = s_plan_from_tree (&walk, tree);
    json_decref (tree);
    if (!plan)
        return -1;
    int rc = s_encode (plan, bytes_p, size_p, err, err_size);
    protobuf_c_message_free_unpacked (&plan->base, NULL);
    return rc;
}

char *
zvh_plan_to_json (const uint8_t *bytes, size_t size, char *err, size_t err_size)
{
    walk_t walk = s_walk (err, err_size);
    json_t *tree = s_bytes_to_tree (&walk, bytes, size);
    if (!tree)
        return NULL;
    char *text = s_dump (tree, err, err_size);
    json_decref (tree);
    return text;
}

//  ---------------------------------------------------------------- the fast check
//  What rendering and reading back would refuse, asked of the decoded plan
//  directly (plan_json.h). Each rule names the step above it stands for.

//  jansson's test of a string (json_string): RFC 3629 UTF-8, no overlong
//  form, no surrogate, nothing above U+10FFFF
static bool
s_utf8_valid (const char *text)
{
    const unsigned char *at = (const unsigned char *)text;
    while (*at) {
        unsigned char first = *at;
        size_t count;
        uint32_t value;
        if (first < 0x80) {
            at++;
            continue;
        }
        if (first >= 0xC2 && first <= 0xDF) {
            count = 2;
            value = first & 0x1F;
        }
        else if (first >= 0xE0 && first <= 0xEF) {
            count = 3;
            value = first & 0x0F;
        }
        else if (first >= 0xF0 && first <= 0xF4) {
            count = 4;
            value = first & 0x07;
        }
        else
            return false;
        for (size_t index = 1; index < count; index++) {
            if ((at[index] & 0xC0) != 0x80)
                return false;       //  also stops at the string's end
            value = (value << 6) | (at[index] & 0x3F);
        }
        if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF) ||
            (count == 3 && value < 0x800) || (count == 4 && value < 0x10000))
            return false;
        at += count;
    }
    return true;
}

static bool s_message_checks (const ProtobufCMessage *message);

//  One rendered value: s_value_to_json, then s_value_from_json
static bool
s_value_checks (const ProtobufCFieldDescriptor *field, const void *slot)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *)slot;
        return text && s_utf8_valid (text) && strlen (text) <= ZVH_PLAN_STRING_MAX_BYTES;
    }
    case PROTOBUF_C_TYPE_BOOL:
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        //  Rendered by name, and no name reads back as the zero value
        int32_t number = *(const int32_t *)slot;
        return number != 0 &&
               protobuf_c_enum_descriptor_get_value (field->descriptor, number) != NULL;
    }
    case PROTOBUF_C_TYPE_UINT64:
        return *(const uint64_t *)slot <= (uint64_t)JSON_INTEGER_LIMIT;
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_message_checks (*(ProtobufCMessage *const *)slot);
    default:
        return false;
    }
}

//  s_field_to_json and s_field_from_json: a list rendered whole (at most
//  ZVH_PLAN_ARRAY_MAX_ITEMS), a single value only if it is not its default
static bool
s_field_checks (const ProtobufCFieldDescriptor *field, const ProtobufCMessage *message)
{
    if (!s_field_is_supported (field))
        return false;
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t count = *(const size_t *)s_member (message, field->quantifier_offset);
        if (count > ZVH_PLAN_ARRAY_MAX_ITEMS)
            return false;
        const char *array = *(char **)s_member (message, field->offset);
        for (size_t index = 0; index < count; index++)
            if (!s_value_checks (field, array + index * s_slot_size (field)))
                return false;
        return true;
    }
    const void *slot = s_member (message, field->offset);
    return s_is_default (field, slot) || s_value_checks (field, slot);
}

static bool
s_message_checks (const ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *desc = message->descriptor;
    for (unsigned index = 0; index < desc->n_fields; index++)
        if (!s_field_checks (&desc->fields[index], message))
            return false;
    //  s_check_dates, with no error text (the rendering gives that)
    walk_t walk = s_walk (NULL, 0);
    return s_check_dates (&walk, message) == 0;
}

bool
plan_check (const Zvh__V1__Plan *plan)
{
    return plan && s_message_checks (&plan->base) && plan->legal_basis &&
           plan->legal_basis->route != ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_UNSPECIFIED &&
           plan->inclusion && !s_is_empty (plan->inclusion->region) &&
           !s_is_empty (plan->inclusion->date);
}

int
zvh_plan_validate (const uint8_t *bytes, size_t size, char *err, size_t err_size)
{
    //  The fast answer for a plan that passes; a refusal is rendered to say why
    if (size <= WIRE_MAX_PLAN_BYTES) {
        Zvh__V1__Plan *plan = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, bytes, size);
        bool passes = plan_check (plan);
        wire_free (plan ? &plan->base : NULL);
        if (passes) {
            s_set_error (err, err_size, "%s", "");
            return 0;
        }
    }
    return plan_validate_rendered (bytes, size, err, err_size);
}

int
plan_validate_rendered (const uint8_t *bytes, size_t size, char *err, size_t err_size)
{
    walk_t walk = s_walk (err, err_size);
    json_t *tree = s_bytes_to_tree (&walk, bytes, size);
    if (!tree)
        return -1;
    Zvh__V1__Plan *plan = s_plan_from_tree (&walk, tree);
    json_decref (tree);
    if (!plan)
        return -1;
    protobuf_c_message_free_unpacked (&plan->base, NULL);
    return 0;
}
