//! The report: runs, round-trips through JSON, merges machines, renders HTML; and the
//! `conformance` command end to end.

use wasmhost::Value;
use wasmhost_conformance::probes::operators;
use wasmhost_conformance::report::{Report, RunOptions, from_json, summary};
use wasmhost_conformance::{generated, merge};

/// What an aarch64 machine does differently: a NaN an arithmetic operator generates is
/// positive there (bit operations keep their bits everywhere).
fn as_if_aarch64(report: &Report, deterministic_too: bool) -> Report {
    let arithmetic: Vec<String> = operators()
        .into_iter()
        .filter(|o| o.nan_nondeterministic)
        .map(|o| o.name)
        .collect();
    let mut other = report.clone();
    other.machine.arch = "aarch64".into();
    for p in &mut other.profiles {
        if p.deterministic && !deterministic_too {
            continue;
        }
        for row in p
            .probes
            .rows
            .iter_mut()
            .filter(|r| arithmetic.contains(&r.case.op))
        {
            for outcome in &mut row.outcomes {
                if let Ok(Value::F32(bits)) = outcome {
                    if *bits == 0xffc0_0000 {
                        *bits = 0x7fc0_0000;
                    } else if *bits == 0x7fc0_0000 && deterministic_too {
                        *bits = 0xffc0_0000;
                    }
                }
            }
        }
    }
    other
}

/// One engine's fuel for the first guest call, changed in one profile.
fn change_guest_fuel(report: &mut Report, deterministic: bool) -> bool {
    let profile = report
        .profiles
        .iter_mut()
        .find(|p| p.deterministic == deterministic);
    let fuel = &mut profile.unwrap().guests[0].fuel[0];
    *fuel = fuel.map(|f| f + 1);
    true
}

/// One engine's trace digest of the first generated module, changed in one profile.
fn change_generated_digest(report: &mut Report, deterministic: bool) -> bool {
    let generated = report.generated.as_mut().unwrap();
    let profile = generated
        .profiles
        .iter_mut()
        .find(|p| p.deterministic == deterministic);
    profile.unwrap().digests[0].1[0] = "0000".into();
    true
}

/// One engine's output digest of the first program, changed in one profile.
fn change_program_output(report: &mut Report, deterministic: bool) -> bool {
    let Some(programs) = report.programs.as_mut() else {
        return false;
    };
    let row = &mut programs.rows[0];
    let profile = row
        .profiles
        .iter_mut()
        .find(|p| p.deterministic == deterministic);
    profile.unwrap().runs[0].output = "changed".into();
    true
}

