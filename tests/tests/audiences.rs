//! Audience pages (`AUDIENCES`): an incident labelled `audience::<name>` is published
//! to that audience's page only (under `audiences/<name>/` of the state store), one
//! without the label to the public page and every audience's; the public page is
//! byte-for-byte what it is without audiences; a label naming no audience withholds the
//! incident everywhere. Readers sign in with GitLab (OpenID Connect), here against a
//! stand-in provider (tests/src/oidc.rs), over HTTP and in Debian's Chromium.

use std::path::Path;
use std::sync::Arc;

use openmic_tests::oidc::{CLIENT_ID, CLIENT_SECRET, Mode, Provider};
use openmic_tests::*;
use serde_json::{Value, json};

const AUDIENCES: &str = "staff=ops,eng; acme=customers/acme";

const PLAIN: &str = "Checkout latency for everyone";
const STAFF: &str = "Internal database failover";
const ACME: &str = "Acme tenant exports delayed";
const GHOST: &str = "Mystery audience incident";

/// An Issue Hook publishing incident `iid` opened `hours` before the site's now,
/// with `labels` besides those that publish it.
fn incident(iid: u64, title: &str, hours: i64, labels: &[&str]) -> String {
    let now = openmic::time::parse(SITE_NOW).unwrap();
    let i = BigIncident {
        iid,
        title: title.to_owned(),
        component: "API",
        severity: "high",
        created_at: now - chrono::Duration::hours(hours),
        closed_at: None,
    };
    let mut event: Value = serde_json::from_str(&big_incident_events(&i).remove(0)).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    for l in labels {
        let label = json!({"id": 700, "title": l, "project_id": 42, "type": "ProjectLabel"});
        body["object_attributes"]["labels"]
            .as_array_mut()
            .unwrap()
            .push(label.clone());
        body["labels"].as_array_mut().unwrap().push(label);
    }
    event["body"] = json!(body.to_string());
    // Each labelling its own delivery.
    let key = format!("audience-{iid}-{}", labels.join("+"));
    event["headers"]["idempotency-key"] = json!(key);
    event["headers"]["x-gitlab-event-uuid"] = json!(key);
    event.to_string()
}

fn plain() -> String {
    incident(201, PLAIN, 5, &[])
}

fn labelled() -> Vec<String> {
    vec![
        incident(202, STAFF, 4, &["audience::staff"]),
        incident(203, ACME, 3, &["audience::acme"]),
        incident(204, GHOST, 2, &["audience::ghosts"]),
    ]
}

fn settings(gitlab: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AUDIENCES", AUDIENCES.to_owned()),
        ("GITLAB_URL", gitlab.to_owned()),
        ("GITLAB_OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        ("GITLAB_OIDC_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
    ]
}

async fn publish(runner: &openmic_local::Runner, events: &[String]) {
    for e in events {
        let (status, body) = send_text(runner, e).await;
        assert_eq!(status, 202, "{body}");
        runner.drain().await;
    }
}

fn text(tree: &std::collections::BTreeMap<String, Vec<u8>>, key: &str) -> String {
    String::from_utf8_lossy(tree.get(key).unwrap_or_else(|| panic!("{key} is written")))
        .into_owned()
}

#[tokio::test]
async fn the_public_page_is_byte_for_byte_without_audiences_and_each_audience_gets_its_own() {
    let with = tempfile::tempdir().unwrap();
    let without = tempfile::tempdir().unwrap();
    let extra = settings("https://gitlab.example.com");
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runner = embedded(with.path(), &extra);
    let mut events = vec![plain()];
    events.extend(labelled());
    publish(&runner, &events).await;
    let bare = embedded(without.path(), &[]);
    publish(&bare, &[plain()]).await;

    let public = tree(&with.path().join("status"));
    assert!(public.contains_key("index.html"));
    assert!(
        public == tree(&without.path().join("status")),
        "the public page differs from the one without AUDIENCES"
    );
    for (key, body) in &public {
        let body = String::from_utf8_lossy(body);
        for secret in [STAFF, ACME, GHOST, "audience::"] {
            assert!(!body.contains(secret), "{key} holds {secret:?}");
        }
    }

    let state = tree(&with.path().join("state"));
    let staff = text(&state, "audiences/staff/index.html");
    assert!(staff.contains(PLAIN) && staff.contains(STAFF), "{staff}");
    assert!(!staff.contains(ACME) && !staff.contains(GHOST));
    let acme = text(&state, "audiences/acme/index.html");
    assert!(acme.contains(PLAIN) && acme.contains(ACME), "{acme}");
    assert!(!acme.contains(STAFF) && !acme.contains(GHOST));
    // The same file names as the public site.
    for key in public.keys().filter(|k| !k.starts_with("data/incident/")) {
        if key.starts_with("incidents/") || key.starts_with("feed/") {
            continue;
        }
        assert!(
            state.contains_key(&format!("audiences/staff/{key}")),
            "audiences/staff/{key}"
        );
    }
    assert!(state.contains_key("audiences/staff/data/incident/202.json"));
    assert!(!state.contains_key("audiences/acme/data/incident/202.json"));
    assert!(state.contains_key("audiences/acme/data/incident/203.json"));
    assert!(!state.keys().any(|k| k.contains("/incident/204.json")));
    // The audiences' indexes are kept apart from their pages.
    assert!(
        !state
            .keys()
            .any(|k| k.starts_with("audiences/") && k.contains("index/"))
    );
    // The unknown audience is a problem on the incident.
    let ghost = text(&state, &openmic::ids::IncidentId::new(42, 204).state_key());
    assert!(
        ghost.contains("`audience::ghosts` names no audience of AUDIENCES"),
        "{ghost}"
    );

    // Taking the label off publishes it to the public page and every audience's.
    let mut unlabelled: Value = serde_json::from_str(&incident(202, STAFF, 4, &[])).unwrap();
    let mut body: Value = serde_json::from_str(unlabelled["body"].as_str().unwrap()).unwrap();
    let later = openmic::time::parse(SITE_NOW).unwrap() - chrono::Duration::hours(1);
    body["object_attributes"]["updated_at"] = json!(openmic::time::format(&later));
    body["object_attributes"]["action"] = json!("update");
    unlabelled["body"] = json!(body.to_string());
    publish(&runner, &[unlabelled.to_string()]).await;
    let public = tree(&with.path().join("status"));
    assert!(text(&public, "index.html").contains(STAFF));
    let state = tree(&with.path().join("state"));
    assert!(text(&state, "audiences/acme/index.html").contains(STAFF));
}

