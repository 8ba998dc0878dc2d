#!/usr/bin/env python3
"""Reflink benchmark (issue #32): phlb with `LINK = reflink` and `LINK = hardlink`, and
`cp -a --reflink=always`, on loop-mounted XFS (`mkfs.xfs -m reflink=1`) and btrfs images
it makes (root only; needs xfsprogs and btrfs-progs).

    python3 benches/reflink.py [--phlb target/release/phlb] [--scale 0.1] [--reps 5]
                               [--fs xfs,btrfs] [--work /tmp/phlb-reflink] [--target 1.3]

Per filesystem: a sparse image file under WORK, sized for the run (the script checks
the free disk of WORK first), made and mounted at WORK/<fs>; the corpus
(benches/gen_corpus.py) is made ON the image, since `cp --reflink=always` cannot clone
across filesystems. Per repetition and per label (the order alternates, one untimed
round of each first, nothing deleted until the end of the filesystem), into a folder of
its own on the image, each step after a `sync`:
  reflink, hardlink   the source is a clone of the corpus (`cp -a --reflink=always`,
                      untimed); `phlb init` (untimed), then
                      S1  first backup with `--link MODE`
                      S2  second backup, nothing changed
                      S3  after `gen_corpus.py mutate` of the source (round 1)
  cp                  S2  `cp -a --reflink=always` of the source tree: what S2 under
                          reflink does (every path a clone of content already there)
                      S2+sync  the same, to the end of a `sync` after it (phlb ends with
                          its files on disk; cp leaves the writing to the system)
Prints the medians (hardlink against reflink, and reflink's S2 against both cp figures).
The goal: S2 with `LINK = reflink` <= TARGET x `cp -a --reflink=always` + sync. Exits 3
when a filesystem misses it, 0 when all meet it, anything else on a crash.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ab import GEN, interleaved, print_medians  # noqa: E402

# The corpus at scale 1 (gen_corpus.py: ~2.7 GiB; 0.5 GiB more for slack and metadata).
CORPUS_GIB_AT_1 = 2.9
MIN_IMAGE = 600 << 20


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd, env, then_sync=False):
    """Seconds `cmd` takes after a `sync` (and with a `sync` after it, if asked)."""
    sh(["sync"])
    start = time.monotonic()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    if then_sync:
        sh(["sync"])
    return time.monotonic() - start


def image_bytes(scale, reps):
    """Image size: the corpus, per round (reps + 1 warm) each mode's S1 copy and S3's new
    files, the sources' and cp's own metadata; at least MIN_IMAGE."""
    corpus = CORPUS_GIB_AT_1 * scale * (1 << 30)
    return max(MIN_IMAGE, int(corpus * (2.5 * (reps + 1) + 2)))


def mount_image(work, fs, size):
    img = os.path.join(work, f"{fs}.img")
    mnt = os.path.join(work, fs)
    os.makedirs(mnt)
    with open(img, "wb") as f:
        f.truncate(size)
    mkfs = ["mkfs.xfs", "-q", "-m", "reflink=1", img] if fs == "xfs" else \
        ["mkfs.btrfs", "-q", img]
    sh(mkfs, stdout=subprocess.DEVNULL)
    sh(["mount", "-o", "loop", img, mnt])
    return img, mnt


def bench_round(which, binary, corpus, top, env):
    """One round of label `which` in folder `top` (see the module doc)."""
    os.makedirs(top)
    src = os.path.join(top, "src")
    if which == "cp":
        sh(["cp", "-a", "--reflink=always", corpus, src])
        plain = timed(["cp", "-a", "--reflink=always", src, os.path.join(top, "a")], env)
        synced = timed(["cp", "-a", "--reflink=always", src, os.path.join(top, "b")], env,
                       then_sync=True)
        return {"S2": plain, "S2+sync": synced}
    sh(["cp", "-a", "--reflink=always", corpus, src])
    root = os.path.join(top, "root")
    sh([binary, "-q", "init", root], env=env)
    backup = [binary, "-q", "--backup-root", root, "backup", src, "--link", which]
    s1 = timed(backup, env)
    s2 = timed(backup, env)
    sh([sys.executable, GEN, "mutate", src, "--round", "1"], stdout=subprocess.DEVNULL)
    s3 = timed(backup, env)
    return {"S1": s1, "S2": s2, "S3": s3}


def bench_fs(args, fs, env):
    """Runs the rounds on a fresh image of `fs`; its medians (label -> step -> s)."""
    work = os.path.join(args.work, fs + "-work")
    img, mnt = mount_image(args.work, fs, image_bytes(args.scale, args.reps))
    try:
        corpus = os.path.join(mnt, "corpus")
        sh([sys.executable, GEN, "create", corpus, "--scale", str(args.scale)],
           stdout=subprocess.DEVNULL)
        labels = {k: (args.phlb, corpus) for k in ["reflink", "hardlink", "cp"]}
        print(f"== {fs}", flush=True)
        times = interleaved(labels, args.reps, mnt, env, round_fn=bench_round)
    finally:
        subprocess.run(["umount", mnt])
        os.remove(img)
        shutil.rmtree(work, ignore_errors=True)
    what = f"{args.reps} interleaved runs on {fs}, scale {args.scale}"
    print_medians(times, "hardlink", "reflink", what, steps=("S1", "S2", "S3"))
    return {k: {s: statistics.median(v) for s, v in steps.items()} for k, steps in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phlb", default="target/release/phlb")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--fs", default="xfs,btrfs")
    ap.add_argument("--work", default="/tmp/phlb-reflink")
    ap.add_argument("--target", type=float, default=1.3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("reflink.py loop-mounts images: run it as root")
    args.phlb = os.path.abspath(args.phlb)
    filesystems = args.fs.split(",")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    free = shutil.disk_usage(args.work).free
    need = image_bytes(args.scale, args.reps)
    if free < need * 1.1:
        sys.exit(f"{args.work}: {free >> 20} MiB free, an image needs up to {need >> 20} MiB")
    env = dict(os.environ, HOME=args.work)
    env.pop("PHLB_CONFIG", None)
    missed = []
    try:
        results = {fs: bench_fs(args, fs, env) for fs in filesystems}
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print(f"\nS2 with LINK = reflink against cp -a --reflink=always (goal <= {args.target} x"
          " cp + sync):")
    for fs, med in results.items():
        s2 = med["reflink"]["S2"]
        plain, synced = med["cp"]["S2"], med["cp"]["S2+sync"]
        ratio = s2 / synced
        print(f"{fs:6} phlb {s2:.2f} s, cp {plain:.2f} s ({s2 / plain:.2f} x),"
              f" cp + sync {synced:.2f} s ({ratio:.2f} x)")
        if ratio > args.target:
            missed.append(fs)
    if missed:
        print(f"missed the goal on {', '.join(missed)}")
        sys.exit(3)


if __name__ == "__main__":
    main()
