#!/usr/bin/env python3
"""Scale runner (#33, #34): many snapshots of a big tree, and what each query costs.

    python3 benches/scale.py PHLB [--files 100000] [--snapshots 100] [--change 0.001]
                             [--reps 3] [--work /tmp/phlb-scale]

1. Writes a source tree of about FILES files: folders of 800 small or empty files (FILES
   rounded down to whole folders), plus a deep narrow branch (64 nested folders, a file
   in each).
2. Real runs of PHLB: `init`, a first backup (S1), a backup after CHANGE of the files
   changed, and a backup with nothing changed. From these it prints the catalog bytes
   per entry the no-change run added and the side-file blocks it added (a file beside the
   snapshot counts only when it has one link: a manifest shared with the run before
   costs nothing new).
3. The fast route to SNAPSHOTS: the rest are added to the catalog by SQL in the shape
   real runs give (the same tables and columns; each synthetic snapshot is the one before
   it with CHANGE of its files given a new content, copy and mtime), made before the real
   ones (an hour apart, creation sequence first), each with its folder and the small side
   files readers open (`-snapshot.json`, `-summary.txt`; no manifest: no timed query
   reads one). Their stored copies are not on disk: this times queries, not `verify`.
4. Times each query REPS times (median): `list`, `ls` of the newest snapshot's top,
   `diff` of two adjacent snapshots, `find`, `history`, `status`, `prune --dry-run`
   removing 1 and removing half, and every page of `serve` (HTTP, Bearer token).

`--source-mode` (#34) instead times the backups and a restore of the source against
`cp -a`, `cp -al` and `cp -r --preserve`, with phlb's peak RSS and bytes per file (needs
`/usr/bin/time`; every copy stays until the end, so about 5x the source in disk).

1M files need 1M inodes: the runner checks `df -i` first. A loop-mounted ext4 with
enough inodes: `truncate -s 40G img; mkfs.ext4 -N 3000000 img; mount img /mnt/scale`
then `--work /mnt/scale`. The target of #33 is each query <= 1 s at 1,000 x 1M.
"""
import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request

PER_FOLDER = 800
DEEP = 64
TOKEN = "scale-bench-token-0123456789"


