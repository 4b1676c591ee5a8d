//! Payloads of 0 B, 1 B, 64 KiB + 1, 16 MiB and 256 MiB round-trip intact both ways, copied
//! out or read where the guest wrote them.

use crate::common;

use common::instance;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, ByteSlice, Bytes, WasmError};
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
    let data = Bytes::from(data);
    let back: Bytes = echo.call("echo_bytes", &data).unwrap();
    assert!(back == data, "{len} B echoed");
    // Both ways, the output read where the guest wrote it.
    let echo_bytes = echo.serialized::<Bytes, Bytes>("echo_bytes").unwrap();
    let seen = echo_bytes
        .call_borrowed(&mut echo, &data, |out: &ByteSlice| {
            (out.len(), digest(out), out.as_ptr())
        })
        .unwrap();
    assert_eq!(
        (seen.0, seen.1),
        (len, digest(&data)),
        "{len} B echoed, borrowed"
    );
    // The borrowed output pointed into guest memory, which now has it back.
    let memory_size = echo.memory_size().unwrap() as usize;
    let memory_start = echo.memory_slice(0, 0).unwrap().as_ptr() as usize;
    assert!(
        len == 0 || (memory_start..memory_start + memory_size).contains(&(seen.2 as usize)),
        "{len} B: the borrowed output lies in guest memory"
    );
}

fn borrowed_outputs_decode_in_place_and_report_guest_errors(engine: &AnyEngine) {
    let mut echo = instance(engine, "echo");
    let echo_string = echo.serialized::<str, String>("echo_string").unwrap();
    let upper = echo_string
        .call_borrowed(&mut echo, "héllo", |out: &str| out.to_uppercase())
        .unwrap();
    assert_eq!(upper, "HÉLLO");
    // An input the guest cannot decode comes back as its typed error, through the same path.
    let wrong = echo.serialized::<u64, String>("echo_string").unwrap();
    let err = wrong.call_borrowed(&mut echo, &7, |out: &str| out.len());
    assert!(matches!(err, Err(WasmError::Deserialize(_))), "{err:?}");
    // The instance goes on.
    assert_eq!(
        echo.call::<_, String>("echo_string", "again").unwrap(),
        "again"
    );
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
    payload_of_256_mib_round_trips_intact,
    borrowed_outputs_decode_in_place_and_report_guest_errors
);
