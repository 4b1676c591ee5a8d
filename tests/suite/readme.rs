//! The README's guest example is the greeter guest's source, which the test guests build
//! and the README's host example (a doc test) runs.

#[test]
fn readme_guest_example_is_the_greeter_source() {
    let readme = include_str!("../../README.md");
    let source = include_str!("../../test-wasms/guests/greeter/src/lib.rs");
    assert!(
        readme.contains(source),
        "README.md's guest example differs from test-wasms/guests/greeter/src/lib.rs"
    );
}
