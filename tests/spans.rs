//! Spans for compile, instantiate and each call, with the engine, the export, the bytes in
//! and out, the fuel used and the outcome, seen by a subscriber that listens. A binary of its
//! own: tracing caches whether anyone listens to a span process-wide, and the other tests'
//! threads, running the same spans meanwhile, made the subscriber miss some.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::format::FmtSpan;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, Metering, Value};
use wasmhost_test_wasms::host::host_functions;

wasmhost::on_every_engine!(compile_instantiate_and_calls_are_spans_with_their_facts);

/// What the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn compile_instantiate_and_calls_are_spans_with_their_facts(engine: &AnyEngine) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer({
            let captured = captured.clone();
            move || captured.clone()
        })
        .finish();
    let config = Config::default().metering(Metering::Portable);
    let engine = AnyEngine::from_name(engine.name(), config).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let module = engine
            .compile(wasmhost_test_wasms::guest("host-calls"))
            .unwrap();
        let mut guest = module.instantiate(&host_functions(), 0).unwrap();
        let sum: i64 = guest.call("sum3", &(1i64, 2i64, 3i64)).unwrap();
        assert_eq!(sum, 6);
        assert!(guest.call::<_, i64>("no_such_export", &1).is_err());
        assert!(guest.call_raw("wasmhost_alloc", &[Value::I32(8)]).is_ok());
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let name = engine.name();
    // The close line of our own span (engines open spans of their own inside ours).
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.contains(prefix) && l.contains("}: wasmhost") && l.contains(" close "))
            .unwrap_or_else(|| panic!("no `{prefix}` span in:\n{text}"))
            .to_string()
    };
    let compile = line("compile{");
    assert!(
        compile.contains(&format!("engine=\"{name}\"")) && compile.contains("outcome=\"ok\""),
        "{compile}"
    );
    assert!(line("instantiate{").contains("outcome=\"ok\""), "{text}");
    let call = line("call{export=\"sum3\"");
    for fact in ["bytes_in=", "bytes_out=", "fuel=", "outcome=\"ok\""] {
        assert!(call.contains(fact), "{fact} in {call}");
    }
    let missing = line("call{export=\"no_such_export\"");
    // A failed call records its error as the outcome.
    assert!(
        missing.contains("outcome=missing export `no_such_export`"),
        "{missing}"
    );
    assert!(
        line("call_raw{export=\"wasmhost_alloc\"").contains("outcome=\"ok\""),
        "{text}"
    );
}
