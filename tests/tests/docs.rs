//! The documentation against the repository: every link between the docs reaches a
//! file and a heading that exist, every variable and parameter README names is in
//! docs/configuration.md, the set-up examples have the shape their tools read, no
//! text refers to files outside the repository, and README's local steps, run as
//! written against `openmic-local`'s configuration, publish an incident and mail an
//! alert.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openmic::config::Config;
use serde_norway::Value as Yaml;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README, SECURITY, CHANGELOG and every page under docs/, by path from the root.
fn documents() -> Vec<String> {
    let mut docs = vec![
        "README.md".to_owned(),
        "SECURITY.md".to_owned(),
        "CHANGELOG.md".to_owned(),
    ];
    let mut pages: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// The lines of `text` outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The fenced code blocks of `text`, each with its info string (`sh`, `yaml`); a block
/// inside a list item loses the indentation of its fence.
fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some((_, info, body)) => blocks.push((info, body)),
                None => current = Some((indent, info.trim().to_owned(), String::new())),
            }
            continue;
        }
        if let Some((fence, _, body)) = current.as_mut() {
            body.push_str(&line[indent.min(*fence)..]);
            body.push('\n');
        }
    }
    blocks
}

/// GitHub's anchor for a heading: lower case, letters, digits, `-` and `_` kept,
/// spaces as `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings (a repeated heading gets `-1`, `-2`).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of the inline links `[text](target)` in a line, outside code spans.
fn link_targets(line: &str) -> Vec<String> {
    // Code spans hold examples, not links.
    let mut plain = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            plain.push_str(part);
        }
        plain.push(' ');
    }
    let mut out = Vec::new();
    let mut rest = plain.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                out.push(after[..end].trim().to_owned());
                rest = &after[end..];
            }
            None => break,
        }
    }
    out
}

#[test]
fn every_link_between_the_docs_reaches_a_file_and_a_heading() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = read(&doc);
        let dir = Path::new(&doc).parent().unwrap().to_path_buf();
        for line in prose(&text) {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    PathBuf::from(&doc)
                } else {
                    dir.join(path)
                };
                let on_disk = repo().join(&file);
                if !on_disk.exists() {
                    broken.push(format!("{doc}: {target}: no file {}", file.display()));
                    continue;
                }
                if let Some(anchor) = anchor {
                    let text = std::fs::read_to_string(&on_disk).unwrap_or_default();
                    if !anchors(&text).contains(anchor) {
                        broken.push(format!("{doc}: {target}: no heading #{anchor}"));
                    }
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: the scan is wrong"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_slug_is_githubs() {
    assert_eq!(slug("GitLab's API (optional)"), "gitlabs-api-optional");
    assert_eq!(
        slug("Recipients from GitLab (`NOTIFY_ROLES`)"),
        "recipients-from-gitlab-notify_roles"
    );
    assert_eq!(
        slug("On AWS: the template's parameters"),
        "on-aws-the-templates-parameters"
    );
    assert_eq!(
        anchors("# A\n## B b\n```\n# not a heading\n```\n## B b\n"),
        BTreeSet::from(["a".into(), "b-b".into(), "b-b-1".into()])
    );
}

/// The words in backticks of `text`'s prose.
fn code_spans(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose(text) {
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 1 {
                out.insert(part.to_owned());
            }
        }
    }
    out
}

fn template() -> Yaml {
    serde_norway::from_str(&read("template.yaml")).expect("template.yaml is YAML")
}

