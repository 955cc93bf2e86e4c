/*  fuzz_plan_json: zvh_plan_from_json on any text.
 *
 *  The input is the JSON text (cut at its first NUL, as a C string is).
 *  A refusal sets no bytes and names the problem; an accepted plan is at
 *  most WIRE_MAX_PLAN_BYTES, validates, is protobuf-c's canonical encoding
 *  (decode and encode give it back), and its JSON rendering parses back to
 *  the same bytes. The same call with err NULL gives the same answer, and a
 *  short err buffer is cut, never overrun (checked on a quarter of inputs).
 */
#include "fuzz_common.h"
#include "zvh/zvh_plan.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_check_accepted (const uint8_t *bytes, size_t size)
{
    char err [ZVH_PLAN_ERR_MAX];
    FUZZ_CHECK (size <= WIRE_MAX_PLAN_BYTES, "accepted a plan of %zu bytes", size);
    FUZZ_CHECK (zvh_plan_validate (bytes, size, err, sizeof err) == 0,
                "zvh_plan_from_json accepted a plan that zvh_plan_validate refuses: %s", err);
    ProtobufCMessage *plan = wire_decode (&zvh__v1__plan__descriptor, bytes, size);
    FUZZ_CHECK (plan, "the plan bytes do not decode");
    size_t canonical_size = 0;
    uint8_t *canonical = wire_encode (plan, &canonical_size);
    FUZZ_CHECK (canonical && canonical_size == size && memcmp (canonical, bytes, size) == 0,
                "the plan bytes are not protobuf-c's encoding of themselves");
    free (canonical);
    wire_free (plan);

    char *json = zvh_plan_to_json (bytes, size, err, sizeof err);
    FUZZ_CHECK (json, "an accepted plan does not render: %s", err);
    uint8_t *again = NULL;
    size_t again_size = 0;
    FUZZ_CHECK (zvh_plan_from_json (json, &again, &again_size, err, sizeof err) == 0,
                "the rendering of an accepted plan does not parse: %s\n%s", err, json);
    FUZZ_CHECK (again_size == size && memcmp (again, bytes, size) == 0,
                "JSON -> plan -> JSON -> plan changed the bytes (%zu -> %zu)\n%s", size,
                again_size, json);
    free (again);
    free (json);
    fuzz_plan_bytes_check (bytes, size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size + 1);
    FUZZ_CHECK (text, "out of memory");
    memcpy (text, data, size);
    text [size] = '\0';

    char err [ZVH_PLAN_ERR_MAX];
    uint8_t *bytes = (uint8_t *) text;     //  must be replaced
    size_t bytes_size = 1;
    int rc = zvh_plan_from_json (text, &bytes, &bytes_size, err, sizeof err);
    FUZZ_CHECK (rc == 0 || rc == -1, "zvh_plan_from_json returned %d", rc);
    if (rc == 0)
        s_check_accepted (bytes, bytes_size);
    else
        FUZZ_CHECK (!bytes && bytes_size == 0 && *err,
                    "a refusal must clear the output and say why");
    //  The two checks below parse again: a quarter of the inputs is enough
    if (size % 4 != 0) {
        free (bytes);
        free (text);
        return 0;
    }
    //  err may be NULL (and err_size 0): same answer
    uint8_t *quiet = NULL;
    size_t quiet_size = 0;
    int quiet_rc = zvh_plan_from_json (text, &quiet, &quiet_size, NULL, 0);
    FUZZ_CHECK (quiet_rc == rc && quiet_size == bytes_size
                && (rc != 0 || memcmp (quiet, bytes, bytes_size) == 0),
                "the answer changes with err NULL");
    //  a short err buffer is cut, never overrun
    char short_err [8];
    memset (short_err, 'x', sizeof short_err);
    uint8_t *cut = NULL;
    size_t cut_size = 0;
    zvh_plan_from_json (text, &cut, &cut_size, short_err, sizeof short_err);
    FUZZ_CHECK (memchr (short_err, '\0', sizeof short_err), "short err not terminated");
    free (cut);
    free (quiet);
    free (bytes);
    free (text);
    return 0;
}
