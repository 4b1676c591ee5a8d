//! The one list of the engines this facade knows, and the macros that generate every
//! per-engine item from it: the run-time enums (`AnyEngine`, `AnyModule`, `AnyPrelinked`,
//! `AnyInstance`, `AnyTyped`) with their `From` impls and matches, the typed-call bounds
//! with their fallbacks for engines left out of the build, [`crate::ENGINES`] and
//! [`crate::on_every_engine`].
//!
//! A new engine is a `backend-*` crate, a cargo feature of the same name, and one entry in
//! [`with_engines`]: nothing else in the facade names an engine.

/// Calls `callback! { [args] entry entry ... }` with one entry per engine:
/// `("feature and run-time name", module_name, Variant, crate::{Engine, Module, Prelinked,
/// Instance, Typed, Params, Results})`. Each entry is compiled in only with its feature.
macro_rules! with_engines {
    ($callback:ident! { $($args:tt)* }) => {
        $callback! { [$($args)*]
            ("wasmer", wasmer, Wasmer, wasmhost_wasmer::{WasmerEngine, WasmerModule, WasmerPrelinked, WasmerInstance, WasmerTyped, WasmerParams, WasmerResults})
            ("wasmi", wasmi, Wasmi, wasmhost_wasmi::{WasmiEngine, WasmiModule, WasmiPrelinked, WasmiInstance, WasmiTyped, WasmiParams, WasmiResults})
            ("wasmtime", wasmtime, Wasmtime, wasmhost_wasmtime::{WasmtimeEngine, WasmtimeModule, WasmtimePrelinked, WasmtimeInstance, WasmtimeTyped, WasmtimeParams, WasmtimeResults})
        }
    };
}

/// Runs `$body` with `$v` bound to the backend value inside `$e`, an enum generated from
/// the list, whichever engine it is.
macro_rules! dispatch {
    ($ty:ident, $e:expr, $v:ident => $body:expr) => {
        with_engines!(dispatch_arms! { $ty, $e, $v => $body })
    };
}

