;; Raw numeric exports: what the CLI prints as raw values and compares across engines.
(module
  (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  ;; Iterative Fibonacci modulo 2^64.
  (func (export "fib") (param $n i64) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    i64.const 0 local.set $a
    i64.const 1 local.set $b
    block $done
      loop $next
        local.get $n i64.eqz br_if $done
        local.get $a local.get $b i64.add local.set $t
        local.get $b local.set $a
        local.get $t local.set $b
        local.get $n i64.const 1 i64.sub local.set $n
        br $next
      end
    end
    local.get $a)
  (func (export "f32_div") (param f32 f32) (result f32)
    local.get 0 local.get 1 f32.div)
  (func (export "f64_sqrt") (param f64) (result f64)
    local.get 0 f64.sqrt)
  (func (export "multi") (param i64) (result i64 i32)
    local.get 0 local.get 0 i32.wrap_i64)
)
