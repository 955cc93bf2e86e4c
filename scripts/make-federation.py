#!/usr/bin/env python3
"""Write a local federation: keys, a directory of all regions, one config each.

Used by the demo and the integration tests, so both run the same topology.
Regions come from config/regions.zpl (the 31 ZVH regions); the chosen ones get
a loopback endpoint and a fresh CURVE key, the rest stay placeholders.

    make-federation.py DIR --zvhctl PATH [--regions a,b,c | --count N]
                       [--set key=value ...] [--metrics]

--metrics gives every region a metrics listener (metrics_bind on a free
loopback port: /metrics, the health checks and the status page).
"""
import argparse
import os
import re
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REGIONS_FILE = os.path.join(HERE, "..", "config", "regions.zpl")


def all_regions(path=REGIONS_FILE):
    """(id, name) of every region in a directory file, in file order."""
    regions, current = [], None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^    ([a-z0-9-]+)\s*$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r'^        name = "(.*)"\s*$', line)
        if m and current:
            regions.append((current, m.group(1)))
            current = None
    return regions


def free_ports(count):
    """Ports the kernel just handed out, so parallel runs do not collide."""
    socks, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def keygen(zvhctl, keydir, name, region, role="region", with_sign_key=False):
    out = subprocess.run([zvhctl, "--json", "keygen", name, "--dir", keydir,
                          "--region", region, "--role", role, "--force"],
                         check=True, capture_output=True, text=True).stdout
    public_key = re.search(r'"public_key": "([^"]+)"', out).group(1)
    if with_sign_key:
        return public_key, re.search(r'"sign_key": "([^"]+)"', out).group(1)
    return public_key


# Data-minimised views per role, as in config/partners.example.zpl.
VIEWS = {
    "police": "seq,type,event_id,region,national,kind,urgency,severity,certainty,"
              "time_ms,partner_ref,actions,coordinator_contact,previous_region",
    "crisis_service": "seq,type,event_id,region,national,kind,urgency,severity,"
                      "certainty,text,time_ms,partner_ref,actions,coordinator_contact,"
                      "previous_region",
    "probation": "seq,type,event_id,region,national,kind,urgency,severity,certainty,"
                 "time_ms,partner_ref,actions,coordinator_contact,previous_region",
    "operator": "seq,type,event_id,case_id,region,national,kind,urgency,severity,"
                "certainty,text,raised_by,raised_role,time_ms,partner_ref,actions,"
                "coordinator_contact,previous_region,review_date",
}


def write_partners(root, zvhctl, partners):
    """Keys and root/partners.zpl for partners: [(id, role, regions)], where
    regions is a comma list or "*". Returns {id: {"key": secret file, ...}}."""
    keydir = os.path.join(root, "keys")
    os.makedirs(keydir, exist_ok=True)
    info = {}
    with open(os.path.join(root, "partners.zpl"), "w", encoding="utf-8") as f:
        f.write("partners\n")
        for pid, role, regions in partners:
            key = keygen(zvhctl, keydir, pid, "", role)
            info[pid] = {"role": role, "public_key": key,
                         "key": os.path.join(keydir, pid + ".key_secret")}
            f.write(f'    {pid}\n        role = {role}\n'
                    f'        public_key = "{key}"\n        regions = "{regions}"\n')
        f.write("views\n")
        for role, fields in VIEWS.items():
            f.write(f'    {role} = "{fields}"\n')
    return info


