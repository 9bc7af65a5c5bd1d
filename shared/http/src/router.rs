//! The one route table, on axum: the intake routes, the alert links' routes and the
//! subscription routes, served by the local runner (beside its site) and, through
//! [`crate::apigw::serve`], by the Lambda functions, each its part of it; and API
//! Gateway event files as requests.

use axum::Router;
use axum::body::{Body, to_bytes};
#[cfg(feature = "links")]
use axum::extract::RawQuery;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
#[cfg(feature = "links")]
use axum::routing::get;
use axum::routing::{MethodRouter, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
#[cfg(feature = "links")]
use openmic::alerts::actions::Actions;
#[cfg(feature = "links")]
use openmic::alerts::links::LinkAction;
#[cfg(feature = "links")]
use openmic::chatops::Commands;
#[cfg(feature = "links")]
use openmic::chatops::accept::{ChatRoute, MAX_CHAT_BODY};
#[cfg(feature = "subscriptions")]
use openmic::subscriptions::Subscriptions;
#[cfg(feature = "subscriptions")]
use openmic::subscriptions::web::{self, MAX_FORM_BYTES};
use openmic_core::config::Config;
use openmic_core::ports::SignIn;
use openmic_intake::{Intake, Reply, Route, check_declared_length, too_large};
#[cfg(feature = "subscriptions")]
use std::net::SocketAddr;
use std::sync::Arc;

/// A reply as an HTTP response, the same for every route (JSON, the alert links'
/// pages, the subscription pages): its status, content type, headers and body.
pub fn response(reply: Reply) -> Response {
    let mut response = match reply.binary {
        Some(bytes) => (reply.status, bytes).into_response(),
        None => (reply.status, reply.body).into_response(),
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            // A reply may set several cookies; any other header once.
            match name.eq_ignore_ascii_case("set-cookie") {
                true => h.append(header::SET_COOKIE, v),
                false => h.insert(name, v).is_some(),
            };
        }
    }
    response
}

/// The router: `POST /gitlab`, `POST /alerts` (for the queues configured), JSON 404
/// and 405 for everything else.
pub fn router(intake: Arc<Intake>) -> Router {
    routes(&intake).fallback(not_found).with_state(intake)
}

/// The intake routes without a fallback, for a server that adds its own.
pub fn routes(intake: &Intake) -> Router<Arc<Intake>> {
    let mut r = Router::new();
    if intake.publish_queue.is_some() {
        r = r.route("/gitlab", only_post(post(gitlab)));
    }
    if intake.alert_queue.is_some() {
        r = r.route("/alerts", only_post(post(alerts)));
    }
    r
}

async fn gitlab(State(intake): State<Arc<Intake>>, request: Request) -> Response {
    deliver(&intake, Route::Gitlab, request).await
}

async fn alerts(State(intake): State<Arc<Intake>>, request: Request) -> Response {
    deliver(&intake, Route::Alerts, request).await
}

/// An intake route: the headers judged first ([`Intake::before_body`]: 401, 413), the
/// body read only then, within `MAX_BODY_BYTES`, and handed to intake.
async fn deliver(intake: &Intake, route: Route, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(reply) = intake.before_body(route, &parts.headers) {
        return response(reply);
    }
    let body = match read_body(&parts.headers, body, intake.config.intake.max_body_bytes).await {
        Ok(body) => body,
        Err(reply) => return response(reply),
    };
    response(match route {
        Route::Gitlab => intake.gitlab(&parts.headers, &body).await,
        Route::Alerts => intake.alerts(&parts.headers, &body).await,
    })
}

#[cfg(feature = "links")]
/// The notifier function's part of the route table: the alert links and the chat
/// routes, JSON 404 for everything else.
pub fn links_router(actions: Arc<Actions>, commands: Arc<Commands>) -> Router {
    link_routes(actions)
        .merge(chat_routes(commands))
        .fallback(not_found)
}

#[cfg(feature = "links")]
/// `POST /chat/slack/commands`, `POST /chat/slack/actions`,
/// `POST /chat/mattermost/commands`: the body read within [`MAX_CHAT_BODY`] (a
/// declared `Content-Length` over it refused before any is read), then handed to
/// [`Commands::accept`], which checks who sent it before anything else; 405 for
/// another method.
pub fn chat_routes<S: Clone + Send + Sync + 'static>(commands: Arc<Commands>) -> Router<S> {
    let mut r = Router::new();
    for route in ChatRoute::ALL {
        let commands = commands.clone();
        let m = post(move |request: Request| {
            let commands = commands.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = match read_body(&parts.headers, body, MAX_CHAT_BODY).await {
                    Ok(b) => b,
                    Err(reply) => return response(reply),
                };
                response(commands.accept(route, &parts.headers, &body).await)
            }
        })
        .fallback(|method: Method, uri: Uri| async move {
            response(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} is not allowed on {}; use POST", uri.path()),
            ))
        });
        r = r.route(route.path(), m);
    }
    r
}