/// A component marked `[audience::staff]` in `COMPONENTS` is on the staff page alone:
/// the public page (pages, JSON, feeds, badge) is byte-for-byte the page without it,
/// even when a public incident's `component::` label names it.
#[tokio::test]
async fn a_component_marked_for_an_audience_is_on_its_page_alone() {
    const INTERNAL: &str = "Internal DB";
    let with = tempfile::tempdir().unwrap();
    let without = tempfile::tempdir().unwrap();
    let mut extra = settings("https://gitlab.example.com");
    extra.push(("COMPONENTS", format!("API, {INTERNAL} [audience::staff]")));
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runner = embedded(with.path(), &extra);
    let mut events = vec![incident(201, PLAIN, 5, &["component::Internal DB"])];
    events.extend(labelled());
    publish(&runner, &events).await;
    let bare = embedded(without.path(), &[("COMPONENTS", "API")]);
    publish(&bare, &[plain()]).await;

    let public = tree(&with.path().join("status"));
    assert!(public.contains_key("index.html") && public.contains_key("feed.atom"));
    assert!(
        public == tree(&without.path().join("status")),
        "the public page differs from the one without the staff's component"
    );
    for (key, body) in &public {
        let body = String::from_utf8_lossy(body);
        assert!(!body.contains(INTERNAL), "{key} names {INTERNAL:?}");
        assert!(!key.contains("internal-db"), "{key}");
    }

    let state = tree(&with.path().join("state"));
    let staff = text(&state, "audiences/staff/index.html");
    assert!(staff.contains(INTERNAL), "{staff}");
    let summary = text(&state, "audiences/staff/data/summary.json");
    assert!(summary.contains(INTERNAL), "{summary}");
    let detail = text(&state, "audiences/staff/data/incident/201.json");
    assert!(detail.contains(INTERNAL), "{detail}");
    assert!(state.contains_key("audiences/staff/feed/internal-db.atom"));
    for (key, body) in state
        .iter()
        .filter(|(k, _)| k.starts_with("audiences/acme/"))
    {
        assert!(
            !String::from_utf8_lossy(body).contains(INTERNAL),
            "{key} names {INTERNAL:?}"
        );
    }
}

/// An event rewrites only the sites it changes: an incident labelled
/// `audience::staff` leaves the public site and acme's untouched (a day later, when
/// any rewrite would move their history on), and one for everyone rewrites them all.
#[tokio::test]
async fn an_event_rewrites_only_the_sites_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let extra = settings("https://gitlab.example.com");
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut runner = embedded(dir.path(), &extra);
    let clock = site_clock();
    runner.publisher.clock = clock.clone();
    let mut events = vec![plain()];
    events.extend(labelled());
    publish(&runner, &events).await;
    let of = |prefix: &str| {
        let mut t = tree(&dir.path().join("state"));
        t.retain(|k, _| k.starts_with(prefix));
        t
    };
    let (public, acme, staff) = (
        tree(&dir.path().join("status")),
        of("audiences/acme/"),
        of("audiences/staff/"),
    );

    let later = openmic::time::parse(SITE_NOW).unwrap() + chrono::Duration::days(1);
    clock.set(&openmic::time::format(&later));
    publish(
        &runner,
        &[incident(205, "Staff VPN flapping", 1, &["audience::staff"])],
    )
    .await;
    assert!(
        tree(&dir.path().join("status")) == public,
        "the public site was written again"
    );
    assert!(
        of("audiences/acme/") == acme,
        "acme's site was written again"
    );
    let now = of("audiences/staff/");
    assert!(now != staff);
    assert!(text(&now, "audiences/staff/index.html").contains("Staff VPN flapping"));

    publish(
        &runner,
        &[incident(206, "Search slow for everyone", 1, &[])],
    )
    .await;
    for (key, site) in [
        ("index.html", tree(&dir.path().join("status"))),
        ("audiences/acme/index.html", of("audiences/acme/")),
        ("audiences/staff/index.html", of("audiences/staff/")),
    ] {
        assert!(
            text(&site, key).contains("Search slow for everyone"),
            "{key}"
        );
    }
}

/// `incident` with its own description.
fn described(iid: u64, title: &str, description: &str, hours: i64, labels: &[&str]) -> String {
    let mut event: Value = serde_json::from_str(&incident(iid, title, hours, labels)).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["object_attributes"]["description"] = json!(description);
    event["body"] = json!(body.to_string());
    event.to_string()
}

