//! Owns the URL map: checks Host and token first, then sends each path to its page;
//! a page's error is one line in a 500 page (and on stderr), a missing thing a 404.

use super::auth::{self, Carried};
use super::http::{Request, Response};
use super::{browse, html, snapshots, views, App};

/// What a page handler returns: a response, or why there is none.
pub type Answer = Result<Response, Fail>;

/// Why a page has no answer.
pub enum Fail {
    /// The thing named does not exist (or may not be served): 404.
    NotFound,
    /// A query failed: 500 with the message.
    Error(anyhow::Error),
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Fail {
        Fail::Error(e)
    }
}

/// An HTML page response.
pub fn ok_html(app: &App, title: &str, body: &str) -> Answer {
    Ok(Response::new(
        200,
        "text/html; charset=utf-8",
        html::page(&app.prefix, title, body),
    ))
}

/// What the gate decided about a request, before any page work.
pub enum Gate {
    /// An answer that needs nothing but the request (refusal, token redirect): small,
    /// sent by the thread that gathers heads.
    Answer(Response),
    /// A request that may have its page, its path now below the secret prefix.
    Page(Request),
}

/// Checks Host, method and token; a request that passes has its path made relative to
/// the secret prefix.
pub fn gate(app: &App, req: &Request) -> Gate {
    let answer = |r: Response| Gate::Answer(r);
    if !auth::host_ok(req, &app.bound) {
        return answer(Response::new(421, "text/plain", "wrong Host header\n"));
    }
    if req.method != "GET" && req.method != "HEAD" {
        return answer(
            Response::new(405, "text/plain", "only GET and HEAD\n").with("Allow", "GET, HEAD"),
        );
    }
    let under = auth::below(&req.path, &app.prefix);
    match auth::carried(req, &app.token) {
        Carried::Query => {
            return answer(
                Response::new(303, "text/plain", "")
                    .with(
                        "Location",
                        auth::without_token(req, under.unwrap_or(&req.path), &app.prefix),
                    )
                    .with("Set-Cookie", auth::cookie(&app.token, &app.prefix)),
            )
        }
        Carried::Bearer => {}
        Carried::Cookie if under.is_some() => {}
        Carried::Cookie | Carried::No => {
            return answer(
                Response::new(
                    401,
                    "text/plain",
                    "401: this phlb server wants its token: open the URL it printed at start \
                     (…/?token=…), or send `Authorization: Bearer TOKEN`\n",
                )
                .with("WWW-Authenticate", "Bearer realm=\"phlb\""),
            )
        }
    }
    // Pages live under the secret prefix; a Bearer request may leave it out.
    Gate::Page(Request {
        path: under.unwrap_or(&req.path).to_string(),
        ..req.clone()
    })
}

/// Answers a request that passed the gate.
pub fn page(app: &App, req: &Request) -> Response {
    let answer = match req.path.as_str() {
        "/" => snapshots::page(app, req),
        "/only-here" => snapshots::only_here(app, req),
        "/browse" => browse::folder(app, req),
        "/file" => browse::file(app, req),
        "/download" => browse::download(app, req),
        "/history" => views::history(app, req),
        "/diff" => views::diff(app, req),
        "/diff/part" => views::diff_part(app, req),
        "/find" => views::find(app, req),
        "/duplicates" => views::duplicates(app, req),
        "/duplicates/part" => views::duplicates_part(app, req),
        "/style.css" => Ok(Response::new(200, "text/css", html::CSS)),
        "/app.js" => Ok(Response::new(200, "text/javascript", html::JS)),
        _ => Err(Fail::NotFound),
    };
    match answer {
        Ok(r) => r,
        Err(Fail::NotFound) => Response::new(
            404,
            "text/html; charset=utf-8",
            html::page(
                &app.prefix,
                "Not found",
                "<p>No such page or entry in the catalog.</p>",
            ),
        ),
        Err(Fail::Error(e)) => {
            eprintln!("phlb serve: {}: {e:#}", req.path);
            Response::new(
                500,
                "text/html; charset=utf-8",
                html::page(
                    &app.prefix,
                    "Error",
                    &format!("<p class=\"bad\">{}</p>", html::esc(&format!("{e:#}"))),
                ),
            )
        }
    }
}
