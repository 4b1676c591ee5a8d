;; A guest that breaks the ABI in every way the host must survive. It has memory and an
;; allocator, so each export fails for the one reason its name gives.
(module
  (import "wasmhost" "host_echo" (func $host_echo (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  ;; A bump allocator: enough for single calls on fresh instances.
  (func (export "wasmhost_alloc") (param $len i32) (result i32)
    (local $p i32)
    global.get $next local.set $p
    global.get $next local.get $len i32.add global.set $next
    local.get $p)
  (func (export "wasmhost_dealloc") (param i32 i32))

  ;; Returns (ptr, len) = (0xffff_0000, 16): far outside one page of memory.
  (func (export "output_out_of_bounds") (param i32 i32) (result i64)
    i64.const 0xffff_0000_0000_0010)
  ;; Returns (ptr, len) = (65530, 100): starts inside memory, ends outside.
  (func (export "output_straddles_end") (param i32 i32) (result i64)
    i64.const 0x0000_fffa_0000_0064)
  ;; Hands the host an input pointer outside memory.
  (func (export "host_import_out_of_bounds") (param i32 i32) (result i64)
    i32.const 0x7fff_0000 i32.const 64 call $host_echo)
  ;; A serialized-looking name with the wrong signature.
  (func (export "wrong_signature") (param i32) (result i32)
    local.get 0)
  ;; Returns (ptr, len) = (0, 2 GiB): over the payload limit before any bounds check.
  (func (export "output_too_large") (param i32 i32) (result i64)
    i64.const 0x0000_0000_8000_0000)
)
