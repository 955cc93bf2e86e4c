/*  zvhctl: the operator's and integrator's command line for zvhd.
 *
 *  Every command is one libzvh call against the local daemon (or, for
 *  keygen, one CZMQ zcert). Output is for people by default and JSON with
 *  --json. Exit codes: 0 done; 1 usage; 2 daemon unreachable; 3 refused
 *  (invalid, not found, wrong state, unknown region); 4 daemon store error
 *  or full; 5 protocol error.
 */
#include "zvh/zvh.h"
#include "zvh/zvh_plan.h"
#include "forward.h"
#include "figure.h"
#include "wire.h"
#include <czmq.h>
#include <jansson.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <unistd.h>

#define EXIT_USAGE        1
#define EXIT_UNREACHABLE  2
#define EXIT_REFUSED      3
#define EXIT_STORE        4
#define EXIT_PROTOCOL     5
#define EXIT_UNVERIFIED   6     //  subscribe --directory: a view failed verification
#define ENDPOINT_MAX      (2 * PATH_MAX + 32)
#define PLAN_FILE_MAX     (4 * 1024 * 1024)
#define DATA_KEY_BYTES    32
#define BACKUP_TIMEOUT_MS (60 * 60 * 1000)   //  backup waits this long without -t
#define MOVE_WINDOW       64    //  moves in flight: the daemon serves 64 requests a turn

typedef struct {
    char endpoint [ENDPOINT_MAX];
    const char *server_key;         //  --server-key: a tcp:// control endpoint's key
    const char *key_file;           //  --key: this operator's key file (CURVE)
    bool json;
    int timeout_ms;
    bool timeout_given;             //  -t on the command line
    int argc;                       //  the command and its arguments
    char **argv;
} ctl_t;

static const char *s_usage_text =
    "usage: zvhctl [-c CONFIG | -d DATA_DIR | -e ENDPOINT] [--json] [-t MS] COMMAND\n"
    "       (a tcp:// ENDPOINT also takes --server-key KEY --key OPERATOR.key_secret)\n"
    "\n"
    "commands:\n"
    "  status                          region, peers up/down, outbox per peer, cases\n"
    "  federation status               every region of the federation as this daemon\n"
    "                                  knows it (links, backlog, versions, cases)\n"
    "  monitor --period (YYYY-MM | YYYYQn | YYYY)\n"
    "                                  the monitoring figures of every region and the\n"
    "                                  nation over the period, as CSV\n"
    "  case include PLAN.json [--case ID]   include a case with its plan here\n"
    "  case move CASE... --to REGION   start a warm handover to REGION (many: pipelined)\n"
    "  case complete CASE              end the joint phase of a handover\n"
    "  case show CASE [--plan]         the case here (and its plan as JSON)\n"
    "  case show CASE --fhir           the case as a FHIR R4 Bundle (collection): CarePlan,\n"
    "                                  Flag (the label), Provenance (inclusion, hand-overs)\n"
    "  case list                       every case this region knows\n"
    "  plan update CASE PLAN.json      a new plan version (a proposal at the source)\n"
    "  case close CASE                 outflow: purge the plan, remove the label\n"
    "  signal raise (CASE | --national) --kind KIND [--urgency U] [--severity S]\n"
    "               [--certainty C] [--text TEXT] [PARTNER]\n"
    "                                  raise a crisis signal (as operator, or as PARTNER)\n"
    "  subscribe PARTNER [--after SEQ | --from-cursor] [--credit N] [--count N]\n"
    "            [--idle-exit MS] [--directory REGIONS.zpl] [--format json|cap]\n"
    "            [--role ROLE]\n"
    "                                  receive signals as JSON lines, acknowledging each;\n"
    "                                  with --directory, check who published each one;\n"
    "                                  --format cap: one OASIS CAP 1.2 <alert> document per\n"
    "                                  line instead (line ends in texts are &#10;), for\n"
    "                                  the partner's ROLE (default: the role in --key)\n"
    "    PARTNER = --endpoint TCP --server-key Z85 --key SECRET_CERT_FILE\n"
    "  forward PARTNER --url https://... [--ca CA.pem] [--cert CERT.pem --cert-key KEY.pem]\n"
    "          [--token-file FILE] [--content-type TYPE] [--role ROLE]\n"
    "                                  POST each view, in order, as one CAP 1.2 alert to the\n"
    "                                  partner's HTTPS receiver, from the daemon's cursor;\n"
    "                                  acknowledged only after a 2xx, a failure retried with\n"
    "                                  back-off (0.5..60 s); runs until SIGTERM;\n"
    "                                  PARTNER as for subscribe\n"
    "  keygen NAME [--dir DIR] [--region R] [--role ROLE] [--force]\n"
    "                                  write a CURVE certificate NAME.key + NAME.key_secret\n"
    "  datakey FILE                    write a new store encryption key (mode 0600)\n"
    "  reload                          re-read keys, directory, partners, revocations\n"
    "  backup DIR                      copy the store (compacted) into DIR while the\n"
    "                                  daemon serves; waits until it is on disk\n"
    "  audit verify                    check the audit trail's hash chain\n"
    "  audit export [--after SEQ] [--fhir]\n"
    "                                  the audit trail as JSON lines; with --fhir one FHIR R4\n"
    "                                  AuditEvent per line (NDJSON, as FHIR bulk data)\n"
    "  --version                       the release and the protocol version\n"
    "\n"
    "The daemon is found by -e ENDPOINT, by -d DATA_DIR (ipc://DATA_DIR/control.sock),\n"
    "by the control or data_dir key of -c CONFIG, or by $ZVH_CONTROL.\n"
    "exit codes: 0 ok, 1 usage, 2 daemon unreachable, 3 refused, 4 store error, 5 protocol,\n"
    "6 a received signal failed verification (subscribe --directory)\n";

static int
s_usage (const char *problem)
{
    if (problem)
        fprintf (stderr, "zvhctl: %s\n\n", problem);
    fputs (s_usage_text, problem ? stderr : stdout);
    return problem ? EXIT_USAGE : 0;
}

static int
s_exit_code (int rc)
{
    switch (rc) {
        case ZVH_OK:             return 0;
        case ZVH_E_UNREACHABLE:  return EXIT_UNREACHABLE;
        case ZVH_E_STORE:
        case ZVH_E_FULL:         return EXIT_STORE;
        case ZVH_E_PROTOCOL:     return EXIT_PROTOCOL;
        default:                 return EXIT_REFUSED;
    }
}

static int
s_failed (zvh_client_t *client, int rc)
{
    fprintf (stderr, "zvhctl: %s: %s\n", zvh_strerror (rc), zvh_client_error (client));
    return s_exit_code (rc);
}