/// A story with two audiences: incidents for staff and for acme (with their own
/// components), a public one naming the staff's component, and a public incident
/// moved to staff's page later. A scan of every object of the public bucket (pages,
/// JSON, feeds, badge, summary) finds none of the audiences' titles, bodies or
/// components.
#[tokio::test]
async fn a_scan_of_the_public_bucket_after_a_story_with_two_audiences_finds_none_of_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut extra = settings("https://gitlab.example.com");
    extra.push((
        "COMPONENTS",
        "API, Internal DB [audience::staff], Acme Exports [audience::acme]".to_owned(),
    ));
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runner = embedded(dir.path(), &extra);
    let secrets = [
        "Primary failover drill",
        "replica lag on db-7 in rack B4",
        "Acme nightly export stuck",
        "tenant 4471 bucket permissions",
        "Payroll batch moved to staff",
        "payroll runs on host pay-01",
        "Internal DB",
        "internal-db",
        "Acme Exports",
        "acme-exports",
    ];
    let events = vec![
        described(
            301,
            "Public checkout errors",
            "Card payments fail for some.",
            6,
            &["component::Internal DB"],
        ),
        described(
            302,
            "Primary failover drill",
            "replica lag on db-7 in rack B4",
            5,
            &["audience::staff", "component::Internal DB"],
        ),
        described(
            303,
            "Acme nightly export stuck",
            "tenant 4471 bucket permissions",
            4,
            &["audience::acme", "component::Acme Exports"],
        ),
        // Public first, then moved to the staff's page.
        described(
            304,
            "Payroll batch moved to staff",
            "payroll runs on host pay-01",
            3,
            &[],
        ),
    ];
    let mut moved: Value = serde_json::from_str(&described(
        304,
        "Payroll batch moved to staff",
        "payroll runs on host pay-01",
        3,
        &["audience::staff"],
    ))
    .unwrap();
    let mut body: Value = serde_json::from_str(moved["body"].as_str().unwrap()).unwrap();
    let later = openmic::time::parse(SITE_NOW).unwrap() - chrono::Duration::hours(1);
    body["object_attributes"]["updated_at"] = json!(openmic::time::format(&later));
    body["object_attributes"]["action"] = json!("update");
    moved["body"] = json!(body.to_string());
    publish(&runner, &events).await;
    let before = tree(&dir.path().join("status"));
    assert!(text(&before, "index.html").contains("Payroll batch moved to staff"));
    publish(&runner, &[moved.to_string()]).await;

    let public = tree(&dir.path().join("status"));
    for key in [
        "index.html",
        "feed.atom",
        "data/list.json",
        "data/summary.json",
        "badge.json",
    ] {
        assert!(public.contains_key(key), "{key}");
    }
    assert!(text(&public, "index.html").contains("Public checkout errors"));
    for (key, body) in &public {
        let body = String::from_utf8_lossy(body);
        for secret in secrets {
            assert!(!key.contains(secret), "{key} names {secret:?}");
            assert!(!body.contains(secret), "{key} holds {secret:?}");
        }
    }
    // Each text is where it belongs.
    let state = tree(&dir.path().join("state"));
    let staff = text(&state, "audiences/staff/index.html");
    for t in [
        "Primary failover drill",
        "Payroll batch moved to staff",
        "Internal DB",
    ] {
        assert!(staff.contains(t), "{t}");
    }
    let acme = text(&state, "audiences/acme/index.html");
    assert!(acme.contains("Acme nightly export stuck") && acme.contains("Acme Exports"));
    assert!(!acme.contains("Internal DB") && !acme.contains("Payroll"));
}

#[test]
fn audiences_are_read_with_named_problems() {
    let bad = openmic::config::Config::from_lookup(|k| {
        (k == "AUDIENCES").then(|| "staff=ops; login=ops; Acme=x".to_owned())
    })
    .unwrap_err()
    .to_string();
    assert!(bad.contains("AUDIENCES"), "{bad}");
    assert!(
        bad.contains("\"login\" is a path of the public site"),
        "{bad}"
    );
    assert!(bad.contains("\"Acme\" is not an audience name"), "{bad}");
    // Without the client, the runner does not start with audiences.
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&[("AUDIENCES", AUDIENCES)]);
    let err = openmic_local::Runner::embedded(dir.path(), config)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("GITLAB_OIDC_CLIENT_ID"), "{err}");
}

/// A runner with audiences against the stand-in provider, serving on a loopback port.
struct Site {
    url: String,
    runner: Arc<openmic_local::Runner>,
    clock: Arc<ManualClock>,
    provider: Provider,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn site() -> Site {
    let provider = Provider::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut extra = settings(&provider.url);
    extra.push(("STATUS_PAGE_URL", url.clone()));
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let clock = ManualClock::at(&openmic::time::format(&chrono::Utc::now()));
    let mut runner =
        openmic_local::Runner::embedded_at(dir.path(), test_config(&extra), clock.clone())
            .expect("the runner starts");
    runner.publisher.clock = site_clock();
    let mut events = vec![plain()];
    events.extend(labelled());
    publish(&runner, &events).await;
    let runner = Arc::new(runner);
    let app = runner.app();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Site {
        url,
        runner,
        clock,
        provider,
        server,
        _dir: dir,
    }
}

/// A reader without a browser: redirects followed by hand, cookies kept.
struct Reader {
    http: reqwest::Client,
    cookies: std::collections::BTreeMap<String, String>,
}

struct Answer {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            http: http()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Default::default(),
        }
    }

    async fn get(&mut self, url: &str) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = self.http.get(url);
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            match c.contains("Max-Age=0") {
                true => self.cookies.remove(k),
                false => self.cookies.insert(k.to_owned(), v.to_owned()),
            };
        }
        let body = response.text().await.unwrap();
        Answer {
            status,
            location,
            set_cookies,
            body,
        }
    }

    /// Follows redirects from `url` (relative ones against `base`); the last answer
    /// and every URL visited.
    async fn follow(&mut self, base: &str, url: &str) -> (Answer, Vec<String>) {
        let mut url = url.to_owned();
        let mut seen = vec![url.clone()];
        for _ in 0..10 {
            let a = self.get(&url).await;
            match (&a.location, a.status) {
                (Some(l), 301..=303) => {
                    url = match l.starts_with('/') {
                        true => format!("{base}{l}"),
                        false => l.clone(),
                    };
                    seen.push(url.clone());
                }
                _ => return (a, seen),
            }
        }
        panic!("too many redirects: {seen:?}");
    }
}

