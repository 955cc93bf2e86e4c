/*  test_signal_cap: zvh_signal_cap renders each kind of partner view (each
 *  role's, a national signal, scale up and down, the label events, a
 *  departure view, review-due) as a CAP 1.2 alert with the mapping of
 *  docs/PARTNERS.md, holding only the fields the view holds, escaped for
 *  XML. Every alert is also validated against the OASIS CAP 1.2 schema
 *  (tests/schemas/CAP-v1.2.xsd, see its head for where it came from) with
 *  xmllint (Debian's libxml2-utils); without xmllint the test fails.
 */
#include "zvh/zvh.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define TIME_MS     1796292900000LL         //  2026-12-03T10:15:00 UTC
#define COMMAND_MAX 4096

static char *s_actions [] = { "Call the coordinator", "Check address & <door>" };

//  A crisis-service view of a case signal (PROTOCOL 8.2): no case id, no
//  raiser, with text
static zvh_signal_t
s_crisis_service_view (void)
{
    zvh_signal_t signal = {
        .seq = 7, .type = "signal", .event_id = "groningen/12", .region = "groningen",
        .kind = "incident", .urgency = "immediate", .severity = "severe",
        .certainty = "observed", .text = "Threatened neighbour", .time_ms = TIME_MS,
        .partner_ref = "GGZ-4711", .action_count = 2, .actions = s_actions,
        .coordinator_contact = "Coordinator, 050-1234567" };
    return signal;
}

//  The alert, validated against the schema (fails the test if it is not)
static char *
s_render (const zvh_signal_t *signal, const char *role)
{
    char *xml = NULL;
    assert_int_equal (zvh_signal_cap (signal, role, &xml), ZVH_OK);
    assert_non_null (xml);
    assert_null (strchr (xml, '\n'));
    const char *source = getenv ("ZVH_SOURCE_DIR");
    assert_non_null (source);
    char path [] = "/tmp/test_signal_cap_XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, xml, strlen (xml)), (ssize_t) strlen (xml));
    close (fd);
    char command [COMMAND_MAX];
    snprintf (command, sizeof command, "xmllint --noout --schema '%s/tests/schemas/CAP-v1.2.xsd' "
              "'%s'", source, path);
    int rc = system (command);
    unlink (path);
    if (rc != 0)
        fprintf (stderr, "not valid CAP 1.2 (or no xmllint: install libxml2-utils):\n%s\n", xml);
    assert_int_equal (rc, 0);
    return xml;
}

static void
s_assert_has (const char *xml, const char *part)
{
    if (!strstr (xml, part))
        fail_msg ("missing %s in\n%s", part, xml);
}

static void
s_assert_lacks (const char *xml, const char *part)
{
    if (strstr (xml, part))
        fail_msg ("should not hold %s:\n%s", part, xml);
}

static void
test_crisis_service_view_is_an_alert_with_its_fields (void **state)
{
    (void) state;
    zvh_signal_t signal = s_crisis_service_view ();
    char *xml = s_render (&signal, "crisis_service");
    s_assert_has (xml, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">");
    s_assert_has (xml, "<identifier>groningen/12</identifier>");
    s_assert_has (xml, "<sender>groningen</sender>");
    s_assert_has (xml, "<sent>2026-12-03T10:15:00+00:00</sent>");
    s_assert_has (xml, "<status>Actual</status><msgType>Alert</msgType>");
    s_assert_has (xml, "<scope>Restricted</scope><restriction>zvh-federation partner role "
                       "crisis_service:");
    s_assert_has (xml, "<category>Safety</category>");
    s_assert_has (xml, "<event>Levensloopaanpak crisis signal: incident</event>");
    s_assert_has (xml, "<urgency>Immediate</urgency><severity>Severe</severity>"
                       "<certainty>Observed</certainty>");
    s_assert_has (xml, "<headline>Levensloopaanpak crisis signal: incident in region "
                       "groningen</headline>");
    s_assert_has (xml, "Text: Threatened neighbour");
    s_assert_has (xml, "<instruction>- Call the coordinator&#10;- Check address &amp; "
                       "&lt;door&gt;</instruction>");
    s_assert_has (xml, "<contact>Coordinator, 050-1234567</contact>");
    s_assert_has (xml, "<parameter><valueName>partner_ref</valueName><value>GGZ-4711</value>"
                       "</parameter>");
    s_assert_lacks (xml, "Case:");
    s_assert_lacks (xml, "Raised by");
    free (xml);
}

