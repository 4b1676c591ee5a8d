//! Shared by the benchmarks: the kernels in wasm and in native Rust, generated modules, and
//! the summary that turns criterion's results into one table of ratios.

pub mod summary;

/// The compute kernels, compiled natively from the same source as the `kernels` guest.
#[path = "../../test-wasms/guests/kernels/src/kernels.rs"]
pub mod kernels;

/// A module of `functions` distinct functions (about 110 bytes of code each), for timing
/// compilation of a large guest: each is a small loop of integer and float arithmetic with
/// its own constants, so that no compiler can share work between them.
pub fn large_module(functions: usize) -> Vec<u8> {
    large_module_with(functions, "")
}

/// [`large_module`] with a memory and one more function that grows it: on wasmi every
/// function body is then re-encoded at compile time (`wasmhost_instrument::grow`), which
/// this module makes measurable.
pub fn large_growing_module(functions: usize) -> Vec<u8> {
    large_module_with(
        functions,
        r#"  (memory 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
"#,
    )
}

fn large_module_with(functions: usize, extra: &str) -> Vec<u8> {
    let mut wat = String::from("(module\n");
    wat += extra;
    for i in 0..functions {
        wat += &format!(
            r#"  (func (export "f{i}") (param $n i32) (result i64)
    (local $acc i64) (local $x f64)
    block $done
      loop $next
        local.get $n i32.eqz br_if $done
        local.get $acc local.get $n i64.extend_i32_u i64.const {a} i64.mul i64.add
        i64.const {b} i64.xor local.set $acc
        local.get $x f64.const {c}.5 f64.add f64.sqrt local.set $x
        local.get $n i32.const 1 i32.sub local.set $n
        br $next
      end
    end
    local.get $acc local.get $x i64.trunc_sat_f64_s i64.add)
"#,
            a = i * 7 + 3,
            b = i * 13 + 1,
            c = i % 97,
        );
    }
    wat += ")";
    wasmhost::wat2wasm(wat).expect("the generated module is valid")
}

/// A float-heavy loop: `n` rounds of `x = sqrt(x * x + 1) / 1.5 + y / 4`, `y = x - y / 2`.
/// The values stay finite and normal (they settle near 4/3 and 8/9), so every operation is
/// real arithmetic. (An earlier version, `x = sqrt(x * x + 1) / 1.5 + y`, `y = x - y`,
/// overflowed to infinity and then NaN after about 1 800 rounds: it timed NaN arithmetic,
/// whose speed varies with how each engine and the processor handle NaN operands, which is
/// how wasmi once looked faster than native code on it.)
pub const FLOAT_KERNEL_WAT: &str = r#"(module
  (func (export "kernel") (param $n i32) (result f64)
    (local $x f64) (local $y f64)
    f64.const 1.25 local.set $x
    f64.const 0.5 local.set $y
    block $done
      loop $next
        local.get $n i32.eqz br_if $done
        local.get $x local.get $x f64.mul f64.const 1 f64.add f64.sqrt
        f64.const 1.5 f64.div local.get $y f64.const 0.25 f64.mul f64.add local.set $x
        local.get $x local.get $y f64.const 0.5 f64.mul f64.sub local.set $y
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
        x = (x * x + 1.0).sqrt() / 1.5 + y * 0.25;
        y = x - y * 0.5;
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
            // Finite all the way: the kernel times arithmetic, not NaN handling.
            assert!(float_kernel_native(1_000_000).is_normal());
            let expected = vec![Value::F64(float_kernel_native(1000).to_bits())];
            assert_eq!(d.call_raw("kernel", &[Value::I32(1000)]).unwrap(), expected);
            assert_eq!(d.call_raw("noop", &[]).unwrap(), vec![]);
        }
    }

    /// The benchmarks compare the `kernels` guest with the same source built natively: they
    /// must compute the same checksums, or the comparison means nothing.
    fn kernels_guest_matches_native(engine: &AnyEngine) {
        let mut guest = engine
            .compile(wasmhost_test_wasms::guest("kernels"))
            .unwrap()
            .instantiate(&HostFunctions::new(), ())
            .unwrap();
        let mut call = |name: &str, n: u32| guest.call_raw(name, &[Value::I32(n as i32)]);
        assert_eq!(
            call("hash", 1000),
            Ok(vec![Value::I64(kernels::hash(1000) as i64)])
        );
        // 12, and the benches' 40: a checksum that is 0 whatever the product would compare
        // nothing.
        for n in [12, 40] {
            assert_ne!(kernels::matmul(n), 0.0, "matmul({n})");
            let native = Ok(vec![Value::F64(kernels::matmul(n).to_bits())]);
            assert_eq!(call("matmul", n), native);
            // Vectorized (f64x2) in wasm, whatever the native build chose: the same bits.
            if cfg!(feature = "simd") || engine.name() != "wasmi" {
                let simd = engine
                    .compile(wasmhost_test_wasms::guest("simd-kernels"))
                    .unwrap()
                    .instantiate(&HostFunctions::new(), ())
                    .unwrap()
                    .call_raw("matmul_simd", &[Value::I32(n as i32)]);
                assert_eq!(simd, native);
            }
        }
        assert_eq!(
            call("sort", 500),
            Ok(vec![Value::I64(kernels::sort(500) as i64)])
        );
        assert_eq!(call("fib", 20), Ok(vec![Value::I64(6765)]));
        type Native = fn(u32) -> f64;
        let floats: [(&str, Native); 3] = [
            ("nbody", kernels::nbody),
            ("spectral_norm", kernels::spectral_norm),
            ("mandelbrot", kernels::mandelbrot),
        ];
        for (name, native) in floats {
            assert_eq!(
                call(name, 20),
                Ok(vec![Value::F64(native(20).to_bits())]),
                "{name}"
            );
        }
        assert_eq!(kernels::fib(20), 6765);
    }

    fn large_module_compiles(engine: &AnyEngine) {
        let wasm = large_module(50);
        let module = engine.compile(&wasm).unwrap();
        assert_eq!(module.exports().len(), 50);
    }

    wasmhost::on_every_engine!(
        kernel_matches_native,
        kernels_guest_matches_native,
        large_module_compiles
    );
}
