/*  signal_names: enumeration names as const tables. They mirror the proto's
 *  value names without prefix, lower case (SIGNAL_SCALE_UP is "scale_up");
 *  test_signal_names checks them against the generated descriptors, so the
 *  two cannot drift apart.
 */
#include "signal_names.h"
#include <stdio.h>
#include <string.h>

#define NAMES_COUNT(table) (sizeof (table) / sizeof (table) [0])

static const char *const s_kinds [] = {
    NULL, "incident", "scale_up", "scale_down", "out_of_view", "other" };
static const char *const s_urgencies [] = {
    NULL, "immediate", "expected", "future", "past" };
static const char *const s_severities [] = {
    NULL, "extreme", "severe", "moderate", "minor" };
static const char *const s_certainties [] = {
    NULL, "observed", "likely", "possible", "unlikely" };
static const char *const s_types [] = {
    NULL, "signal", "label_set", "label_moved", "label_removed", "review_due" };

typedef struct {
    const char *field;
    const char *const *names;
    size_t count;
} names_t;

static const names_t s_kind = { "kind", s_kinds, NAMES_COUNT (s_kinds) };
static const names_t s_urgency = { "urgency", s_urgencies, NAMES_COUNT (s_urgencies) };
static const names_t s_severity = { "severity", s_severities, NAMES_COUNT (s_severities) };
static const names_t s_certainty = { "certainty", s_certainties, NAMES_COUNT (s_certainties) };
static const names_t s_type = { "type", s_types, NAMES_COUNT (s_types) };

const char *
zvh_signal_name (const char *field, int value)
{
    const names_t *all [] = { &s_kind, &s_urgency, &s_severity, &s_certainty, &s_type };
    for (size_t i = 0; i < NAMES_COUNT (all); i++)
        if (strcmp (all [i]->field, field) == 0)
            return value > 0 && (size_t) value < all [i]->count ? all [i]->names [value]
                                                                : NULL;
    return NULL;
}

//  Value of name (0 for NULL, "" or "unknown"); -1 with a message if unknown.
static int
s_value (const names_t *names, const char *name, char *error, size_t error_size)
{
    if (!name || !*name || strcmp (name, "unknown") == 0)
        return 0;
    for (size_t i = 1; i < names->count; i++)
        if (strcmp (names->names [i], name) == 0)
            return (int) i;
    char list [256] = "";
    for (size_t i = 1; i < names->count; i++) {
        strncat (list, names->names [i], sizeof list - strlen (list) - 1);
        if (i + 1 < names->count)
            strncat (list, ", ", sizeof list - strlen (list) - 1);
    }
    snprintf (error, error_size, "%s: '%s' is not one of %s", names->field, name, list);
    return -1;
}

int
zvh_raise_encode (const zvh_raise_t *raise, Zvh__V1__SignalRaise *message,
                  char *error, size_t error_size)
{
    if (!raise) {
        snprintf (error, error_size, "no signal given");
        return -1;
    }
    int kind = s_value (&s_kind, raise->kind, error, error_size);
    int urgency = kind < 0 ? -1 : s_value (&s_urgency, raise->urgency, error, error_size);
    int severity = urgency < 0 ? -1 : s_value (&s_severity, raise->severity, error, error_size);
    int certainty = severity < 0 ? -1
                  : s_value (&s_certainty, raise->certainty, error, error_size);
    if (certainty < 0)
        return -1;
    message->case_id = (char *) (raise->case_id ? raise->case_id : "");
    message->national = raise->national;
    message->kind = (Zvh__V1__SignalKind) kind;
    message->urgency = (Zvh__V1__Urgency) urgency;
    message->severity = (Zvh__V1__Severity) severity;
    message->certainty = (Zvh__V1__Certainty) certainty;
    message->text = (char *) (raise->text ? raise->text : "");
    return 0;
}

static const char *
s_text (const char *text)
{
    return text && *text ? text : NULL;
}

void
zvh_signal_fill (zvh_signal_t *signal, const Zvh__V1__SignalView *view)
{
    memset (signal, 0, sizeof *signal);
    signal->seq = view->seq;
    signal->type = zvh_signal_name ("type", view->type);
    signal->event_id = s_text (view->event_id);
    signal->case_id = s_text (view->case_id);
    signal->region = s_text (view->region);
    signal->national = view->national;
    signal->kind = zvh_signal_name ("kind", view->kind);
    signal->urgency = zvh_signal_name ("urgency", view->urgency);
    signal->severity = zvh_signal_name ("severity", view->severity);
    signal->certainty = zvh_signal_name ("certainty", view->certainty);
    signal->text = s_text (view->text);
    signal->raised_by = s_text (view->raised_by);
    signal->raised_role = s_text (view->raised_role);
    signal->time_ms = view->time_ms;
    signal->partner_ref = s_text (view->partner_ref);
    signal->action_count = view->n_actions;
    signal->actions = view->actions;
    signal->coordinator_contact = s_text (view->coordinator_contact);
    signal->previous_region = s_text (view->previous_region);
    signal->review_date = s_text (view->review_date);
    signal->publisher = view->proof ? s_text (view->proof->publisher) : NULL;
}
