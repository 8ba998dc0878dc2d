//! Owns which source history each snapshot of a name belongs to: a name is one source,
//! a moved source continues it, and a root made before that rule may mix several.

use super::SourceId;

/// Which history each snapshot of one name belongs to, given in the creation order as
/// (source, made with `--source-moved`): a source that follows another by a move
/// continues its history; any other change of source is a second history mixed into the
/// name (a root made before a name was bound to one source). Snapshots without a source
/// (copied in by hand) go with the history of the newest source, which owns the name.
/// Returns each snapshot's history as the newest source of that history, and how many
/// histories there are.
pub fn histories(list: &[(Option<&SourceId>, bool)]) -> (Vec<Option<SourceId>>, usize) {
    let mut sources: Vec<SourceId> = Vec::new();
    for s in list.iter().filter_map(|(s, _)| *s) {
        if !sources.contains(s) {
            sources.push(s.clone());
        }
    }
    let index = |s: &SourceId| sources.iter().position(|x| x == s).expect("listed");
    let mut parent: Vec<usize> = (0..sources.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut prev: Option<usize> = None;
    for (source, moved) in list {
        let Some(s) = source else { continue };
        let i = index(s);
        if let (Some(p), true) = (prev, *moved) {
            let (a, b) = (find(&mut parent, p), find(&mut parent, i));
            parent[a] = b;
        }
        prev = Some(i);
    }
    // Each history is shown as its newest source.
    let mut newest_of: Vec<Option<usize>> = vec![None; sources.len()];
    for s in list.iter().filter_map(|(s, _)| *s) {
        let i = index(s);
        let root = find(&mut parent, i);
        newest_of[root] = Some(i);
    }
    let count = newest_of.iter().flatten().count();
    let owner = prev.map(|p| find(&mut parent, p));
    let out = list
        .iter()
        .map(|(source, _)| {
            let root = match source {
                Some(s) => Some(find(&mut parent, index(s))),
                None => owner,
            };
            root.and_then(|r| newest_of[r]).map(|i| sources[i].clone())
        })
        .collect();
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_source_continues_its_history_a_mixed_one_does_not() {
        let s = |p: &str| SourceId {
            host: "h".into(),
            path: p.as_bytes().to_vec(),
        };
        let (a, b, c) = (s("/a"), s("/b"), s("/c"));
        let show = |list: &[(Option<&SourceId>, bool)]| {
            let (h, n) = histories(list);
            let names: Vec<String> = h
                .iter()
                .map(|x| x.as_ref().map_or("-".into(), |x| x.show()))
                .collect();
            (names, n)
        };
        // a, then b by a move, then c mixed in: two histories, a's continued by b.
        let (h, n) = show(&[
            (Some(&a), false),
            (Some(&b), true),
            (Some(&c), false),
            (None, false),
        ]);
        assert_eq!(n, 2);
        assert_eq!(h, vec!["h:/b", "h:/b", "h:/c", "h:/c"]);
        // Interleaved without moves: one history per source.
        let (h, n) = show(&[(Some(&a), false), (Some(&b), false), (Some(&a), false)]);
        assert_eq!(
            (h, n),
            (vec!["h:/a".into(), "h:/b".into(), "h:/a".into()], 2)
        );
        let (_, n) = show(&[(None, false), (Some(&a), false)]);
        assert_eq!(n, 1);
    }
}
