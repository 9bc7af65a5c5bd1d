//! The settings of audience pages: who may read which private page
//! (`AUDIENCES`), and the GitLab application readers sign in with (OpenID Connect).

use std::fmt;

use super::setting::{Setting, secret, text};
use super::{ConfigError, Function as F, Rejected, Secret, Variable};

pub const AUDIENCES: Setting<Audiences> = Setting {
    variable: Variable {
        name: "AUDIENCES",
        default: "none",
        meaning: "private pages and who may read them: `name=group[,group]` separated by `;` (`staff=ops,eng; acme=customers/acme`); an incident labelled `audience::<name>` is published to that page only, one without such a label to the public page and every audience's; readers sign in with GitLab; on AWS the publisher writes their pages under `audiences/<name>/` of the state bucket and CloudFront serves them to readers holding the sign-in function's signed cookies",
        secret: false,
        read_by: &[F::Publisher, F::Signin],
        required_by: &[F::Signin],
    },
    parse: audiences,
};

pub const GITLAB_OIDC_CLIENT_ID: Setting<String> = Setting {
    variable: Variable {
        name: "GITLAB_OIDC_CLIENT_ID",
        default: "none",
        meaning: "the application ID of the GitLab application (scopes `openid`, `profile`) readers of audience pages sign in with; its callback is `<STATUS_PAGE_URL>/callback`",
        secret: false,
        read_by: &[F::Signin],
        required_by: &[F::Signin],
    },
    parse: text,
};

pub const GITLAB_OIDC_CLIENT_SECRET: Setting<Secret> = Setting {
    variable: Variable {
        name: "GITLAB_OIDC_CLIENT_SECRET",
        default: "none",
        meaning: "that GitLab application's secret",
        secret: true,
        read_by: &[F::Signin],
        required_by: &[F::Signin],
    },
    parse: secret,
};

pub const CLOUDFRONT_KEY_PAIR_ID: Setting<String> = Setting {
    variable: Variable {
        name: "CLOUDFRONT_KEY_PAIR_ID",
        default: "on AWS the template's `AWS::CloudFront::PublicKey`",
        meaning: "the id of the public key in the distribution's trusted key group whose private half signs the audience pages' cookies (AWS only)",
        secret: false,
        read_by: &[F::Signin],
        required_by: &[F::Signin],
    },
    parse: text,
};

pub const CLOUDFRONT_PRIVATE_KEY_SECRET: Setting<String> = Setting {
    variable: Variable {
        name: "CLOUDFRONT_PRIVATE_KEY_SECRET",
        default: "on AWS the template's secret",
        meaning: "the name or ARN of the Secrets Manager secret whose SecretString is that key's private half (PEM, 2048-bit RSA), read once at start (AWS only)",
        secret: false,
        read_by: &[F::Signin],
        required_by: &[F::Signin],
    },
    parse: text,
};

/// What audience pages read.
pub const VARIABLES: &[Variable] = &[
    AUDIENCES.variable,
    GITLAB_OIDC_CLIENT_ID.variable,
    GITLAB_OIDC_CLIENT_SECRET.variable,
    CLOUDFRONT_KEY_PAIR_ID.variable,
    CLOUDFRONT_PRIVATE_KEY_SECRET.variable,
];

/// The label that publishes an incident to one audience's page only.
pub const AUDIENCE_LABEL_PREFIX: &str = "audience::";

/// Names that are the public site's own paths or the sign-in's routes: an audience's
/// page lives under `/<name>/`, so it may not be one of them.
pub const RESERVED: &[&str] = &[
    "alerts",
    "api",
    "assets",
    "audiences",
    "brand",
    "callback",
    "data",
    "feed",
    "gitlab",
    "healthz",
    "history",
    "incidents",
    "login",
    "logout",
    "subscribe",
    "subscriptions",
    "unsubscribe",
];

/// One audience: its name (its page is `/<name>/`) and the GitLab groups (full paths)
/// whose direct members may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub name: String,
    pub groups: Vec<String>,
}

/// The audiences, in the order given; none when `AUDIENCES` is unset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audiences(pub Vec<Audience>);

impl Audiences {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Audience> {
        self.0.iter()
    }

    /// The audience named `name`.
    pub fn get(&self, name: &str) -> Option<&Audience> {
        self.0.iter().find(|a| a.name == name)
    }

    /// The names of the audiences a direct member of `groups` may read. As in
    /// GitLab, the members of a group are members of its subgroups too: a direct
    /// member of `customers` reads an audience of `customers/acme`; a member of
    /// `customers/acme/emea` alone does not.
    pub fn granted<'a>(&self, groups: impl IntoIterator<Item = &'a str> + Clone) -> Vec<String> {
        self.0
            .iter()
            .filter(|a| {
                groups.clone().into_iter().any(|g| {
                    a.groups.iter().any(|want| {
                        g == want
                            || want
                                .strip_prefix(g)
                                .is_some_and(|rest| rest.starts_with('/'))
                    })
                })
            })
            .map(|a| a.name.clone())
            .collect()
    }
}

/// What is wrong with one part of `AUDIENCES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceProblem {
    /// A part without `=`.
    NoEquals(String),
    /// A name that is not lower-case letters, digits and `-` (at most 40).
    BadName(String),
    /// A name that is a path of the public site or a route.
    Reserved(String),
    /// A name given twice.
    Twice(String),
    /// An audience without a group: nobody could read it.
    NoGroups(String),
    /// A group that is not a GitLab group path.
    BadGroup { audience: String, group: String },
}

