#!/usr/bin/env python3
"""Writes openmic's sample API Gateway events from GitLab's documented hook payloads.

Run from the repository root: python3 events/make_events.py

Each event is an API Gateway HTTP API (payload format 2.0) request, usable with
`openmic-local replay`, `sam local invoke -e` and the tests. `${GITLAB_WEBHOOK_SECRET}`
and `${ALERT_TOKEN}` stand for the secrets; `openmic-local replay` fills them in.

The GitLab story (gitlab-story/) uses project 42 at https://gitlab.example.com/ops/api,
and three users: alice (a publisher), bob (a developer, not a publisher) and mallory
(a stranger).
"""
import base64
import copy
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PAYLOADS = os.path.join(HERE, "payloads")

PROJECT = {
    "id": 42,
    "name": "api",
    "description": "The API",
    "web_url": "https://gitlab.example.com/ops/api",
    "avatar_url": None,
    "git_ssh_url": "git@gitlab.example.com:ops/api.git",
    "git_http_url": "https://gitlab.example.com/ops/api.git",
    "namespace": "ops",
    "visibility_level": 20,
    "path_with_namespace": "ops/api",
    "default_branch": "main",
    "ci_config_path": None,
    "homepage": "https://gitlab.example.com/ops/api",
    "url": "git@gitlab.example.com:ops/api.git",
    "ssh_url": "git@gitlab.example.com:ops/api.git",
    "http_url": "https://gitlab.example.com/ops/api.git",
}

USERS = {
    "alice": {"id": 10, "name": "Alice Admin", "username": "alice",
              "avatar_url": "https://gitlab.example.com/uploads/-/system/user/avatar/10/a.png",
              "email": "[REDACTED]"},
    "bob": {"id": 11, "name": "Bob Builder", "username": "bob",
            "avatar_url": "https://gitlab.example.com/uploads/-/system/user/avatar/11/b.png",
            "email": "[REDACTED]"},
    "mallory": {"id": 66, "name": "Mallory", "username": "mallory",
                "avatar_url": "https://gitlab.example.com/uploads/-/system/user/avatar/66/m.png",
                "email": "[REDACTED]"},
}


def load(name):
    with open(os.path.join(PAYLOADS, name)) as f:
        return json.load(f)


def label(title, lid):
    return {"id": lid, "title": title, "color": "#dc143c", "project_id": 42,
            "created_at": "2024-03-01T08:00:00Z", "updated_at": "2024-03-01T08:00:00Z",
            "template": False, "description": None, "type": "ProjectLabel", "group_id": None}


LABELS = {"status-page": label("status-page", 500), "incident": label("incident", 501),
          "status::investigating": label("status::investigating", 502),
          "status::identified": label("status::identified", 503),
          "component::payments": label("component::payments", 504)}


def issue_attrs(iid, title, description, created, updated, state="opened", labels=(),
                confidential=False, action=None):
    base = load("gitlab-issue-hook.json")["object_attributes"]
    a = copy.deepcopy(base)
    a.update({
        "id": 1000 + iid, "iid": iid, "title": title, "description": description,
        "project_id": 42, "created_at": created, "updated_at": updated,
        "state": state, "state_id": 1 if state == "opened" else 2,
        "confidential": confidential, "type": "Incident", "severity": "high",
        "url": f"https://gitlab.example.com/ops/api/-/issues/{iid}",
        "labels": [LABELS[l] for l in labels], "author_id": 10, "assignee_ids": [],
        "assignee_id": None, "escalation_status": "triggered",
        "closed_at": updated if state == "closed" else None,
    })
    if action:
        a["action"] = action
    else:
        a.pop("action", None)
    return a


def issue_hook(user, attrs, previous_labels=None, confidential_change=None, kind="issue"):
    body = copy.deepcopy(load("gitlab-issue-hook.json"))
    body["object_kind"] = kind
    body["event_type"] = "confidential_issue" if attrs["confidential"] else "issue"
    body["user"] = USERS[user]
    body["project"] = PROJECT
    body["object_attributes"] = attrs
    body["labels"] = attrs["labels"]
    body["assignees"] = []
    body.pop("assignee", None)
    body["repository"] = {"name": "api", "url": PROJECT["url"], "description": "",
                          "homepage": PROJECT["homepage"]}
    changes = {"updated_at": {"previous": None, "current": attrs["updated_at"]}}
    if previous_labels is not None:
        changes["labels"] = {"previous": [LABELS[l] for l in previous_labels],
                             "current": attrs["labels"]}
    if confidential_change is not None:
        changes["confidential"] = {"previous": not confidential_change, "current": confidential_change}
    body["changes"] = changes
    return body