//  ---------------------------------------------------------------- endpoint

//  The control endpoint named by a daemon config file: its `control` key,
//  or ipc://<data_dir>/control.sock, relative paths taken from the file's
//  directory as zvhd does.
static int
s_endpoint_from_config (ctl_t *self, const char *path)
{
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        fprintf (stderr, "zvhctl: cannot read config %s\n", path);
        return -1;
    }
    char base [PATH_MAX];
    snprintf (base, sizeof base, "%s", path);
    char *slash = strrchr (base, '/');
    if (slash)
        *slash = 0;
    else
        snprintf (base, sizeof base, ".");
    char *control = zconfig_get (root, "zvhd/control", NULL);
    char *data_dir = zconfig_get (root, "zvhd/data_dir", NULL);
    int rc = 0;
    if (control && strncmp (control, "ipc://", 6) == 0 && control [6] != '/')
        snprintf (self->endpoint, sizeof self->endpoint, "ipc://%s/%s", base, control + 6);
    else
    if (control && *control)
        snprintf (self->endpoint, sizeof self->endpoint, "%s", control);
    else
    if (data_dir && *data_dir == '/')
        snprintf (self->endpoint, sizeof self->endpoint, "ipc://%s/control.sock", data_dir);
    else
    if (data_dir && *data_dir)
        snprintf (self->endpoint, sizeof self->endpoint, "ipc://%s/%s/control.sock",
                  base, data_dir);
    else {
        fprintf (stderr, "zvhctl: %s has neither zvhd/control nor zvhd/data_dir\n", path);
        rc = -1;
    }
    zconfig_destroy (&root);
    return rc;
}

static int
s_parse_globals (ctl_t *self, int argc, char *argv [])
{
    self->timeout_ms = ZVH_DEFAULT_TIMEOUT_MS;
    const char *env = getenv ("ZVH_CONTROL");
    if (env)
        snprintf (self->endpoint, sizeof self->endpoint, "%s", env);
    int arg = 1;
    for (; arg < argc && argv [arg][0] == '-'; arg++) {
        const char *opt = argv [arg];
        const char *value = arg + 1 < argc ? argv [arg + 1] : NULL;
        if (streq (opt, "--json"))
            self->json = true;
        else
        if (streq (opt, "-h") || streq (opt, "--help"))
            return -2;
        else
        if (!value)
            return -1;
        else
        if (streq (opt, "-e"))
            snprintf (self->endpoint, sizeof self->endpoint, "%s", argv [++arg]);
        else
        if (streq (opt, "-d"))
            snprintf (self->endpoint, sizeof self->endpoint, "ipc://%s/control.sock",
                      argv [++arg]);
        else
        if (streq (opt, "-c")) {
            if (s_endpoint_from_config (self, argv [++arg]))
                return -3;
        }
        else
        if (streq (opt, "-t")) {
            self->timeout_ms = atoi (argv [++arg]);
            self->timeout_given = true;
        }
        else
        if (streq (opt, "--server-key"))
            self->server_key = argv [++arg];
        else
        if (streq (opt, "--key"))
            self->key_file = argv [++arg];
        else
            return -1;
    }
    self->argc = argc - arg;
    self->argv = argv + arg;
    return 0;
}

//  ---------------------------------------------------------------- output

static json_t *
s_case_json (const zvh_case_t *c)
{
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I}",
                      "id", c->id, "state", c->state, "owner", c->owner,
                      "partner", c->partner, "transfer_id", c->transfer_id,
                      "plan_version", (json_int_t) c->plan_version,
                      "plan_hash", c->plan_hash,
                      "joint_until_ms", (json_int_t) c->joint_until_ms,
                      "updated_ms", (json_int_t) c->updated_ms);
}

static void
s_print_json (json_t *json)
{
    char *text = json_dumps (json, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
    puts (text);
    free (text);
    json_decref (json);
}

static void
s_print_case (ctl_t *self, const zvh_case_t *c)
{
    if (self->json) {
        s_print_json (s_case_json (c));
        return;
    }
    printf ("case %s: %s, owner %s", c->id, c->state, c->owner);
    if (*c->partner)
        printf (", partner %s", c->partner);
    if (*c->transfer_id)
        printf (", transfer %s", c->transfer_id);
    printf ("\n  plan v%" PRIu64 " %s\n", c->plan_version,
            *c->plan_hash ? c->plan_hash : "(no plan content here)");
    if (c->joint_until_ms) {
        time_t until = (time_t) (c->joint_until_ms / 1000);
        char when [32];
        strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime (&until));
        printf ("  joint phase until %s\n", when);
    }
}

//  ---------------------------------------------------------------- commands

static int
s_read_plan (const char *path, uint8_t **plan_p, size_t *size_p)
{
    zfile_t *file = zfile_new (NULL, path);
    if (!file || !zfile_is_regular (file) || zfile_cursize (file) > PLAN_FILE_MAX
    ||  zfile_input (file)) {
        fprintf (stderr, "zvhctl: cannot read plan file %s (missing, not a file, "
                 "or over %d bytes)\n", path, PLAN_FILE_MAX);
        zfile_destroy (&file);
        return EXIT_USAGE;
    }
    zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
    zfile_destroy (&file);
    char *json = chunk ? zchunk_strdup (chunk) : strdup ("");
    zchunk_destroy (&chunk);
    char error [ZVH_PLAN_ERR_MAX];
    int rc = zvh_plan_from_json (json, plan_p, size_p, error, sizeof error);
    free (json);
    if (rc) {
        fprintf (stderr, "zvhctl: %s: %s\n", path, error);
        return EXIT_USAGE;
    }
    return 0;
}

//  One region's row of `federation status`: its link from here, versions,
//  backlog from here and its cases, from the /status document.
static void
s_print_region_row (json_t *region)
{
    json_t *here = json_object_get (region, "link_from_here");
    json_t *cases = json_object_get (region, "cases");
    const char *condition = json_string_value (json_object_get (region, "condition"));
    bool stale = json_is_true (json_object_get (region, "stale"));
    printf ("%-26s %-14s %-8s %-8s %8" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT
            " %8" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT "\n",
            json_string_value (json_object_get (region, "region")),
            stale ? "up (stale)" : condition ? condition : "-",
            *json_string_value (json_object_get (region, "version"))
                ? json_string_value (json_object_get (region, "version")) : "-",
            *json_string_value (json_object_get (region, "release"))
                ? json_string_value (json_object_get (region, "release")) : "-",
            json_integer_value (json_object_get (here, "outbox_depth")),
            json_integer_value (json_object_get (cases, "active")),
            json_integer_value (json_object_get (cases, "joint_target")),
            json_integer_value (json_object_get (cases, "joint_source")));
}

