#!/usr/bin/env python3
"""Whole-tool benchmark: phlb against cp and rsync on the shared synthetic corpus.

    python3 benches/compare.py [--scale 1.0] [--reps 3] [--work /tmp/phlb-bench] [--phlb PATH]
                               [--cache-gib 8]

Builds the corpus with benches/gen_corpus.py (the shared reference generator, carried
here so the repository stands on its own), then times, side by side and
alternating, several repetitions each (medians reported):
  S1  first backup            phlb  vs cp -a, rsync -a
  S2  second, nothing changed phlb  vs cp -al, rsync -a --link-dest
  S3  after `gen_corpus.py mutate` (one round per repetition)
                              phlb  vs rsync -a --link-dest, plus bytes newly written,
                              and the floor: sha256sum and cp -a + sync of just the new copies
  verify (full) of one snapshot vs sha256sum over the same files; verify --fast
  restore of that snapshot vs cp -r --preserve=mode,ownership,timestamps of its folder
  add: rebuilding the catalog of 3 snapshots
  memory: backing up (and restoring) one 4 KiB file vs one 4 GiB file (times the scale)
Peak RSS of every phlb run comes from /usr/bin/time. Prints a table with phlb/peer ratios.
phlb ends with its files on disk (SYNC = true), cp and rsync do not: each peer is also
timed with a `sync` right after it ("+ sync"), and every timed run starts with nothing
dirty, so none pays for the writeback of the one before, and with its inputs read into
the cache (`ready`).

Three things of the machine, not of the tools, swung the same `cp -a` of the scale-1 corpus
between 4 and 31 s on the development VM; the script keeps all three fixed:
  - Fresh memory: a write into a page the VM has handed back to its host is slow. The
    script holds all memory but --cache-gib (8) for its whole run, and first writes that
    much (up to 3 corpus copies, untimed), so every timed run writes into backed pages.
    Never drop caches before a run: that hands the memory back.
  - Recently deleted inodes: ext4 without a journal passes over every free inode deleted
    less than a minute ago. Nothing is deleted until the end, and the first timed run
    waits until a minute has passed since the script removed an old work folder.
  - Writeback: the `sync` above.
Needs free disk of about (7 + 3 * reps) times the corpus size; it
checks before it starts, prints each figure as it comes, and removes its work folder at
the end, also after a failure.
"""
import argparse
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import time


def snapshot_folders(top):
    """The snapshot folders of one name, oldest first: real folders only (`latest` is a
    symlink to the newest, and sorts after every timestamp)."""
    return sorted(
        d for d in os.listdir(top)
        if os.path.isdir(os.path.join(top, d)) and not os.path.islink(os.path.join(top, d))
    )

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GEN = os.path.join(HERE, "gen_corpus.py")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS in KiB). Everything dirty
    is written out first, so no run pays for the writeback of the one before it."""
    os.sync()
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M"] + cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = out.stderr.strip().splitlines()[-1]
    if out.returncode not in (0,):
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr}")
    secs, rss = last.split()
    return float(secs), int(rss)


def timed_sync(cmd):
    """Like timed, for a peer: also returns the seconds of a `sync` right after it. phlb
    waits until its files are on disk (SYNC = true); cp and rsync leave that to the
    system, so `peer + sync` is the like-for-like figure."""
    secs, rss = timed(cmd)
    t0 = time.monotonic()
    os.sync()
    return secs, time.monotonic() - t0


def available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def hold_memory(leave):
    """Takes and touches all but `leave` bytes of the available memory, kept until the
    script ends, so the caches work in a fixed, fully backed amount of memory. On a VM
    that hands free memory back to its host (virtio-balloon free page reporting, as on the
    development machine), a write into a page the guest got back from the host runs at a
    fraction of memory speed: right after a cache drop, `cp -a` of the corpus spent 13 of
    its 19 s of CPU in memcpy. How much free memory a run happened to meet decided its
    speed more than the tool did. Returns the mapping (None when nothing was held)."""
    n = available_bytes() - leave
    if n < 1 << 30:
        return None
    m = mmap.mmap(-1, n)
    chunk = b"\x01" * (64 << 20)
    for off in range(0, n - len(chunk) + 1, len(chunk)):
        m[off : off + len(chunk)] = chunk
    return m


def ready(data=(), meta=()):
    """Puts a timed run in a known state: nothing dirty, and its inputs in the cache: the
    content of `data` trees and the inodes of `meta` trees."""
    os.sync()
    for tree in data:
        warm(tree)
    for tree in meta:
        warm_meta(tree)


def warm(tree):
    sh(f"find '{tree}' -type f -print0 | xargs -0 cat > /dev/null", shell=True)


def warm_meta(tree):
    """Loads the inodes of `tree` (a stat of every entry): a run that links into an older
    tree reads them, and memory pressure from the S1 runs may have evicted them."""
    sh(f"find '{tree}' -printf '%s\\n' > /dev/null", shell=True)


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024


def newest_snapshot(root):
    """The newest snapshot folder under phlb's root: the tree its next run links from."""
    top = os.path.join(root, "corpus")
    snaps = [d for d in snapshot_folders(top) if "." not in d]
    return os.path.join(top, snaps[-1])


