//! SIMD through the contract: v128 values across the boundary (arguments, results, globals,
//! host functions), and the deterministic profile's answer for every float lane shape and
//! every kind of relaxed operation, bit for bit the same on every engine.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, HostFunctions, Metering, ValType, Value, WasmError};

const MODULE: &str = r#"(module
  (import "host" "swap_halves" (func $swap (param v128) (result v128)))
  (global (export "lanes") v128 (v128.const i32x4 1 2 3 4))
  (func (export "add_then_swap") (param v128 v128) (result v128)
    (call $swap (i32x4.add (local.get 0) (local.get 1))))
  (func (export "f32x4_div") (param v128 v128) (result v128)
    (f32x4.div (local.get 0) (local.get 1)))
  (func (export "f64x2_sqrt") (param v128) (result v128)
    (f64x2.sqrt (local.get 0)))
  (func (export "madd") (param v128 v128 v128) (result v128)
    (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2)))
  (func (export "nmadd") (param v128 v128 v128) (result v128)
    (f32x4.relaxed_nmadd (local.get 0) (local.get 1) (local.get 2)))
  (func (export "min") (param v128 v128) (result v128)
    (f32x4.relaxed_min (local.get 0) (local.get 1)))
  (func (export "dot_i16") (param v128 v128) (result v128)
    (i16x8.relaxed_dot_i8x16_i7x16_s (local.get 0) (local.get 1)))
  (func (export "dot_i32") (param v128 v128 v128) (result v128)
    (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get 0) (local.get 1) (local.get 2)))
  (func (export "q15mulr") (param v128 v128) (result v128)
    (i16x8.relaxed_q15mulr_s (local.get 0) (local.get 1)))
  (func (export "swizzle") (param v128 v128) (result v128)
    (i8x16.relaxed_swizzle (local.get 0) (local.get 1)))
  (func (export "laneselect") (param v128 v128 v128) (result v128)
    (i8x16.relaxed_laneselect (local.get 0) (local.get 1) (local.get 2)))
  (func (export "trunc_s") (param v128) (result v128)
    (i32x4.relaxed_trunc_f32x4_s (local.get 0)))
)"#;

/// Lanes to a v128, lane 0 least significant.
fn x4(lanes: [u32; 4]) -> Value {
    Value::V128(lanes.iter().rev().fold(0, |v, l| v << 32 | u128::from(*l)))
}

fn x2(lanes: [u64; 2]) -> Value {
    Value::V128(u128::from(lanes[1]) << 64 | u128::from(lanes[0]))
}

fn x8(lanes: [u16; 8]) -> Value {
    Value::V128(lanes.iter().rev().fold(0, |v, l| v << 16 | u128::from(*l)))
}

fn x16(lanes: [u8; 16]) -> Value {
    Value::V128(u128::from_le_bytes(lanes))
}

fn host() -> HostFunctions<()> {
    let mut host = HostFunctions::new();
    host.raw(
        "host",
        "swap_halves",
        &[ValType::V128],
        &[ValType::V128],
        |_, args| match args {
            [Value::V128(v)] => Ok(vec![Value::V128(v.rotate_left(64))]),
            other => Err(WasmError::host(format!("not one v128: {other:?}"))),
        },
    );
    host
}

/// wasmi has SIMD only with the `simd` feature; without it the module is refused, typed.
fn simd_engine(engine: &AnyEngine) -> bool {
    if engine.name() == "wasmi" && !cfg!(feature = "simd") {
        let refused = engine.compile(&wasmhost::wat2wasm(MODULE).unwrap()).err();
        assert!(
            matches!(refused, Some(WasmError::Compile(_))),
            "{refused:?}"
        );
        return false;
    }
    true
}