impl fmt::Display for AudienceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudienceProblem::NoEquals(part) => {
                write!(f, "{part:?} is not `name=group[,group]`")
            }
            AudienceProblem::BadName(name) => write!(
                f,
                "{name:?} is not an audience name (lower-case letters, digits and -, at most 40)"
            ),
            AudienceProblem::Reserved(name) => write!(
                f,
                "{name:?} is a path of the public site or a route; choose another name"
            ),
            AudienceProblem::Twice(name) => write!(f, "the audience {name:?} is given twice"),
            AudienceProblem::NoGroups(name) => {
                write!(f, "the audience {name:?} names no GitLab group")
            }
            AudienceProblem::BadGroup { audience, group } => write!(
                f,
                "{group:?} (audience {audience:?}) is not a GitLab group path such as customers/acme"
            ),
        }
    }
}

/// Reads `name=group[,group]` parts separated by `;` or lines; every problem found is
/// returned, each naming what it is about.
pub fn parse_audiences(v: &str) -> Result<Audiences, Vec<AudienceProblem>> {
    let mut out: Vec<Audience> = Vec::new();
    let mut problems = Vec::new();
    for part in v
        .split([';', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((name, groups)) = part.split_once('=') else {
            problems.push(AudienceProblem::NoEquals(part.to_owned()));
            continue;
        };
        let name = name.trim();
        let good_name = !name.is_empty()
            && name.len() <= 40
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !good_name {
            problems.push(AudienceProblem::BadName(name.to_owned()));
        } else if RESERVED.contains(&name) {
            problems.push(AudienceProblem::Reserved(name.to_owned()));
        } else if out.iter().any(|a| a.name == name) {
            problems.push(AudienceProblem::Twice(name.to_owned()));
        }
        let mut list = Vec::new();
        for group in groups.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            let good = !group.starts_with('/')
                && !group.ends_with('/')
                && !group.contains("//")
                && group
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
            if good {
                list.push(group.to_owned());
            } else {
                problems.push(AudienceProblem::BadGroup {
                    audience: name.to_owned(),
                    group: group.to_owned(),
                });
            }
        }
        if list.is_empty() && groups.trim().is_empty() {
            problems.push(AudienceProblem::NoGroups(name.to_owned()));
        }
        out.push(Audience {
            name: name.to_owned(),
            groups: list,
        });
    }
    match problems.is_empty() {
        true => Ok(Audiences(out)),
        false => Err(problems),
    }
}

fn audiences(v: &str) -> Result<Audiences, Rejected> {
    parse_audiences(v).map_err(|problems| {
        Rejected(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// The audiences' settings.
#[derive(Debug, Clone, Default)]
pub struct AudienceSettings {
    pub audiences: Audiences,
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret: Option<Secret>,
    /// The key that signs CloudFront's cookies (the sign-in function).
    pub cloudfront_key_pair_id: Option<String>,
    /// The secret holding that key's private half (the sign-in function).
    pub cloudfront_private_key_secret: Option<String>,
}

impl AudienceSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<AudienceSettings, ConfigError> {
        Ok(AudienceSettings {
            audiences: AUDIENCES.or_empty(&get)?,
            oidc_client_id: GITLAB_OIDC_CLIENT_ID.read(&get)?,
            oidc_client_secret: GITLAB_OIDC_CLIENT_SECRET.read(&get)?,
            cloudfront_key_pair_id: CLOUDFRONT_KEY_PAIR_ID.read(&get)?,
            cloudfront_private_key_secret: CLOUDFRONT_PRIVATE_KEY_SECRET.read(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_and_their_groups_are_read_in_order() {
        let a = parse_audiences("staff=ops,eng; acme=customers/acme\n").unwrap();
        assert_eq!(
            a.0,
            vec![
                Audience {
                    name: "staff".into(),
                    groups: vec!["ops".into(), "eng".into()]
                },
                Audience {
                    name: "acme".into(),
                    groups: vec!["customers/acme".into()]
                },
            ]
        );
        assert_eq!(a.granted(["ops"]), vec!["staff"]);
        assert_eq!(a.granted(["customers/acme"]), vec!["acme"]);
        assert_eq!(a.granted(["customers"]), vec!["acme"]);
        assert!(a.granted(["customers/acme/emea"]).is_empty());
        assert!(a.granted(["opsx", "customers/acmecorp"]).is_empty());
        assert_eq!(a.granted(["eng", "customers/acme"]), vec!["staff", "acme"]);
    }

    #[test]
    fn every_problem_is_named() {
        let problems =
            parse_audiences("staff; Big=ops; login=ops; a=ops; a=eng; empty=; x=/bad,ok")
                .unwrap_err();
        assert_eq!(
            problems,
            vec![
                AudienceProblem::NoEquals("staff".into()),
                AudienceProblem::BadName("Big".into()),
                AudienceProblem::Reserved("login".into()),
                AudienceProblem::Twice("a".into()),
                AudienceProblem::NoGroups("empty".into()),
                AudienceProblem::BadGroup {
                    audience: "x".into(),
                    group: "/bad".into()
                },
            ]
        );
        let err = AUDIENCES
            .value(&|_: &str| Some("staff".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("AUDIENCES"), "{err}");
        assert!(err.to_string().contains("not `name=group"), "{err}");
        assert_eq!(
            AUDIENCES.or_empty(&|_: &str| None),
            Ok(Audiences::default())
        );
    }
}