//  The daemon's federation status (its /status document) as text and, if
//  root_p, parsed. Returns 0 or an exit code (said why).
static int
s_federation_status (zvh_client_t *client, char **text_p, json_t **root_p)
{
    int rc = zvh_client_federation_status (client, text_p);
    if (rc)
        return s_failed (client, rc);
    if (root_p && !(*root_p = json_loads (*text_p, 0, NULL))) {
        fprintf (stderr, "zvhctl: the daemon's federation status is not JSON\n");
        free (*text_p);
        return EXIT_FAILURE;
    }
    return 0;
}

//  zvhctl federation status: every region as this daemon knows it.
static int
s_cmd_federation (ctl_t *self, zvh_client_t *client)
{
    if (self->argc < 2 || !streq (self->argv [1], "status"))
        return s_usage ("federation takes: status");
    char *text;
    json_t *root = NULL;
    int rc = s_federation_status (client, &text, self->json ? NULL : &root);
    if (rc)
        return rc;
    if (self->json)
        printf ("%s\n", text);
    else {
        json_t *regions = json_object_get (root, "regions");
        printf ("federation as %s sees it: %zu regions\n",
                json_string_value (json_object_get (root, "shown_by")),
                json_array_size (regions));
        printf ("%-26s %-14s %-8s %-8s %8s %8s %8s %8s\n", "region", "link", "protocol",
                "release", "backlog", "active", "j_target", "j_source");
        for (size_t i = 0; i < json_array_size (regions); i++)
            s_print_region_row (json_array_get (regions, i));
    }
    json_decref (root);
    free (text);
    return rc;
}

static int
s_cmd_status (ctl_t *self, zvh_client_t *client)
{
    zvh_status_t status;
    int rc = zvh_client_status (client, &status);
    if (rc)
        return s_failed (client, rc);
    static const char *names [] = { "unknown", "active", "offered", "joint_target",
                                    "joint_source", "tombstone", "closed" };
    if (self->json) {
        json_t *peers = json_array (), *cases = json_object ();
        for (size_t i = 0; i < status.peer_count; i++)
            json_array_append_new (peers, json_pack ("{s:s, s:b, s:I, s:I, s:I, s:s}",
                "region", status.peers [i].region, "up", status.peers [i].up,
                "outbox_depth", (json_int_t) status.peers [i].outbox_depth,
                "last_seen_ms", (json_int_t) status.peers [i].last_seen_ms,
                "oldest_ms", (json_int_t) status.peers [i].oldest_ms,
                "version", status.peers [i].version));
        for (int state = 1; state <= ZVH_CASE_STATES; state++)
            json_object_set_new (cases, names [state],
                                 json_integer ((json_int_t) status.cases [state]));
        s_print_json (json_pack ("{s:s, s:o, s:o}", "region", status.region,
                                 "peers", peers, "cases", cases));
    }
    else {
        printf ("region %s\n", status.region);
        for (size_t i = 0; i < status.peer_count; i++)
            printf ("  peer %-24s %-4s outbox %-8" PRIu64 " protocol %s\n",
                    status.peers [i].region, status.peers [i].up ? "up" : "DOWN",
                    status.peers [i].outbox_depth,
                    *status.peers [i].version ? status.peers [i].version : "-");
        printf ("cases:");
        for (int state = 1; state <= ZVH_CASE_STATES; state++)
            printf (" %s %" PRIu64, names [state], status.cases [state]);
        printf ("\n");
    }
    zvh_status_free (&status);
    return 0;
}

//  Value of --name in the command's arguments, or NULL.
static const char *
s_option (ctl_t *self, const char *name)
{
    for (int arg = 0; arg + 1 < self->argc; arg++)
        if (streq (self->argv [arg], name))
            return self->argv [arg + 1];
    return NULL;
}

static bool
s_flag (ctl_t *self, const char *name)
{
    for (int arg = 0; arg < self->argc; arg++)
        if (streq (self->argv [arg], name))
            return true;
    return false;
}

//  Add each kind's count over the months of period in a region's figures
//  ({"2026-11": {"inclusions": 2, ...}, ...}) to sums.
static void
s_add_figures (json_t *figures, const figure_period_t *period,
               json_int_t sums [FIGURE_KINDS + 1])
{
    const char *month;
    json_t *counts;
    json_object_foreach (figures, month, counts) {
        if (!figure_period_covers (period, figure_month_parse (month)))
            continue;
        for (int kind = 1; kind <= FIGURE_KINDS; kind++)
            sums [kind] += json_integer_value (json_object_get (counts,
                                                                 figure_kind_name (kind)));
    }
}

//  One CSV row; a region without a summary (sums NULL) has empty counts.
static void
s_print_figures_row (const char *region, const char *period, const json_int_t *sums)
{
    printf ("%s,%s", region, period);
    for (int kind = 1; kind <= FIGURE_KINDS; kind++)
        if (sums)
            printf (",%" JSON_INTEGER_FORMAT, sums [kind]);
        else
            printf (",");
    printf ("\n");
}

//  zvhctl monitor --period P: each region's figures over P and the national
//  total, as CSV. Months are summed here; the summaries carry the last
//  FIGURE_MONTHS_SENT, so an older period is said to be incomplete.
static int
s_cmd_monitor (ctl_t *self, zvh_client_t *client)
{
    const char *text = s_option (self, "--period");
    figure_period_t period;
    if (!text || figure_period_parse (text, &period))
        return s_usage ("monitor takes --period YYYY-MM, YYYYQn or YYYY");
    if (period.first <= figure_month_of (zclock_time ()) - FIGURE_MONTHS_SENT)
        fprintf (stderr, "zvhctl: summaries carry the last %d months only: the figures "
                 "of %s are incomplete\n", FIGURE_MONTHS_SENT, text);
    char *document;
    json_t *root;
    int rc = s_federation_status (client, &document, &root);
    if (rc)
        return rc;
    printf ("region,period");
    for (int kind = 1; kind <= FIGURE_KINDS; kind++)
        printf (",%s", figure_kind_name (kind));
    printf ("\n");
    json_int_t national [FIGURE_KINDS + 1] = { 0 };
    json_t *regions = json_object_get (root, "regions"), *region;
    size_t index;
    json_array_foreach (regions, index, region) {
        json_t *figures = json_object_get (region, "figures");
        json_int_t sums [FIGURE_KINDS + 1] = { 0 };
        s_add_figures (figures, &period, sums);
        s_add_figures (figures, &period, national);
        s_print_figures_row (json_string_value (json_object_get (region, "region")), text,
                             json_is_object (figures) ? sums : NULL);
    }
    s_print_figures_row ("national", text, national);
    json_decref (root);
    free (document);
    return 0;
}

