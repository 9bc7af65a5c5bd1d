//! What `GITLAB_TOKEN` may do, asked of GitLab at start
//! (`GET /personal_access_tokens/self`, which answers for personal, project and group
//! access tokens alike, GitLab 15.5 and later), against what the configuration asks of
//! it: each feature a missing scope disables is named, once, in the log (and on
//! `openmic-local`'s terminal), so a token made with too little shows at deploy time
//! rather than at the first incident.

use chrono::NaiveDate;
use serde::Deserialize;

use openmic_core::config::{Config, MicrophoneTrust};

/// The token as GitLab describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub revoked: Option<bool>,
    /// `YYYY-MM-DD`, or none for a token that never expires.
    #[serde(default)]
    pub expires_at: Option<NaiveDate>,
}

/// A scope GitLab's API needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Reading: issues, notes, awards, label events, members, uploads, templates.
    ReadApi,
    /// Writing: notes and issues.
    Api,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadApi => "read_api",
            Scope::Api => "api",
        }
    }

    /// Whether a token with `scopes` has it (`api` includes `read_api`).
    pub fn held_by(self, scopes: &[String]) -> bool {
        let has = |s: &str| scopes.iter().any(|x| x == s);
        match self {
            Scope::ReadApi => has("read_api") || has("api"),
            Scope::Api => has("api"),
        }
    }
}

/// A feature the configuration turns on and the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub feature: &'static str,
    pub scope: Scope,
}

/// What the configuration asks of GitLab's API, feature by feature.
pub fn needs(config: &Config) -> Vec<Need> {
    let need = |feature, scope| Need { feature, scope };
    let mut out = vec![
        need("attachments on the page (uploads)", Scope::ReadApi),
        need("the resync of published incidents", Scope::ReadApi),
    ];
    if config.publishing.publishers.is_empty() {
        out.push(need(
            "publishing by role (PUBLISH_MIN_ACCESS; PUBLISHERS is empty)",
            Scope::ReadApi,
        ));
    }
    if config.publishing.microphone_trust == MicrophoneTrust::Developers {
        out.push(need("MICROPHONE_TRUST=developers", Scope::ReadApi));
    }
    if config.alert_routing.notify_roles.is_some() {
        out.push(need(
            "recipients from GitLab (NOTIFY_ROLES)",
            Scope::ReadApi,
        ));
    }
    if config.alert_routing.incident_template.is_some() {
        out.push(need("INCIDENT_TEMPLATE", Scope::ReadApi));
    }
    if config.publishing.link_back {
        out.push(need(
            "the note with the public URL (LINK_BACK, on by default)",
            Scope::Api,
        ));
    }
    out.push(need(
        "notes that tell an issue what kept it off the page",
        Scope::Api,
    ));
    if config.alert_routing.create_incidents {
        out.push(need(
            "incident issues for alerts (CREATE_INCIDENTS)",
            Scope::Api,
        ));
    }
    if config.alert_routing.auto_close_incidents {
        out.push(need(
            "closing them on resolution (AUTO_CLOSE_INCIDENTS)",
            Scope::Api,
        ));
    }
    out
}

/// What the token's description says is wrong, as lines for the log: disabled
/// features by missing scope, a token revoked or inactive, one expiring within 14
/// days of `today`. Empty when all is well.
pub fn problems(config: &Config, token: &TokenInfo, today: NaiveDate) -> Vec<String> {
    let mut out = Vec::new();
    if token.revoked == Some(true) || token.active == Some(false) {
        out.push("GITLAB_TOKEN is revoked or expired: every GitLab feature is off".to_owned());
        return out;
    }
    for scope in [Scope::ReadApi, Scope::Api] {
        if scope.held_by(&token.scopes) {
            continue;
        }
        let off: Vec<&str> = needs(config)
            .into_iter()
            .filter(|n| n.scope == scope)
            .map(|n| n.feature)
            .collect();
        if !off.is_empty() {
            out.push(format!(
                "GITLAB_TOKEN lacks the {} scope, so these do not work: {}",
                scope.as_str(),
                off.join("; ")
            ));
        }
    }
    if let Some(end) = token.expires_at {
        let left = (end - today).num_days();
        if left <= 14 {
            out.push(format!(
                "GITLAB_TOKEN expires on {end} ({left} days): make a new one and set it"
            ));
        }
    }
    out
}

