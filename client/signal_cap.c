/*  signal_cap: a partner's SignalView as an OASIS CAP 1.2 <alert>, for
 *  control-room systems that import CAP rather than speak our protocol.
 *
 *  The alert holds only what the view holds: the daemon has already cleared
 *  every field the partner's role may not see (PROTOCOL 8.2), and this
 *  module adds nothing from elsewhere but fixed labels and the role name.
 *  Every text is escaped for XML, characters XML 1.0 forbids (and bytes
 *  that are not UTF-8) become U+FFFD, and line ends are written as
 *  character references, so that an alert is one line and a consumer that
 *  reads line by line still gets the texts back unchanged.
 *
 *  Mapping of our event types (docs/PARTNERS.md says the same for partners):
 *    signal, kind scale_up      msgType Update  (the crisis is scaled up)
 *    signal, kind scale_down    msgType Cancel  (scaled down: stand down)
 *    signal, any other kind     msgType Alert
 *    label_set                  msgType Alert   (register the label)
 *    label_moved                msgType Update  (the case has a new owner)
 *    label_removed              msgType Cancel  (deregister the label)
 *    review_due                 msgType Alert, category Other
 *  Signals and label events have category Safety. CAP's references
 *  element is left out: a view does not say which earlier alert an update
 *  or cancel follows, and inventing one would be wrong.
 */
#include "zvh/zvh.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAP_NAMESPACE       "urn:oasis:names:tc:emergency:cap:1.2"
#define CAP_UNKNOWN         "Unknown"
#define CAP_REPLACEMENT     0xFFFD      //  U+FFFD for what XML 1.0 cannot hold
#define CAP_TIME_MAX        32          //  "YYYY-MM-DDThh:mm:ss+00:00" and NUL
#define CAP_CAPITAL_MAX     16          //  the longest CAP enumeration value
#define MS_PER_S            1000

typedef struct {
    const char *type;
    const char *kind;               //  NULL = any kind
    const char *msg_type;
    const char *category;
    const char *event;
} cap_kind_t;

//  First match wins: a signal's own kind before the general signal row
static const cap_kind_t s_kinds [] = {
    { "signal", "scale_up", "Update", "Safety", "Levensloopaanpak crisis signal: scale up" },
    { "signal", "scale_down", "Cancel", "Safety", "Levensloopaanpak crisis signal: scale down" },
    { "signal", "incident", "Alert", "Safety", "Levensloopaanpak crisis signal: incident" },
    { "signal", "out_of_view", "Alert", "Safety", "Levensloopaanpak crisis signal: out of view" },
    { "signal", NULL, "Alert", "Safety", "Levensloopaanpak crisis signal" },
    { "label_set", NULL, "Alert", "Safety", "Levensloopaanpak label set" },
    { "label_moved", NULL, "Update", "Safety", "Levensloopaanpak label moved" },
    { "label_removed", NULL, "Cancel", "Safety", "Levensloopaanpak label removed" },
    { "review_due", NULL, "Alert", "Other", "Levensloopaanpak plan review due" },
};

static const cap_kind_t *
s_kind_of (const zvh_signal_t *signal)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds [0]; i++)
        if (strcmp (s_kinds [i].type, signal->type) == 0
        && (!s_kinds [i].kind || (signal->kind && strcmp (s_kinds [i].kind, signal->kind) == 0)))
            return &s_kinds [i];
    return NULL;
}

//  The code point at *text (advancing it), or -1 for bytes that are not
//  well-formed UTF-8 (overlong, surrogate, past U+10FFFF, cut short)
static long
s_next_code_point (const unsigned char **text)
{
    const unsigned char *s = *text;
    int extra = s [0] < 0x80 ? 0 : (s [0] & 0xE0) == 0xC0 ? 1
              : (s [0] & 0xF0) == 0xE0 ? 2 : (s [0] & 0xF8) == 0xF0 ? 3 : -1;
    *text = s + 1;
    if (extra < 0)
        return -1;
    long point = extra == 0 ? s [0] : s [0] & (0x3F >> extra);
    for (int i = 1; i <= extra; i++) {
        if ((s [i] & 0xC0) != 0x80)
            return -1;
        point = (point << 6) | (s [i] & 0x3F);
    }
    static const long least [] = { 0, 0x80, 0x800, 0x10000 };
    if (point < least [extra] || point > 0x10FFFF || (point >= 0xD800 && point <= 0xDFFF))
        return -1;
    *text = s + 1 + extra;
    return point;
}