#[tokio::test]
async fn readers_sign_in_with_gitlab_and_see_only_their_audiences() {
    let s = site().await;
    let base = s.url.clone();

    // Anonymous: sent to sign in.
    let mut anonymous = Reader::new();
    let a = anonymous.get(&format!("{base}/staff/")).await;
    assert_eq!(a.status, 302);
    assert_eq!(a.location.as_deref(), Some("/login?to=%2Fstaff%2F"));
    let a = anonymous
        .get(&format!("{base}/staff/data/incident/202.json"))
        .await;
    assert_eq!(a.status, 302);
    assert!(!a.body.contains(STAFF));

    // A member of ops: the staff page, with its internal incident; not acme's.
    s.provider.sign_in_as("ops-member");
    let mut ops = Reader::new();
    let (a, seen) = ops.follow(&base, &format!("{base}/staff/")).await;
    assert_eq!(a.status, 200, "{seen:?}\n{}", a.body);
    assert!(
        a.body.contains(STAFF) && a.body.contains(PLAIN),
        "{}",
        a.body
    );
    assert!(!a.body.contains(ACME));
    assert!(
        seen.iter()
            .any(|u| u.starts_with(&format!("{}/oauth/authorize?", s.provider.url)))
    );
    assert_eq!(seen.last().unwrap(), &format!("{base}/staff/"));
    let session = ops
        .cookies
        .get("openmic_session")
        .cloned()
        .expect("a session");
    let a = ops.get(&format!("{base}/acme/")).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body.contains("your sign-in grants staff, not acme"),
        "{}",
        a.body
    );
    assert!(!a.body.contains(ACME));

    // The cookies as the brief wants them (no Secure on plain-http loopback).
    let mut fresh = Reader::new();
    let login = fresh.get(&format!("{base}/login?to=/staff/")).await;
    assert!(login.set_cookies[0].contains("HttpOnly; SameSite=Lax"));
    let (_, _) = fresh
        .follow(&base, login.location.as_deref().unwrap())
        .await;
    let set = fresh
        .cookies
        .get("openmic_session")
        .expect("signed in again");
    assert!(!set.is_empty());

    // A member of customers/acme gets acme only.
    s.provider.sign_in_as("acme-member");
    let mut acme = Reader::new();
    let (a, _) = acme.follow(&base, &format!("{base}/acme/")).await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains(ACME) && !a.body.contains(STAFF));
    let a = acme.get(&format!("{base}/staff/")).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("grants acme, not staff"), "{}", a.body);
    let a = acme
        .get(&format!("{base}/staff/data/incident/202.json"))
        .await;
    assert_eq!(a.status, 403);
    assert!(!a.body.contains(STAFF));

    // Nobody's groups: no audience.
    s.provider.sign_in_as("nobody");
    let (a, _) = Reader::new().follow(&base, &format!("{base}/staff/")).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body.contains("no GitLab group of any audience"),
        "{}",
        a.body
    );

    // A forged cookie: the session's audiences widened, its signature kept.
    let (payload, tag) = session.split_once('.').unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    claims["audiences"] = json!(["staff", "acme"]);
    let forged = format!("{}.{tag}", b64.encode(claims.to_string()));
    let mut forger = Reader::new();
    forger.cookies.insert("openmic_session".into(), forged);
    let a = forger.get(&format!("{base}/acme/")).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("not one this page signed"), "{}", a.body);
    assert!(!a.body.contains(ACME));

    // An expired session: the reader's cookie 13 hours on.
    s.clock.set(&openmic::time::format(
        &(chrono::Utc::now() + chrono::Duration::hours(13)),
    ));
    let a = ops.get(&format!("{base}/staff/")).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("your session has expired"), "{}", a.body);
    assert!(!a.body.contains(STAFF));
    s.clock.set(&openmic::time::format(&chrono::Utc::now()));

    // A wrong state: the provider's answer with another state.
    s.provider.sign_in_as("ops-member");
    let mut r = Reader::new();
    let login = r.get(&format!("{base}/login?to=/staff/")).await;
    let back = r.get(login.location.as_deref().unwrap()).await;
    let callback = back.location.unwrap();
    let url = reqwest::Url::parse(&callback).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let a = r
        .get(&format!("{base}/callback?code={code}&state=not-the-state"))
        .await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("state does not match"), "{}", a.body);
    assert!(!r.cookies.contains_key("openmic_session"));

    // An expired state: the provider's answer eleven minutes after the sign-in began.
    let mut slow = Reader::new();
    let login = slow.get(&format!("{base}/login?to=/staff/")).await;
    let back = slow.get(login.location.as_deref().unwrap()).await;
    s.clock.set(&openmic::time::format(
        &(chrono::Utc::now() + chrono::Duration::minutes(11)),
    ));
    let a = slow.get(&back.location.unwrap()).await;
    s.clock.set(&openmic::time::format(&chrono::Utc::now()));
    assert_eq!(a.status, 403);
    assert!(a.body.contains("took too long"), "{}", a.body);
    assert!(!slow.cookies.contains_key("openmic_session"));

    // A callback nobody started here.
    let a = Reader::new()
        .get(&format!("{base}/callback?code=x&state=y"))
        .await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("not started here"), "{}", a.body);

    // Tokens the provider gets wrong, each refused with its reason.
    for (mode, why) in [
        (Mode::OtherClient, "issued for another application"),
        (Mode::BadSignature, "signature does not verify"),
        (Mode::Expired, "the ID token has expired"),
    ] {
        s.provider.mode(mode);
        let mut r = Reader::new();
        let (a, _) = r.follow(&base, &format!("{base}/staff/")).await;
        assert_eq!(a.status, 403, "{mode:?}");
        assert!(a.body.contains(why), "{mode:?}: {}", a.body);
        assert!(!a.body.contains(STAFF));
        assert!(!r.cookies.contains_key("openmic_session"), "{mode:?}");
    }
    s.provider.mode(Mode::Good);

    // A reader who left the group: denied at their next sign-in, which also ends the
    // session they had.
    s.provider.sign_in_as("ops-member");
    let mut leaver = Reader::new();
    let (a, _) = leaver.follow(&base, &format!("{base}/staff/")).await;
    assert_eq!(a.status, 200);
    assert!(leaver.cookies.contains_key("openmic_session"));
    s.provider.leave_groups(true);
    let (a, _) = leaver
        .follow(&base, &format!("{base}/login?to=/staff/"))
        .await;
    assert_eq!(a.status, 403);
    assert!(
        a.body.contains("no GitLab group of any audience"),
        "{}",
        a.body
    );
    assert!(!leaver.cookies.contains_key("openmic_session"));
    let a = leaver.get(&format!("{base}/staff/")).await;
    assert_eq!(a.status, 302, "sent to sign in again");
    assert!(!a.body.contains(STAFF));
    s.provider.leave_groups(false);

    // Signing out.
    let a = ops.get(&format!("{base}/logout")).await;
    assert_eq!(a.status, 302);
    assert!(!ops.cookies.contains_key("openmic_session"));
    assert!(s.provider.issued() >= 6);
    drop(s.runner.clone());
}

