//! Routes, handlers and the hardening middleware.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Form, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::auth::{Auth, COOKIE, Denied, token_from_cookie};
use crate::{AccessLog, Shown, ViewerUser, pages};

/// Longest accepted path or query string: a patient ID or name is far shorter.
const MAX_URI_PART: usize = 1024;
/// Longest accepted request body (the login form).
const MAX_BODY: usize = 8 * 1024;
/// Longest accepted search text, in characters.
const MAX_QUERY_CHARS: usize = 128;
/// Search results per page.
const RESULT_LIMIT: usize = 100;

struct App {
    shown: Shown,
    /// Served over TLS: session cookies carry `Secure`.
    secure: bool,
    auth: Auth,
    log: Arc<dyn AccessLog>,
}

type Shared = Arc<App>;

/// Who is asking: the logged-in user, or `local` when no login is configured.
#[derive(Clone)]
struct Actor {
    name: String,
    logged_in: bool,
}

impl Actor {
    fn shown(&self) -> Option<&str> {
        self.logged_in.then_some(self.name.as_str())
    }
}

pub(crate) fn router(
    shown: Shown,
    users: Vec<ViewerUser>,
    log: Arc<dyn AccessLog>,
    secure: bool,
) -> Router {
    let app = Arc::new(App {
        shown,
        secure,
        auth: Auth::new(users),
        log,
    });
    Router::new()
        .route("/", get(search))
        .route("/patient/{id}", get(patient))
        .route("/patient/{id}/print", get(patient_print))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/assets/style.css", get(css))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), require_login))
        .layer(middleware::from_fn(harden))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// Rejects oversized URIs and odd methods before routing, and adds security headers to every
/// response.
async fn harden(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let too_long =
        uri.path().len() > MAX_URI_PART || uri.query().is_some_and(|q| q.len() > MAX_URI_PART);
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.parse::<usize>().map_or(true, |n| n > MAX_BODY));
    let mut res = if too_long {
        (StatusCode::URI_TOO_LONG, "request URI too long\n").into_response()
    } else if too_big {
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response()
    } else if ![Method::GET, Method::HEAD, Method::POST].contains(req.method()) {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response()
    } else {
        let is_asset = uri.path().starts_with("/assets/");
        let mut res = next.run(req).await;
        let cache = if is_asset { "max-age=3600" } else { "no-store" };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        res
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// When users are configured, everything but the login page and the stylesheet needs a session.
async fn require_login(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let open = path == "/login" || path == "/assets/style.css";
    let actor = if !app.auth.required() {
        Some(Actor {
            name: "local".into(),
            logged_in: false,
        })
    } else {
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(token_from_cookie)
            .and_then(|t| app.auth.user(t))
            .map(|name| Actor {
                name,
                logged_in: true,
            })
    };
    match actor {
        Some(a) => {
            req.extensions_mut().insert(a);
            next.run(req).await
        }
        None if open => next.run(req).await,
        None if path == "/" => Redirect::to("/login").into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Html(pages::login_page(&app.shown.current().banner, None)),
        )
            .into_response(),
    }
}

fn actor(req_actor: Option<axum::Extension<Actor>>) -> Actor {
    req_actor.map_or(
        Actor {
            name: "anonymous".into(),
            logged_in: false,
        },
        |e| e.0,
    )
}

fn page(app: &App, actor: &Actor, status: StatusCode, ja: &str, en: &str) -> Response {
    (
        status,
        Html(pages::error_page(
            &app.shown.current().banner,
            actor.shown(),
            ja,
            en,
        )),
    )
        .into_response()
}

/// Strict `application/x-www-form-urlencoded` query parsing: a `%` must start two hex digits and
/// the decoded text must be UTF-8, otherwise the request is refused (no lossy guessing).
fn query_param(raw: Option<&str>, name: &str) -> Result<Option<String>, ()> {
    let Some(raw) = raw else { return Ok(None) };
    let mut found = None;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode_component(v)?;
        if decode_component(k)? == name {
            found = Some(v);
        }
    }
    Ok(found)
}

fn decode_component(s: &str) -> Result<String, ()> {
    let b = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if !ok {
            return Err(());
        }
    }
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ())
}

async fn search(
    State(app): State<Shared>,
    ext: Option<axum::Extension<Actor>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let actor = actor(ext);
    let Ok(q) = query_param(raw.as_deref(), "q") else {
        return page(
            &app,
            &actor,
            StatusCode::BAD_REQUEST,
            "不正な要求です",
            "Bad request: invalid encoding",
        );
    };
    let q = q.unwrap_or_default();
    let q = q.trim();
    if q.chars().count() > MAX_QUERY_CHARS || q.chars().any(char::is_control) {
        return page(
            &app,
            &actor,
            StatusCode::BAD_REQUEST,
            "検索語が不正です",
            "Bad request: invalid search text",
        );
    }
    let hits = if q.is_empty() {
        None
    } else {
        let hits = app.shown.current().index.search(q, RESULT_LIMIT);
        app.log.record(&actor.name, "viewer.search", q, "ok");
        Some(hits)
    };
    Html(pages::search_page(
        &app.shown.current().banner,
        actor.shown(),
        q,
        hits.as_deref(),
    ))
    .into_response()
}

