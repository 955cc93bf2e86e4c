#!/usr/bin/env python3
"""bench.py: zvhd against nats-server (JetStream), side by side, on this machine.

Runs, in one go, local federations of real zvhd daemons (CURVE, LMDB with
synchronous commits) and the same topology of nats-servers (JetStream file
storage, leaf nodes), drives both with the C programs in bench/ (zvh_bench
through libzvh, nats_bench through libnats), and prints one table with both
figures and their ratio. See bench/README.md for what exactly is compared.

    bench.py --build-dir B --bench-dir BB [--smoke | --long] [options]

--smoke: tiny sizes, a few seconds; exits 0 if everything ran (the numbers
are not judged). Default: the full run (under ~10 minutes on 2 cores).
--long: also the 200,000-case run (adds 8-16 minutes).
"""
import argparse
import atexit
import ctypes
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, ".."))
EXAMPLE_PLAN = os.path.join(SOURCE, "config", "example-plan.json")
ROLES = ["police", "crisis_service", "probation", "operator"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _load_make_federation():
    path = os.path.join(SOURCE, "scripts", "make-federation.py")
    spec = importlib.util.spec_from_file_location("make_federation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_federation = _load_make_federation()


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------- processes

_LIVE = []


def _die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(args, log_path):
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                preexec_fn=_die_with_parent)
    _LIVE.append(proc)
    return proc


def stop(proc, timeout=20):
    """SIGTERM, then SIGKILL if it does not go; only processes we started."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in _LIVE:
        _LIVE.remove(proc)


def _stop_everything():
    for proc in list(_LIVE):
        try:
            stop(proc, timeout=5)
        except Exception:
            pass


atexit.register(_stop_everything)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _on_sigterm)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:           # noqa: BLE001 - polled again
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def run_json(args, timeout):
    """Run a bench program; its stderr goes to ours, its stdout is one JSON
    object. Returns (exit code, dict)."""
    log("$ " + " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(args)))
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=None, text=True, timeout=timeout,
                              preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{os.path.basename(args[0])} {args[1]} did not finish in "
                         f"{timeout} s") from None
    out = proc.stdout.strip().splitlines()
    try:
        data = json.loads(out[-1]) if out else {}
    except ValueError:
        data = {}
    return proc.returncode, data


# --------------------------------------------------------------------- measuring

def proc_memory(pid):
    """VmRSS, RssAnon, RssFile in MiB."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024.0
    return values


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK     # utime + stime


def idle_cpu(pids, seconds):
    """Percent of one core each process used over `seconds` of doing nothing."""
    before = {pid: proc_cpu_s(pid) for pid in pids}
    time.sleep(seconds)
    return {pid: 100.0 * (proc_cpu_s(pid) - before[pid]) / seconds for pid in pids}


def disk_usage_mib(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total / 1048576.0


def loadavg():
    """Load averages and, where the kernel has PSI, the share of the last 60 s
    in which some task waited for a CPU: how disturbed a measurement was."""
    with open("/proc/loadavg", encoding="ascii") as f:
        text = " ".join(f.read().split()[:3])
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            some = f.readline().split()
        text += f", cpu pressure {float(some[2].split('=')[1]):.0f}% (60 s)"
    except (OSError, IndexError, ValueError):
        pass
    return text


def machine_info(work):
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="ascii") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 1048576.0, 1)
    except OSError:
        pass
    try:
        dev = subprocess.run(["df", "--output=source,fstype", work], capture_output=True,
                             text=True).stdout.splitlines()[-1].split()
        info["disk"] = f"{dev[0]} ({dev[1]})"
        name = os.path.basename(os.path.realpath(dev[0])).rstrip("0123456789")
        rot = f"/sys/block/{name}/queue/rotational"
        if os.path.exists(rot):
            info["disk"] += f", rotational flag {open(rot).read().strip()}"
        model = f"/sys/block/{name}/device/model"
        if os.path.exists(model):
            info["disk"] += ", " + open(model).read().strip()
        elif name.startswith("vd"):
            info["disk"] += ", virtio block device"
    except Exception:               # noqa: BLE001 - informational only
        pass
    try:
        info["git"] = subprocess.run(["git", "-C", SOURCE, "describe", "--always", "--dirty"],
                                     capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        info["git"] = "?"
    try:
        info["nats_server"] = subprocess.run(["nats-server", "--version"], capture_output=True,
                                             text=True).stdout.strip()
    except OSError:
        info["nats_server"] = "not installed"
    return info


# --------------------------------------------------------------------- zvhd

class ZvhFederation:
    """Local federation of zvhd daemons written by scripts/make-federation.py."""

    def __init__(self, root, build, regions, partners=None, settings=None):
        self.root, self.build, self.regions = root, build, list(regions)
        os.makedirs(root, exist_ok=True)
        self.info = make_federation.write_federation(
            root, os.path.join(build, "zvhctl"), self.regions, settings or {}, partners)
        self.procs = {}

    def control(self, region):
        return "ipc://" + os.path.join(self.info[region]["data_dir"], "control.sock")

    def partner_key(self, pid):
        return self.info["_partners"][pid]["key"]

    def ctl(self, region, *args, timeout_ms=2000):
        proc = subprocess.run([os.path.join(self.build, "zvhctl"), "-c",
                               self.info[region]["config"], "--json", "-t", str(timeout_ms)]
                              + list(args), capture_output=True, text=True,
                              timeout=max(120, timeout_ms / 1000 + 30))
        if proc.returncode:
            raise BenchError(f"zvhctl {' '.join(args)} at {region}: {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    def start(self, region):
        log_path = os.path.join(self.root, region, "zvhd.log")
        self.procs[region] = spawn([os.path.join(self.build, "zvhd"), "-c",
                                    self.info[region]["config"]], log_path)

    def wait_answering(self, region, timeout=60, probe_ms=500):
        """Poll status until the daemon answers. status counts every case, so
        with a large store give probe_ms room for that."""
        proc = self.procs[region]

        def answering():
            if proc.poll() is not None:
                raise SystemExit(f"zvhd {region} exited with {proc.returncode}; see "
                                 f"{self.root}/{region}/zvhd.log")
            return self.ctl(region, "status", timeout_ms=probe_ms)
        wait_until(answering, timeout, f"zvhd {region} to answer")

    def start_all(self, timeout=60):
        for region in self.regions:
            self.start(region)
        for region in self.regions:
            self.wait_answering(region, timeout)
        first = self.regions[0]
        wait_until(lambda: all(p["up"] for p in self.ctl(first, "status")["peers"]),
                   timeout, f"every link of {first} to be up")

    def pid(self, region):
        return self.procs[region].pid

    def stop(self, region):
        stop(self.procs.pop(region))

    def stop_all(self):
        for region in list(self.procs):
            self.stop(region)

    def store_mib(self, region):
        return disk_usage_mib(os.path.join(self.info[region]["data_dir"], "store"))


# --------------------------------------------------------------------- NATS

def http_json(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


class NatsFederation:
    """One nats-server per region, JetStream (file storage) in its own domain;
    region 0 the hub, every other region a leaf node of it. With tls (a
    TlsFiles), client and leaf-node connections use mutual TLS and the
    JetStream store is encrypted (chachapoly), as zvhd links use CURVE with
    an allowlist and its store is sealed. store_root puts the stores
    elsewhere (the -o sync mount)."""

    def __init__(self, root, names, tls=None, store_root=None):
        self.root, self.names, self.tls = root, list(names), tls
        self.store_root = store_root
        os.makedirs(root, exist_ok=True)
        ports = make_federation.free_ports(3 * len(names))
        self.port = dict(zip(names, ports[0::3]))
        self.http = dict(zip(names, ports[1::3]))
        self.leaf_port = ports[2]
        self.procs = {}
        self.stores = {}
        scheme = "tls" if tls else "nats-leaf"
        for i, name in enumerate(names):
            store = (os.path.join(store_root, os.path.basename(root), name, "jetstream")
                     if store_root else os.path.join(root, name, "jetstream"))
            os.makedirs(store, exist_ok=True)
            os.makedirs(os.path.join(root, name), exist_ok=True)
            self.stores[name] = store
            conf = [f'server_name: "{name}"', f'listen: "127.0.0.1:{self.port[name]}"',
                    f'http: "127.0.0.1:{self.http[name]}"', "jetstream {",
                    f'  store_dir: "{store}"', f'  domain: "{name}"']
            if tls:
                conf += [f'  key: "{tls.store_key}"', "  cipher: chachapoly"]
            conf.append("}")
            if tls:
                conf += ["tls {", *tls.server_block(), "}"]
            if i == 0:
                conf += ["leafnodes {", f'  listen: "127.0.0.1:{self.leaf_port}"']
                if tls:
                    conf += ["  tls {", *tls.server_block(), "  }"]
                conf.append("}")
            else:
                conf += ["leafnodes {", "  remotes: [", "    {",
                         f'      url: "{scheme}://127.0.0.1:{self.leaf_port}"']
                if tls:
                    conf += ["      tls {", *("        " + line for line in tls.client_block()),
                             "      }"]
                conf += ["    }", "  ]", "}"]
            with open(self.config(name), "w", encoding="ascii") as f:
                f.write("\n".join(conf) + "\n")

    def config(self, name):
        return os.path.join(self.root, name, "nats-server.conf")

    def url(self, name):
        return f"{'tls' if self.tls else 'nats'}://127.0.0.1:{self.port[name]}"

    def client_args(self):
        """TLS options for nats_bench."""
        return self.tls.client_args() if self.tls else []

    def start(self, name):
        self.procs[name] = spawn(["nats-server", "-c", self.config(name)],
                                 os.path.join(self.root, name, "nats-server.log"))

    def wait_ready(self, name, timeout=60):
        proc = self.procs[name]

        def ready():
            if proc.poll() is not None:
                raise SystemExit(f"nats-server {name} exited with {proc.returncode}; see "
                                 f"{self.root}/{name}/nats-server.log")
            return http_json(f"http://127.0.0.1:{self.http[name]}/healthz").get("status") == "ok"
        wait_until(ready, timeout, f"nats-server {name}")

    def start_all(self, timeout=60):
        for name in self.names:
            self.start(name)
        for name in self.names:
            self.wait_ready(name, timeout)
        hub = self.names[0]
        wait_until(lambda: http_json(f"http://127.0.0.1:{self.http[hub]}/leafz")
                   .get("leafnodes", 0) >= len(self.names) - 1,
                   timeout, "every leaf node to connect to the hub")

    def pid(self, name):
        return self.procs[name].pid

    def stop(self, name):
        stop(self.procs.pop(name))

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)
        if self.store_root:             # the sync mount is small: clean as we go
            for store in self.stores.values():
                shutil.rmtree(store, ignore_errors=True)

    def store_mib(self, name):
        return disk_usage_mib(self.stores[name])


class TlsFiles:
    """A throw-away CA and one certificate (server and client) for 127.0.0.1."""

    def __init__(self, root):
        os.makedirs(root, exist_ok=True)
        self.ca, self.cert, self.key = (os.path.join(root, n) for n in
                                        ("ca.pem", "cert.pem", "key.pem"))
        ext = os.path.join(root, "ext.cnf")
        with open(ext, "w", encoding="ascii") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for cmd in (["openssl", "req", "-x509"] + ec + ["-keyout", os.path.join(root, "ca.key"),
                     "-out", self.ca, "-days", "7", "-subj", "/CN=zvh-bench-ca"],
                    ["openssl", "req"] + ec + ["-keyout", self.key, "-out",
                     os.path.join(root, "cert.csr"), "-subj", "/CN=localhost"],
                    ["openssl", "x509", "-req", "-in", os.path.join(root, "cert.csr"), "-CA",
                     self.ca, "-CAkey", os.path.join(root, "ca.key"), "-CAcreateserial",
                     "-out", self.cert, "-days", "7", "-extfile", ext]):
            subprocess.run(cmd, check=True, capture_output=True)
        self.store_key = os.urandom(24).hex()

    def server_block(self):
        return [f'  cert_file: "{self.cert}"', f'  key_file: "{self.key}"',
                f'  ca_file: "{self.ca}"', "  verify: true"]

    def client_block(self):
        return [f'cert_file: "{self.cert}"', f'key_file: "{self.key}"', f'ca_file: "{self.ca}"']

    def client_args(self):
        return ["--ca", self.ca, "--cert", self.cert, "--key", self.key]


_MOUNTS = []


def _unmount_all():
    for mount in _MOUNTS:
        mount.close()


atexit.register(_unmount_all)


class SyncMount:
    """An ext4 file system on a loop device, mounted with -o sync: every
    write(2) to it returns only when it is on disk. NATS 2.9 has no per-write
    sync option (sync_interval and sync: always came in 2.10); this is the
    closest we can make its store to LMDB's synchronous commits."""

    def __init__(self, root, size_gib=8):
        self.image = os.path.join(root, "syncfs.img")
        self.path = os.path.join(root, "syncfs")
        os.makedirs(self.path, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(size_gib << 30)
        subprocess.run(["mkfs.ext4", "-q", "-F", self.image], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop,sync", self.image, self.path], check=True,
                       capture_output=True)
        self.mounted = True
        _MOUNTS.append(self)

    def close(self):
        if self.mounted:
            subprocess.run(["umount", self.path], capture_output=True)
            self.mounted = False
            try:
                os.remove(self.image)
            except OSError:
                pass


# --------------------------------------------------------------------- the runs

class Variant:
    """One way of running NATS: key (in the results), label, its NatsFederation
    arguments."""

    def __init__(self, key, label, tls=None, store_root=None):
        self.key, self.label, self.tls, self.store_root = key, label, tls, store_root

    def federation(self, root, names):
        return NatsFederation(root, names, self.tls, self.store_root)


VARIANT_LABELS = {
    "nats": "NATS (TLS, encrypted store)",
    "nats_plain": "NATS (plain)",
    "nats_sync": "NATS (TLS, encrypted, -o sync)",
}


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work or tempfile.mkdtemp(prefix="zvh-bench-")
        os.makedirs(self.work, exist_ok=True)
        self.zvh_bench = os.path.join(args.bench_dir, "zvh_bench")
        self.nats_bench = os.path.join(args.bench_dir, "nats_bench")
        self.ref_bench = os.path.join(args.bench_dir, "ref_bench")
        self.results = {"sections": {}, "variants": {}}
        self.failures = []
        self.notes = []
        self.serial = 0
        self.variants = []
        tls = None
        for name in args.nats:
            if name in ("secure", "sync") and tls is None:
                tls = TlsFiles(os.path.join(self.work, "tls"))
            if name == "secure":
                self.variants.append(Variant("nats", VARIANT_LABELS["nats"], tls))
            elif name == "plain":
                self.variants.append(Variant("nats_plain", VARIANT_LABELS["nats_plain"]))
            elif name == "sync":
                try:
                    mount = SyncMount(self.work)
                except (OSError, subprocess.CalledProcessError) as error:
                    self.notes.append(f"NATS on a -o sync mount skipped: {error}")
                    log(self.notes[-1])
                    continue
                self.variants.append(Variant("nats_sync", VARIANT_LABELS["nats_sync"], tls,
                                             mount.path))
        for v in self.variants:
            self.results["variants"][v.key] = v.label

    def dir(self, name):
        self.serial += 1
        path = os.path.join(self.work, f"{self.serial:02d}-{name}")
        os.makedirs(path, exist_ok=True)
        return path

    def check(self, what, rc, data):
        if rc != 0 or not data:
            self.failures.append(f"{what}: exit code {rc}")
            log(f"FAILED: {what} (exit code {rc})")
        return data or {}

    # ------------------------------------------------------------- reference

    def reference(self):
        log("reference: one fdatasync, one LMDB commit, one CURVE round trip")
        rc, data = run_json([self.ref_bench, "--dir", self.work, "--count",
                             str(self.args.ref_count)], 300)
        self.results["reference"] = self.check("reference", rc, data)

    # ------------------------------------------------------------- fan-out

    def fanout(self, n):
        regions = [r for r, _ in make_federation.all_regions()][:n]
        subs = self.args.subs
        common = ["--count", str(self.args.signals), "--interval", str(self.args.interval),
                  "--warmup", str(self.args.warmup)]
        key = f"fanout_{n}"
        section = self.results["sections"].setdefault(key, {"regions": n, "subs": subs})
        section["load"] = loadavg()
        root = self.dir(f"fanout-{n}-zvhd")
        partners = [(f"p-{r}-{i}", ROLES[i % len(ROLES)], "*") for r in regions
                    for i in range(subs)]
        log(f"fan-out, zvhd: {n} regions x {subs} subscribers")
        fed = ZvhFederation(root, self.args.build_dir, regions, partners)
        try:
            fed.start_all()
            subs_file = os.path.join(root, "subscribers.txt")
            with open(subs_file, "w", encoding="ascii") as f:
                for r in regions:
                    for i in range(subs):
                        f.write(f'{fed.info[r]["subscribe"]} {fed.info[r]["public_key"]} '
                                f'{fed.partner_key(f"p-{r}-{i}")}\n')
            idle = idle_cpu([fed.pid(r) for r in regions], self.args.idle_s / 2)
            rc, data = run_json([self.zvh_bench, "fanout", "--control", fed.control(regions[0]),
                                 "--case", "fanout-case", "--subs", subs_file,
                                 "--plan-json", EXAMPLE_PLAN] + common, 900)
            section["zvhd"] = self.check(f"fan-out zvhd N={n}", rc, data)
            section["zvhd"]["idle_cpu_pct_per_daemon"] = sum(idle.values()) / len(idle)
            section["zvhd"]["rss_mib_per_daemon"] = sum(
                proc_memory(fed.pid(r))["VmRSS"] for r in regions) / len(regions)
        finally:
            fed.stop_all()
        payload = int(section["zvhd"].get("view_bytes") or 512)
        names = [f"r{i}" for i in range(n)]
        for v in self.variants:
            root = self.dir(f"fanout-{n}-{v.key}")
            log(f"fan-out, {v.label}: {n} servers (hub + {n - 1} leaf nodes) x {subs} "
                "subscribers")
            nats = v.federation(root, names)
            try:
                nats.start_all()
                idle = idle_cpu([nats.pid(r) for r in names], self.args.idle_s / 2)
                rc, data = run_json([self.nats_bench, "fanout", "--urls",
                                     ",".join(nats.url(r) for r in names), "--domains",
                                     ",".join(names), "--subs", str(subs), "--payload",
                                     str(payload)] + common + nats.client_args(), 900)
                out = section[v.key] = self.check(f"fan-out {v.label} N={n}", rc, data)
                out["idle_cpu_pct_per_daemon"] = sum(idle.values()) / len(idle)
                out["rss_mib_per_daemon"] = sum(
                    proc_memory(nats.pid(r))["VmRSS"] for r in names) / len(names)
            finally:
                nats.stop_all()

    # ------------------------------------------------------------- handovers

    def handovers(self):
        a = self.args
        sec = self.results["sections"]
        for name in ("throughput", "throughput_clients", "latency", "footprint"):
            sec.setdefault(name, {})
        sec["throughput"]["load"] = loadavg()
        src, dst = "groningen", "drenthe"
        root = self.dir("handover-zvhd")
        log(f"handovers, zvhd: {src} -> {dst}")
        fed = ZvhFederation(root, a.build_dir, [src, dst], [("p-target", "operator", "*")])
        try:
            fed.start_all()
            listen = ["--listen-endpoint", fed.info[dst]["subscribe"], "--listen-key",
                      fed.info[dst]["public_key"], "--listen-cert", fed.partner_key("p-target")]
            base = [self.zvh_bench, "handover", "--source", fed.control(src), "--target",
                    fed.control(dst), "--target-region", dst, "--plan-json", EXAMPLE_PLAN]
            # 1. throughput, one client; then the footprint of what it left
            rc, data = run_json(base + listen + ["--count", str(a.handovers), "--size",
                                                 str(a.size), "--prefix", "t1-"], 1800)
            sec["throughput"]["zvhd"] = self.check("handover throughput zvhd", rc, data)
            sec["footprint"]["zvhd"] = self.footprint(
                fed, (("source", src), ("target", dst)), fed.pid, fed.store_mib,
                lambda: sum(fed.ctl(dst, "status")["cases"].values()),
                lambda: (fed.stop(dst), fed.start(dst), fed.wait_answering(dst),
                         fed.ctl(dst, "status")))
            # 2. throughput, several clients at once
            if a.clients > 1:
                rc, data = run_json(base + listen + ["--count", str(a.handovers), "--size",
                                                     str(a.size), "--clients", str(a.clients),
                                                     "--prefix", "tn-"], 1800)
                sec["throughput_clients"]["clients"] = a.clients
                sec["throughput_clients"]["zvhd"] = self.check(
                    "handover throughput zvhd, clients", rc, data)
            # 3. single handovers of a 64 KiB plan, one at a time
            rc, data = run_json(base + listen + ["--count", str(a.latency_count), "--size",
                                                 str(a.latency_size), "--sequential",
                                                 "--prefix", "l-"], 1800)
            sec["latency"]["zvhd"] = self.check("handover latency zvhd", rc, data)
        finally:
            fed.stop_all()
        for v in self.variants:
            root = self.dir(f"handover-{v.key}")
            log(f"handovers, {v.label}: a stream at the source server, sourced by a stream "
                "at the target server (leaf node)")
            nats = v.federation(root, ["src", "dst"])
            try:
                nats.start_all()
                base = [self.nats_bench, "handover", "--src", nats.url("src"), "--dst",
                        nats.url("dst"), "--src-domain", "src"] + nats.client_args()
                rc, data = run_json(base + ["--count", str(a.handovers), "--size", str(a.size),
                                            "--stream", "T"], 1800)
                sec["throughput"][v.key] = self.check(f"handover throughput {v.label}", rc, data)
                sec["footprint"][v.key] = self.footprint(
                    nats, (("source", "src"), ("target", "dst")), nats.pid, nats.store_mib,
                    lambda: a.handovers + 1,
                    lambda: (nats.stop("dst"), nats.start("dst"), nats.wait_ready("dst")))
                rc, data = run_json(base + ["--count", str(a.latency_count), "--size",
                                            str(a.latency_size), "--sequential", "--stream",
                                            "L"], 1800)
                sec["latency"][v.key] = self.check(f"handover latency {v.label}", rc, data)
            finally:
                nats.stop_all()

    def footprint(self, fed, roles, pid, store_mib, count, restart):
        """RSS, idle CPU and store of each end; then the target restarted."""
        out = {}
        time.sleep(1)               # let the last acks and pings settle
        pids = {role: pid(name) for role, name in roles}
        idle = idle_cpu(list(pids.values()), self.args.idle_s)
        for role, name in roles:
            mem = proc_memory(pids[role])
            out[role] = {"rss_mib": mem["VmRSS"], "rss_anon_mib": mem["RssAnon"],
                         "rss_file_mib": mem["RssFile"], "idle_cpu_pct": idle[pids[role]],
                         "store_mib": store_mib(name)}
        out["cases"] = count()
        t = time.monotonic()
        restart()
        out["restart_s"] = time.monotonic() - t
        time.sleep(1)
        target = pid(roles[1][1])
        idle = idle_cpu([target], self.args.idle_s)
        mem = proc_memory(target)
        out["target_restarted"] = {"rss_mib": mem["VmRSS"], "rss_anon_mib": mem["RssAnon"],
                                   "rss_file_mib": mem["RssFile"], "idle_cpu_pct": idle[target]}
        return out

    # ------------------------------------------------------------- many cases

    def large(self):
        a = self.args
        n = a.long_cases
        sec = self.results["sections"].setdefault("large", {"cases": n})
        sec["load"] = loadavg()
        src, dst = "groningen", "drenthe"
        root = self.dir("large-zvhd")
        log(f"{n} cases, zvhd")
        fed = ZvhFederation(root, a.build_dir, [src, dst])
        try:
            fed.start_all()
            rc, fill = run_json([self.zvh_bench, "fill", "--control", fed.control(src),
                                 "--count", str(n), "--prefix", "c-", "--windows", "10",
                                 "--plan-json", EXAMPLE_PLAN], 7200)
            out = sec["zvhd"] = {"fill": self.check("large fill zvhd", rc, fill)}
            time.sleep(2)
            mem = proc_memory(fed.pid(src))
            out["rss_mib"], out["rss_anon_mib"] = mem["VmRSS"], mem["RssAnon"]
            out["store_mib"] = fed.store_mib(src)
            out["idle_cpu_pct"] = idle_cpu([fed.pid(src)], a.idle_s)[fed.pid(src)]
            rc, ops = run_json([self.zvh_bench, "ops", "--control", fed.control(src),
                                "--count", "10", "--case", f"c-{n // 2:07d}", "--move-prefix",
                                "c-", "--move-count", str(min(200, n)), "--move-from", "0",
                                "--target-region", dst], 1800)
            out["ops"] = self.check("large ops zvhd", rc, ops)
            fed.stop(src)
            t = time.monotonic()
            fed.start(src)
            fed.wait_answering(src, timeout=1200, probe_ms=600000)
            out["restart_s"] = time.monotonic() - t
            time.sleep(1)
            mem = proc_memory(fed.pid(src))
            out["restart_rss_mib"], out["restart_hwm_mib"] = mem["VmRSS"], mem["VmHWM"]
        finally:
            fed.stop_all()
        size = int(get(sec, "zvhd", "fill", "plan_bytes") or 6500)
        for v in self.variants[:1]:         # the first variant only: it takes long
            root = self.dir(f"large-{v.key}")
            log(f"{n} messages, {v.label}")
            nats = v.federation(root, ["one"])
            try:
                nats.start_all()
                rc, fill = run_json([self.nats_bench, "fill", "--url", nats.url("one"),
                                     "--count", str(n), "--size", str(size), "--windows", "10"]
                                    + nats.client_args(), 7200)
                out = sec[v.key] = {"fill": self.check(f"large fill {v.label}", rc, fill)}
                time.sleep(2)
                mem = proc_memory(nats.pid("one"))
                out["rss_mib"], out["rss_anon_mib"] = mem["VmRSS"], mem["RssAnon"]
                out["store_mib"] = nats.store_mib("one")
                out["idle_cpu_pct"] = idle_cpu([nats.pid("one")], a.idle_s)[nats.pid("one")]
                nats.stop("one")
                t = time.monotonic()
                nats.start("one")
                nats.wait_ready("one", timeout=600)
                out["restart_s"] = time.monotonic() - t
                time.sleep(1)
                mem = proc_memory(nats.pid("one"))
                out["restart_rss_mib"], out["restart_hwm_mib"] = mem["VmRSS"], mem["VmHWM"]
            finally:
                nats.stop_all()


# --------------------------------------------------------------------- the table

def fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def get(data, *path):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def table(results):
    """(metric, zvhd value, {variant: value}, better); a value is a number,
    a string or None. Every figure comes from one results[...] path under
    the section, with "zvhd" or the variant key in front."""
    rows = []
    sec = results["sections"]
    variants = list(results["variants"])

    def row(metric, section, path, better, ours_section=None):
        s = sec.get(section, {})
        ours = get(ours_section or s, "zvhd", *path)
        rows.append((metric, ours, {v: get(s, v, *path) for v in variants}, better))

    def any_of(section, key):
        for data in section.values():
            if isinstance(data, dict) and data.get(key):
                return data[key]
        return 0

    fans = sorted((k for k in sec if k.startswith("fanout_")), key=lambda k: sec[k]["regions"])
    for key in fans:
        n, subs = sec[key]["regions"], sec[key]["subs"]
        for what, label in (("all_ms", "every subscriber has it"),
                            ("delivery_ms", "each delivery")):
            for p in ("p50", "p99"):
                row(f"fan-out {n} regions x {subs} subs: {label}, {p} (ms)", key,
                    [f"{what}_{p}"], "lower")
        row(f"fan-out {n}: raise/publish call returns, p50 (ms)", key, ["raise_ms_p50"], "lower")
        row(f"fan-out {n}: idle CPU per daemon (% of a core)", key,
            ["idle_cpu_pct_per_daemon"], "lower")
        row(f"fan-out {n}: RSS per daemon (MiB)", key, ["rss_mib_per_daemon"], "lower")
    t = sec.get("throughput", {})
    if t:
        size, count = any_of(t, "plan_bytes"), any_of(t, "cases")
        row(f"handover throughput, {count} x {size / 1024:.0f} KiB, pipelined (handovers/s)",
            "throughput", ["handovers_per_s"], "higher")
        row("handover throughput (MiB/s of plans)", "throughput", ["mib_per_s"], "higher")
        row("under that load: move/publish to arrival, p50 (ms)", "throughput",
            ["e2e_ms_p50"], "lower")
        row("under that load: a pipelined call of 256 moves returns, p50 (ms)", "throughput",
            ["move_call_ms_p50"], "lower")
    tc = sec.get("throughput_clients", {})
    if get(tc, "zvhd"):
        row(f"handover throughput, {tc['clients']} zvhd clients at once (handovers/s)",
            "throughput", ["handovers_per_s"], "higher", ours_section=tc)
    lat = sec.get("latency", {})
    if lat:
        size = any_of(lat, "plan_bytes")
        for p in ("p50", "p99"):
            row(f"single handover, {size / 1024:.0f} KiB plan, {p} (ms)", "latency",
                [f"e2e_ms_{p}"], "lower")
    fp = sec.get("footprint", {})
    if fp:
        n = get(fp, "zvhd", "cases")
        for role in ("source", "target"):
            row(f"footprint, {role} holding {n} cases: RSS (MiB)", "footprint",
                [role, "rss_mib"], "lower")
            row(f"footprint, {role}: RSS anonymous (MiB)", "footprint",
                [role, "rss_anon_mib"], "lower")
            row(f"footprint, {role}: idle CPU (% of a core)", "footprint",
                [role, "idle_cpu_pct"], "lower")
            row(f"footprint, {role}: store on disk (MiB)", "footprint",
                [role, "store_mib"], "lower")
        row("footprint, target after a restart: RSS (MiB)", "footprint",
            ["target_restarted", "rss_mib"], "lower")
        row("footprint, target after a restart: idle CPU (% of a core)", "footprint",
            ["target_restarted", "idle_cpu_pct"], "lower")
        row("footprint, target restart until it answers (s)", "footprint", ["restart_s"],
            "lower")
    lg = sec.get("large", {})
    if lg:
        n = lg["cases"]
        for w, label in ((0, "first 10%"), (9, "last 10%")):
            for p in ("p50", "p99"):
                row(f"{n:,} cases: include/publish, {label}, {p} (ms)", "large",
                    ["fill", f"w{w}_ms_{p}"], "lower")
        row(f"{n:,} cases: include/publish rate (/s)", "large", ["fill", "per_s"], "higher")
        row(f"{n:,} cases: RSS (MiB)", "large", ["rss_mib"], "lower")
        row(f"{n:,} cases: RSS anonymous (MiB)", "large", ["rss_anon_mib"], "lower")
        row(f"{n:,} cases: store on disk (MiB)", "large", ["store_mib"], "lower")
        row(f"{n:,} cases: idle CPU (% of a core)", "large", ["idle_cpu_pct"], "lower")
        row(f"{n:,} cases: move call p50 (ms)", "large", ["ops", "move_ms_p50"], "lower")
        row(f"{n:,} cases: move call p99 (ms)", "large", ["ops", "move_ms_p99"], "lower")
        row(f"{n:,} cases: status call p50 (ms)", "large", ["ops", "status_ms_p50"], "lower")
        row(f"{n:,} cases: case show p50 (ms)", "large", ["ops", "show_ms_p50"], "lower")
        row(f"{n:,} cases: restart until status answers (s)", "large", ["restart_s"], "lower")
        row(f"{n:,} cases: peak RSS after restart (MiB)", "large", ["restart_hwm_mib"], "lower")
    return rows


def targets(results):
    """Issue 15's targets, each as a ratio to NATS (TLS, encrypted store) in
    this run, or in absolute terms where the issue gives them so."""
    out = []
    sec = results["sections"]
    label = results["variants"].get("nats")

    def ratio(section, path, ours_section=None):
        ours = get(ours_section or sec.get(section, {}), "zvhd", *path)
        theirs = get(sec.get(section, {}), "nats", *path)
        return ours / theirs if ours and theirs else None

    def check(what, value, goal, higher):
        if value is not None:
            out.append((f"{what} {'>=' if higher else '<='} {goal} x {label}", f"{value:.2f} x",
                        value >= goal if higher else value <= goal))

    if label:
        check("handover throughput, one client,", ratio("throughput", ["handovers_per_s"]),
              1.0, True)
        tc = sec.get("throughput_clients", {})
        if get(tc, "zvhd"):
            check(f"handover throughput, {tc['clients']} clients,",
                  ratio("throughput", ["handovers_per_s"], ours_section=tc), 1.5, True)
        fans = sorted((k for k in sec if k.startswith("fanout_")),
                      key=lambda k: sec[k]["regions"])
        for key in fans:
            n = sec[key]["regions"]
            if n == 3:
                check("fan-out 3 regions, every subscriber, p50", ratio(key, ["all_ms_p50"]),
                      1.0, False)
            if n == 31:
                check("fan-out 31 regions, every subscriber, p99", ratio(key, ["all_ms_p99"]),
                      1.0, False)
                check("idle CPU per daemon, 31 regions,",
                      ratio(key, ["idle_cpu_pct_per_daemon"]), 2.0, False)
    lat = get(sec.get("latency", {}), "zvhd", "e2e_ms_p50")
    if lat is not None:
        out.append(("single handover, 64 KiB plan, p50 <= 2 ms", f"{lat:.2f} ms", lat <= 2))
    fp = sec.get("footprint", {})
    anon = [get(fp, "zvhd", r, "rss_anon_mib") for r in ("source", "target", "target_restarted")]
    anon = [r for r in anon if r is not None]
    if anon:
        out.append((f"anonymous RSS <= 5 MiB holding {get(fp, 'zvhd', 'cases')} cases (largest "
                    "of source, target, target restarted)", f"{max(anon):.1f} MiB",
                    max(anon) <= 5))
    return out


def render(results, markdown=False):
    info = results["machine"]
    head = (f"machine: {info.get('nproc')} cores, {info.get('cpu')}, {info.get('mem_gib')} GiB "
            f"RAM, disk {info.get('disk')}, Linux {info.get('kernel')}; {info.get('nats_server')}"
            f"; zvh-federation {info.get('git')}; load average {results['load_start']} at "
            f"start, {results['load_end']} at end; {results.get('duration_s')} s")
    ref = results.get("reference") or {}
    refline = ("reference: fdatasync p50 {} / p99 {} ms; LMDB commit p50 {} / p99 {} ms; "
               "CURVE round trip p50 {} / p99 {} ms; plain TCP round trip p50 {} ms").format(
        *(fmt(ref.get(k), 3) for k in ("fsync_ms_p50", "fsync_ms_p99", "lmdb_commit_ms_p50",
                                       "lmdb_commit_ms_p99", "curve_rtt_ms_p50",
                                       "curve_rtt_ms_p99", "tcp_rtt_ms_p50")))
    variants = results["variants"]
    rows = []
    for metric, ours, theirs, better in table(results):
        cells = [fmt(ours)]
        for v in variants:
            value = theirs[v]
            ratio = ours / value if isinstance(ours, (int, float)) and isinstance(
                value, (int, float)) and value else None
            cells += [fmt(value), f"{ratio:.2f}" if ratio is not None else "-"]
        rows.append([metric] + cells + [better])
    heads = ["zvhd"]
    for v, label in variants.items():
        heads += [label, "zvhd / that"]
    lines = []
    if markdown:
        lines += [f"- {head}", f"- {refline}", f"- command: `{results['command']}`", ""]
        lines.append("| metric | " + " | ".join(heads) + " | better |")
        lines.append("|---|" + "---:|" * len(heads) + "---|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines += ["", "| target | measured | met |", "|---|---:|---|"]
        lines += [f"| {t} | {v} | {'yes' if ok else 'no'} |" for t, v, ok in targets(results)]
    else:
        width = max([len(r[0]) for r in rows] + [20])
        widths = [max(len(h), 8) for h in heads]
        lines += [head, refline, ""]
        lines.append(f"{'metric':<{width}}  " + "  ".join(f"{h:>{w}}" for h, w in
                                                         zip(heads, widths)) + "  better")
        lines.append("-" * (width + sum(widths) + 2 * len(widths) + 8))
        for r in rows:
            lines.append(f"{r[0]:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in
                                                          zip(r[1:-1], widths)) + f"  {r[-1]}")
        lines += ["", "targets (from the issue):"]
        lines += [f"  [{'met' if ok else 'NOT met'}] {t}: {v}" for t, v, ok in targets(results)]
    loads = [f"{k}: {v['load']}" for k, v in results["sections"].items() if v.get("load")]
    if loads:
        lines.append(("- " if markdown else "") + "load at the start of each part: "
                     + "; ".join(loads))
    for note in results.get("notes", []):
        lines.append(("- " if markdown else "note: ") + note)
    return "\n".join(lines)


# --------------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True, help="holds zvhd and zvhctl")
    parser.add_argument("--bench-dir", required=True,
                        help="holds zvh_bench, ref_bench and nats_bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: does it all run")
    parser.add_argument("--long", action="store_true", help="also the 200,000-case run")
    parser.add_argument("--only", default="",
                        help="comma list of: reference,fanout,handover,large")
    parser.add_argument("--nats", default="secure,plain",
                        help="NATS variants, comma list of secure (TLS and an encrypted "
                             "store, like zvhd), plain, sync (secure, store on an ext4 loop "
                             "mount with -o sync; needs root); none = zvhd only")
    parser.add_argument("--regions", help="fan-out federation sizes (default 3,11,31)")
    parser.add_argument("--subs", type=int, help="subscribers per region (default 4)")
    parser.add_argument("--signals", type=int, help="measured signals per fan-out run")
    parser.add_argument("--interval", type=int, default=100, help="ms between signals")
    parser.add_argument("--handovers", type=int, help="cases in the throughput run")
    parser.add_argument("--clients", type=int, help="client threads for the second run")
    parser.add_argument("--size", type=int, default=16384, help="plan bytes (throughput)")
    parser.add_argument("--latency-count", type=int, help="single handovers measured")
    parser.add_argument("--latency-size", type=int, default=65536,
                        help="plan bytes (single handovers)")
    parser.add_argument("--long-cases", type=int, default=200000)
    parser.add_argument("--idle-s", type=float, help="seconds of idle CPU measurement")
    parser.add_argument("--work", help="work directory (default: a new one in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", help="also write the results as JSON here")
    parser.add_argument("--markdown", help="also write the table as Markdown here")
    args = parser.parse_args()
    smoke = args.smoke
    args.nats = [] if args.nats in ("", "none") else args.nats.split(",")
    args.regions = args.regions or ("3" if smoke else "3,11,31")
    args.subs = args.subs or (2 if smoke else 4)
    args.signals = args.signals or (5 if smoke else 100)
    args.warmup = 2 if smoke else 5
    args.handovers = args.handovers or (30 if smoke else 2000)
    args.clients = args.clients or (2 if smoke else 4)
    args.latency_count = args.latency_count or (5 if smoke else 200)
    args.idle_s = args.idle_s or (1.0 if smoke else 10.0)
    args.ref_count = 50 if smoke else 1000
    if smoke and not args.long:
        args.long_cases = min(args.long_cases, 300)
    programs = ["zvh_bench", "ref_bench"] + (["nats_bench"] if args.nats else [])
    for program in programs:
        if not os.access(os.path.join(args.bench_dir, program), os.X_OK):
            raise SystemExit(f"bench: {program} is not built in {args.bench_dir}"
                             + (" (libnats-dev missing?)" if program == "nats_bench" else ""))
    for program in ("zvhd", "zvhctl"):
        if not os.access(os.path.join(args.build_dir, program), os.X_OK):
            raise SystemExit(f"bench: {program} is not built in {args.build_dir}")
    if args.nats and not shutil.which("nats-server"):
        raise SystemExit("bench: nats-server is not installed (apt-get install nats-server "
                         "libnats-dev), or run with --nats none")
    only = set(filter(None, args.only.split(",")))
    sections = only or ({"reference", "fanout", "handover"}
                        | ({"large"} if args.long or smoke else set()))
    bench = Bench(args)
    results = bench.results
    results["command"] = " ".join(["bench/bench.py"] + sys.argv[1:])
    results["machine"] = machine_info(bench.work)
    results["load_start"] = loadavg()
    log(f"work directory {bench.work}; load average {results['load_start']}")
    started = time.monotonic()
    try:
        if "reference" in sections:
            bench.reference()
        if "fanout" in sections:
            for n in [int(x) for x in args.regions.split(",")]:
                bench.fanout(n)
        if "handover" in sections:
            bench.handovers()
        if "large" in sections:
            bench.large()
    except (BenchError, KeyboardInterrupt) as error:
        bench.failures.append(str(error) or type(error).__name__)
        log(f"FAILED: {error}")
    finally:
        _stop_everything()
    results["load_end"] = loadavg()
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["failures"] = bench.failures
    results["notes"] = bench.notes
    print(render(results))
    kept = args.keep or bench.failures
    print(f"\nwork directory {bench.work}" + (" (kept)" if kept else " (removed)"))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(render(results, markdown=True) + "\n")
    _unmount_all()
    if not kept:
        shutil.rmtree(bench.work, ignore_errors=True)
    if bench.failures:
        print("bench: FAILED: " + "; ".join(bench.failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