//  XML 1.0 section 2.2: the characters a document may hold at all
static bool
s_xml_char (long point)
{
    return point == 0x9 || point == 0xA || point == 0xD
        || (point >= 0x20 && point <= 0xD7FF) || (point >= 0xE000 && point <= 0xFFFD)
        || (point >= 0x10000 && point <= 0x10FFFF);
}

static void
s_put_code_point (FILE *out, long point)
{
    if (point < 0x80)
        fputc ((int) point, out);
    else
    if (point < 0x800)
        fprintf (out, "%c%c", (int) (0xC0 | point >> 6), (int) (0x80 | (point & 0x3F)));
    else
    if (point < 0x10000)
        fprintf (out, "%c%c%c", (int) (0xE0 | point >> 12), (int) (0x80 | ((point >> 6) & 0x3F)),
                 (int) (0x80 | (point & 0x3F)));
    else
        fprintf (out, "%c%c%c%c", (int) (0xF0 | point >> 18),
                 (int) (0x80 | ((point >> 12) & 0x3F)), (int) (0x80 | ((point >> 6) & 0x3F)),
                 (int) (0x80 | (point & 0x3F)));
}

//  Text as XML character data: markup escaped, whitespace other than the
//  space as a character reference (one line, and kept as is by a parser)
static void
s_put_text (FILE *out, const char *text)
{
    const unsigned char *s = (const unsigned char *) text;
    while (*s) {
        long point = s_next_code_point (&s);
        if (point < 0 || !s_xml_char (point))
            point = CAP_REPLACEMENT;
        switch (point) {
            case '&':  fputs ("&amp;", out); break;
            case '<':  fputs ("&lt;", out); break;
            case '>':  fputs ("&gt;", out); break;
            case '"':  fputs ("&quot;", out); break;
            case '\'': fputs ("&apos;", out); break;
            case '\t': case '\n': case '\r':
                fprintf (out, "&#%ld;", point);
                break;
            default:   s_put_code_point (out, point);
        }
    }
}

//  CAP 1.2 (3.2.1): identifier and sender hold no whitespace, comma, '<' or
//  '&'. Those (and '%', so that the mapping can be undone) are written
//  %XX; anything XML cannot hold first becomes U+FFFD, also percent-encoded
static void
s_put_token (FILE *out, const char *text)
{
    const unsigned char *s = (const unsigned char *) text;
    while (*s) {
        const unsigned char *start = s;
        long point = s_next_code_point (&s);
        if (point < 0 || !s_xml_char (point))
            fputs ("%EF%BF%BD", out);
        else
        if (point <= ' ' || point == 0x7F || strchr (",<&%>\"'", (int) point))
            fprintf (out, "%%%02X", (unsigned) point);
        else
            fwrite (start, 1, (size_t) (s - start), out);
    }
}

static void
s_element (FILE *out, const char *name, const char *text)
{
    if (!text)
        return;
    fprintf (out, "<%s>", name);
    s_put_text (out, text);
    fprintf (out, "</%s>", name);
}

//  A CAP enumeration value from ours: "severe" is "Severe"; none is Unknown
static void
s_enumerated (FILE *out, const char *name, const char *value)
{
    char capital [CAP_CAPITAL_MAX] = CAP_UNKNOWN;
    if (value && *value && strlen (value) < sizeof capital) {
        strcpy (capital, value);
        capital [0] = (char) toupper ((unsigned char) capital [0]);
    }
    s_element (out, name, capital);
}

//  CAP 1.2 dateTime: seconds and a numeric zone; "Z" is not allowed
static void
s_sent (FILE *out, int64_t time_ms)
{
    time_t seconds = time_ms ? (time_t) (time_ms / MS_PER_S) : time (NULL);
    struct tm utc;
    char text [CAP_TIME_MAX];
    gmtime_r (&seconds, &utc);
    strftime (text, sizeof text, "%Y-%m-%dT%H:%M:%S+00:00", &utc);
    s_element (out, "sent", text);
}

static void
s_parameter (FILE *out, const char *name, const char *value)
{
    if (!value)
        return;
    fputs ("<parameter>", out);
    s_element (out, "valueName", name);
    s_element (out, "value", value);
    fputs ("</parameter>", out);
}