def short_issue(attrs):
    keys = ["id", "iid", "title", "description", "state", "confidential", "created_at",
            "updated_at", "labels", "project_id", "url", "severity", "author_id", "closed_at"]
    out = {k: attrs.get(k) for k in keys}
    out["state_id"] = attrs["state_id"]
    return out


def note_hook(user, note_id, body_text, created, issue, internal=False, system=False):
    body = copy.deepcopy(load("gitlab-note-hook.json"))
    body["user"] = USERS[user]
    body["project_id"] = 42
    body["project"] = PROJECT
    body["event_type"] = "confidential_note" if internal else "note"
    oa = body["object_attributes"]
    oa.update({"id": note_id, "note": body_text, "noteable_type": "Issue", "author_id": USERS[user]["id"],
               "created_at": created, "updated_at": created, "project_id": 42, "noteable_id": issue["id"],
               "system": system, "internal": internal, "confidential": internal, "action": "create",
               "url": f"https://gitlab.example.com/ops/api/-/issues/{issue['iid']}#note_{note_id}"})
    body["issue"] = issue
    return body


def emoji_hook(user, award_id, name, note_id, note_text, note_created, issue, at, action="award"):
    body = copy.deepcopy(load("gitlab-emoji-hook.json"))
    body["user"] = USERS[user]
    body["project_id"] = 42
    body["project"] = PROJECT
    oa = body["object_attributes"]
    oa.update({"user_id": USERS[user]["id"], "created_at": at, "updated_at": at, "id": award_id,
               "name": name, "awardable_type": "Note", "awardable_id": note_id, "action": action,
               "awarded_on_url": f"https://gitlab.example.com/ops/api/-/issues/{issue['iid']}#note_{note_id}"})
    n = body["note"]
    n.update({"id": note_id, "note": note_text, "description": note_text, "noteable_id": issue["id"],
              "created_at": note_created, "updated_at": note_created, "project_id": 42, "system": False,
              "url": f"https://gitlab.example.com/ops/api/-/issues/{issue['iid']}#note_{note_id}"})
    body["issue"] = issue
    return body


def event(path, body, headers, base64_body=False, method="POST", raw_body=None):
    text = raw_body if raw_body is not None else json.dumps(body, indent=2, ensure_ascii=False)
    h = {"content-type": "application/json", "user-agent": "GitLab/17.6.0"}
    h.update(headers)
    h = {k: v for k, v in h.items() if v is not None}
    rid = hashlib.sha256((path + text + json.dumps(h, sort_keys=True)).encode()).hexdigest()[:16]
    ev = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "openmicapi",
            "domainName": "openmicapi.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "openmicapi",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.10", "userAgent": h.get("user-agent", "")},
            "requestId": rid,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Mar/2024:09:00:00 +0000",
            "timeEpoch": 1709283600000,
        },
        "isBase64Encoded": base64_body,
    }
    if method != "GET":
        ev["body"] = base64.b64encode(text.encode()).decode() if base64_body else text
    return ev


def gitlab(event_name, body, key, token="${GITLAB_WEBHOOK_SECRET}", **kw):
    headers = {"x-gitlab-event": event_name, "x-gitlab-token": token,
               "idempotency-key": key, "x-gitlab-event-uuid": key,
               "x-gitlab-instance": "https://gitlab.example.com"}
    headers.update(kw.pop("extra_headers", {}))
    return event("/gitlab", body, headers, **kw)


def write(folder, name, ev):
    d = os.path.join(HERE, folder)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w") as f:
        json.dump(ev, f, indent=2, ensure_ascii=False)
        f.write("\n")


