//! The modules' layering, checked from the sources: a module of the domain (and of
//! intake, `openmic-intake`, and the vocabulary, `openmic-core`, below it) may use only the modules listed before it, so
//! nothing imports a module above it and there are no cycles. A new module takes its
//! place in the list.

use std::path::Path;

/// The domain's capabilities and helpers, lowest first.
const DOMAIN: &[&str] = &[
    "i18n",
    "templates",
    "chat",
    "maintenance",
    "site",
    "alerts",
    "subscriptions",
    "publishing",
];

/// Intake's modules (`openmic-intake`, between the vocabulary and the domain), lowest
/// first.
const INTAKE: &[&str] = &["payload", "hooks", "projects", "auth", "alerts"];

/// The vocabulary's modules, lowest first.
const CORE: &[&str] = &[
    "errors", "time", "ids", "signing", "clock", "config", "mail", "ports", "document", "message",
    "consume", "gitlab", "memory",
];

/// The modules named after `crate::` in code (comments left out): `crate::a::b` and
/// `crate::{a, b::c}`.
fn uses(source: &str) -> Vec<String> {
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            found.extend(
                inner
                    .split(',')
                    .filter_map(|p| p.trim().split("::").next())
                    .map(str::to_owned),
            );
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

/// Every `(module, file, used module)` that breaks the order under `src`, and the
/// top-level modules missing from it.
fn check(src: &Path, order: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut breaks = Vec::new();
    let mut unlisted = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("the sources are readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src");
            let top = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|c| c.trim_end_matches(".rs").to_owned())
                .unwrap_or_default();
            if top == "lib" || top == "layers" || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let Some(at) = order.iter().position(|m| *m == top) else {
                unlisted.push(top);
                continue;
            };
            let source = std::fs::read_to_string(&path).expect("a source file");
            for used in uses(&source) {
                if let Some(level) = order.iter().position(|m| *m == used)
                    && level > at
                {
                    breaks.push(format!("{} uses {used}", relative.display()));
                }
            }
        }
    }
    unlisted.sort();
    unlisted.dedup();
    (breaks, unlisted)
}

#[test]
fn uses_are_found_in_code_not_comments() {
    let source = "//! see crate::publishing\nuse crate::{site::render, i18n};\nlet x = crate::alerts::Alert;";
    assert_eq!(uses(source), ["site", "i18n", "alerts"]);
}

#[test]
fn no_module_uses_one_above_it() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (src, order) in [
        (here.join("src"), DOMAIN),
        (here.join("../intake/src"), INTAKE),
        (here.join("../core/src"), CORE),
    ] {
        let (breaks, unlisted) = check(&src, order);
        assert_eq!(breaks, Vec::<String>::new(), "in {}", src.display());
        assert_eq!(
            unlisted,
            Vec::<String>::new(),
            "modules of {} with no place in the order",
            src.display()
        );
    }
}