static int
s_cmd_include (ctl_t *self, zvh_client_t *client)
{
    if (self->argc < 3)
        return s_usage ("case include needs a plan file");
    uint8_t *plan;
    size_t size;
    int rc = s_read_plan (self->argv [2], &plan, &size);
    if (rc)
        return rc;
    zvh_case_t c;
    rc = zvh_client_case_include (client, s_option (self, "--case"), plan, size, &c);
    free (plan);
    if (rc)
        return s_failed (client, rc);
    s_print_case (self, &c);
    return 0;
}

//  The case as a FHIR R4 Bundle: the plan (if held here) and the chain of
//  custody are read too, as the Bundle's CarePlan and Provenance need them.
static int
s_show_fhir (ctl_t *self, zvh_client_t *client)
{
    zvh_case_t c;
    uint8_t *plan = NULL;
    size_t size = 0, link_count = 0;
    zvh_custody_link_t *links = NULL;
    int rc = zvh_client_case_show (client, self->argv [2], &c, &plan, &size);
    if (rc == 0)
        rc = zvh_client_case_custody (client, self->argv [2], &links, &link_count);
    if (rc) {
        free (plan);
        return s_failed (client, rc);
    }
    char error [ZVH_PLAN_ERR_MAX];
    char *json = plan ? zvh_plan_to_json (plan, size, error, sizeof error) : NULL;
    char *bundle = zvh_case_fhir (&c, json, links, link_count);
    if (bundle)
        puts (bundle);
    else
        fprintf (stderr, "zvhctl: the plan of %s cannot be rendered as FHIR: %s\n", c.id,
                 plan ? error : "no JSON");
    free (bundle);
    free (json);
    free (links);
    free (plan);
    return bundle ? 0 : EXIT_PROTOCOL;
}

static int
s_cmd_show (ctl_t *self, zvh_client_t *client)
{
    if (s_flag (self, "--fhir"))
        return s_show_fhir (self, client);
    zvh_case_t c;
    uint8_t *plan = NULL;
    size_t size = 0;
    bool with_plan = s_flag (self, "--plan");
    int rc = zvh_client_case_show (client, self->argv [2], &c,
                                   with_plan ? &plan : NULL, &size);
    if (rc)
        return s_failed (client, rc);
    char error [ZVH_PLAN_ERR_MAX];
    char *json = plan ? zvh_plan_to_json (plan, size, error, sizeof error) : NULL;
    if (self->json) {
        json_t *out = s_case_json (&c);
        json_t *plan_json = json ? json_loads (json, 0, NULL) : NULL;
        if (plan_json)
            json_object_set_new (out, "plan", plan_json);
        s_print_json (out);
    }
    else {
        s_print_case (self, &c);
        if (json)
            puts (json);
    }
    free (json);
    free (plan);
    return 0;
}

static int
s_cmd_list (ctl_t *self, zvh_client_t *client)
{
    zvh_case_t *cases;
    size_t count;
    int rc = zvh_client_case_list (client, &cases, &count);
    if (rc)
        return s_failed (client, rc);
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++) {
        if (self->json)
            json_array_append_new (array, s_case_json (&cases [i]));
        else
            printf ("%-40s %-13s owner %-22s v%" PRIu64 "\n", cases [i].id,
                    cases [i].state, cases [i].owner, cases [i].plan_version);
    }
    if (self->json)
        s_print_json (array);
    else
        json_decref (array);
    free (cases);
    return 0;
}

//  case move CASE [CASE ...] --to REGION: many cases are moved pipelined
//  (up to MOVE_WINDOW requests in flight); each result is printed, a
//  failure on stderr, and the exit code is the first failure's.
static int
s_cmd_move (ctl_t *self, zvh_client_t *client)
{
    const char *target = s_option (self, "--to");
    if (!target)
        return s_usage ("case move needs --to REGION");
    int first = 2, last = first;
    while (last < self->argc && self->argv [last][0] != '-')
        last++;
    size_t count = (size_t) (last - first);
    if (!count)
        return s_usage ("case move needs a case id");
    if (count == 1) {
        zvh_case_t c;
        int rc = zvh_client_case_move (client, self->argv [first], target, &c);
        if (rc)
            return s_failed (client, rc);
        s_print_case (self, &c);
        return 0;
    }
    int *results = (int *) calloc (count, sizeof (int));
    zvh_case_t *cases = (zvh_case_t *) calloc (count, sizeof (zvh_case_t));
    if (!results || !cases) {
        free (results);
        free (cases);
        return s_failed (client, ZVH_E_BAD_REQUEST);
    }
    int rc = zvh_client_case_move_many (client, (const char *const *) self->argv + first,
                                        count, target, MOVE_WINDOW, results, cases);
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++) {
        if (results [i])
            fprintf (stderr, "zvhctl: case %s: %s\n", self->argv [first + (int) i],
                     zvh_strerror (results [i]));
        else
        if (self->json)
            json_array_append_new (array, s_case_json (&cases [i]));
        else
            s_print_case (self, &cases [i]);
    }
    if (self->json)
        s_print_json (array);
    else
        json_decref (array);
    free (results);
    free (cases);
    return rc ? s_failed (client, rc) : 0;
}

static int
s_cmd_case (ctl_t *self, zvh_client_t *client)
{
    const char *verb = self->argc > 1 ? self->argv [1] : "";
    if (streq (verb, "include"))
        return s_cmd_include (self, client);
    if (streq (verb, "list"))
        return s_cmd_list (self, client);
    if (self->argc < 3)
        return s_usage ("case commands need a case id");
    if (streq (verb, "show"))
        return s_cmd_show (self, client);
    zvh_case_t c;
    int rc;
    if (streq (verb, "close"))
        rc = zvh_client_case_close (client, self->argv [2], &c);
    else
    if (streq (verb, "move"))
        return s_cmd_move (self, client);
    else
    if (streq (verb, "complete"))
        rc = zvh_client_case_complete (client, self->argv [2], &c);
    else
        return s_usage ("unknown case command");
    if (rc)
        return s_failed (client, rc);
    s_print_case (self, &c);
    return 0;
}

static int
s_cmd_plan (ctl_t *self, zvh_client_t *client)
{
    if (self->argc < 4 || !streq (self->argv [1], "update"))
        return s_usage ("usage: plan update CASE PLAN.json");
    uint8_t *plan;
    size_t size;
    int rc = s_read_plan (self->argv [3], &plan, &size);
    if (rc)
        return rc;
    zvh_case_t c;
    rc = zvh_client_plan_update (client, self->argv [2], plan, size, &c);
    free (plan);
    if (rc)
        return s_failed (client, rc);
    if (!self->json && streq (c.state, "joint_source"))
        printf ("proposed to the owner region %s, which assigns the next version\n",
                c.owner);
    s_print_case (self, &c);
    return 0;
}