def story():
    s = "gitlab-story"
    t0 = "2024-03-01T09:00:00Z"
    desc1 = ("Requests to the API fail for some users. @carol is on it; escalated by @ops/oncall.\n\n"
             "| region | status |\n|---|---|\n| eu-west | degraded |\n| us-east | ok |\n\n"
             "- [x] paged on-call\n- [ ] root cause\n\n"
             "Graph: ![error rate](/uploads/0123456789abcdef0123456789abcdef/errors.png) :chart_with_upwards_trend:")
    i1 = issue_attrs(1, "API errors :fire: for @carol's customers", desc1, t0, t0, labels=["incident"], action="open")
    write(s, "001-issue-opened.json", gitlab("Issue Hook", issue_hook("alice", i1), "d0000001-0000-4000-8000-000000000001"))
    si1 = short_issue(i1)
    write(s, "002-note-by-bob.json", gitlab("Note Hook",
          note_hook("bob", 101, "We are looking into elevated error rates. cc @alice", "2024-03-01 09:05:00 UTC", si1),
          "d0000001-0000-4000-8000-000000000002"))
    write(s, "003-internal-note.json", gitlab("Confidential Note Hook",
          note_hook("alice", 102, "Internal: the database password was rotated by @bob", "2024-03-01T09:06:00.250Z", si1, internal=True),
          "d0000001-0000-4000-8000-000000000003"))
    write(s, "004-microphone-by-publisher.json", gitlab("Emoji Hook",
          emoji_hook("alice", 9001, "microphone", 101, "We are looking into elevated error rates. cc @alice",
                     "2024-03-01 09:05:00 UTC", si1, "2024-03-01 09:07:00 UTC"),
          "d0000001-0000-4000-8000-000000000004"))
    write(s, "005-note-with-references.json", gitlab("Note Hook",
          note_hook("bob", 103, "Root cause: see https://gitlab.example.com/ops/api/-/issues/9 and #12, fix in !3.\n\n"
                    "<script>alert(1)</script><img src=x onerror=alert(2)>", "2024-03-01T09:10:00Z", si1),
          "d0000001-0000-4000-8000-000000000005"))
    write(s, "006-microphone-by-stranger.json", gitlab("Emoji Hook",
          emoji_hook("mallory", 9002, "microphone", 103, "Root cause: see https://gitlab.example.com/ops/api/-/issues/9 and #12, fix in !3.",
                     "2024-03-01T09:10:00Z", si1, "2024-03-01T09:11:00Z"),
          "d0000001-0000-4000-8000-000000000006"))
    i1b = issue_attrs(1, i1["title"], desc1, t0, "2024-03-01T09:12:00Z", labels=["incident", "status-page"], action="update")
    write(s, "007-label-by-publisher.json", gitlab("Issue Hook",
          issue_hook("alice", i1b, previous_labels=["incident"]), "d0000001-0000-4000-8000-000000000007"))
    si1b = short_issue(i1b)
    write(s, "008-microphone-on-internal-note.json", gitlab("Emoji Hook",
          emoji_hook("alice", 9003, "microphone", 102, "Internal: the database password was rotated by @bob",
                     "2024-03-01T09:06:00.250Z", si1b, "2024-03-01T09:13:00Z"),
          "d0000001-0000-4000-8000-000000000008"))
    write(s, "009-note-by-publisher.json", gitlab("Note Hook",
          note_hook("alice", 104, "A fix is rolling out :rocket:", "2024-03-01T09:20:00Z", si1b),
          "d0000001-0000-4000-8000-000000000009"))
    write(s, "010-microphone-award.json", gitlab("Emoji Hook",
          emoji_hook("alice", 9004, "microphone", 104, "A fix is rolling out :rocket:", "2024-03-01T09:20:00Z", si1b,
                     "2024-03-01T09:21:00Z"), "d0000001-0000-4000-8000-000000000010"))
    write(s, "011-microphone-revoked.json", gitlab("Emoji Hook",
          emoji_hook("alice", 9004, "microphone", 104, "A fix is rolling out :rocket:", "2024-03-01T09:20:00Z", si1b,
                     "2024-03-01T09:21:00Z", action="revoke"), "d0000001-0000-4000-8000-000000000011"))
    desc1c = desc1 + "\n\nUpdate: error rates are back to normal in eu-west."
    i1c = issue_attrs(1, "API errors :fire: for @carol's customers", desc1c, t0, "2024-03-01T09:30:00.500Z",
                      labels=["incident", "status-page"], action="update")
    write(s, "012-description-updated.json", gitlab("Issue Hook", issue_hook("bob", i1c), "d0000001-0000-4000-8000-000000000012"))
    i1_stale = issue_attrs(1, "Stale title that must not come back", "stale", t0, "2024-03-01T09:25:00Z",
                           labels=["incident", "status-page"], action="update")
    write(s, "013-stale-update.json", gitlab("Issue Hook", issue_hook("bob", i1_stale), "d0000001-0000-4000-8000-000000000013"))
    i1d = issue_attrs(1, "API errors :fire: for @carol's customers", desc1c, t0, "2024-03-01 10:00:00 UTC",
                      state="closed", labels=["incident", "status-page"], action="close")
    write(s, "014-issue-closed.json", gitlab("Issue Hook", issue_hook("alice", i1d), "d0000001-0000-4000-8000-000000000014"))

    t2 = "2024-03-02T12:00:00Z"
    i2 = issue_attrs(2, "Login page slow", "Logins take 10 s.", t2, t2, labels=["status-page"], action="open")
    write(s, "015-second-incident-published.json", gitlab("Issue Hook", issue_hook("alice", i2), "d0000002-0000-4000-8000-000000000015"))
    i2b = issue_attrs(2, "Login page slow", "Logins take 10 s.", t2, "2024-03-02T12:30:00Z", labels=["status-page"],
                      confidential=True, action="update")
    write(s, "016-second-incident-confidential.json", gitlab("Confidential Issue Hook",
          issue_hook("bob", i2b, confidential_change=True), "d0000002-0000-4000-8000-000000000016"))

    t3 = "2024-03-03T08:00:00Z"
    i3 = issue_attrs(3, "Mallory's incident", "Should never be public.", t3, t3, labels=["status-page"], action="open")
    write(s, "017-third-incident-by-stranger.json", gitlab("Issue Hook", issue_hook("mallory", i3), "d0000003-0000-4000-8000-000000000017"))


