#!/usr/bin/env python3
"""Remote-source benchmark (issue #35): pulling 10 "hosts" over ssh to loopback.

    sudo python3 benches/remote.py [--phlb target/release/phlb] [--work /tmp/phlb-remote-bench]
                                   [--hosts 10] [--files 300] [--kib 64]

Needs root (it runs its own sshd on 127.0.0.1 with keys it makes in the work folder;
nothing touches ~/.ssh). Each host is a folder of FILES files (sizes up to 2 × KIB
KiB, random bytes): half of them the same on every host (same paths, same bytes: "OS
files"), half its own. Three ways to pull all hosts, each over the same ssh:
  phlb       `phlb backup root@127.0.0.1:/…/hN` (one name per host: the mirror, then a
             snapshot of it, hardlinked to earlier snapshots of any host);
  rsync -a   plain `rsync -a` into one folder per host (one copy, no history);
  link-dest  `rsync -a --link-dest=PREVIOUS` into a new folder per pull (rsnapshot's way).
First pull: every host into an empty root. Then 5 % of each host's own files change and
one file is added; second pull. Reported per way and pull: wall time for all hosts,
bytes received over the network (rsync's --stats; phlb's `pulled_bytes`), and the
server's disk use after it (`du -sb` over the whole root: hardlinks counted once; phlb's
includes its mirrors, shown apart, and its catalog), and the catalog's size. Targets from the issue:
phlb's second pull <= 1.2 x link-dest's time, and bytes received <= 1.05 x rsync -a's.
Prints a table; exits 3 when a target is missed (a crash exits otherwise). The work folder is removed at the end.
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def start_sshd(work):
    keys = os.path.join(work, "ssh")
    os.makedirs(keys)
    for k in ("host", "user"):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(keys, k))
    shutil.copy(os.path.join(keys, "user.pub"), os.path.join(keys, "authorized_keys"))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with open(os.path.join(keys, "host.pub")) as f:
        host_pub = f.read()
    with open(os.path.join(keys, "known_hosts"), "w") as f:
        f.write(f"[127.0.0.1]:{port} {host_pub}")
    cfg = os.path.join(keys, "sshd_config")
    with open(cfg, "w") as f:
        f.write(
            f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {keys}/host\n"
            f"AuthorizedKeysFile {keys}/authorized_keys\nStrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            f"PermitRootLogin prohibit-password\nPidFile {keys}/pid\nLogLevel ERROR\n"
        )
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", cfg],
                            stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    ssh = (
        f"ssh -F /dev/null -p {port} -i {keys}/user -o IdentitiesOnly=yes -o BatchMode=yes "
        f"-o UserKnownHostsFile={keys}/known_hosts -o StrictHostKeyChecking=yes"
    )
    return proc, ssh


def make_hosts(base, hosts, files, kib):
    rng = random.Random(35)
    shared = [(f"os/d{i % 10}/f{i}.bin", rng.randbytes(rng.randint(1, 2 * kib * 1024)))
              for i in range(files // 2)]
    for h in range(hosts):
        root = os.path.join(base, f"h{h}")
        for rel, data in shared:
            write(os.path.join(root, rel), data)
        for i in range(files - files // 2):
            write(os.path.join(root, f"home/d{i % 10}/u{i}.bin"),
                  rng.randbytes(rng.randint(1, 2 * kib * 1024)))


def mutate(base, hosts, files):
    rng = random.Random(36)
    for h in range(hosts):
        own = files - files // 2
        for i in rng.sample(range(own), max(1, own // 20)):
            with open(os.path.join(base, f"h{h}", f"home/d{i % 10}/u{i}.bin"), "ab") as f:
                f.write(rng.randbytes(4096))
        write(os.path.join(base, f"h{h}", "home/new.bin"), rng.randbytes(64 * 1024))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def du(path):
    out = subprocess.run(["du", "-sb", path], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def received(stats):
    for line in stats.splitlines():
        if line.startswith("Total bytes received:"):
            return int(line.split(":")[1].strip().split()[0].replace(",", ""))
    return 0


def pull_phlb(args, ssh, hosts_dir, root, hosts):
    ini = os.path.join(root, "..", "phlb-bench.ini")
    with open(ini, "w") as f:
        f.write(f"[phlb]\nSSH = {ssh}\n")
    got = 0
    for h in range(hosts):
        out = subprocess.run(
            [args.phlb, "--config", ini, "--backup-root", root, "backup", "--json",
             f"root@127.0.0.1:{hosts_dir}/h{h}"],
            check=True, capture_output=True, text=True)
        got += json.loads(out.stdout.splitlines()[0])["pulled_bytes"]
    return got


def pull_rsync(ssh, hosts_dir, dest, hosts, link_dest_of=None):
    got = 0
    os.makedirs(dest, exist_ok=True)
    for h in range(hosts):
        cmd = ["rsync", "-aHAX", "--numeric-ids", "--delete", "--stats", "-e", ssh]
        if link_dest_of:
            cmd.append(f"--link-dest={link_dest_of}/h{h}")
        cmd += [f"root@127.0.0.1:{hosts_dir}/h{h}/", f"{dest}/h{h}/"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        got += received(out.stdout)
    return got


def timed(fn):
    sh("sync")
    t = time.monotonic()
    got = fn()
    return time.monotonic() - t, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phlb", default="target/release/phlb")
    ap.add_argument("--work", default="/tmp/phlb-remote-bench")
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--kib", type=int, default=64)
    args = ap.parse_args()
    args.phlb = os.path.abspath(args.phlb)
    need = args.hosts * args.files * args.kib * 1024 * 6
    free = shutil.disk_usage(os.path.dirname(args.work) or "/").free
    if free < need:
        sys.exit(f"needs about {need >> 20} MiB free, {free >> 20} MiB here")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    proc, ssh = start_sshd(args.work)
    try:
        hosts_dir = os.path.join(args.work, "hosts")
        make_hosts(hosts_dir, args.hosts, args.files, args.kib)
        src_bytes = du(hosts_dir)
        root = os.path.join(args.work, "phlb-root")
        sh(args.phlb, "-q", "init", root)
        plain = os.path.join(args.work, "rsync-a")
        ld = os.path.join(args.work, "link-dest")
        rows = []
        for pull in ("first", "second"):
            if pull == "second":
                mutate(hosts_dir, args.hosts, args.files)
            t, b = timed(lambda: pull_phlb(args, ssh, hosts_dir, root, args.hosts))
            cat = os.path.getsize(os.path.join(root, ".phlb", "catalog.sqlite3"))
            mirrors = du(os.path.join(root, ".phlb", "mirrors"))
            rows.append((pull, "phlb", t, b, du(root), cat, mirrors))
            t, b = timed(lambda: pull_rsync(ssh, hosts_dir, plain, args.hosts))
            rows.append((pull, "rsync -a", t, b, du(plain), 0, 0))
            prev = os.path.join(ld, "1") if pull == "second" else None
            dest = os.path.join(ld, "2" if prev else "1")
            t, b = timed(lambda: pull_rsync(ssh, hosts_dir, dest, args.hosts, prev))
            rows.append((pull, "link-dest", t, b, du(ld), 0, 0))
        print(f"{args.hosts} hosts, {args.files} files each (half shared), "
              f"{src_bytes / 2**20:.1f} MiB in all")
        print(f"{'pull':<7} {'way':<10} {'seconds':>8} {'received MiB':>13} "
              f"{'disk MiB':>9} {'of it mirrors':>14} {'catalog KiB':>12}")
        for pull, way, t, b, d, c, m in rows:
            print(f"{pull:<7} {way:<10} {t:8.2f} {b / 2**20:13.2f} {d / 2**20:9.1f} "
                  f"{m / 2**20:14.1f} {c / 1024:12.0f}")
        by = {(p, w): (t, b) for p, w, t, b, _, _, _ in rows}
        ok = True
        t_ratio = by[("second", "phlb")][0] / by[("second", "link-dest")][0]
        b_ratio = by[("second", "phlb")][1] / max(1, by[("second", "rsync -a")][1])
        print(f"second pull: phlb / link-dest time {t_ratio:.2f} (target <= 1.2), "
              f"phlb / rsync -a bytes {b_ratio:.2f} (target <= 1.05)")
        ok = t_ratio <= 1.2 and b_ratio <= 1.05
        return 0 if ok else 3
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
