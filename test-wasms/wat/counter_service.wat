;; A serialized guest whose memory never grows (a bump allocator in its one page), so its
;; instances can be reset: `next` counts the calls since instantiation.
(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (global $count (mut i32) (i32.const 0))
  ;; MessagePack of `Ok(n)` for n < 128, n at offset 20: {"Ok": n}.
  (data (i32.const 16) "\81\a2Ok")
  (func (export "wasmhost_alloc") (param $len i32) (result i32)
    (local $p i32)
    global.get $bump local.set $p
    global.get $bump local.get $len i32.add global.set $bump
    local.get $p)
  (func (export "wasmhost_dealloc") (param i32 i32))
  ;; (ptr, len) = (16, 5)
  (func (export "next") (param i32 i32) (result i64)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store8 (i32.const 20) (global.get $count))
    i64.const 0x0000_0010_0000_0005))
