//! Bodies: read with a size limit (413), then the content type (415), in the order of
//! API.md §1 (after the credentials, before the body is judged).

use crate::app::error::{err, ApiResult, Code};
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

pub const JSON_LIMIT: usize = 64 * 1024;

pub async fn read(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> ApiResult<web::Bytes> {
    let too_large = || err(Code::PayloadTooLarge, format!("the body is larger than {limit} bytes"));
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| err(Code::InvalidRequest, "the body could not be read"))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A non-empty body must be JSON.
pub fn require_json(req: &HttpRequest, body: &[u8]) -> ApiResult<()> {
    if body.is_empty() {
        return Ok(());
    }
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime != "application/json" {
        return Err(err(Code::UnsupportedMediaType, "send the body as Content-Type: application/json"));
    }
    Ok(())
}
