//! Compile bombs: every shape is the size asked for, and compiles on every engine
//! (`wasmhost bombs` times them up to 8 MB).

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config};
use wasmhost_conformance::bombs::{self, Shape};

fn bombs_compile_at_the_size_asked_for(engine: &AnyEngine) {
    for shape in Shape::ALL {
        for size in [20_000, 80_000] {
            let wasm = bombs::module(shape, size);
            let off = wasm.len().abs_diff(size);
            assert!(
                off < 200,
                "{}: {} bytes for {size}",
                shape.name(),
                wasm.len()
            );
            let module = engine.compile(&wasm);
            assert!(module.is_ok(), "{}: {:?}", shape.name(), module.err());
        }
    }
}

#[test]
fn the_report_has_a_cell_per_shape_size_and_engine_and_a_ratio_for_each_pair() {
    let report = bombs::run(&[10_000, 40_000], &Config::default(), |_| {});
    assert_eq!(
        report.compiles.len(),
        Shape::ALL.len() * 2 * report.engines.len()
    );
    for shape in Shape::ALL {
        for engine in &report.engines {
            let ratio = report.ratio(shape, engine);
            assert!(
                ratio.is_some_and(|r| r > 0.0),
                "{} on {engine}",
                shape.name()
            );
        }
    }
    assert!(
        report.summary().contains("huge br_table"),
        "{}",
        report.summary()
    );
}

wasmhost::on_every_engine!(bombs_compile_at_the_size_asked_for);
