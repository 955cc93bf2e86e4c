/*  fhir: a case and its audit trail as HL7 FHIR R4 (4.0.1) JSON.
 *
 *  Case systems and audit tooling speak FHIR; zvhctl speaks our own JSON.
 *  This module maps one to the other and holds every mapping table in one
 *  place: a case becomes a Bundle (type collection) of a CarePlan (the
 *  plan's goals and actions, grouped per partner role), a Flag (the label
 *  Levensloopaanpak) and Provenance (the inclusion, then each hand-over of
 *  the chain of custody); an audit entry becomes an AuditEvent.
 *
 *  The person is never named: every subject is a logical reference by the
 *  pseudonymous case id, and nothing beyond the plan's own fields is added.
 *  Team members (names, contacts) and partner references stay out: a case
 *  system that needs them has the plan itself. Output is deterministic (the
 *  urn:uuid of each entry is derived from the case id), so two renderings of
 *  the same case compare equal.
 */
#include "zvh/zvh.h"
#include <assert.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARRAY_LENGTH(array) (sizeof (array) / sizeof ((array)[0]))
#define streq(a, b) (strcmp ((a), (b)) == 0)

//  Identifier systems: URNs under the project's name, so a receiver can
//  tell our pseudonymous ids from any national identifier
#define SYSTEM_CASE "urn:zvh-federation:case"
#define SYSTEM_REGION "urn:zvh-federation:region"
#define SYSTEM_TRANSFER "urn:zvh-federation:transfer"
#define SYSTEM_EVENT "urn:zvh-federation:event"
#define SYSTEM_AUDIT "urn:zvh-federation:audit"
#define SYSTEM_PARTICIPANT "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
#define SYSTEM_DICOM "http://dicom.nema.org/resources/ontology/DCM"
#define SYSTEM_ENTITY_TYPE "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#define SYSTEM_OBJECT_ROLE "http://terminology.hl7.org/CodeSystem/object-role"
#define LABEL_TEXT "Levensloopaanpak"

#define MS_PER_SECOND 1000
#define INSTANT_MAX 32 //  "YYYY-MM-DDThh:mm:ss.sssZ" and room
#define UUID_BYTES 16
#define UUID_TEXT_MAX 48 //  "urn:uuid:" + 36 + NUL
//  RFC 4122 version 4 layout bits, so the derived id reads as a UUID
#define UUID_VERSION_BYTE 6
#define UUID_VARIANT_BYTE 8
#define UUID_VERSION_MASK 0x0f
#define UUID_VERSION_4 0x40
#define UUID_VARIANT_MASK 0x3f
#define UUID_VARIANT_RFC 0x80
#define JSON_DUMP_FLAGS (JSON_INDENT (2) | JSON_PRESERVE_ORDER)

//  AuditEvent.outcome (R4 value set audit-event-outcome)
#define OUTCOME_SUCCESS 0
#define OUTCOME_MINOR_FAILURE 4
#define OUTCOME_SERIOUS_FAILURE 8

//  Our audit actions (PROTOCOL 10.5) as AuditEvent.action and type. A
//  transfer or disclosure reads the record out (R, DICOM Export); a received
//  event creates data here (C, DICOM Import); a refusal is an executed check
//  (E, DICOM Security Alert).
static const struct {
    const char *action;
    const char *code;      //  audit-event-action: C R U D E
    const char *type_code; //  DICOM audit event id
    const char *type_display;
} s_actions[] = {
    {"create", "C", "110110", "Patient Record"}, {"read", "R", "110110", "Patient Record"},
    {"change", "U", "110110", "Patient Record"}, {"transfer", "R", "110106", "Export"},
    {"receive", "C", "110107", "Import"},        {"disclose", "R", "110106", "Export"},
    {"refuse", "E", "110113", "Security Alert"},
};

