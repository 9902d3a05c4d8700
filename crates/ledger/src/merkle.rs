//! The RFC 6962 / RFC 9162 Merkle tree over SHA-256: leaf and node hashes, the tree
//! head, inclusion and consistency proofs, and their verification.
//!
//! Proof generation reads only O(log n) hashes from a `Hashes` source: the hash of every
//! complete, aligned subtree is stored (level `l`, index `i` covers leaves
//! `[i * 2^l, (i + 1) * 2^l)`), and any other subtree of the RFC's recursion is the hash of
//! at most log n of them. Verification is pure and follows RFC 9162 §2.1.3.2 and §2.1.4.2
//! to the letter.

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree: `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where proofs read hashes from.
pub trait Hashes {
    /// The error of the underlying storage.
    type Error;
    /// The hash of the complete subtree at `level` and `index`.
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of leaves `[start, start + n)`, where `start` is a multiple of the largest power of
/// two not above `n` (always true in RFC 6962's recursion).
pub fn subtree_hash<H: Hashes>(h: &H, start: u64, n: u64) -> Result<Hash, H::Error> {
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        return h.subtree(level, start >> level);
    }
    let k = split(n);
    let left = h.subtree(k.trailing_zeros(), start >> k.trailing_zeros())?;
    let right = subtree_hash(h, start + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of a tree of `size` leaves.
pub fn root<H: Hashes>(h: &H, size: u64) -> Result<Hash, H::Error> {
    if size == 0 { Ok(empty_root()) } else { subtree_hash(h, 0, size) }
}

/// RFC 6962 PATH(index, D[size]): from the leaf's sibling up to the root's child.
/// The caller checks `index < size`.
pub fn inclusion_proof<H: Hashes>(h: &H, index: u64, size: u64) -> Result<Vec<Hash>, H::Error> {
    let mut path = Vec::new();
    path_rec(h, index, 0, size, &mut path)?;
    Ok(path)
}

fn path_rec<H: Hashes>(h: &H, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) -> Result<(), H::Error> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path_rec(h, m, start, k, out)?;
        out.push(subtree_hash(h, start + k, n - k)?);
    } else {
        path_rec(h, m - k, start + k, n - k, out)?;
        out.push(subtree_hash(h, start, k)?);
    }
    Ok(())
}

/// RFC 6962 PROOF(old, D[new]). Empty when `old` is 0 or equals `new`. The caller checks
/// `old <= new`.
pub fn consistency_proof<H: Hashes>(h: &H, old: u64, new: u64) -> Result<Vec<Hash>, H::Error> {
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(h, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

fn subproof<H: Hashes>(h: &H, m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<Hash>) -> Result<(), H::Error> {
    if m == n {
        if !whole {
            out.push(subtree_hash(h, start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(h, m, start, k, whole, out)?;
        out.push(subtree_hash(h, start + k, n - k)?);
    } else {
        subproof(h, m - k, start + k, n - k, false, out)?;
        out.push(subtree_hash(h, start, k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: whether `path` proves `leaf` at `index` in the tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `path` proves the tree of `old` leaves with root `old_root`
/// is a prefix of the tree of `new` leaves with root `new_root`. An old size of 0 is
/// consistent with anything (with an empty proof), as tlog-witness specifies.
pub fn verify_consistency(old: u64, new: u64, old_root: &Hash, new_root: &Hash, path: &[Hash]) -> bool {
    if old > new {
        return false;
    }
    if old == 0 {
        return path.is_empty();
    }
    if old == new {
        return path.is_empty() && old_root == new_root;
    }
    let mut path = path.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

/// The complete subtrees a new leaf completes: appending leaf number `index` (0-based)
/// with hash `leaf` to a tree whose right edge holds `edge` (the complete subtrees not yet
/// paired, lowest level first) yields the `(level, index, hash)` of every new node.
/// `edge` is updated in place; it is the only state an appender keeps between leaves.
pub fn append(edge: &mut Vec<Hash>, index: u64, leaf: Hash) -> Vec<(u32, u64, Hash)> {
    let mut out = vec![(0, index, leaf)];
    let mut h = leaf;
    let mut level = 0u32;
    let mut i = index;
    // While the node just made is a right child, pair it with its left sibling.
    while i & 1 == 1 {
        // The edge always holds the left sibling here: `index` is the tree's size.
        let Some(left) = edge.pop() else { break };
        h = node_hash(&left, &h);
        level += 1;
        i >>= 1;
        out.push((level, i, h));
    }
    edge.push(h);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A tree in memory, built through `append` as storage would.
    struct Mem {
        nodes: HashMap<(u32, u64), Hash>,
        size: u64,
        edge: Vec<Hash>,
    }

    impl Mem {
        fn with(n: u64) -> Mem {
            let mut m = Mem { nodes: HashMap::new(), size: 0, edge: Vec::new() };
            for i in 0..n {
                for (l, j, h) in append(&mut m.edge, i, leaf_hash(&i.to_be_bytes())) {
                    m.nodes.insert((l, j), h);
                }
                m.size += 1;
            }
            m
        }
    }

    impl Hashes for Mem {
        type Error = ();
        fn subtree(&self, level: u32, index: u64) -> Result<Hash, ()> {
            self.nodes.get(&(level, index)).copied().ok_or(())
        }
    }

    /// MTH straight from RFC 6962's definition, over all leaves.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_definition_and_every_proof_verifies() {
        let m = Mem::with(70);
        let leaves: Vec<Hash> = (0..70u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 0..=70u64 {
            let r = root(&m, n).unwrap();
            assert_eq!(r, mth(&leaves[..n as usize]), "root of {n}");
            for i in 0..n {
                let p = inclusion_proof(&m, i, n).unwrap();
                assert!(verify_inclusion(i, n, &leaves[i as usize], &p, &r), "inclusion {i} in {n}");
                assert!(!verify_inclusion(i, n, &leaf_hash(b"another entry"), &p, &r));
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(i, n, &leaves[i as usize], &bad, &r));
                }
            }
            for old in 0..=n {
                let p = consistency_proof(&m, old, n).unwrap();
                let old_root = root(&m, old).unwrap();
                assert!(verify_consistency(old, n, &old_root, &r, &p), "consistency {old} -> {n}");
                if old > 0 && old < n {
                    let mut wrong = old_root;
                    wrong[5] ^= 1;
                    assert!(!verify_consistency(old, n, &wrong, &r, &p), "forged old root {old} -> {n}");
                }
            }
        }
    }

    #[test]
    fn known_answer_from_rfc_6962_test_data() {
        // The empty tree's root, and the root of the one-leaf tree of the empty entry:
        // the values every RFC 6962 implementation's tests carry.
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex::encode(leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }
}
