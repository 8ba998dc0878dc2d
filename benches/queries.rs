//! Times the query commands and prune's planning on a synthetic catalog of 20 snapshots
//! x 100k files (2M entries): `cargo bench --bench queries`. Target: each under a
//! second. `PHLB_BENCH_SNAPSHOTS=100` makes it 100 snapshots (10M entries), the size
//! prune's planning is held to.

use std::time::{Duration, Instant};

use phlb::catalog::{queries, Access, Catalog};

/// Files per snapshot (`PHLB_BENCH_FILES`, default 100k, at least 4242: the pages timed
/// look up path 4242; `benches/smoke.sh` runs 5,000).
fn files() -> i64 {
    std::env::var("PHLB_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Snapshots in the synthetic catalog (`PHLB_BENCH_SNAPSHOTS`, default 20).
fn snapshots() -> i64 {
    std::env::var("PHLB_BENCH_SNAPSHOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn build(meta_dir: &std::path::Path, snapshots: i64) -> Catalog {
    let files = files();
    let catalog = Catalog::open(meta_dir, Access::Write).unwrap();
    // The synthetic rows go in by SQL of its own; phlb's code runs none outside catalog.
    let conn = rusqlite::Connection::open(catalog.path()).unwrap();
    let started = Instant::now();
    // Every snapshot holds all paths; in snapshot s the paths with i % 50 == s % 50 have
    // a version of their own (2% change per run), the rest keep their first copy.
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {files})
         INSERT INTO paths (id, path)
           SELECT i, CAST('dir' || (i % 997) || '/sub' || (i % 13) || '/file' || i || '.txt' AS BLOB) FROM n;
         WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < {snapshots})
         INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at, files, bytes)
           SELECT k, 'docs', printf('2026-01-%02d-120000', k), 'complete', 'sha256', '2026-01-01T00:00:00Z', {files}, 0 FROM s;
         CREATE TEMP TABLE plan AS
           WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {files}),
                s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < {snapshots})
           SELECT k AS snap, i AS path_id,
                  CASE WHEN i % 50 = k % 50 AND k > 1 THEN i + {files} * k ELSE i END AS copy_id
           FROM s, n;
         INSERT INTO contents (id, hash, size)
           SELECT copy_id, randomblob(32), 1000 + copy_id % 5000 FROM plan GROUP BY copy_id;
         -- about 1% of paths hold the same content as another path (duplicates)
         INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns)
           SELECT copy_id, CASE WHEN copy_id % 97 = 0 AND copy_id <= {files} THEN copy_id - 1 ELSE copy_id END,
                  copy_id, 420, 0, 0, 0 FROM plan GROUP BY copy_id;
         INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id)
           SELECT snap, path_id, 'file', 1000 + copy_id % 5000, copy_id, 420, 0, 0, copy_id FROM plan;
         COMMIT;
         ANALYZE;"
    ))
    .unwrap();
    eprintln!(
        "built catalog with {} entries in {:.1} s",
        files * snapshots,
        started.elapsed().as_secs_f64()
    );
    drop(conn);
    catalog
}

fn time(label: &str, runs: usize, f: impl FnMut() -> usize) {
    time_within(label, runs, Duration::from_secs(1), f)
}

/// Times `f` `runs` times and prints the median against `goal`.
fn time_within(label: &str, runs: usize, goal: Duration, mut f: impl FnMut() -> usize) {
    let mut times: Vec<Duration> = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        rows = f();
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let verdict = if median <= goal {
        "ok".to_string()
    } else {
        format!("OVER {} ms", goal.as_millis())
    };
    println!(
        "{label:<32} {:>8.1} ms  ({rows} rows)  {verdict}",
        median.as_secs_f64() * 1000.0
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("queries: bench");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join(".phlb");
    std::fs::create_dir(&meta).unwrap();
    let snapshots = snapshots();
    let catalog = build(&meta, snapshots);
    let db = catalog.db().unwrap();
    println!(
        "query commands on {} snapshots x {} files (median of 3)",
        snapshots,
        files()
    );
    time("list", 3, || queries::list(&db, None).unwrap().len());
    time("diff (two snapshots)", 3, || {
        phlb::ops::query::diff::between(&db, 10, 11)
            .unwrap()
            .changes
            .len()
    });
    time("find '*/file4242*.txt'", 3, || {
        queries::find(&db, "*/file4242*.txt", None).unwrap().len()
    });
    time("find 'file77.txt' (name)", 3, || {
        queries::find(&db, "file77.txt", None).unwrap().len()
    });
    time("history", 3, || {
        queries::sightings(&db, b"dir100/sub9/file100.txt", None)
            .unwrap()
            .unwrap()
            .len()
    });
    time("duplicates (one snapshot)", 3, || {
        queries::duplicates(&db, &[snapshots]).unwrap().len()
    });
    time("sql count(*) files view", 3, || {
        phlb::catalog::user_sql::query(
            &db,
            &format!("SELECT count(*) FROM files WHERE snapshot_id = {snapshots}"),
        )
        .unwrap()
        .rows
        .len()
    });
    serve_pages(
        &db,
        &Pages {
            name: "docs",
            snapshots,
            folder: b"dir500/sub6",
            path_id: 4242,
            glob: "*file4242*",
        },
    );
    identical_files(snapshots);
    use phlb::catalog::{prune, trim};
    time("prune plan: oldest snapshot", 3, || {
        prune::freed(&db, &[1], &[]).unwrap().copies.len()
    });
    let half: Vec<i64> = (1..=snapshots / 2).collect();
    time("prune plan: oldest half", 3, || {
        prune::freed(&db, &half, &[]).unwrap().copies.len()
    });
    time("prune --keep-versions 3 plan", 3, || {
        trim::older_versions(&db, "docs", 3, &[]).unwrap().len()
    });
}

/// What `serve_pages` asks of a catalog: its name, a folder, a path id and a glob.
struct Pages<'a> {
    name: &'a str,
    snapshots: i64,
    folder: &'a [u8],
    path_id: i64,
    glob: &'a str,
}