//  Our outcomes: a refusal is a request turned down as it should be
//  (a minor failure), anything unknown is treated as a serious one
static const struct {
    const char *outcome;
    int code;
} s_outcomes[] = {
    {"ok", OUTCOME_SUCCESS},
    {"refused", OUTCOME_MINOR_FAILURE},
};

//  Case states (zvh_case_t.state) whose label still stands here
static const char *s_label_states[] = {"active", "offered", "joint_target", "joint_source"};

//  ---------------------------------------------------------------- small parts

const char *
zvh_fhir_action_code (const char *action)
{
    for (size_t i = 0; action && i < ARRAY_LENGTH (s_actions); i++)
        if (streq (s_actions[i].action, action))
            return s_actions[i].code;
    return "E";
}

int
zvh_fhir_outcome_code (const char *outcome)
{
    for (size_t i = 0; outcome && i < ARRAY_LENGTH (s_outcomes); i++)
        if (streq (s_outcomes[i].outcome, outcome))
            return s_outcomes[i].code;
    return OUTCOME_SERIOUS_FAILURE;
}

static bool
s_label_stands (const char *state)
{
    for (size_t i = 0; i < ARRAY_LENGTH (s_label_states); i++)
        if (streq (s_label_states[i], state))
            return true;
    return false;
}

static bool
s_is_set (const char *text)
{
    return text && *text;
}

//  An epoch-ms time as a FHIR instant (UTC, milliseconds).
static void
s_instant (int64_t time_ms, char *out, size_t size)
{
    time_t seconds = (time_t)(time_ms / MS_PER_SECOND);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    char whole[INSTANT_MAX];
    strftime (whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    //  The result is checked (GCC's -O3 truncation warning wants it so): a
    //  buffer too small for an instant gives an empty one, not half a time
    int written = snprintf (out, size, "%s.%03dZ", whole,
                            (int) (time_ms % MS_PER_SECOND));
    if (written < 0 || (size_t) written >= size)
        *out = 0;
}

//  A urn:uuid derived from the case id and what the entry is, so the
//  same case renders the same Bundle (and no randomness is needed).
static void
s_uuid (const char *case_id, const char *what, size_t index, char *out, size_t size)
{
    uint8_t digest[UUID_BYTES];
    char seed[2 * ZVH_ID_MAX + 64];
    snprintf (seed, sizeof seed, "zvh.fhir|%s|%s|%zu", case_id, what, index);
    crypto_generichash (digest, sizeof digest, (const uint8_t *)seed, strlen (seed), NULL, 0);
    digest[UUID_VERSION_BYTE] = (digest[UUID_VERSION_BYTE] & UUID_VERSION_MASK) | UUID_VERSION_4;
    digest[UUID_VARIANT_BYTE] = (digest[UUID_VARIANT_BYTE] & UUID_VARIANT_MASK) | UUID_VARIANT_RFC;
    const uint8_t *d = digest;
    snprintf (out, size,
              "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0],
              d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13],
              d[14], d[15]);
}

static json_t *
s_text (const char *text)
{
    return json_pack ("{s:s}", "text", text);
}

static json_t *
s_identifier (const char *system, const char *value)
{
    return json_pack ("{s:s, s:s}", "system", system, "value", value);
}

//  A logical reference: the thing by its identifier, no resource behind it.
static json_t *
s_logical (const char *type, const char *system, const char *value)
{
    return json_pack ("{s:s, s:o, s:s}", "type", type, "identifier", s_identifier (system, value),
                      "display", value);
}

static json_t *
s_subject (const char *case_id)
{
    return s_logical ("Patient", SYSTEM_CASE, case_id);
}

static json_t *
s_region (const char *region)
{
    return s_logical ("Organization", SYSTEM_REGION, region);
}

