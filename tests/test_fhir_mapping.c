/*  test_fhir_mapping: the FHIR R4 mapping tables and the shape of what they fill.
 *
 *  The full output is validated against the official R4 JSON schema by the
 *  integration test (tests/integration/test_fhir.py); here each mapping is
 *  checked one behaviour at a time, with small hand-made inputs.
 */
#include "zvh/zvh.h"
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

#define REGION "groningen"
#define AUDIT_RECORD                                                                               \
    "{\"seq\": 7, \"time_ms\": 1717400000123, \"action\": \"disclose\", \"outcome\": \"ok\", "     \
    "\"actor\": \"police-noord\", \"actor_role\": \"police\", \"on_behalf\": \"Politie Noord\", "  \
    "\"purpose\": \"crisis signal\", \"legal_basis\": \"consent\", \"case_id\": \"c-1\", "         \
    "\"event_id\": \"groningen/3\", \"source\": \"partner endpoint\", \"detail\": \"view\", "      \
    "\"prev_hash\": \"00\", \"hash\": \"11\"}"
#define PLAN                                                                                       \
    "{\"review_date\": \"2024-09-01\", \"inclusion\": {\"region\": \"groningen\", "                \
    "\"date\": \"2024-06-03\"}, \"domains\": [{\"kind\": \"housing\", \"goals\": [{\"term\": "     \
    "\"long\", \"text\": \"own home\", \"responsible\": \"wijkteam\"}]}], \"scenarios\": "         \
    "[{\"direction\": \"up\", \"actions\": [{\"role\": \"police\", \"action\": \"inform\"}, "      \
    "{\"role\": \"wijkteam\", \"action\": \"visit\"}]}], \"team\": [{\"name\": \"J. Jansen\"}]}"

static json_t *
s_audit_event (const char *record)
{
    char *text = zvh_audit_fhir (record, REGION);
    assert_non_null (text);
    json_t *event = json_loads (text, 0, NULL);
    free (text);
    assert_non_null (event);
    return event;
}

static json_t *
s_bundle (const char *state, const char *plan, const zvh_custody_link_t *links, size_t count)
{
    zvh_case_t c = {.id = "c-1", .owner = "drenthe", .updated_ms = 1717400000000};
    snprintf (c.state, sizeof c.state, "%s", state);
    char *text = zvh_case_fhir (&c, plan, links, count);
    assert_non_null (text);
    json_t *bundle = json_loads (text, 0, NULL);
    free (text);
    assert_non_null (bundle);
    return bundle;
}

static json_t *
s_resource (json_t *bundle, size_t index)
{
    return json_object_get (json_array_get (json_object_get (bundle, "entry"), index), "resource");
}

static void
test_every_audit_action_maps_to_a_fhir_action (void **state)
{
    (void)state;
    assert_string_equal (zvh_fhir_action_code ("create"), "C");
    assert_string_equal (zvh_fhir_action_code ("read"), "R");
    assert_string_equal (zvh_fhir_action_code ("change"), "U");
    assert_string_equal (zvh_fhir_action_code ("transfer"), "R");
    assert_string_equal (zvh_fhir_action_code ("receive"), "C");
    assert_string_equal (zvh_fhir_action_code ("disclose"), "R");
    assert_string_equal (zvh_fhir_action_code ("refuse"), "E");
    assert_string_equal (zvh_fhir_action_code ("unheard-of"), "E");
}

static void
test_outcomes_map_to_success_or_failure_codes (void **state)
{
    (void)state;
    assert_int_equal (zvh_fhir_outcome_code ("ok"), 0);
    assert_int_equal (zvh_fhir_outcome_code ("refused"), 4);
    assert_int_equal (zvh_fhir_outcome_code ("unheard-of"), 8);
}

static void
test_audit_event_carries_the_nen_7513_fields (void **state)
{
    (void)state;
    json_t *event = s_audit_event (AUDIT_RECORD);
    assert_string_equal (json_string_value (json_object_get (event, "resourceType")), "AuditEvent");
    assert_string_equal (json_string_value (json_object_get (event, "action")), "R");
    assert_string_equal (json_string_value (json_object_get (event, "outcome")), "0");
    assert_string_equal (json_string_value (json_object_get (event, "recorded")),
                         "2024-06-03T07:33:20.123Z");
    assert_string_equal (json_string_value (json_object_get (event, "outcomeDesc")), "view");
    json_t *agents = json_object_get (event, "agent");
    assert_int_equal (json_array_size (agents), 2);
    json_t *actor = json_array_get (agents, 0), *org = json_array_get (agents, 1);
    assert_true (json_is_true (json_object_get (actor, "requestor")));
    assert_string_equal (
        json_string_value (json_object_get (
            json_object_get (json_object_get (actor, "who"), "identifier"), "value")),
        "police-noord");
    assert_string_equal (json_string_value (json_object_get (
                             json_array_get (json_object_get (actor, "role"), 0), "text")),
                         "police");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (org, "who"), "display")),
        "Politie Noord");
    json_t *source = json_object_get (event, "source");
    assert_string_equal (json_string_value (json_object_get (source, "site")), "partner endpoint");
    assert_string_equal (
        json_string_value (json_object_get (
            json_object_get (json_object_get (source, "observer"), "identifier"), "value")),
        REGION);
    //  case, event, and the trail entry itself
    assert_int_equal (json_array_size (json_object_get (event, "entity")), 3);
    json_decref (event);
}

