;; Guests for resource control: fuel, call depth, memory and table limits. Each export
;; exercises one limit; `tick` lets the host see how far a guest got before it stopped.
(module
  (import "env" "tick" (func $tick (param i32)))
  (memory (export "memory") 1)
  (table 1 funcref)

  ;; Never returns: only fuel stops it.
  (func (export "spin")
    (loop $forever br $forever))

  ;; Sums 1..=n in a loop; returns the sum.
  (func (export "sum") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        local.get $n i32.eqz br_if $done
        local.get $acc local.get $n i64.extend_i32_u i64.add local.set $acc
        local.get $n i32.const 1 i32.sub local.set $n
        br $next))
    local.get $acc)

  ;; Calls the host's `tick(i)` for i = 0, 1, … n-1: the host sees how far it got.
  (func (export "ticks") (param $n i32)
    (local $i i32)
    (block $done
      (loop $next
        local.get $i local.get $n i32.ge_u br_if $done
        local.get $i call $tick
        local.get $i i32.const 1 i32.add local.set $i
        br $next)))

  ;; Recurses without end, counting frames in memory[0] before each call.
  (func $deeper (export "recurse")
    i32.const 0 i32.const 0 i32.load i32.const 1 i32.add i32.store
    call $deeper)
  ;; How deep the last `recurse` got.
  (func (export "depth_reached") (result i32) i32.const 0 i32.load)
  ;; Recurses exactly n levels, then returns n.
  (func $nest (export "nest") (param $n i32) (result i32)
    local.get $n i32.eqz if (result i32) i32.const 0
    else local.get $n i32.const 1 i32.sub call $nest i32.const 1 i32.add end)

  ;; memory.grow by n pages: the old size in pages, or -1.
  (func (export "grow") (param $pages i32) (result i32)
    local.get $pages memory.grow)
  ;; Grows memory by n pages, and traps if it could not: what a Rust guest's allocator does.
  (func (export "grow_or_trap") (param $pages i32)
    local.get $pages memory.grow i32.const -1 i32.eq if unreachable end)
  ;; table.grow by n elements: the old size, or -1.
  (func (export "table_grow") (param $n i32) (result i32)
    ref.null func local.get $n table.grow 0)

  ;; memory.fill of n bytes at 0.
  (func (export "fill") (param $len i32)
    i32.const 0 i32.const 0 local.get $len memory.fill)
  ;; A genuine `unreachable`, to tell apart from running out of fuel.
  (func (export "trap") unreachable))
