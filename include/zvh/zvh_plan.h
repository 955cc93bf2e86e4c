/*  zvh_plan: life-course plans (levensloopplan) as JSON, for libzvh users.
 *
 *  A plan travels as a serialised zvh.v1.Plan protobuf (proto/zvh.proto).
 *  Partners and case systems read and write it as JSON instead: these
 *  functions map one to the other, field by field, and refuse anything that
 *  does not fit the schema with an error that names the field.
 *
 *  JSON shape: the proto3 field names in snake_case; enums as their names
 *  without prefix, lower case ("long", "housing", "up", "very_high",
 *  "consent"); uint64 version as a JSON integer. A field at its proto3
 *  default (empty string, empty list, zero enum, false, 0) is left out, as
 *  on the wire. See config/example-plan.json.
 *
 *  A valid plan: every field known and of its type; strings of at most
 *  ZVH_PLAN_STRING_MAX_BYTES, lists of at most ZVH_PLAN_ARRAY_MAX_ITEMS;
 *  dates (review_date, goals[].due, risk_assessments[].date, consent_date,
 *  inclusion.date), when given, as YYYY-MM-DD; legal_basis.route set;
 *  inclusion.region and inclusion.date set; at most 1 MiB encoded (the
 *  daemon's plan limit). Errors name the JSON path: "domains[2].goals[0].term: ...".
 */
#ifndef ZVH_PLAN_H
#define ZVH_PLAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZVH_PLAN_ERR_MAX           256    //  room for an error message
#define ZVH_PLAN_STRING_MAX_BYTES  4096   //  longest string value in a plan
#define ZVH_PLAN_ARRAY_MAX_ITEMS   256    //  longest list in a plan

//  Parse a JSON plan and serialise it as a zvh.v1.Plan. On success returns 0
//  and a malloc'd buffer in *bytes_p (caller frees) of *size_p bytes. On
//  failure returns -1, sets *bytes_p to NULL and writes a message naming the
//  field into err (syntax errors give jansson's line and column). err may
//  be NULL; a message longer than err_size is cut short.
int
    zvh_plan_from_json (const char *json, uint8_t **bytes_p, size_t *size_p,
                        char *err, size_t err_size);

//  Render a serialised zvh.v1.Plan as pretty JSON (two-space indent, fields
//  in schema order, so equal plans give equal text). Returns a malloc'd
//  string (caller frees), or NULL with a message in err if the bytes are not
//  a plan or hold a value JSON cannot express (an enum value this version
//  does not know, text that is not UTF-8). Fields unknown to this version
//  are not rendered. For a plan that validates, zvh_plan_from_json of the
//  result gives back the same bytes (when they were encoded canonically,
//  as protobuf-c and zvh_plan_from_json do).
char *
    zvh_plan_to_json (const uint8_t *bytes, size_t size,
                      char *err, size_t err_size);

//  Check a serialised plan by the same rules as zvh_plan_from_json: it
//  decodes, renders as JSON, and that JSON is a valid plan (see above:
//  legal route, inclusion, dates, limits). Returns 0, or -1 with a message
//  in err naming the field.
int
    zvh_plan_validate (const uint8_t *bytes, size_t size,
                       char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