static void
test_audit_event_without_case_or_partner_has_no_empty_parts (void **state)
{
    (void)state;
    json_t *event = s_audit_event ("{\"seq\": 1, \"time_ms\": 0, \"action\": \"refuse\", "
                                   "\"outcome\": \"refused\", \"actor\": \"unknown key\"}");
    assert_string_equal (json_string_value (json_object_get (event, "outcome")), "4");
    assert_int_equal (json_array_size (json_object_get (event, "agent")), 1);
    assert_int_equal (json_array_size (json_object_get (event, "entity")), 1);
    assert_null (json_object_get (event, "purposeOfEvent"));
    json_decref (event);
}

static void
test_audit_fhir_refuses_a_non_object (void **state)
{
    (void)state;
    assert_null (zvh_audit_fhir ("[1]", REGION));
    assert_null (zvh_audit_fhir ("not json", REGION));
}

static void
test_bundle_holds_careplan_flag_and_provenance (void **state)
{
    (void)state;
    zvh_custody_link_t link = {"t-1", "groningen", "drenthe"};
    json_t *bundle = s_bundle ("active", PLAN, &link, 1);
    assert_string_equal (json_string_value (json_object_get (bundle, "type")), "collection");
    const char *types[] = {"CarePlan", "Flag", "Provenance", "Provenance"};
    assert_int_equal (json_array_size (json_object_get (bundle, "entry")), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal (
            json_string_value (json_object_get (s_resource (bundle, i), "resourceType")), types[i]);
    json_t *transfer = s_resource (bundle, 3);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (transfer, "activity"), "text")),
        "transfer");
    assert_int_equal (json_array_size (json_object_get (transfer, "agent")), 2);
    json_decref (bundle);
}

static void
test_activities_are_grouped_per_partner_role (void **state)
{
    (void)state;
    json_t *bundle = s_bundle ("active", PLAN, NULL, 0);
    json_t *activities = json_object_get (s_resource (bundle, 0), "activity");
    const char *roles[] = {"wijkteam", "wijkteam", "police"};
    assert_int_equal (json_array_size (activities), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *detail = json_object_get (json_array_get (activities, i), "detail");
        assert_string_equal (
            json_string_value (json_object_get (
                json_array_get (json_object_get (detail, "performer"), 0), "display")),
            roles[i]);
    }
    json_decref (bundle);
}

static void
test_team_names_never_reach_the_bundle (void **state)
{
    (void)state;
    zvh_case_t c = {.id = "c-1", .state = "active"};
    char *text = zvh_case_fhir (&c, PLAN, NULL, 0);
    assert_non_null (text);
    assert_null (strstr (text, "Jansen"));
    free (text);
}

static void
test_label_is_inactive_once_the_case_left_or_closed (void **state)
{
    (void)state;
    const char *states[] = {"tombstone", "closed"};
    for (size_t i = 0; i < 2; i++) {
        json_t *bundle = s_bundle (states[i], NULL, NULL, 0);
        assert_string_equal (json_string_value (json_object_get (s_resource (bundle, 1), "status")),
                             "inactive");
        json_decref (bundle);
    }
}

static void
test_without_the_plan_the_including_region_is_the_first_source (void **state)
{
    (void)state;
    zvh_custody_link_t link = {"t-1", "groningen", "drenthe"};
    json_t *bundle = s_bundle ("tombstone", NULL, &link, 1);
    json_t *who = json_object_get (
        json_array_get (json_object_get (s_resource (bundle, 2), "agent"), 0), "who");
    assert_string_equal (json_string_value (json_object_get (who, "display")), "groningen");
    json_decref (bundle);
}

static void
test_same_case_renders_the_same_bundle (void **state)
{
    (void)state;
    zvh_case_t c = {.id = "c-1", .state = "active"};
    char *first = zvh_case_fhir (&c, PLAN, NULL, 0), *second = zvh_case_fhir (&c, PLAN, NULL, 0);
    assert_string_equal (first, second);
    assert_non_null (strstr (first, "\"urn:uuid:"));
    free (first);
    free (second);
}

static void
test_case_fhir_refuses_a_plan_that_is_no_object (void **state)
{
    (void)state;
    zvh_case_t c = {.id = "c-1", .state = "active"};
    assert_null (zvh_case_fhir (&c, "[]", NULL, 0));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_audit_action_maps_to_a_fhir_action),
        cmocka_unit_test (test_outcomes_map_to_success_or_failure_codes),
        cmocka_unit_test (test_audit_event_carries_the_nen_7513_fields),
        cmocka_unit_test (test_audit_event_without_case_or_partner_has_no_empty_parts),
        cmocka_unit_test (test_audit_fhir_refuses_a_non_object),
        cmocka_unit_test (test_bundle_holds_careplan_flag_and_provenance),
        cmocka_unit_test (test_activities_are_grouped_per_partner_role),
        cmocka_unit_test (test_team_names_never_reach_the_bundle),
        cmocka_unit_test (test_label_is_inactive_once_the_case_left_or_closed),
        cmocka_unit_test (test_without_the_plan_the_including_region_is_the_first_source),
        cmocka_unit_test (test_same_case_renders_the_same_bundle),
        cmocka_unit_test (test_case_fhir_refuses_a_plan_that_is_no_object),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
