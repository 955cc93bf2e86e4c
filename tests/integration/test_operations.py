#!/usr/bin/env python3
"""Operations for regional IT, with real daemons: the container configs,
metrics and health, backup and restore, and systemd readiness.

Every test runs the configs that docker/make-compose-configs.py writes for
docker/compose.yaml (three regions, a police and a crisis-service partner),
without Docker: a copy in which only endpoints and data_dir are moved to
loopback and a temporary directory (test_compose_files_and_generator_agree
checks that nothing else differs).

    python3 tests/integration/test_operations.py [name-filter]

The last line is "N passed, M failed"; the exit code is 1 if any failed.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigtest                                              # noqa: E402
import zvhtest                                              # noqa: E402
from zvhtest import (ZVHD, SOURCE_DIR, TestFailure, eq, expect,  # noqa: E402
                     wait_until)


GEN = zvhtest.load_module(os.path.join(SOURCE_DIR, "docker", "make-compose-configs.py"),
                         "make_compose_configs")
REGIONS = list(GEN.REGIONS)                     # groningen, drenthe, utrecht
A, B, C = REGIONS
PARTNERS = {pid: (role, region) for pid, role, region, _ in GEN.PARTNERS}
POLICE, CRISIS = "politie-noord", "ggz-crisisdienst"
TIMERS = dict(sigtest.TIMERS)                   # short heartbeats and retries
HTTP_TIMEOUT_S = 10
PROTOCOL_VERSION = "{}.{}".format(*re.search(
    r"WIRE_PROTOCOL_MAJOR\s+(\d+).*?WIRE_PROTOCOL_MINOR\s+(\d+)",
    open(os.path.join(SOURCE_DIR, "proto", "wire.h"), encoding="utf-8").read(),
    re.S).groups())


# --------------------------------------------------------------------- loopback

def _set_key(text, key, value):
    """Set `    key = value` in a zvhd section, replacing an existing line."""
    line = f"    {key} = {value}"
    pattern = re.compile(rf"^    {re.escape(key)} = .*$", re.M)
    if pattern.search(text):
        return pattern.sub(lambda _: line, text, count=1)
    return text.rstrip("\n") + "\n" + line + "\n"


def _replace_once(text, old, new, where):
    expect(text.count(old) == 1, f"{where}: expected '{old}' once in the generated "
                                 f"file, found it {text.count(old)} time(s)")
    return text.replace(old, new)


def _public_key(cert_path):
    with open(cert_path, encoding="utf-8") as f:
        return re.search(r'public-key = "(.{40})"', f.read()).group(1)


def write_compose_on_loopback(root, zvhctl, chosen, settings=None, partners=None):
    """Stands in for make-federation's write_federation: the generator's
    files in root/generated, and in root/run the same files with endpoints
    on 127.0.0.1 and data_dir under root. Returns zvhtest's info dict."""
    del chosen, partners                        # the generator decides both
    generated = os.path.join(root, "generated")
    run = os.path.join(root, "run")
    GEN.generate(generated, zvhctl)
    shutil.copytree(generated, run)
    ports = iter(zvhtest.make_federation.free_ports(3 * len(REGIONS)))
    info = {}
    for region in REGIONS:
        info[region] = {"fed": next(ports), "sub": next(ports), "metrics": next(ports)}
    for region in REGIONS:
        rdir = os.path.join(run, region)
        cfg = os.path.join(rdir, "zvhd.cfg")
        with open(cfg, encoding="utf-8") as f:
            text = f.read()
        p = info[region]
        data_dir = os.path.join(root, region, "data")
        text = _replace_once(text, f"data_dir = {GEN.DATA_DIR}", f"data_dir = {data_dir}", cfg)
        text = _replace_once(text, f'"tcp://0.0.0.0:{GEN.FEDERATION_PORT}"',
                             f'"tcp://127.0.0.1:{p["fed"]}"', cfg)
        text = _replace_once(text, f'"tcp://0.0.0.0:{GEN.SUBSCRIBE_PORT}"',
                             f'"tcp://127.0.0.1:{p["sub"]}"', cfg)
        text = _replace_once(text, f'"0.0.0.0:{GEN.METRICS_PORT}"',
                             f'"127.0.0.1:{p["metrics"]}"', cfg)
        for key, value in (settings or {}).items():
            text = _set_key(text, key, value)
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(text)
        directory = os.path.join(rdir, "federation.zpl")
        with open(directory, encoding="utf-8") as f:
            text = f.read()
        for other in REGIONS:
            text = _replace_once(text, f"tcp://{GEN.service(other)}:{GEN.FEDERATION_PORT}",
                                 f"tcp://127.0.0.1:{info[other]['fed']}", directory)
        with open(directory, "w", encoding="utf-8") as f:
            f.write(text)
        os.makedirs(os.path.join(root, region), exist_ok=True)
        p.update({"config": cfg, "data_dir": data_dir,
                  "endpoint": f"tcp://127.0.0.1:{p['fed']}",
                  "subscribe": f"tcp://127.0.0.1:{p['sub']}",
                  "public_key": _public_key(os.path.join(rdir, region + ".key"))})
    info["_partners"] = {}
    for pid, (role, region) in PARTNERS.items():
        pdir = os.path.join(run, "partners", pid)
        endpoint_file = os.path.join(pdir, "endpoint")
        with open(endpoint_file, encoding="utf-8") as f:
            text = f.read()
        text = _replace_once(text, f"tcp://{GEN.service(region)}:{GEN.SUBSCRIBE_PORT}",
                             info[region]["subscribe"], endpoint_file)
        with open(endpoint_file, "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(pdir, "server_key"), encoding="utf-8") as f:
            server_key = f.read().strip()
        info["_partners"][pid] = {"role": role, "region": region,
                                  "endpoint": text.strip(), "server_key": server_key,
                                  "key": os.path.join(pdir, "partner.key_secret")}
    return info


class ComposeFederation(sigtest.SignalFederation):
    """The compose federation on loopback, with zvhtest's and sigtest's
    helpers (start, stop, ctl, subscribe, raise_signal, ...)."""

    def __init__(self, settings=None):
        super().__init__(REGIONS, settings, (), tempfile.mkdtemp(prefix="zvh-ops-"),
                         writer=write_compose_on_loopback)

    def subscribe_as(self, pid, name=None, **options):
        """`zvhctl subscribe` exactly as the partner's container runs it: the
        endpoint and server key from its files, its own key, from its cursor."""
        partner = self.partners[pid]
        eq(self.info[partner["region"]]["subscribe"], partner["endpoint"],
           f"{pid}'s endpoint file")
        return self.subscribe(partner["region"], pid, name=name or pid,
                              server_key=partner["server_key"], from_cursor=True,
                              **options)

    # ------------------------------------------------------------- HTTP
    #  http(region, path) is zvhtest.Federation's (the metrics listener)

    def metrics(self, region):
        status, body = self.http(region, "/metrics")
        eq(status, 200, f"GET /metrics at {region}")
        return parse_metrics(body)

    def metric(self, region, name, **labels):
        return self.metrics(region).get(sample_key(name, labels))

    def wait_metric(self, region, name, predicate, timeout=None, **labels):
        """Poll until predicate(value) holds; the value."""
        key = sample_key(name, labels)

        def holds():
            value = self.metrics(region).get(key)
            return value is not None and predicate(value) and (value, )
        return wait_until(holds, timeout, interval=0.1,
                          what=f"{key} at {region} to change as expected")[0]


def sample_key(name, labels):
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def parse_metrics(text):
    """Prometheus text → {"name{a="x",b="y"}": value} (labels sorted); checks
    that every sample belongs to a declared TYPE."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        expect(m, f"not a Prometheus sample line: {line!r}")
        name, labels = m.group(1), dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        expect(name in types or family in types, f"sample {name} has no # TYPE line")
        samples[sample_key(name, labels)] = float(m.group(4))
    return samples


# --------------------------------------------------------------------- runner: zvhtest's

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def check_sanitizers(fed):
    """Under ZVH_SANITIZE a report in any daemon's or subscriber's log fails
    the test, even if the test saw nothing wrong."""
    logs = {region: fed.log(region) for region in fed.regions}
    logs.update({sub.name: sub.stderr() for sub in fed.subscribers})
    for name, text in logs.items():
        for mark in SANITIZER_MARKS:
            expect(mark not in text, f"{name}'s log has a sanitizer report ({mark})")


def compose(settings=None):
    """Decorator: the test gets a fresh ComposeFederation(settings)."""
    def mark(fn):
        fn.zvh_federation = lambda: ComposeFederation(settings)
        return fn
    return mark


# --------------------------------------------------------------------- helpers

def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _files(root):
    found = []
    for directory, _, names in os.walk(root):
        found += [os.path.relpath(os.path.join(directory, n), root) for n in names]
    return sorted(found)


def include(fed, region, case_id):
    return fed.include(region, fed.plan_file(f"Plan of {case_id}."), case_id)


# --------------------------------------------------------------------- tests

@compose()
def test_compose_files_and_generator_agree(fed):
    """compose.yaml mounts what the generator writes; the Dockerfile builds as
    the README does; the generated configs validate as they are; and the
    loopback copy the other tests run differs only in endpoints and data_dir."""
    generated = os.path.join(fed.root, "generated")
    run = os.path.join(fed.root, "run")
    compose_text = _read(os.path.join(SOURCE_DIR, "docker", "compose.yaml"))
    for region in REGIONS:
        expect(f"./generated/{region}:/etc/zvhd:ro" in compose_text,
               f"compose.yaml mounts generated/{region} at /etc/zvhd")
        expect(f"{region}-data:/var/lib/zvhd" in compose_text,
               f"compose.yaml gives {region} a volume for /var/lib/zvhd")
        expect(re.search(rf"^  {GEN.service(region)}:$", compose_text, re.M),
               f"compose.yaml has service {GEN.service(region)} (the directory's host)")
        cfg = os.path.join(generated, region, "zvhd.cfg")
        proc = subprocess.run([ZVHD, "--check-config", cfg], capture_output=True, text=True)
        eq(proc.returncode, 0, f"zvhd --check-config {cfg} ({proc.stderr.strip()})")
    for pid in PARTNERS:
        expect(f"./generated/partners/{pid}:/etc/zvh-partner:ro" in compose_text,
               f"compose.yaml mounts generated/partners/{pid}")
        for name in ("endpoint", "server_key", "partner.key_secret"):
            expect(os.path.exists(os.path.join(generated, "partners", pid, name)),
                   f"the generator writes partners/{pid}/{name}")
    for mounted in re.findall(r"\./generated/([\w/-]+):", compose_text):
        expect(os.path.isdir(os.path.join(generated, mounted)),
               f"compose.yaml mounts generated/{mounted}, which the generator does not write")
    dockerfile = _read(os.path.join(SOURCE_DIR, "docker", "Dockerfile"))
    demo = _read(os.path.join(SOURCE_DIR, "scripts", "demo.sh"))
    configure = re.search(r"^(cmake -S \. -B build [^>\n]*?)\s*(>|$)", demo, re.M).group(1)
    build = re.search(r"^(cmake --build build [^\n]*)$", demo, re.M).group(1)
    for needed in ("RUN scripts/install-deps.sh", configure, build, "USER zvhd",
                   'VOLUME ["/var/lib/zvhd", "/etc/zvhd"]'):
        expect(needed in dockerfile, f"docker/Dockerfile lacks: {needed}")
    #  Base images by digest (issue 16): a tag alone may change under us
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    eq(len(bases), 2, f"stages of docker/Dockerfile: {bases}")
    for base, stage in zip(bases, ("debian:12", "debian:12")):
        expect(base.startswith(stage) and re.search(r"@sha256:[0-9a-f]{64}$", base),
               f"docker/Dockerfile: FROM {base} is not {stage}.x pinned by digest")
    eq(_files(run), _files(generated), "files of the loopback copy")
    allowed = re.compile(r'^\s*(data_dir|bind|subscribe_bind|metrics_bind|endpoint) = |'
                         r'^tcp://127\.0\.0\.1:\d+$')
    for name in _files(generated):
        before = _read(os.path.join(generated, name)).splitlines()
        after = _read(os.path.join(run, name)).splitlines()
        eq(len(after), len(before), f"lines of run/{name}")
        for old, new in zip(before, after):
            expect(old == new or allowed.match(new),
                   f"run/{name}: '{old}' became '{new}'; only endpoints and data_dir "
                   "may differ from what the containers get")
    for region in REGIONS:
        key_mode = stat.S_IMODE(os.stat(os.path.join(generated, region,
                                                     region + ".data_key")).st_mode)
        eq(key_mode, 0o600, f"mode of {region}.data_key")


@compose(TIMERS)
def test_compose_federation_carries_a_handover_and_a_signal_to_partners(fed):
    """Three regions and both partners as compose runs them: a case moves
    from Groningen to Drenthe, then Drenthe raises a signal on it; the police
    (at Groningen) and the crisis service (at Utrecht) each get the move
    (label_moved) and the signal, each in its own view."""
    fed.start_all()
    police = fed.subscribe_as(POLICE)
    crisis = fed.subscribe_as(CRISIS)
    include(fed, A, "OPS-HANDOVER-1")
    rc, _, err = fed.move(A, "OPS-HANDOVER-1", B)
    eq(rc, 0, f"case move ({err.strip()})")
    fed.wait_state(B, "OPS-HANDOVER-1", "joint_target")
    fed.wait_state(A, "OPS-HANDOVER-1", "joint_source")
    event_id = fed.raise_signal(B, "OPS-HANDOVER-1", kind="incident",
                                text="Melding via de meldkamer")
    for sub in (police, crisis):
        moved = sub.wait_count(1, type_="label_moved")[0]
        eq((moved["region"], moved.get("previous_region")), (B, A),
           f"{sub.name}: region and previous_region of the move")
        line = sub.wait_event(event_id)
        eq((line["type"], line["region"], line["kind"]), ("signal", B, "incident"),
           f"{sub.name}: the signal")
    expect("text" not in police.wait_event(event_id), "the police view has no free text")
    eq(crisis.wait_event(event_id).get("text"), "Melding via de meldkamer",
       "the crisis service's view has the text")


@compose(TIMERS)
def test_metrics_move_with_a_handover_and_a_signal(fed):
    """/metrics follows the work: case counts, the outbox towards a stopped
    peer and its age, peer up/down, events applied and made, the signal log,
    refusals, partner lag, and the commit latency histogram."""
    fed.start_all()
    police = fed.subscribe_as(POLICE)
    base_a, base_b = fed.metrics(A), fed.metrics(B)
    eq(base_a['zvh_info{region="groningen",version="0.1.0"}'], 1, "zvh_info")
    eq(base_a['zvh_peer_up{peer="drenthe"}'], 1, "drenthe up at groningen")
    include(fed, A, "OPS-METRIC-1")
    after_include = fed.metrics(A)
    eq(after_include['zvh_cases{state="active"}'],
       base_a['zvh_cases{state="active"}'] + 1, "active cases after include")
    expect(after_include["zvh_events_originated_total"] > base_a["zvh_events_originated_total"],
           "an include makes an event (the label) at groningen")
    expect(after_include["zvh_store_commit_seconds_count"]
           > base_a["zvh_store_commit_seconds_count"], "commits counted")
    eq(after_include['zvh_store_commit_seconds_bucket{le="+Inf"}'],
       after_include["zvh_store_commit_seconds_count"], "+Inf bucket = count")

    #  Drenthe stops answering: the offer waits in groningen's outbox
    fed.pause(B)
    rc, _, err = fed.move(A, "OPS-METRIC-1", B)
    eq(rc, 0, f"case move ({err.strip()})")
    fed.wait_metric(A, "zvh_outbox_depth", lambda v: v >= 1, peer=B)
    fed.wait_metric(A, "zvh_outbox_oldest_age_seconds", lambda v: v > 0.2, peer=B)
    fed.wait_metric(A, "zvh_peer_up", lambda v: v == 0, peer=B)
    eq(fed.metric(A, "zvh_cases", state="offered"), 1, "offered cases at groningen")
    fed.resume(B)
    fed.wait_metric(A, "zvh_outbox_depth", lambda v: v == 0, peer=B)
    fed.wait_metric(A, "zvh_peer_up", lambda v: v == 1, peer=B)
    fed.wait_metric(B, "zvh_cases", lambda v: v == 1, state="joint_target")
    fed.wait_metric(A, "zvh_cases", lambda v: v == 1, state="joint_source")
    expect(fed.metric(B, "zvh_events_applied_total") > base_b["zvh_events_applied_total"],
           "drenthe counts the events it applied")

    #  A signal reaches every region's log
    logs = {r: fed.metric(r, "zvh_signal_log_appended_total") for r in REGIONS}
    applied_c = fed.metric(C, "zvh_events_applied_total")
    event_id = fed.raise_signal(B, "OPS-METRIC-1", kind="incident")
    for region in REGIONS:
        fed.wait_metric(region, "zvh_signal_log_appended_total",
                        lambda v, r=region: v >= logs[r] + 1)
    expect(fed.metric(C, "zvh_events_applied_total") > applied_c,
           "utrecht counts the signal it applied")
    police.wait_event(event_id)
    eq(fed.wait_metric(A, "zvh_subscriber_lag", lambda v: v == 0, partner=POLICE), 0,
       "police lag once it acknowledged")
    eq(fed.metric(A, "zvh_subscriber_live", partner=POLICE), 1, "police session live")

    #  A refusal is counted where it came from
    refused = fed.metric(A, "zvh_refusals_total", source="control")
    refusals = fed.metric(A, "zvh_store_write_refusals_total")
    rc, _, _ = fed.move(A, "NO-SUCH-CASE", B)
    eq(rc, 3, "moving an unknown case is refused")
    eq(fed.metric(A, "zvh_refusals_total", source="control"), refused + 1,
       "control refusals")
    eq(fed.metric(A, "zvh_store_write_refusals_total"), refusals + 1,
       "store write refusals")
    final = fed.metrics(A)
    for name in ("zvh_store_map_bytes", "zvh_store_used_bytes", "zvh_store_map_max_bytes"):
        expect(final[name] > 0, f"{name} > 0")
    expect(final["zvh_store_used_bytes"] <= final["zvh_store_map_bytes"],
           "store use within the map")


@compose(dict(TIMERS, health_peer_s=2))
def test_healthz_needs_a_writable_store_and_a_recent_peer(fed):
    """/healthz: 200 while a peer was seen within health_peer_s; 503 with the
    reason once every peer is gone that long; 200 again when one is back."""
    fed.start_all()
    status, body = fed.http(A, "/healthz")
    eq(status, 200, f"healthz with peers up ({body.strip()})")
    expect("store writable" in body and "seen" in body, f"healthz says why: {body!r}")
    eq(fed.http(A, "/nowhere")[0], 404, "unknown path")
    eq(fed.http(A, "/metrics", method="POST")[0], 405, "POST")
    fed.stop(B)
    fed.stop(C)
    status, body = wait_until(lambda: (lambda r: r[0] == 503 and r)(fed.http(A, "/healthz")),
                              interval=0.2, what="healthz to turn 503")
    expect("no peer seen" in body and "health_peer_s" in body,
           f"503 says why: {body!r}")
    expect("metrics: /healthz: no peer seen" in fed.log(A), "the 503 is logged")
    #  Not ready, but alive: the container's healthcheck (/livez) must not
    #  restart a region whose peers are down (issue 16)
    eq(fed.http(A, "/readyz")[0], 503, "readyz with every peer gone")
    eq(fed.http(A, "/livez")[0], 200, "livez with every peer gone")
    fed.start(B)
    wait_until(lambda: fed.http(A, "/healthz")[0] == 200, interval=0.2,
               what="healthz to be 200 again with drenthe back")


def _https(fed, region, path, cafile, token=None):
    """(status, headers, body) of one HTTPS request to region's metrics
    listener, trusting only cafile (the region's self-signed certificate)."""
    import ssl
    context = ssl.create_default_context(cafile=cafile)
    connection = http.client.HTTPSConnection("127.0.0.1", fed.info[region]["metrics"],
                                             timeout=HTTP_TIMEOUT_S, context=context)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def _metrics_secrets(fed):
    """A self-signed certificate for 127.0.0.1, its key and a token file
    (the keys mode 0600): (cert, key, token path, token)."""
    secrets = os.path.join(fed.root, "metrics-tls")
    os.makedirs(secrets, mode=0o700)
    cert, key = os.path.join(secrets, "cert.pem"), os.path.join(secrets, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    token = os.urandom(24).hex()
    token_file = os.path.join(secrets, "token")
    with open(token_file, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(token_file, 0o600)
    return cert, key, token_file, token


def _set_config(path, **keys):
    text = _read(path)
    for key, value in keys.items():
        text = _set_key(text, key, value)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _check_config(path):
    proc = subprocess.run([ZVHD, "--check-config", path], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@compose()
def test_metrics_over_tls_with_a_bearer_token(fed):
    """With metrics_tls_cert, metrics_tls_key and metrics_token a national
    Prometheus can scrape a region across the network: HTTPS only, /metrics
    only with the bearer token (401 and WWW-Authenticate without it or with
    a wrong one), /livez and /readyz open for the local health checks. A
    key or token readable by others, a certificate without its key, or
    these keys without metrics_bind, or a token shorter than 16 characters,
    are configuration errors (--check-config says so, as the start would)."""
    fed.start_all()
    fed.stop(A)
    cert, key, token_file, token = _metrics_secrets(fed)
    config = fed.info[A]["config"]
    _set_config(config, metrics_tls_cert=cert, metrics_tls_key=key, metrics_token=token_file)
    fed.start(A)
    status, _, body = _https(fed, A, "/metrics", cert, token)
    eq(status, 200, "GET /metrics over HTTPS with the token")
    expect("zvh_cases" in body, "the metrics are in the answer")
    for given in (None, "wrong-" + token, token[:-1]):
        status, headers, body = _https(fed, A, "/metrics", cert, given)
        eq(status, 401, f"GET /metrics with token {given!r}")
        eq(headers.get("WWW-Authenticate"), "Bearer", "the challenge")
        expect("zvh_cases" not in body, "no metrics without the token")
    eq(_https(fed, A, "/livez", cert)[0], 200, "/livez needs no token")
    eq(_https(fed, A, "/readyz", cert)[0], 200, "/readyz needs no token")
    plain_refused = False
    try:
        plain_refused = fed.http(A, "/livez")[0] != 200
    except (OSError, http.client.HTTPException):
        plain_refused = True
    expect(plain_refused, "plain HTTP is not served next to HTTPS")
    expect(re.search(r"metrics: serving /metrics \(bearer token\).* on https://", fed.log(A)),
           "the log says HTTPS and the token")
    fed.stop(A)
    os.chmod(token_file, 0o644)
    rc, out = _check_config(config)
    expect(rc == 1 and "metrics_token" in out and "readable by others" in out,
           f"a token readable by others: exit {rc}: {out.strip()}")
    os.chmod(token_file, 0o600)
    with open(token_file, "w", encoding="utf-8") as f:
        f.write("kort\n")
    rc, out = _check_config(config)
    expect(rc == 1 and "metrics_token" in out and "at least 16" in out,
           f"a token of 4 characters: exit {rc}: {out.strip()}")
    with open(token_file, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    _set_config(config, metrics_tls_key='""')
    rc, out = _check_config(config)
    expect(rc == 1 and "metrics_tls_cert and metrics_tls_key together" in out,
           f"a certificate without its key: exit {rc}: {out.strip()}")


def _status(fed, region):
    status, body = fed.http(region, "/status")
    eq(status, 200, f"GET /status at {region}")
    return {r["region"]: r for r in json.loads(body)["regions"]}, body


@compose(dict(TIMERS, status_interval_s=1))
def test_status_page_shows_the_whole_federation(fed):
    """Each region sends its summary on its links (PROTOCOL 4.10), so one
    region's /status, its page (/) and zvhctl federation status show every
    region: versions, links from each side, backlog, cases per state, and
    never a case id. A region that stops shows as down, with the backlog
    for it growing."""
    fed.start_all()

    def link_to_a_up(summary):
        return any(link["peer"] == A and link["up"] for link in summary.get("links", []))
    #  A summary sent before the sender's own link to A came up says it is
    #  down: wait for one sent since (CI run 26 took the first for the last)
    wait_until(lambda: all(_status(fed, A)[0][other]["heard_ms"] > 0
                           and link_to_a_up(_status(fed, A)[0][other]) for other in (B, C)),
               what=f"{A} to hear summaries of {B} and {C} that show their links to {A} up")
    include(fed, B, "STATUS-SECRET-CASE")
    wait_until(lambda: _status(fed, A)[0][B]["cases"].get("active", 0) >= 1,
               what=f"{B}'s new case in its summary at {A}")
    regions, body = _status(fed, A)
    expect(set(REGIONS) <= set(regions), f"every federated region on the page: {sorted(regions)}")
    placeholders = [r for name, r in regions.items() if name not in REGIONS]
    expect(placeholders and all(r["condition"] == "not federated" for r in placeholders),
           "the directory's placeholder regions are on the page, not federated")
    eq(regions[A]["condition"], "this region", f"{A} on its own page")
    for other in (B, C):
        eq(regions[other]["condition"], "up", f"{other} from {A}")
        expect(regions[other]["version"] == f"{PROTOCOL_VERSION}", f"{other}'s protocol "
               f"version {regions[other]['version']!r}")
        links = {link["peer"]: link for link in regions[other]["links"]}
        expect(links.get(A, {}).get("up"), f"{other}'s own link to {A} is up: {links}")
    expect("STATUS-SECRET-CASE" not in body, "a case id in /status")
    status, page = fed.http(A, "/")
    eq(status, 200, "GET / (the page)")
    expect(re.search(rf'<tr id="region-{B}" class="up" data-condition="up">', page),
           f"{B}'s row on the page is up")
    expect("STATUS-SECRET-CASE" not in page and "<script" not in page and "http" not in page,
           "the page has no case id, no script and no external asset")
    table = fed.ctl_ok(A, "federation", "status", use_json=False)
    expect(re.search(rf"^{B}\s+up\s", table, re.M), f"zvhctl federation status:\n{table}")

    fed.stop(C)
    for n in range(3):
        fed.ctl_ok(A, "signal", "raise", "--national", "--kind", "incident",
                   "--text", f"status {n}")
    wait_until(lambda: (lambda r: r["condition"] == "down"
                        and r["link_from_here"]["outbox_depth"] >= 3)(_status(fed, A)[0][C]),
               what=f"{C} down at {A} with the three signals queued for it")
    status, page = fed.http(A, "/")
    expect(re.search(rf'<tr id="region-{C}" class="down" data-condition="down">', page),
           f"{C}'s row on the page is down")
    fed.ctl_ok(A, "signal", "raise", "--national", "--kind", "incident", "--text", "meer")
    wait_until(lambda: _status(fed, A)[0][C]["link_from_here"]["outbox_depth"] >= 4,
               what=f"the backlog for {C} to grow")
    #  Drenthe's own view of its link to Utrecht, as it reported it
    wait_until(lambda: not {l["peer"]: l for l in _status(fed, A)[0][B]["links"]}[C]["up"],
               what=f"{B}'s summary at {A} to show its link to {C} down")


FIGURE_COLUMNS = ["inclusions", "moves_in", "moves_out", "joint_phases_ended", "closures",
                  "signals_incident", "signals_scale_up", "signals_scale_down",
                  "signals_out_of_view", "signals_other"]


def _this_quarter():
    today = time.gmtime()
    return f"{today.tm_year}Q{(today.tm_mon - 1) // 3 + 1}"


def _monitor(fed, region, period):
    """zvhctl monitor --period at region: {region: [counts] or None}."""
    out = fed.ctl_ok(region, "monitor", "--period", period, use_json=False)
    lines = out.strip().splitlines()
    eq(lines[0], ",".join(["region", "period"] + FIGURE_COLUMNS), "the CSV header")
    rows = {}
    for line in lines[1:]:
        cells = line.split(",")
        eq((len(cells), cells[1]), (len(FIGURE_COLUMNS) + 2, period), f"a CSV row: {line}")
        rows[cells[0]] = [int(c) for c in cells[2:]] if cells[2] else None
    return rows


def _wait_figures(fed, region, period, expected, what):
    """Wait until region's monitor CSV has expected ({region: {column:
    count}}, others 0) for every region in it, and the national sums."""
    def want(counts):
        return [counts.get(column, 0) for column in FIGURE_COLUMNS]
    national = [sum(column) for column in zip(*(want(c) for c in expected.values()))]
    wanted = {name: want(counts) for name, counts in expected.items()}
    wanted["national"] = national
    seen = {}

    def agrees():
        seen.update(_monitor(fed, region, period))
        return all(seen.get(name) == counts for name, counts in wanted.items())
    wait_until(agrees, what=f"{what}: wanted {wanted}, the CSV at {region} says {seen}")
    return seen


@compose(dict(TIMERS, status_interval_s=1))
def test_monitoring_figures_count_what_each_region_did(fed):
    """The informatiecoördinator's figures (PROTOCOL 4.10): each region counts
    its inclusions, moves in and out, joint phases ended, closures and
    signals raised, per month in its store; every region's figures reach
    every page, and zvhctl monitor gives them per region and nationally as
    CSV. They agree with the actions done and with case list, and survive
    a kill -9 of the region that made them and of the one that shows them."""
    fed.start_all()
    for case_id in ("MON-1", "MON-2", "MON-3"):
        include(fed, A, case_id)
    include(fed, B, "MON-4")
    rc, _, err = fed.move(A, "MON-1", B)
    eq(rc, 0, f"move MON-1 to {B} ({err.strip()})")
    fed.wait_state(A, "MON-1", "joint_source")
    fed.ctl_ok(B, "case", "complete", "MON-1")
    fed.wait_state(A, "MON-1", "tombstone")
    rc, _, err = fed.move(A, "MON-2", C)
    eq(rc, 0, f"move MON-2 to {C} ({err.strip()})")
    fed.wait_state(A, "MON-2", "joint_source")
    fed.ctl_ok(C, "case", "close", "MON-2")                # ends the joint phase too
    fed.wait_state(A, "MON-2", "tombstone")
    fed.ctl_ok(A, "case", "close", "MON-3")
    fed.ctl_ok(A, "signal", "raise", "--national", "--kind", "incident")
    fed.ctl_ok(A, "signal", "raise", "MON-1", "--kind", "other")        # relayed to B
    fed.ctl_ok(B, "signal", "raise", "MON-4", "--kind", "scale_up")
    fed.ctl_ok(C, "signal", "raise", "MON-1", "--kind", "out_of_view")  # unknown at C
    expected = {
        A: dict(inclusions=3, moves_out=2, closures=1, signals_incident=1, signals_other=1),
        B: dict(inclusions=1, moves_in=1, joint_phases_ended=1, signals_scale_up=1),
        C: dict(moves_in=1, joint_phases_ended=1, closures=1, signals_out_of_view=1),
    }
    quarter = _this_quarter()
    rows = _wait_figures(fed, A, quarter, expected, "every region's figures at " + A)
    placeholders = [name for name in rows if name not in REGIONS + ["national"]]
    expect(placeholders and all(rows[name] is None for name in placeholders),
           f"regions without a summary have no counts, not zeros: {rows}")
    _wait_figures(fed, C, time.strftime("%Y-%m", time.gmtime()), expected, "this month at " + C)
    _wait_figures(fed, B, time.strftime("%Y", time.gmtime()), expected, "this year at " + B)
    for region in REGIONS:
        closed = sum(1 for c in fed.cases(region).values() if c["state"] == "closed")
        eq(closed, expected[region].get("closures", 0), f"closures at {region} and its "
                                                        "case list")
    status, page = fed.http(A, "/")
    eq(status, 200, "GET /")
    national = re.search(r'<tr id="figures-national">(.*?)</tr>', page)
    expect(national, "a national row of figures on the page")
    eq(re.findall(r'<td class="n">(\d+)</td>', national.group(1)),
       [str(n) for n in rows["national"]], "the page's national figures")
    expect("MON-" not in page and "<script" not in page, "no case id and no script")
    rc, _, err = fed.ctl(A, "monitor", "--period", "2026Q5", use_json=False)
    eq(rc, 1, f"a period that is none ({err.strip()})")

    for region in (C, A):                       # a maker, then the one that shows
        fed.kill(region)
        fed.start(region)
        #  Its own row from its store, the others' from summaries heard anew
        _wait_figures(fed, region, quarter, expected, f"the figures at {region} after "
                                                      "its kill -9")
    started = _status(fed, C)[0][C]["started_ms"]
    wait_until(lambda: _status(fed, A)[0][C]["started_ms"] == started,
               what=f"{A} to hear {C}'s summary since its restart")
    _wait_figures(fed, A, quarter, expected, f"{C}'s figures at {A} after its restart")


@compose()
def test_healthz_of_a_region_without_peers_rests_on_its_store(fed):
    """A region with no federated peer is healthy when its store commits."""
    del fed                                     # a one-region federation instead
    port = zvhtest.make_federation.free_ports(1)[0]
    solo = zvhtest.Federation([A], {"metrics_bind": f'"127.0.0.1:{port}"',
                                    "health_peer_s": 1})
    try:
        solo.start(A)
        time.sleep(1.5)                         # not a wait: health_peer_s must pass
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        body = response.read().decode()
        connection.close()
        eq(response.status, 200, f"healthz without peers ({body.strip()})")
        expect("no peers configured" in body, f"healthz says why: {body!r}")
        solo.stop(A)
    finally:
        solo.close()
        shutil.rmtree(solo.root, ignore_errors=True)


LOAD_SUMMARY_BYTES = 3500          # plans near the 4 KiB summary limit fill the map
BACKUPS = 4                         # taken one after another under load ...
RESTORED = 3                        # ... and this one is restored


class Load(threading.Thread):
    """A workload at one region in a thread (run() in a subclass) until
    finish(). An exception ends it; finish() raises it again."""

    def __init__(self, fed, region):
        super().__init__(daemon=True)
        self.fed, self.region = fed, region
        self.stopping = threading.Event()
        self.error = None

    def finish(self):
        self.stopping.set()
        self.join(120)
        expect(not self.is_alive(), f"the {type(self).__name__} loop did not stop")
        if self.error:
            raise self.error


class Includer(Load):
    """Include cases at one region, one after another, until stopped; each
    acknowledged case with the monotonic times its include was started and
    returned."""

    def __init__(self, fed, region):
        super().__init__(fed, region)
        self.acked = []                 # (case id, plan hash, asked at, acked at)

    def run(self):
        n = 0
        try:
            while not self.stopping.is_set():
                n += 1
                case_id = f"OPS-LOAD-{n:04d}"
                summary = f"Plan of {case_id}. " + "x" * LOAD_SUMMARY_BYTES
                plan = self.fed.plan_file(summary)
                asked = time.monotonic()
                rc, out, err = self.fed.ctl(self.region, "case", "include", plan,
                                            "--case", case_id)
                if rc == 0:
                    self.acked.append((case_id, out["plan_hash"], asked, time.monotonic()))
                if n % 5 == 0:          # some signals too: the log and the links move
                    self.fed.ctl(self.region, *self.fed.raise_args(case_id, kind="incident"))
        except Exception as error:          # noqa: BLE001 - checked by the test
            self.error = error


#  A 1 MiB map grows while the copies run: a write that needs more room
#  waits for the copy (the copy reads the map), then grows it.
@compose(dict(TIMERS, map_size_mb=1))
def test_backup_under_load_restores_every_acknowledged_case(fed):
    """zvhctl backup while cases are being included: the copy holds every
    case acknowledged before the backup was asked for (plan hash and all)
    and none asked for after it answered; restored into a fresh data_dir
    the daemon starts, says it runs a restored backup, serves, takes new
    cases, and events from its peers reach it again."""
    fed.start_all()
    police = fed.subscribe_as(POLICE)
    loader = Includer(fed, A)
    loader.start()
    taken = []                                  # (directory, asked at, answered at)
    try:
        wait_until(lambda: len(loader.acked) >= 5, what="five cases included")
        for n in range(1, BACKUPS + 1):
            backup_dir = os.path.join(fed.root, f"backup-{n}")
            asked = time.monotonic()
            out = fed.ctl_ok(A, "backup", backup_dir)
            answered = time.monotonic()
            taken.append((backup_dir, asked, answered))
            eq(out["backup"], backup_dir, "backup directory in zvhctl's answer")
            wait_until(lambda: any(sent > answered for _, _, sent, _ in loader.acked),
                       what=f"a case included after backup {n}")
    finally:
        loader.finish()
    eq(fed.metric(A, "zvh_backups_total"), BACKUPS, "zvh_backups_total")
    last_backup = fed.metric(A, "zvh_backup_last_success_timestamp_seconds")
    expect(last_backup > 0, "zvh_backup_last_success_timestamp_seconds after the backups")
    #  Kept in the store: a restart does not make the backup-age alert fire
    fed.restart(A)
    eq(fed.metric(A, "zvh_backup_last_success_timestamp_seconds"), last_backup,
       "the last backup's time after a restart")
    eq(fed.metric(A, "zvh_backup_failures_total"), 0, "zvh_backup_failures_total")
    backup_dir, asked, answered = taken[RESTORED - 1]
    copy = os.path.join(backup_dir, "data.mdb")
    eq(stat.S_IMODE(os.stat(copy).st_mode), 0o600, "mode of the backup file")
    rc, _, err = fed.ctl(A, "backup", backup_dir)
    eq(rc, 3, "a second backup into the same directory is refused")
    expect("already holds a backup" in err, f"refusal says why: {err.strip()}")
    trail = fed.ctl_ok(A, "audit", "export", use_json=False)
    eq(trail.count("store backup (every case, plan and signal, sealed) written to"),
       BACKUPS, "backups in the audit trail")

    #  Acknowledged before the backup was asked for: in the copy. Asked for
    #  after the backup answered: not in it (in between: either)
    before = [(c, h) for c, h, _, acked in loader.acked if acked < asked]
    after = [c for c, _, sent, _ in loader.acked if sent > answered]
    expect(before and after, "cases on both sides of the backup")
    #  The partner's container goes down with the region and starts again
    #  from its cursor (one that stays connected across a restore can miss
    #  what the restored log appends before it reconnects: docs/OPERATIONS.md)
    police.kill()
    fed.stop(A)
    data_dir = fed.data_dir(A)
    shutil.move(data_dir, data_dir + ".lost")
    os.makedirs(os.path.join(data_dir, "store"), mode=0o700)
    shutil.copy2(copy, os.path.join(data_dir, "store", "data.mdb"))
    fed.start(A)
    expect("was restored from a backup taken" in fed.log(A),
           "the restored daemon says it runs a restored backup")
    expect(fed.metric(A, "zvh_store_restored_backup_timestamp_seconds") > 0,
           "metrics show the restore")
    cases = fed.cases(A)
    for case_id, plan_hash in before:
        expect(case_id in cases, f"{case_id}, acknowledged before the backup, is "
                                 "in the restored store")
        eq(cases[case_id]["state"], "active", f"state of {case_id}")
        eq(fed.show(A, case_id)["plan_hash"], plan_hash, f"plan hash of {case_id}")
    for case_id in after:
        expect(case_id not in cases, f"{case_id} was included after the backup "
                                     "answered, yet is in the copy")
    fed.wait_links_up()
    eq(fed.http(A, "/healthz")[0], 200, "healthz of the restored region")
    include(fed, A, "OPS-AFTER-RESTORE")
    #  Events from the peers reach the restored region again: a signal
    #  raised in Drenthe reaches the police at Groningen, and a handover
    #  offered by Drenthe is taken over in Groningen
    include(fed, B, "OPS-FROM-DRENTHE")
    event_id = fed.raise_signal(B, "OPS-FROM-DRENTHE", kind="incident")
    police = fed.subscribe_as(POLICE, name=f"{POLICE}-after-restore")
    police.wait_event(event_id)
    rc, _, err = fed.move(B, "OPS-FROM-DRENTHE", A)
    eq(rc, 0, f"case move from drenthe ({err.strip()})")
    fed.wait_state(A, "OPS-FROM-DRENTHE", "joint_target")


def _restore(fed, region, backup_dir):
    fed.restore(region, backup_dir)


def _owners(fed, case_id):
    """Regions that hold case_id as its owner (active or joint_target)."""
    return sorted(r for r in REGIONS
                  if fed.state(r, case_id) in ("active", "joint_target"))


class Mover(Load):
    """At one region, include a case and move it to another, one after the
    other, with a signal about every third, until stopped: what was
    accepted (the calls that exited 0)."""

    def __init__(self, fed, region, target):
        super().__init__(fed, region)
        self.target = target
        self.moved, self.signals, self.asked = [], [], []   # signal ids, when asked

    def run(self):
        n = 0
        try:
            while not self.stopping.is_set():
                n += 1
                case_id = f"RS-L{n:03d}"
                include(self.fed, self.region, case_id)
                rc, _, _ = self.fed.move(self.region, case_id, self.target)
                if rc == 0:
                    self.moved.append(case_id)
                if n % 3 == 0:
                    asked = time.monotonic()
                    self.signals.append(self.fed.raise_signal(self.region, case_id))
                    self.asked.append(asked)
        except Exception as error:          # noqa: BLE001 - checked by the test
            self.error = error


@compose()
def test_restored_region_resynchronises_with_its_peers(fed):
    """Groningen is backed up while Drenthe moves cases to it and raises
    signals about them; it works on, is killed, and is restored from the
    backup. Drenthe sends again what it sent since (kept for
    link_retention_days): every case it moved is at Groningen again and
    every signal in its log. A case Groningen moved to Utrecht after the
    backup follows Utrecht's accept, sent again. Groningen's new events get
    fresh ids and reach the peers (they are not taken for resends); every
    link drains; each case has one owner."""
    fed.start_all()
    include(fed, A, "RS-A1")
    loader = Mover(fed, B, A)
    loader.start()
    try:
        wait_until(lambda: len(loader.moved) >= 3, what="three cases moved")
        backup_dir = os.path.join(fed.root, "backup-resync")
        fed.ctl_ok(A, "backup", backup_dir)
        answered = time.monotonic()
        count = len(loader.moved)
        wait_until(lambda: len(loader.moved) >= count + 3,
                   what="three cases moved after the backup")
    finally:
        loader.finish()
    include(fed, A, "RS-A2")                    # its own: lost with the restore
    rc, _, err = fed.move(A, "RS-A1", C)        # its own, but C's accept comes again
    eq(rc, 0, f"move RS-A1 to {C} ({err.strip()})")
    fed.wait_state(C, "RS-A1", "joint_target")
    fed.wait_quiescent()
    for case_id in loader.moved:
        eq(fed.state(A, case_id), "joint_target", f"{case_id} at {A} before the restore")
    #  The police stay connected across the restore: their stream is past
    #  the restored log's end, and the new entries must still reach them
    police = fed.subscribe_as(POLICE)
    police.wait_events(loader.signals)
    seen = police.last_seq()

    _restore(fed, A, backup_dir)
    log = fed.log(A)
    expect("was restored from a backup taken" in log, "the daemon says it was restored")
    expect("new incarnation" in log, "the restored store begins a new incarnation")
    wait_until(lambda: "the peer was restored from a backup" in fed.log(B),
               what=f"{B} to say that {A} was restored and send again")
    wait_until(lambda: f"{A} was restored from a backup" in fed.log(C),
               what=f"{C} to follow {A}'s new incarnation")

    #  Nothing Drenthe sent is lost: every case it moved, every signal
    fed.wait_quiescent()
    for case_id in loader.moved:
        eq(_owners(fed, case_id), [A], f"owners of {case_id}, moved to {A}")
        eq(fed.state(B, case_id), "joint_source", f"{case_id} at {B}")

    #  Its own new events are new to the peers: a handover and a signal
    include(fed, A, "RS-A3")
    rc, _, err = fed.move(A, "RS-A3", B)
    eq(rc, 0, f"move RS-A3 to {B} ({err.strip()})")
    fed.wait_state(B, "RS-A3", "joint_target")
    include(fed, A, "RS-A4")
    own_signal = fed.raise_signal(A, "RS-A4", kind="incident")
    crisis = fed.subscribe_as(CRISIS)
    crisis.wait_event(own_signal)
    police.wait_event(own_signal)
    expect(int(own_signal.split("/")[1]) > 10 ** 12,
           f"event id {own_signal} after the restore is past the old ones")
    expect(police.running(), "the police subscriber ran through the restore")
    expect("the stream resumes at seq" not in police.stderr(),
           f"no gap for the police across the restore: {police.stderr().strip()}")
    #  Signals raised after the backup are in the restored log again, under
    #  new log seqs: the police get those entries too (at least once)
    again = {e["event_id"] for e in police.events() if e["seq"] > seen}
    after_backup = [e for e, asked in zip(loader.signals, loader.asked) if asked > answered]
    expect(after_backup, "signals raised after the backup")
    for event_id in after_backup:
        expect(event_id in again, f"{event_id}, in the restored log again, reached "
                                  "the police after the restore")
    expect(all(e["seq"] > seen for e in police.events()[-2:]),
           "log seqs after the restore are past those the police saw before it")

    #  Every link drains both ways, one owner per case
    fed.wait_quiescent()
    for case_id, owner in (("RS-A1", C), ("RS-A3", B), ("RS-A4", A)):
        eq(_owners(fed, case_id), [owner], f"owners of {case_id}")
    #  The offer of RS-A1 was lost with the restore; C's accept, sent again,
    #  makes Groningen follow it instead of keeping a second owner
    eq(fed.state(A, "RS-A1"), "joint_source", f"RS-A1 at {A} after C's accept came again")
    #  Documented loss: what Groningen did itself after the backup
    eq(fed.state(A, "RS-A2"), None, "RS-A2, included after the backup, at the "
                                    "restored region")


def _copy_store(fed, region, copy_dir, running):
    """A copy of region's store without zvhctl backup (no stamp): of the
    stopped daemon (cp of a stopped store), or of the running daemon frozen
    with SIGSTOP (what a VM or LVM snapshot sees: crash-consistent)."""
    if running:
        fed.pause(region)
    else:
        fed.stop(region)
    try:
        os.makedirs(copy_dir, mode=0o700)
        shutil.copy2(os.path.join(fed.data_dir(region), "store", "data.mdb"),
                     os.path.join(copy_dir, "data.mdb"))
    finally:
        if running:
            fed.resume(region)
        else:
            fed.start(region)


def _restore_from_a_copy_without_a_stamp(fed, running):
    """Groningen's store is copied without zvhctl backup; it then works on
    (Drenthe moves cases to it, it moves a case of its own to Utrecht and
    raises a signal) and is killed and started from the copy. Nothing tells
    the daemon at start: its peers show it (PROTOCOL 4.9), it begins a new
    incarnation, they send again what it lost, and its new events are not
    taken for resends."""
    fed.start_all()
    police = fed.subscribe_as(POLICE)
    include(fed, A, "CP-A1")
    loader = Mover(fed, B, A)
    loader.start()
    try:
        wait_until(lambda: len(loader.moved) >= 2, what="two cases moved")
        copy_dir = os.path.join(fed.root, "copy")
        _copy_store(fed, A, copy_dir, running)
        count = len(loader.moved)
        wait_until(lambda: len(loader.moved) >= count + 3,
                   what="three cases moved after the copy")
    finally:
        loader.finish()
    rc, _, err = fed.move(A, "CP-A1", C)        # its own, after the copy
    eq(rc, 0, f"move CP-A1 to {C} ({err.strip()})")
    fed.wait_state(C, "CP-A1", "joint_target")
    include(fed, A, "CP-A2")
    lost_signal = fed.raise_signal(A, "CP-A2", kind="incident")
    police.wait_event(lost_signal)
    fed.wait_quiescent()
    before = {e["event_id"] for e in police.events()}

    fed.restore(A, copy_dir)                    # kill -9, the copy in place, start
    expect("was restored from a backup" not in fed.log(A),
           "the copy has no stamp: the daemon cannot know at start")
    wait_until(lambda: "this store is an older copy" in fed.log(A),
               what=f"a peer to show {A} that its store is an older copy")
    wait_until(lambda: "the peer was restored from a backup" in fed.log(B),
               what=f"{B} to see {A}'s new incarnation and send again")

    #  Nothing Drenthe sent since the copy is lost
    fed.wait_quiescent()
    for case_id in loader.moved:
        eq(_owners(fed, case_id), [A], f"owners of {case_id}, moved to {A}")
        eq(fed.state(A, case_id), "joint_target", f"{case_id} at {A} after the restore")
    #  Utrecht's accept of the lost offer comes again and is followed
    eq(fed.state(A, "CP-A1"), "joint_source", f"CP-A1 at {A}")
    eq(_owners(fed, "CP-A1"), [C], "owners of CP-A1")

    #  Its new events are new to the peers: a handover and a signal
    include(fed, A, "CP-A3")
    rc, _, err = fed.move(A, "CP-A3", B)
    eq(rc, 0, f"move CP-A3 to {B} ({err.strip()})")
    fed.wait_state(B, "CP-A3", "joint_target")
    include(fed, A, "CP-A4")
    own_signal = fed.raise_signal(A, "CP-A4", kind="incident")
    expect(own_signal not in before, f"{own_signal}: a fresh id, not one the lost "
                                     "store gave")
    crisis = fed.subscribe_as(CRISIS)
    crisis.wait_event(own_signal)
    #  The police stayed connected through the restore: the new entry
    #  reaches them (the restored log goes on past the clock)
    police.wait_event(own_signal)
    fed.wait_quiescent()
    eq(_owners(fed, "CP-A3"), [B], "owners of CP-A3")


@compose()
def test_restore_from_a_plain_copy_of_a_stopped_store(fed):
    """cp of a stopped store, restored later: see
    _restore_from_a_copy_without_a_stamp."""
    _restore_from_a_copy_without_a_stamp(fed, running=False)


@compose()
def test_restore_from_a_copy_taken_while_it_ran(fed):
    """A crash-consistent copy of the running store (the daemon frozen, as a
    VM or LVM snapshot sees it), restored later: see
    _restore_from_a_copy_without_a_stamp."""
    _restore_from_a_copy_without_a_stamp(fed, running=True)


@compose(dict(TIMERS, link_retention_days=0))
def test_restore_older_than_the_retention_is_loud_and_links_go_on(fed):
    """With link_retention_days = 0 a peer keeps nothing it had acknowledged:
    after a restore the events it sent since the backup cannot come again.
    The restored region says so (log and audit trail) and its links go on
    with what comes next instead of waiting for ever."""
    fed.start_all()
    for case_id in ("RT-B1", "RT-B2"):
        include(fed, B, case_id)
    backup_dir = os.path.join(fed.root, "backup-retention")
    fed.ctl_ok(A, "backup", backup_dir)
    rc, _, err = fed.move(B, "RT-B1", A)
    eq(rc, 0, f"move RT-B1 to {A} ({err.strip()})")
    fed.wait_state(A, "RT-B1", "joint_target")
    fed.wait_quiescent()
    _restore(fed, A, backup_dir)
    wait_until(lambda: "are no longer held" in fed.log(B),
               what=f"{B} to say that it no longer holds what {A} lost")
    rc, _, err = fed.move(B, "RT-B2", A)
    eq(rc, 0, f"move RT-B2 to {A} ({err.strip()})")
    fed.wait_state(A, "RT-B2", "joint_target")
    expect(f"from {B} are gone" in fed.log(A), f"{A} says that events from {B} are gone")
    fed.wait_quiescent()
    eq(fed.state(A, "RT-B1"), None, "RT-B1: its offer was older than the retention")
    trail = fed.ctl_ok(A, "audit", "export", use_json=False)
    expect("cannot be sent again" in trail, "the loss is in the audit trail")


@compose(dict(TIMERS, joint_phase_s=3600))
def test_restored_sender_does_not_get_a_relayed_proposal_applied_twice(fed):
    """Groningen proposes an edit as drenthe's joint source; drenthe, down,
    comes back after groningen's backup and has moved the case on to
    utrecht, so it passes the proposal on there, where it becomes v2.
    Utrecht moves the case back to drenthe. Groningen is restored from the
    backup and sends the proposal again: drenthe, which holds the case now
    and had only passed the proposal on, must recognise it as sent again
    and not make it v3 (a relayed event's record lets a copy that comes
    back by another path be applied, but never a copy sent again)."""
    fed.start_all()
    case_id = "RS-PROP"
    include(fed, A, case_id)
    rc, _, err = fed.move(A, case_id, B)
    eq(rc, 0, f"move {case_id} to {B} ({err.strip()})")
    fed.wait_state(A, case_id, "joint_source")
    fed.wait_quiescent()
    fed.stop(B)
    summary = "Voorstel van groningen, onderweg."
    eq(fed.ctl_ok(A, "plan", "update", case_id, fed.plan_file(summary))["state"],
       "joint_source", "state returned for the proposal")
    backup_dir = os.path.join(fed.root, "backup-proposal")
    fed.ctl_ok(A, "backup", backup_dir)
    fed.pause(A)
    fed.start(B)
    rc, _, err = fed.move(B, case_id, C)
    eq(rc, 0, f"move {case_id} to {C} ({err.strip()})")
    fed.wait_state(C, case_id, "joint_target")
    fed.resume(A)
    wait_until(lambda: (fed.show(C, case_id) or {}).get("plan_version") == 2,
               what=f"the proposal passed on by {B} to be v2 at {C}")
    rc, _, err = fed.move(C, case_id, B)
    eq(rc, 0, f"move {case_id} back to {B} ({err.strip()})")
    fed.wait_state(B, case_id, "joint_target")
    fed.wait_quiescent()
    _restore(fed, A, backup_dir)
    wait_until(lambda: "the peer was restored from a backup" in fed.log(B)
               or f"{A} was restored from a backup" in fed.log(B),
               what=f"{B} to follow {A}'s restore")
    fed.wait_quiescent()
    at_b = fed.show(B, case_id, plan=True)
    eq((at_b["state"], at_b["plan_version"], at_b["plan"]["summary"]),
       ("joint_target", 2, summary), f"{case_id} at {B} after {A}'s resend")
    eq(fed.show(C, case_id)["plan_version"], 2, f"plan version at {C}")
    eq(_owners(fed, case_id), [B], f"owners of {case_id}")


def _python_with_zmq():
    """An interpreter with pyzmq and protobuf: this one, or Debian's."""
    python, tried = zvhtest.python_with("import zmq, google.protobuf")
    if not python:
        raise TestFailure(f"no python3 with zmq and google.protobuf ({'; '.join(tried)}): "
                          "apt-get install python3-zmq python3-protobuf "
                          "(scripts/install-deps.sh does)")
    return python


@compose()
def test_changes_sent_together_are_answered_one_by_one(fed):
    """Control requests waiting together are committed in one transaction
    (group commit), each in a nested one: a refused move in the middle of a
    burst gets its own error and undoes nothing of the others."""
    fed.start_all()
    count = 24
    for n in range(count):
        include(fed, A, f"GC-{n:02d}")
    moves = [f"GC-{n:02d}:{B}:{n + 1}" for n in range(count)]
    #  Refused in the middle: an unknown case, and a case already offered
    moves.insert(count // 2, f"GC-NONE:{B}:1000")
    moves.append(f"GC-00:{C}:1001")
    out = subprocess.run([_python_with_zmq(),
                          os.path.join(SOURCE_DIR, "tests", "integration", "control_burst.py"),
                          "ipc://" + os.path.join(fed.data_dir(A), "control.sock"),
                          os.path.join(SOURCE_DIR, "proto", "zvh.proto")] + moves,
                         capture_output=True, text=True, timeout=120)
    eq(out.returncode, 0, f"control_burst.py: {out.stderr.strip()}")
    replies = {r["request_id"]: r for r in map(json.loads, out.stdout.splitlines())}
    eq(sorted(replies), sorted(int(m.split(":")[2]) for m in moves), "a reply to every request")
    for n in range(count):
        reply = replies[n + 1]
        eq((reply["status"], reply["state"]), (0, "CASE_OFFERED"),
           f"move GC-{n:02d} ({reply['error']})")
    eq(replies[1000]["status"], 2, f"move of an unknown case ({replies[1000]['error']})")
    expect("GC-NONE" in replies[1000]["error"], f"its own error: {replies[1000]['error']}")
    eq(replies[1001]["status"], 3, f"second move of GC-00 ({replies[1001]['error']})")
    for n in range(count):
        fed.wait_state(B, f"GC-{n:02d}", "joint_target")
    eq(fed.state(C, "GC-00"), None, "GC-00 at the region of the refused move")


def _next_not_watchdog(sock):
    """The next notification that is not a watchdog beat."""
    while True:
        message = sock.recv(4096).decode()
        if message != "WATCHDOG=1":
            return message


@compose()
def test_sd_notify_ready_reloading_and_stopping(fed):
    """Started with NOTIFY_SOCKET (as systemd's Type=notify does), zvhd sends
    READY=1 once it answers, then WATCHDOG=1 at half of WATCHDOG_USEC (as
    WatchdogSec= sets it), RELOADING=1 then READY=1 around a SIGHUP reload,
    and STOPPING=1 on SIGTERM; also to an abstract socket."""
    for abstract in (False, True):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            address = f"@zvh-ops-notify-{os.getpid()}-{time.monotonic_ns()}"
            sock.bind("\0" + address[1:])
        else:
            address = os.path.join(fed.root, "notify.sock")
            sock.bind(address)
        sock.settimeout(zvhtest.PATIENCE_S)     # each notification
        saved = {name: os.environ.get(name) for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        os.environ["NOTIFY_SOCKET"] = address
        #  WatchdogSec=0.4s: WATCHDOG=1 every 200 ms from the event loop
        os.environ["WATCHDOG_USEC"] = "400000"
        try:
            proc = fed.start(A, wait=False)
        finally:
            for name, value in saved.items():
                if value is None:
                    del os.environ[name]
                else:
                    os.environ[name] = value
        try:
            ready = sock.recv(4096).decode()
            expect("READY=1" in ready.splitlines(), f"first notification: {ready!r}")
            beats = [sock.recv(4096).decode() for _ in range(2)]
            eq(beats, ["WATCHDOG=1"] * 2, "the notifications after READY=1 (watchdog)")
            sock.settimeout(0)                  # drop the beats that came meanwhile
            try:
                while True:
                    sock.recv(4096)
            except BlockingIOError:
                pass
            sock.settimeout(zvhtest.PATIENCE_S)
            rc, _, err = fed.ctl(A, "status", timeout_ms=5000)
            eq(rc, 0, f"status right after READY=1 ({err.strip()})")
            proc.send_signal(signal.SIGHUP)
            reloading = _next_not_watchdog(sock)
            expect("RELOADING=1" in reloading.splitlines()
                   and "MONOTONIC_USEC=" in reloading, f"on SIGHUP: {reloading!r}")
            again = _next_not_watchdog(sock)
            expect("READY=1" in again.splitlines(), f"after the reload: {again!r}")
            fed.stop(A)
            stopping = _next_not_watchdog(sock)
            expect("STOPPING=1" in stopping.splitlines(), f"on SIGTERM: {stopping!r}")
        finally:
            sock.close()
            if not abstract:
                os.unlink(address)


@compose()
def test_sighup_while_stopped_never_wedges_the_daemon(fed):
    """A reload signal that comes while the daemon is stopped (SIGSTOP, or
    job control sending SIGHUP and SIGCONT to an orphaned process group) is
    taken by the event loop after SIGCONT. It used to land on the ZAP handler's actor
    thread about half the time, end that actor, and leave the reload waiting
    on it for ever: a daemon that answered nothing until it was killed."""
    proc = fed.start(A)
    for n in range(1, 21):
        fed.pause(A)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.05)
        fed.resume(A)
        wait_until(lambda: fed.log(A).count("reload:") >= n, what=f"reload {n}")
        rc, _, err = fed.ctl(A, "status", timeout_ms=5000)
        eq(rc, 0, f"status after reload {n} ({err.strip()})")


# --------------------------------------------------------------------- reload

RELOAD_ROUNDS = 6
RELOAD_COUNTS = r"reload: (\d+) regions, (\d+) partners, (\d+) revoked key\(s\)"


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _without_first_placeholder(directory):
    """The directory without its first region that is not federated: every
    region after it moves one place up in the loaded config."""
    for m in re.finditer(r"^    ([a-z0-9-]+)\n(?:        .*\n)+", directory, re.M):
        if m.group(1) not in REGIONS:
            return directory[:m.start()] + directory[m.end():]
    raise TestFailure("the compose directory has no placeholder region")


def _wait_reload(fed, region, since, n):
    """The counts logged by region's reload n; a failure at once if the
    daemon exited (a sanitizer report ends it)."""
    found = wait_until(lambda: (re.search(RELOAD_COUNTS, fed.log(region)[since:])
                                or not fed.running(region)),
                       what=f"{region}'s log to show reload {n}'s counts")
    expect(fed.running(region), f"{region} exited at reload {n}: {fed.daemon_report()}\n"
                                f"{fed.log_tail(region, 30)}")
    return found


def _with_partner_first(partners, pid, public_key):
    """The partners file with pid (probation, every region) listed before
    the others, which then each move one place down."""
    entry = (f'    {pid}\n        role = probation\n'
             f'        public_key = "{public_key}"\n        regions = "*"\n')
    return _replace_once(partners, "partners\n", "partners\n" + entry, "partners.zpl")


@compose(TIMERS)
def test_reloads_swap_whole_configs_while_signals_and_handovers_flow(fed):
    """Groningen reloads six times, by zvhctl reload and by SIGHUP, each time
    with a changed directory (a placeholder region dropped or back, which
    moves every region's place), partners file (a probation partner listed
    first or not, which moves the police's place), revocation list and
    heartbeat, while it raises signals (to its peers and the police stream)
    and hands cases over. A reload swaps in a fresh config and destroys the
    old one, so a module still pointing into the old one reads freed memory,
    which the sanitizer build reports (check_sanitizers). The police stream
    survives every reload and gets every signal once, in order; status,
    /metrics and handovers work after each reload, and the log shows each
    reload's counts, so the fresh config is the one in force."""
    cfg = fed.config(A)
    run_dir = os.path.dirname(cfg)
    paths = {name: os.path.join(run_dir, name)
             for name in ("federation.zpl", "partners.zpl", "revoked.txt")}
    _write(paths["revoked.txt"], "# revoked CURVE keys, one a line\n")
    _write(cfg, _set_key(_read(cfg), "revoked", "revoked.txt"))
    directory, partners = _read(paths["federation.zpl"]), _read(paths["partners.zpl"])
    regions = len(re.findall(r"^    [a-z0-9-]+$", directory, re.M))
    extra_key = zvhtest.make_federation.keygen(zvhtest.ZVHCTL, fed.root, "extra", "",
                                               "probation")
    fed.start_all()
    police = fed.subscribe_as(POLICE)
    include(fed, A, "OPS-RELOAD")
    raiser = sigtest.Raiser(fed, A, "OPS-RELOAD", 8 * RELOAD_ROUNDS, pause_s=0.05)
    raiser.start()
    moved = []
    try:
        for n in range(1, RELOAD_ROUNDS + 1):
            changed, revoked = n % 2 == 1, n % 3 == 0
            _write(paths["federation.zpl"],
                   _without_first_placeholder(directory) if changed else directory)
            _write(paths["partners.zpl"],
                   _with_partner_first(partners, "reclassering-extra", extra_key)
                   if changed else partners)
            _write(paths["revoked.txt"], f'"{extra_key}"\n' if revoked else "# none\n")
            _write(cfg, _set_key(_read(cfg), "heartbeat_ms", 150 if changed else 200))
            since = len(fed.log(A))
            if n % 2:
                fed.ctl_ok(A, "reload", use_json=False)
            else:
                fed.procs[A].send_signal(signal.SIGHUP)
            counts = _wait_reload(fed, A, since, n)
            eq(tuple(int(c) for c in counts.groups()),
               (regions - changed, len(PARTNERS) + changed, int(revoked)),
               f"regions, partners and revoked keys after reload {n}")
            eq(fed.status(A)["region"], A, f"status after reload {n}")
            expect(any(k.startswith("zvh_info{") and f'region="{A}"' in k
                       for k in fed.metrics(A)), f"zvh_info's region after reload {n}")
            eq(fed.http(A, "/healthz")[0], 200, f"GET /healthz after reload {n}")
            case = f"OPS-RELOAD-MOVE-{n}"
            include(fed, A, case)
            rc, _, err = fed.move(A, case, B)
            eq(rc, 0, f"move after reload {n} ({err.strip()})")
            moved.append(case)
    except BaseException:
        raiser.stop()
        raise
    raiser.finish()
    eq(raiser.failures, [], "raises that failed while groningen reloaded")
    police.wait_events(raiser.ids)
    sigtest.check_once_in_order(police.events("signal"), "the police stream")
    eq(police.running(), True, "the police subscriber still runs")
    for case in moved:
        fed.wait_state(B, case, "joint_target")
    expect(fed.running(A), f"groningen exited: {fed.daemon_report()}")


if __name__ == "__main__":
    zvhtest.main(globals(), check=check_sanitizers)
