/*  plan_json (internal): the plan rules checked on the decoded plan,
 *  without rendering it as JSON.
 *
 *  zvh_plan_validate renders a plan as JSON and reads it back, so that one
 *  set of rules decides and every error names its field. That costs a JSON
 *  tree per plan; a daemon checks every plan it receives. plan_check is the
 *  fast answer for the plans that pass: when it says yes, the rendering
 *  would have; when it says no, zvh_plan_validate renders to find out why.
 *  The two are compared on every input the fuzzers make (fuzz_plan_bytes)
 *  and on each rule in test_plan_json.
 */
#ifndef ZVH_PLAN_JSON_H
#define ZVH_PLAN_JSON_H

#include "zvh.pb-c.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  True if the decoded plan meets every rule zvh_plan_validate applies.
bool
    plan_check (const Zvh__V1__Plan *plan);

//  zvh_plan_validate by rendering only (no fast answer): for comparing.
int
    plan_validate_rendered (const uint8_t *bytes, size_t size, char *err, size_t err_size);

#endif
