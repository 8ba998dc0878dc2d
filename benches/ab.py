#!/usr/bin/env python3
"""A/B benchmark of two phlb binaries on the same corpus, runs interleaved.

    python3 benches/ab.py OLD NEW [--scale 0.2] [--reps 5] [--work /tmp/phlb-ab]

For a change that must not slow phlb down (a refactor, a hot-path edit): builds the
corpus once with benches/gen_corpus.py, then per repetition and per binary (the order
alternates each repetition, so drift of the machine hits both alike) times
  S1      the first backup into a fresh root (`phlb init` untimed)
  S2      a second backup, nothing changed
  verify  `phlb verify` of that root (full: every stored copy hashed)
each after a `sync`, and prints the median of each with the ratio NEW/OLD. One untimed
round of each binary comes first (a VM's fresh pages are slow to write), and nothing is
deleted until the end: ext4 passes over recently freed inodes when it allocates, so a
round right after a deletion is slower, whichever binary it times. Needs about
(2 * reps + 3) times the corpus size in free disk.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen_corpus.py")


def timed(cmd, env):
    subprocess.run(["sync"], check=True)
    start = time.monotonic()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    return took


def one_round(binary, corpus, root, env):
    subprocess.run([binary, "-q", "init", root], check=True, env=env)
    base = [binary, "-q", "--backup-root", root]
    s1 = timed(base + ["backup", corpus], env)
    s2 = timed(base + ["backup", corpus], env)
    verify = timed(base + ["verify"], env)
    return {"S1": s1, "S2": s2, "verify": verify}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--work", default="/tmp/phlb-ab")
    args = ap.parse_args()
    binaries = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    corpus = os.path.join(args.work, "corpus")
    subprocess.run([sys.executable, GEN, "create", corpus, "--scale", str(args.scale)],
                   check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, HOME=args.work)
    env.pop("PHLB_CONFIG", None)
    try:
        times = interleaved({k: (b, corpus) for k, b in binaries.items()}, args.reps,
                            args.work, env)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print_medians(times, "old", "new", f"{args.reps} interleaved runs, scale {args.scale}")


def interleaved(runs, reps, work, env, round_fn=None):
    """Times `one_round` for each of `runs` ({label: (binary, corpus)}): one untimed
    round each first, then `reps` rounds whose order alternates, each into a root of its
    own under `work` (nothing deleted meanwhile). `round_fn(label, binary, corpus, root,
    env)`, when given, replaces `one_round` and returns its own steps. Returns the times
    by label and step."""
    labels = list(runs)
    if round_fn is None:
        round_fn = lambda _which, binary, corpus, root, env: one_round(binary, corpus, root, env)
    times = {k: {} for k in labels}
    for which in labels:
        binary, corpus = runs[which]
        round_fn(which, binary, corpus, os.path.join(work, f"warm-{which}"), env)
    for rep in range(reps):
        order = labels if rep % 2 == 0 else labels[::-1]
        for which in order:
            binary, corpus = runs[which]
            got = round_fn(which, binary, corpus, os.path.join(work, f"root-{which}-{rep}"), env)
            for k, v in got.items():
                times[which].setdefault(k, []).append(v)
            print(f"rep {rep + 1} {which}: " +
                  ", ".join(f"{k} {v:.2f} s" for k, v in got.items()), flush=True)
    return times


def print_medians(times, a, b, what, steps=("S1", "S2", "verify")):
    """Prints the median of each of `steps` for labels `a` and `b` and the ratio b/a."""
    print(f"\nmedians of {what}:")
    print(f"{'':8} {a:>9} {b:>9} {b + '/' + a:>12}")
    for k in steps:
        x = statistics.median(times[a][k])
        y = statistics.median(times[b][k])
        print(f"{k:8} {x:8.2f}s {y:8.2f}s {y / x:12.3f}")

if __name__ == "__main__":
    main()