def site():
    """Events that the site test replays after the story: more published comments
    (one with hostile HTML), and an open incident with a stage and a component."""
    d = "gitlab-site"
    t0 = "2024-03-01T09:00:00Z"
    desc1 = "x"
    i1 = short_issue(issue_attrs(1, "API errors :fire: for @carol's customers", desc1, t0, "2024-03-01T09:12:00Z",
                                 labels=["incident", "status-page"]))
    write(d, "001-microphone-on-hostile-note.json", gitlab("Emoji Hook",
          emoji_hook("alice", 9005, "microphone", 103,
                     "Root cause: see https://gitlab.example.com/ops/api/-/issues/9 and #12, fix in !3.\n\n"
                     "<script>alert(1)</script><img src=x onerror=alert(2)>", "2024-03-01T09:10:00Z", i1,
                     "2024-03-01T09:40:00Z"), "d0000001-0000-4000-8000-000000000101"))
    write(d, "002-microphone-again.json", gitlab("Emoji Hook",
          emoji_hook("alice", 9006, "microphone", 104, "A fix is rolling out :rocket:", "2024-03-01T09:20:00Z", i1,
                     "2024-03-01T09:41:00Z"), "d0000001-0000-4000-8000-000000000102"))
    t4 = "2024-03-06T07:00:00Z"
    i4 = issue_attrs(4, "Checkout failures", "Payments time out for some customers.", t4, t4,
                     labels=["status-page", "status::identified", "component::payments"], action="open")
    i4["severity"] = "critical"
    write(d, "003-open-incident-with-stage.json", gitlab("Issue Hook", issue_hook("alice", i4),
          "d0000004-0000-4000-8000-000000000103"))