def write_source(src, files):
    """Writes the source; its files were last changed a year ago, as most files of a
    real tree were (the changed runs give theirs the time of the change)."""
    folders = max(1, (files - DEEP) // PER_FOLDER)
    old = time.time() - 365 * 86400
    n = 0
    for d in range(folders):
        folder = os.path.join(src, f"d{d:05}")
        os.makedirs(folder, exist_ok=True)
        for f in range(PER_FOLDER):
            path = os.path.join(folder, f"f{f:03}")
            with open(path, "wb") as out:
                # One in ten empty; the rest 1..2 KiB, unique.
                if f % 10:
                    out.write(f"{d}/{f}\n".encode() * (1 + (f * 7) % 120))
            os.utime(path, (old, old))
            n += 1
    deep = src
    for level in range(DEEP):
        deep = os.path.join(deep, f"level{level:02}")
        os.makedirs(deep, exist_ok=True)
        with open(os.path.join(deep, "file"), "wb") as out:
            out.write(f"deep {level}\n".encode())
        n += 1
    return n


def change_source(src, fraction, round_no):
    every = max(1, round(1 / fraction))
    changed = 0
    for d in sorted(os.listdir(src)):
        if not d.startswith("d"):
            continue
        for f in range(0, PER_FOLDER, every):
            with open(os.path.join(src, d, f"f{f:03}"), "ab") as out:
                out.write(f"change {round_no}\n".encode())
            changed += 1
    return changed


def phlb(binary, root, *args, check=True):
    cmd = [binary, "--backup-root", root, "-q", *args]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and done.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    return done


def timed(fn, reps):
    times = []
    for _ in range(reps):
        start = time.monotonic()
        fn()
        times.append(time.monotonic() - start)
    return statistics.median(times)


def side_file_blocks(folder, ts):
    total = 0
    for name in os.listdir(folder):
        if name.startswith(ts) and name != ts:
            st = os.lstat(os.path.join(folder, name))
            if st.st_nlink == 1:
                total += st.st_blocks * 512
    return total


def newest_ts(folder):
    return os.readlink(os.path.join(folder, "latest"))


def add_synthetic(db_path, root, name, count, fraction):
    """Adds `count` snapshots before the real ones, each the one before with `fraction`
    of its files changed, starting from the first real snapshot's listing."""
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode = WAL")
    first = db.execute(
        "SELECT id, instant_ns, utc_offset FROM snapshot_runs ORDER BY sequence LIMIT 1"
    ).fetchone()
    base_id, base_ns, offset = first
    every = max(1, round(1 / fraction))
    # The regular files of the first snapshot, by path id modulo `every`: snapshot k
    # changes those with (path id + k) divisible by `every`.
    by_rest = {}
    for (path_id,) in db.execute(
        "SELECT path_id FROM entries WHERE snapshot_id = ? AND kind = 'file' AND copy_id IS NOT NULL",
        (base_id,),
    ):
        by_rest.setdefault(path_id % every, []).append(path_id)
    run_cols = [r[1] for r in db.execute("PRAGMA table_info(snapshot_runs)") if r[1] != "id"]
    copy_cols = [r[1] for r in db.execute("PRAGMA table_info(copies)") if r[1] not in ("id", "content_id", "ino", "mtime_ns")]
    db.execute("UPDATE snapshot_runs SET sequence = sequence + ?", (count,))
    folder = os.path.join(root, name)
    real_ts = db.execute("SELECT timestamp FROM snapshot_runs WHERE id = ?", (base_id,)).fetchone()[0]
    with open(os.path.join(folder, f"{real_ts}-summary.txt"), "rb") as f:
        summary = f.read()
    with open(os.path.join(folder, f"{real_ts}-snapshot.json")) as f:
        stamp = json.load(f)
    next_ino = 1 << 40
    for k in range(count):
        ns = base_ns - (count - k) * 3600 * 10**9
        local = time.gmtime(ns // 10**9 + (offset or 0))
        ts = time.strftime("%Y-%m-%d-%H%M%S", local)
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))
        sets = ", ".join(run_cols)
        picks = ", ".join(
            {"timestamp": "?", "instant_ns": "?", "sequence": "?", "started_at": "?", "finished_at": "?"}.get(c, c)
            for c in run_cols
        )
        args = []
        for c in run_cols:
            if c == "timestamp":
                args.append(ts)
            elif c == "instant_ns":
                args.append(ns)
            elif c == "sequence":
                args.append(k + 1)
            elif c in ("started_at", "finished_at"):
                args.append(iso)
        cur = db.execute(
            f"INSERT INTO snapshot_runs ({sets}) SELECT {picks} FROM snapshot_runs WHERE id = {base_id}",
            args,
        )
        sid = cur.lastrowid
        # The changed files of this snapshot get a new content, copy and mtime; every
        # other path keeps its version (the new row's place inherits the line's current
        # versions, as a run that finds nothing changed writes nothing). The update goes
        # through the `entries` view, whose trigger ends the old version and starts the
        # new one, as a real run's insert does.
        db.execute("DROP TABLE IF EXISTS temp.changed")
        db.execute("CREATE TEMP TABLE changed (path_id INTEGER PRIMARY KEY, new_copy INTEGER)")
        for path_id in by_rest.get((-k) % every, ()):
            old_copy, size = db.execute(
                """SELECT e.copy_id, e.size FROM entries e
                   WHERE e.snapshot_id = ? AND e.path_id = ?""",
                (sid, path_id),
            ).fetchone()
            content = db.execute(
                "INSERT INTO contents (hash, size) VALUES (?, ?)", (os.urandom(32), size + 7)
            ).lastrowid
            rest = ", ".join(copy_cols)
            copy = db.execute(
                f"""INSERT INTO copies (content_id, ino, mtime_ns, {rest})
                    SELECT ?, ?, ?, {rest} FROM copies WHERE id = ?""",
                (content, next_ino, ns, old_copy),
            ).lastrowid
            next_ino += 1
            db.execute("INSERT INTO temp.changed VALUES (?, ?)", (path_id, copy))
            db.execute(
                """UPDATE entries SET copy_id = ?, mtime_ns = ?, size = size + 7
                   WHERE snapshot_id = ? AND path_id = ?""",
                (copy, ns, sid, path_id),
            )
        db.execute(
            """UPDATE snapshot_runs SET
                 new_bytes = (SELECT coalesce(sum(e.size), 0) FROM entries e JOIN temp.changed c
                              ON c.path_id = e.path_id WHERE e.snapshot_id = ?1),
                 copied = (SELECT count(*) FROM temp.changed),
                 linked = files - (SELECT count(*) FROM temp.changed)
               WHERE id = ?1""",
            (sid,),
        )
        db.commit()
        os.makedirs(os.path.join(folder, ts), exist_ok=True)
        with open(os.path.join(folder, f"{ts}-summary.txt"), "wb") as f:
            f.write(summary)
        side = dict(stamp, instant=f"{iso[:-1]}.{ns % 10**9:09}Z", sequence=k + 1)
        with open(os.path.join(folder, f"{ts}-snapshot.json"), "w") as f:
            json.dump(side, f, indent=2)
    db.execute("ANALYZE")
    db.commit()
    db.close()


