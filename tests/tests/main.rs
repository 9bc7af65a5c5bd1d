//! openmic's end-to-end tests, one module a file, built as one test binary: each
//! binary links the whole workspace, and two dozen of them cost minutes of every run
//! for nothing a module boundary does not give. Run some with a filter:
//! `cargo test -p openmic-tests --test end_to_end intake::`.

mod abuse;
mod alerts;
mod audiences;
mod aws_backends;
mod chart_query;
mod chat_bodies;
mod chat_commands;
mod docs;
mod faults;
mod fuzz_regressions;
mod gitlab_api;
mod gitlab_boundary;
mod intake;
mod intake_edge;
mod maintenance;
mod metrics;
mod oncall_story;
mod paging;
mod postmortem;
mod projects;
mod properties;
mod real_payloads;
mod rendering;
mod routing;
mod site;
mod sla;
mod story;
mod subscriptions;
mod subscriptions_fanout;
mod template;
mod timeline;
mod toolchain;
mod update_channels;
mod upgrade;

/// A file in tests/tests/ or local/tests/ that is not a module of its folder's
/// main.rs would never be built (`autotests = false` in both packages): every one is.
#[test]
fn every_test_file_is_a_module_of_its_binary() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    for folder in ["tests/tests", "local/tests"] {
        let dir = root.join(folder);
        let declared = std::fs::read_to_string(dir.join("main.rs")).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(module) = name.strip_suffix(".rs")
                && module != "main"
                && !declared.contains(&format!("\nmod {module};\n"))
            {
                missing.push(format!("{folder}/{name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not a module of their folder's main.rs: {missing:?}"
    );
}
