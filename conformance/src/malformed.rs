//! Malformed modules: bytes that are mostly not valid modules (random bytes, mutated and
//! truncated test guests), fed to every engine in the default profile and in one that runs
//! every rewriting pass (deterministic, portably metered, memory-limited). No input may
//! panic or crash the host; every rejection must be a typed [`WasmError::Compile`]; and the
//! engines' verdicts are compared.
//!
//! Inputs come from a seed, so a run is reproducible: input `i` of seed `s` is the same on
//! every machine. `wasmhost malformed --count N --seed S` runs a long one.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::{Deserialize, Serialize};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, Metering, WasmError};

/// What one engine made of one input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Compiled.
    Accepted,
    /// Refused with [`WasmError::Compile`], as every malformed module must be.
    Rejected,
    /// Refused with another error: a misclassification, ours to fix.
    WrongError(String),
    /// Panicked: a crash of the host had it not been caught, ours or the engine's to fix.
    Panicked(String),
}

/// An input on which the engines did not all agree, or that some engine mishandled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Finding {
    /// The input's number in its seed's sequence.
    pub index: u64,
    /// The profile it was compiled under.
    pub profile: String,
    /// How it was made from its base.
    pub made_by: String,
    /// Each engine's verdict, in [`MalformedReport::engines`] order.
    pub verdicts: Vec<Verdict>,
    /// The input, hex-encoded (small: bases are test guests of at most 4 KiB).
    pub hex: String,
}

/// A run over many inputs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MalformedReport {
    /// The seed the inputs came from.
    pub seed: u64,
    /// Inputs made (each compiled in both profiles on every engine).
    pub inputs: u64,
    /// Engines, in verdict order.
    pub engines: Vec<String>,
    /// Compilations in which every engine accepted.
    pub all_accepted: u64,
    /// Compilations in which every engine rejected with a typed compile error.
    pub all_rejected: u64,
    /// Inputs some engine panicked on or refused with the wrong error, or on which the
    /// engines disagreed.
    pub findings: Vec<Finding>,
}

impl MalformedReport {
    /// Findings where some engine panicked or refused with the wrong error.
    pub fn mishandled(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| {
                f.verdicts
                    .iter()
                    .any(|v| matches!(v, Verdict::Panicked(_) | Verdict::WrongError(_)))
            })
            .count()
    }

    /// Findings where the engines' verdicts differ (one accepted, another rejected).
    pub fn disagreements(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdicts.iter().any(|v| *v != f.verdicts[0]))
            .count()
    }

    /// A short summary for the terminal.
    pub fn summary(&self) -> String {
        format!(
            "Malformed modules: {} inputs of seed {} (x2 profiles) on {}: {} all accepted, {} \
             all rejected, {} disagreements, {} mishandled (panic or untyped error)\n",
            self.inputs,
            self.seed,
            self.engines.join(", "),
            self.all_accepted,
            self.all_rejected,
            self.disagreements(),
            self.mishandled()
        )
    }
}

/// The two profiles: as configured by default, and with every rewriting pass on.
fn profiles() -> [(&'static str, Config); 2] {
    [
        ("default", Config::default()),
        (
            "all passes",
            Config::default()
                .deterministic(true)
                .metering(Metering::Portable)
                .max_memory_bytes(1 << 20)
                .max_table_elements(1_000),
        ),
    ]
}

/// Compiles `count` inputs of `seed` on every engine in both profiles.
pub fn run(seed: u64, count: u64, mut progress: impl FnMut(u64)) -> MalformedReport {
    let profiles: Vec<_> = profiles()
        .into_iter()
        .map(|(name, config)| (name, AnyEngine::all(&config)))
        .collect();
    let mut report = MalformedReport {
        seed,
        inputs: count,
        engines: profiles[0].1.iter().map(|e| e.name().to_string()).collect(),
        ..MalformedReport::default()
    };
    let bases = bases();
    for index in 0..count {
        if index % 1_000 == 0 {
            progress(index);
        }
        let (bytes, made_by) = input(&bases, seed, index);
        for (profile, engines) in &profiles {
            let verdicts: Vec<Verdict> = engines.iter().map(|e| verdict(e, &bytes)).collect();
            match &verdicts[..] {
                v if v.iter().all(|v| *v == Verdict::Accepted) => report.all_accepted += 1,
                v if v.iter().all(|v| *v == Verdict::Rejected) => report.all_rejected += 1,
                _ => report.findings.push(Finding {
                    index,
                    profile: profile.to_string(),
                    made_by: made_by.clone(),
                    verdicts,
                    hex: bytes.iter().map(|b| format!("{b:02x}")).collect(),
                }),
            }
        }
    }
    report
}

fn verdict(engine: &AnyEngine, bytes: &[u8]) -> Verdict {
    match catch_unwind(AssertUnwindSafe(|| engine.compile(bytes))) {
        Ok(Ok(_)) => Verdict::Accepted,
        Ok(Err(WasmError::Compile(_))) => Verdict::Rejected,
        Ok(Err(other)) => Verdict::WrongError(other.to_string()),
        Err(panic) => Verdict::Panicked(panic_message(&*panic)),
    }
}

/// A caught panic's message.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".into())
}

/// The valid modules inputs are made from: the test guests of at most 4 KiB (the WAT ones),
/// small enough that a mutant that stays valid compiles in a moment.
fn bases() -> Vec<(&'static str, &'static [u8])> {
    wasmhost_test_wasms::ALL
        .iter()
        .copied()
        .filter(|(_, bytes)| bytes.len() <= 4096)
        .collect()
}

/// Input `index` of `seed`, and how it was made.
pub fn input(bases: &[(&str, &[u8])], seed: u64, index: u64) -> (Vec<u8>, String) {
    let mut rng = SplitMix::new(seed, index);
    let (name, base) = bases[rng.below(bases.len() as u64) as usize];
    let mut bytes = base.to_vec();
    let how = match rng.below(6) {
        0 => {
            // Random bytes, half of them behind a valid header so parsers go deeper.
            let len = rng.below(256) as usize;
            bytes = if rng.below(2) == 0 {
                b"\0asm\x01\0\0\0".to_vec()
            } else {
                Vec::new()
            };
            bytes.extend((0..len).map(|_| rng.next() as u8));
            return (bytes, format!("{len} random bytes"));
        }
        1 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            format!("{n} bits flipped")
        }
        2 => {
            // Bytes set to values that sit on LEB128 and section-size edges.
            const EDGES: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x40];
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = EDGES[rng.below(EDGES.len() as u64) as usize];
            }
            format!("{n} bytes set to edge values")
        }
        3 => {
            let len = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(len);
            format!("truncated to {len}")
        }
        4 => {
            let at = rng.below(bytes.len() as u64) as usize;
            let len = (1 + rng.below(16) as usize).min(bytes.len() - at);
            bytes.drain(at..at + len);
            format!("{len} bytes cut at {at}")
        }
        _ => {
            let at = rng.below(bytes.len() as u64) as usize;
            let len = (1 + rng.below(16) as usize).min(bytes.len() - at);
            let run: Vec<u8> = bytes[at..at + len].to_vec();
            let to = rng.below(bytes.len() as u64 + 1) as usize;
            bytes.splice(to..to, run);
            format!("{len} bytes from {at} copied to {to}")
        }
    };
    (bytes, format!("{name}: {how}"))
}

/// A small, well-known generator (SplitMix64): the same inputs on every machine.
pub(crate) struct SplitMix(u64);

impl SplitMix {
    /// The generator for item `index` of `seed`.
    pub(crate) fn new(seed: u64, index: u64) -> Self {
        SplitMix(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
