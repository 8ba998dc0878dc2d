//! Owns the removal plan of prune and forget: which snapshots go and why (what that
//! frees is `freed`).

use std::path::Path;

use anyhow::Result;

use crate::catalog::prune::Member;
use crate::catalog::snapshots::Status;
use crate::catalog::trim::{self, Old};
use crate::catalog::Db;
use crate::layout::{snapshot_dir_rel, timestamp_local};
use crate::retention::{self, Policy, Rule};

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
    pub member: Member,
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
pub fn by_policy(
    members: Vec<Member>,
    policy: Option<&Policy>,
    format: &str,
    root: &Path,
) -> Vec<Item> {
    let mut names: Vec<String> = members.iter().map(|m| m.row.name.clone()).collect();
    names.sort();
    names.dedup();
    let on_disk = |m: &Member| {
        root.join(snapshot_dir_rel(&m.row.name, &m.row.timestamp, true))
            .symlink_metadata()
            .is_ok_and(|md| md.is_dir())
    };
    let mut items = Vec::new();
    for name in names {
        let mut group: Vec<&Member> = members.iter().filter(|m| m.row.name == name).collect();
        // Oldest first by the time in the name (`-10` after `-9`), then as recorded.
        group.sort_by_cached_key(|m| (order_of(m, format), m.row.id));
        let present: Vec<&Member> = group
            .iter()
            .copied()
            .filter(|m| m.row.status == Status::Complete && on_disk(m))
            .collect();
        let times: Vec<_> = present.iter().map(|m| taken_at(m, format)).collect();
        let verdicts = match policy {
            Some(policy) => retention::select(policy, &times),
            None => vec![retention::Verdict::default(); times.len()],
        };
        let mut verdict_of = present.iter().zip(verdicts);
        for m in group {
            let action = match m.row.status {
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

/// The local time snapshot `m` was taken: from its folder name, or (a name the current
/// SUB_DIR_FORMATTER cannot read) from when its run started.
fn taken_at(m: &Member, format: &str) -> chrono::NaiveDateTime {
    timestamp_local(&m.row.timestamp, format).unwrap_or_else(|| {
        chrono::DateTime::parse_from_rfc3339(&m.started_at)
            .map(|t| t.with_timezone(&chrono::Local).naive_local())
            .unwrap_or_default()
    })
}

/// Where snapshot `m` stands among those of its name (see `layout::timestamp_order`).
fn order_of(m: &Member, format: &str) -> (chrono::NaiveDateTime, u64) {
    let (_, suffix, _) = crate::layout::timestamp_order(&m.row.timestamp, format);
    (taken_at(m, format), suffix)
}

/// Refuses a name whose snapshot times cannot be trusted to say which is newer: a run
/// named later than a run made after it (by more than a daylight-saving or time-zone
/// shift), or a name in the future. The clock lied for one of them; prune would keep the
/// wrong one.
pub fn check_clock(members: &[Member], format: &str) -> Result<()> {
    const SHIFT: i64 = 3 * 3600;
    let now = crate::clock::now_local().naive_local();
    for m in members {
        let t = taken_at(m, format);
        if (t - now).num_seconds() > 86_400 {
            anyhow::bail!(
                "{}: its name says {t}, in the future: the clock was wrong when it was made, so \
                 prune cannot tell which snapshot is newest; remove it with `phlb forget {}` \
                 (or rename it), then prune",
                m.row.label(),
                m.row.label()
            );
        }
    }
    let mut runs: Vec<&Member> = members.iter().filter(|m| m.made_by_run).collect();
    runs.sort_by_key(|m| (m.row.name.clone(), m.row.id));
    for pair in runs.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.row.name != b.row.name {
            continue;
        }
        let (ta, tb) = (taken_at(a, format), taken_at(b, format));
        if (ta - tb).num_seconds() > SHIFT {
            anyhow::bail!(
                "{}: named {ta}, but {} was made after it and is named {tb}: the clock was wrong \
                 for one of them, so prune cannot tell which is newer; remove the wrong one with \
                 `phlb forget NAME/TIMESTAMP`, then prune",
                a.row.label(),
                b.row.label()
            );
        }
    }
    Ok(())
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
            .map(|i| i.member.row.id),
    );
    let mut names: Vec<&str> = items.iter().map(|i| i.member.row.name.as_str()).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        out.extend(trim::older_versions(db, name, keep, &removed)?);
    }
    Ok(out)
}

/// Ids of the snapshots the plan removes (with their folders).
pub fn removed_ids(items: &[Item]) -> Vec<i64> {
    items
        .iter()
        .filter(|i| matches!(i.action, Action::Remove(r) if r != Reason::Missing))
        .map(|i| i.member.row.id)
        .collect()
}
