//! The compute kernels as raw wasm exports: `(size: i32) -> checksum`.

mod kernels;

#[unsafe(no_mangle)]
pub extern "C" fn hash(n: i32) -> i64 {
    kernels::hash(n as u32) as i64
}

#[unsafe(no_mangle)]
pub extern "C" fn matmul(n: i32) -> f64 {
    kernels::matmul(n as u32)
}

#[unsafe(no_mangle)]
pub extern "C" fn matmul_simd(n: i32) -> f64 {
    kernels::matmul_simd(n as u32)
}

#[unsafe(no_mangle)]
pub extern "C" fn sort(n: i32) -> i64 {
    kernels::sort(n as u32) as i64
}

#[unsafe(no_mangle)]
pub extern "C" fn fib(n: i32) -> i64 {
    kernels::fib(n as u32) as i64
}
