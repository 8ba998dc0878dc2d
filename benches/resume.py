#!/usr/bin/env python3
"""Resume benchmark (issue #28): how much of an interrupted backup the next run keeps.

    python3 benches/resume.py [--phlb target/release/phlb] [--work /tmp/phlb-resume-bench]
                              [--files 12] [--mib 120] [--stop-at 0.5] [--reps 3]

Source: FILES files of MIB MiB of random bytes. For each repetition it times
  full    a first backup of the source into an empty root;
  TERM    a first backup stopped with SIGTERM once its in-progress folder holds
          STOP_AT of the source bytes (allocated blocks of the files it shows: the
          finished ones, and temp-named ones where the filesystem has no unnamed
          files), then the next run of the same name, timed; the copies in flight
          then (unnamed files the run holds open, which a kill loses) are shown
          beside it;
  KILL    the same with SIGKILL (no clean-up runs at all).
For the next run it reports the bytes it wrote, counted on disk and not taken from
phlb's report: the sizes of the files in the new snapshot whose inode is not one the
interrupted run left (inodes of the leftover files are taken before the next run), and
beside it phlb's own `new_bytes` and `resumed` from `backup --json`. The issue's targets:
the next run writes <= 55 % of the bytes and takes <= 60 % of a full run's time.
Each root is removed after its repetition; the work folder at the end, also on failure.
Prints one line per run and a table of medians; exits 3 when a target is missed.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time


def make_source(src, files, mib):
    os.makedirs(src)
    chunk = 8 << 20
    for i in range(files):
        with open(os.path.join(src, f"big{i:02d}.bin"), "wb") as f:
            left = mib << 20
            while left:
                n = min(chunk, left)
                f.write(os.urandom(n))
                left -= n


def in_progress_dir(root):
    parent = os.path.join(root, "src")
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return None
    for n in names:
        if n.endswith(".inprogress"):
            return os.path.join(parent, n)
    return None


def held_bytes(folder):
    total = 0
    for dirpath, _dirs, names in os.walk(folder):
        for n in names:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def in_flight_bytes(pid, root):
    """Bytes of the copies the run `pid` holds open unfinished: unnamed files
    (O_TMPFILE, "... (deleted)" in /proc) under `root`. A kill loses them."""
    total = 0
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except FileNotFoundError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
            if target.startswith(root) and target.endswith(" (deleted)"):
                total += os.stat(os.path.join(fd_dir, fd)).st_size
        except OSError:
            pass
    return total


def leftover_inodes(root):
    inos = set()
    for dirpath, _dirs, names in os.walk(os.path.join(root, "src")):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            if os.path.isfile(os.path.join(dirpath, n)):
                inos.add(st.st_ino)
    return inos


def phlb_cmd(args, root, *rest):
    # A root is made on purpose (`phlb init`) before its first use.
    if not os.path.isdir(os.path.join(root, ".phlb")):
        subprocess.run([args.phlb, "-q", "init", root], check=True)
    return [args.phlb, "--backup-root", root, *rest]


def cpu_of_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def backup(args, root, src):
    """Runs one backup; its wall seconds, CPU seconds (user + system) and JSON report."""
    cpu = cpu_of_children()
    t = time.monotonic()
    out = subprocess.run(
        phlb_cmd(args, root, "-q", "backup", "--json", src),
        check=True, capture_output=True, text=True, env=args.env,
    )
    took = time.monotonic() - t
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return took, cpu_of_children() - cpu, report


def interrupted(args, root, src, sig, total):
    child = subprocess.Popen(
        phlb_cmd(args, root, "-q", "backup", src),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=args.env,
    )
    want = total * args.stop_at
    deadline = time.monotonic() + 600
    held = 0
    while True:
        if child.poll() is not None:
            raise SystemExit("phlb finished before it could be stopped: use more or larger files")
        folder = in_progress_dir(root)
        if folder:
            held = held_bytes(folder)
            if held >= want:
                break
        if time.monotonic() > deadline:
            child.kill()
            raise SystemExit("phlb never got far enough")
        time.sleep(0.002)
    flying = in_flight_bytes(child.pid, root)
    child.send_signal(sig)
    child.wait()
    return held, flying


def snapshot_dir(root):
    parent = os.path.join(root, "src")
    done = [n for n in os.listdir(parent)
            if "." not in n and "-" in n and os.path.isdir(os.path.join(parent, n))
            and not os.path.islink(os.path.join(parent, n))]
    return os.path.join(parent, sorted(done)[-1])


def written_by_next(snap, old_inodes):
    total = 0
    for dirpath, _dirs, names in os.walk(snap):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            if st.st_ino not in old_inodes:
                total += st.st_size
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--phlb", default="target/release/phlb")
    p.add_argument("--work", default="/tmp/phlb-resume-bench")
    p.add_argument("--files", type=int, default=12)
    p.add_argument("--mib", type=int, default=120)
    p.add_argument("--stop-at", type=float, default=0.5)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    args.phlb = os.path.abspath(args.phlb)
    args.env = dict(os.environ, HOME=args.work)
    args.env.pop("PHLB_CONFIG", None)
    args.env.pop("PHLB_BACKUP_ROOT", None)
    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work)
    try:
        return run(args)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)


def run(args):
    src = os.path.join(args.work, "src")
    make_source(src, args.files, args.mib)
    total = args.files * (args.mib << 20)
    subprocess.run(["sync"], check=True)
    results = {"full": [], "TERM": [], "KILL": []}
    for rep in range(args.reps):
        for kind in ("full", "TERM", "KILL"):
            root = os.path.join(args.work, f"root-{kind}-{rep}")
            if kind == "full":
                took, cpu, rep_json = backup(args, root, src)
                results[kind].append((took, rep_json["new_bytes"], cpu))
                print(f"full      {took:7.2f} s ({cpu:5.2f} s CPU)  wrote"
                      f" {rep_json['new_bytes'] / total:6.1%}", flush=True)
            else:
                sig = signal.SIGTERM if kind == "TERM" else signal.SIGKILL
                held, flying = interrupted(args, root, src, sig, total)
                old = leftover_inodes(root)
                subprocess.run(["sync"], check=True)
                took, cpu, rep_json = backup(args, root, src)
                wrote = written_by_next(snapshot_dir(root), old)
                resumed = rep_json.get("resumed", 0)
                results[kind].append((took, wrote, cpu))
                print(f"{kind:<4} next {took:7.2f} s ({cpu:5.2f} s CPU)  wrote"
                      f" {wrote / total:6.1%} on disk"
                      f" ({rep_json['new_bytes'] / total:6.1%} new_bytes), resumed {resumed}"
                      f" files; stopped holding {held / total:6.1%} finished"
                      f" + {flying / total:5.1%} in flight", flush=True)
            shutil.rmtree(root)
            subprocess.run(["sync"], check=True)
    full = statistics.median(r[0] for r in results["full"])
    full_cpu = statistics.median(r[2] for r in results["full"])
    print()
    print(f"medians of {args.reps}; the target is on wall time, CPU time shown beside it"
          " (less moved by other load on the machine)")
    print(f"{'run':<10}{'seconds':>9}{'of full':>9}{'CPU s':>8}{'of full':>9}{'wrote':>8}   target")
    print(f"{'full':<10}{full:9.2f}{1:9.0%}{full_cpu:8.2f}{1:9.0%}{1:8.0%}")
    ok = True
    for kind in ("TERM", "KILL"):
        took = statistics.median(r[0] for r in results[kind])
        cpu = statistics.median(r[2] for r in results[kind])
        wrote = statistics.median(r[1] for r in results[kind]) / total
        met = took <= 0.60 * full and wrote <= 0.55
        ok &= met
        print(f"{kind + ' next':<10}{took:9.2f}{took / full:9.0%}{cpu:8.2f}{cpu / full_cpu:9.0%}"
              f"{wrote:8.0%}   {'met' if met else 'MISSED'} (<= 60 % time, <= 55 % bytes)")
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
