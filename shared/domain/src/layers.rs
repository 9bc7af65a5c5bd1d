//! The modules' layering, checked from the sources of the domain, of intake
//! (`openmic-intake`) and of the vocabulary (`openmic-core`) below them:
//!
//! - a top-level module may use only the modules listed before it in its crate's
//!   order, so nothing imports a module above it; a new module takes its place there;
//! - no module, at any depth, is part of an import cycle: `alerts::lifecycle` using
//!   `alerts::issues` while `alerts::issues` uses `alerts::lifecycle`, directly or
//!   through others, fails.
//!
//! A module is a file (`alerts/lifecycle.rs` is `alerts::lifecycle`, `alerts/mod.rs`
//! is `alerts`). A use is a path in code (not in a comment) that starts at `crate::`,
//! `super::` or `self::`, with its groups spread out; it lands on the deepest module
//! it names (`crate::alerts::Alert` is `alerts`, `super::storm::Failing` from
//! `alerts::mail` is `alerts::storm`). A module and its own submodules are one piece:
//! a parent declares and re-exports its children and they use its items, so uses
//! between them are no edges. An inline module (`mod tests {`) is taken to run to the
//! end of its file, as the project's test modules do: `super::` in it is its file.

use std::collections::BTreeMap;
use std::path::Path;

/// The domain's capabilities and helpers, lowest first.
const DOMAIN: &[&str] = &[
    "i18n",
    "templates",
    "sla",
    "chat",
    "routing",
    "oncall",
    "maintenance",
    "metrics",
    "site",
    "timeline",
    "alerts",
    "subscriptions",
    "publishing",
    "chatops",
    "app",
];

/// Intake's modules (`openmic-intake`, between the vocabulary and the domain), lowest
/// first.
const INTAKE: &[&str] = &["payload", "hooks", "projects", "auth", "alerts"];

/// The vocabulary's modules, lowest first.
const CORE: &[&str] = &[
    "errors", "html", "reply", "time", "ids", "signing", "clock", "config", "mail", "ports",
    "document", "message", "gitlab", "memory", "compose", "consumer",
];

type Module = Vec<String>;

/// A crate's modules under `src`, each with its source (`lib.rs` is the root, `[]`).
fn modules(src: &Path) -> Vec<(Module, String)> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("the sources are readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(src)
                    .expect("under src")
                    .with_extension("");
                let mut names: Module = relative
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect();
                if names.last().is_some_and(|n| n == "mod" || n == "lib") {
                    names.pop();
                }
                let source = std::fs::read_to_string(&path).expect("a source file");
                out.push((names, source));
            }
        }
    }
    out.sort();
    out
}

/// The paths a use tree names, from `at` in `code` on: `a::b`, and for
/// `a::{b, c::{d, self}}` each of `a::b`, `a::c::d`, `a::c`.
fn spread(code: &[u8], at: &mut usize) -> Vec<Module> {
    let mut prefix = Module::new();
    loop {
        while code.get(*at).is_some_and(u8::is_ascii_whitespace) {
            *at += 1;
        }
        if code.get(*at) == Some(&b'{') {
            *at += 1;
            let mut out = Vec::new();
            while *at < code.len() && code[*at] != b'}' {
                for tail in spread(code, at) {
                    let mut path = prefix.clone();
                    path.extend(tail.into_iter().filter(|s| s != "self"));
                    out.push(path);
                }
                while *at < code.len() && !matches!(code[*at], b',' | b'}') {
                    *at += 1; // `*`, `as name`
                }
                *at += usize::from(code.get(*at) == Some(&b','));
            }
            *at += 1;
            return out;
        }
        let start = *at;
        while code
            .get(*at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            *at += 1;
        }
        if *at > start {
            prefix.push(String::from_utf8_lossy(&code[start..*at]).into_owned());
        }
        if !code[*at..].starts_with(b"::") || *at == start {
            return vec![prefix];
        }
        *at += 2;
    }
}

/// The modules' paths a file in module `here` uses, absolute (`crate::` left off).
fn uses(here: &[String], source: &str) -> Vec<Module> {
    let code: String = source
        .lines()
        .map(|l| l.find("//").map_or(l, |at| &l[..at]))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let inline = code.find("mod tests {").unwrap_or(code.len());
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .any(|w| bytes[at..].starts_with(w.as_bytes()));
        // Not the middle of a name or of a path (`my_crate::`, `::self::`).
        let inside =
            at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || b"_:".contains(&bytes[at - 1]));
        if !starts || inside {
            at += 1;
            continue;
        }
        let mut base: Module = here.to_vec();
        if at > inline {
            base.push("tests".to_owned());
        }
        for path in spread(bytes, &mut at) {
            let mut module = base.clone();
            let mut rest = path.as_slice();
            while let Some((head, tail)) = rest.split_first() {
                match head.as_str() {
                    "crate" => module.clear(),
                    "super" => {
                        module.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = tail;
            }
            module.extend(rest.iter().cloned());
            out.push(module);
        }
    }
    out
}

