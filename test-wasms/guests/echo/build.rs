// Links 4 MiB of initial memory, from which the SDK's allocator serves calls without
// growing the memory: so a host can reset this guest between calls (`Instance::reset`).
fn main() {
    println!("cargo:rustc-link-arg-cdylib=--initial-memory=4194304");
}
