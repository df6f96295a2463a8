//! Programs per merchant and currency, versioned (API.md §6). A change is version n+1,
//! effective from the moment it is stored; an identical PUT makes no new version.

use super::error::{err, ApiResult, Code};
use super::input::{client_id, currency, opt_money, positive};
use super::Services;
use crate::domain::money::format_minor;
use crate::domain::program::{CategoryRates, Program, Rates, MAX_HOLD_DAYS};
use crate::domain::rate::Rate;
use crate::domain::time::format_ts;
use crate::store::repo::{self, ProgramRow};
use crate::store::DbConn;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramIn {
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::rate)]
    pub commission_rate: String,
    #[schema(schema_with = crate::app::schema::rate)]
    pub cashback_rate: String,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_rate)]
    pub referral_rate: Option<String>,
    #[schema(maximum = 3650)]
    #[serde(deserialize_with = "super::input::whole_number")]
    pub hold_days: u32,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_positive_money)]
    pub per_order_cap: Option<Value>,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_positive_money)]
    pub monthly_cap_per_user: Option<Value>,
    #[serde(default)]
    pub categories: Option<BTreeMap<String, CategoryIn>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryIn {
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_rate)]
    pub commission_rate: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_rate)]
    pub cashback_rate: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_rate)]
    pub referral_rate: Option<String>,
}

fn rate(field: &str, s: &str) -> ApiResult<Rate> {
    Rate::parse(s).map_err(|e| err(Code::InvalidRequest, format!("{field}: {e}")))
}

fn opt_rate(field: &str, s: &Option<String>) -> ApiResult<Option<Rate>> {
    s.as_deref().map(|s| rate(field, s)).transpose()
}

pub fn to_domain(row: &ProgramRow) -> Program {
    let r = |s: &str| Rate::parse(s).expect("stored rates are canonical");
    let cats: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&row.categories).unwrap_or_default();
    Program {
        currency: crate::domain::money::Currency::parse(&row.currency).expect("stored currency"),
        rates: Rates {
            commission: r(&row.commission_rate),
            cashback: r(&row.cashback_rate),
            referral: r(&row.referral_rate),
        },
        hold_days: row.hold_days as u32,
        per_order_cap: row.per_order_cap_minor,
        monthly_cap_per_user: row.monthly_cap_minor,
        categories: cats
            .into_iter()
            .map(|(name, m)| {
                let g = |k: &str| m.get(k).map(|s| r(s));
                (
                    name,
                    CategoryRates {
                        commission: g("commission_rate"),
                        cashback: g("cashback_rate"),
                        referral: g("referral_rate"),
                    },
                )
            })
            .collect(),
    }
}

pub fn view(row: &ProgramRow, svc: &Services) -> Value {
    let p = to_domain(row);
    let cur = p.currency;
    let cats: BTreeMap<String, Value> = p
        .categories
        .iter()
        .map(|(n, c)| {
            let s = |r: Option<Rate>| r.map(|r| r.to_string());
            (n.clone(), json!({"commission_rate": s(c.commission), "cashback_rate": s(c.cashback), "referral_rate": s(c.referral)}))
        })
        .collect();
    json!({
        "merchant_id": row.merchant_id,
        "currency": row.currency,
        "version": row.version,
        "commission_rate": p.rates.commission.to_string(),
        "cashback_rate": p.rates.cashback.to_string(),
        "referral_rate": p.rates.referral.to_string(),
        "hold_days": p.hold_days,
        "per_order_cap": p.per_order_cap.map(|v| format_minor(v, cur)),
        "monthly_cap_per_user": p.monthly_cap_per_user.map(|v| format_minor(v, cur)),
        "categories": cats,
        "effective_from": format_ts(row.created_at, svc.tz),
    })
}

pub fn put(
    conn: &mut DbConn,
    svc: &Services,
    operator: &str,
    merchant: &str,
    input: ProgramIn,
    now: i64,
) -> ApiResult<Value> {
    let commission = rate("commission_rate", &input.commission_rate)?;
    let cashback = rate("cashback_rate", &input.cashback_rate)?;
    let referral = opt_rate("referral_rate", &input.referral_rate)?.unwrap_or(Rate::ZERO);
    if input.hold_days > MAX_HOLD_DAYS {
        return Err(err(Code::InvalidRequest, format!("hold_days must be at most {MAX_HOLD_DAYS}")));
    }
    let mut categories = BTreeMap::new();
    for (name, c) in input.categories.iter().flatten() {
        client_id("category name", name)?;
        let rates = CategoryRates {
            commission: opt_rate("commission_rate", &c.commission_rate)?,
            cashback: opt_rate("cashback_rate", &c.cashback_rate)?,
            referral: opt_rate("referral_rate", &c.referral_rate)?,
        };
        categories.insert(name.clone(), rates);
    }
    let per_order = opt_money("per_order_cap", &input.per_order_cap)?;
    let monthly = opt_money("monthly_cap_per_user", &input.monthly_cap_per_user)?;
    if repo::merchant(conn, merchant)?.is_none() {
        return Err(err(Code::NotFound, format!("no merchant {merchant:?}")));
    }
    let cur = currency(&input.currency)?;
    let program = Program {
        currency: cur,
        rates: Rates { commission, cashback, referral },
        hold_days: input.hold_days,
        per_order_cap: per_order.map(|a| positive("per_order_cap", &a, cur)).transpose()?,
        monthly_cap_per_user: monthly.map(|a| positive("monthly_cap_per_user", &a, cur)).transpose()?,
        categories,
    };
    program.check_funded()?;
    let cats: BTreeMap<&String, BTreeMap<&str, String>> = program
        .categories
        .iter()
        .map(|(n, c)| {
            let mut m = BTreeMap::new();
            for (k, v) in
                [("commission_rate", c.commission), ("cashback_rate", c.cashback), ("referral_rate", c.referral)]
            {
                if let Some(v) = v {
                    m.insert(k, v.to_string());
                }
            }
            (n, m)
        })
        .collect();
    let current = repo::current_program(conn, merchant, cur.code())?;
    let row = ProgramRow {
        merchant_id: merchant.to_string(),
        currency: cur.code().to_string(),
        version: current.as_ref().map(|c| c.version + 1).unwrap_or(1),
        commission_rate: commission.to_string(),
        cashback_rate: cashback.to_string(),
        referral_rate: referral.to_string(),
        hold_days: program.hold_days as i32,
        per_order_cap_minor: program.per_order_cap,
        monthly_cap_minor: program.monthly_cap_per_user,
        categories: serde_json::to_string(&cats).expect("categories serialize"),
        created_at: now,
    };
    if let Some(c) = current {
        let same = ProgramRow { version: c.version, created_at: c.created_at, ..row.clone() };
        if same == c {
            return Ok(view(&c, svc));
        }
    }
    repo::insert_program(conn, &row)?;
    let body = view(&row, svc);
    repo::audit(conn, now, operator, "program.put", merchant, &body.to_string())?;
    Ok(body)
}

/// The merchant's current program in each currency.
pub fn get(conn: &mut DbConn, svc: &Services, merchant: &str) -> ApiResult<Value> {
    if repo::merchant(conn, merchant)?.is_none() {
        return Err(err(Code::NotFound, format!("no merchant {merchant:?}")));
    }
    let rows = repo::current_programs(conn, merchant)?;
    Ok(json!({"programs": rows.iter().map(|r| view(r, svc)).collect::<Vec<_>>()}))
}
