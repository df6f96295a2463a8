//! RFC 9457 problem+json for every refusal, including actix's own 404 and 405.

use crate::app::error::{err, ApiError, Code};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpResponse, ResponseError};

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        r.content_type("application/problem+json");
        if matches!(self.code, Code::Unavailable | Code::RateLimited) {
            r.insert_header((header::RETRY_AFTER, "1"));
        }
        r.body(
            serde_json::json!({
                "type": "about:blank",
                "title": self.code.title(),
                "status": self.code.status(),
                "detail": self.detail,
                "code": self.code.as_str(),
            })
            .to_string(),
        )
    }
}

/// Turns actix's bare 404 and 405 answers into problems.
pub fn handlers<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new()
        .handler(StatusCode::NOT_FOUND, |res| replace(res, Code::NotFound, "no such resource"))
        .handler(StatusCode::METHOD_NOT_ALLOWED, |res| {
            replace(res, Code::MethodNotAllowed, "this path does not take that method")
        })
}

fn replace<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    code: Code,
    detail: &str,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, _) = res.into_parts();
    let mut body: HttpResponse<BoxBody> = err(code, detail).error_response();
    if code == Code::MethodNotAllowed {
        // RFC 9110: a 405 lists the methods the resource takes.
        if let Some(allow) = req.match_pattern().and_then(|p| allowed_methods(&p)) {
            if let Ok(v) = header::HeaderValue::from_str(&allow) {
                body.headers_mut().insert(header::ALLOW, v);
            }
        }
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, body).map_into_right_body()))
}

/// The methods of a route pattern, from the OpenAPI document (built once).
fn allowed_methods(pattern: &str) -> Option<String> {
    static METHODS: once_cell::sync::Lazy<std::collections::BTreeMap<String, String>> =
        once_cell::sync::Lazy::new(|| {
            super::openapi::document()
                .paths
                .paths
                .iter()
                .map(|(path, item)| {
                    let ops = [
                        ("GET", item.get.is_some()),
                        ("PUT", item.put.is_some()),
                        ("POST", item.post.is_some()),
                        ("DELETE", item.delete.is_some()),
                        ("PATCH", item.patch.is_some()),
                    ];
                    let allow: Vec<&str> = ops.iter().filter(|o| o.1).map(|o| o.0).collect();
                    (path.clone(), allow.join(", "))
                })
                .collect()
        });
    // The wallet page's routes are not in the API document.
    let pages = match pattern {
        "/wallet" | "/wallet/login" => Some("GET"),
        "/wallet/withdrawals" | "/wallet/logout" => Some("POST"),
        _ => None,
    };
    METHODS.get(pattern).cloned().or(pages.map(str::to_string))
}
