;; One export per trap kind. Each must map to its own WasmError::Trap variant, the same on
;; every engine.
(module
  (type $void (func))
  (type $i32_to_i32 (func (param i32) (result i32)))
  (memory 1)
  (table 3 funcref)
  (elem (i32.const 0) $nop)
  (func $nop)

  (func (export "ok") (result i32) i32.const 1)
  (func (export "unreachable") unreachable)
  (func (export "out_of_bounds_load") (result i32)
    i32.const 0x7fff_fff0 i32.load)
  (func (export "divide_by_zero") (result i32)
    i32.const 1 i32.const 0 i32.div_s)
  (func (export "integer_overflow") (result i32)
    i32.const 0x8000_0000 i32.const -1 i32.div_s)
  (func (export "invalid_conversion") (result i32)
    f32.const nan i32.trunc_f32_s)
  (func $recurse (export "stack_overflow")
    call $recurse)
  ;; Slot 0 holds $nop, of type $void: calling it as $i32_to_i32 is a signature mismatch.
  (func (export "indirect_call_signature_mismatch") (result i32)
    i32.const 5 i32.const 0 call_indirect (type $i32_to_i32))
  (func (export "indirect_call_to_null")
    i32.const 1 call_indirect (type $void))
  (func (export "table_out_of_bounds")
    i32.const 99 call_indirect (type $void))
  ;; A long loop of bulk-memory operations must not grow the host's native stack.
  (func (export "fill_loop") (param $n i32)
    (loop $again
      i32.const 0 i32.const 7 i32.const 1000 memory.fill
      local.get $n i32.const 1 i32.sub local.tee $n
      br_if $again))
  ;; So must a long loop of `memory.grow` or `table.grow` by a delta that is not the
  ;; constant 0: wasmi 2.0's tail-call dispatch grew the native stack on each one until the
  ;; host thread overflowed.
  (func (export "grow_loop") (param $n i32) (local $delta i32)
    (loop $again
      local.get $delta memory.grow drop
      local.get $n i32.const 1 i32.sub local.tee $n
      br_if $again))
  (func (export "table_grow_loop") (param $n i32) (local $delta i32)
    (loop $again
      ref.null func local.get $delta table.grow 0 drop
      local.get $n i32.const 1 i32.sub local.tee $n
      br_if $again))
)
