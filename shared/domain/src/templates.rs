//! The template environment shared by the maintainers' mail and the status site:
//! `.html` and `.atom` templates escape every value by default (`&`, `<`, `>`, `"`,
//! `'`, so URLs stay readable in the source); other templates are plain text. Every
//! template reads its strings from the language catalogues with `t("key", ...)`
//! ([`crate::i18n`]), in the language of the context's `lang`.

use minijinja::{AutoEscape, Environment};

/// An environment holding `templates` (name, source); panics at start if one does not
/// parse, as they are compiled into the binary.
pub fn environment(templates: &[(&'static str, &'static str)]) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") || name.ends_with(".atom") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_keep_trailing_newline(true);
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == AutoEscape::Html
            && !value.is_safe()
            && !value.is_none()
            && !value.is_undefined()
        {
            return out
                .write_str(&openmic_render::escape_text(&value.to_string()))
                .map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                });
        }
        minijinja::escape_formatter(out, state, value)
    });
    env.add_function("t", crate::i18n::template_function);
    for (name, src) in templates {
        env.add_template(name, src)
            .unwrap_or_else(|e| panic!("template {name} does not parse: {e}"));
    }
    env
}

/// A template that did not render: its name, and minijinja's reason as the source.
#[derive(Debug, thiserror::Error)]
#[error("template {name} did not render")]
pub struct RenderError {
    pub name: String,
    #[source]
    pub source: minijinja::Error,
}

/// Renders template `name` of `env` with `ctx`.
pub fn render(
    env: &Environment<'_>,
    name: &str,
    ctx: impl serde::Serialize,
) -> Result<String, RenderError> {
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|source| RenderError {
            name: name.to_owned(),
            source,
        })
}

/// The Content-Security-Policy of openmic's own HTML pages (alert links,
/// subscriptions): their inline style only, forms posting back to themselves, never in
/// a frame.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
