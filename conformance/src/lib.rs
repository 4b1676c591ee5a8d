//! # wasmhost-conformance
//!
//! Runs identical guests on every engine compiled into wasmhost and compares what they
//! return, bit for bit. The `wasmhost` binary (`cli/`) is its command-line front end.

#![warn(missing_docs)]

pub mod bombs;
pub mod generated;
pub mod guests;
pub mod hostile;
pub mod html;
pub mod lanes;
pub mod malformed;
pub mod merge;
pub mod meter;
pub mod probes;
pub mod programs;
pub mod relaxed;
pub mod report;
pub mod spec;