#[cfg(feature = "subscriptions")]
/// The subscriptions function's part of the route table: the subscription routes,
/// JSON 404 for everything else.
pub fn subscriptions_router(subscriptions: Arc<Subscriptions>) -> Router {
    subscription_routes(subscriptions).fallback(not_found)
}

#[cfg(feature = "links")]
/// `GET|POST /alerts/ack` and `GET|POST /alerts/silence`: a GET shows what the link
/// will do, a POST does it; 405 for another method. And `GET /oncall/<person>.ics`,
/// a person's on-call calendar, and `GET /charts/<alert>/<n>.png?expires=&sig=`, the
/// chart of a chat message (signed, expiring; 403 otherwise, 404 when gone).
pub fn link_routes<S: Clone + Send + Sync + 'static>(actions: Arc<Actions>) -> Router<S> {
    let mut r = Router::new();
    for action in [LinkAction::Ack, LinkAction::Silence] {
        let (show, act) = (actions.clone(), actions.clone());
        let m = get(move |RawQuery(q): RawQuery| async move {
            let (token, length) = link_query(q.as_deref());
            response(
                show.show(
                    action,
                    token.as_deref(),
                    length.as_deref(),
                    chrono::Utc::now(),
                )
                .await,
            )
        })
        .post(move |RawQuery(q): RawQuery| async move {
            let (token, length) = link_query(q.as_deref());
            response(
                act.act(
                    action,
                    token.as_deref(),
                    length.as_deref(),
                    chrono::Utc::now(),
                )
                .await,
            )
        })
        .fallback(|method: Method, uri: Uri| async move {
            response(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "method {method} is not allowed on {}; use GET or POST",
                    uri.path()
                ),
            ))
        });
        r = r.route(action.path(), m);
    }
    let calendar = actions.calendar.clone();
    let feed = get(
        move |axum::extract::Path(file): axum::extract::Path<String>, RawQuery(q): RawQuery| async move {
            let token = crate::apigw::query_param(q.as_deref().unwrap_or(""), "token");
            response(calendar.feed(&file, token.as_deref(), chrono::Utc::now()).await)
        },
    )
    .fallback(|method: Method, uri: Uri| async move {
        response(Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed on {}; use GET", uri.path()),
        ))
    });
    let images = actions.clone();
    let chart = get(move |uri: Uri, RawQuery(q): RawQuery| async move {
        let q = q.unwrap_or_default();
        let (expires, sig) = (
            crate::apigw::query_param(&q, "expires"),
            crate::apigw::query_param(&q, "sig"),
        );
        response(
            images
                .chart_image(uri.path(), expires.as_deref(), sig.as_deref())
                .await,
        )
    })
    .fallback(|method: Method, uri: Uri| async move {
        response(Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed on {}; use GET", uri.path()),
        ))
    });
    r.route("/oncall/{file}", feed)
        .route("/charts/{alert}/{file}", chart)
}

#[cfg(feature = "links")]
fn link_query(q: Option<&str>) -> (Option<String>, Option<String>) {
    let q = q.unwrap_or("");
    (
        crate::apigw::query_param(q, "token"),
        crate::apigw::query_param(q, "for"),
    )
}

fn only_post(m: MethodRouter<Arc<Intake>>) -> MethodRouter<Arc<Intake>> {
    m.fallback(|method: Method, uri: Uri| async move {
        response(Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed on {}; use POST", uri.path()),
        ))
    })
}

#[cfg(feature = "subscriptions")]
/// The subscription routes (`/subscribe`, `/subscribe/confirm`, `/unsubscribe`,
/// `/subscriptions`), every method handed to the domain, which answers with pages or
/// JSON. The client's address is the socket's peer (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`), or unknown.
pub fn subscription_routes<S: Clone + Send + Sync + 'static>(
    subscriptions: Arc<Subscriptions>,
) -> Router<S> {
    let mut r = Router::new();
    for path in web::ROUTES {
        let subscriptions = subscriptions.clone();
        r = r.route(
            path,
            axum::routing::any(move |request: Request| {
                let subscriptions = subscriptions.clone();
                async move { subscription(&subscriptions, request).await }
            }),
        );
    }
    // An audience's feeds, read with a reader's signed link.
    let [feed, component] = openmic::subscriptions::feeds::FEED_ROUTES;
    let subs = subscriptions.clone();
    r = r.route(
        feed,
        axum::routing::get(
            move |axum::extract::Path(audience): axum::extract::Path<String>,
                  axum::extract::RawQuery(q): axum::extract::RawQuery| {
                let subs = subs.clone();
                async move {
                    response(
                        subs.audience_feed(&audience, "feed.atom", q.as_deref())
                            .await,
                    )
                }
            },
        ),
    );
    r.route(
        component,
        axum::routing::get(
            move |axum::extract::Path((audience, file)): axum::extract::Path<(String, String)>,
                  axum::extract::RawQuery(q): axum::extract::RawQuery| {
                let subs = subscriptions.clone();
                async move {
                    response(
                        subs.audience_feed(&audience, &format!("feed/{file}"), q.as_deref())
                            .await,
                    )
                }
            },
        ),
    )
}