static void
s_headline (FILE *out, const zvh_signal_t *signal, const cap_kind_t *kind)
{
    fputs ("<headline>", out);
    s_put_text (out, kind->event);
    if (signal->national)
        fputs (" (national)", out);
    else
    if (signal->region) {
        fputs (" in region ", out);
        s_put_text (out, signal->region);
    }
    fputs ("</headline>", out);
}

//  One "label: value" line of the description, for a field the view holds
static void
s_line (FILE *out, bool *first, const char *label, const char *value)
{
    if (!value)
        return;
    if (!*first)
        fputs ("&#10;", out);
    *first = false;
    s_put_text (out, label);
    fputs (": ", out);
    s_put_text (out, value);
}

static void
s_description (FILE *out, const zvh_signal_t *signal)
{
    bool first = true;
    fputs ("<description>", out);
    s_line (out, &first, "Event", signal->type);
    s_line (out, &first, "Text", signal->text);
    s_line (out, &first, "Kind", signal->kind);
    s_line (out, &first, "Case", signal->case_id);
    s_line (out, &first, "Region", signal->region);
    s_line (out, &first, "Scope", signal->national ? "national" : NULL);
    s_line (out, &first, "Previous region", signal->previous_region);
    s_line (out, &first, "Review date", signal->review_date);
    s_line (out, &first, "Raised by", signal->raised_by);
    s_line (out, &first, "Raised as role", signal->raised_role);
    fputs ("</description>", out);
}

//  The role's actions in the plan's scenario, one per line
static void
s_instruction (FILE *out, const zvh_signal_t *signal)
{
    if (!signal->action_count)
        return;
    fputs ("<instruction>", out);
    for (size_t i = 0; i < signal->action_count; i++) {
        fputs (i ? "&#10;- " : "- ", out);
        s_put_text (out, signal->actions [i] ? signal->actions [i] : "");
    }
    fputs ("</instruction>", out);
}

static void
s_info (FILE *out, const zvh_signal_t *signal, const cap_kind_t *kind)
{
    fputs ("<info><language>en</language>", out);
    s_element (out, "category", kind->category);
    s_element (out, "event", kind->event);
    s_enumerated (out, "urgency", signal->urgency);
    s_enumerated (out, "severity", signal->severity);
    s_enumerated (out, "certainty", signal->certainty);
    s_headline (out, signal, kind);
    s_description (out, signal);
    s_instruction (out, signal);
    s_element (out, "contact", signal->coordinator_contact);
    s_parameter (out, "partner_ref", signal->partner_ref);
    s_parameter (out, "zvh_event_type", signal->type);
    s_parameter (out, "zvh_kind", signal->kind);
    fputs ("</info>", out);
}

static void
s_alert (FILE *out, const zvh_signal_t *signal, const char *role, const cap_kind_t *kind)
{
    //  A departure view has no region (PROTOCOL 8.1): the region the case left
    const char *sender = signal->region ? signal->region
                       : signal->previous_region ? signal->previous_region : CAP_UNKNOWN;
    fputs ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><alert xmlns=\"" CAP_NAMESPACE "\">", out);
    fputs ("<identifier>", out);
    s_put_token (out, signal->event_id);
    fputs ("</identifier><sender>", out);
    s_put_token (out, sender);
    fputs ("</sender>", out);
    s_sent (out, signal->time_ms);
    fputs ("<status>Actual</status>", out);
    s_element (out, "msgType", kind->msg_type);
    fputs ("<scope>Restricted</scope><restriction>", out);
    fputs ("zvh-federation partner role ", out);
    s_put_text (out, role);
    fputs (": this role's view only; do not pass on</restriction>", out);
    s_info (out, signal, kind);
    fputs ("</alert>", out);
}

int
zvh_signal_cap (const zvh_signal_t *signal, const char *role, char **xml_p)
{
    if (!xml_p)
        return ZVH_E_BAD_REQUEST;
    *xml_p = NULL;
    if (!signal || !signal->type || !signal->event_id || !role || !*role)
        return ZVH_E_BAD_REQUEST;
    const cap_kind_t *kind = s_kind_of (signal);
    if (!kind)
        return ZVH_E_BAD_REQUEST;
    size_t size;
    FILE *out = open_memstream (xml_p, &size);
    if (!out)
        return ZVH_E_FULL;
    s_alert (out, signal, role, kind);
    if (fclose (out) != 0) {
        free (*xml_p);
        *xml_p = NULL;
        return ZVH_E_FULL;
    }
    return ZVH_OK;
}