/// The uses of a crate's modules that break its order, and its cycles, each a line;
/// and the top-level modules missing from the order.
fn check(modules: &[(Module, String)], order: &[&str]) -> (Vec<String>, Vec<String>) {
    let level = |m: &[String]| m.first().and_then(|t| order.iter().position(|o| o == t));
    let mut edges: BTreeMap<&[String], Vec<&[String]>> = BTreeMap::new();
    let (mut breaks, mut unlisted) = (Vec::new(), Vec::new());
    for (here, source) in modules {
        let Some(top) = here.first() else { continue };
        if top == "layers" {
            continue;
        }
        let Some(own) = level(here) else {
            unlisted.push(top.clone());
            continue;
        };
        for path in uses(here, source) {
            // The deepest module the path names.
            let Some((to, _)) = (0..=path.len())
                .rev()
                .find_map(|n| modules.iter().find(|(m, _)| *m == path[..n]))
            else {
                continue;
            };
            if to.starts_with(here) || here.starts_with(to) {
                continue;
            }
            if level(to).is_some_and(|used| used > own) {
                breaks.push(format!("{} uses {}", here.join("::"), to[0]));
            }
            edges.entry(here).or_default().push(to);
        }
    }
    // One cycle for each way back to a module on the walk's path (a depth-first walk
    // finds one whenever there is any).
    fn walk<'a>(
        at: &'a [String],
        edges: &BTreeMap<&'a [String], Vec<&'a [String]>>,
        path: &mut Vec<&'a [String]>,
        done: &mut Vec<&'a [String]>,
        found: &mut Vec<String>,
    ) {
        path.push(at);
        for &next in edges.get(&at).into_iter().flatten() {
            if let Some(start) = path.iter().position(|p| *p == next) {
                let cycle: Vec<String> = path[start..]
                    .iter()
                    .chain([&next])
                    .map(|m| m.join("::"))
                    .collect();
                found.push(format!("a cycle: {}", cycle.join(" → ")));
            } else if !done.contains(&next) {
                walk(next, edges, path, done, found);
            }
        }
        path.pop();
        done.push(at);
    }
    let mut done = Vec::new();
    for &from in edges.keys() {
        if !done.contains(&from) {
            walk(from, &edges, &mut Vec::new(), &mut done, &mut breaks);
        }
    }
    breaks.sort();
    breaks.dedup();
    unlisted.sort();
    unlisted.dedup();
    (breaks, unlisted)
}

#[cfg(test)]
fn module(path: &str, source: &str) -> (Module, String) {
    (
        path.split("::").map(str::to_owned).collect(),
        source.to_owned(),
    )
}

#[test]
fn uses_are_found_in_code_not_comments() {
    let here = ["alerts".to_owned(), "mail".to_owned()];
    let source = "//! see crate::publishing
        use crate::{site::render, i18n};
        use super::{lifecycle::{self, Notice}, storm::*, message as m}; // crate::chat
        let x = crate::alerts::Alert; let y = openmic_core::time::format(); let z = ::self::a;
        mod tests {
            use super::*;
            use super::super::links::Links;
        }";
    let found: Vec<String> = uses(&here, source).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "site::render",
            "i18n",
            "alerts::lifecycle",
            "alerts::lifecycle::Notice",
            "alerts::storm",
            "alerts::message",
            "alerts::Alert",
            "alerts::mail",
            "alerts::links::Links",
        ]
    );
}

#[test]
fn a_cycle_between_submodules_fails_at_any_depth() {
    let order = ["chat", "alerts"];
    let mut modules = vec![
        module("chat", ""),
        module(
            "alerts",
            "pub mod record; pub mod lifecycle; pub use lifecycle::Notifier;",
        ),
        module(
            "alerts::record",
            "use crate::chat::Retries; use super::Alert;",
        ),
        module("alerts::muting", "use super::record::AlertRecord;"),
        module(
            "alerts::lifecycle",
            "use super::{Alert, muting::Muted, record};",
        ),
    ];
    assert_eq!(check(&modules, &order), (vec![], vec![]));
    modules[2] = module(
        "alerts::record",
        "fn f() { crate::alerts::lifecycle::apply(); }",
    );
    let (breaks, _) = check(&modules, &order);
    assert_eq!(
        breaks,
        ["a cycle: alerts::lifecycle → alerts::muting → alerts::record → alerts::lifecycle"]
    );
}

#[test]
fn a_use_of_a_module_above_fails() {
    let modules = [
        module("chat", ""),
        module("chat::text", "use crate::alerts::Alert;"),
        module("alerts", ""),
        module("stray", ""),
    ];
    let (breaks, unlisted) = check(&modules, &["chat", "alerts"]);
    assert_eq!(breaks, ["chat::text uses alerts"]);
    assert_eq!(unlisted, ["stray"]);
}

#[test]
fn no_module_uses_one_above_it_and_no_cycle_at_any_depth() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (src, order) in [
        (here.join("src"), DOMAIN),
        (here.join("../intake/src"), INTAKE),
        (here.join("../core/src"), CORE),
    ] {
        let (breaks, unlisted) = check(&modules(&src), order);
        assert_eq!(breaks, Vec::<String>::new(), "in {}", src.display());
        assert_eq!(
            unlisted,
            Vec::<String>::new(),
            "modules of {} with no place in the order",
            src.display()
        );
    }
}
