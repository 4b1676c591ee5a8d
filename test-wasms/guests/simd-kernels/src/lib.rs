//! The SIMD compute kernels as raw wasm exports: `(size: i32) -> checksum`.

// The same source as the `kernels` guest and the benchmarks' native baseline.
#[path = "../../kernels/src/kernels.rs"]
#[allow(dead_code)] // only the vectorized kernel is exported here
mod kernels;

#[unsafe(no_mangle)]
pub extern "C" fn matmul_simd(n: i32) -> f64 {
    kernels::matmul_simd(n as u32)
}