def errors():
    d = "gitlab-errors"
    t = "2024-03-04T08:00:00Z"
    i = issue_attrs(5, "x", "x", t, t, action="open")
    ok = issue_hook("alice", i)
    write(d, "bad-token.json", gitlab("Issue Hook", ok, "e1", token="wrong-token"))
    write(d, "missing-token.json", gitlab("Issue Hook", ok, "e2", token=None))
    other = copy.deepcopy(ok)
    other["project"]["id"] = 7
    write(d, "other-project.json", gitlab("Issue Hook", other, "e3"))
    broken = copy.deepcopy(ok)
    del broken["project"]
    write(d, "missing-project.json", gitlab("Issue Hook", broken, "e4"))
    write(d, "push-hook-ignored.json", gitlab("Push Hook", {"object_kind": "push", "project": PROJECT}, "e5"))
    mr_note = note_hook("bob", 700, "LGTM", t, short_issue(i))
    mr_note["object_attributes"]["noteable_type"] = "MergeRequest"
    write(d, "note-on-merge-request-ignored.json", gitlab("Note Hook", mr_note, "e6"))
    write(d, "get-method.json", gitlab("Issue Hook", None, "e7", method="GET"))
    write(d, "unknown-route.json", event("/nope", {}, {"x-gitlab-token": "${GITLAB_WEBHOOK_SECRET}"}))
    write(d, "invalid-json.json", gitlab("Issue Hook", None, "e9", raw_body='{"object_kind": "issue", '))
    write(d, "base64-body.json", gitlab("Issue Hook", ok, "e10", base64_body=True))
    write(d, "wrong-content-type.json", gitlab("Issue Hook", ok, "e11", extra_headers={"content-type": "text/plain"}))
    write(d, "bad-timestamp.json", gitlab("Issue Hook", json.loads(json.dumps(ok).replace(t, "yesterday")), "e12"))


def alerts():
    d = "alerts"
    bearer = {"authorization": "Bearer ${ALERT_TOKEN}"}

    def am(status, alerts, key):
        return event("/alerts", {
            "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
            "status": status, "receiver": "openmic", "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {"alertname": "HighErrorRate", "env": "production"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager.example.com:9093",
            "alerts": alerts}, dict(bearer, **{"idempotency-key": key}))

    def alert(status, instance, fp, starts, ends="0001-01-01T00:00:00Z", extra_ann=None):
        ann = {"summary": f"High error rate on {instance}",
               "description": f"5xx ratio above 5% on {instance} for 10 minutes.",
               "runbook_url": "https://runbooks.example.com/high-error-rate"}
        ann.update(extra_ann or {})
        return {"status": status, "labels": {"alertname": "HighErrorRate", "env": "production", "instance": instance,
                                              "severity": "critical", "job": "api"},
                "annotations": ann, "startsAt": starts, "endsAt": ends,
                "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=rate", "fingerprint": fp}

    write(d, "001-two-alerts-fire.json", am("firing", [
        alert("firing", "api-1:9100", "a1b2c3d4e5f60001", "2024-03-05T10:00:00Z"),
        alert("firing", "api-2:9100", "a1b2c3d4e5f60002", "2024-03-05T10:00:30Z",
              extra_ann={"description": "<b>bold</b> <script>alert(1)</script>\nsecond line"}),
    ], "am-0001"))
    write(d, "002-one-repeats.json", am("firing", [
        alert("firing", "api-1:9100", "a1b2c3d4e5f60001", "2024-03-05T10:00:00Z"),
    ], "am-0002"))
    write(d, "003-one-resolves.json", am("resolved", [
        alert("resolved", "api-1:9100", "a1b2c3d4e5f60001", "2024-03-05T10:00:00Z", "2024-03-05T10:30:00Z"),
    ], "am-0003"))
    write(d, "004-unknown-resolves.json", am("resolved", [
        alert("resolved", "api-9:9100", "ffffffffffff0009", "2024-03-05T09:00:00Z", "2024-03-05T09:30:00Z"),
    ], "am-0004"))
    generic = load("gitlab-generic-alert.json")
    generic["gitlab_environment_name"] = "staging"
    write(d, "005-generic-alert.json", event("/alerts", generic, dict(bearer, **{"idempotency-key": "gen-0005"})))
    write(d, "006-bad-token.json", event("/alerts", generic, {"authorization": "Bearer not-the-token"}))
    write(d, "007-missing-token.json", event("/alerts", generic, {}))
    write(d, "008-malformed.json", event("/alerts", {"description": "no title"}, bearer))
    write(d, "009-alerts-not-a-list.json", event("/alerts", {"version": "4", "alerts": "none"}, bearer))


if __name__ == "__main__":
    story()
    site()
    errors()
    alerts()
