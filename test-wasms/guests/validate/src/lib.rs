//! A validation callback, as a peer-to-peer host runs on every entry it receives.

#[path = "../../../src/types.rs"]
#[allow(dead_code)]
mod types;

use types::{Entry, Validation};
use wasmhost_guest::{WasmError, export};

export! {
    fn validate(entry: Entry) -> Result<Validation, WasmError> {
        Ok(if entry.author.is_empty() {
            Validation::Fail("author is empty".into())
        } else if entry.content.is_empty() || entry.content.len() > 1024 {
            Validation::Fail(format!("content is {} bytes, not 1..=1024", entry.content.len()))
        } else if entry.timestamp == 0 {
            Validation::Fail("timestamp is zero".into())
        } else {
            Validation::Pass
        })
    }
}
