//! What `verify` keeps of the damage it finds: damaged copies recorded in the catalog
//! (never linked again), copies read good promoted, and damage recorded by earlier runs
//! reported until it is repaired.

use std::collections::HashSet;

use anyhow::Result;

use super::Report;
use crate::catalog::damage::{any_unverified, damaged_paths, record_verdict, Verdict};
use crate::catalog::{Db, SnapshotRow};
use crate::units::one_line;

/// Records in the catalog what this run found: damaged copies are never linked to
/// again; unverified copies that read good become link sources.
pub(super) fn record_verdicts(db: &Db, report: &Report) -> Result<()> {
    let tx = db.begin()?;
    for &id in &report.damaged {
        record_verdict(&tx, id, Verdict::Damaged)?;
    }
    // Most catalogs hold no unverified copy: then the good reads change nothing.
    if any_unverified(&tx)? {
        for id in report.good.iter() {
            record_verdict(&tx, id, Verdict::Good)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Reports the paths of the verified snapshots whose copy an earlier run recorded as
/// damaged: they stay a problem until repaired or their snapshot is gone.
pub(super) fn recorded_damage(db: &Db, targets: &[SnapshotRow], report: &mut Report) -> Result<()> {
    let ids: HashSet<i64> = targets.iter().map(|s| s.id).collect();
    for d in damaged_paths(db)? {
        if !ids.contains(&d.snapshot_id) || report.damaged.contains(&d.copy_id) {
            continue;
        }
        report.problem(
            &format!("{}/{}", d.snapshot, one_line(&d.rel)),
            &format!(
                "stored copy recorded as damaged (since {}); `phlb verify --repair` relinks it to a good copy",
                d.damaged_at
            ),
        );
    }
    Ok(())
}