fn keys_of(yaml: &Yaml, section: &str) -> BTreeSet<String> {
    yaml[section]
        .as_mapping()
        .unwrap_or_else(|| panic!("template.yaml has no {section}"))
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// `GITLAB_WEBHOOK_SECRET` as the template's parameter: `GitlabWebhookSecret`.
fn camel(variable: &str) -> String {
    variable
        .split('_')
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_string() + &chars.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

#[test]
fn every_variable_and_parameter_the_readme_names_is_in_the_configuration() {
    let readme = code_spans(&read("README.md"));
    let configuration = code_spans(&read("docs/configuration.md"));
    let operations = code_spans(&read("docs/operations.md"));
    let declared: BTreeSet<String> = openmic::variables()
        .chain(openmic_aws::VARIABLES)
        .chain(openmic_gitlab::VARIABLES)
        .map(|v| v.name.to_owned())
        .collect();
    let t = template();
    let parameters = keys_of(&t, "Parameters");
    let outputs = keys_of(&t, "Outputs");
    let env_like = |w: &str| {
        w.contains('_')
            && w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let camel_like = |w: &str| {
        w.len() > 3
            && w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && w.chars().all(|c| c.is_ascii_alphanumeric())
            && w.chars().skip(1).any(|c| c.is_ascii_lowercase())
            && w.chars().skip(1).any(|c| c.is_ascii_uppercase())
    };
    let mut missing = Vec::new();
    let mut named = 0;
    for word in &readme {
        // `NAME=value` and `Name=value` name the variable or parameter before `=`.
        let word = word.split('=').next().unwrap_or_default();
        if env_like(word) || declared.contains(word) {
            named += 1;
            if !configuration.iter().any(|s| s.contains(word)) {
                missing.push(format!(
                    "the variable {word} is not in docs/configuration.md"
                ));
            }
        } else if parameters.contains(word) {
            named += 1;
            let documented =
                configuration.contains(word) || declared.iter().any(|v| camel(v) == word);
            if !documented {
                missing.push(format!(
                    "the parameter {word} is not in docs/configuration.md"
                ));
            }
        } else if outputs.contains(word) {
            if !operations.contains(word) {
                missing.push(format!("the output {word} is not in docs/operations.md"));
            }
        } else if camel_like(word) && !word.ends_with("Function") {
            missing.push(format!(
                "README names `{word}`, which is no parameter and no output of template.yaml"
            ));
        }
    }
    assert!(named >= 10, "only {named} variables and parameters found");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    for p in &parameters {
        assert!(
            declared.iter().any(|v| camel(v) == *p) || configuration.contains(p),
            "the parameter {p} is neither a variable's nor in docs/configuration.md"
        );
    }
}

fn yaml_blocks(doc: &str) -> Vec<Yaml> {
    code_blocks(&read(doc))
        .into_iter()
        .filter(|(info, _)| info == "yaml")
        .map(|(_, body)| {
            serde_norway::from_str(&body).unwrap_or_else(|e| panic!("{doc}: {e}\n{body}"))
        })
        .collect()
}

#[test]
fn the_alertmanager_example_adds_a_child_route_and_keeps_the_tree() {
    let blocks = yaml_blocks("README.md");
    let config = blocks
        .iter()
        .find(|b| !b["route"].is_null())
        .expect("README has Alertmanager's configuration");
    let route = &config["route"];
    let child = &route["routes"][0];
    let receiver = child["receiver"]
        .as_str()
        .expect("the child names a receiver");
    assert_ne!(
        route["receiver"].as_str(),
        Some(receiver),
        "the example must not make openmic the default receiver of the whole tree"
    );
    assert_eq!(child["continue"].as_bool(), Some(true));
    let matchers = child["matchers"].as_sequence().expect("matchers, a list");
    assert!(
        matchers
            .iter()
            .all(|m| m.as_str().is_some_and(|m| m.contains('='))),
        "{matchers:?}"
    );
    let receivers = config["receivers"].as_sequence().expect("receivers");
    let openmic = receivers
        .iter()
        .find(|r| r["name"].as_str() == Some(receiver))
        .expect("the child's receiver is defined");
    let hook = &openmic["webhook_configs"][0];
    assert!(hook["url"].as_str().unwrap().ends_with("/alerts"));
    assert_eq!(hook["send_resolved"].as_bool(), Some(true));
    assert_eq!(
        hook["http_config"]["authorization"]["type"].as_str(),
        Some("Bearer")
    );
}

#[test]
fn the_grafana_example_is_a_provisioned_webhook_contact_point() {
    let blocks = yaml_blocks("README.md");
    let file = blocks
        .iter()
        .find(|b| !b["contactPoints"].is_null())
        .expect("README has Grafana's provisioning file");
    assert_eq!(file["apiVersion"].as_u64(), Some(1));
    let point = &file["contactPoints"][0];
    assert!(point["name"].as_str().is_some());
    let receiver = &point["receivers"][0];
    assert_eq!(receiver["type"].as_str(), Some("webhook"));
    let settings = &receiver["settings"];
    assert!(settings["url"].as_str().unwrap().ends_with("/alerts"));
    assert_eq!(settings["authorization_scheme"].as_str(), Some("Bearer"));
    assert!(
        settings["authorization_credentials"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
}

#[test]
fn nothing_refers_to_files_outside_the_repository() {
    let outside: Vec<String> = ["DESIGN", "STYLE", "TOOLCHAIN"]
        .iter()
        .map(|n| format!("{n}.md"))
        .collect();
    // Recorded material of earlier releases and of others stays as it was recorded.
    let skip = [
        "target",
        ".git",
        "node_modules",
        ".venv",
        ".aws-sam",
        "fixtures",
        "corpus",
        "artifacts",
    ];
    let mut found = Vec::new();
    let mut stack = vec![repo()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !skip.contains(&name.as_str()) && !name.starts_with('.') {
                    stack.push(path);
                }
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            files += 1;
            for o in &outside {
                if text.contains(o.as_str()) {
                    found.push(format!("{}: {o}", path.display()));
                }
            }
        }
    }
    assert!(files > 100, "only {files} files read");
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// A shell command line split as the shell splits it: blanks separate words, single
/// and double quotes group (no escapes inside are needed by the README's commands),
/// `$NAME` inside double quotes or bare is replaced from `vars`.
fn shell_words(line: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    let expand = |s: &str| {
        let mut out = s.to_owned();
        for (k, v) in vars {
            out = out.replace(&format!("${k}"), v);
        }
        out
    };
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                word.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                in_word = true;
                let quoted: String = chars.by_ref().take_while(|&c| c != '"').collect();
                word.push_str(&expand(&quoted));
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '$' => {
                in_word = true;
                let name: String = chars
                    .clone()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                for _ in 0..name.chars().count() {
                    chars.next();
                }
                word.push_str(&expand(&format!("${name}")));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A `curl` command: its URL, headers, and body.
type Curl = (String, Vec<(String, String)>, Vec<u8>);

/// README's `curl` commands.
fn readme_curls(vars: &BTreeMap<String, String>) -> Vec<Curl> {
    let mut out = Vec::new();
    for (info, body) in code_blocks(&read("README.md")) {
        if info != "sh" {
            continue;
        }
        let joined = body.replace("\\\n", " ");
        for line in joined.lines() {
            let line = line.split(" # ").next().unwrap_or_default();
            let words = shell_words(line, vars);
            if words.first().map(String::as_str) != Some("curl") {
                continue;
            }
            let (mut url, mut headers, mut data) = (String::new(), Vec::new(), Vec::new());
            let mut it = words.iter().skip(1);
            while let Some(w) = it.next() {
                match w.as_str() {
                    "-H" => {
                        let h = it.next().expect("a header after -H");
                        let (k, v) = h.split_once(':').expect("a header is Name: value");
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                    "-d" | "--data" | "--data-binary" => {
                        let d = it.next().expect("data after -d");
                        data = match d.strip_prefix('@') {
                            Some(file) => std::fs::read(repo().join(file))
                                .unwrap_or_else(|e| panic!("README's curl reads {file}: {e}")),
                            None => d.clone().into_bytes(),
                        };
                    }
                    w if w.starts_with("http") => url = w.to_owned(),
                    _ => {}
                }
            }
            out.push((url, headers, data));
        }
    }
    out
}

#[test]
fn the_readme_starts_with_the_two_commands() {
    let readme = read("README.md");
    let (_, first) = code_blocks(&readme).into_iter().next().unwrap();
    let commands: Vec<&str> = first
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        commands,
        [
            "PUBLISHERS=alice cargo run -p openmic-local -- serve --listen 127.0.0.1:8080 --data-dir openmic-data",
            "scripts/test",
        ]
    );
}

#[tokio::test]
async fn the_readmes_local_steps_publish_an_incident_and_mail_an_alert() {
    // The first command's environment, as README gives it.
    let readme = read("README.md");
    let (_, first) = code_blocks(&readme).into_iter().next().unwrap();
    let serve = first
        .lines()
        .find(|l| l.contains("openmic-local -- serve"))
        .unwrap();
    let env: BTreeMap<String, String> = serve
        .split_whitespace()
        .take_while(|w| w.contains('='))
        .map(|w| {
            let (k, v) = w.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert!(env.contains_key("PUBLISHERS"), "{serve}");
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("README's settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut generated = Vec::new();
    let config = openmic_local::local_config(config, Some(&addr.to_string()), &mut generated);
    config
        .check_can_publish()
        .expect("README's command can publish");
    // What the first command prints, and the second terminal exports.
    let mut vars: BTreeMap<String, String> = generated
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert!(vars.contains_key("GITLAB_WEBHOOK_SECRET") && vars.contains_key("ALERT_TOKEN"));
    let dir = tempfile::tempdir().unwrap();
    let runner = Arc::new(openmic_local::Runner::embedded(dir.path(), config).unwrap());
    runner.publisher.write_list().await.unwrap();
    let app = runner.app();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}");
    vars.insert("ADDR".into(), base.clone());

    let curls = readme_curls(&vars);
    let client = reqwest::Client::new();
    let post = |url: &str, headers: &[(String, String)], data: &[u8]| {
        let url = url.replace("http://127.0.0.1:8080", &base);
        let mut request = client.post(url).body(data.to_vec());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };
    let (url, headers, data) = curls
        .iter()
        .find(|(url, ..)| url.ends_with("/gitlab"))
        .expect("README sends a GitLab hook");
    let answer = post(url, headers, data).await.unwrap();
    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"queued": 1})
    );
    runner.drain().await;
    let hook: serde_json::Value = serde_json::from_slice(data).unwrap();
    let title = hook["object_attributes"]["title"].as_str().unwrap();
    let page = client
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(title), "the page shows the incident:\n{page}");
    let list: serde_json::Value = client
        .get(format!("{base}/data/list.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["incidents"][0]["title"], serde_json::json!(title));

    let (url, headers, data) = curls
        .iter()
        .find(|(url, ..)| url.ends_with("/alerts"))
        .expect("README sends an alert");
    let answer = post(url, headers, data).await.unwrap();
    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());
    runner.drain().await;
    let alert: serde_json::Value = serde_json::from_slice(data).unwrap();
    let mails: Vec<Vec<u8>> = std::fs::read_dir(dir.path().join("outbox"))
        .expect("the outbox README points at")
        .filter_map(|e| e.ok())
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 1, "one mail for one new alert");
    let mail = mail_parser::MessageParser::default()
        .parse(&mails[0])
        .expect("an RFC 5322 mail");
    let title = alert["title"].as_str().unwrap();
    assert!(
        mail.subject().is_some_and(|s| s.contains(title)),
        "{:?}",
        mail.subject()
    );
    server.abort();
}
