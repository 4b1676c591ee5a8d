;; Imports a host function no host provides.
(module
  (import "wasmhost" "not_provided" (func (param i32 i32) (result i64)))
  (func (export "noop"))
)