//  The police view has no text; the operator's has case, raiser, text
static void
test_each_role_gets_only_its_view_fields (void **state)
{
    (void) state;
    zvh_signal_t signal = s_crisis_service_view ();
    signal.text = NULL;
    char *xml = s_render (&signal, "police");
    s_assert_has (xml, "partner role police:");
    s_assert_lacks (xml, "Text:");
    free (xml);
    signal.partner_ref = "PV-99";
    signal.action_count = 0;
    xml = s_render (&signal, "probation");
    s_assert_has (xml, "partner role probation:");
    s_assert_lacks (xml, "<instruction>");
    free (xml);
    signal = s_crisis_service_view ();
    signal.case_id = "case-1";
    signal.raised_by = "groningen-ops";
    signal.raised_role = "operator";
    xml = s_render (&signal, "operator");
    s_assert_has (xml, "Case: case-1");
    s_assert_has (xml, "Raised by: groningen-ops&#10;Raised as role: operator");
    free (xml);
}

static void
test_national_signal_without_case_or_actions (void **state)
{
    (void) state;
    zvh_signal_t signal = {
        .seq = 1, .type = "signal", .event_id = "drenthe/3", .region = "drenthe",
        .national = true, .kind = "other", .time_ms = TIME_MS };
    char *xml = s_render (&signal, "police");
    s_assert_has (xml, "<msgType>Alert</msgType>");
    s_assert_has (xml, "<urgency>Unknown</urgency><severity>Unknown</severity>"
                       "<certainty>Unknown</certainty>");
    s_assert_has (xml, "(national)</headline>");
    s_assert_has (xml, "Scope: national");
    s_assert_lacks (xml, "<parameter><valueName>partner_ref");
    free (xml);
}

static void
test_scale_up_is_update_and_scale_down_cancel (void **state)
{
    (void) state;
    zvh_signal_t signal = s_crisis_service_view ();
    signal.kind = "scale_up";
    char *xml = s_render (&signal, "police");
    s_assert_has (xml, "<msgType>Update</msgType>");
    s_assert_has (xml, "<event>Levensloopaanpak crisis signal: scale up</event>");
    free (xml);
    signal.kind = "scale_down";
    xml = s_render (&signal, "police");
    s_assert_has (xml, "<msgType>Cancel</msgType>");
    free (xml);
}

static void
test_label_events_are_alert_update_cancel (void **state)
{
    (void) state;
    zvh_signal_t signal = {
        .seq = 2, .type = "label_set", .event_id = "groningen/20", .region = "groningen",
        .time_ms = TIME_MS, .partner_ref = "PV-1", .action_count = 1, .actions = s_actions };
    char *xml = s_render (&signal, "police");
    s_assert_has (xml, "<msgType>Alert</msgType>");
    s_assert_has (xml, "<event>Levensloopaanpak label set</event>");
    free (xml);
    signal.type = "label_moved";
    signal.region = "drenthe";
    signal.previous_region = "groningen";
    xml = s_render (&signal, "police");
    s_assert_has (xml, "<msgType>Update</msgType>");
    s_assert_has (xml, "Previous region: groningen");
    free (xml);
    signal.type = "label_removed";
    xml = s_render (&signal, "police");
    s_assert_has (xml, "<msgType>Cancel</msgType>");
    free (xml);
}