def write_federation(root, zvhctl, chosen, settings=None, partners=None, metrics=False):
    """Create root/keys, root/federation.zpl and root/<region>/zvhd.cfg; with
    partners, also root/partners.zpl and a subscriber endpoint per region;
    with metrics, a metrics listener per region (metrics_bind).
    Returns {region: {"config": path, "endpoint": ..., "public_key": ...,
    "subscribe": ..., "metrics": port}} and, under "_partners", the
    partners' keys."""
    settings = settings or {}
    regions = all_regions()
    known = {r for r, _ in regions}
    for region in chosen:
        if region not in known:
            raise SystemExit(f"unknown region {region}; see {REGIONS_FILE}")
    keydir = os.path.join(root, "keys")
    os.makedirs(keydir, exist_ok=True)
    all_ports = free_ports(len(chosen) * (3 if metrics else 2))
    ports = dict(zip(chosen, all_ports))
    sub_ports = dict(zip(chosen, all_ports[len(chosen):]))
    metrics_ports = dict(zip(chosen, all_ports[2 * len(chosen):]))
    info = {}
    for region in chosen:
        public_key, sign_key = keygen(zvhctl, keydir, region, region, with_sign_key=True)
        info[region] = {
            "endpoint": f"tcp://127.0.0.1:{ports[region]}",
            "public_key": public_key,
            "sign_key": sign_key,
        }
        datakey = os.path.join(keydir, region + ".data_key")
        if os.path.exists(datakey):
            os.remove(datakey)
        subprocess.run([zvhctl, "datakey", datakey], check=True, capture_output=True)
    with open(os.path.join(root, "federation.zpl"), "w", encoding="utf-8") as f:
        f.write("#   Local federation written by scripts/make-federation.py\n\ndirectory\n")
        for region, name in regions:
            endpoint = info.get(region, {}).get("endpoint", "")
            key = info.get(region, {}).get("public_key", "")
            sign_key = info.get(region, {}).get("sign_key", "")
            f.write(f'    {region}\n        name = "{name}"\n'
                    f'        endpoint = "{endpoint}"\n        public_key = "{key}"\n')
            if sign_key:
                f.write(f'        sign_key = "{sign_key}"\n')
    for region in chosen:
        rdir = os.path.join(root, region)
        os.makedirs(rdir, exist_ok=True)
        path = os.path.join(rdir, "zvhd.cfg")
        with open(path, "w", encoding="utf-8") as f:
            f.write("zvhd\n")
            f.write(f"    region = {region}\n    data_dir = data\n")
            f.write(f'    bind = "{info[region]["endpoint"]}"\n')
            f.write(f"    secret_key = ../keys/{region}.key_secret\n")
            f.write("    directory = ../federation.zpl\n")
            f.write(f"    data_key = ../keys/{region}.data_key\n")
            if partners:
                info[region]["subscribe"] = f"tcp://127.0.0.1:{sub_ports[region]}"
                f.write(f'    subscribe_bind = "{info[region]["subscribe"]}"\n')
                f.write("    partners = ../partners.zpl\n")
            if metrics:
                info[region]["metrics"] = metrics_ports[region]
                f.write(f'    metrics_bind = "127.0.0.1:{metrics_ports[region]}"\n')
            for key, value in settings.items():
                f.write(f"    {key} = {value}\n")
        info[region]["config"] = path
        info[region]["data_dir"] = os.path.join(rdir, "data")
    if partners:
        info["_partners"] = write_partners(root, zvhctl, partners)
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--zvhctl", required=True)
    parser.add_argument("--regions", help="comma-separated region ids")
    parser.add_argument("--count", type=int, help="the first N regions")
    parser.add_argument("--set", action="append", default=[],
                        help="extra zvhd key=value for every region")
    parser.add_argument("--partner", action="append", default=[],
                        help="id:role:regions (regions comma-separated or *)")
    parser.add_argument("--metrics", action="store_true",
                        help="a metrics listener (metrics_bind) per region")
    args = parser.parse_args()
    if args.regions:
        chosen = args.regions.split(",")
    else:
        chosen = [r for r, _ in all_regions()][: args.count or 3]
    settings = dict(s.split("=", 1) for s in args.set)
    partners = [tuple(p.split(":", 2)) for p in args.partner]
    info = write_federation(args.dir, args.zvhctl, chosen, settings, partners,
                            args.metrics)
    for region, data in info.items():
        if not region.startswith("_"):
            metrics = f" metrics 127.0.0.1:{data['metrics']}" if "metrics" in data else ""
            print(f"{region} {data['endpoint']} {data['config']}{metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