def serve_pages(binary, root, a, b, path_id, reps):
    env = dict(os.environ, PHLB_SERVE_TOKEN=TOKEN)
    server = subprocess.Popen(
        [binary, "--backup-root", root, "-q", "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        url = server.stdout.readline().decode().strip()
        base = re.match(r"(http://[^/]+)", url).group(1)
        pages = [
            "/", f"/only-here?s={b}", f"/browse?s={b}", f"/file?s={b}&p={path_id}",
            f"/history?p={path_id}", f"/diff?a={a}&b={b}", f"/diff/part?a={a}&b={b}",
            "/find?glob=f123", "/duplicates", "/duplicates/part",
        ]
        out = {}
        for page in pages:
            def get():
                req = urllib.request.Request(base + page, headers={"Authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(req, timeout=600) as r:
                    r.read()
            out["web " + page] = timed(get, reps)
        return out
    finally:
        server.terminate()
        server.wait()


def measured(cmd):
    """Runs `cmd` under /usr/bin/time after a sync: (seconds, peak RSS in MB)."""
    subprocess.run(["sync"], check=True)
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    secs, kb = done.stderr.decode().strip().splitlines()[-1].split()
    return float(secs), int(kb) / 1024


def source_mode(binary, work, files_wanted, reps):
    """#34: a big source backed up by phlb and by its peers, with phlb's peak RSS and
    bytes per file: S1 against `cp -a` (+ sync), S2 against `cp -al`, restore against
    `cp -r --preserve=mode,ownership,timestamps`. Every copy stays until the end (ext4
    is slower right after a large deletion)."""
    src, root = os.path.join(work, "src"), os.path.join(work, "root")
    files = write_source(src, files_wanted)
    phlb(binary, root, "init")
    rows = []
    run = lambda *a: [binary, "--backup-root", root, "-q", *a]
    rows.append(("S1 first backup", measured(run("backup", src)), measured(["cp", "-a", src, os.path.join(work, "cp-a")]), "cp -a"))
    for i in range(reps):
        rows.append((f"S2 no change ({i + 1})", measured(run("backup", src)),
                     measured(["cp", "-al", src, os.path.join(work, f"cp-al-{i}")]), "cp -al"))
    rows.append(("restore", measured(run("restore", "--to", os.path.join(work, "restored"), "src")),
                 measured(["cp", "-r", "--preserve=mode,ownership,timestamps", src, os.path.join(work, "cp-r")]),
                 "cp -r --preserve"))
    print(f"source mode: {files} files")
    print(f"  {'run':22} {'phlb':>9} {'peer':>9} {'ratio':>6} {'phlb RSS':>9} {'B/file':>7}  peer")
    for what, (t, rss), (pt, _), peer in rows:
        print(f"  {what:22} {t:8.2f}s {pt:8.2f}s {t / pt:6.2f} {rss:7.1f}MB {rss * 2**20 / files:7.0f}  {peer}")
    return 0


def catalog_doc_queries():
    """The example queries of docs/catalog.md (each statement of its sql block)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "docs", "catalog.md")) as f:
        text = f.read()
    block = text.split("```sql", 1)[1].split("```", 1)[0]
    lines = [l for l in block.splitlines() if not l.strip().startswith("--")]
    return [q.strip() for q in "\n".join(lines).split(";") if q.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phlb")
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--snapshots", type=int, default=100)
    ap.add_argument("--change", type=float, default=0.001)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", default="/tmp/phlb-scale")
    ap.add_argument("--source-mode", action="store_true",
                    help="time backups and a restore of the source against cp, with peak RSS (#34); no synthetic catalog")
    o = ap.parse_args()
    binary = os.path.abspath(o.phlb)
    if o.snapshots < 3:
        sys.exit("--snapshots: at least 3 (three are real runs)")
    shutil.rmtree(o.work, ignore_errors=True)
    os.makedirs(o.work)
    vfs = os.statvfs(o.work)
    need = int(o.files * (5 if o.source_mode else 2.3)) + 10_000
    if vfs.f_favail < need:
        sys.exit(f"{o.work}: {vfs.f_favail} free inodes, {need} needed (see the loop-mount note in --help)")
    if o.source_mode:
        return source_mode(binary, o.work, o.files, o.reps)
    src, root = os.path.join(o.work, "src"), os.path.join(o.work, "root")
    files = write_source(src, o.files)
    phlb(binary, root, "init")
    db_path = os.path.join(root, ".phlb", "catalog.sqlite3")
    s1 = timed(lambda: phlb(binary, root, "backup", src), 1)
    changed = change_source(src, o.change, 1)
    phlb(binary, root, "backup", src)
    subprocess.run(["sqlite3", db_path, "PRAGMA wal_checkpoint(TRUNCATE)"], check=True, stdout=subprocess.DEVNULL)
    before = os.path.getsize(db_path)
    s2 = timed(lambda: phlb(binary, root, "backup", src), 1)
    subprocess.run(["sqlite3", db_path, "PRAGMA wal_checkpoint(TRUNCATE)"], check=True, stdout=subprocess.DEVNULL)
    after = os.path.getsize(db_path)
    folder = os.path.join(root, "src")
    side = side_file_blocks(folder, newest_ts(folder))
    print(f"source: {files} files, {changed} changed between runs")
    print(f"S1 (first backup) {s1:.2f} s, S2 (no change) {s2:.2f} s")
    print(f"no-change run: catalog +{(after - before) / files:.1f} bytes per entry, side files +{side} bytes")
    start = time.monotonic()
    add_synthetic(db_path, root, "src", o.snapshots - 3, o.change)
    total = os.path.getsize(db_path)
    print(f"fast route: {o.snapshots - 3} snapshots in {time.monotonic() - start:.0f} s; "
          f"catalog {total / 2**20:.0f} MiB = {total / (files * o.snapshots):.1f} bytes per entry per snapshot")
    db = sqlite3.connect(db_path)
    ids = [r[0] for r in db.execute("SELECT id FROM snapshot_runs ORDER BY sequence")]
    ts = {i: t for i, t in db.execute("SELECT id, timestamp FROM snapshot_runs")}
    path_id = db.execute("SELECT id FROM paths WHERE path = CAST('d00001/f011' AS BLOB)").fetchone()[0]
    db.close()
    # Two adjacent snapshots of the synthetic run (the real ones when there are none).
    synthetic = ids[: o.snapshots - 3] if o.snapshots >= 5 else ids
    a, b = synthetic[len(synthetic) // 2 - 1], synthetic[len(synthetic) // 2]
    q = lambda *args: (lambda: phlb(binary, root, *args))
    keep_all_but_one = str(o.snapshots - 1)
    results = {
        "list": timed(q("list"), o.reps),
        "ls (top of newest)": timed(q("ls", "src"), o.reps),
        "diff (adjacent)": timed(q("diff", f"src/{ts[a]}", f"src/{ts[b]}"), o.reps),
        "find d00001/f123 (one path)": timed(q("find", "d00001/f123"), o.reps),
        "find f123 (a path in every folder)": timed(q("find", "f123"), o.reps),
        "history d00001/f011": timed(q("history", "d00001/f011"), o.reps),
        "status": timed(q("status"), o.reps),
        "prune --dry-run (remove 1)": timed(q("prune", "--dry-run", "--keep-last", keep_all_but_one), o.reps),
        "prune --dry-run (remove half)": timed(q("prune", "--dry-run", "--keep-last", str(o.snapshots // 2)), o.reps),
    }
    results.update(serve_pages(binary, root, a, b, path_id, o.reps))
    # The documented example queries, on this root's name and one of its files.
    for n, sql in enumerate(catalog_doc_queries(), 1):
        sql = sql.replace("'Documents'", "'src'").replace("'notes/todo.txt'", "'d00001/f011'")
        results[f"docs/catalog.md query {n}"] = timed(q("sql", "--format", "csv", sql), o.reps)
    print(f"\nmedian of {o.reps}, {o.snapshots} snapshots x {files} files (target <= 1 s):")
    for what, took in results.items():
        flag = "" if took <= 1.0 else "   over 1 s"
        print(f"  {what:34} {took:7.3f} s{flag}")
    return 0 if all(t <= 1.0 for t in results.values()) else 3


if __name__ == "__main__":
    sys.exit(main())
