//! Users, referrers and payout destinations (API.md §7). A referrer must be an existing user
//! created before this one, so no referral cycle can exist; it is set at most once.

use super::error::{err, ApiResult, Code};
use super::input::client_id;
use super::{Actor, Outcome, Services};
use crate::domain::time::format_ts;
use crate::store::repo::{self, UserRow};
use crate::store::DbConn;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_client_id)]
    pub referrer_id: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_destinations)]
    pub payout_destinations: Option<Vec<String>>,
}

pub const MAX_DESTINATIONS: usize = 10;

/// A destination is `<scheme>:<account>`, e.g. `alipay:138…` or `bank:6222…`.
fn destinations(list: &[String]) -> ApiResult<Vec<String>> {
    if list.len() > MAX_DESTINATIONS {
        return Err(err(Code::InvalidRequest, format!("at most {MAX_DESTINATIONS} payout destinations")));
    }
    for (i, d) in list.iter().enumerate() {
        let ok = d.split_once(':').is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !rest.is_empty()
        }) && d.chars().count() <= 200
            && !d.chars().any(char::is_control);
        if !ok {
            return Err(err(
                Code::InvalidRequest,
                format!("payout_destinations[{i}] must look like \"alipay:account\" (at most 200 characters)"),
            ));
        }
        if list[..i].contains(d) {
            return Err(err(Code::InvalidRequest, format!("payout_destinations[{i}] is listed twice")));
        }
    }
    Ok(list.to_vec())
}

pub fn view(u: &UserRow, svc: &Services) -> Value {
    let dests: Vec<String> = serde_json::from_str(&u.payout_destinations).unwrap_or_default();
    json!({"user_id": u.user_id, "referrer_id": u.referrer_id, "payout_destinations": dests, "created_at": format_ts(u.created_at, svc.tz)})
}

fn check_referrer(conn: &mut DbConn, user: &UserRow, referrer: &str) -> ApiResult<()> {
    let invalid = |why: &str| Err(err(Code::ReferrerInvalid, format!("referrer {referrer:?} {why}")));
    if referrer == user.user_id {
        return invalid("is the user itself");
    }
    let Some(r) = repo::user(conn, referrer)? else { return invalid("is not a known user") };
    if r.created_seq >= user.created_seq {
        return invalid("was created after the user");
    }
    if repo::has_orders(conn, &user.user_id)? {
        return invalid("cannot be set: the user already has a booked order");
    }
    Ok(())
}

/// The merchant whose namespace a user id is in: `<merchant_id>:<customer id>` names that
/// shop's own customer, whoever mentions it first.
fn namespace_owner(conn: &mut DbConn, user_id: &str) -> ApiResult<Option<String>> {
    match user_id.split_once(':') {
        Some((m, _)) if repo::merchant(conn, m)?.is_some() => Ok(Some(m.to_string())),
        _ => Ok(None),
    }
}

pub fn put(
    conn: &mut DbConn,
    svc: &Services,
    actor: &Actor,
    user_id: &str,
    input: UserIn,
    now: i64,
) -> ApiResult<Outcome> {
    let user_id = client_id("user_id", user_id)?;
    let referrer = input.referrer_id.as_deref().map(|r| client_id("referrer_id", r)).transpose()?;
    let dests = input.payout_destinations.as_deref().map(destinations).transpose()?;
    let existing = repo::user(conn, &user_id)?;
    let created = existing.is_none();
    if let Actor::Merchant(m) = actor {
        // Another merchant's user is not this merchant's to change, nor to read: the answer
        // would show its payout destinations.
        let owner = match &existing {
            Some(u) => u.created_by.clone(),
            None => namespace_owner(conn, &user_id)?.or_else(|| Some(m.clone())),
        };
        if owner.as_deref() != Some(m.as_str()) {
            return Err(err(
                Code::Forbidden,
                format!("user {user_id:?} belongs to another merchant or to the platform"),
            ));
        }
    }
    let mut u = match existing {
        Some(u) => u,
        None => {
            let mut u = UserRow {
                user_id: user_id.clone(),
                referrer_id: None,
                payout_destinations: "[]".into(),
                created_by: match actor {
                    Actor::Merchant(m) => Some(m.clone()),
                    Actor::Operator(_) => None,
                },
                created_seq: 0,
                created_at: now,
                updated_at: now,
            };
            repo::insert_user(conn, &mut u)?;
            u
        }
    };
    let new_dests = dests.map(|d| serde_json::to_string(&d).expect("strings serialize"));
    let changes_referrer = referrer.is_some() && referrer != u.referrer_id;
    let changes_dests = new_dests.as_ref().is_some_and(|d| *d != u.payout_destinations);
    if let Some(r) = &referrer {
        match &u.referrer_id {
            Some(current) if current != r => {
                return Err(err(Code::ReferrerAlreadySet, format!("user {user_id:?} already has referrer {current:?}")))
            }
            Some(_) => {}
            None => {
                check_referrer(conn, &u, r)?;
                u.referrer_id = Some(r.clone());
            }
        }
    }
    if let Some(d) = new_dests {
        u.payout_destinations = d;
    }
    if changes_referrer || changes_dests {
        u.updated_at = now;
        repo::update_user(conn, &u)?;
    }
    if let Actor::Operator(op) = actor {
        repo::audit(
            conn,
            now,
            op,
            if created { "user.create" } else { "user.update" },
            &user_id,
            &view(&u, svc).to_string(),
        )?;
    }
    let body = view(&u, svc);
    Ok(if created { Outcome::Created(body) } else { Outcome::Done(body) })
}

/// The user an order names, created (without a referrer) when unknown.
pub fn ensure(conn: &mut DbConn, user_id: &str, merchant: &str, now: i64) -> ApiResult<UserRow> {
    if let Some(u) = repo::user(conn, user_id)? {
        return Ok(u);
    }
    let owner = namespace_owner(conn, user_id)?.unwrap_or_else(|| merchant.to_string());
    let mut u = UserRow {
        user_id: user_id.to_string(),
        referrer_id: None,
        payout_destinations: "[]".into(),
        created_by: Some(owner),
        created_seq: 0,
        created_at: now,
        updated_at: now,
    };
    repo::insert_user(conn, &mut u)?;
    Ok(u)
}