static int
s_cmd_keygen (ctl_t *self)
{
    if (self->argc < 2 || self->argv [1][0] == '-')
        return s_usage ("keygen needs a NAME");
    const char *dir = s_option (self, "--dir");
    char path [PATH_MAX], secret_path [PATH_MAX + 8];
    snprintf (path, sizeof path, "%s/%s.key", dir ? dir : ".", self->argv [1]);
    snprintf (secret_path, sizeof secret_path, "%s_secret", path);
    if (!s_flag (self, "--force") && (zsys_file_exists (path) || zsys_file_exists (secret_path))) {
        fprintf (stderr, "zvhctl: %s exists; use --force to replace it\n", path);
        return EXIT_USAGE;
    }
    //  A new key directory holds a secret: only its owner may enter it
    if (dir && !zsys_file_exists (dir) && mkdir (dir, S_IRWXU)) {
        fprintf (stderr, "zvhctl: cannot create %s: %s\n", dir, strerror (errno));
        return EXIT_USAGE;
    }
    zcert_t *cert = zcert_new ();
    const char *region = s_option (self, "--region");
    const char *role = s_option (self, "--role");
    if (region)
        zcert_set_meta (cert, "region", "%s", region);
    if (role)
        zcert_set_meta (cert, "role", "%s", role);
    //  The Ed25519 key that verifies this key holder's signed events
    uint8_t sign_public [WIRE_SIGN_PUBLIC_BYTES], sign_secret [WIRE_SIGN_SECRET_BYTES];
    char sign_hex [WIRE_SIGN_PUBLIC_BYTES * 2 + 1];
    wire_sign_keypair (zcert_secret_key (cert), sign_public, sign_secret);
    sodium_memzero (sign_secret, sizeof sign_secret);
    sodium_bin2hex (sign_hex, sizeof sign_hex, sign_public, sizeof sign_public);
    zcert_set_meta (cert, "sign-key", "%s", sign_hex);
    int rc = zcert_save (cert, path);
    if (rc == 0 && self->json)
        s_print_json (json_pack ("{s:s, s:s, s:s, s:s}", "public_key", zcert_public_txt (cert),
                                 "sign_key", sign_hex, "public_file", path,
                                 "secret_file", secret_path));
    else
    if (rc == 0)
        printf ("public_key = \"%s\"\nsign_key = \"%s\"\nwrote %s and %s (keep the "
                "secret file private)\n", zcert_public_txt (cert), sign_hex, path,
                secret_path);
    else
        fprintf (stderr, "zvhctl: cannot write %s: %s\n", path, strerror (errno));
    zcert_destroy (&cert);
    return rc ? EXIT_USAGE : 0;
}

//  ---------------------------------------------------------------- signals

//  The partner link named by --endpoint, --server-key and --key, or NULL;
//  *named says whether the command named one at all.
static zvh_subscriber_t *
s_partner_link (ctl_t *self, bool *named)
{
    const char *endpoint = s_option (self, "--endpoint");
    const char *server_key = s_option (self, "--server-key");
    const char *key = s_option (self, "--key");
    *named = endpoint || server_key || key;
    if (!endpoint || !server_key || !key)
        return NULL;
    return zvh_subscriber_new (endpoint, server_key, key);
}

static void
s_read_raise (ctl_t *self, zvh_raise_t *raise)
{
    memset (raise, 0, sizeof *raise);
    raise->national = s_flag (self, "--national");
    //  The case is the first argument after "signal raise" that is no option
    for (int arg = 2; arg < self->argc && !raise->national; arg++) {
        if (self->argv [arg][0] == '-' && self->argv [arg][1] == '-') {
            arg++;
            continue;
        }
        raise->case_id = self->argv [arg];
        break;
    }
    raise->kind = s_option (self, "--kind");
    raise->urgency = s_option (self, "--urgency");
    raise->severity = s_option (self, "--severity");
    raise->certainty = s_option (self, "--certainty");
    raise->text = s_option (self, "--text");
}

static int
s_raise_as_partner (ctl_t *self, zvh_subscriber_t *partner, zvh_raise_t *raise,
                    char *event_id)
{
    int rc = zvh_subscriber_raise (partner, raise, event_id, self->timeout_ms);
    if (rc)
        fprintf (stderr, "zvhctl: %s: %s\n", zvh_strerror (rc),
                 zvh_subscriber_error (partner));
    return s_exit_code (rc);
}

//  A client for the control endpoint: CURVE when --server-key and --key
//  are given (a tcp:// endpoint, PROTOCOL 9.1).
static zvh_client_t *
s_client (const ctl_t *self)
{
    if (self->server_key || self->key_file)
        return zvh_client_new_curve (self->endpoint, self->server_key, self->key_file);
    return zvh_client_new (self->endpoint);
}

static int
s_raise_as_operator (ctl_t *self, zvh_raise_t *raise, char *event_id)
{
    if (!*self->endpoint)
        return s_usage ("say which daemon: -c CONFIG, -d DATA_DIR or -e ENDPOINT");
    zvh_client_t *client = s_client (self);
    if (!client)
        return s_usage ("not a usable endpoint (or --server-key and --key not both given)");
    zvh_client_set_timeout (client, self->timeout_ms);
    int rc = zvh_client_signal_raise (client, raise, event_id);
    if (rc)
        rc = s_failed (client, rc);
    zvh_client_destroy (&client);
    return rc;
}

static int
s_cmd_signal (ctl_t *self)
{
    if (self->argc < 2 || !streq (self->argv [1], "raise"))
        return s_usage ("usage: signal raise (CASE | --national) --kind KIND ...");
    zvh_raise_t raise;
    s_read_raise (self, &raise);
    if (!raise.national && !raise.case_id)
        return s_usage ("signal raise needs a CASE or --national");
    char event_id [ZVH_EVENT_ID_MAX];
    bool named;
    zvh_subscriber_t *partner = s_partner_link (self, &named);
    if (named && !partner)
        return s_usage ("a partner needs --endpoint, --server-key and a readable --key");
    int rc = partner ? s_raise_as_partner (self, partner, &raise, event_id)
                     : s_raise_as_operator (self, &raise, event_id);
    zvh_subscriber_destroy (&partner);
    if (rc)
        return rc;
    if (self->json)
        s_print_json (json_pack ("{s:s}", "event_id", event_id));
    else
        printf ("signal %s raised\n", event_id);
    return 0;
}