/// An audience's feed, read by a feed reader (no cookies) with the signed-in reader's
/// own link from the page; unsigned, changed or another audience's: 403 saying why.
#[tokio::test]
async fn an_audience_feed_is_read_with_the_readers_signed_link() {
    let s = site().await;
    let base = s.url.clone();
    s.provider.sign_in_as("ops-member");
    let mut ops = Reader::new();
    let (page, _) = ops.follow(&base, &format!("{base}/staff/")).await;
    assert_eq!(page.status, 200);
    let at = page
        .body
        .find(">Atom feed</a>")
        .unwrap_or_else(|| panic!("a Feed link on the staff page: {}", page.body));
    let start = page.body[..at].rfind("href=\"").unwrap() + 6;
    let href = page.body[start..at - 1].replace("&amp;", "&");
    assert!(
        href.starts_with("feed.atom?reader=ops-member&sig="),
        "{href}"
    );

    // A feed reader: no cookies.
    let mut reader = Reader::new();
    let feed = reader.get(&format!("{base}/staff/{href}")).await;
    assert_eq!(feed.status, 200, "{}", feed.body);
    assert!(
        feed.body.contains("<feed") && feed.body.contains(STAFF),
        "{}",
        feed.body
    );
    assert!(!feed.body.contains(ACME));
    assert!(
        feed.body
            .contains(&format!("{base}/staff/incidents/202.html"))
    );

    // Unsigned: the page says how to get the link.
    let a = reader.get(&format!("{base}/staff/feed.atom")).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("read with its signed link"), "{}", a.body);
    assert!(!a.body.contains(STAFF));
    // Changed: another reader, another signature, another audience.
    let query = href.trim_start_matches("feed.atom?");
    let sig = query.split("sig=").nth(1).unwrap();
    let flipped = format!(
        "{}{}",
        &sig[..sig.len() - 1],
        if sig.ends_with('0') { '1' } else { '0' }
    );
    for url in [
        format!(
            "{base}/staff/feed.atom?{}",
            query.replace("ops-member", "acme-member")
        ),
        format!("{base}/staff/feed.atom?reader=ops-member&sig={flipped}"),
        format!("{base}/acme/feed.atom?{query}"),
    ] {
        let a = reader.get(&url).await;
        assert_eq!(a.status, 403, "{url}");
        assert!(
            a.body.contains("signature does not verify"),
            "{url}: {}",
            a.body
        );
        assert!(!a.body.contains(STAFF) && !a.body.contains(ACME));
    }
    // No such audience.
    let a = reader
        .get(&format!("{base}/ghosts/feed.atom?{query}"))
        .await;
    assert_eq!(a.status, 404);

    // The public page's feed is as it was: no reader's link.
    let public = reader.get(&format!("{base}/")).await;
    assert!(
        public.body.contains("href=\"feed.atom\""),
        "{}",
        public.body
    );
    assert!(!public.body.contains("reader="));
}

