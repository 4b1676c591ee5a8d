;; Exports memory but no allocator.
(module
  (memory (export "memory") 1)
  (func (export "call") (param i32 i32) (result i64) i64.const 0)
)
