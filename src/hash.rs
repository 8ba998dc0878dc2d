//! Owns streaming content digests (SHA-256 / SHA-512) and their hex form.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, Read};

use sha2::{Digest, Sha256, Sha512};

/// Chunk size for streaming reads; memory stays fixed whatever the file size.
pub const CHUNK: usize = 1 << 20;

/// The content hash algorithm used for a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// File extension of the manifest, e.g. `SHA256SUMS`.
    pub fn manifest_suffix(self) -> &'static str {
        match self {
            HashAlgo::Sha256 => "SHA256SUMS",
            HashAlgo::Sha512 => "SHA512SUMS",
        }
    }

    /// A fresh incremental hasher.
    pub fn hasher(self) -> Hasher {
        match self {
            HashAlgo::Sha256 => Hasher::Sha256(Sha256::new()),
            HashAlgo::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Bytes in one digest.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    /// The algorithm that made `digest`, told by its length.
    pub fn of_digest(digest: &[u8]) -> HashAlgo {
        if digest.len() == HashAlgo::Sha512.digest_len() {
            HashAlgo::Sha512
        } else {
            HashAlgo::Sha256
        }
    }

    /// Hashes a byte slice in one go.
    pub fn digest(self, bytes: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(bytes);
        h.finish()
    }
}

impl std::str::FromStr for HashAlgo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sha256" => Ok(HashAlgo::Sha256),
            "sha512" => Ok(HashAlgo::Sha512),
            _ => Err(format!("expected sha256 or sha512, found {s:?}")),
        }
    }
}

impl std::fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        })
    }
}

/// An incremental hasher for one of the supported algorithms.
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// Feeds bytes into the digest.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// Returns the raw digest bytes.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// Feeds everything a reader yields to `f` in chunks of at most `CHUNK` bytes; returns
/// the number of bytes read. Memory stays fixed whatever the size.
pub fn for_each_chunk(
    reader: &mut impl Read,
    mut f: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        f(&buf[..n])?;
        total += n as u64;
    }
}

/// Hashes everything a reader yields, in fixed chunks; returns (digest, bytes read).
pub fn hash_reader(algo: HashAlgo, reader: &mut impl Read) -> io::Result<(Vec<u8>, u64)> {
    let mut hasher = algo.hasher();
    let total = for_each_chunk(reader, |chunk| {
        hasher.update(chunk);
        Ok(())
    })?;
    Ok((hasher.finish(), total))
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    hex_into(&mut s, bytes);
    s
}

/// Parses lowercase or uppercase hex back into bytes; None when it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Appends `bytes` as lowercase hex to `out`.
pub fn hex_into(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let cases = [
            (
                HashAlgo::Sha256,
                &b""[..],
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                HashAlgo::Sha256,
                &b"abc"[..],
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (algo, input, want) in cases {
            assert_eq!(hex(&algo.digest(input)), want);
            let (streamed, n) = hash_reader(algo, &mut &input[..]).unwrap();
            assert_eq!(hex(&streamed), want);
            assert_eq!(n, input.len() as u64);
        }
        assert_eq!(HashAlgo::Sha512.digest(b"abc").len(), 64);
    }
}
