#!/usr/bin/env python3
"""Write the keys and configs that docker/compose.yaml mounts.

Three regions (groningen, drenthe, utrecht), each a zvhd in its own
container, and two partners that subscribe with `zvhctl subscribe`: the
police (politie-noord, at Groningen) and the acute mental-health crisis
service (ggz-crisisdienst, at Utrecht). Every secret is made here, fresh,
with zvhctl (keygen, datakey); nothing secret is in the repository.

    docker/make-compose-configs.py [OUT] [--zvhctl PATH] [--owner UID:GID]

OUT (default docker/generated, where compose.yaml looks) gets:

    OUT/<region>/       mounted read-only at /etc/zvhd in zvhd-<region>
        zvhd.cfg            data_dir /var/lib/zvhd (a volume), bind
                            tcp://0.0.0.0:7101, partners at :7201,
                            metrics_bind 0.0.0.0:9101
        federation.zpl      all 31 regions; these three federated at
                            tcp://zvhd-<region>:7101
        partners.zpl        both partners and their views
        <region>.key, <region>.key_secret, <region>.data_key
    OUT/partners/<id>/  mounted read-only at /etc/zvh-partner
        partner.key, partner.key_secret, endpoint, server_key

Inside the containers zvhd runs as user zvhd (uid 10001): run this as root
with --owner 10001:10001 (or chown -R 10001:10001 OUT afterwards), since
zvhd refuses key files that others can read and cannot read files it does
not own. tests/integration/test_operations.py runs these same files on
loopback without Docker, changing only endpoints and data_dir.
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)

REGIONS = ["groningen", "drenthe", "utrecht"]
#  (id, role, region it subscribes at, regions its subscription covers)
PARTNERS = [
    ("politie-noord", "police", "groningen", "*"),
    ("ggz-crisisdienst", "crisis_service", "utrecht", "groningen,drenthe,utrecht"),
]
FEDERATION_PORT = 7101
SUBSCRIBE_PORT = 7201
METRICS_PORT = 9101
DATA_DIR = "/var/lib/zvhd"


def _make_federation():
    """scripts/make-federation.py: the same key generation and views the
    demo and the tests use."""
    path = os.path.join(SOURCE, "scripts", "make-federation.py")
    spec = importlib.util.spec_from_file_location("make_federation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def service(region):
    """The compose service (and host name) of a region's daemon."""
    return f"zvhd-{region}"


def write_directory(path, mf, keys):
    with open(path, "w", encoding="utf-8") as f:
        f.write("#   Written by docker/make-compose-configs.py: three federated "
                "regions,\n#   the other regions placeholders.\n\ndirectory\n")
        for region, name in mf.all_regions():
            public_key, sign_key = keys.get(region, ("", ""))
            endpoint = (f"tcp://{service(region)}:{FEDERATION_PORT}"
                        if region in keys else "")
            f.write(f'    {region}\n        name = "{name}"\n'
                    f'        endpoint = "{endpoint}"\n        public_key = "{public_key}"\n')
            if sign_key:
                f.write(f'        sign_key = "{sign_key}"\n')


def write_partners(path, mf, partner_keys):
    with open(path, "w", encoding="utf-8") as f:
        f.write("partners\n")
        for pid, role, _, covers in PARTNERS:
            f.write(f'    {pid}\n        role = {role}\n'
                    f'        public_key = "{partner_keys[pid]}"\n'
                    f'        regions = "{covers}"\n')
        f.write("views\n")
        for role, fields in mf.VIEWS.items():
            f.write(f'    {role} = "{fields}"\n')


def write_daemon_config(path, region):
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""#   zvhd of {region} in its container (docker/compose.yaml).
zvhd
    region = {region}
    data_dir = {DATA_DIR}
    bind = "tcp://0.0.0.0:{FEDERATION_PORT}"
    secret_key = {region}.key_secret
    directory = federation.zpl
    data_key = {region}.data_key
    subscribe_bind = "tcp://0.0.0.0:{SUBSCRIBE_PORT}"
    partners = partners.zpl
    metrics_bind = "0.0.0.0:{METRICS_PORT}"
    health_peer_s = 60
""")


def chown_tree(root, owner):
    uid, gid = (int(part) for part in owner.split(":", 1))
    for directory, dirs, files in os.walk(root):
        os.chown(directory, uid, gid)
        for name in files:
            os.chown(os.path.join(directory, name), uid, gid)


def generate(out, zvhctl, owner=None):
    """Write everything into out (emptied first). Returns {region: config
    path} and, under "_partners", {id: partner dir}."""
    mf = _make_federation()
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    scratch = os.path.join(out, ".keys")
    os.makedirs(scratch)
    keys = {}
    for region in REGIONS:
        keys[region] = mf.keygen(zvhctl, scratch, region, region, with_sign_key=True)
    partner_keys = {}
    for pid, role, _, _ in PARTNERS:
        pdir = os.path.join(out, "partners", pid)
        os.makedirs(pdir)
        partner_keys[pid] = mf.keygen(zvhctl, pdir, "partner", "", role)
    result = {}
    for region in REGIONS:
        rdir = os.path.join(out, region)
        os.makedirs(rdir)
        for suffix in (".key", ".key_secret"):
            shutil.move(os.path.join(scratch, region + suffix),
                        os.path.join(rdir, region + suffix))
        subprocess.run([zvhctl, "datakey", os.path.join(rdir, region + ".data_key")],
                       check=True, capture_output=True)
        write_directory(os.path.join(rdir, "federation.zpl"), mf, keys)
        write_partners(os.path.join(rdir, "partners.zpl"), mf, partner_keys)
        write_daemon_config(os.path.join(rdir, "zvhd.cfg"), region)
        result[region] = os.path.join(rdir, "zvhd.cfg")
    os.rmdir(scratch)
    result["_partners"] = {}
    for pid, _, region, _ in PARTNERS:
        pdir = os.path.join(out, "partners", pid)
        with open(os.path.join(pdir, "endpoint"), "w", encoding="utf-8") as f:
            f.write(f"tcp://{service(region)}:{SUBSCRIBE_PORT}\n")
        with open(os.path.join(pdir, "server_key"), "w", encoding="utf-8") as f:
            f.write(keys[region][0] + "\n")
        result["_partners"][pid] = pdir
    if owner:
        chown_tree(out, owner)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=os.path.join(HERE, "generated"))
    parser.add_argument("--zvhctl", default=os.path.join(SOURCE, "build", "zvhctl"),
                        help="zvhctl to make keys with (default: build/zvhctl)")
    parser.add_argument("--owner", help="UID:GID to own every file (10001:10001 "
                        "for the image's zvhd user; needs root)")
    args = parser.parse_args()
    if not os.access(args.zvhctl, os.X_OK):
        sys.exit(f"{args.zvhctl} not found: build zvhctl first (see README) or "
                 "pass --zvhctl")
    result = generate(args.out, args.zvhctl, args.owner)
    for region in REGIONS:
        print(f"{service(region)}: {result[region]}")
    for pid, pdir in result["_partners"].items():
        print(f"partner {pid}: {pdir}")
    if not args.owner:
        print("note: inside the containers zvhd runs as uid 10001: run "
              f"chown -R 10001:10001 {args.out} (as root) before docker compose up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
