//! Payloads of 0 B, 1 B, 64 KiB + 1, 16 MiB and 256 MiB round-trip intact both ways.

mod common;

use common::instance;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Bytes};
use wasmhost_test_wasms::types::{digest, fill};

const SIZES: [usize; 4] = [0, 1, 64 * 1024 + 1, 16 << 20];

fn check_size(engine: &AnyEngine, len: usize) {
    let data = fill(len, len as u64 + 7);
    let mut guest = instance(engine, "payload");
    // Host to guest: the guest sees exactly our bytes.
    let (seen_len, seen_digest): (u64, u64) =
        guest.call("digest", &Bytes::from(data.clone())).unwrap();
    assert_eq!(
        (seen_len, seen_digest),
        (len as u64, digest(&data)),
        "{len} B in"
    );
    // Guest to host: we get exactly the guest's bytes.
    let made: Bytes = guest.call("make", &(len as u64, len as u64 + 7)).unwrap();
    assert!(made.as_slice() == data.as_slice(), "{len} B out");
    // Both ways in one call.
    let mut echo = instance(engine, "echo");
    let back: Bytes = echo.call("echo_bytes", &Bytes::from(data.clone())).unwrap();
    assert!(back.as_slice() == data.as_slice(), "{len} B echoed");
}

fn payloads_round_trip_intact(engine: &AnyEngine) {
    for len in SIZES {
        check_size(engine, len);
    }
}

fn payload_of_256_mib_round_trips_intact(engine: &AnyEngine) {
    check_size(engine, 256 << 20);
}

wasmhost::on_every_engine!(
    payloads_round_trip_intact,
    payload_of_256_mib_round_trips_intact
);
