//! The compute kernels as raw wasm exports: `(size: i32) -> checksum`.

#[allow(dead_code)] // the vectorized kernel is the `simd-kernels` guest's
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
pub extern "C" fn sort(n: i32) -> i64 {
    kernels::sort(n as u32) as i64
}

#[unsafe(no_mangle)]
pub extern "C" fn fib(n: i32) -> i64 {
    kernels::fib(n as u32) as i64
}

#[unsafe(no_mangle)]
pub extern "C" fn nbody(n: i32) -> f64 {
    kernels::nbody(n as u32)
}

#[unsafe(no_mangle)]
pub extern "C" fn spectral_norm(n: i32) -> f64 {
    kernels::spectral_norm(n as u32)
}

#[unsafe(no_mangle)]
pub extern "C" fn mandelbrot(n: i32) -> f64 {
    kernels::mandelbrot(n as u32)
}
