//! Owns the removal plan of prune and forget: which snapshots go and why (what that
//! frees is `freed`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::catalog::snapshots::Status;
use crate::catalog::trim::{self, Old};
use crate::catalog::Db;
use crate::catalog::SnapshotRow;
use crate::layout::snapshot_dir_rel;
use crate::retention::{self, Policy, Rule};
use crate::stamp::SourceId;

/// Why a snapshot goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No rule of the policy keeps it.
    Policy,
    /// A killed run left it unfinished.
    Incomplete,
    /// Named on the command line (forget).
    Named,
    /// Its folder is gone from disk (forget --missing): only its rows go.
    Missing,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Policy => "policy",
            Reason::Incomplete => "incomplete",
            Reason::Named => "named",
            Reason::Missing => "missing",
        }
    }
}

/// What happens to one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Keep(Vec<Rule>),
    Remove(Reason),
    /// Recorded complete, but its folder is gone (deleted by hand): left alone, and it
    /// counts for nothing (`forget --missing` drops it).
    Gone,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub member: SnapshotRow,
    pub action: Action,
}

impl Item {
    pub fn removes(&self) -> bool {
        matches!(self.action, Action::Remove(_))
    }
}

/// Applies `policy` to each name of `members`: complete snapshots by the policy (all
/// kept without one: `--keep-versions` alone), incomplete ones removed, missing ones
/// left alone (`forget --missing` drops those), and complete ones whose folder is gone
/// from under `root` (deleted by hand) marked `Gone`: they count for nothing, so a
/// deleted newest snapshot never makes prune remove the last one left on disk.
pub fn by_policy(members: Vec<SnapshotRow>, policy: Option<&Policy>, root: &Path) -> Vec<Item> {
    let groups = source_groups(&members);
    let on_disk = |m: &SnapshotRow| {
        root.join(snapshot_dir_rel(&m.name, &m.timestamp, true))
            .symlink_metadata()
            .is_ok_and(|md| md.is_dir())
    };
    let mut items = Vec::new();
    for key in groups.keys() {
        let mut group: Vec<&SnapshotRow> = members
            .iter()
            .filter(|m| groups[key].contains(&m.id))
            .collect();
        // Oldest first in the creation order: the last is the newest.
        group.sort_by_key(|m| m.order());
        let present: Vec<&SnapshotRow> = group
            .iter()
            .copied()
            .filter(|m| m.status == Status::Complete && on_disk(m))
            .collect();
        let times: Vec<_> = present.iter().map(|m| m.stamp.local()).collect();
        let verdicts = match policy {
            Some(policy) => retention::select(policy, &times),
            None => vec![retention::Verdict::default(); times.len()],
        };
        let mut verdict_of = present.iter().zip(verdicts);
        for m in group {
            let action = match m.status {
                Status::Complete if !on_disk(m) => Action::Gone,
                Status::Complete => {
                    let (_, v) = verdict_of
                        .next()
                        .expect("one verdict per complete snapshot on disk");
                    if v.keep() || policy.is_none() {
                        Action::Keep(v.kept_by)
                    } else {
                        Action::Remove(Reason::Policy)
                    }
                }
                Status::Incomplete => Action::Remove(Reason::Incomplete),
                Status::Missing => continue,
            };
            items.push(Item {
                member: m.clone(),
                action,
            });
        }
    }
    items
}

/// A name and, for a name whose snapshots come from more than one source (a root made
/// before a name was bound to one source), the source: what prune plans apart.
pub type GroupKey = (String, Option<SourceId>);

/// The snapshots (ids) of each group prune plans apart: one per name, or per history of a
/// name that mixes sources (`stamp::histories`: a source moved with `--source-moved`
/// continues one; a tree copied in by hand goes with the newest source's), keyed by the
/// newest source of each history.
pub fn source_groups(members: &[SnapshotRow]) -> BTreeMap<GroupKey, Vec<i64>> {
    let mut by_name: BTreeMap<&str, Vec<&SnapshotRow>> = BTreeMap::new();
    for m in members {
        by_name.entry(&m.name).or_default().push(m);
    }
    let mut out: BTreeMap<GroupKey, Vec<i64>> = BTreeMap::new();
    for (name, mut list) in by_name {
        list.sort_by_key(|m| m.order());
        let sources: Vec<_> = list
            .iter()
            .map(|m| (m.stamp.source.as_ref(), m.stamp.source_moved))
            .collect();
        let (history, count) = crate::stamp::histories(&sources);
        for (m, h) in list.into_iter().zip(history) {
            let key = (name.to_string(), if count > 1 { h } else { None });
            out.entry(key).or_default().push(m.id);
        }
    }
    out
}

/// Lines saying which names prune plans per source.
pub fn per_source_notes(members: &[SnapshotRow]) -> Vec<String> {
    let groups = source_groups(members);
    let mut out = Vec::new();
    for ((name, source), ids) in &groups {
        if let Some(source) = source {
            out.push(format!(
                "{name} holds the snapshots of more than one source: planned per \
                 source; {} snapshot(s) of {}",
                ids.len(),
                source.show()
            ));
        }
    }
    out
}

/// Refuses a name whose snapshot times cannot be trusted to say which is newest: a run
/// whose instant is more than `stamp::CLOCK_SLACK_SECS` before that of a run made before
/// it, or an instant that far in the future. The clock lied for one of them; prune would
/// keep the wrong one.
pub fn check_clock(members: &[SnapshotRow]) -> Result<()> {
    let now = crate::clock::now_utc()
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX);
    match crate::stamp::clock_anomalies(members.iter().map(SnapshotRow::timed), now).first() {
        Some(a) => anyhow::bail!("{a}; prune cannot tell which snapshot to keep: {}", a.fix()),
        None => Ok(()),
    }
}

/// The older versions `--keep-versions keep` removes from the snapshots the plan keeps
/// (of the names in `items`).
pub fn trims(db: &Db, items: &[Item], keep: Option<u32>) -> Result<Vec<Old>> {
    let Some(keep) = keep else {
        return Ok(Vec::new());
    };
    // Versions are counted only in the snapshots that stay on disk.
    let mut removed = removed_ids(items);
    removed.extend(
        items
            .iter()
            .filter(|i| i.action == Action::Gone)
            .map(|i| i.member.id),
    );
    // Versions are counted per name, and per source of a name that mixes sources.
    let members: Vec<SnapshotRow> = items.iter().map(|i| i.member.clone()).collect();
    let groups = source_groups(&members);
    let mut out = Vec::new();
    for ((name, _), ids) in &groups {
        let mut skip = removed.clone();
        skip.extend(
            groups
                .iter()
                .filter(|((other, _), theirs)| other == name && *theirs != ids)
                .flat_map(|(_, theirs)| theirs.iter().copied()),
        );
        out.extend(trim::older_versions(db, name, keep, &skip)?);
    }
    Ok(out)
}

/// Ids of the snapshots the plan removes (with their folders).
pub fn removed_ids(items: &[Item]) -> Vec<i64> {
    items
        .iter()
        .filter(|i| matches!(i.action, Action::Remove(r) if r != Reason::Missing))
        .map(|i| i.member.id)
        .collect()
}
