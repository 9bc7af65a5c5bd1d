//! template.yaml against the code: what cfn-lint cannot know. Every function's
//! environment names exist in the configuration the code reads, and every setting
//! reaches a function; the functions are the workspace's arm64 binaries; the queues are
//! FIFO with dead letters, wired from their producer to their consumer, with a
//! visibility timeout that outlasts the consumer; the roles hold what each function
//! does and nothing by wildcard.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use openmic::config::{Config, Function as Fn, Variable};
use serde_json::{Map, Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// YAML to JSON, with CloudFormation's short forms (`!Ref X`, `!GetAtt A.B`, `!Sub s`,
/// ...) turned into their long forms (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`).
fn to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => panic!("template.yaml: non-string key {other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(t.value);
            if name == "Ref" {
                json!({ "Ref": value })
            } else if name == "GetAtt" {
                let parts = match &value {
                    Value::String(s) => match s.split_once('.') {
                        Some((a, b)) => json!([a, b]),
                        None => panic!("template.yaml: !GetAtt {s} has no attribute"),
                    },
                    other => other.clone(),
                };
                json!({ "Fn::GetAtt": parts })
            } else {
                json!({ format!("Fn::{name}"): value })
            }
        }
    }
}

struct Template {
    doc: Value,
}

impl Template {
    fn load() -> Template {
        let path = repo().join("template.yaml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let yaml: serde_norway::Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("template.yaml: {e}"));
        Template { doc: to_json(yaml) }
    }

    fn resources(&self) -> &Map<String, Value> {
        self.doc["Resources"]
            .as_object()
            .expect("template.yaml has Resources")
    }

    fn resource(&self, name: &str) -> &Value {
        self.resources()
            .get(name)
            .unwrap_or_else(|| panic!("template.yaml: no resource {name}"))
    }

    fn of_type(&self, ty: &str) -> Vec<(&str, &Value)> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == ty)
            .map(|(n, r)| (n.as_str(), r))
            .collect()
    }

    /// The functions, each with its properties merged over `Globals.Function`.
    fn functions(&self) -> Vec<Function<'_>> {
        let globals = self.doc["Globals"]["Function"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let functions: Vec<Function<'_>> = self
            .of_type("AWS::Serverless::Function")
            .into_iter()
            .map(|(name, r)| {
                let mut props = globals.clone();
                for (k, v) in r["Properties"].as_object().into_iter().flatten() {
                    props.insert(k.clone(), v.clone());
                }
                Function {
                    name,
                    resource: r,
                    props: Value::Object(props),
                }
            })
            .collect();
        assert!(!functions.is_empty(), "template.yaml has no functions");
        functions
    }

    fn function_with_binary(&self, binary: &str) -> Function<'_> {
        self.functions()
            .into_iter()
            .find(|f| f.binary() == binary)
            .unwrap_or_else(|| panic!("template.yaml: no function builds {binary}"))
    }

    /// The statements of an IAM role's inline policies.
    fn role_statements(&self, role: &str) -> Vec<Value> {
        let r = self.resource(role);
        assert_eq!(r["Type"], "AWS::IAM::Role", "{role}");
        r["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().cloned())
            .flatten()
            .collect()
    }
}

struct Function<'a> {
    name: &'a str,
    resource: &'a Value,
    props: Value,
}

impl Function<'_> {
    fn binary(&self) -> String {
        self.resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no Metadata.BuildProperties.Binary", self.name))
            .to_owned()
    }

    fn env(&self) -> BTreeMap<String, Value> {
        self.props["Environment"]["Variables"]
            .as_object()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default()
    }

    fn events(&self, ty: &str) -> Vec<(String, Value)> {
        self.props["Events"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, e)| e["Type"] == ty)
            .map(|(n, e)| (n.clone(), e["Properties"].clone()))
            .collect()
    }

    fn timeout(&self) -> i64 {
        self.props["Timeout"]
            .as_i64()
            .unwrap_or_else(|| panic!("{}: no numeric Timeout", self.name))
    }

    /// The role resource the function runs as (`Role: !GetAtt X.Arn`).
    fn role(&self) -> String {
        getatt_target(&self.props["Role"], "Arn")
            .unwrap_or_else(|| panic!("{}: Role is not !GetAtt <role>.Arn", self.name))
    }
}

/// `X` of `{"Ref": "X"}`.
/// `v` with every `Fn::If` taken by `holds` (a condition's name: whether it holds),
/// and `AWS::NoValue` left out, as CloudFormation resolves it.
fn resolve(v: &Value, holds: &dyn std::ops::Fn(&str) -> bool) -> Value {
    let no_value = |v: &Value| v["Ref"] == "AWS::NoValue";
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::If") => {
            let parts = m["Fn::If"].as_array().expect("Fn::If's list");
            let taken = match holds(parts[0].as_str().unwrap()) {
                true => &parts[1],
                false => &parts[2],
            };
            resolve(taken, holds)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve(v, holds)))
                .filter(|(_, v)| !no_value(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(v, holds))
                .filter(|v| !no_value(v))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A string function of `Fn::Join`, `Fn::Split`, `Fn::Select`, `Fn::Sub` and `Ref`
/// of parameters, evaluated as CloudFormation does with `parameters`.
fn evaluate(v: &Value, parameters: &BTreeMap<&str, &str>) -> Value {
    let text = |v: &Value| evaluate(v, parameters).as_str().unwrap().to_owned();
    let list = |v: &Value| -> Vec<Value> {
        match evaluate(v, parameters) {
            Value::Array(items) => items,
            other => panic!("not a list: {other}"),
        }
    };
    match v {
        Value::String(_) => v.clone(),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| evaluate(i, parameters)).collect())
        }
        Value::Object(m) if m.contains_key("Ref") => {
            json!(parameters[m["Ref"].as_str().unwrap()])
        }
        Value::Object(m) if m.contains_key("Fn::Sub") => {
            let mut out = m["Fn::Sub"].as_str().expect("a plain !Sub").to_owned();
            for (k, val) in parameters {
                out = out.replace(&format!("${{{k}}}"), val);
            }
            json!(out)
        }
        Value::Object(m) if m.contains_key("Fn::Join") => {
            let a = m["Fn::Join"].as_array().unwrap();
            let parts: Vec<String> = list(&a[1]).iter().map(text).collect();
            json!(parts.join(a[0].as_str().unwrap()))
        }
        Value::Object(m) if m.contains_key("Fn::Split") => {
            let a = m["Fn::Split"].as_array().unwrap();
            let whole = text(&a[1]);
            json!(whole.split(a[0].as_str().unwrap()).collect::<Vec<_>>())
        }
        Value::Object(m) if m.contains_key("Fn::Select") => {
            let a = m["Fn::Select"].as_array().unwrap();
            let i = a[0].as_u64().unwrap() as usize;
            list(&a[1])
                .get(i)
                .cloned()
                .unwrap_or_else(|| panic!("Fn::Select {i} out of range: a failed deploy"))
        }
        other => panic!("not evaluated here: {other}"),
    }
}