fn v128_values_cross_arguments_results_globals_and_host_functions(engine: &AnyEngine) {
    if !simd_engine(engine) {
        return;
    }
    let module = engine
        .compile(&wasmhost::wat2wasm(MODULE).unwrap())
        .unwrap();
    let sig = module
        .exports()
        .into_iter()
        .find(|e| e.name == "add_then_swap")
        .and_then(|e| e.sig)
        .unwrap();
    assert_eq!(sig.params, [ValType::V128, ValType::V128]);
    let mut instance = module.instantiate(&host(), ()).unwrap();
    assert_eq!(instance.global("lanes"), Ok(x4([1, 2, 3, 4])));
    let sum = instance
        .call_raw(
            "add_then_swap",
            &[x4([1, 2, 3, u32::MAX]), x4([10, 20, 30, 2])],
        )
        .unwrap();
    assert_eq!(sum, [x4([33, 1, 11, 22])]);
    // A v128 where the signature wants something else is refused, typed.
    let wrong = instance.call_raw("f64x2_sqrt", &[Value::I64(4)]);
    assert!(
        matches!(wrong, Err(WasmError::ExportSignature { .. })),
        "{wrong:?}"
    );
}

const F32_NAN: u32 = 0x7fc0_0000;
const F64_NAN: u64 = 0x7ff8_0000_0000_0000;

