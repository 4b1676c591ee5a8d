;; Workloads for the metering report: each export does `n` rounds of one kind of work and
;; returns something that depends on all of it, so no engine can skip the work.
(module
  (import "env" "tick" (func $tick (param i32)))
  (memory 2)

  ;; Integer arithmetic: an xorshift generator mixed with multiplies.
  (func (export "integer") (param $n i32) (result i64)
    (local $x i64) (local $acc i64)
    i64.const 88172645463325252 local.set $x
    (block $done (loop $next
      local.get $n i32.eqz br_if $done
      local.get $x local.get $x i64.const 13 i64.shl i64.xor local.set $x
      local.get $x local.get $x i64.const 7 i64.shr_u i64.xor local.set $x
      local.get $x local.get $x i64.const 17 i64.shl i64.xor local.set $x
      local.get $acc local.get $x i64.const 0x9e3779b97f4a7c15 i64.mul i64.add local.set $acc
      local.get $n i32.const 1 i32.sub local.set $n
      br $next))
    local.get $acc)

  ;; Float arithmetic: a damped oscillator with a square root each round.
  (func (export "float") (param $n i32) (result f64)
    (local $x f64) (local $v f64)
    f64.const 1 local.set $x
    (block $done (loop $next
      local.get $n i32.eqz br_if $done
      local.get $v local.get $x f64.const 0.001 f64.mul f64.sub local.set $v
      local.get $x local.get $v f64.const 0.001 f64.mul f64.add local.set $x
      local.get $v local.get $x local.get $x f64.mul f64.const 1 f64.add f64.sqrt f64.div local.set $v
      local.get $n i32.const 1 i32.sub local.set $n
      br $next))
    local.get $x local.get $v f64.add)

  ;; Memory traffic: reads and writes 32-bit words around a 64 KiB buffer.
  (func (export "memory") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done (loop $next
      local.get $n i32.eqz br_if $done
      local.get $n i32.const 16380 i32.and i32.const 2 i32.shl local.set $i
      local.get $i local.get $i i32.load local.get $n i32.add i32.store
      local.get $acc local.get $i i32.const 4 i32.add i32.load i32.add local.set $acc
      local.get $n i32.const 1 i32.sub local.set $n
      br $next))
    local.get $acc)

  ;; Bulk memory: fills and copies 64 KiB each round.
  (func (export "bulk") (param $n i32) (result i32)
    (block $done (loop $next
      local.get $n i32.eqz br_if $done
      i32.const 0 local.get $n i32.const 65536 memory.fill
      i32.const 65536 i32.const 0 i32.const 65536 memory.copy
      local.get $n i32.const 1 i32.sub local.set $n
      br $next))
    i32.const 65540 i32.load)

  ;; Calls: a small function called each round.
  (func $mix (param i32 i32) (result i32)
    local.get 0 i32.const 31 i32.mul local.get 1 i32.xor)
  (func (export "calls") (param $n i32) (result i32)
    (local $acc i32)
    (block $done (loop $next
      local.get $n i32.eqz br_if $done
      local.get $acc local.get $n call $mix local.set $acc
      local.get $n i32.const 1 i32.sub local.set $n
      br $next))
    local.get $acc)

  ;; Host calls: the host's `tick` called each round.
  (func (export "host_calls") (param $n i32)
    (block $done (loop $next
      local.get $n i32.eqz br_if $done
      local.get $n call $tick
      local.get $n i32.const 1 i32.sub local.set $n
      br $next))))
