;; A guest with the memory of a small service (4 MiB, data in it) that writes anywhere in it
;; and changes globals of three types: what an instance reset must undo (tests/suite/reset.rs,
;; the reset benchmark).
(module
  (global $sum (mut i64) (i64.const 5))
  (global $steps (mut f64) (f64.const 1.5))
  (global $last (mut i32) (i32.const -1))
  (memory (export "memory") 64)
  (data (i32.const 1000) "pristine bytes")
  (data (i32.const 3000000) "more pristine bytes, far up")
  (func (export "scribble") (param $at i32) (param $v i64)
    (i64.store (local.get $at) (local.get $v))
    (global.set $sum (i64.add (global.get $sum) (local.get $v)))
    (global.set $steps (f64.add (global.get $steps) (f64.const 0.25)))
    (global.set $last (local.get $at)))
  (func (export "fill") (param $at i32) (param $len i32) (param $byte i32)
    (memory.fill (local.get $at) (local.get $byte) (local.get $len)))
  (func (export "look") (param $at i32) (result i64)
    (i64.add (i64.load (local.get $at))
      (i64.add (global.get $sum) (i64.extend_i32_s (global.get $last))))))
