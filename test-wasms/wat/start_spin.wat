;; A start function that never returns: only fuel stops it, during instantiation.
(module
  (func $start (loop $forever br $forever))
  (start $start))