#[cfg(feature = "subscriptions")]
async fn subscription(subscriptions: &Subscriptions, request: Request) -> Response {
    // API Gateway's view of the caller on Lambda, the socket's peer on a server.
    let source = request
        .extensions()
        .get::<crate::apigw::SourceIp>()
        .map(|s| s.0.clone())
        .or_else(|| {
            request
                .extensions()
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        });
    let (parts, body) = request.into_parts();
    // One byte past the limit, so that the domain names it.
    let body = match read_body(&parts.headers, body, MAX_FORM_BYTES + 1).await {
        Ok(b) => b,
        Err(reply) => return response(reply),
    };
    let page = subscriptions
        .web(web::Request {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
            source: source.as_deref(),
        })
        .await;
    response(page)
}

/// `GET /login`, `GET /callback`, `GET /logout`: sign-in to audience pages (the
/// reader's cookies handed to [`SignIn`]); 405 for another method.
pub fn signin_routes<S: Clone + Send + Sync + 'static>(signin: Arc<dyn SignIn>) -> Router<S> {
    let (login, callback, logout) = (signin.clone(), signin.clone(), signin);
    let only_get = |m: MethodRouter<S>| {
        m.fallback(|method: Method, uri: Uri| async move {
            response(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} is not allowed on {}; use GET", uri.path()),
            ))
        })
    };
    Router::new()
        .route(
            "/login",
            only_get(axum::routing::get(move |uri: Uri| async move {
                response(login.login(uri.query()).await)
            })),
        )
        .route(
            "/callback",
            only_get(axum::routing::get(
                move |uri: Uri, headers: HeaderMap| async move {
                    let cookies = cookie_header(&headers);
                    response(callback.callback(uri.query(), cookies.as_deref()).await)
                },
            )),
        )
        .route(
            "/logout",
            only_get(axum::routing::get(move || async move {
                response(logout.logout())
            })),
        )
}

/// The request's cookies, as one `Cookie` header (HTTP/2 may send several).
pub fn cookie_header(headers: &HeaderMap) -> Option<String> {
    let all: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// `404 {"error": "no route for <method> <path>"}`.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    response(Reply::error(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    ))
}

/// Reads the whole body up to `max` bytes: 413 for a declared `Content-Length` over it,
/// or a body whose size is known to be over it (an API Gateway event's, by its
/// encoded size), before anything is read; 413 as soon as a body without one
/// (chunked) passes it; 400 for an event's body that is not the base64 it claims.
pub async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<bytes::Bytes, Reply> {
    use axum::body::HttpBody;
    check_declared_length(headers, max)?;
    if usize::try_from(body.size_hint().lower()).map_or(true, |least| least > max) {
        return Err(too_large(max));
    }
    to_bytes(body, max).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if let Some(not) = c.downcast_ref::<crate::apigw::NotBase64>() {
                return Reply::error(StatusCode::BAD_REQUEST, not.to_string());
            }
            cause = c.source();
        }
        too_large(max)
    })
}

fn json_string_body(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len().saturating_sub(1)].to_owned()
}

/// An API Gateway event (HTTP API 2.0 or REST 1.0) as an HTTP request, read as the
/// functions read it ([`crate::apigw::Event`]). `${GITLAB_WEBHOOK_SECRET}` and
/// `${ALERT_TOKEN}` in it stand for the configured secrets (the sample events in
/// `events/` use them).
pub fn api_gateway_request(text: &str, config: &Config) -> Result<http::Request<Body>, String> {
    let mut text = text.to_owned();
    if let Some(s) = &config.intake.gitlab_webhook_secret {
        text = text.replace("${GITLAB_WEBHOOK_SECRET}", &json_string_body(s.expose()));
    }
    if let Some(s) = &config.intake.alert_token {
        text = text.replace("${ALERT_TOKEN}", &json_string_body(s.expose()));
    }
    let event: crate::apigw::Event =
        serde_json::from_str(&text).map_err(|e| format!("not an API Gateway event: {e}"))?;
    event.into_request()
}
