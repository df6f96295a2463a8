//! Prometheus metrics at `GET /metrics` (text format): requests by route and status, latency
//! histograms by route, the writer's batch sizes and queue depth, the amount the reserve does
//! not cover, per currency, and the shop webhooks parked as exceptions, per merchant. Routes are their patterns (`/v1/orders/{order_id}`), so ids
//! never become labels.

use super::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CurrencyLabel {
    currency: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MerchantLabel {
    merchant_id: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RouteStatus, Counter>,
    latency: Family<Route, Histogram>,
    queue_depth: Gauge,
    uncovered: Family<CurrencyLabel, Gauge>,
    hook_exceptions: Family<MerchantLabel, Gauge>,
}

impl Metrics {
    /// The metrics of one server; `writer` reports its batches to them.
    pub fn new(writer: &crate::store::Writer) -> Metrics {
        let mut registry = Registry::with_prefix("cashback");
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by route and status", requests.clone());
        let latency = Family::<Route, Histogram>::new_with_constructor(|| {
            // 0.5 ms to about 4 s.
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register("http_request_duration_seconds", "Time to answer, by route", latency.clone());
        let batch = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register("writer_batch_size", "Jobs booked in one writer transaction", batch.clone());
        writer.stats().observe_batches(Box::new(move |n| batch.observe(n as f64)));
        let queue_depth = Gauge::default();
        registry.register("writer_queue_depth", "Jobs waiting for the writer", queue_depth.clone());
        let uncovered = Family::<CurrencyLabel, Gauge>::default();
        registry.register(
            "uncovered_minor",
            "What the reserve does not cover (claims less reserve), in minor units, per currency",
            uncovered.clone(),
        );
        let hook_exceptions = Family::<MerchantLabel, Gauge>::default();
        registry.register(
            "hook_exceptions",
            "Shop webhook deliveries parked because a business rule refused them, per merchant",
            hook_exceptions.clone(),
        );
        Metrics { registry: Mutex::new(registry), requests, latency, queue_depth, uncovered, hook_exceptions }
    }
}

/// Middleware: counts and times every request under its route pattern.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    // Only the methods HTTP defines become labels: an invented one must not grow the series.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m.to_string(),
        _ => "OTHER".to_string(),
    };
    let metrics = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(st) = metrics {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_string());
        let status = res.status().as_u16();
        let m = &st.metrics;
        m.requests.get_or_create(&RouteStatus { method: method.clone(), route: route.clone(), status }).inc();
        m.latency.get_or_create(&Route { method, route }).observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// `GET /metrics`: read at scrape time where it is cheap (the queue) or one aggregate query.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format")), security(("admin" = [])))]
pub async fn metrics(req: actix_web::HttpRequest, st: web::Data<AppState>) -> super::HttpResult {
    // Merchant ids and the reserve's shortfall are not for everyone: an admin token reads them
    // (Prometheus sends it with `authorization` in its scrape config).
    super::auth::admin(&req, &st)?;
    let m = &st.metrics;
    m.queue_depth.set(st.writer.stats().queued.load(std::sync::atomic::Ordering::Relaxed));
    // Both figures in one read on the pool.
    let read =
        st.read(|c| Ok((crate::store::repo::uncovered(c)?, crate::store::hooks::exceptions_by_merchant(c)?))).await;
    match read {
        Ok((uncovered, parked)) => {
            for (currency, v) in uncovered {
                m.uncovered.get_or_create(&CurrencyLabel { currency }).set(v);
            }
            // A merchant whose exceptions were all retried goes back to 0.
            m.hook_exceptions.clear();
            for (merchant_id, n) in parked {
                m.hook_exceptions.get_or_create(&MerchantLabel { merchant_id }).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the ledger's figures could not be read"),
    }
    let mut text = String::new();
    let encoded = m
        .registry
        .lock()
        .map_err(|_| std::fmt::Error)
        .and_then(|r| prometheus_client::encoding::text::encode(&mut text, &r));
    Ok(match encoded {
        Ok(()) => {
            HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text)
        }
        Err(_) => HttpResponse::InternalServerError().finish(),
    })
}
