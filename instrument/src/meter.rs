//! The host's side of fuel: one set of rules for every backend and every metering mode,
//! written once over the [`FuelCell`] each backend provides.
//!
//! - The budget is set at instantiation ([`wasmhost_api::Config::initial_fuel`]) and by
//!   `set_fuel`; consumed fuel counts from there, host charges included.
//! - A cell below zero means the guest ran out. Running out *spends* the instance: it can
//!   stop the guest anywhere, even inside its allocator, so the instance is never run
//!   again, and every later call fails with [`WasmError::OutOfFuel`]. Fuel left reads 0.

use wasmhost_api::{Metering, WasmError};

/// Where a backend keeps the fuel of one instance.
pub trait FuelCell {
    /// The metering mode in force.
    fn metering(&self) -> Metering;
    /// The fuel left as the meter holds it; negative once the guest ran out.
    fn cell(&mut self) -> i64;
    /// Stores the fuel left; negative marks the guest as out of fuel.
    fn set_cell(&mut self, fuel: i64);
    /// The bookkeeping stored beside the cell.
    fn ledger(&mut self) -> &mut Ledger;
}

/// Per-instance fuel bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// The budget last set.
    pub budget: u64,
    /// Whether a call on the instance ran out of fuel.
    pub spent: bool,
    /// The code a call on the instance exited with ([`WasmError::Exit`]).
    pub exited: Option<i32>,
}

/// The fuel left, `None` with metering off.
pub fn remaining(cell: &mut impl FuelCell) -> Option<u64> {
    if cell.metering() == Metering::Off {
        return None;
    }
    if cell.ledger().spent {
        return Some(0);
    }
    Some(cell.cell().max(0) as u64)
}

/// The fuel consumed since the budget was set, `None` with metering off.
pub fn consumed(cell: &mut impl FuelCell) -> Option<u64> {
    let left = remaining(cell)?;
    Some(cell.ledger().budget.saturating_sub(left))
}

/// Sets the budget.
///
/// # Errors
/// [`WasmError::Engine`] with metering off, [`WasmError::OutOfFuel`] on a spent instance.
pub fn set_budget(cell: &mut impl FuelCell, budget: u64) -> Result<(), WasmError> {
    if cell.metering() == Metering::Off {
        return Err(WasmError::Engine(
            "fuel metering is off (Config::metering)".into(),
        ));
    }
    check_live(cell)?;
    cell.set_cell(budget.min(i64::MAX as u64) as i64);
    cell.ledger().budget = budget;
    Ok(())
}

/// Takes `units` from the fuel left; free with metering off.
///
/// # Errors
/// [`WasmError::OutOfFuel`] when they do not fit: the instance is then spent.
pub fn charge(cell: &mut impl FuelCell, units: u64) -> Result<(), WasmError> {
    if cell.metering() == Metering::Off || units == 0 {
        return Ok(());
    }
    check_live(cell)?;
    let left = cell.cell();
    if left < 0 || units > left as u64 {
        cell.set_cell(-1);
        cell.ledger().spent = true;
        return Err(WasmError::OutOfFuel);
    }
    cell.set_cell(left - units as i64);
    Ok(())
}

/// Fails on a spent instance.
///
/// # Errors
/// [`WasmError::OutOfFuel`] when a call on it ran out of fuel.
pub fn check_live(cell: &mut impl FuelCell) -> Result<(), WasmError> {
    live(cell.ledger())
}

/// [`check_live`] on the ledger alone, for a caller that holds it already.
///
/// # Errors
/// As [`check_live`].
pub fn live(ledger: &Ledger) -> Result<(), WasmError> {
    match (ledger.exited, ledger.spent) {
        (Some(code), _) => Err(WasmError::Exit(code)),
        (None, true) => Err(WasmError::OutOfFuel),
        (None, false) => Ok(()),
    }
}

/// Records the outcome of a failed guest call: running out of fuel, or exiting, spends the
/// instance.
pub fn note_failure(cell: &mut impl FuelCell, error: &WasmError) {
    match *error {
        WasmError::OutOfFuel => cell.ledger().spent = true,
        WasmError::Exit(code) => cell.ledger().exited = Some(code),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cell(i64, Ledger, Metering);

    impl FuelCell for Cell {
        fn metering(&self) -> Metering {
            self.2
        }
        fn cell(&mut self) -> i64 {
            self.0
        }
        fn set_cell(&mut self, fuel: i64) {
            self.0 = fuel;
        }
        fn ledger(&mut self) -> &mut Ledger {
            &mut self.1
        }
    }

    #[test]
    fn charges_count_and_exhaustion_spends_the_instance() {
        let mut cell = Cell(0, Ledger::default(), Metering::Portable);
        set_budget(&mut cell, 100).unwrap();
        charge(&mut cell, 30).unwrap();
        assert_eq!(
            (remaining(&mut cell), consumed(&mut cell)),
            (Some(70), Some(30))
        );
        assert_eq!(charge(&mut cell, 71), Err(WasmError::OutOfFuel));
        assert_eq!(
            (remaining(&mut cell), consumed(&mut cell)),
            (Some(0), Some(100))
        );
        assert_eq!(set_budget(&mut cell, 1000), Err(WasmError::OutOfFuel));
        assert_eq!(charge(&mut cell, 1), Err(WasmError::OutOfFuel));
    }

    #[test]
    fn metering_off_charges_nothing_and_has_no_budget() {
        let mut cell = Cell(0, Ledger::default(), Metering::Off);
        assert_eq!(charge(&mut cell, u64::MAX), Ok(()));
        assert_eq!(remaining(&mut cell), None);
        assert!(matches!(
            set_budget(&mut cell, 1),
            Err(WasmError::Engine(_))
        ));
    }
}
