//! The conformance suite's integration tests, one binary: each module is one part of the
//! suite, run on every engine. (`leaks.rs` counts the process's memory, and so is a binary of
//! its own.) One binary links the engines once, where a binary per file linked them ten times.

mod bombs;
mod concurrency;
mod generated;
mod hostile;
mod lanes;
mod malformed;
mod oracle;
mod probes;
mod report;
mod spec;