static const char *
s_get (const json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

//  ---------------------------------------------------------------- CarePlan

//  Add role to roles unless it is there: the order roles first appear in.
static void
s_add_role (json_t *roles, const char *role)
{
    size_t index;
    json_t *known;
    json_array_foreach (roles, index, known) if (streq (json_string_value (known), role)) return;
    json_array_append_new (roles, json_string (role));
}

//  Every partner role the plan gives work to: goals' responsible, then
//  scenario actions' role.
static json_t *
s_plan_roles (const json_t *plan)
{
    json_t *roles = json_array ();
    size_t i, j;
    json_t *item, *sub;
    json_array_foreach (json_object_get (plan, "domains"), i, item)
        json_array_foreach (json_object_get (item, "goals"), j, sub)
            s_add_role (roles, s_get (sub, "responsible"));
    json_array_foreach (json_object_get (plan, "scenarios"), i, item)
        json_array_foreach (json_object_get (item, "actions"), j, sub)
            s_add_role (roles, s_get (sub, "role"));
    return roles;
}

static json_t *
s_goal_label (const json_t *domain, const json_t *goal)
{
    char label[ZVH_ID_MAX * 2];
    snprintf (label, sizeof label, "%s, %s term goal", s_get (domain, "kind"),
              s_get (goal, "term"));
    return s_text (label);
}

//  One activity: the detail (status is required) with its performer role.
static json_t *
s_activity (json_t *code, const char *description, const char *role, const char *due,
            const char *status)
{
    json_t *detail =
        json_pack ("{s:o, s:s, s:s}", "code", code, "status", status, "description", description);
    if (s_is_set (due))
        json_object_set_new (detail, "scheduledString", json_string (due));
    json_object_set_new (detail, "performer", json_pack ("[{s:s}]", "display", role));
    return json_pack ("{s:o}", "detail", detail);
}

static void
s_add_goal_activities (json_t *activities, const json_t *plan, const char *role)
{
    size_t i, j;
    json_t *domain, *goal;
    json_array_foreach (json_object_get (plan, "domains"), i, domain) json_array_foreach (
        json_object_get (domain, "goals"), j, goal) if (streq (s_get (goal, "responsible"), role))
        json_array_append_new (activities,
                               s_activity (s_goal_label (domain, goal), s_get (goal, "text"), role,
                                           s_get (goal, "due"), "in-progress"));
}

//  Scenario actions wait for the scenario: not started until a signal.
static void
s_add_scenario_activities (json_t *activities, const json_t *plan, const char *role)
{
    size_t i, j;
    json_t *scenario, *action;
    json_array_foreach (json_object_get (plan, "scenarios"), i, scenario) json_array_foreach (
        json_object_get (scenario, "actions"), j, action) if (streq (s_get (action, "role"), role))
    {
        char label[ZVH_ID_MAX];
        snprintf (label, sizeof label, "scale %s scenario", s_get (scenario, "direction"));
        json_array_append_new (activities, s_activity (s_text (label), s_get (action, "action"),
                                                       role, NULL, "not-started"));
    }
}

//  The plan's goals and actions as activities, grouped per partner role.
static json_t *
s_activities (const json_t *plan)
{
    json_t *activities = json_array ();
    json_t *roles = s_plan_roles (plan);
    size_t index;
    json_t *role;
    json_array_foreach (roles, index, role)
    {
        s_add_goal_activities (activities, plan, json_string_value (role));
        s_add_scenario_activities (activities, plan, json_string_value (role));
    }
    json_decref (roles);
    return activities;
}

//  The goals themselves, by text (Goal resources are not rendered).
static json_t *
s_goals (const json_t *plan)
{
    json_t *goals = json_array ();
    size_t i, j;
    json_t *domain, *goal;
    json_array_foreach (json_object_get (plan, "domains"), i, domain)
        json_array_foreach (json_object_get (domain, "goals"), j, goal)
            json_array_append_new (goals, json_pack ("{s:s}", "display", s_get (goal, "text")));
    return goals;
}

static const char *
s_careplan_status (const zvh_case_t *c)
{
    if (streq (c->state, "closed"))
        return "completed";
    return s_label_stands (c->state) ? "active" : "unknown";
}

static json_t *
s_careplan (const zvh_case_t *c, const json_t *plan)
{
    json_t *careplan =
        json_pack ("{s:s, s:s, s:s, s:[o], s:s, s:o}", "resourceType", "CarePlan", "status",
                   s_careplan_status (c), "intent", "plan", "category", s_text ("levensloopplan"),
                   "title", "Levensloopplan", "subject", s_subject (c->id));
    json_object_set_new (careplan, "identifier",
                         json_pack ("[o]", s_identifier (SYSTEM_CASE, c->id)));
    if (!plan)
        return careplan;
    if (s_is_set (s_get (plan, "review_date")))
        json_object_set_new (careplan, "period",
                             json_pack ("{s:s}", "end", s_get (plan, "review_date")));
    json_t *goals = s_goals (plan), *activities = s_activities (plan);
    if (json_array_size (goals))
        json_object_set_new (careplan, "goal", goals);
    else
        json_decref (goals);
    if (json_array_size (activities))
        json_object_set_new (careplan, "activity", activities);
    else
        json_decref (activities);
    return careplan;
}

//  ---------------------------------------------------------------- Flag, Provenance

static json_t *
s_flag (const zvh_case_t *c)
{
    return json_pack ("{s:s, s:s, s:o, s:o}", "resourceType", "Flag", "status",
                      s_label_stands (c->state) ? "active" : "inactive", "code",
                      s_text (LABEL_TEXT), "subject", s_subject (c->id));
}

static json_t *
s_agent (const char *region, const char *type_code, const char *type_text)
{
    json_t *type = json_pack ("{s:[{s:s, s:s}], s:s}", "coding", "system", SYSTEM_PARTICIPANT,
                              "code", type_code, "text", type_text);
    return json_pack ("{s:o, s:o}", "type", type, "who", s_region (region));
}

//  A Provenance of the CarePlan: one event of its custody.
static json_t *
s_provenance (const char *careplan_url, const char *recorded, const char *activity)
{
    return json_pack ("{s:s, s:[{s:s, s:s}], s:s, s:o, s:[]}", "resourceType", "Provenance",
                      "target", "reference", careplan_url, "type", "CarePlan", "recorded", recorded,
                      "activity", s_text (activity), "agent");
}

//  The inclusion: decided by its region on its date, as the plan says.
//  A region holding no plan (a tombstone) knows the first owner from the
//  chain of custody (its oldest link's source), else it is the owner.
static json_t *
s_inclusion_provenance (const zvh_case_t *c, const json_t *plan, const zvh_custody_link_t *links,
                        size_t link_count, const char *careplan_url, const char *recorded)
{
    json_t *inclusion = json_object_get (plan, "inclusion");
    const char *region = s_get (inclusion, "region");
    if (!s_is_set (region))
        region = link_count ? links[0].source : c->owner;
    json_t *provenance = s_provenance (careplan_url, recorded, "inclusion");
    if (s_is_set (s_get (inclusion, "date")))
        json_object_set_new (provenance, "occurredDateTime",
                             json_string (s_get (inclusion, "date")));
    json_array_append_new (json_object_get (provenance, "agent"),
                           s_agent (region, "author", "including region"));
    return provenance;
}

//  A hand-over: the source released the case, the target took custody.
static json_t *
s_transfer_provenance (const zvh_custody_link_t *link, const char *careplan_url,
                       const char *recorded)
{
    json_t *provenance = s_provenance (careplan_url, recorded, "transfer");
    json_t *agents = json_object_get (provenance, "agent");
    json_array_append_new (agents, s_agent (link->source, "performer", "releasing region"));
    json_array_append_new (agents, s_agent (link->target, "custodian", "receiving region"));
    json_t *what =
        json_pack ("{s:o, s:s}", "identifier", s_identifier (SYSTEM_TRANSFER, link->transfer_id),
                   "display", "signed custody link (offer and accept)");
    json_object_set_new (provenance, "entity",
                         json_pack ("[{s:s, s:o}]", "role", "source", "what", what));
    return provenance;
}

//  ---------------------------------------------------------------- Bundle

static void
s_add_entry (json_t *entries, const char *url, json_t *resource)
{
    json_array_append_new (entries, json_pack ("{s:s, s:o}", "fullUrl", url, "resource", resource));
}

static char *
s_dump (json_t *json)
{
    char *text = json ? json_dumps (json, JSON_DUMP_FLAGS) : NULL;
    json_decref (json);
    return text;
}

char *
zvh_case_fhir (const zvh_case_t *c, const char *plan_json, const zvh_custody_link_t *links,
               size_t link_count)
{
    assert (c);
    json_t *plan = plan_json ? json_loads (plan_json, 0, NULL) : NULL;
    if (plan_json && !json_is_object (plan)) {
        json_decref (plan);
        return NULL;
    }
    char recorded[INSTANT_MAX], url[UUID_TEXT_MAX], careplan_url[UUID_TEXT_MAX];
    s_instant (c->updated_ms, recorded, sizeof recorded);
    json_t *entries = json_array ();
    s_uuid (c->id, "CarePlan", 0, careplan_url, sizeof careplan_url);
    s_add_entry (entries, careplan_url, s_careplan (c, plan));
    s_uuid (c->id, "Flag", 0, url, sizeof url);
    s_add_entry (entries, url, s_flag (c));
    s_uuid (c->id, "Provenance", 0, url, sizeof url);
    s_add_entry (entries, url,
                 s_inclusion_provenance (c, plan, links, link_count, careplan_url, recorded));
    for (size_t i = 0; i < link_count; i++) {
        s_uuid (c->id, "Provenance", i + 1, url, sizeof url);
        s_add_entry (entries, url, s_transfer_provenance (&links[i], careplan_url, recorded));
    }
    json_decref (plan);
    return s_dump (json_pack ("{s:s, s:s, s:s, s:o}", "resourceType", "Bundle", "type",
                              "collection", "timestamp", recorded, "entry", entries));
}

//  ---------------------------------------------------------------- AuditEvent

static json_t *
s_audit_type (const char *action)
{
    for (size_t i = 0; i < ARRAY_LENGTH (s_actions); i++)
        if (streq (s_actions[i].action, action))
            return json_pack ("{s:s, s:s, s:s}", "system", SYSTEM_DICOM, "code",
                              s_actions[i].type_code, "display", s_actions[i].type_display);
    return json_pack ("{s:s, s:s, s:s}", "system", SYSTEM_DICOM, "code", "110113", "display",
                      "Security Alert");
}

//  The actor (the requestor) and, as R4 has no agent.onBehalfOf, the
//  organisation it acts for as a second agent.
static json_t *
s_audit_agents (const json_t *record)
{
    json_t *who = json_pack ("{s:o, s:s}", "identifier",
                             json_pack ("{s:s}", "value", s_get (record, "actor")), "display",
                             s_get (record, "actor"));
    json_t *actor = json_pack ("{s:o, s:b}", "who", who, "requestor", 1);
    if (s_is_set (s_get (record, "actor_role")))
        json_object_set_new (actor, "role",
                             json_pack ("[o]", s_text (s_get (record, "actor_role"))));
    if (s_is_set (s_get (record, "purpose")))
        json_object_set_new (actor, "purposeOfUse",
                             json_pack ("[o]", s_text (s_get (record, "purpose"))));
    json_t *agents = json_pack ("[o]", actor);
    const char *on_behalf = s_get (record, "on_behalf");
    if (s_is_set (on_behalf))
        json_array_append_new (
            agents,
            json_pack ("{s:[o], s:o, s:b}", "role", s_text ("on behalf of"), "who",
                       json_pack ("{s:o, s:s}", "identifier",
                                  json_pack ("{s:s}", "value", on_behalf), "display", on_behalf),
                       "requestor", 0));
    return agents;
}

static json_t *
s_entity (const char *system, const char *value, const char *type_code, const char *type_display)
{
    return json_pack ("{s:{s:o}, s:{s:s, s:s, s:s}}", "what", "identifier",
                      s_identifier (system, value), "type", "system", SYSTEM_ENTITY_TYPE, "code",
                      type_code, "display", type_display);
}

//  What the entry concerns: the case (with the legal basis), the event,
//  and the trail entry itself (seq and hashes, so tooling can check the
//  chain from the FHIR copy).
static json_t *
s_audit_entities (const json_t *record, const char *region)
{
    json_t *entities = json_array ();
    if (s_is_set (s_get (record, "case_id"))) {
        json_t *entity = s_entity (SYSTEM_CASE, s_get (record, "case_id"), "1", "Person");
        json_object_set_new (entity, "role",
                             json_pack ("{s:s, s:s, s:s}", "system", SYSTEM_OBJECT_ROLE, "code",
                                        "1", "display", "Patient"));
        if (s_is_set (s_get (record, "legal_basis")))
            json_object_set_new (entity, "detail",
                                 json_pack ("[{s:s, s:s}]", "type", "legal_basis", "valueString",
                                            s_get (record, "legal_basis")));
        json_array_append_new (entities, entity);
    }
    if (s_is_set (s_get (record, "event_id")))
        json_array_append_new (
            entities, s_entity (SYSTEM_EVENT, s_get (record, "event_id"), "2", "System Object"));
    char seq[ZVH_ID_MAX * 2];
    snprintf (seq, sizeof seq, "%s/%" JSON_INTEGER_FORMAT, region,
              json_integer_value (json_object_get (record, "seq")));
    json_t *entry = s_entity (SYSTEM_AUDIT, seq, "2", "System Object");
    json_object_set_new (entry, "detail",
                         json_pack ("[{s:s, s:s}, {s:s, s:s}]", "type", "prev_hash", "valueString",
                                    s_get (record, "prev_hash"), "type", "hash", "valueString",
                                    s_get (record, "hash")));
    json_array_append_new (entities, entry);
    return entities;
}

char *
zvh_audit_fhir (const char *audit_json, const char *region)
{
    assert (audit_json);
    assert (region);
    json_t *record = json_loads (audit_json, 0, NULL);
    if (!json_is_object (record)) {
        json_decref (record);
        return NULL;
    }
    char recorded[INSTANT_MAX];
    s_instant (json_integer_value (json_object_get (record, "time_ms")), recorded, sizeof recorded);
    const char *action = s_get (record, "action");
    //  FHIR codes the outcome as a string ("0", "4", ...)
    char outcome[ZVH_ID_MAX];
    snprintf (outcome, sizeof outcome, "%d", zvh_fhir_outcome_code (s_get (record, "outcome")));
    json_t *event = json_pack ("{s:s, s:o, s:s, s:s, s:s}", "resourceType", "AuditEvent", "type",
                               s_audit_type (action), "action", zvh_fhir_action_code (action),
                               "recorded", recorded, "outcome", outcome);
    if (s_is_set (s_get (record, "detail")))
        json_object_set_new (event, "outcomeDesc", json_string (s_get (record, "detail")));
    if (s_is_set (s_get (record, "purpose")))
        json_object_set_new (event, "purposeOfEvent",
                             json_pack ("[o]", s_text (s_get (record, "purpose"))));
    json_object_set_new (event, "agent", s_audit_agents (record));
    json_t *source = json_pack ("{s:o}", "observer", s_region (region));
    if (s_is_set (s_get (record, "source")))
        json_object_set_new (source, "site", json_string (s_get (record, "source")));
    json_object_set_new (event, "source", source);
    json_object_set_new (event, "entity", s_audit_entities (record, region));
    json_decref (record);
    char *text = event ? json_dumps (event, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref (event);
    return text;
}