//  A departure view (PROTOCOL 8.1) has no region: the sender is the
//  region the case left, and the new owner appears nowhere
static void
test_departure_view_names_the_region_left (void **state)
{
    (void) state;
    zvh_signal_t signal = {
        .seq = 4, .type = "label_moved", .event_id = "drenthe/8",
        .previous_region = "groningen", .time_ms = TIME_MS, .partner_ref = "PV-1" };
    char *xml = s_render (&signal, "police");
    s_assert_has (xml, "<sender>groningen</sender>");
    s_assert_lacks (xml, "drenthe<");
    s_assert_lacks (xml, "in region");
    free (xml);
}

static void
test_review_due_is_category_other (void **state)
{
    (void) state;
    zvh_signal_t signal = {
        .seq = 9, .type = "review_due", .event_id = "groningen/30", .case_id = "case-1",
        .region = "groningen", .time_ms = TIME_MS, .review_date = "2026-11-30" };
    char *xml = s_render (&signal, "operator");
    s_assert_has (xml, "<msgType>Alert</msgType>");
    s_assert_has (xml, "<category>Other</category>");
    s_assert_has (xml, "<event>Levensloopaanpak plan review due</event>");
    s_assert_has (xml, "Review date: 2026-11-30");
    free (xml);
}

//  Markup, quotes, line ends, control characters and broken UTF-8 in
//  texts; spaces, commas, '<' and '&' in identifier and sender (CAP 3.2.1)
static void
test_texts_are_escaped_and_tokens_mapped (void **state)
{
    (void) state;
    zvh_signal_t signal = s_crisis_service_view ();
    signal.text = "a<b>&\"c\" 'd'\nline\ttab\x01\x0b bad\xff\xc0\xaf caf\xc3\xa9 \xf0\x9f\x9a\x93";
    signal.event_id = "odd region/1,2<3&4%";
    signal.region = "odd region";
    signal.partner_ref = "]]> <x/>";
    char *xml = s_render (&signal, "crisis service & co");
    s_assert_has (xml, "Text: a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;&#10;line&#9;tab"
                       "\xef\xbf\xbd\xef\xbf\xbd bad\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd caf"
                       "\xc3\xa9 \xf0\x9f\x9a\x93");
    s_assert_has (xml, "<identifier>odd%20region/1%2C2%3C3%264%25</identifier>");
    s_assert_has (xml, "<sender>odd%20region</sender>");
    s_assert_has (xml, "<value>]]&gt; &lt;x/&gt;</value>");
    s_assert_has (xml, "partner role crisis service &amp; co:");
    free (xml);
}

static void
test_refuses_a_view_without_type_event_id_or_role (void **state)
{
    (void) state;
    zvh_signal_t signal = s_crisis_service_view ();
    char *xml = (char *) "untouched";
    assert_int_equal (zvh_signal_cap (&signal, NULL, &xml), ZVH_E_BAD_REQUEST);
    assert_null (xml);
    assert_int_equal (zvh_signal_cap (&signal, "", &xml), ZVH_E_BAD_REQUEST);
    signal.event_id = NULL;
    assert_int_equal (zvh_signal_cap (&signal, "police", &xml), ZVH_E_BAD_REQUEST);
    signal = s_crisis_service_view ();
    signal.type = "no_such_type";
    assert_int_equal (zvh_signal_cap (&signal, "police", &xml), ZVH_E_BAD_REQUEST);
    assert_null (xml);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_crisis_service_view_is_an_alert_with_its_fields),
        cmocka_unit_test (test_each_role_gets_only_its_view_fields),
        cmocka_unit_test (test_national_signal_without_case_or_actions),
        cmocka_unit_test (test_scale_up_is_update_and_scale_down_cancel),
        cmocka_unit_test (test_label_events_are_alert_update_cancel),
        cmocka_unit_test (test_departure_view_names_the_region_left),
        cmocka_unit_test (test_review_due_is_category_other),
        cmocka_unit_test (test_texts_are_escaped_and_tokens_mapped),
        cmocka_unit_test (test_refuses_a_view_without_type_event_id_or_role),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