static void
s_set_text (json_t *object, const char *name, const char *value)
{
    if (value)
        json_object_set_new (object, name, json_string (value));
}

//  Whether signal is verified (PROTOCOL 8.3) against the publisher's
//  sign_key in the directory; a failure is said on stderr, loudly.
static bool
s_verified (zconfig_t *directory, const zvh_signal_t *signal)
{
    const char *publisher = signal->publisher;
    char path [ZVH_ID_MAX + 32];
    //  A region id never holds '/', which would walk elsewhere in the file
    bool named = publisher && *publisher && !strchr (publisher, '/')
              && strlen (publisher) < ZVH_ID_MAX;
    snprintf (path, sizeof path, "directory/%s/sign_key", named ? publisher : "-");
    const char *key = named ? zconfig_get (directory, path, NULL) : NULL;
    int rc = !named ? ZVH_E_FORGED
           : key && *key ? zvh_signal_verify (signal, key) : ZVH_E_UNKNOWN_REGION;
    if (rc)
        fprintf (stderr, "zvhctl: WARNING: signal seq %" PRIu64 " (%s) FAILED verification: "
                 "%s\n", signal->seq, signal->event_id ? signal->event_id : "no event id",
                 !named ? "it carries no proof of who published it"
                 : rc == ZVH_E_UNKNOWN_REGION ? "its publisher has no sign_key in the directory"
                 : rc == ZVH_E_BAD_REQUEST ? "its publisher's sign_key in the directory is "
                                             "not 64 hex digits"
                 : "not published as it reads (altered, or forged in another's name)");
    return rc == ZVH_OK;
}