/// Whether publishing depends on the token (no `PUBLISHERS`) and the token cannot
/// read the members who may publish: then nobody may publish.
pub fn nobody_may_publish(config: &Config, token: &TokenInfo) -> bool {
    config.publishing.publishers.is_empty()
        && (token.revoked == Some(true)
            || token.active == Some(false)
            || !Scope::ReadApi.held_by(&token.scopes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let map: std::collections::HashMap<_, _> = pairs.iter().copied().collect();
        Config::from_lookup(|k| map.get(k).map(|v| v.to_string())).unwrap()
    }

    fn token(scopes: &[&str], expires: Option<&str>) -> TokenInfo {
        TokenInfo {
            name: "openmic".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            active: Some(true),
            revoked: Some(false),
            expires_at: expires.map(|d| d.parse().unwrap()),
        }
    }

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    #[test]
    fn a_read_api_token_names_what_the_default_configuration_cannot_do() {
        let c = config(&[("PUBLISHERS", "alice")]);
        let p = problems(&c, &token(&["read_api"], None), day("2026-12-06"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("lacks the api scope") && p[0].contains("LINK_BACK"));
        assert!(!p[0].contains("CREATE_INCIDENTS"), "not configured: {p:?}");
        assert!(problems(&c, &token(&["api"], None), day("2026-12-06")).is_empty());
    }

    #[test]
    fn every_configured_feature_is_named_under_its_scope() {
        let c = config(&[
            ("CREATE_INCIDENTS", "true"),
            ("AUTO_CLOSE_INCIDENTS", "true"),
            ("INCIDENT_TEMPLATE", "incident"),
            ("NOTIFY_ROLES", "maintainers"),
            ("MICROPHONE_TRUST", "developers"),
        ]);
        let p = problems(&c, &token(&["read_repository"], None), day("2026-12-06"));
        assert_eq!(p.len(), 2, "{p:?}");
        for f in [
            "PUBLISH_MIN_ACCESS",
            "MICROPHONE_TRUST",
            "NOTIFY_ROLES",
            "INCIDENT_TEMPLATE",
        ] {
            assert!(p[0].contains("read_api") && p[0].contains(f), "{f}: {p:?}");
        }
        for f in ["CREATE_INCIDENTS", "AUTO_CLOSE_INCIDENTS", "LINK_BACK"] {
            assert!(p[1].contains("api scope") && p[1].contains(f), "{f}: {p:?}");
        }
        assert!(nobody_may_publish(&c, &token(&["read_repository"], None)));
        assert!(!nobody_may_publish(&c, &token(&["read_api"], None)));
    }

    #[test]
    fn expiry_and_revocation_are_told() {
        let c = config(&[("PUBLISHERS", "alice")]);
        let soon = problems(&c, &token(&["api"], Some("2026-12-16")), day("2026-12-06"));
        assert_eq!(soon.len(), 1);
        assert!(soon[0].contains("2026-12-16") && soon[0].contains("10 days"));
        assert!(problems(&c, &token(&["api"], Some("2027-03-01")), day("2026-12-06")).is_empty());
        let mut gone = token(&["api"], None);
        gone.revoked = Some(true);
        assert!(problems(&c, &gone, day("2026-12-06"))[0].contains("revoked"));
        assert!(!nobody_may_publish(&c, &gone), "PUBLISHERS still publish");
    }

    #[test]
    fn gitlabs_answer_is_read_as_documented() {
        // GitLab's documented example of GET /personal_access_tokens/self.
        let t: TokenInfo = serde_json::from_str(
            r#"{"id": 4, "name": "Test Token", "revoked": false, "created_at": "2020-07-23T14:31:47.729Z",
                "description": "Test Token description", "scopes": ["api"], "user_id": 3,
                "last_used_at": "2021-10-06T17:58:37.550Z", "active": true, "expires_at": null}"#,
        )
        .unwrap();
        assert_eq!(t.scopes, ["api"]);
        assert_eq!(t.expires_at, None);
    }
}