def du_bytes(path):
    out = subprocess.run(["du", "-s", "--block-size=1", path], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def measure(args, work, have_rsync, big_bytes, deleted_at):
    """Runs every timed step in `work`; returns (files, bytes, results, rss, written,
    (S3 minus the no-change run after it, S3's floor) per repetition)."""
    corpus = os.path.join(work, "corpus")
    print(f"building corpus at scale {args.scale} ...", flush=True)
    sh([sys.executable, GEN, "create", corpus, "--scale", str(args.scale)], stdout=subprocess.DEVNULL)
    files = int(subprocess.run(f"find '{corpus}' -type f | wc -l", shell=True, capture_output=True, text=True).stdout)
    size = du_bytes(corpus)

    results = {}  # label -> list of seconds
    rss = {}  # phlb label -> list of KiB

    def record(label, secs, kib=None):
        results.setdefault(label, []).append(secs)
        if kib is not None:
            rss.setdefault(label, []).append(kib)
        # Each figure as it comes, so a run that fails part-way still shows what it had.
        mem = f", peak RSS {kib / 1024:.0f} MiB" if kib is not None else ""
        print(f"  {label}: {secs:.2f} s{mem}", flush=True)

    def phlb(root, *a):
        # A root is made on purpose (`phlb init`, in builds that have it) before its
        # first use; an older build, run for a before/after comparison, makes its own.
        if not os.path.isdir(os.path.join(root, ".phlb")) and has("init"):
            subprocess.run([args.phlb, "-q", "init", root], check=True)
        return timed([args.phlb, "-q", "--backup-root", root] + list(a))

    def has(command):
        """True when the phlb under test knows `command` (an older build, run for a
        before/after comparison, may not)."""
        return subprocess.run([args.phlb, command, "--help"], capture_output=True).returncode == 0

    # S1: first backup into fresh destinations; the order rotates each repetition, so no
    # tool always runs first after the corpus (or another tool) filled the page cache.
    def s1_phlb(r):
        ready([corpus])
        s, k = phlb(os.path.join(work, f"s1-phlb-{r}"), "backup", corpus)
        record("S1 phlb", s, k)

    def s1_cp(r):
        ready([corpus])
        s, w = timed_sync(["cp", "-a", corpus, os.path.join(work, f"s1-cp-{r}")])
        record("S1 cp -a", s)
        record("S1 cp -a + sync", s + w)

    def s1_rsync(r):
        if have_rsync:
            ready([corpus])
            s, w = timed_sync(["rsync", "-a", corpus + "/", os.path.join(work, f"s1-rsync-{r}") + "/"])
            record("S1 rsync -a", s)
            record("S1 rsync -a + sync", s + w)

    order = [s1_phlb, s1_cp, s1_rsync]
    if args.cache_gib > 0:
        # Untimed: writes about as much as the caches hold (up to 3 corpus copies), so the
        # pages the timed runs write into have been backed by the host once already.
        print("warm-up copies (untimed) ...", flush=True)
        for i in range(3):
            sh(["cp", "-a", corpus, os.path.join(work, f"warmup-{i}")])
            if (i + 1) * size >= args.cache_gib * 2**30:
                break
    if deleted_at is not None:
        # ext4 without a journal passes over inodes deleted less than 60 s ago.
        wait = 61 - (time.monotonic() - deleted_at)
        if wait > 0:
            print(f"waiting {wait:.0f} s: the old work folder was removed just now", flush=True)
            time.sleep(wait)
    for r in range(args.reps):
        for step in order[r % 3:] + order[: r % 3]:
            step(r)
    root = os.path.join(work, "s1-phlb-0")
    catalog = os.path.join(root, ".phlb")  # phlb's input beside the tree: read back in too
    base_cp = os.path.join(work, "base-cp")
    sh(["cp", "-a", corpus, base_cp])
    rs_prev = os.path.join(work, "rs-0")
    if have_rsync:
        sh(["rsync", "-a", corpus + "/", rs_prev + "/"])

    # S2: nothing changed (order alternates each repetition).
    def s2_phlb(r):
        ready([corpus, catalog], [newest_snapshot(root)])
        s, k = phlb(root, "backup", corpus)
        record("S2 phlb", s, k)

    def s2_peers(r):
        ready(meta=[base_cp])
        s, w = timed_sync(["cp", "-al", base_cp, os.path.join(work, f"s2-cpal-{r}")])
        record("S2 cp -al", s)
        record("S2 cp -al + sync", s + w)
        if have_rsync:
            ready([corpus], [rs_prev])
            dest = os.path.join(work, f"s2-rs-{r}")
            s, w = timed_sync(["rsync", "-a", "--link-dest=" + rs_prev, corpus + "/", dest + "/"])
            record("S2 rsync --link-dest", s)
            record("S2 rsync --link-dest + sync", s + w)

    for r in range(args.reps):
        for step in ([s2_phlb, s2_peers] if r % 2 == 0 else [s2_peers, s2_phlb]):
            step(r)

    def s3_floor(snap, r):
        """What S3 cannot avoid beyond S2: the files phlb stored as new copies (link
        count 1 in the newest snapshot) hashed with sha256sum and written with cp -a and
        a sync (phlb's copies are on disk when it ends), each alone, from the same source
        files. (phlb also reads and hashes renamed files; their bytes are in the mutate
        summary.)"""
        listing = subprocess.run(["find", snap, "-type", "f", "-links", "1", "-printf", "%P\\0"],
                                 capture_output=True, check=True).stdout
        scratch = os.path.join(work, f"s3-floor-{r}")
        os.makedirs(scratch)
        ready([corpus])
        t0 = time.monotonic()
        subprocess.run(["xargs", "-0", "sha256sum"], input=listing, cwd=corpus,
                       stdout=subprocess.DEVNULL, check=True)
        record("S3 floor: sha256sum new", time.monotonic() - t0)
        t0 = time.monotonic()
        subprocess.run(["xargs", "-0", "cp", "-a", "--parents", "-t", scratch], input=listing,
                       cwd=corpus, check=True)
        os.sync()
        record("S3 floor: cp -a new + sync", time.monotonic() - t0)
        return results["S3 floor: sha256sum new"][-1] + results["S3 floor: cp -a new + sync"][-1]

    # S3: one mutate round per repetition; both tools back up the same changed tree.
    written = {}
    floors, extras = [], []  # per repetition: S3's floor, S3 minus the no-change run after it
    for r in range(args.reps):
        sh([sys.executable, GEN, "mutate", corpus, "--round", str(r + 1)], stdout=subprocess.DEVNULL)
        ready([corpus, catalog], [newest_snapshot(root)])
        s3, k = phlb(root, "backup", corpus)
        record("S3 phlb", s3, k)
        # du counts each inode once over all its arguments: the newest snapshot's line is
        # what this run wrote into the tree (file data and folders, like rsync's below;
        # the catalog, manifest and log beside it are left out).
        snaps = snapshot_folders(os.path.join(root, "corpus"))
        out = subprocess.run(["du", "-s", "--block-size=1"] + [os.path.join(root, "corpus", d) for d in snaps[-2:]],
                             capture_output=True, text=True, check=True)
        written.setdefault("phlb", []).append(int(out.stdout.splitlines()[1].split()[0]))
        floors.append(s3_floor(os.path.join(root, "corpus", snaps[-1]), r))
        # A no-change run right after, in the same state: S3's extra cost is taken against
        # it (the S2 runs above came earlier, with fewer snapshots and cached entries).
        ready([corpus, catalog], [newest_snapshot(root)])
        s2, k = phlb(root, "backup", corpus)
        record("S2 after S3 phlb", s2, k)
        extras.append(s3 - s2)
        if have_rsync:
            dest = os.path.join(work, f"rs-{r + 1}")
            ready([corpus], [rs_prev])
            s, w = timed_sync(["rsync", "-a", "--link-dest=" + rs_prev, corpus + "/", dest + "/"])
            record("S3 rsync --link-dest", s)
            record("S3 rsync --link-dest + sync", s + w)
            # du counts each inode once over all its arguments: dest's line is what is new.
            out = subprocess.run(["du", "-s", "--block-size=1", rs_prev, dest], capture_output=True, text=True, check=True)
            written.setdefault("rsync", []).append(int(out.stdout.splitlines()[1].split()[0]))
            rs_prev = dest

    # verify: one snapshot, full and fast, against sha256sum of the same files.
    snaps = snapshot_folders(os.path.join(root, "corpus"))
    last = snaps[-1]
    snap_dir = os.path.join(root, "corpus", last)
    for r in range(args.reps):
        ready([snap_dir, catalog])
        s, k = phlb(root, "verify", "corpus/" + last)
        record("verify phlb", s, k)
        ready([snap_dir])
        s, _ = timed(["sh", "-c", f"find '{snap_dir}' -type f -print0 | xargs -0 -P1 sha256sum > /dev/null"])
        record("verify sha256sum", s)
        ready([catalog], [snap_dir])
        s, k = phlb(root, "verify", "--fast", "corpus/" + last)
        record("verify --fast phlb", s, k)

    # restore: the newest snapshot into a fresh folder, against cp -r keeping mode, owner
    # and times (independent files, as restore makes; `cp -a` would keep the snapshot's
    # hardlinks and write less). Alternating, each into its own new folder.
    for r in range(args.reps if has("restore") else 0):
        for tool in ("phlb", "cp") if r % 2 == 0 else ("cp", "phlb"):
            dest = os.path.join(work, f"restore-{tool}-{r}")
            ready([snap_dir, catalog])
            if tool == "phlb":
                s, k = phlb(root, "restore", "corpus/" + last, "--to", dest)
                record("restore phlb", s, k)
            else:
                s, _ = timed(["cp", "-r", "--preserve=mode,ownership,timestamps", snap_dir, dest])
                record("restore cp -r --preserve", s)

    # add: rebuild the catalog of the first three snapshots.
    add_root = os.path.join(work, "add-root")
    os.makedirs(os.path.join(add_root, "corpus"))
    for d in snaps[:3]:
        sh(["cp", "-al", os.path.join(root, "corpus", d), os.path.join(add_root, "corpus", d)])
    for r in range(args.reps):
        shutil.rmtree(os.path.join(add_root, ".phlb"), ignore_errors=True)
        for f in os.listdir(os.path.join(add_root, "corpus")):
            if f.endswith("SUMS"):
                os.remove(os.path.join(add_root, "corpus", f))
        ready([add_root])
        s, k = phlb(add_root, "add")
        record("add (3 snapshots) phlb", s, k)

    # prune: the plan over every snapshot (a dry run), then removing one snapshot with
    # `phlb forget` against `rm -rf` of a hardlinked copy of another snapshot of the same
    # tree (both unlink the same number of names; few inodes are freed by either).
    for r in range(args.reps if has("prune") else 0):
        ready([catalog])
        s, k = phlb(root, "prune", "--keep-last", "1", "--dry-run")
        record("prune plan (dry run) phlb", s, k)
    snaps = snapshot_folders(os.path.join(root, "corpus"))
    for r in range(args.reps if has("forget") else 0):
        if len(snaps) < 3:
            break
        gone, other = snaps.pop(0), snaps[0]
        ready([catalog], [os.path.join(root, "corpus", gone)])
        s, k = phlb(root, "forget", "corpus/" + gone)
        record("remove 1 snapshot phlb", s, k)
        twin = os.path.join(work, f"rm-twin-{r}")
        sh(["cp", "-al", os.path.join(root, "corpus", other), twin])
        ready([], [twin])
        s, _ = timed(["rm", "-rf", twin])
        record("remove 1 snapshot rm -rf", s)

    # Memory must not grow with file size: one 4 KiB file against one 4 GiB file (times
    # the scale), each backed up into a fresh root. Last, since only memory counts here:
    # the S1 copies go first to make room (the deletes no longer matter to a timed run).
    for d in os.listdir(work):
        if d.startswith(("warmup-", "s1-cp-", "s1-rsync-")) or d.startswith("s1-phlb-") and d != "s1-phlb-0":
            shutil.rmtree(os.path.join(work, d))
    for label, size_bytes in (("4 KiB", 4096), (human(big_bytes), big_bytes)):
        src = os.path.join(work, f"one-file-{size_bytes}")
        os.makedirs(src)
        sh(f"head -c {size_bytes} /dev/urandom > '{src}/file'", shell=True)
        dest = os.path.join(work, f"one-file-root-{size_bytes}")
        s, k = phlb(dest, "backup", src)
        record(f"one {label} file phlb", s, k)
        if has("restore"):
            s, k = phlb(dest, "restore", "one-file-" + str(size_bytes), "--to", src + "-restored")
            record(f"restore one {label} file phlb", s, k)
            shutil.rmtree(src + "-restored")
        shutil.rmtree(src)
        shutil.rmtree(dest)
    return files, size, results, rss, written, (extras, floors)



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", default="/tmp/phlb-bench")
    ap.add_argument("--phlb", default=os.path.join(REPO, "target", "release", "phlb"))
    ap.add_argument("--cache-gib", type=float, default=8.0,
                    help="memory left for the caches; the rest is held (0: hold nothing)")
    args = ap.parse_args()

    if not os.path.exists(args.phlb):
        sh(["cargo", "build", "--release"], cwd=REPO)
    have_rsync = shutil.which("rsync") is not None
    if not have_rsync:
        print("note: rsync not found (apt-get install rsync); its columns are left out")

    work = args.work
    deleted_at = None
    if os.path.exists(work):
        shutil.rmtree(work, ignore_errors=True)
        deleted_at = time.monotonic()
    os.makedirs(work)
    big_bytes = max(1 << 20, int(4 * 2**30 * args.scale))
    # corpus, 3 warm-up copies, 3 tools x reps S1 copies, 2 peer bases, S3's new files,
    # 2 x reps restores
    need = int((7 + 5 * args.reps) * 2.9 * 2**30 * args.scale)
    free = shutil.disk_usage(work).free
    if free < need:
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(f"{work}: needs about {need / 2**30:.0f} GiB free, has {free / 2**30:.0f} GiB")
    held = None
    if args.cache_gib > 0:
        print(f"holding memory so that {args.cache_gib:g} GiB is left for caches ...", flush=True)
        held = hold_memory(int(args.cache_gib * 2**30))
    try:
        files, size, results, rss, written, (extras, floors) = measure(args, work, have_rsync, big_bytes, deleted_at)
    finally:
        # Also after a failure: the work folder holds many copies of the corpus.
        shutil.rmtree(work, ignore_errors=True)
    if held is not None:
        held.close()
    med = {k: statistics.median(v) for k, v in results.items()}

    def ratio(a, b):
        return f"{med[a] / med[b]:.2f}" if a in med and b in med and med[b] > 0 else "-"

    print()
    print(f"corpus: {files} files, {size / 2**30:.2f} GiB (scale {args.scale}); {args.reps} repetitions, medians")
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print()
    print(f"{'run':<26}{'median s':>10}{'peak RSS MiB':>14}")
    for k in results:
        r = f"{max(rss[k]) / 1024:.0f}" if k in rss else ""
        print(f"{k:<26}{med[k]:>10.2f}{r:>14}")
    print()
    print("ratios (phlb / peer):")
    print("  (phlb's files are on disk when it ends; '+ sync' peers are timed to the same point)")
    print(f"  S1 / cp -a                {ratio('S1 phlb', 'S1 cp -a')}   (target <= 1.1)")
    print(f"  S1 / cp -a + sync         {ratio('S1 phlb', 'S1 cp -a + sync')}")
    print(f"  S1 / rsync -a             {ratio('S1 phlb', 'S1 rsync -a')}")
    print(f"  S1 / rsync -a + sync      {ratio('S1 phlb', 'S1 rsync -a + sync')}")
    print(f"  S2 / cp -al               {ratio('S2 phlb', 'S2 cp -al')}   (target <= 1.3)")
    print(f"  S2 / cp -al + sync        {ratio('S2 phlb', 'S2 cp -al + sync')}")
    print(f"  S2 / rsync --link-dest    {ratio('S2 phlb', 'S2 rsync --link-dest')}")
    print(f"  S3 / rsync --link-dest    {ratio('S3 phlb', 'S3 rsync --link-dest')}")
    print(f"  S3 / rsync + sync         {ratio('S3 phlb', 'S3 rsync --link-dest + sync')}")
    print(f"  S3 / S2                   {ratio('S3 phlb', 'S2 phlb')}")
    if extras and floors:
        print(f"  S3 - S2 (the no-change run right after each S3, median) = {statistics.median(extras):.2f} s;"
              f" hashing + writing (and syncing) the new copies alone = {statistics.median(floors):.2f} s")
    print(f"  verify / sha256sum        {ratio('verify phlb', 'verify sha256sum')}   (target <= 1.2)")
    print(f"  remove 1 snapshot / rm -rf {ratio('remove 1 snapshot phlb', 'remove 1 snapshot rm -rf')}   (target <= 1.0)")
    print(f"  restore / cp -r --preserve {ratio('restore phlb', 'restore cp -r --preserve')}  (target <= 1.2)")
    for tool, v in written.items():
        print(f"  S3 bytes newly written by {tool}: median {statistics.median(v) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
