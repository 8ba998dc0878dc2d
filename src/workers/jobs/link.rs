//! Owns the link and clone jobs' outcome: a hardlink to a stored copy, or a clone of
//! it (`LINK = reflink`), each made only while the source still is what it should be.

use crate::store;

/// The outcome of a link job.
#[derive(Debug)]
pub enum Linked {
    Yes,
    /// The stored copy is gone, changed, or full: find or make another.
    Unusable,
    /// The filesystem cannot link here.
    Unsupported(std::io::Error),
    /// Linking failed for another reason.
    Failed(std::io::Error),
}

/// What a link or clone came to (`None`: the source cannot serve).
pub(super) fn linked(outcome: Option<store::LinkOutcome>) -> Linked {
    match outcome {
        Some(store::LinkOutcome::Linked) => Linked::Yes,
        Some(store::LinkOutcome::Full) | None => Linked::Unusable,
        Some(store::LinkOutcome::Unsupported(e)) => Linked::Unsupported(e),
        Some(store::LinkOutcome::Failed(e)) => Linked::Failed(e),
    }
}