#[test]
fn reports_merge_across_machines_and_render() {
    let options = RunOptions {
        generated: generated::Options::new(20, 7),
        malformed: 200,
        bombs_max_bytes: 500_000,
        hostile: true,
        thread_calls: 400,
        leak_iterations: 200,
        programs: wasmhost_test_wasms::programs_dir().map(|dir| (dir, vec!["bz2".to_string()])),
        program_runs: 2,
        program_costs: wasmhost::CostTable::default(),
        memory_reservation: wasmhost::MemoryReservation::Guarded,
    };
    let report = Report::run(&options, |_| {});
    assert_eq!(report.profiles.len(), 2);
    assert_eq!(
        report.deterministic_divergences(),
        0,
        "{}",
        summary(&report)
    );
    let text = summary(&report);
    assert!(
        text.contains("Deterministic profile: 0 divergences"),
        "{text}"
    );
    // The generated modules ran, were called, and agree in the deterministic profile.
    let generated = report.generated.as_ref().expect("generated modules ran");
    assert_eq!(generated.modules, 20);
    for profile in &generated.profiles {
        assert!(profile.calls > 0, "{}", generated.summary());
        assert_eq!(profile.unexplained(), 0, "{}", generated.summary());
    }
    assert!(text.contains("Generated modules: 20 of seed 7"), "{text}");
    // So did the malformed modules, none mishandled, and the bombs at two sizes.
    assert_eq!(report.malformed.as_ref().map(|m| m.inputs), Some(200));
    assert_eq!(report.mishandled_inputs(), 0, "{text}");
    let bombs = report.bombs.as_ref().expect("bombs ran");
    assert_eq!(bombs.sizes, [250_000, 500_000]);
    assert!(
        text.contains("Compile bombs") && text.contains("Malformed modules"),
        "{text}"
    );
    // And the hostile guests, every case on every engine, threads at 1 and 2, long runs.
    let hostile = report.hostile.as_ref().expect("hostile guests ran");
    let engines = report.engines.len();
    assert_eq!(
        hostile.cases.len(),
        wasmhost_conformance::hostile::CASES.len() * engines
    );
    assert_eq!(hostile.threads.len(), 2 * engines);
    assert!(hostile.threads.iter().all(|t| t.calls_per_second > 0.0));
    assert_eq!(hostile.leaks.len(), 3 * engines);
    // Every case, thread run and long run did what it must. Their resident memory is not
    // bounded here: it is the whole process's, and this binary runs other tests beside this
    // one (the bound is asserted in `tests/leaks.rs`, a binary of its own).
    let summary = hostile.summary();
    assert!(hostile.cases.iter().all(|c| c.passed), "{summary}");
    assert!(
        hostile.threads.iter().all(|t| t.every_result_once),
        "{summary}"
    );
    assert!(
        hostile.leaks.iter().all(|l| l.every_iteration_right),
        "{summary}"
    );
    assert!(text.contains("Hostile guests: "), "{text}");
    // And a real program, in both profiles, its output as expected everywhere.
    if let Some(programs) = &report.programs {
        assert_eq!(programs.rows.len(), 1, "{text}");
        assert_eq!(programs.rows[0].profiles.len(), 2, "{text}");
        for profile in &programs.rows[0].profiles {
            assert!(profile.passed() && profile.agree(), "{text}");
            assert!(
                profile.runs.iter().all(|r| r.expected == Some(true)),
                "{text}"
            );
        }
        assert!(programs.failures().is_empty(), "{text}");
        // The fuel columns name the table they were counted with.
        let table = wasmhost::CostTable::default().id();
        assert_eq!(programs.cost_table, table);
        assert!(text.contains(&format!("cost table {table}")), "{text}");
        assert!(text.contains("Real programs"), "{text}");
        // Timed as the fastest of at least the runs asked for, each run saying of how many.
        assert_eq!(programs.runs, 2);
        assert!(text.contains("(the fastest of at least 2 runs"), "{text}");
        for profile in &programs.rows[0].profiles {
            assert!(profile.runs.iter().all(|r| r.runs >= 2), "{text}");
        }
    }

    // Every guest call burnt portable fuel, the same on every engine and in both profiles,
    // but for unbounded recursion in the default profile: without the call-depth limit it
    // stops where each engine's own stack ends.
    let fuel = |deterministic: bool| -> Vec<(String, Vec<Option<u64>>)> {
        let profile = report.profile(deterministic).unwrap();
        let rows = profile.guests.iter();
        rows.map(|g| (g.call.export.clone(), g.fuel.clone()))
            .filter(|(export, _)| export != "stack_overflow" || deterministic)
            .collect()
    };
    for (export, row) in fuel(true) {
        assert_eq!(row.len(), report.engines.len());
        assert!(
            row.iter().all(|f| f.is_some_and(|f| f > 0)),
            "{export}: {row:?}"
        );
        assert!(row.windows(2).all(|w| w[0] == w[1]), "{export}: {row:?}");
    }
    let deterministic: Vec<_> = fuel(true)
        .into_iter()
        .filter(|(export, _)| export != "stack_overflow")
        .collect();
    assert_eq!(fuel(false), deterministic);

    // JSON round trip, one report and several.
    let json = serde_json::to_vec(&report).unwrap();
    let back = from_json(&json).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].machine, report.machine);
    let many = serde_json::to_vec(&vec![report.clone(), report.clone()]).unwrap();
    assert_eq!(from_json(&many).unwrap().len(), 2);

    // Another architecture with other NaN signs in the default profile only: allowed
    // differences appear there; the deterministic profile still agrees.
    let merged = vec![report.clone(), as_if_aarch64(&report, false)];
    let comparisons = merge::compare(&merged);
    let section = |name: &str, deterministic: bool| {
        comparisons
            .iter()
            .find(|c| c.section == name && c.deterministic == deterministic)
            .unwrap_or_else(|| panic!("no {name} in {comparisons:?}"))
    };
    let probes = section("float/NaN probes, arguments", false);
    assert!(probes.allowed > 0 && probes.differ == 0, "{probes:?}");
    // Every other section, in both profiles, the same on both "machines".
    for name in [
        "float/NaN probes, constants",
        "SIMD lane probes, arguments",
        "SIMD lane probes, constants",
        "spec results left open",
        "guest calls",
        "generated modules",
        "real programs",
    ] {
        for deterministic in [false, true] {
            let c = section(name, deterministic);
            assert!(c.compared > 0 && c.agree + c.allowed == c.compared, "{c:?}");
        }
    }
    assert_eq!(merge::deterministic_divergences(&merged), 0);
    assert_eq!(
        merge::deterministic_divergences(std::slice::from_ref(&report)),
        report.deterministic_divergences()
    );
    assert!(merge::summary(&merged).contains("SIMD lane probes, constants"));

    // A machine whose deterministic profile is not canonical is a divergence.
    let broken = vec![report.clone(), as_if_aarch64(&report, true)];
    assert!(merge::deterministic_divergences(&broken) > 0);
    // So is a machine where a guest, a generated module or a program answers otherwise in
    // the deterministic profile: each section compares each engine with itself.
    for change in [
        change_guest_fuel,
        change_generated_digest,
        change_program_output,
    ] {
        let mut other = report.clone();
        if !change(&mut other, true) {
            continue; // reason: the section did not run (no programs directory)
        }
        let pair = [report.clone(), other];
        assert!(merge::deterministic_divergences(&pair) > 0);
        let mut other = report.clone();
        change(&mut other, false);
        let pair = [report.clone(), other];
        assert_eq!(merge::deterministic_divergences(&pair), 0);
        assert!(
            merge::compare(&pair)
                .iter()
                .any(|c| c.differ == 1 && !c.deterministic)
        );
    }

    let html = wasmhost_conformance::html::render(&merged);
    assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>\n"));
    assert!(html.contains("wasmer · aarch64") && html.contains("wasm-v2/f32.wast"));
    assert!(html.contains("class=\"c allowed\""));
    assert!(html.contains("<svg"));
    assert!(html.contains("id=\"merged\"") && html.contains("SIMD lane probes, arguments"));
    assert!(html.contains("id=\"lanes\"") && html.contains("allowed relaxed"));
    assert!(html.contains("id=\"hostile\"") && html.contains("Threads sharing one module"));

    // In the guest table, what the deterministic profile changed (the call-depth limit stops
    // `stack_overflow` early) is expected, not a difference between engines.
    let one = wasmhost_conformance::html::render(std::slice::from_ref(&report));
    assert!(
        one.contains("<td class=\"expected\"") && one.contains("profile changed it"),
        "no expected cell"
    );
    // A cell differs only where an engine differs from the first in the same profile.
    let differing: usize = report
        .profiles
        .iter()
        .flat_map(|p| &p.guests)
        .map(|g| {
            let first = (&g.outcomes[0], g.fuel.first());
            (1..g.outcomes.len())
                .filter(|&e| (&g.outcomes[e], g.fuel.get(e)) != first)
                .count()
        })
        .sum();
    assert_eq!(one.matches(">differs ·").count(), differing);
}
