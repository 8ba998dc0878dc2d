//! Micro-benchmarks: content hashing throughput and catalog insert rate.
//! `cargo bench --bench micro` (prints medians of 5 runs).

use std::path::Path;
use std::time::{Duration, Instant};

use phlb::catalog::{Access, Catalog, Writer};
use phlb::decide::CopyMeta;
use phlb::hash::{hash_reader, HashAlgo};
use phlb::progress::Counted;
use phlb::scan::{Kind, Meta};

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("micro: bench");
        return;
    }
    let data: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    for algo in [HashAlgo::Sha256, HashAlgo::Sha512] {
        let t = median(|| {
            std::hint::black_box(algo.digest(&data));
        });
        let t2 = median(|| {
            std::hint::black_box(hash_reader(algo, &mut &data[..]).unwrap());
        });
        // As backup and restore read a large file: each chunk counted for the progress
        // bar (one atomic add per chunk).
        let t3 = median(|| {
            std::hint::black_box(hash_reader(algo, &mut Counted::whole(&data[..])).unwrap());
        });
        let mbs = |d: Duration| data.len() as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{algo}: {:.0} MB/s in memory, {:.0} MB/s streamed in 1 MiB chunks, {:.0} MB/s \
             streamed and counted for the progress bar",
            mbs(t),
            mbs(t2),
            mbs(t3)
        );
    }

    const ROWS: u64 = 100_000;
    let t = median(|| {
        let (_dir, mut writer) = fresh_catalog(1);
        write_run(&mut writer, 1, ROWS, 0);
        writer.finish().unwrap();
    });
    println!(
        "catalog: {ROWS} new files (copy + path + entry each) in {:.2} s = {:.0} files/s",
        t.as_secs_f64(),
        ROWS as f64 / t.as_secs_f64()
    );
    // A second run in which every file changed: each path's version ends and a new one
    // starts (timed alone).
    let mut second = Vec::new();
    for _ in 0..5 {
        let (dir, mut writer) = fresh_catalog(1);
        write_run(&mut writer, 1, ROWS, 0);
        writer.finish().unwrap();
        let catalog = Catalog::open(&dir.path().join(".phlb"), Access::Write).unwrap();
        add_run(&catalog, 2);
        let mut writer = Writer::start(catalog.db().unwrap()).unwrap();
        let t = Instant::now();
        write_run(&mut writer, 2, ROWS, 1);
        writer.finish().unwrap();
        second.push(t.elapsed());
    }
    second.sort();
    let t = second[2];
    println!(
        "catalog: {ROWS} changed files (copy + entry each, the old version ended) in {:.2} s = {:.0} files/s",
        t.as_secs_f64(),
        ROWS as f64 / t.as_secs_f64()
    );
}

/// A catalog in a temp folder with snapshot row `id`, and a writer on it.
fn fresh_catalog(id: i64) -> (tempfile::TempDir, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let meta_dir = dir.path().join(".phlb");
    std::fs::create_dir(&meta_dir).unwrap();
    let catalog = Catalog::open(&meta_dir, Access::Write).unwrap();
    add_run(&catalog, id);
    let writer = Writer::start(catalog.db().unwrap()).unwrap();
    (dir, writer)
}

/// Snapshot row `id` of the name `bench`. The fixture row goes in by SQL of its own;
/// phlb's code runs none outside catalog.
fn add_run(catalog: &Catalog, id: i64) {
    rusqlite::Connection::open(catalog.path())
        .unwrap()
        .execute(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
             VALUES (?1, 'bench', 't' || ?1, 'incomplete', 'sha256', 'now')",
            [id],
        )
        .unwrap();
}

/// Records `rows` files in snapshot `snapshot`, each a stored copy of its own content
/// (`salt` makes the contents and sizes of another run differ).
fn write_run(writer: &mut Writer, snapshot: i64, rows: u64, salt: u64) {
    let meta = Meta {
        size: 1000 + salt,
        mtime_ns: 1 + salt as i128,
        mode: 0o644,
        uid: 0,
        gid: 0,
        xattrs: 0,
    };
    for i in 0..rows {
        let hash = HashAlgo::Sha256.digest(&(i + salt * rows).to_le_bytes());
        let copy = writer
            .insert_copy(&hash, meta.size, i + salt * rows, CopyMeta::from(meta))
            .unwrap();
        let rel = format!("dir{}/file{i}", i % 100);
        writer
            .insert_entry(
                snapshot,
                None,
                Path::new(&rel),
                Kind::File,
                &meta,
                Some(copy),
                None,
                None,
            )
            .unwrap();
    }
}