macro_rules! dispatch_arms {
    ([$ty:ident, $e:expr, $v:ident => $body:expr] $(($feat:literal, $m:ident, $V:ident, $k:ident::$types:tt))*) => {
        match $e {
            $( #[cfg(feature = $feat)] $ty::$V($v) => $body, )*
        }
    };
}

/// Runs `$body` with `$u` and `$w` bound to the backend values inside `$x` and `$y` when
/// both are of the same engine, and `$other` when they are not.
macro_rules! dispatch_pair {
    ($a:ident($x:expr), $b:ident($y:expr), |$u:ident, $w:ident| $body:expr, _ => $other:expr) => {
        with_engines!(dispatch_pair_arms! { $a, $x, $b, $y, $u, $w, $body, $other })
    };
}

macro_rules! dispatch_pair_arms {
    ([$a:ident, $x:expr, $b:ident, $y:expr, $u:ident, $w:ident, $body:expr, $other:expr]
     $(($feat:literal, $m:ident, $V:ident, $k:ident::$types:tt))*) => {
        match ($x, $y) {
            $( #[cfg(feature = $feat)] ($a::$V($u), $b::$V($w)) => $body, )*
            #[allow(unreachable_patterns)]
            _ => $other,
        }
    };
}

/// `From<backend type>` for the variant of one engine.
macro_rules! from_variant {
    ($feat:literal, $V:ident, impl[$($generics:tt)*] $any:ty, $backend:ty) => {
        #[cfg(feature = $feat)]
        impl<$($generics)*> From<$backend> for $any {
            fn from(value: $backend) -> Self {
                Self::$V(value)
            }
        }
    };
}

/// The run-time enums over the engine, module, pre-linked module and instance types, with
/// their `From` impls, `AnyEngine::from_name` and the names of the engines.
macro_rules! any_enums {
    ([] $(($feat:literal, $m:ident, $V:ident,
        $k:ident::{$E:ident, $M:ident, $P:ident, $I:ident, $Ty:ident, $Pa:ident, $Re:ident}))*) => {
        /// One of the compiled-in engines, chosen at run time.
        #[derive(Clone)]
        pub enum AnyEngine {
            $( #[doc = concat!("The ", $feat, " engine.")] #[cfg(feature = $feat)] $V($k::$E), )*
        }

        impl AnyEngine {
            /// The engine called `name` (one of [`crate::ENGINES`]), set up with `config`.
            ///
            /// # Errors
            /// [`WasmError::UnknownEngine`] when no engine of that name is compiled in.
            pub fn from_name(name: &str, config: Config) -> Result<Self, WasmError> {
                match name {
                    $( #[cfg(feature = $feat)] $feat => Ok(AnyEngine::$V($k::$E::new(config))), )*
                    _ => Err(WasmError::UnknownEngine(
                        name.to_string(),
                        crate::ENGINES.join(", "),
                    )),
                }
            }
        }

        /// A module compiled by an [`AnyEngine`].
        #[derive(Clone)]
        pub enum AnyModule {
            $( #[doc = concat!("Compiled by ", $feat, ".")] #[cfg(feature = $feat)] $V($k::$M), )*
        }

        /// An [`AnyModule`] linked with its host functions: see [`Module::prelink`].
        pub enum AnyPrelinked<T: Send + 'static> {
            $( #[doc = concat!("Linked on ", $feat, ".")] #[cfg(feature = $feat)] $V($k::$P<T>), )*
        }

        impl<T: Send + 'static> AnyPrelinked<T> {
            /// The name of the engine this is linked on.
            fn engine_name(&self) -> &'static str {
                match self {
                    $( #[cfg(feature = $feat)] AnyPrelinked::$V(_) => $feat, )*
                }
            }
        }

        /// An instance of an [`AnyModule`].
        // A wasmi store is inline and large; boxing it would cost an allocation per
        // instantiation and an indirection per call, for a value that lives on the caller's
        // stack or in a pool.
        #[allow(clippy::large_enum_variant)]
        pub enum AnyInstance<T: Send + 'static> {
            $( #[doc = concat!("A ", $feat, " instance.")] #[cfg(feature = $feat)] $V($k::$I<T>), )*
        }

        $(
            from_variant!($feat, $V, impl[] AnyModule, $k::$M);
            from_variant!($feat, $V, impl[T: Send + 'static] AnyPrelinked<T>, $k::$P<T>);
            from_variant!($feat, $V, impl[T: Send + 'static] AnyInstance<T>, $k::$I<T>);
        )*
    };
}

/// [`AnyTyped`](crate::AnyTyped) and the bounds its calls need: on each compiled-in engine its
/// own, on each left-out one a trait every type has.
macro_rules! typed_enum {
    ([] $(($feat:literal, $m:ident, $V:ident,
        $k:ident::{$E:ident, $M:ident, $P:ident, $I:ident, $Ty:ident, $Pa:ident, $Re:ident}))*) => {
        /// Each engine's bounds on typed calls, or none when the engine is not compiled in.
        #[doc(hidden)]
        pub mod engines {
            $(
                #[cfg(feature = $feat)]
                pub use $k::{$Pa, $Re};
                #[cfg(not(feature = $feat))]
                #[doc(hidden)]
                pub trait $Pa {}
                #[cfg(not(feature = $feat))]
                impl<T> $Pa for T {}
                #[cfg(not(feature = $feat))]
                #[doc(hidden)]
                pub trait $Re {}
                #[cfg(not(feature = $feat))]
                impl<T> $Re for T {}
            )*
        }

        /// Parameters a typed handle takes on every compiled-in engine: `()`, one of `i32`,
        /// `i64`, `f32`, `f64`, or a tuple of two to eight of them.
        pub trait Params: WasmTypes + Clone $(+ engines::$Pa)* {}

        impl<P: WasmTypes + Clone $(+ engines::$Pa)*> Params for P {}

        /// Results a typed handle gives on every compiled-in engine: as [`Params`].
        pub trait Results: WasmTypes + Clone $(+ engines::$Re)* {}

        impl<R: WasmTypes + Clone $(+ engines::$Re)*> Results for R {}

        /// An export of one [`AnyInstance`], looked up and type-checked once: see
        /// [`AnyInstance::typed`].
        pub enum AnyTyped<P, R> {
            $( #[doc = concat!("On ", $feat, ".")] #[cfg(feature = $feat)] $V($k::$Ty<P, R>), )*
        }

        $( from_variant!($feat, $V, impl[P, R] AnyTyped<P, R>, $k::$Ty<P, R>); )*
    };
}

/// The names of the compiled-in engines, in the list's order.
macro_rules! engine_names {
    ([] $(($feat:literal, $m:ident, $V:ident, $k:ident::$types:tt))*) => {
        /// The names of the engines compiled into this build, as [`AnyEngine::from_name`]
        /// takes them.
        pub const ENGINES: &[&str] = &[$( #[cfg(feature = $feat)] $feat, )*];
    };
}

/// Defines `on_every_engine!` (given `$` to write its own metavariables with).
macro_rules! define_on_every_engine {
    ([$d:tt] $(($feat:literal, $m:ident, $V:ident, $k:ident::$types:tt))*) => {
        /// Generates, for every enabled engine, a module named after it with one `#[test]`
        /// per listed function `fn(&AnyEngine)`: `wasmer::echo_round_trips`,
        /// `wasmi::echo_round_trips`. One test body per behaviour, run on every engine, so a
        /// divergence is a named failure.
        ///
        /// The `cfg`s are evaluated in the calling crate, which must have a feature per
        /// engine that mirrors this crate's (wasmhost's own tests and wasmhost-conformance
        /// do).
        #[doc(hidden)]
        #[macro_export]
        macro_rules! on_every_engine {
            ($d($d(#[$d meta:meta])* $d body:ident),* $d(,)?) => {
                $(
                    #[cfg(feature = $feat)]
                    mod $m {
                        $d( $d(#[$d meta])* #[test] fn $d body() {
                            super::$d body(
                                &$crate::AnyEngine::from_name($feat, $crate::Config::default())
                                    .unwrap(),
                            )
                        } )*
                    }
                )*
            };
        }
    };
}