/// The queries behind each `phlb serve` page's response and the requests a page makes
/// after it shows (only-here bytes, a diff part), the goal 200 ms each at 100 snapshots
/// x 100k files.
fn serve_pages(db: &phlb::catalog::Db, p: &Pages) {
    use phlb::catalog::web;
    let goal = Duration::from_millis(200);
    let config = phlb::config::Config::default();
    let n = p.snapshots;
    time_within("serve /", 5, goal, || {
        let now = phlb::clock::now_utc();
        let s = phlb::ops::query::status::statuses(db, &config, now, &|_, _| false).unwrap();
        let c = web::chart_points(db, p.name, 500).unwrap();
        let r = web::runs(db, p.name, 0, 26).unwrap();
        s.len() + c.len() + r.len() + web::run_count(db, p.name).unwrap() as usize
    });
    time_within("serve /only-here (first)", 5, goal, || {
        web::only_here(db, 1).unwrap() as usize
    });
    time_within("serve /only-here (newest)", 5, goal, || {
        web::only_here(db, n).unwrap() as usize
    });
    time_within("serve /browse top folder", 5, goal, || {
        web::children(db, n, b".", 0, 200).unwrap().0.len()
    });
    time_within("serve /browse a folder", 5, goal, || {
        web::children(db, n, p.folder, 0, 200).unwrap().0.len()
    });
    time_within("serve /file", 5, goal, || {
        let e = web::entry(db, n, p.path_id).unwrap().unwrap();
        web::path_id(db, &e.path).unwrap().unwrap_or(0) as usize
    });
    time_within("serve /history", 5, goal, || {
        let path = web::path_of(db, p.path_id).unwrap().unwrap();
        let s = queries::sightings(db, &path, None).unwrap().unwrap();
        phlb::ops::query::history::versions(s).len()
    });
    time_within(&format!("serve /find '{}'", p.glob), 5, goal, || {
        web::find_page(db, p.glob, None, 0, 200).unwrap().len()
    });
    time_within("serve /duplicates/part (newest)", 5, goal, || {
        queries::duplicates(db, &[n]).unwrap().len()
    });
    // The diff of the newest snapshot with the one before, as the snapshots page links.
    time_within("serve /diff/part (newest)", 5, goal, || {
        let d = phlb::ops::query::diff::between(db, n - 1, n).unwrap();
        d.changes.len() + d.meta.len()
    });
}

/// Every serve page when every file of every snapshot has the same content (100k identical
/// files per snapshot: one copy, linked by every entry), the case that was quadratic.
fn identical_files(snapshots: i64) {
    let files = files();
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join(".phlb");
    std::fs::create_dir(&meta).unwrap();
    let catalog = Catalog::open(&meta, Access::Write).unwrap();
    let conn = rusqlite::Connection::open(catalog.path()).unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {files})
         INSERT INTO paths (id, path) SELECT i, CAST('same/' || i AS BLOB) FROM n;
         WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < {snapshots})
         INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at, files, bytes)
           SELECT k, 'same', printf('2026-01-%02d-120000', k), 'complete', 'sha256', '2026-01-01T00:00:00Z', {files}, 0 FROM s;
         INSERT INTO contents (id, hash, size) VALUES (1, randomblob(32), 0), (2, randomblob(32), 7);
         INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns)
           VALUES (1, 1, 1, 420, 0, 0, 0), (2, 2, 2, 420, 0, 0, 0);
         INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id)
           WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {files}),
                s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < {snapshots})
           SELECT k, i, 'file', 0, 0, 420, 0, 0, CASE WHEN k = {snapshots} AND i = 1 THEN 2 ELSE 1 END
           FROM s, n;
         COMMIT;
         ANALYZE;"
    ))
    .unwrap();
    drop(conn);
    let db = catalog.db().unwrap();
    println!("{snapshots} snapshots x {files} identical files");
    serve_pages(
        &db,
        &Pages {
            name: "same",
            snapshots,
            folder: b"same",
            path_id: 4242,
            glob: "*/4242*",
        },
    );
}
