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

#[test]
fn the_readme_table_is_the_declarations() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
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
    let block = readme
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(block, _)| block)
        .expect("README.md has the variables block");
    assert!(
        block == table,
        "README.md's table differs from the declarations; it should read:\n{table}"
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
    let secrets: Vec<&str> = variables()
        .iter()
        .filter(|v| v.secret)
        .map(|v| v.name)
        .collect();
    assert!(secrets.len() >= 4, "{secrets:?}");
    for secret in secrets {
        let (_, value) = &values[secret];
        let param = ref_target(value)
            .unwrap_or_else(|| panic!("{secret} should come from a parameter: {value}"));
        assert_eq!(
            t.doc["Parameters"][&param]["NoEcho"], true,
            "parameter {param} ({secret}) must be NoEcho"
        );
    }
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
    let bucket = &t.resource("StatusBucket")["Properties"];
    assert_eq!(
        bucket["WebsiteConfiguration"]["ErrorDocument"],
        json!("404.html")
    );
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

#[test]
fn state_bucket_is_private_and_expires_claim_checks() {
    let t = Template::load();
    let f = t.function_with_binary("openmic-webhook");
    let state = ref_target(&f.env()["STATE_BUCKET"]).expect("STATE_BUCKET is !Ref <bucket>");
    let p = &t.resource(&state)["Properties"];
    for k in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(p["PublicAccessBlockConfiguration"][k], true, "{state}: {k}");
    }
    assert!(
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"].is_array(),
        "{state}: encryption"
    );
    let rules = p["LifecycleConfiguration"]["Rules"]
        .as_array()
        .expect("lifecycle rules");
    assert!(
        rules.iter().any(|r| {
            r["Status"] == "Enabled"
                && (r["Prefix"] == openmic::message::CLAIM_PREFIX
                    || r["Filter"]["Prefix"] == openmic::message::CLAIM_PREFIX)
                && r["ExpirationInDays"].as_i64().is_some()
        }),
        "{state}: claim checks under {} expire",
        openmic::message::CLAIM_PREFIX
    );
}