async fn patient(
    State(app): State<Shared>,
    ext: Option<axum::Extension<Actor>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    show_patient(app, ext, id, false)
}

async fn patient_print(
    State(app): State<Shared>,
    ext: Option<axum::Extension<Actor>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    show_patient(app, ext, id, true)
}

/// The patient page, or its printable A4 summary; both are audited.
fn show_patient(
    app: Shared,
    ext: Option<axum::Extension<Actor>>,
    id: Result<Path<String>, PathRejection>,
    print: bool,
) -> Response {
    let actor = actor(ext);
    let action = if print {
        "viewer.patient_print"
    } else {
        "viewer.patient_view"
    };
    let Ok(Path(id)) = id else {
        return page(
            &app,
            &actor,
            StatusCode::BAD_REQUEST,
            "不正な要求です",
            "Bad request",
        );
    };
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return page(
            &app,
            &actor,
            StatusCode::BAD_REQUEST,
            "患者IDが不正です",
            "Bad request: invalid patient ID",
        );
    }
    // One generation for the whole page, even if a newer one is swapped in meanwhile.
    let generation = app.shown.current();
    match generation.index.patient(&id) {
        Some(rec) => {
            app.log.record(&actor.name, action, &id, "ok");
            if print {
                Html(pages::print_page(&generation.banner, rec)).into_response()
            } else {
                Html(pages::patient_page(&generation.banner, actor.shown(), rec)).into_response()
            }
        }
        None => {
            app.log.record(&actor.name, action, &id, "not_found");
            page(
                &app,
                &actor,
                StatusCode::NOT_FOUND,
                "患者が見つかりません",
                "Patient not found",
            )
        }
    }
}

async fn login_form(State(app): State<Shared>) -> Response {
    if !app.auth.required() {
        return Redirect::to("/").into_response();
    }
    Html(pages::login_page(&app.shown.current().banner, None)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    code: String,
}

async fn login(
    State(app): State<Shared>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !app.auth.required() {
        return Redirect::to("/").into_response();
    }
    let Ok(Form(f)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            Html(pages::login_page(
                &app.shown.current().banner,
                Some("不正な要求です Bad request"),
            )),
        )
            .into_response();
    };
    if f.user.len() > 128 || f.password.len() > 1024 || f.code.len() > 16 {
        return (
            StatusCode::BAD_REQUEST,
            Html(pages::login_page(
                &app.shown.current().banner,
                Some("入力が長すぎます Input too long"),
            )),
        )
            .into_response();
    }
    let app2 = app.clone();
    let (user, pw, code) = (f.user.clone(), f.password, f.code);
    let result = tokio::task::spawn_blocking(move || app2.auth.check(&user, &pw, &code))
        .await
        .unwrap_or(Err(Denied::BadCredentials));
    match result {
        Ok(()) => {
            app.log.record(&f.user, "viewer.login", &f.user, "ok");
            let token = app.auth.start(&f.user);
            let secure = if app.secure { "; Secure" } else { "" };
            let cookie = format!(
                "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200{secure}"
            );
            let mut res = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(d) => {
            let (status, outcome) = match d {
                Denied::BadCredentials => (StatusCode::UNAUTHORIZED, "denied"),
                Denied::Locked => (StatusCode::TOO_MANY_REQUESTS, "locked"),
            };
            app.log.record(&f.user, "viewer.login", &f.user, outcome);
            let msg = "ユーザー名、パスワードまたはコードが違います Wrong user, password or code";
            (
                status,
                Html(pages::login_page(&app.shown.current().banner, Some(msg))),
            )
                .into_response()
        }
    }
}

async fn logout(State(app): State<Shared>, req: Request) -> Response {
    let token = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(token_from_cookie)
        .map(String::from);
    if let Some(t) = token {
        app.auth.end(&t);
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("kura_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    res
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::STYLE,
    )
        .into_response()
}

async fn not_found(State(app): State<Shared>, ext: Option<axum::Extension<Actor>>) -> Response {
    let actor = actor(ext);
    page(
        &app,
        &actor,
        StatusCode::NOT_FOUND,
        "ページが見つかりません",
        "Not found",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_query_decoding() {
        assert_eq!(
            query_param(Some("q=%E5%B1%B1%E7%94%B0"), "q"),
            Ok(Some("山田".into()))
        );
        assert_eq!(query_param(Some("q=a+b&x=1"), "q"), Ok(Some("a b".into())));
        assert_eq!(query_param(Some("q=%ff"), "q"), Err(()));
        assert_eq!(query_param(Some("q=%zz"), "q"), Err(()));
        assert_eq!(query_param(Some("q=%4"), "q"), Err(()));
        assert_eq!(query_param(None, "q"), Ok(None));
    }
}
