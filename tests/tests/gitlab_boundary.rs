//! GitLab's API calls stay where they belong. An upload's name, however it is written
//! or encoded, reaches GitLab only as the one file segment of
//! `/api/v4/projects/<id>/uploads/<secret>/<file>`, never as a way to another endpoint.
//! The token travels as `Authorization: Bearer`, and never to another origin: a
//! redirect to object storage is followed without it, as is every hop after it.

use std::collections::BTreeSet;

use openmic_tests::*;
use serde_json::json;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "glpat-stub-token-never-logged";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210";

/// A GitLab stub where alice (id 10) is an Owner of project 42.
async fn gitlab() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/members/all/10"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 10, "username": "alice", "name": "alice", "state": "active",
            "access_level": 50, "created_at": "2024-01-01T00:00:00.000Z", "expires_at": null})))
        .mount(&server)
        .await;
    server
}

/// Alice publishes incident 2 with `description`; the queue is drained.
async fn publish(runner: &openmic_local::Runner, description: &str) {
    let raw = std::fs::read_to_string(event_file(
        "gitlab-story",
        "015-second-incident-published.json",
    ))
    .unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["object_attributes"]["description"] = description.into();
    event["body"] = body.to_string().into();
    let (status, reply) = send_text(runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    runner.drain().await;
}

fn runner_for(dir: &std::path::Path, server: &MockServer) -> openmic_local::Runner {
    embedded(
        dir,
        &[
            ("GITLAB_URL", &server.uri()),
            ("GITLAB_TOKEN", TOKEN),
            ("PUBLISHERS", ""),
        ],
    )
}

fn header_of<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every request `server` saw carries the token as a bearer token, and no other way.
fn all_with_bearer(requests: &[Request]) {
    for r in requests {
        assert_eq!(
            header_of(r, "authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{}",
            r.url
        );
        assert_eq!(header_of(r, "private-token"), None, "{}", r.url);
    }
}

/// Every way of writing an upload link whose name is not one plain path segment, in
/// links, images and raw HTML, relative, absolute and under GitLab 17's
/// `/-/project/<id>/uploads/`: GitLab's stub sees only the real uploads' paths.
#[tokio::test]
async fn upload_names_that_would_leave_their_segment_never_reach_gitlab() {
    let server = gitlab().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v4/projects/42/uploads/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(&b"file"[..], "text/plain"))
        .mount(&server)
        .await;
    let bad_names = [
        "%2e%2e",
        "%2E%2e",
        ".%2e",
        "%2e",
        "%2e%2e%2e",
        "%252e%252e",
        "%25252e%25252E",
        "%%32%65%%32%65",
        "..%2f..%2fmembers",
        "%2e%2e%2Fmembers%2Fall",
        "a%252Fb",
        "..%5C..%5Cmembers",
        "a%5cb",
        "a%00.png",
        "a%0d%0aX-Injected:%201",
        "a%7F",
        "%c0%ae%c0%ae",
        "%e0%80%ae%e0%80%ae",
        "%ff%fe",
    ];
    let mut description = String::from("Uploads:\n\n");
    for (i, bad) in bad_names.iter().enumerate() {
        description.push_str(&format!(
            "[l{i}](/uploads/{SECRET}/{bad}) ![i{i}](/uploads/{SECRET}/{bad}) \
             [p{i}](/-/project/42/uploads/{SECRET}/{bad}) \
             [a{i}](https://gitlab.example.com/ops/api/uploads/{SECRET}/{bad}) \
             <img src=\"/uploads/{SECRET}/{bad}\"> <a href=\"/uploads/{SECRET}/{bad}\">h{i}</a>\n\n"
        ));
    }
    // The real ones: as GitLab writes them, linked from a project's page, and GitLab
    // 17's links; names with spaces, accents and a `%` of their own.
    description.push_str(&format!(
        "![graph](/uploads/{SECRET}/graph.png) [log](/uploads/{SECRET}/log%20file.txt) \
         [cv](https://gitlab.example.com/ops/api/uploads/{SECRET}/r%C3%A9sum%C3%A9.pdf) \
         ![new](/-/project/42/uploads/{OTHER}/new.png) [pct](/uploads/{OTHER}/a%2520b.txt)\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(dir.path(), &server);
    publish(&runner, &description).await;

    let requests = server.received_requests().await.unwrap();
    all_with_bearer(&requests);
    let (uploads, others): (BTreeSet<String>, BTreeSet<String>) = requests
        .iter()
        .map(|r| r.url.path().to_owned())
        .partition(|p| p.contains("/uploads"));
    assert_eq!(
        others,
        [
            // Alice's role, the note back on the issue, and its incident timeline
            // (read for the key times, written with the publication).
            "/api/graphql",
            "/api/v4/projects/42/members/all/10",
            "/api/v4/projects/42/issues/2/notes",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect(),
        "nothing else was asked of GitLab"
    );
    let expected: BTreeSet<String> = [
        format!("/api/v4/projects/42/uploads/{SECRET}/graph.png"),
        format!("/api/v4/projects/42/uploads/{SECRET}/log%20file.txt"),
        format!("/api/v4/projects/42/uploads/{SECRET}/r%C3%A9sum%C3%A9.pdf"),
        format!("/api/v4/projects/42/uploads/{OTHER}/new.png"),
        // The file's name is `a%20b.txt`: its `%` is encoded, GitLab decodes it once.
        format!("/api/v4/projects/42/uploads/{OTHER}/a%2520b.txt"),
    ]
    .into_iter()
    .collect();
    assert_eq!(uploads, expected, "GitLab saw only the real uploads");

    let status = tree(&dir.path().join("status"));
    let copied: BTreeSet<&str> = status
        .keys()
        .filter(|k| k.starts_with("data/incident/2/"))
        .map(String::as_str)
        .collect();
    assert_eq!(copied.len(), 5, "{copied:?}");
    let published = json_of(&status, "data/incident/2.json");
    let html = published["description"].as_str().unwrap();
    for bad in bad_names {
        assert!(
            !html.contains(&format!("{SECRET}/{bad}\"")),
            "{bad} is not linked: {html}"
        );
    }
    assert!(
        html.contains(&format!("src=\"data/incident/2/{SECRET}/graph.png\"")),
        "{html}"
    );
}

/// GitLab with object storage answers an upload with a redirect to a signed URL on
/// another host: followed, without the token. A redirect within GitLab keeps it; a
/// hop that comes back to GitLab after leaving it does not.
#[tokio::test]
async fn redirects_are_followed_and_the_token_never_leaves_gitlab() {
    let server = gitlab().await;
    let storage = MockServer::start().await;
    let upload = |file: &str| format!("/api/v4/projects/42/uploads/{SECRET}/{file}");
    let found = |to: String| ResponseTemplate::new(302).insert_header("location", to.as_str());
    // a.png: to object storage.
    Mock::given(method("GET"))
        .and(path(upload("a.png")))
        .respond_with(found(format!(
            "{}/bucket/a.png?X-Amz-Signature=abc",
            storage.uri()
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bucket/a.png"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(&b"from storage"[..], "image/png"))
        .mount(&storage)
        .await;
    // b.png: elsewhere on GitLab (relative), which wants the token.
    Mock::given(method("GET"))
        .and(path(upload("b.png")))
        .respond_with(found("/api/v4/moved/b.png".into()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/moved/b.png"))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(&b"moved"[..], "image/png"))
        .mount(&server)
        .await;
    // c.png: out to storage, which sends it back to GitLab.
    Mock::given(method("GET"))
        .and(path(upload("c.png")))
        .respond_with(found(format!("{}/hop/c.png", storage.uri())))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/hop/c.png"))
        .respond_with(found(format!("{}/api/v4/back/c.png", server.uri())))
        .mount(&storage)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/back/c.png"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(&b"back"[..], "image/png"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(dir.path(), &server);
    publish(
        &runner,
        &format!(
            "![a](/uploads/{SECRET}/a.png) ![b](/uploads/{SECRET}/b.png) ![c](/uploads/{SECRET}/c.png)"
        ),
    )
    .await;

    let status = tree(&dir.path().join("status"));
    for (file, body) in [
        ("a.png", &b"from storage"[..]),
        ("b.png", b"moved"),
        ("c.png", b"back"),
    ] {
        assert_eq!(
            status
                .get(&format!("data/incident/2/{SECRET}/{file}"))
                .map(Vec::as_slice),
            Some(body),
            "{file}"
        );
    }
    let at_storage = storage.received_requests().await.unwrap();
    assert_eq!(at_storage.len(), 2);
    for r in &at_storage {
        assert_eq!(header_of(r, "authorization"), None, "{}", r.url);
        assert_eq!(header_of(r, "private-token"), None, "{}", r.url);
    }
    let at_gitlab = server.received_requests().await.unwrap();
    let (back, home): (Vec<&Request>, Vec<&Request>) = at_gitlab
        .iter()
        .partition(|r| r.url.path() == "/api/v4/back/c.png");
    assert_eq!(back.len(), 1);
    assert_eq!(
        header_of(back[0], "authorization"),
        None,
        "after leaving GitLab, no hop carries the token"
    );
    assert_eq!(header_of(back[0], "private-token"), None);
    all_with_bearer(&home.into_iter().cloned().collect::<Vec<_>>());
}

/// A redirect loop ends after five redirects: the upload is not copied, nothing is
/// retried for ever, the text is public.
#[tokio::test]
async fn a_redirect_loop_ends() {
    let server = gitlab().await;
    let loop_path = format!("/api/v4/projects/42/uploads/{SECRET}/loop.png");
    Mock::given(method("GET"))
        .and(path(loop_path.as_str()))
        .respond_with(ResponseTemplate::new(307).insert_header("location", loop_path.as_str()))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(dir.path(), &server);
    publish(&runner, &format!("![l](/uploads/{SECRET}/loop.png)")).await;
    let seen = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == loop_path)
        .count();
    assert_eq!(seen, 6, "the request and five redirects, once");
    let status = tree(&dir.path().join("status"));
    assert!(status.contains_key("data/incident/2.json"));
    assert!(!status.keys().any(|k| k.starts_with("data/incident/2/")));
}