/// The mails in `dir`'s outbox: to whom, and their subject and text.
fn mails(dir: &Path) -> Vec<(String, String)> {
    tree(&dir.join("outbox"))
        .into_values()
        .map(|raw| {
            let m = mail_parser::MessageParser::default()
                .parse(&raw)
                .expect("an RFC 5322 message");
            let to = m
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned();
            let text = format!(
                "{}\n{}",
                m.subject().unwrap_or_default(),
                m.body_text(0).unwrap_or_default()
            );
            (to, text)
        })
        .collect()
}

/// Subscribing to an audience's updates needs a session holding the audience; its
/// subscribers are mailed its updates and the public ones, public subscribers never
/// an audience's.
#[tokio::test]
async fn audience_subscriptions_need_sign_in_and_get_only_their_audiences_updates() {
    let provider = Provider::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut extra = settings(&provider.url);
    for (k, v) in [
        ("STATUS_PAGE_URL", base.as_str()),
        ("PUBLIC_API_URL", base.as_str()),
        ("SUBSCRIPTIONS", "on"),
        (
            "SUBSCRIPTION_SECRET",
            "audience-subscription-secret-0123456789",
        ),
    ] {
        extra.push((k, v.to_owned()));
    }
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let clock = ManualClock::at(&openmic::time::format(&chrono::Utc::now()));
    let mut runner =
        openmic_local::Runner::embedded_at(dir.path(), test_config(&extra), clock.clone())
            .expect("the runner starts");
    runner.publisher.clock = site_clock();
    runner.publisher.write_list().await.unwrap();
    let runner = Arc::new(runner);
    let app = runner
        .app()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The staff page's form says which page it is.
    provider.sign_in_as("ops-member");
    let mut ops = Reader::new();
    let (page, _) = ops.follow(&base, &format!("{base}/staff/")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"<input type="hidden" name="audience" value="staff">"#),
        "{}",
        page.body
    );
    let public = Reader::new().get(&format!("{base}/")).await;
    assert!(!public.body.contains(r#"name="audience""#));

    let http = http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = |r: &Reader| {
        r.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let subscribe = |email: &'static str, audience: Option<&'static str>, cookie: String| {
        let mut form = vec![("email", email)];
        if let Some(a) = audience {
            form.push(("audience", a));
        }
        let mut r = http.post(format!("{base}/subscribe")).form(&form);
        if !cookie.is_empty() {
            r = r.header("cookie", cookie);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    // Not signed in, or signed in to another audience: refused, saying why.
    let (status, body) = subscribe("staff-reader@example.com", Some("staff"), String::new()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("needs you signed in to it"), "{body}");
    provider.sign_in_as("acme-member");
    let mut acme = Reader::new();
    let (a, _) = acme.follow(&base, &format!("{base}/acme/")).await;
    assert_eq!(a.status, 200);
    let (status, body) = subscribe("staff-reader@example.com", Some("staff"), cookie(&acme)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("grants acme, not staff"), "{body}");
    let (status, body) = subscribe("staff-reader@example.com", Some("ghosts"), cookie(&ops)).await;
    assert_eq!(status, 403, "{body}");
    runner.drain().await;
    assert!(mails(dir.path()).is_empty(), "a refusal mails nothing");

    // Signed in to staff; and a public subscriber. Each confirms.
    let (status, body) = subscribe("staff-reader@example.com", Some("staff"), cookie(&ops)).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = subscribe("public-reader@example.com", None, String::new()).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = subscribe("acme-reader@example.com", Some("acme"), cookie(&acme)).await;
    assert_eq!(status, 202, "{body}");
    runner.drain().await;
    for (_, text) in mails(dir.path()) {
        let start = text
            .find(&format!("{base}/subscribe/confirm?token="))
            .unwrap_or_else(|| panic!("a confirmation link in {text}"));
        let url = text[start..].split_whitespace().next().unwrap().to_owned();
        let r = http.post(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
    }
    let confirmations = mails(dir.path()).len();
    assert_eq!(confirmations, 3);

    // A public incident, one for staff, one for acme, and one for both.
    const BOTH: &str = "Shared notice for staff and acme";
    let mut events = vec![plain()];
    events.extend(labelled());
    events.push(incident(
        207,
        BOTH,
        1,
        &["audience::staff", "audience::acme"],
    ));
    publish(&runner, &events).await;
    runner.drain().await;
    let all = mails(dir.path());
    let to = |who: &str| -> String {
        all.iter()
            .filter(|(t, _)| t == who)
            .map(|(_, text)| text.as_str())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    let staff = to("staff-reader@example.com");
    assert!(staff.contains(PLAIN) && staff.contains(STAFF), "{staff}");
    assert!(!staff.contains(ACME) && !staff.contains(GHOST), "{staff}");
    assert!(
        staff.contains(&format!("{base}/staff/incidents/202.html")),
        "{staff}"
    );
    assert!(staff.contains(BOTH), "{staff}");
    let acme = to("acme-reader@example.com");
    assert!(
        acme.contains(PLAIN) && acme.contains(ACME) && acme.contains(BOTH),
        "{acme}"
    );
    assert!(!acme.contains(STAFF), "{acme}");
    let public = to("public-reader@example.com");
    assert!(public.contains(PLAIN), "{public}");
    for secret in [STAFF, ACME, GHOST, BOTH] {
        assert!(!public.contains(secret), "{public}");
    }
    server.abort();
}

#[tokio::test]
async fn audience_pages_in_a_real_browser() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/test, which installs it and Debian's chromium"
    );
    let s = site().await;
    let out = tokio::process::Command::new("node")
        .arg(browser_dir.join("audiences.mjs"))
        .arg(&s.url)
        .arg(&s.provider.url)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok - an anonymous reader of /staff/ is sent to sign in with GitLab",
        "ok - a member of ops sees the staff page with its internal incident",
        "ok - the staff page's links stay on the staff page",
        "ok - a member of ops is refused acme's page, with why",
        "ok - a member of customers/acme gets acme and not staff",
        "ok - a forged session cookie is refused with a page saying why",
    ] {
        assert!(stdout.contains(line), "{line}");
    }
}

/// An HTTP API (payload 2.0) `GET` event as API Gateway hands it to a function: the
/// query raw, the cookies in their own list.
fn get_event(path: &str, query: &str, cookies: &[String]) -> openmic_http::apigw::Event {
    serde_json::from_value(json!({
        "version": "2.0", "routeKey": format!("GET {path}"), "rawPath": path,
        "rawQueryString": query, "cookies": cookies,
        "headers": {"host": "status.example.com", "user-agent": "test"},
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "192.0.2.7"},
            "stage": "$default"},
        "isBase64Encoded": false
    }))
    .unwrap()
}

/// The `Set-Cookie` values of an API Gateway answer.
fn answer_cookies(answer: &Value) -> Vec<String> {
    answer["cookies"]
        .as_array()
        .map(|a| a.iter().map(|c| c.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// CloudFront's base64 (`-` `_` `~` for `+` `=` `/`) decoded, as CloudFront reads it.
fn cloudfront_b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    let standard: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(standard)
        .expect("CloudFront's base64")
}

/// A 2048-bit key made by openssl now: its private half (PKCS #8 PEM), and its public
/// half as CloudFront is given it (here PKCS #1 DER, as ring verifies with it).
fn cloudfront_key(dir: &Path) -> (String, Vec<u8>) {
    let private = dir.join("private.pem");
    let public = dir.join("public.der");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (p, q) = (private.to_str().unwrap(), public.to_str().unwrap());
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        p,
    ]);
    run(&[
        "rsa",
        "-in",
        p,
        "-RSAPublicKey_out",
        "-outform",
        "DER",
        "-out",
        q,
    ]);
    (
        std::fs::read_to_string(&private).unwrap(),
        std::fs::read(&public).unwrap(),
    )
}

/// The sign-in function on AWS (its key in Secrets Manager, on moto), through the Lambda
/// event path: API Gateway events answered by the function's router. A reader gets
/// CloudFront's signed cookies for the audiences their groups grant and no others:
/// each policy names only its audience's prefix, and its signature verifies with the
/// public key as CloudFront checks it (SHA256withRSA over the policy as sent).
#[tokio::test]
async fn the_signin_function_gives_cloudfront_cookies_for_the_granted_audiences_only() {
    use openmic_http::apigw;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    const KEY_ID: &str = "K2JCJMDEHXQW5F";
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (pem, public) = cloudfront_key(dir.path());
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public);
    let sdk = openmic_tests::aws::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let mut id = [0u8; 4];
    getrandom::fill(&mut id).unwrap();
    let name = format!("openmic-cloudfront-key-{}", hex(&id));
    secrets
        .create_secret()
        .name(&name)
        .secret_string(&pem)
        .send()
        .await
        .expect("moto makes the secret");
    let aws = openmic_aws::Aws::new(sdk.clone());
    let config_with = |secret: &str| {
        let mut extra = settings(&provider.url);
        extra.push(("STATUS_PAGE_URL", "https://status.example.com".into()));
        extra.push(("CLOUDFRONT_KEY_PAIR_ID", KEY_ID.into()));
        extra.push(("CLOUDFRONT_PRIVATE_KEY_SECRET", secret.into()));
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Arc::new(test_config(&extra))
    };
    let signin = openmic_lambda::signin::sign_in(&config_with(&name), &aws)
        .await
        .expect("the function starts with its key");
    let router = openmic_lambda::signin::router(Arc::new(signin));
    let browser = http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Signs `user` in from `/login?to=<to>`; the callback's answer.
    let sign_in = |user: &'static str, to: &'static str| {
        let (router, browser, provider) = (router.clone(), browser.clone(), &provider);
        async move {
            provider.sign_in_as(user);
            let query = format!("to={}", to.replace('/', "%2F"));
            let login = apigw::serve(router.clone(), get_event("/login", &query, &[])).await;
            assert_eq!(login["statusCode"], 302, "{login}");
            let pending: Vec<String> = answer_cookies(&login)
                .iter()
                .map(|c| c.split(';').next().unwrap().to_owned())
                .collect();
            assert!(pending[0].starts_with("openmic_signin="), "{login}");
            let at_gitlab = browser
                .get(login["headers"]["location"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            let back = at_gitlab.headers()["location"].to_str().unwrap().to_owned();
            let back = reqwest::Url::parse(&back).unwrap();
            assert_eq!(back.path(), "/callback");
            apigw::serve(
                router,
                get_event("/callback", back.query().unwrap(), &pending),
            )
            .await
        }
    };

    let now = chrono::Utc::now().timestamp();
    for (user, to, granted, refused, landing) in [
        ("ops-member", "/staff/", "staff", "acme", "/staff/"),
        (
            "eng-member",
            "/staff/incidents/202.html",
            "staff",
            "acme",
            "/staff/incidents/202.html",
        ),
        // Asked for staff's page, granted acme's: sent to acme's.
        ("acme-member", "/staff/", "acme", "staff", "/acme/"),
    ] {
        let answer = sign_in(user, to).await;
        assert_eq!(answer["statusCode"], 302, "{user}: {answer}");
        assert_eq!(answer["headers"]["location"], landing, "{user}");
        let cookies = answer_cookies(&answer);
        assert!(
            !cookies.iter().any(|c| c.starts_with("openmic_session=")),
            "{user}: on AWS no session cookie: {cookies:?}"
        );
        let cloudfront: Vec<&String> = cookies
            .iter()
            .filter(|c| c.starts_with("CloudFront-"))
            .collect();
        assert_eq!(cloudfront.len(), 4, "{user}: one set of four: {cookies:?}");
        for c in &cloudfront {
            assert!(
                c.ends_with(&format!(
                    "; Path=/{granted}/; Max-Age=43200; Secure; HttpOnly; SameSite=Lax"
                )),
                "{user}: {c}"
            );
            assert!(!c.contains(&format!("/{refused}/")), "{user}: {c}");
        }
        let value = |name: &str| {
            cloudfront
                .iter()
                .find_map(|c| c.strip_prefix(&format!("{name}=")))
                .and_then(|c| c.split(';').next())
                .unwrap_or_else(|| panic!("{user}: no {name}"))
                .to_owned()
        };
        assert_eq!(value("CloudFront-Key-Pair-Id"), KEY_ID);
        assert_eq!(value("CloudFront-Hash-Algorithm"), "SHA256");
        let policy_bytes = cloudfront_b64(&value("CloudFront-Policy"));
        let policy: Value = serde_json::from_slice(&policy_bytes).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{policy}");
        assert_eq!(
            statements[0]["Resource"],
            format!("https://status.example.com/{granted}/*"),
            "{user}"
        );
        let ends = statements[0]["Condition"]["DateLessThan"]["AWS:EpochTime"]
            .as_i64()
            .unwrap();
        assert!(
            (now + 12 * 3600 - 5..=now + 12 * 3600 + 60).contains(&ends),
            "{user}: 12 hours, not {}",
            ends - now
        );
        // As CloudFront checks it: SHA256withRSA over the policy as sent.
        let signature = cloudfront_b64(&value("CloudFront-Signature"));
        public
            .verify(&policy_bytes, &signature)
            .unwrap_or_else(|_| panic!("{user}: the signature does not verify"));
        // The same signature over a policy naming the other audience does not.
        let widened = String::from_utf8(policy_bytes.clone())
            .unwrap()
            .replace(&format!("/{granted}/*"), &format!("/{refused}/*"));
        assert!(public.verify(widened.as_bytes(), &signature).is_err());
    }

    // Nobody's groups: no audience, no cookie of CloudFront's.
    // 401, not 403: the distribution answers an origin's 403 with the site's 404 page.
    let answer = sign_in("nobody", "/staff/").await;
    assert_eq!(answer["statusCode"], 401);
    assert!(
        answer["body"]
            .as_str()
            .unwrap()
            .contains("no GitLab group of any audience"),
        "{answer}"
    );
    assert!(
        !answer_cookies(&answer)
            .iter()
            .any(|c| c.starts_with("CloudFront-"))
    );

    // Signing out removes every audience's cookies.
    let out = apigw::serve(router.clone(), get_event("/logout", "", &[])).await;
    assert_eq!(out["statusCode"], 302);
    let removed = answer_cookies(&out);
    for a in ["staff", "acme"] {
        for name in [
            "CloudFront-Policy",
            "CloudFront-Signature",
            "CloudFront-Key-Pair-Id",
        ] {
            assert!(
                removed
                    .iter()
                    .any(|c| c.starts_with(&format!("{name}=; Path=/{a}/; Max-Age=0"))),
                "{name} for {a}: {removed:?}"
            );
        }
    }
    // Anything but the three routes is not the function's.
    let other = apigw::serve(router.clone(), get_event("/staff/", "", &[])).await;
    assert_eq!(other["statusCode"], 404);

    // A secret that is not there, or holds no key: the function still starts (the
    // key is read beside its first wait for an event), and a sign-in is refused with
    // a page saying why, showing nothing of the secret, and no cookie of CloudFront's.
    let junk = format!("{name}-junk");
    secrets
        .create_secret()
        .name(&junk)
        .secret_string("hunter2-not-a-key")
        .send()
        .await
        .unwrap();
    for secret in ["no-such-secret", junk.as_str()] {
        let signin = openmic_lambda::signin::sign_in(&config_with(secret), &aws)
            .await
            .expect("starts without its key");
        let router = openmic_lambda::signin::router(Arc::new(signin));
        provider.sign_in_as("ops-member");
        let login = apigw::serve(router.clone(), get_event("/login", "to=%2Fstaff%2F", &[])).await;
        let pending: Vec<String> = answer_cookies(&login)
            .iter()
            .map(|c| c.split(';').next().unwrap().to_owned())
            .collect();
        let at_gitlab = browser
            .get(login["headers"]["location"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let back = reqwest::Url::parse(at_gitlab.headers()["location"].to_str().unwrap()).unwrap();
        let answer = apigw::serve(
            router,
            get_event("/callback", back.query().unwrap(), &pending),
        )
        .await;
        assert_eq!(answer["statusCode"], 500, "{secret}: {answer}");
        let body = answer["body"].as_str().unwrap();
        assert!(body.contains("signing key could not be read"), "{body}");
        assert!(
            !body.contains("hunter2") && !body.contains(secret),
            "{body}"
        );
        assert!(
            !answer_cookies(&answer)
                .iter()
                .any(|c| c.starts_with("CloudFront-"))
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
