//! Types the Rust test guests exchange with the host. The guests compile this very file
//! (`#[path]`), so both sides share one definition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A nested value for the echo guest: strings, numbers, options, maps, enums, bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nested {
    /// A name.
    pub name: String,
    /// Some numbers, including extremes.
    pub values: Vec<i64>,
    /// A float, compared by bits.
    pub ratio: f64,
    /// Optional recursion.
    pub child: Option<Box<Nested>>,
    /// A map.
    pub tags: BTreeMap<String, u32>,
    /// An enum.
    pub shape: Shape,
    /// Raw bytes.
    #[serde(with = "serde_bytes")]
    pub blob: Vec<u8>,
}

/// An enum with unit, tuple and struct variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// Unit variant.
    Point,
    /// Tuple variant.
    Circle(f32),
    /// Struct variant.
    Rect {
        /// Width.
        w: u16,
        /// Height.
        h: u16,
    },
}

/// What the validation guest checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Who wrote it; must not be empty.
    pub author: String,
    /// The content; 1 to 1024 bytes.
    pub content: String,
    /// When; must not be zero.
    pub timestamp: u64,
}

/// The validation guest's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Validation {
    /// The entry is valid.
    Pass,
    /// The entry is invalid, and why.
    Fail(String),
}

/// Fills `len` bytes deterministically from `seed` (xorshift), the same on host and guest,
/// so big payloads can be checked without sending them twice.
pub fn fill(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// FNV-1a over `bytes`: a digest computed the same way on host and guest.
pub fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