fn ref_target(v: &Value) -> Option<String> {
    v.as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.get("Ref"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `X` of `{"Fn::GetAtt": ["X", attribute]}`.
fn getatt_target(v: &Value, attribute: &str) -> Option<String> {
    let parts = v.get("Fn::GetAtt")?.as_array()?;
    (parts.len() == 2 && parts[1] == attribute)
        .then(|| parts[0].as_str().map(str::to_owned))
        .flatten()
}

/// The `[[bin]]` names of `functions/*/Cargo.toml`.
fn function_binaries() -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    let dir = repo().join("functions");
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let mut in_bin = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if in_bin
                && let Some((key, value)) = line.split_once('=')
                && key.trim() == "name"
            {
                bins.insert(value.trim().trim_matches('"').to_owned());
            }
        }
    }
    assert!(!bins.is_empty(), "no [[bin]] in functions/*/Cargo.toml");
    bins
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether an Allow statement grants `action` on a resource that mentions `target`
/// (a `!GetAtt target.Arn`, or a `!Sub` naming `${target...}`).
fn grants(statements: &[Value], action: &str, target: &str) -> bool {
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"]).iter().any(|a| a == action)
            && match &s["Resource"] {
                Value::Array(items) => items.iter().any(|r| mentions(r, target)),
                r => mentions(r, target),
            }
    })
}

fn mentions(resource: &Value, target: &str) -> bool {
    getatt_target(resource, "Arn").as_deref() == Some(target)
        || resource["Fn::Sub"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("${{{target}.")))
}

/// Every setting, as the capabilities and adapters that read it declare it.
fn variables() -> Vec<&'static Variable> {
    openmic::variables()
        .chain(openmic_aws::VARIABLES)
        .chain(openmic_gitlab::VARIABLES)
        .collect()
}

fn function_of(binary: &str) -> Fn {
    Fn::ALL
        .into_iter()
        .find(|f| f.binary() == binary)
        .unwrap_or_else(|| panic!("{binary} is no function"))
}

#[test]
fn the_declarations_are_what_the_configuration_reads() {
    let read = std::sync::Mutex::new(BTreeSet::new());
    Config::from_lookup(|name| {
        read.lock().unwrap().insert(name.to_owned());
        None
    })
    .unwrap();
    let declared: BTreeSet<String> = variables().iter().map(|v| v.name.to_owned()).collect();
    assert_eq!(read.into_inner().unwrap(), declared);
    assert_eq!(
        declared.len(),
        variables().len(),
        "a variable is declared twice"
    );
}

#[test]
fn each_function_gets_exactly_the_settings_it_reads() {
    let t = Template::load();
    for f in t.functions() {
        let function = function_of(&f.binary());
        let want: BTreeSet<String> = variables()
            .iter()
            .filter(|v| v.read_by.contains(&function))
            .map(|v| v.name.to_owned())
            .collect();
        let got: BTreeSet<String> = f.env().into_keys().collect();
        assert_eq!(
            got, want,
            "{}: its Environment against the declarations",
            f.name
        );
    }
}

/// docs/configuration.md's table of variables is made from the declarations: a
/// variable added, renamed or described anew changes the table with it.
#[test]
fn the_configuration_table_is_the_declarations() {
    let doc = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    let (start, end) = (
        "<!-- variables: made from the declarations -->\n",
        "<!-- /variables -->",
    );
    let mut table = String::from("| variable | default | meaning |\n| --- | --- | --- |\n");
    for v in variables() {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            v.name, v.default, v.meaning
        ));
    }
    let block = doc
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(block, _)| block)
        .expect("docs/configuration.md has the variables block");
    assert!(
        block == table,
        "docs/configuration.md's table differs from the declarations; it should read:\n{table}"
    );
}

#[test]
fn a_setting_has_one_value_across_functions_and_secrets_are_no_echo() {
    let t = Template::load();
    let mut values: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for f in t.functions() {
        for (name, value) in f.env() {
            if let Some((first, v)) = values.get(&name) {
                assert_eq!(v, &value, "{name} differs between {first} and {}", f.name);
            } else {
                values.insert(name, (f.name.to_owned(), value));
            }
        }
    }
    // Secrets a function reads (the local runner's alone, such as the sign-in's, are
    // in no function's environment).
    let secrets: Vec<&str> = variables()
        .iter()
        .filter(|v| v.secret && !v.read_by.is_empty())
        .map(|v| v.name)
        .collect();
    assert!(secrets.len() >= 4, "{secrets:?}");
    for secret in secrets {
        let (_, value) = &values[secret];
        let param = secret_parameter(&t, value)
            .unwrap_or_else(|| panic!("{secret} should come from a parameter: {value}"));
        assert_eq!(
            t.doc["Parameters"][&param]["NoEcho"], true,
            "parameter {param} ({secret}) must be NoEcho"
        );
    }
}

/// The parameter a secret's value comes from: `!Ref P`, or, for a key the stack may
/// generate, `!If [C, "{{resolve:secretsmanager:${S}:SecretString}}", !Ref P]` where
/// S is a Secrets Manager secret that exists exactly when C holds, and C holds only
/// when P is empty.
fn secret_parameter(t: &Template, value: &Value) -> Option<String> {
    if let Some(param) = ref_target(value) {
        return Some(param);
    }
    let [condition, generated, given] = value["Fn::If"].as_array()?.as_slice() else {
        return None;
    };
    let param = ref_target(given)?;
    let condition = condition.as_str()?;
    let reference = generated["Fn::Sub"].as_str()?;
    let secret = reference
        .strip_prefix("{{resolve:secretsmanager:${")?
        .strip_suffix("}:SecretString}}")?;
    let resource = t.resource(secret);
    assert_eq!(resource["Type"], "AWS::SecretsManager::Secret", "{secret}");
    assert_eq!(
        resource["Condition"], condition,
        "{secret} exists when {condition}"
    );
    assert!(
        resource["Properties"]["GenerateSecretString"]["PasswordLength"]
            .as_i64()
            .is_some_and(|n| n >= 32),
        "{secret}: at least 32 generated characters"
    );
    let empty = json!({ "Fn::Equals": [{ "Ref": param }, ""] });
    let c = &t.doc["Conditions"][condition];
    let holds_only_when_empty = *c == empty
        || c["Fn::And"]
            .as_array()
            .is_some_and(|all| all.contains(&empty));
    assert!(
        holds_only_when_empty,
        "{condition} must hold only when {param} is empty: {c}"
    );
    Some(param)
}

#[test]
fn functions_are_the_workspace_binaries_on_arm64_al2023() {
    let t = Template::load();
    let bins = function_binaries();
    let mut deployed = BTreeSet::new();
    for f in t.functions() {
        let p = &f.props;
        assert_eq!(p["Runtime"], "provided.al2023", "{}: Runtime", f.name);
        assert_eq!(
            p["Architectures"],
            json!(["arm64"]),
            "{}: Architectures",
            f.name
        );
        assert_eq!(p["Handler"], "bootstrap", "{}: Handler", f.name);
        assert_eq!(
            p["CodeUri"], ".",
            "{}: CodeUri is the workspace root, where cargo-lambda builds",
            f.name
        );
        assert_eq!(
            f.resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{}: BuildMethod",
            f.name
        );
        assert_eq!(
            p["LoggingConfig"]["LogFormat"], "JSON",
            "{}: LogFormat",
            f.name
        );
        let memory = p["MemorySize"].as_i64().unwrap_or(128);
        assert!(
            (128..=10240).contains(&memory),
            "{}: MemorySize {memory}",
            f.name
        );
        assert!((1..=900).contains(&f.timeout()), "{}: Timeout", f.name);
        let binary = f.binary();
        assert!(
            bins.contains(&binary),
            "{}: Binary {binary} is not a [[bin]] of functions/*/Cargo.toml ({bins:?})",
            f.name
        );
        assert!(deployed.insert(binary.clone()), "{binary} deployed twice");
    }
    assert_eq!(deployed, bins, "every function binary is deployed once");
}