//  One signal as one JSON line: only what the partner's view holds, and
//  the frame as received in hex (for audits and tests of what was disclosed).
//  With a directory, also who published it and whether that is verified.
static void
s_print_signal (const zvh_signal_t *signal, zconfig_t *directory, bool verified)
{
    json_t *line = json_pack ("{s:I}", "seq", (json_int_t) signal->seq);
    if (directory) {
        s_set_text (line, "publisher", signal->publisher);
        json_object_set_new (line, "verified", json_boolean (verified));
    }
    s_set_text (line, "type", signal->type);
    s_set_text (line, "event_id", signal->event_id);
    s_set_text (line, "case_id", signal->case_id);
    s_set_text (line, "region", signal->region);
    if (signal->national)
        json_object_set_new (line, "national", json_true ());
    s_set_text (line, "kind", signal->kind);
    s_set_text (line, "urgency", signal->urgency);
    s_set_text (line, "severity", signal->severity);
    s_set_text (line, "certainty", signal->certainty);
    s_set_text (line, "text", signal->text);
    s_set_text (line, "raised_by", signal->raised_by);
    s_set_text (line, "raised_role", signal->raised_role);
    if (signal->time_ms)
        json_object_set_new (line, "time_ms", json_integer (signal->time_ms));
    s_set_text (line, "partner_ref", signal->partner_ref);
    if (signal->action_count) {
        json_t *actions = json_array ();
        for (size_t i = 0; i < signal->action_count; i++)
            json_array_append_new (actions, json_string (signal->actions [i]));
        json_object_set_new (line, "actions", actions);
    }
    s_set_text (line, "coordinator_contact", signal->coordinator_contact);
    s_set_text (line, "previous_region", signal->previous_region);
    s_set_text (line, "review_date", signal->review_date);
    char *hex = (char *) malloc (signal->raw_size * 2 + 1);
    for (size_t i = 0; i < signal->raw_size; i++)
        snprintf (hex + 2 * i, 3, "%02x", signal->raw [i]);
    hex [signal->raw_size * 2] = 0;
    json_object_set_new (line, "raw_hex", json_string (hex));
    free (hex);
    char *text = json_dumps (line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    puts (text);
    fflush (stdout);            //  printed before acknowledged: nothing lost on a kill
    free (text);
    json_decref (line);
}

//  One signal as one CAP 1.2 alert on one line (docs/PARTNERS.md).
//  ZVH_E_PROTOCOL if it cannot be written as one (a type this zvhctl does
//  not know): the caller stops before acknowledging, so nothing is lost.
static int
s_print_cap (const zvh_signal_t *signal, const char *role)
{
    char *xml = NULL;
    if (zvh_signal_cap (signal, role, &xml)) {
        fprintf (stderr, "zvhctl: signal seq %" PRIu64 " (%s) cannot be written as CAP: "
                 "type %s unknown to this zvhctl\n", signal->seq,
                 signal->event_id ? signal->event_id : "no event id",
                 signal->type ? signal->type : "absent");
        return ZVH_E_PROTOCOL;
    }
    puts (xml);
    fflush (stdout);            //  written before acknowledged: nothing lost on a kill
    free (xml);
    return 0;
}

//  Receive until --count signals or --idle-exit ms without one; with a
//  directory, each is verified and *unverified_p counts the failures.
//  cap_role: write CAP alerts for that role instead of JSON lines.
static int
s_receive (ctl_t *self, zvh_subscriber_t *partner, zconfig_t *directory,
           const char *cap_role, size_t *unverified_p)
{
    const char *count = s_option (self, "--count");
    const char *idle = s_option (self, "--idle-exit");
    long long wanted = count ? atoll (count) : -1;
    int idle_ms = idle ? atoi (idle) : 0;
    int rc = 0;
    uint64_t acked = 0;
    while (rc == 0 && wanted != 0 && !zsys_interrupted) {
        zvh_signal_t signal;
        rc = zvh_subscriber_next (partner, idle_ms ? idle_ms : 1000, &signal);
        if (rc == ZVH_E_TIMEOUT && !idle_ms)
            rc = 0;
        else
        if (rc == ZVH_E_GAP) {
            fprintf (stderr, "zvhctl: %s\n", zvh_subscriber_error (partner));
            rc = 0;
        }
        else
        if (rc == 0) {
            bool verified = directory && s_verified (directory, &signal);
            *unverified_p += directory && !verified;
            if (cap_role)
                rc = s_print_cap (&signal, cap_role);
            else
                s_print_signal (&signal, directory, verified);
            if (rc)
                break;
            rc = zvh_subscriber_ack (partner, signal.seq);
            acked = signal.seq;
            wanted--;
        }
    }
    //  Before closing: the daemon says the cursor is stored (PROTOCOL 7.4),
    //  so a resume --from-cursor does not repeat what was printed. Not
    //  confirmed (the daemon is gone) only means a resume may repeat some:
    //  said, not an error, since everything printed was received
    if ((rc == 0 || rc == ZVH_E_TIMEOUT) && acked
    &&  zvh_subscriber_confirm (partner, acked, self->timeout_ms))
        fprintf (stderr, "zvhctl: warning: %s; a resume --from-cursor may repeat views "
                 "up to seq %" PRIu64 "\n", zvh_subscriber_error (partner), acked);
    return rc == ZVH_E_TIMEOUT ? 0 : rc;
}

//  The partner's role for --format cap: --role, else the role that keygen
//  wrote into the key file. Copied into role (ZVH_ID_MAX); -1 if neither.
static int
s_cap_role (ctl_t *self, char *role)
{
    const char *given = s_option (self, "--role");
    zcert_t *cert = given ? NULL : zcert_load (s_option (self, "--key"));
    const char *found = given ? given : cert ? zcert_meta (cert, "role") : NULL;
    snprintf (role, ZVH_ID_MAX, "%s", found ? found : "");
    zcert_destroy (&cert);
    return *role ? 0 : -1;
}

static int
s_cmd_subscribe (ctl_t *self)
{
    const char *format = s_option (self, "--format");
    if (format && !streq (format, "json") && !streq (format, "cap"))
        return s_usage ("subscribe --format takes json or cap");
    bool cap = format && streq (format, "cap");
    char role [ZVH_ID_MAX];
    if (cap && (!s_option (self, "--key") || s_cap_role (self, role)))
        return s_usage ("subscribe --format cap needs --role ROLE (the key file names none)");
    const char *directory_file = s_option (self, "--directory");
    zconfig_t *directory = directory_file ? zconfig_load (directory_file) : NULL;
    if (directory_file && !directory) {
        fprintf (stderr, "zvhctl: cannot read directory %s\n", directory_file);
        return EXIT_USAGE;
    }
    bool named;
    zvh_subscriber_t *partner = s_partner_link (self, &named);
    if (!partner) {
        zconfig_destroy (&directory);
        return s_usage ("subscribe needs --endpoint, --server-key and a readable --key");
    }
    const char *after = s_option (self, "--after");
    const char *credit = s_option (self, "--credit");
    int rc = zvh_subscriber_start (partner, after ? strtoull (after, NULL, 10) : 0,
                                   s_flag (self, "--from-cursor") || !after,
                                   credit ? (uint32_t) atoi (credit) : 0);
    size_t unverified = 0;
    if (rc == 0)
        rc = s_receive (self, partner, directory, cap ? role : NULL, &unverified);
    if (rc)
        fprintf (stderr, "zvhctl: %s\n", zvh_subscriber_error (partner));
    zvh_subscriber_destroy (&partner);
    zconfig_destroy (&directory);
    if (rc == 0 && unverified)
        fprintf (stderr, "zvhctl: WARNING: %zu signal(s) FAILED verification\n", unverified);
    return rc == 0 && unverified ? EXIT_UNVERIFIED : s_exit_code (rc);
}

//  The durable CAP forwarder (docs/PARTNERS.md (c)): a partner's client,
//  with the partner's own key, in a process (and unit) of its own.
static int
s_cmd_forward (ctl_t *self)
{
    char role [ZVH_ID_MAX];
    if (!s_option (self, "--key") || s_cap_role (self, role))
        return s_usage ("forward needs --role ROLE (the key file names none)");
    if (!s_option (self, "--cert") != !s_option (self, "--cert-key"))
        return s_usage ("forward takes --cert and --cert-key together");
    forward_config_t config = {
        .url = s_option (self, "--url"), .ca_file = s_option (self, "--ca"),
        .cert_file = s_option (self, "--cert"), .key_file = s_option (self, "--cert-key"),
        .token_file = s_option (self, "--token-file"),
        .content_type = s_option (self, "--content-type") };
    const char *problem = NULL;
    forward_t *forward = forward_new (&config, &problem);
    if (!forward)
        return s_usage (problem);
    bool named;
    zvh_subscriber_t *partner = s_partner_link (self, &named);
    if (!partner) {
        forward_destroy (&forward);
        return s_usage ("forward needs --endpoint, --server-key and a readable --key");
    }
    int rc = forward_run (forward, partner, role);
    if (rc)
        fprintf (stderr, "zvhctl forward: %s\n", zvh_subscriber_error (partner));
    zvh_subscriber_destroy (&partner);
    forward_destroy (&forward);
    return s_exit_code (rc);
}

//  A store key for data_key: 32 random bytes as hex, in a new file that only
//  its owner can read.
static int
s_cmd_datakey (ctl_t *self)
{
    if (self->argc < 2)
        return s_usage ("datakey needs a FILE");
    const char *path = self->argv [1];
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf (stderr, "zvhctl: cannot create %s: %s (an existing key is never "
                 "overwritten)\n", path, strerror (errno));
        return EXIT_USAGE;
    }
    uint8_t key [DATA_KEY_BYTES];
    char hex [DATA_KEY_BYTES * 2 + 2];
    randombytes_buf (key, sizeof key);
    sodium_bin2hex (hex, sizeof hex, key, sizeof key);
    strcat (hex, "\n");
    ssize_t written = write (fd, hex, strlen (hex));
    close (fd);
    sodium_memzero (key, sizeof key);
    sodium_memzero (hex, sizeof hex);
    if (written != DATA_KEY_BYTES * 2 + 1) {
        fprintf (stderr, "zvhctl: cannot write %s\n", path);
        return EXIT_USAGE;
    }
    printf ("wrote %s (mode 0600): set data_key = %s in the daemon's config\n", path, path);
    return 0;
}

static void
s_print_line (const char *json, void *arg)
{
    (void) arg;
    puts (json);
}

//  The backup directory as an absolute path: the daemon has its own cwd.
//  One audit entry as a FHIR AuditEvent line; arg is the region's id.
static void
s_print_fhir_line (const char *json, void *arg)
{
    char *event = zvh_audit_fhir (json, (const char *) arg);
    if (event)
        puts (event);
    else
        fprintf (stderr, "zvhctl: an audit entry is not JSON: %s\n", json);
    free (event);
}

//  The audit trail, as our JSON lines or as FHIR AuditEvents (which name
//  the region as the observer, so the region is asked first).
static int
s_audit_export (ctl_t *self, zvh_client_t *client)
{
    const char *after = s_option (self, "--after");
    uint64_t after_seq = after ? strtoull (after, NULL, 10) : 0;
    if (!s_flag (self, "--fhir"))
        return zvh_client_audit_export (client, after_seq, s_print_line, NULL);
    zvh_status_t status;
    int rc = zvh_client_status (client, &status);
    if (rc)
        return rc;
    rc = zvh_client_audit_export (client, after_seq, s_print_fhir_line, status.region);
    zvh_status_free (&status);
    return rc;
}

