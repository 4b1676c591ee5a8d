//! Shared by the benchmarks: the float kernel in wasm and in native Rust.

/// A float-heavy loop: `n` rounds of `x = sqrt(x * x + 1) / 1.5 + y`, `y = x - y`. Every
/// operation is one the deterministic profile canonicalizes, so this measures its cost.
pub const FLOAT_KERNEL_WAT: &str = r#"(module
  (func (export "kernel") (param $n i32) (result f64)
    (local $x f64) (local $y f64)
    f64.const 1.25 local.set $x
    f64.const 0.5 local.set $y
    block $done
      loop $next
        local.get $n i32.eqz br_if $done
        local.get $x local.get $x f64.mul f64.const 1 f64.add f64.sqrt
        f64.const 1.5 f64.div local.get $y f64.add local.set $x
        local.get $x local.get $y f64.sub local.set $y
        local.get $n i32.const 1 i32.sub local.set $n
        br $next
      end
    end
    local.get $x local.get $y f64.add)
  (func (export "noop")))"#;

/// The same kernel in Rust: the native baseline.
pub fn float_kernel_native(mut n: i32) -> f64 {
    let (mut x, mut y) = (1.25f64, 0.5f64);
    while n != 0 {
        x = (x * x + 1.0).sqrt() / 1.5 + y;
        y = x - y;
        n -= 1;
    }
    x + y
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmhost::prelude::*;
    use wasmhost::{AnyEngine, Config, HostFunctions, Value};

    fn kernel_matches_native(engine: &AnyEngine) {
        let wasm = wasmhost::wat2wasm(FLOAT_KERNEL_WAT).unwrap();
        for deterministic in [false, true] {
            let engine = AnyEngine::from_name(
                engine.name(),
                Config::default().deterministic(deterministic),
            )
            .unwrap();
            let mut d = engine
                .compile(&wasm)
                .unwrap()
                .instantiate(&HostFunctions::new(), ())
                .unwrap();
            let expected = vec![Value::F64(float_kernel_native(1000).to_bits())];
            assert_eq!(d.call_raw("kernel", &[Value::I32(1000)]).unwrap(), expected);
            assert_eq!(d.call_raw("noop", &[]).unwrap(), vec![]);
        }
    }

    wasmhost::on_every_engine!(kernel_matches_native);
}