#[test]
fn http_routes_reach_the_intake_functions() {
    let t = Template::load();
    for (path, binary) in [
        ("/gitlab", "openmic-webhook"),
        ("/alerts", "openmic-alerts"),
    ] {
        let f = t.function_with_binary(binary);
        let routes: Vec<(String, String)> = f
            .events("HttpApi")
            .into_iter()
            .map(|(_, p)| {
                (
                    p["Method"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_uppercase(),
                    p["Path"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            routes,
            vec![("POST".to_owned(), path.to_owned())],
            "{}: routes",
            f.name
        );
    }
}

#[test]
fn queues_are_fifo_with_dead_letters_and_wired_producer_to_consumer() {
    let t = Template::load();
    // (producer binary, its queue variable, consumer binary)
    let flows = [
        ("openmic-webhook", "PUBLISH_QUEUE_URL", "openmic-publisher"),
        ("openmic-alerts", "ALERT_QUEUE_URL", "openmic-notifier"),
        (
            "openmic-publisher",
            "UPDATE_QUEUE_URL",
            "openmic-subscriptions",
        ),
    ];
    for (producer, variable, consumer) in flows {
        let producer = t.function_with_binary(producer);
        let queue = ref_target(&producer.env()[variable])
            .unwrap_or_else(|| panic!("{}: {variable} should be !Ref <queue>", producer.name));
        let consumer = t.function_with_binary(consumer);
        let sqs = consumer.events("SQS");
        assert_eq!(sqs.len(), 1, "{}: one SQS event source", consumer.name);
        let (event, props) = &sqs[0];
        assert_eq!(
            getatt_target(&props["Queue"], "Arn").as_deref(),
            Some(queue.as_str()),
            "{}.{event} consumes the queue {} sends to",
            consumer.name,
            producer.name
        );

        let q = t.resource(&queue);
        assert_eq!(q["Type"], "AWS::SQS::Queue", "{queue}");
        let qp = &q["Properties"];
        assert_eq!(qp["FifoQueue"], true, "{queue}: FifoQueue");
        assert_eq!(
            qp["ContentBasedDeduplication"], false,
            "{queue}: intake sends its own MessageDeduplicationId"
        );
        let redrive = &qp["RedrivePolicy"];
        let dlq = getatt_target(&redrive["deadLetterTargetArn"], "Arn")
            .unwrap_or_else(|| panic!("{queue}: RedrivePolicy.deadLetterTargetArn"));
        let receives = redrive["maxReceiveCount"].as_i64().unwrap_or(0);
        assert!(
            (2..=10).contains(&receives),
            "{queue}: maxReceiveCount {receives}"
        );
        let d = t.resource(&dlq);
        assert_eq!(d["Type"], "AWS::SQS::Queue", "{dlq}");
        assert_eq!(
            d["Properties"]["FifoQueue"], true,
            "{dlq}: a FIFO queue's DLQ is FIFO"
        );
        assert!(
            d["Properties"]["RedrivePolicy"].is_null(),
            "{dlq}: a dead-letter queue has no redrive of its own"
        );

        // AWS: at least six times the function's timeout, or a message still being
        // handled comes back and is handled twice.
        let visibility = qp["VisibilityTimeout"].as_i64().unwrap_or(30);
        assert!(
            visibility >= 6 * consumer.timeout(),
            "{queue}: VisibilityTimeout {visibility} s, consumer {} Timeout {} s",
            consumer.name,
            consumer.timeout()
        );
    }
}

/// Each consumer sends what it gives up on to its queue's own dead-letter queue (the
/// redrive's target), may send there, and gives up on the receive its queue's
/// `maxReceiveCount` names, so its own sending comes before the redrive's move.
#[test]
fn consumers_send_what_they_give_up_on_to_their_queues_dead_letter_queue() {
    let t = Template::load();
    for (binary, variable) in [
        ("openmic-publisher", "PUBLISH_DEAD_LETTER_QUEUE_URL"),
        ("openmic-notifier", "ALERT_DEAD_LETTER_QUEUE_URL"),
        ("openmic-subscriptions", "UPDATE_DEAD_LETTER_QUEUE_URL"),
    ] {
        let f = t.function_with_binary(binary);
        let env = f.env();
        let (_, source) = &f.events("SQS")[0];
        let queue = getatt_target(&source["Queue"], "Arn").unwrap();
        let redrive = &t.resource(&queue)["Properties"]["RedrivePolicy"];
        let dlq = getatt_target(&redrive["deadLetterTargetArn"], "Arn").unwrap();
        assert_eq!(
            env.get(variable).and_then(ref_target).as_deref(),
            Some(dlq.as_str()),
            "{}: {variable} is !Ref {dlq}",
            f.name
        );
        let max = redrive["maxReceiveCount"].as_i64().unwrap();
        assert_eq!(
            env.get("MAX_RECEIVE_COUNT"),
            Some(&json!(max.to_string())),
            "{}: MAX_RECEIVE_COUNT is {queue}'s maxReceiveCount",
            f.name
        );
        let st = t.role_statements(&f.role());
        assert!(
            grants(&st, "sqs:SendMessage", &dlq),
            "{}: sqs:SendMessage on {dlq}",
            f.name
        );
        for mail in ["MAIL_FROM", "MAINTAINER_EMAILS"] {
            assert!(
                env.contains_key(mail),
                "{}: {mail}, to tell the maintainers",
                f.name
            );
        }
    }
}

#[test]
fn every_queue_is_fifo_and_every_main_queue_has_a_redrive() {
    let t = Template::load();
    let dlqs: BTreeSet<String> = t
        .of_type("AWS::SQS::Queue")
        .iter()
        .filter_map(|(_, q)| {
            getatt_target(
                &q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
                "Arn",
            )
        })
        .collect();
    for (name, q) in t.of_type("AWS::SQS::Queue") {
        assert_eq!(q["Properties"]["FifoQueue"], true, "{name}: FifoQueue");
        if !dlqs.contains(name) {
            assert!(
                q["Properties"]["RedrivePolicy"].is_object(),
                "{name}: no RedrivePolicy and not a dead-letter queue"
            );
        }
    }
}

#[test]
fn sqs_consumers_report_batch_item_failures() {
    let t = Template::load();
    let mut seen = 0;
    for f in t.functions() {
        for (event, p) in f.events("SQS") {
            seen += 1;
            assert_eq!(
                p["FunctionResponseTypes"],
                json!(["ReportBatchItemFailures"]),
                "{}.{event}: handlers return SqsBatchResponse",
                f.name
            );
            let batch = p["BatchSize"].as_i64().unwrap_or(10);
            assert!(
                (1..=10).contains(&batch),
                "{}.{event}: FIFO BatchSize {batch}",
                f.name
            );
        }
    }
    assert_eq!(seen, 3, "three SQS event sources");
}

#[test]
fn schedules_resync_tick_and_render() {
    let t = Template::load();
    let inputs = |binary: &str| -> Vec<(Value, String)> {
        let f = t.function_with_binary(binary);
        f.events("Schedule")
            .iter()
            .map(|(_, p)| {
                let input: Value =
                    serde_json::from_str(p["Input"].as_str().expect("Input is a string"))
                        .expect("Input is JSON");
                (input, p["Schedule"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    };
    let publisher = inputs("openmic-publisher");
    assert_eq!(publisher.len(), 3, "{publisher:?}");
    assert!(
        publisher
            .iter()
            .any(|(i, s)| *i == json!({"openmic": "resync"}) && s.starts_with("rate("))
    );
    // Maintenance stages on time, and held alerts let go on time: every minute.
    assert!(publisher.contains(&(json!({"openmic": "tick"}), "rate(1 minute)".to_owned())));
    // The page's 90-day history moves on just after midnight UTC.
    assert!(publisher.contains(&(json!({"openmic": "render"}), "cron(1 0 * * ? *)".to_owned())));
    let f = t.function_with_binary("openmic-publisher");
    let render = f
        .events("Schedule")
        .into_iter()
        .find(|(_, p)| p["Input"] == json!(r#"{"openmic": "render"}"#))
        .expect("the render schedule");
    assert!(render.1.get("State").is_none(), "always on");
    let notifier = inputs("openmic-notifier");
    assert_eq!(
        notifier,
        vec![(json!({"openmic": "tick"}), "rate(1 minute)".to_owned())]
    );
}

/// Actions IAM defines on no resource type (SES's account quotas).
const NO_RESOURCE_ACTIONS: [&str; 1] = ["ses:GetAccount"];

/// The alert links and the chat routes are the notifier's: every route its part of
/// the route table serves, and no other.
#[test]
fn link_and_chat_routes_reach_the_notifier_function() {
    let t = Template::load();
    let f = t.function_with_binary("openmic-notifier");
    let routes: BTreeSet<(String, String)> = f
        .events("HttpApi")
        .into_iter()
        .map(|(_, p)| {
            (
                p["Method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_uppercase(),
                p["Path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut expected = BTreeSet::new();
    for path in ["/alerts/ack", "/alerts/silence"] {
        for method in ["GET", "POST"] {
            expected.insert((method.to_owned(), path.to_owned()));
        }
    }
    for route in openmic::chatops::accept::ChatRoute::ALL {
        expected.insert(("POST".to_owned(), route.path().to_owned()));
    }
    // A person's on-call calendar feed (GET only).
    expected.insert(("GET".to_owned(), "/oncall/{file}".to_owned()));
    // The chart of a chat message (GET only).
    expected.insert(("GET".to_owned(), "/charts/{alert}/{file}".to_owned()));
    assert_eq!(routes, expected, "{}: its routes", f.name);
}

#[test]
fn subscription_routes_reach_the_subscriptions_function() {
    let t = Template::load();
    let f = t.function_with_binary("openmic-subscriptions");
    let routes: BTreeSet<(String, String)> = f
        .events("HttpApi")
        .into_iter()
        .map(|(_, p)| {
            (
                p["Method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_uppercase(),
                p["Path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = openmic::subscriptions::web::ROUTES
        .iter()
        .map(|p| ("ANY".to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(routes, expected, "{}: GET and POST on each route", f.name);
}

#[test]
fn subscription_mail_feedback_comes_back_by_sns_and_the_send_rate_is_readable() {
    let t = Template::load();
    let f = t.function_with_binary("openmic-subscriptions");
    let set = ref_target(&f.env()["SES_CONFIGURATION_SET"])
        .expect("SES_CONFIGURATION_SET is !Ref <configuration set>");
    assert_eq!(t.resource(&set)["Type"], "AWS::SES::ConfigurationSet");
    let (_, destination) = t
        .of_type("AWS::SES::ConfigurationSetEventDestination")
        .into_iter()
        .find(|(_, d)| {
            ref_target(&d["Properties"]["ConfigurationSetName"]).as_deref() == Some(&set)
        })
        .expect("an event destination of the configuration set");
    let d = &destination["Properties"]["EventDestination"];
    let kinds: BTreeSet<String> = strings(&d["MatchingEventTypes"]).into_iter().collect();
    assert!(
        kinds.contains("bounce") && kinds.contains("complaint"),
        "{kinds:?}"
    );
    let topic = ref_target(&d["SnsDestination"]["TopicARN"]).expect("SNS destination");
    let sns = f.events("SNS");
    assert_eq!(sns.len(), 1, "{}: one SNS event source", f.name);
    assert_eq!(
        ref_target(&sns[0].1["Topic"]).as_deref(),
        Some(topic.as_str())
    );
    let st = t.role_statements(&f.role());
    let send = st
        .iter()
        .find(|s| strings(&s["Action"]).iter().any(|a| a == "ses:SendEmail"))
        .expect("ses:SendEmail");
    assert!(
        send["Resource"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["Fn::Sub"]
                .as_str()
                .is_some_and(|s| s.contains(&format!("${{{set}}}")))),
        "ses:SendEmail with {set}"
    );
    assert!(
        st.iter()
            .any(|s| s["Effect"] == "Allow" && strings(&s["Action"]) == ["ses:GetAccount"]),
        "ses:GetAccount for the send rate"
    );
}

#[test]
fn cloudfront_answers_unknown_keys_with_the_404_page() {
    let t = Template::load();
    let config = &t.resource("StatusDistribution")["Properties"]["DistributionConfig"];
    let errors = config["CustomErrorResponses"]
        .as_array()
        .expect("CustomErrorResponses");
    // S3 answers 403 for a key that does not exist (the bucket is not listable).
    for code in [403, 404] {
        let e = errors
            .iter()
            .find(|e| e["ErrorCode"] == json!(code))
            .unwrap_or_else(|| panic!("no answer for S3's {code}"));
        assert_eq!(e["ResponseCode"], json!(404), "{code}");
        assert_eq!(e["ResponsePagePath"], json!("/404.html"), "{code}");
    }
    assert_eq!(config["DefaultRootObject"], json!("index.html"));
    assert_eq!(
        openmic::site::NOT_FOUND_KEY,
        "404.html",
        "the key the publisher writes"
    );
    // Reading the bucket grants GetObject only: no listing of upload paths.
    let policy = serde_json::to_string(&t.resource("StatusBucketPolicy")).unwrap();
    assert!(!policy.contains("ListBucket"), "{policy}");
}

#[test]
fn roles_hold_what_each_function_does() {
    let t = Template::load();
    for f in t.functions() {
        let role = f.role();
        let st = t.role_statements(&role);
        let env = f.env();
        let bucket = |v: &str| env.get(v).and_then(ref_target);
        let queue = |v: &str| env.get(v).and_then(ref_target);
        for variable in ["PUBLISH_QUEUE_URL", "ALERT_QUEUE_URL", "UPDATE_QUEUE_URL"] {
            if let Some(q) = queue(variable) {
                assert!(
                    grants(&st, "sqs:SendMessage", &q),
                    "{role}: sqs:SendMessage on {q}"
                );
            }
        }
        for (_, p) in f.events("SQS") {
            let q = getatt_target(&p["Queue"], "Arn").expect("SQS Queue is !GetAtt <queue>.Arn");
            for action in [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ] {
                assert!(grants(&st, action, &q), "{role}: {action} on {q}");
            }
        }
        if let Some(b) = bucket("STATUS_BUCKET") {
            for action in [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:ListBucket",
            ] {
                assert!(grants(&st, action, &b), "{role}: {action} on {b}");
            }
        }
        if let Some(b) = bucket("STATE_BUCKET") {
            assert!(
                grants(&st, "s3:PutObject", &b),
                "{role}: s3:PutObject on {b}"
            );
        }
        if env.contains_key("MAIL_FROM") {
            let send = st
                .iter()
                .find(|s| strings(&s["Action"]).iter().any(|a| a == "ses:SendEmail"))
                .unwrap_or_else(|| panic!("{role}: ses:SendEmail"));
            assert_eq!(
                send["Condition"]["StringEqualsIgnoreCase"]["ses:FromAddress"], env["MAIL_FROM"],
                "{role}: mail only as MAIL_FROM"
            );
        }
        for s in &st {
            if s["Effect"] != "Allow" {
                continue;
            }
            let actions = strings(&s["Action"]);
            for a in &actions {
                assert!(!a.ends_with('*'), "{role}: wildcard action {a}");
            }
            // IAM takes only "*" for an action on no resource; such a statement
            // holds nothing else.
            if actions
                .iter()
                .all(|a| NO_RESOURCE_ACTIONS.contains(&a.as_str()))
            {
                continue;
            }
            for r in strings(&s["Resource"]) {
                assert_ne!(r, "*", "{role}: Resource \"*\"");
            }
        }
    }
}

/// Whether an Allow statement grants `action` on the key `key` of the bucket `target`
/// (`!Sub "${target.Arn}/<pattern>"`, `*` matching any run of characters).
fn grants_key(statements: &[Value], action: &str, target: &str, key: &str) -> bool {
    let prefix = format!("${{{target}.Arn}}/");
    let matches = |pattern: &str| match pattern.split_once('*') {
        Some((head, tail)) => {
            key.len() >= head.len() + tail.len() && key.starts_with(head) && key.ends_with(tail)
        }
        None => pattern == key,
    };
    statements.iter().any(|s| {
        let resources = match &s["Resource"] {
            Value::Array(items) => items.clone(),
            r => vec![r.clone()],
        };
        s["Effect"] == "Allow"
            && strings(&s["Action"]).iter().any(|a| a == action)
            && resources.iter().any(|r| {
                r["Fn::Sub"]
                    .as_str()
                    .and_then(|sub| sub.strip_prefix(&prefix))
                    .is_some_and(matches)
            })
    })
}

#[test]
fn the_notifier_reads_and_writes_every_state_key_it_keeps() {
    let t = Template::load();
    let notifier = t
        .functions()
        .into_iter()
        .find(|f| f.env().contains_key("ONCALL_CONFIG"))
        .expect("the notifier reads ONCALL_CONFIG");
    let role = notifier.role();
    let st = t.role_statements(&role);
    let bucket = ref_target(&notifier.env()["STATE_BUCKET"]).expect("STATE_BUCKET is a !Ref");
    // The keys of the state bucket the notifier's work reads and writes: alert
    // records, claims, on call, maintenance's mutings, SLA reminders, component states.
    let keys = [
        "alerts/0123abcd.json",
        "claims/x",
        openmic::oncall::keeper::FILE_KEY,
        openmic::oncall::keeper::LOADING_KEY,
        openmic::oncall::keeper::PUSH_KEY,
        openmic::alerts::escalating::ESCALATING_KEY,
        openmic::alerts::shifts::SHIFTS_KEY,
        openmic::alerts::muting::MUTED_KEY,
        openmic::alerts::muting::WIDENED_KEY,
        openmic::maintenance::MUTINGS_KEY,
        openmic::sla::WATCH_KEY,
        openmic::metrics::components::FIRING_KEY,
        openmic::metrics::upstream::READ_KEY,
        &openmic::metrics::chart::image::key("0123abcd", 1),
    ];
    for key in keys {
        for action in ["s3:GetObject", "s3:PutObject"] {
            assert!(
                grants_key(&st, action, &bucket, key),
                "{role}: {action} on {key} of {bucket}"
            );
        }
    }
}

/// The state bucket, as the functions name it.
fn state_bucket(t: &Template) -> String {
    let f = t.function_with_binary("openmic-webhook");
    ref_target(&f.env()["STATE_BUCKET"]).expect("STATE_BUCKET is !Ref <bucket>")
}

/// The status bucket, as the publisher names it.
fn status_bucket(t: &Template) -> String {
    let f = t.function_with_binary("openmic-publisher");
    ref_target(&f.env()["STATUS_BUCKET"]).expect("STATUS_BUCKET is !Ref <bucket>")
}

/// Every key prefix with a limited life, as the code names it; all are written to the
/// state bucket.
const EXPIRING_STATE_PREFIXES: [&str; 5] = [
    openmic::message::CLAIM_PREFIX,
    openmic::metrics::chart::image::PREFIX,
    openmic::subscriptions::fanout::UPDATES_PREFIX,
    openmic::subscriptions::fanout::DELIVERIES_PREFIX,
    openmic::subscriptions::limits::PREFIX,
];

fn lifecycle_prefix(rule: &Value) -> Option<&str> {
    rule["Prefix"]
        .as_str()
        .or_else(|| rule["Filter"]["Prefix"].as_str())
}

fn all_public_access_blocked(bucket: &str, p: &Value) {
    for k in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            p["PublicAccessBlockConfiguration"][k], true,
            "{bucket}: {k}"
        );
    }
}

#[test]
fn state_bucket_is_private_and_expires_what_has_a_limited_life() {
    let t = Template::load();
    let state = state_bucket(&t);
    let status = status_bucket(&t);
    assert_ne!(state, status);
    let p = &t.resource(&state)["Properties"];
    all_public_access_blocked(&state, p);
    assert!(
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"].is_array(),
        "{state}: encryption"
    );
    let rules = p["LifecycleConfiguration"]["Rules"]
        .as_array()
        .expect("lifecycle rules");
    for prefix in EXPIRING_STATE_PREFIXES {
        assert!(
            rules.iter().any(|r| r["Status"] == "Enabled"
                && lifecycle_prefix(r) == Some(prefix)
                && r["ExpirationInDays"].as_i64().is_some_and(|d| d >= 1)),
            "{state}: keys under {prefix} expire"
        );
    }
    // The status bucket holds none of those keys, so it has no rule for them (a rule
    // on the wrong bucket expires nothing).
    let status_rules = t.resource(&status)["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for r in &status_rules {
        assert!(
            r["ExpirationInDays"].is_null() && lifecycle_prefix(r).is_none(),
            "{status}: a rule that expires keys: {r}"
        );
    }
}

#[test]
fn state_bucket_is_versioned_and_outlives_the_stack() {
    let t = Template::load();
    let state = state_bucket(&t);
    let r = t.resource(&state);
    assert_eq!(r["DeletionPolicy"], "Retain", "{state}");
    assert_eq!(r["UpdateReplacePolicy"], "Retain", "{state}");
    let p = &r["Properties"];
    assert_eq!(p["VersioningConfiguration"]["Status"], "Enabled", "{state}");
    let rules = p["LifecycleConfiguration"]["Rules"].as_array().unwrap();
    // Versions do not pile up forever.
    assert!(
        rules.iter().any(|r| r["Status"] == "Enabled"
            && lifecycle_prefix(r).is_none()
            && r["NoncurrentVersionExpiration"]["NoncurrentDays"]
                .as_i64()
                .is_some_and(|d| d >= 1)),
        "{state}: noncurrent versions expire: {rules:?}"
    );
    // The policy that denies plain HTTP stays with the bucket; it grants nothing.
    let policy = t
        .of_type("AWS::S3::BucketPolicy")
        .into_iter()
        .find(|(_, b)| ref_target(&b["Properties"]["Bucket"]).as_deref() == Some(&state))
        .map(|(_, b)| b["Properties"]["PolicyDocument"]["Statement"].clone())
        .expect("a policy of the state bucket");
    // Without AUDIENCES it grants nothing; with them, only the audience pages to the
    // distribution (the_audience_pages_are_cloudfronts_with_the_key_group_alone).
    let without = resolve(&policy, &|_| false);
    for s in without.as_array().unwrap() {
        assert_eq!(s["Effect"], "Deny", "{state}: {s}");
    }
}

#[test]
fn status_bucket_is_private_and_read_by_cloudfront_through_origin_access_control() {
    let t = Template::load();
    let status = status_bucket(&t);
    let p = &t.resource(&status)["Properties"];
    all_public_access_blocked(&status, p);
    assert!(
        p["WebsiteConfiguration"].is_null(),
        "{status}: no website endpoint"
    );
    // No policy of any bucket lets anyone in, with or without audiences.
    for (name, policy) in t.of_type("AWS::S3::BucketPolicy") {
        let statements = &policy["Properties"]["PolicyDocument"]["Statement"];
        let both = [
            resolve(statements, &|_| false),
            resolve(statements, &|_| true),
        ];
        for s in both.iter().flat_map(|s| s.as_array().unwrap().clone()) {
            let anyone = s["Principal"] == "*" || s["Principal"]["AWS"] == "*";
            assert!(
                !(s["Effect"] == "Allow" && anyone),
                "{name}: a public grant {s}"
            );
        }
    }
    // The status bucket's policy: CloudFront reads objects, for this distribution only.
    let (_, policy) = t
        .of_type("AWS::S3::BucketPolicy")
        .into_iter()
        .find(|(_, b)| ref_target(&b["Properties"]["Bucket"]).as_deref() == Some(&status))
        .expect("a policy of the status bucket");
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    assert_eq!(statements.len(), 1, "{statements:?}");
    let s = &statements[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(
        s["Principal"],
        json!({ "Service": "cloudfront.amazonaws.com" })
    );
    assert_eq!(s["Action"], "s3:GetObject");
    let source = s["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
        .as_str()
        .unwrap_or_default();
    assert!(
        source.ends_with(":distribution/${StatusDistribution}"),
        "only this stack's distribution: {source}"
    );

    // Without AUDIENCES: the status bucket alone, no other behaviour.
    let config = resolve(
        &t.resource("StatusDistribution")["Properties"]["DistributionConfig"],
        &|c| c != "HasAudiences",
    );
    assert!(config.get("CacheBehaviors").is_none(), "{config}");
    let origins = config["Origins"].as_array().unwrap();
    assert_eq!(origins.len(), 1);
    let origin = &origins[0];
    assert_eq!(
        getatt_target(&origin["DomainName"], "RegionalDomainName").as_deref(),
        Some(status.as_str()),
        "the bucket's REST endpoint, not its website endpoint"
    );
    assert!(origin["CustomOriginConfig"].is_null());
    assert_eq!(origin["S3OriginConfig"]["OriginAccessIdentity"], "");
    let oac = getatt_target(&origin["OriginAccessControlId"], "Id").expect("an OAC");
    let oac = &t.resource(&oac);
    assert_eq!(oac["Type"], "AWS::CloudFront::OriginAccessControl");
    let c = &oac["Properties"]["OriginAccessControlConfig"];
    assert_eq!(c["OriginAccessControlOriginType"], "s3");
    assert_eq!(c["SigningBehavior"], "always");
    assert_eq!(c["SigningProtocol"], "sigv4");
    assert_eq!(
        config["DefaultCacheBehavior"]["TargetOriginId"],
        origin["Id"]
    );
}

#[test]
fn the_state_bucket_expires_what_subscriptions_keep_and_the_status_bucket_none_of_it() {
    let t = Template::load();
    let f = t.function_with_binary("openmic-subscriptions");
    let state = ref_target(&f.env()["STATE_BUCKET"]).expect("STATE_BUCKET is !Ref <bucket>");
    let status = ref_target(&t.function_with_binary("openmic-publisher").env()["STATUS_BUCKET"])
        .expect("STATUS_BUCKET is !Ref <bucket>");
    let expiry = |bucket: &str, prefix: &str| -> Option<i64> {
        t.resource(bucket)["Properties"]["LifecycleConfiguration"]["Rules"]
            .as_array()?
            .iter()
            .find(|r| {
                r["Status"] == "Enabled"
                    && (r["Prefix"] == prefix || r["Filter"]["Prefix"] == prefix)
            })
            .and_then(|r| r["ExpirationInDays"].as_i64())
    };
    use openmic::subscriptions::{fanout, limits, request};
    // A waiting request's link works 48 hours: S3 removes it within a day after.
    assert_eq!(
        expiry(&state, request::PREFIX),
        Some(2),
        "{state}: {}",
        request::PREFIX
    );
    assert_eq!(
        expiry(&state, limits::PREFIX),
        Some(1),
        "{state}: {}",
        limits::PREFIX
    );
    for prefix in [fanout::UPDATES_PREFIX, fanout::DELIVERIES_PREFIX] {
        assert!(
            expiry(&state, prefix).is_some_and(|d| d >= 14),
            "{state}: {prefix}"
        );
    }
    for prefix in [
        request::PREFIX,
        limits::PREFIX,
        fanout::UPDATES_PREFIX,
        fanout::DELIVERIES_PREFIX,
    ] {
        assert_eq!(expiry(&status, prefix), None, "{status} holds no {prefix}");
    }
    // The subscriptions function may write and remove waiting requests.
    let st = t.role_statements(&f.role());
    let may = |action: &str| {
        st.iter().any(|s| {
            s["Effect"] == "Allow"
                && strings(&s["Action"]).iter().any(|a| a == action)
                && s["Resource"].as_array().is_some_and(|rs| {
                    rs.iter().any(|r| {
                        r["Fn::Sub"].as_str()
                            == Some(&format!("${{{state}.Arn}}/{}*", request::PREFIX))
                    })
                })
        })
    };
    for action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
        assert!(may(action), "{action} on {}", request::PREFIX);
    }
}

/// `!If [condition, yes, no]`.
fn if_parts(v: &Value) -> Option<(&str, &Value, &Value)> {
    let [c, yes, no] = v["Fn::If"].as_array()?.as_slice() else {
        return None;
    };
    Some((c.as_str()?, yes, no))
}

/// The condition is `!Not [!Equals [!Ref param, ""]]`.
fn is_set(t: &Template, condition: &str, param: &str) -> bool {
    t.doc["Conditions"][condition]
        == json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": param }, ""] }] })
}

#[test]
fn the_status_page_on_your_domain() {
    let t = Template::load();
    for p in ["DomainName", "CertificateArn"] {
        assert_eq!(
            t.doc["Parameters"][p]["Default"], "",
            "{p}: empty is CloudFront's name"
        );
    }
    // CloudFront takes its certificates from us-east-1 only.
    let pattern = t.doc["Parameters"]["CertificateArn"]["AllowedPattern"]
        .as_str()
        .unwrap();
    assert!(pattern.contains(":acm:us-east-1:"), "{pattern}");
    let config = &t.resource("StatusDistribution")["Properties"]["DistributionConfig"];
    let (c, yes, no) = if_parts(&config["Aliases"]).expect("Aliases: !If");
    assert!(is_set(&t, c, "DomainName"), "{c}");
    assert_eq!(*yes, json!([{ "Ref": "DomainName" }]));
    assert_eq!(*no, json!({ "Ref": "AWS::NoValue" }));
    let (c, yes, no) = if_parts(&config["ViewerCertificate"]).expect("ViewerCertificate: !If");
    assert!(is_set(&t, c, "DomainName"), "{c}");
    assert_eq!(yes["AcmCertificateArn"], json!({ "Ref": "CertificateArn" }));
    assert_eq!(yes["SslSupportMethod"], "sni-only");
    assert_eq!(*no, json!({ "CloudFrontDefaultCertificate": true }));
    // Both or neither.
    for (rule, when, needs) in [
        ("DomainNeedsACertificate", "DomainName", "CertificateArn"),
        ("CertificateNeedsADomain", "CertificateArn", "DomainName"),
    ] {
        let r = &t.doc["Rules"][rule];
        assert_eq!(
            r["RuleCondition"],
            json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": when }, ""] }] }),
            "{rule}"
        );
        assert_eq!(
            r["Assertions"][0]["Assert"],
            json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": needs }, ""] }] }),
            "{rule}"
        );
    }
    let record = &t.doc["Outputs"]["StatusPageDnsRecord"];
    assert!(is_set(
        &t,
        record["Condition"].as_str().unwrap(),
        "DomainName"
    ));
    let text = record["Value"]["Fn::Sub"].as_str().unwrap();
    assert!(
        text.starts_with("${DomainName} CNAME ${StatusDistribution.DomainName}"),
        "{text}"
    );
}

#[test]
fn the_http_api_on_your_domain() {
    let t = Template::load();
    for p in ["ApiDomainName", "ApiCertificateArn"] {
        assert_eq!(t.doc["Parameters"][p]["Default"], "", "{p}");
    }
    let (name, domain) = t
        .of_type("AWS::ApiGatewayV2::DomainName")
        .into_iter()
        .next()
        .expect("a custom domain");
    assert!(is_set(
        &t,
        domain["Condition"].as_str().unwrap(),
        "ApiDomainName"
    ));
    let p = &domain["Properties"];
    assert_eq!(p["DomainName"], json!({ "Ref": "ApiDomainName" }));
    let c = &p["DomainNameConfigurations"][0];
    assert_eq!(c["CertificateArn"], json!({ "Ref": "ApiCertificateArn" }));
    assert_eq!(c["EndpointType"], "REGIONAL");
    let (_, mapping) = t
        .of_type("AWS::ApiGatewayV2::ApiMapping")
        .into_iter()
        .next()
        .expect("an API mapping");
    assert_eq!(mapping["Condition"], domain["Condition"]);
    assert_eq!(mapping["Properties"]["DomainName"], json!({ "Ref": name }));
    assert_eq!(mapping["Properties"]["ApiId"], json!({ "Ref": "HttpApi" }));
    let record = &t.doc["Outputs"]["ApiDnsRecord"];
    assert_eq!(record["Condition"], domain["Condition"]);
    let text = record["Value"]["Fn::Sub"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "${{ApiDomainName}} CNAME ${{{name}.RegionalDomainName}}"
        )),
        "{text}"
    );
}

#[test]
fn links_follow_the_custom_domains() {
    let t = Template::load();
    // (variable, its own parameter, the domain parameter, the address without either)
    let cases = [
        (
            "STATUS_PAGE_URL",
            "StatusPageUrl",
            "DomainName",
            "https://${StatusDistribution.DomainName}",
        ),
        (
            "PUBLIC_API_URL",
            "PublicApiUrl",
            "ApiDomainName",
            "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
        ),
    ];
    for (variable, own, domain, default) in cases {
        let mut seen = 0;
        for f in t.functions() {
            let Some(v) = f.env().get(variable).cloned() else {
                continue;
            };
            seen += 1;
            let (c, given, otherwise) =
                if_parts(&v).unwrap_or_else(|| panic!("{}: {variable}: {v}", f.name));
            assert!(is_set(&t, c, own), "{variable}: {c}");
            assert_eq!(*given, json!({ "Ref": own }));
            let (c, on_domain, neither) = if_parts(otherwise).expect("then the domain");
            assert!(is_set(&t, c, domain), "{variable}: {c}");
            assert_eq!(on_domain["Fn::Sub"], format!("https://${{{domain}}}"));
            assert_eq!(neither["Fn::Sub"], default);
        }
        assert!(seen >= 2, "{variable} reaches the functions that link");
    }
}

#[test]
fn every_parameter_added_since_the_first_release_has_a_default() {
    // The first release's template as it was tagged (a copy: CI's clone may be
    // shallow). A stack of it updated with only its own parameters must work.
    let path = repo().join("tests/fixtures/release-1/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let old = to_json(serde_norway::from_str(&text).unwrap());
    let new = Template::load().doc;
    let old_params = old["Parameters"].as_object().unwrap();
    let new_params = new["Parameters"].as_object().unwrap();
    for (name, p) in old_params {
        let now = new_params
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} of the first release is gone"));
        assert_eq!(now["Type"], p["Type"], "{name}: its type");
        if p.get("Default").is_some() {
            assert!(
                now.get("Default").is_some(),
                "{name} had a default and lost it"
            );
        }
    }
    let added: Vec<&String> = new_params
        .keys()
        .filter(|k| !old_params.contains_key(*k))
        .collect();
    assert!(added.len() >= 16, "{added:?}");
    for name in added {
        assert!(
            new_params[name].get("Default").is_some(),
            "{name} was added after the first release and has no default: updating a first-release stack with its own parameters fails"
        );
    }
}

/// samconfig.toml's settings by section (`[default.build.parameters]` → key → value as
/// written), the flat TOML SAM writes and reads.
fn samconfig() -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(repo().join("samconfig.toml")).unwrap();
    let mut sections = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, value)) = line.split_once('=')
            && !line.starts_with('#')
        {
            sections
                .entry(section.clone())
                .or_insert_with(BTreeMap::new)
                .insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    sections
}

/// `sam build` with the Rust builder (a SAM beta feature) asks for a confirmation
/// unless samconfig enables beta features, and fails where there is no terminal (CI);
/// every sam command reads the region from the global section.
#[test]
fn sam_builds_without_a_prompt_and_every_command_has_a_region() {
    let config = samconfig();
    let build = &config["default.build.parameters"];
    assert_eq!(build.get("beta_features").map(String::as_str), Some("true"));
    let global = &config["default.global.parameters"];
    assert!(
        global.get("region").is_some_and(|r| r.len() > 2),
        "{global:?}"
    );
    assert!(global.contains_key("stack_name"), "{global:?}");
    let functions = Template::load().functions().len();
    assert!(
        functions >= 5 && build.get("parallel").map(String::as_str) == Some("false"),
        "the functions build one after the other into the shared target/: {build:?}"
    );
}

/// A default is declared once, as docs/configuration.md shows it, and the
/// configuration's own default agrees: giving a variable its documented default
/// changes nothing from leaving it unset.
#[test]
fn every_documented_default_is_what_an_unset_variable_gives() {
    let load = |pairs: &[(&str, &str)]| {
        let pairs: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        format!(
            "{:?}",
            Config::from_lookup(|name| pairs.get(name).cloned()).unwrap()
        )
    };
    let unset = load(&[]);
    let mut checked = Vec::new();
    for v in variables() {
        // Only a default that is one value (`4h`), not a sentence about one.
        let Some(value) = v.default_value() else {
            continue;
        };
        assert_eq!(
            load(&[(v.name, value)]),
            unset,
            "{}: its documented default `{value}` is not what the configuration takes when it is unset",
            v.name
        );
        checked.push(v.name);
    }
    assert!(checked.len() >= 10, "{checked:?}");
    // The comparison sees a value other than the default.
    assert_ne!(load(&[("RENOTIFY_AFTER", "5h")]), unset);
}

/// With AUDIENCES, the audience pages are CloudFront's: each audience's path
/// (`/<name>/*`, read from the parameter itself, up to 10) is a behaviour on the state
/// bucket's `audiences/` through Origin Access Control that requires signed cookies of
/// the stack's key group, whose key is the parameter's public key; the sign-in routes
/// reach the sign-in function through the same host, uncached; the state bucket keeps
/// blocking public access and lets only this distribution read `audiences/*`; the
/// function may read its key's secret and nothing else. Without AUDIENCES none of it
/// exists.
#[test]
fn the_audience_pages_are_cloudfronts_with_the_key_group_alone() {
    let t = Template::load();
    assert_eq!(
        t.doc["Conditions"]["HasAudiences"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "Audiences"}, ""]}]})
    );
    for name in [
        "SigninFunction",
        "SigninRole",
        "SigninLogGroup",
        "SigninErrorsAlarm",
        "AudienceKeySecret",
        "AudiencePublicKey",
        "AudienceKeyGroup",
        "AudiencePagesFunction",
    ] {
        assert_eq!(
            t.resource(name)["Condition"],
            "HasAudiences",
            "{name} exists only with AUDIENCES"
        );
    }
    let key = &t.resource("AudiencePublicKey")["Properties"]["PublicKeyConfig"];
    assert_eq!(key["EncodedKey"], json!({"Ref": "CloudFrontPublicKey"}));
    let group = &t.resource("AudienceKeyGroup")["Properties"]["KeyGroupConfig"];
    assert_eq!(group["Items"], json!([{"Ref": "AudiencePublicKey"}]));
    assert_eq!(
        t.resource("AudienceKeySecret")["Type"],
        "AWS::SecretsManager::Secret"
    );

    // The function's key: the group's public key's id, the secret holding its private
    // half; its role reads that secret alone.
    let f = t.function_with_binary("openmic-signin");
    let env = f.env();
    assert_eq!(
        env["CLOUDFRONT_KEY_PAIR_ID"],
        json!({"Ref": "AudiencePublicKey"})
    );
    assert_eq!(
        env["CLOUDFRONT_PRIVATE_KEY_SECRET"],
        json!({"Ref": "AudienceKeySecret"})
    );
    let secret_reads: Vec<Value> = t
        .role_statements(&f.role())
        .into_iter()
        .filter(|s| s.to_string().contains("secretsmanager"))
        .collect();
    assert_eq!(secret_reads.len(), 1, "{secret_reads:?}");
    assert_eq!(secret_reads[0]["Action"], "secretsmanager:GetSecretValue");
    assert_eq!(
        secret_reads[0]["Resource"],
        json!({"Ref": "AudienceKeySecret"})
    );
    let routes: BTreeSet<(String, String)> = f
        .events("HttpApi")
        .into_iter()
        .map(|(_, p)| {
            (
                p["Method"].as_str().unwrap().to_owned(),
                p["Path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = ["/login", "/callback", "/logout"]
        .iter()
        .map(|p| ("GET".to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(routes, want);

    // The distribution with audiences.
    let config = resolve(
        &t.resource("StatusDistribution")["Properties"]["DistributionConfig"],
        &|c| c == "HasAudiences" || c == "HasStatusPageUrl",
    );
    let origins = config["Origins"].as_array().unwrap();
    let origin = |id: &str| {
        origins
            .iter()
            .find(|o| o["Id"] == id)
            .unwrap_or_else(|| panic!("no origin {id}: {origins:?}"))
    };
    let pages = origin("audience-pages");
    let state = state_bucket(&t);
    assert_eq!(
        getatt_target(&pages["DomainName"], "RegionalDomainName").as_deref(),
        Some(state.as_str())
    );
    assert_eq!(pages["OriginPath"], "/audiences");
    assert!(getatt_target(&pages["OriginAccessControlId"], "Id").is_some());
    assert_eq!(pages["S3OriginConfig"]["OriginAccessIdentity"], "");
    let api = origin("signin-api");
    assert!(
        api["DomainName"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .starts_with("${HttpApi}.execute-api.")
    );
    assert_eq!(
        api["CustomOriginConfig"]["OriginProtocolPolicy"],
        "https-only"
    );

    let behaviours = config["CacheBehaviors"].as_array().unwrap();
    assert!(behaviours.len() <= 25, "CloudFront's quota of behaviours");
    for path in ["/login", "/callback", "/logout"] {
        let b = behaviours
            .iter()
            .find(|b| b["PathPattern"] == path)
            .unwrap_or_else(|| panic!("no behaviour {path}"));
        assert_eq!(b["TargetOriginId"], "signin-api");
        assert!(b.get("TrustedKeyGroups").is_none());
        // Managed CachingDisabled; AllViewerExceptHostHeader (query and cookies).
        assert_eq!(b["CachePolicyId"], "4135ea2d-6df8-44a3-9df3-4b5a84be39ad");
        assert_eq!(
            b["OriginRequestPolicyId"],
            "b689b0a8-53d0-40ab-baf2-68738e2966ac"
        );
    }
    let audience_behaviours: Vec<&Value> = behaviours
        .iter()
        .filter(|b| b["TargetOriginId"] == "audience-pages")
        .collect();
    assert_eq!(audience_behaviours.len(), 10);
    for b in &audience_behaviours {
        assert_eq!(
            b["TrustedKeyGroups"],
            json!([{"Ref": "AudienceKeyGroup"}]),
            "{b}"
        );
        assert_eq!(b["ViewerProtocolPolicy"], "redirect-to-https");
        assert_eq!(b["AllowedMethods"], json!(["GET", "HEAD"]));
    }
    // The sign-in's refusals (401) and its failures reach the reader: the distribution
    // replaces only 403 and 404 (the status bucket's missing keys) with its 404 page.
    let replaced: BTreeSet<i64> = config["CustomErrorResponses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ErrorCode"].as_i64().unwrap())
        .collect();
    assert_eq!(replaced, BTreeSet::from([403, 404]));
    // Nothing else requires the cookies: the public page is as it was.
    assert!(
        config["DefaultCacheBehavior"]
            .get("TrustedKeyGroups")
            .is_none()
    );
    assert_eq!(
        config["DefaultCacheBehavior"]["TargetOriginId"],
        "status-bucket"
    );
    // Each audience's path, as CloudFormation computes it from AUDIENCES as written.
    let ten: Vec<String> = "abcdefghij".chars().map(|c| format!("/{c}/*")).collect();
    let two = vec!["/staff/*".to_owned(), "/acme/*".to_owned()];
    for (audiences, want) in [
        ("staff=ops,eng; acme=customers/acme", two.clone()),
        ("staff=ops\nacme=customers/acme\n", two),
        ("a=x;b=x;c=x;d=x;e=x;f=x;g=x;h=x;i=x;j=x", ten),
    ] {
        let parameters = BTreeMap::from([("Audiences", audiences)]);
        let paths: Vec<String> = audience_behaviours
            .iter()
            .map(|b| {
                evaluate(&b["PathPattern"], &parameters)
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(&paths[..want.len()], &want[..], "{audiences:?}");
        // The slots left over: paths no audience can have (names do not start with
        // `-`), each once, as CloudFront wants.
        for p in &paths[want.len()..] {
            assert!(p.starts_with("/-") || p == "//*", "{audiences:?}: {p}");
            let name = p.trim_start_matches('/').trim_end_matches("/*");
            assert!(
                openmic::config::audiences::parse_audiences(&format!("{name}=x")).is_err(),
                "{p} is no audience's"
            );
        }
        let unique: BTreeSet<&String> = paths.iter().collect();
        assert_eq!(unique.len(), paths.len(), "{paths:?}");
    }

    // The state bucket: public access blocked still; the distribution reads audiences/*.
    all_public_access_blocked(&state, &t.resource(&state)["Properties"]);
    let policy = t
        .of_type("AWS::S3::BucketPolicy")
        .into_iter()
        .find(|(_, b)| ref_target(&b["Properties"]["Bucket"]).as_deref() == Some(&state))
        .map(|(_, b)| resolve(&b["Properties"]["PolicyDocument"]["Statement"], &|_| true))
        .unwrap();
    let grants: Vec<&Value> = policy
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(grants.len(), 1, "{policy}");
    let g = grants[0];
    assert_eq!(
        g["Principal"],
        json!({"Service": "cloudfront.amazonaws.com"})
    );
    assert_eq!(g["Action"], "s3:GetObject");
    assert_eq!(g["Resource"]["Fn::Sub"], "${StateBucket.Arn}/audiences/*");
    assert!(
        g["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with(":distribution/${StatusDistribution}")
    );
    // The publisher writes the audience pages: it reads AUDIENCES.
    assert_eq!(
        t.function_with_binary("openmic-publisher").env()["AUDIENCES"],
        json!({"Ref": "Audiences"})
    );
}