fn deterministic_profile_gives_one_answer_per_lane_and_relaxed_operation(engine: &AnyEngine) {
    if !simd_engine(engine) {
        return;
    }
    let engine =
        AnyEngine::from_name(engine.name(), Config::default().deterministic(true)).unwrap();
    let mut i = engine
        .compile(&wasmhost::wat2wasm(MODULE).unwrap())
        .unwrap()
        .instantiate(&host(), ())
        .unwrap();
    let mut call = |name: &str, args: &[Value]| i.call_raw(name, args).unwrap().remove(0);
    let one = 1f32.to_bits();
    // 0/0, a number, a NaN made from a NaN with a payload and the sign set: each NaN lane is
    // the positive canonical NaN, the number lane is untouched.
    assert_eq!(
        call(
            "f32x4_div",
            &[
                x4([0, one, 0xffa0_0001, 0x8000_0000]),
                x4([0, 2f32.to_bits(), one, 0])
            ]
        ),
        x4([F32_NAN, 0.5f32.to_bits(), F32_NAN, F32_NAN])
    );
    // f64 lanes are checked as f64s: an f32-shaped check would split them.
    assert_eq!(
        call("f64x2_sqrt", &[x2([(-1f64).to_bits(), 4f64.to_bits()])]),
        x2([F64_NAN, 2f64.to_bits()])
    );
    // (1 + 2^-12)^2 - (1 + 2^-11) is 2^-24 fused, 0 unfused: the spec's deterministic
    // profile says unfused.
    let a = 0x3f80_0800;
    let c = 0x3f80_1000;
    assert_eq!(
        call("madd", &[x4([a; 4]), x4([a; 4]), x4([c | 1 << 31; 4])]),
        x4([0; 4])
    );
    assert_eq!(
        call("nmadd", &[x4([a; 4]), x4([a; 4]), x4([c; 4])]),
        x4([0; 4])
    );
    // Relaxed min is min: -0 below +0, a NaN operand gives the canonical NaN.
    assert_eq!(
        call(
            "min",
            &[
                x4([0x8000_0000, 0, 0x7f80_0001, one]),
                x4([0, 0x8000_0000, one, 0xffc0_0001])
            ]
        ),
        x4([0x8000_0000, 0x8000_0000, F32_NAN, F32_NAN])
    );
    // Bytes of -128 (outside i7): each pair sums to 32768, saturated to 32767; the i32 form
    // widens those and adds the accumulator.
    let min_bytes = x16([0x80; 16]);
    assert_eq!(call("dot_i16", &[min_bytes, min_bytes]), x8([0x7fff; 8]));
    assert_eq!(
        call("dot_i32", &[min_bytes, min_bytes, x4([1, 2, 3, u32::MAX])]),
        x4([65_535, 65_536, 65_537, 65_533])
    );
    // Mixed signs and magnitudes: lane i is a[2i]*b[2i] + a[2i+1]*b[2i+1].
    let a = x16([
        1, 2, 0xff, 3, 127, 127, 0x80, 1, 5, 0, 0, 5, 9, 9, 0xfe, 0xfe,
    ]);
    let b = x16([
        3, 4, 2, 0xff, 127, 127, 0x7f, 0x7f, 7, 7, 7, 7, 0xff, 1, 63, 63,
    ]);
    assert_eq!(
        call("dot_i16", &[a, b]),
        x8([
            11,
            (-5i16) as u16,
            32_258,
            (-16_129i16) as u16,
            35,
            35,
            0,
            (-252i16) as u16
        ])
    );
    // Q15 rounding multiply: MIN * MIN saturates.
    assert_eq!(
        call("q15mulr", &[x8([0x8000; 8]), x8([0x8000; 8])]),
        x8([0x7fff; 8])
    );
    // Swizzle indices past 15 give 0, whatever the top bit.
    let bytes: [u8; 16] = std::array::from_fn(|i| i as u8 + 1);
    let indices = x16([0, 15, 16, 255, 128, 17, 1, 0x8f, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(
        call("swizzle", &[x16(bytes), indices]),
        x16([1, 16, 0, 0, 0, 0, 2, 0, 3, 4, 5, 6, 7, 8, 9, 10])
    );
    // Laneselect is bit by bit, even for a mask whose lanes are not all ones or zeros.
    assert_eq!(
        call(
            "laneselect",
            &[x16([0xff; 16]), x16([0; 16]), x16([0x0f; 16])]
        ),
        x16([0x0f; 16])
    );
    // Truncation saturates, and NaN gives 0.
    assert_eq!(
        call(
            "trunc_s",
            &[x4([
                F32_NAN,
                3e9f32.to_bits(),
                (-3e9f32).to_bits(),
                (-1.9f32).to_bits()
            ])]
        ),
        x4([0, i32::MAX as u32, i32::MIN as u32, u32::MAX])
    );
}

/// `n` rounds of a vector division between memory cells: 12 instructions, 3 of them
/// memory accesses and one a division, in one straight-line block per round.
const METERED: &str = r#"(module
  (memory 1)
  (func (export "rounds") (param i32)
    (loop $l
      (v128.store (i32.const 0)
        (f64x2.div (v128.load (i32.const 0)) (v128.load (i32.const 16))))
      (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))))"#;

fn simd_is_metered_in_both_modes(engine: &AnyEngine) {
    if !simd_engine(engine) {
        return;
    }
    for mode in [Metering::Native, Metering::Portable] {
        let config = Config::default().metering(mode);
        let engine = AnyEngine::from_name(engine.name(), config.clone()).unwrap();
        let module = engine
            .compile(&wasmhost::wat2wasm(METERED).unwrap())
            .unwrap();
        let consumed = |rounds: i32, budget: u64| {
            let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
            guest.set_fuel(budget).unwrap();
            let result = guest.call_raw("rounds", &[Value::I32(rounds)]);
            (result, guest.fuel_consumed().unwrap())
        };
        // Four billion rounds do not fit a million units: typed, on every engine.
        let (endless, _) = consumed(-1, 1_000_000);
        assert_eq!(endless, Err(WasmError::OutOfFuel), "{mode:?}");
        let (ten, at_ten) = consumed(10, u64::MAX / 2);
        let (twenty, at_twenty) = consumed(20, u64::MAX / 2);
        assert_eq!((ten, twenty), (Ok(vec![]), Ok(vec![])), "{mode:?}");
        assert!(at_twenty > at_ten, "{mode:?}: {at_ten} then {at_twenty}");
        if mode == Metering::Portable {
            // The cost table's units, exactly: vector loads and stores are memory accesses,
            // the vector division a division.
            let costs = &config.costs;
            let round = 12 * u64::from(costs.instruction)
                + 3 * u64::from(costs.memory_access)
                + u64::from(costs.division);
            assert_eq!(at_twenty - at_ten, 10 * round);
        }
    }
}

wasmhost::on_every_engine!(
    v128_values_cross_arguments_results_globals_and_host_functions,
    deterministic_profile_gives_one_answer_per_lane_and_relaxed_operation,
    simd_is_metered_in_both_modes,
);
