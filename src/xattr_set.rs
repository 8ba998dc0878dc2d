//! Owns one entry's extended attributes as phlb keeps them: a set of names and values,
//! sorted by name, with one canonical encoding (what the catalog stores once per distinct
//! set) and its hash (how equal sets are found). Also which attributes a run reads, and
//! the order the kernel needs them put back in.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

use crate::sys::xattr::Attr;

/// The access ACL and the default ACL (folders), as the kernel stores them.
pub const ACL_ACCESS: &[u8] = b"system.posix_acl_access";
pub const ACL_DEFAULT: &[u8] = b"system.posix_acl_default";
/// File capabilities: cleared by the kernel when the owner or the content changes, so
/// put back last.
pub const CAPABILITY: &[u8] = b"security.capability";

/// A non-empty set of extended attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XattrSet {
    /// Sorted by name, names unique.
    attrs: Vec<Attr>,
}

impl XattrSet {
    /// The set of `attrs`; None when there are none.
    pub fn new(mut attrs: Vec<Attr>) -> Option<XattrSet> {
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        attrs.dedup_by(|a, b| a.0 == b.0);
        (!attrs.is_empty()).then_some(XattrSet { attrs })
    }

    /// The attributes, sorted by name.
    pub fn attrs(&self) -> &[Attr] {
        &self.attrs
    }

    /// The canonical encoding: a count, then each name and value with its length (all
    /// lengths `u32` little-endian).
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.attrs.iter().map(|(n, v)| 8 + n.len() + v.len()).sum();
        let mut out = Vec::with_capacity(4 + size);
        out.extend_from_slice(&(self.attrs.len() as u32).to_le_bytes());
        for (name, value) in &self.attrs {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        }
        out
    }

    /// The set an encoding holds; an error for bytes that are not one.
    pub fn decode(bytes: &[u8]) -> Result<XattrSet> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8]> {
            if rest.len() < n {
                bail!("an attribute set in the catalog is cut short");
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let len = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
        let count = len(take(4)?);
        let mut attrs = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let n = len(take(4)?);
            let name = take(n)?.to_vec();
            let n = len(take(4)?);
            let value = take(n)?.to_vec();
            attrs.push((name, value));
        }
        match XattrSet::new(attrs) {
            Some(set) if rest.is_empty() => Ok(set),
            _ => bail!("an attribute set in the catalog is not one"),
        }
    }

    /// The SHA-256 of the encoding: equal sets, equal hashes.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.encode()).into()
    }

    /// The attributes in the order they are put back, around the mode: first every one
    /// but ACLs and capabilities (before the mode, which may take away the owner's
    /// write permission that `user.*` needs), then, after the mode, the ACLs (which
    /// then decide the permission bits, the mask included) and capabilities last
    /// (after the owner and the content, which clear them).
    pub fn in_restore_order(&self) -> (Vec<&Attr>, Vec<&Attr>) {
        let late = |a: &&Attr| a.0 == ACL_ACCESS || a.0 == ACL_DEFAULT || a.0 == CAPABILITY;
        let before: Vec<&Attr> = self.attrs.iter().filter(|a| !late(a)).collect();
        let mut after: Vec<&Attr> = self.attrs.iter().filter(late).collect();
        after.sort_by_key(|a| a.0 == CAPABILITY);
        (before, after)
    }

    /// The permission bits the access ACL grants, when the set has one (see
    /// `sys::xattr::acl_bits`).
    pub fn acl_bits(&self) -> Option<u32> {
        let (_, value) = self.attrs.iter().find(|a| a.0 == ACL_ACCESS)?;
        crate::sys::xattr::acl_bits(value)
    }

    /// The names, for people: `user.a, system.posix_acl_access`.
    pub fn names(&self) -> String {
        let names: Vec<String> = self
            .attrs
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
            .collect();
        names.join(", ")
    }
}

/// A value for people: text when it is printable UTF-8 (a trailing NUL dropped), else
/// `0x` and hex (ACLs and capabilities are binary).
pub fn shown_value(value: &[u8]) -> String {
    let text = value.strip_suffix(&[0]).unwrap_or(value);
    match std::str::from_utf8(text) {
        Ok(t) if t.chars().all(|c| !c.is_control()) => format!("\"{t}\""),
        _ => format!("0x{}", crate::hash::hex(value)),
    }
}

/// Which attributes a run reads: every namespace as root (`user`, `security`,
/// `trusted`, `system.posix_acl_*`); otherwise `user.*` and POSIX ACLs, the ones an
/// owner may put back on its own files (`security.*` and `trusted.*` need privileges).
pub fn readable(as_root: bool) -> impl Fn(&[u8]) -> bool {
    move |name: &[u8]| {
        name.starts_with(b"user.")
            || name == ACL_ACCESS
            || name == ACL_DEFAULT
            || (as_root && (name.starts_with(b"security.") || name.starts_with(b"trusted.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(n: &str, v: &[u8]) -> Attr {
        (n.as_bytes().to_vec(), v.to_vec())
    }

    #[test]
    fn sets_are_canonical_and_round_trip() {
        let a = XattrSet::new(vec![attr("user.b", b"2"), attr("user.a", b"")]).unwrap();
        let b = XattrSet::new(vec![attr("user.a", b""), attr("user.b", b"2")]).unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_eq!(XattrSet::decode(&a.encode()).unwrap(), a);
        assert!(XattrSet::new(Vec::new()).is_none());
        let c = XattrSet::new(vec![attr("user.a", b"x"), attr("user.b", b"2")]).unwrap();
        assert_ne!(a.hash(), c.hash());
        assert!(XattrSet::decode(&a.encode()[..5]).is_err());
        let mut long = a.encode();
        long.push(0);
        assert!(XattrSet::decode(&long).is_err());
    }

    #[test]
    fn acls_follow_the_mode_and_capabilities_come_last() {
        let set = XattrSet::new(vec![
            attr("security.capability", b"c"),
            attr("user.z", b"z"),
            attr("system.posix_acl_access", b"a"),
            attr("security.selinux", b"s"),
        ])
        .unwrap();
        let (before, after) = set.in_restore_order();
        let names = |v: &[&Attr]| v.iter().map(|a| a.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&before),
            vec![b"security.selinux".to_vec(), b"user.z".to_vec()]
        );
        assert_eq!(
            names(&after),
            vec![ACL_ACCESS.to_vec(), CAPABILITY.to_vec()]
        );
    }

    #[test]
    fn only_user_attributes_without_root() {
        assert!(readable(false)(b"user.x"));
        assert!(!readable(false)(b"security.capability"));
        assert!(readable(false)(b"system.posix_acl_access"));
        assert!(readable(true)(b"security.capability"));
        assert!(readable(true)(b"system.posix_acl_default"));
        assert!(!readable(true)(b"system.nfs4_acl"));
    }
}
