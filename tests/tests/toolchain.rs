//! `rust-version` in Cargo.toml is a true minimum: no dependency in Cargo.lock needs a
//! newer Rust than it declares, and it is at least what the code's own language needs.
//! (What this cannot see, std APIs newer than declared, clippy's `incompatible_msrv`
//! lint reports, which reads the same `rust-version`; `cargo clippy -- -D warnings` in
//! scripts/test makes it an error.)

use serde_json::Value;

/// Let-chains (`if let A = a && let B = b`), used throughout, are stable from 1.88.
const LANGUAGE_FLOOR: (u64, u64) = (1, 88);

fn version(text: &str) -> (u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor),
        (Some(Ok(major)), None) => (major, 0),
        _ => panic!("rust-version {text:?} is not MAJOR.MINOR[.PATCH]"),
    }
}

#[test]
fn rust_version_is_at_least_what_every_dependency_and_the_code_need() {
    let out = std::process::Command::new(env!("CARGO"))
        // The platforms openmic is built for (the tests' host and Lambda's Graviton):
        // offline, cargo has downloaded what those need and nothing for other targets.
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
            "--filter-platform",
            "aarch64-unknown-linux-gnu",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let declared: Vec<(&str, (u64, u64))> = packages
        .iter()
        .filter(|p| members.contains(&p["id"].as_str().unwrap_or_default()))
        .map(|p| {
            let v = p["rust_version"]
                .as_str()
                .unwrap_or_else(|| panic!("{} declares no rust-version", p["name"]));
            (p["name"].as_str().unwrap(), version(v))
        })
        .collect();
    assert!(declared.len() >= 10, "{declared:?}");
    let ours = declared[0].1;
    for (name, v) in &declared {
        assert_eq!(
            *v, ours,
            "{name}: every crate takes the workspace's rust-version"
        );
    }
    assert!(
        ours >= LANGUAGE_FLOOR,
        "rust-version {ours:?} is older than the code's let-chains need {LANGUAGE_FLOOR:?}"
    );
    let needs: Vec<String> = packages
        .iter()
        .filter(|p| !members.contains(&p["id"].as_str().unwrap_or_default()))
        .filter_map(|p| {
            let v = version(p["rust_version"].as_str()?);
            (v > ours).then(|| format!("{} {} needs {}.{}", p["name"], p["version"], v.0, v.1))
        })
        .collect();
    assert!(
        needs.is_empty(),
        "rust-version is {}.{} but {}",
        ours.0,
        ours.1,
        needs.join(", ")
    );
}

/// What a function must not compile: rendering, markdown, HTML rewriting, templates,
/// mail and outbound HTTP belong to the functions that publish and notify.
const NOT_FOR_INTAKE: &[&str] = &[
    "comrak",
    "ammonia",
    "html5ever",
    "lol_html",
    "minijinja",
    "aws-sdk-sesv2",
    "reqwest",
    "openmic",
    "openmic-render",
];

/// The packages `package` compiles (normal dependencies, its features as a build of it
/// alone resolves them). `cargo tree -p`, not `cargo metadata`: the metadata's resolve
/// graph is the whole workspace's, features unified (the local runner's `router`
/// among them), which is not what `cargo build -p` (or `cargo lambda build`) compiles.
fn compiled_by(package: &str) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "-f",
            "{p}",
            "--locked",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_intake_functions_compile_intake_and_not_the_rest_of_the_domain() {
    for function in ["openmic-webhook", "openmic-alerts"] {
        let names = compiled_by(function);
        // The tree is read: the function and what it does use are in it.
        for needed in [
            function,
            "openmic-intake",
            "openmic-core",
            "aws-sdk-s3",
            "aws-sdk-sqs",
        ] {
            assert!(
                names.iter().any(|n| n == needed),
                "{function} should compile {needed}: {names:?}"
            );
        }
        let unwanted: Vec<&String> = names
            .iter()
            .filter(|n| NOT_FOR_INTAKE.contains(&n.as_str()))
            .collect();
        assert!(
            unwanted.is_empty(),
            "{function} compiles {unwanted:?}, which intake does not use"
        );
    }
}

#[test]
fn the_publisher_compiles_the_domain_so_the_check_above_can_fail() {
    // The same reading of another function finds what the intake functions must not
    // have: the check is not blind to it.
    let names = compiled_by("openmic-publisher");
    for crate_name in ["openmic", "openmic-render", "minijinja", "comrak"] {
        assert!(
            names.iter().any(|n| n == crate_name),
            "the publisher should compile {crate_name}: {names:?}"
        );
    }
}

#[test]
fn the_signin_function_compiles_its_sign_in_and_none_of_the_domain() {
    let names = compiled_by("openmic-signin");
    for needed in [
        "openmic-signin",
        "openmic-gitlab",
        "openmic-core",
        "aws-sdk-secretsmanager",
        "ring",
    ] {
        assert!(
            names.iter().any(|n| n == needed),
            "openmic-signin should compile {needed}: {names:?}"
        );
    }
    // Its pages are CloudFront's: no rendering, no buckets, queues or mail.
    let unwanted: Vec<&String> = names
        .iter()
        .filter(|n| {
            [
                "openmic",
                "openmic-render",
                "minijinja",
                "comrak",
                "aws-sdk-s3",
                "aws-sdk-sqs",
                "aws-sdk-sesv2",
            ]
            .contains(&n.as_str())
        })
        .collect();
    assert!(unwanted.is_empty(), "openmic-signin compiles {unwanted:?}");
}

/// Every function, as template.yaml names them (`Binary:`).
fn functions() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
    let names: Vec<String> = template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Binary:"))
        .map(|b| b.trim().to_owned())
        .collect();
    assert!(names.len() >= 6, "template.yaml's functions: {names:?}");
    names
}

#[test]
fn no_function_compiles_http2() {
    // The SDK clients' HTTP/1.1 client (openmic-aws's https.rs) in place of the SDK's
    // own, which always brings HTTP/2 (h2) beside it; nothing else asks for HTTP/2.
    for function in functions() {
        let names = compiled_by(&function);
        assert!(
            names.iter().any(|n| n == "hyper"),
            "{function}: the tree is read"
        );
        assert!(
            !names
                .iter()
                .any(|n| n == "h2" || n == "aws-smithy-http-client"),
            "{function} compiles HTTP/2: {names:?}"
        );
    }
}

#[test]
fn only_the_intake_functions_abort_on_panic() {
    // The consumers contain a handler's panic to its message (unwinding); the intake
    // functions consume no queue and are built with panic = "abort" through their
    // package.metadata.lambda.build, which cargo-lambda reads for that one binary.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let release = workspace
        .split("[profile.release]")
        .nth(1)
        .expect("a release profile");
    assert!(
        release.contains("panic = \"unwind\""),
        "the release profile unwinds"
    );
    for function in functions() {
        let dir = function.trim_start_matches("openmic-");
        let manifest =
            std::fs::read_to_string(root.join("functions").join(dir).join("Cargo.toml")).unwrap();
        let aborts = manifest
            .split("[package.metadata.lambda.build]")
            .nth(1)
            .is_some_and(|m| m.contains(r#"'profile.release.panic="abort"'"#));
        let intake = matches!(function.as_str(), "openmic-webhook" | "openmic-alerts");
        assert_eq!(
            aborts, intake,
            "{function}: panic = abort is for intake alone"
        );
    }
}