static int
s_cmd_backup (ctl_t *self, zvh_client_t *client)
{
    if (self->argc < 2 || self->argv [1][0] == '-')
        return s_usage ("backup needs a DIR");
    const char *dir = self->argv [1];
    char absolute [PATH_MAX + 2];
    if (*dir == '/')
        snprintf (absolute, sizeof absolute, "%s", dir);
    else {
        char cwd [PATH_MAX];
        if (!getcwd (cwd, sizeof cwd)
        ||  snprintf (absolute, sizeof absolute, "%s/%s", cwd, dir) >= (int) sizeof absolute)
            return s_usage ("backup DIR: path too long");
    }
    if (!self->timeout_given)
        zvh_client_set_timeout (client, BACKUP_TIMEOUT_MS);
    int64_t started = zclock_mono ();
    int rc = zvh_client_backup (client, absolute);
    if (rc)
        return s_failed (client, rc);
    int64_t elapsed_ms = zclock_mono () - started;
    if (self->json)
        s_print_json (json_pack ("{s:s, s:I}", "backup", absolute, "elapsed_ms",
                                 (json_int_t) elapsed_ms));
    else
        printf ("backup written to %s (%" PRId64 " ms); restore it with the daemon "
                "stopped: see docs/OPERATIONS.md\n", absolute, elapsed_ms);
    return 0;
}

static int
s_cmd_admin (ctl_t *self, zvh_client_t *client)
{
    const char *command = self->argv [0];
    const char *verb = self->argc > 1 ? self->argv [1] : "";
    int rc;
    if (streq (command, "backup"))
        return s_cmd_backup (self, client);
    if (streq (command, "reload")) {
        rc = zvh_client_reload (client);
        if (rc == 0)
            printf ("reloaded: keys, directory, partners and revocation list taken\n");
    }
    else
    if (streq (verb, "verify")) {
        bool intact;
        uint64_t count;
        rc = zvh_client_audit_verify (client, &intact, &count);
        if (rc == 0 && self->json)
            s_print_json (json_pack ("{s:b, s:I, s:s}", "intact", intact, "entries",
                                     (json_int_t) count, "problem",
                                     intact ? "" : zvh_client_error (client)));
        else
        if (rc == 0 && intact)
            printf ("audit trail intact: %" PRIu64 " entries\n", count);
        else
        if (rc == 0)
            printf ("audit trail BROKEN after %" PRIu64 " good entries: %s\n", count,
                    zvh_client_error (client));
        if (rc == 0 && !intact)
            return EXIT_REFUSED;
    }
    else
    if (streq (verb, "export")) {
        rc = s_audit_export (self, client);
        rc = rc < 0 ? rc : 0;
    }
    else
        return s_usage ("usage: audit verify | audit export [--after SEQ] [--fhir]");
    return rc ? s_failed (client, rc) : 0;
}

//  The usage lines of one command (and their continuation lines), or the
//  whole usage if the command is unknown.
static int
s_command_help (const char *command)
{
    char prefix [64];
    snprintf (prefix, sizeof prefix, "  %s", command);
    size_t prefix_len = strlen (prefix);
    bool printed = false, inside = false;
    const char *line = s_usage_text;
    while (*line) {
        size_t length = strcspn (line, "\n");
        bool starts = length > prefix_len && strncmp (line, prefix, prefix_len) == 0
                   && (line [prefix_len] == ' ' || line [prefix_len] == '\n');
        //  Continuation lines are indented further than a command line
        bool continues = inside && length > 4 && strncmp (line, "    ", 4) == 0;
        inside = starts || continues;
        if (inside) {
            printf ("%.*s\n", (int) length, line);
            printed = true;
        }
        line += length + (line [length] == '\n');
    }
    if (!printed)
        return s_usage (NULL);
    printf ("\nglobal options: [-c CONFIG | -d DATA_DIR | -e ENDPOINT] [--json] [-t MS]\n"
            "exit codes: 0 ok, 1 usage, 2 daemon unreachable, 3 refused, 4 store error, "
            "5 protocol, 6 unverified signal\n");
    return 0;
}

int
main (int argc, char *argv [])
{
    ctl_t self = { 0 };
    if (argc == 2 && streq (argv [1], "--version")) {
        printf ("zvhctl %s (protocol %d.%d)\n", ZVH_RELEASE, WIRE_PROTOCOL_MAJOR,
                WIRE_PROTOCOL_MINOR);
        return 0;
    }
    int rc = s_parse_globals (&self, argc, argv);
    if (rc == -2 || (rc == 0 && self.argc > 0 && streq (self.argv [0], "help")))
        return s_usage (NULL);
    if (rc == -3)
        return EXIT_USAGE;
    if (rc || self.argc == 0)
        return s_usage (rc ? "bad option" : "no command");
    if (s_flag (&self, "--help") || s_flag (&self, "-h"))
        return s_command_help (self.argv [0]);

    const char *command = self.argv [0];
    if (streq (command, "keygen"))
        return s_cmd_keygen (&self);
    if (streq (command, "datakey"))
        return s_cmd_datakey (&self);
    if (streq (command, "signal") || streq (command, "subscribe")
    ||  streq (command, "forward"))
        zsys_init ();
    if (streq (command, "forward"))
        return s_cmd_forward (&self);
    if (streq (command, "signal"))
        return s_cmd_signal (&self);
    if (streq (command, "subscribe"))
        return s_cmd_subscribe (&self);
    bool admin = streq (command, "reload") || streq (command, "audit")
              || streq (command, "backup");
    if (!admin && !streq (command, "status") && !streq (command, "case")
    &&  !streq (command, "plan") && !streq (command, "federation")
    &&  !streq (command, "monitor"))
        return s_usage ("unknown command");
    if (!*self.endpoint)
        return s_usage ("say which daemon: -c CONFIG, -d DATA_DIR, -e ENDPOINT or $ZVH_CONTROL");
    zsys_init ();
    zvh_client_t *client = s_client (&self);
    if (!client) {
        fprintf (stderr, "zvhctl: '%s' is not a usable endpoint (a tcp:// one takes "
                 "--server-key and --key, both)\n", self.endpoint);
        return EXIT_USAGE;
    }
    zvh_client_set_timeout (client, self.timeout_ms);
    if (admin)
        rc = s_cmd_admin (&self, client);
    else
    if (streq (command, "status"))
        rc = s_cmd_status (&self, client);
    else
    if (streq (command, "federation"))
        rc = s_cmd_federation (&self, client);
    else
    if (streq (command, "monitor"))
        rc = s_cmd_monitor (&self, client);
    else
    if (streq (command, "case"))
        rc = s_cmd_case (&self, client);
    else
        rc = s_cmd_plan (&self, client);
    zvh_client_destroy (&client);
    return rc;
}
