;; Has an allocator but exports no memory.
(module
  (memory 1)
  (func (export "wasmhost_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "wasmhost_dealloc") (param i32 i32))
  (func (export "call") (param i32 i32) (result i64) i64.const 0)
)
