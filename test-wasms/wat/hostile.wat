;; A guest that turns hostile in the one way its mode says, so that each test is one call on
;; a fresh instance: `set_mode` turns it hostile now (the host's next allocation for an input
;; meets it), `arm` once the guest runs `via_host` (the host's allocation for its answer to a
;; host import meets it). Mode 0 is a well-behaved guest.
;;
;; The allocator, by mode:
;;   1  a pointer outside memory          2  0 for a non-zero length
;;   3  always the same region (1024), so an answer lands on the input it answers
;;   4  traps                             5  grows memory by 3.75 GiB first, traps if it cannot
;; The panic-message export, by mode:
;;   6  a message outside memory          7  never returns
(module
  (import "wasmhost" "host_echo" (func $host_echo (param i32 i32) (result i64)))
  (import "wasmhost" "reenter" (func $reenter (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $mode (mut i32) (i32.const 0))
  (global $armed (mut i32) (i32.const 0))
  (global $next (mut i32) (i32.const 1024))
  ;; The MessagePack encoding of `Ok(())` (with named fields): {"Ok": nil}.
  (data (i32.const 512) "\81\a2Ok\c0")

  (func (export "set_mode") (param i32)
    local.get 0 global.set $mode)
  (func (export "arm") (param i32)
    local.get 0 global.set $armed)

  (func (export "wasmhost_alloc") (param $len i32) (result i32)
    (local $p i32)
    (if (i32.eq (global.get $mode) (i32.const 1)) (then (return (i32.const 0xffff_0000))))
    (if (i32.eq (global.get $mode) (i32.const 2)) (then (return (i32.const 0))))
    (if (i32.eq (global.get $mode) (i32.const 3)) (then (return (i32.const 1024))))
    (if (i32.eq (global.get $mode) (i32.const 4)) (then unreachable))
    (if (i32.eq (global.get $mode) (i32.const 5))
      (then (if (i32.eq (memory.grow (i32.const 61440)) (i32.const -1)) (then unreachable))))
    ;; A bump allocator that grows memory as it needs.
    global.get $next local.set $p
    global.get $next local.get $len i32.add global.set $next
    (if (i32.gt_u (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.shr_u (local.get $len) (i32.const 16))
                                        (i32.const 1))))))
    local.get $p)
  (func (export "wasmhost_dealloc") (param i32 i32))

  (func (export "wasmhost_panic_message") (result i64)
    (if (i32.eq (global.get $mode) (i32.const 6)) (then (return (i64.const 0xffff_0000_0000_0010))))
    (if (i32.eq (global.get $mode) (i32.const 7)) (then (loop br 0)))
    ;; No message.
    i64.const 0)

  ;; Answers `Ok(())` whatever its input.
  (func (export "ok") (param i32 i32) (result i64)
    i64.const 0x0000_0200_0000_0005)
  ;; Traps, so that the host asks for a panic message.
  (func (export "trap") (param i32 i32) (result i64)
    unreachable)
  ;; Turns to the armed mode, passes its input to the host's `host_echo` and returns the
  ;; host's answer as its own.
  (func (export "via_host") (param i32 i32) (result i64)
    global.get $armed global.set $mode
    local.get 0 local.get 1 call $host_echo)
  ;; Passes its input to the host's `reenter`, which calls this export again.
  (func (export "reenter") (param i32 i32) (result i64)
    local.get 0 local.get 1 call $reenter)
)
