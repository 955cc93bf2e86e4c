/*  fuzz_plan_bytes: zvh_plan_to_json and zvh_plan_validate on any bytes.
 *
 *  Bytes that are not a plan are refused by both with a message; a plan
 *  that validates renders, its JSON parses back to the plan's canonical
 *  bytes (when it holds no fields unknown to this version), and rendering
 *  those gives the same JSON. validate and "render, then parse" agree.
 */
#include "fuzz_common.h"
#include "zvh/zvh_plan.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_plan_bytes_check (data, size);
    if (size % 4 != 0)
        return 0;               //  the checks below decode again: a quarter will do
    //  err may be NULL (and err_size 0): the same answers
    char err [ZVH_PLAN_ERR_MAX];
    int valid = zvh_plan_validate (data, size, err, sizeof err);
    FUZZ_CHECK (zvh_plan_validate (data, size, NULL, 0) == valid,
                "zvh_plan_validate answers differently with err NULL");
    char *json = zvh_plan_to_json (data, size, err, sizeof err);
    char *quiet = zvh_plan_to_json (data, size, NULL, 0);
    FUZZ_CHECK (!json == !quiet && (!json || strcmp (json, quiet) == 0),
                "zvh_plan_to_json answers differently with err NULL");
    free (quiet);
    free (json);
    return 0;
}
