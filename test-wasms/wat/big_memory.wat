;; A module whose memory starts at 64 pages (4 MiB) and whose table starts at 100 elements:
;; instantiation must fail under smaller limits.
(module
  (memory (export "memory") 64)
  (table 100 funcref)
  (func (export "ok") (result i32) i32.const 1))
