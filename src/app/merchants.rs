//! Merchants and their signing secrets (API.md §6). Secrets are sealed at rest, never logged,
//! and a secret the client sent is never returned.

use super::error::{err, ApiResult, Code};
use super::input::{merchant_id, note, secret};
use super::{Outcome, Services};
use crate::crypto::{random_id, random_token};
use crate::domain::time::format_ts;
use crate::store::repo::{self, MerchantRow, SecretRow};
use crate::store::DbConn;
use serde::Deserialize;
use serde_json::json;

/// At most two signing secrets are active at once, so a rotation never locks a shop out.
pub const MAX_ACTIVE_SECRETS: usize = 2;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantIn {
    #[schema(schema_with = crate::app::schema::note_200)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_secret)]
    pub secret: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_secret)]
    pub wallet_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretIn {
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_secret)]
    pub secret: Option<String>,
}

fn view(m: &MerchantRow, svc: &Services) -> serde_json::Value {
    json!({"merchant_id": m.merchant_id, "name": m.name, "created_at": format_ts(m.created_at, svc.tz)})
}

pub fn put(
    conn: &mut DbConn,
    svc: &Services,
    operator: &str,
    id: &str,
    input: MerchantIn,
    now: i64,
) -> ApiResult<Outcome> {
    let id = merchant_id("merchant_id", id)?;
    note("name", &input.name, 200)?;
    let name = input.name.trim();
    for (f, s) in [("secret", &input.secret), ("wallet_secret", &input.wallet_secret)] {
        if let Some(s) = s {
            secret(f, s)?;
        }
    }
    let existing = repo::merchant(conn, &id)?;
    let created = existing.is_none();
    let mut row = existing.unwrap_or(MerchantRow {
        merchant_id: id.clone(),
        name: String::new(),
        wallet_secret_enc: None,
        created_at: now,
        updated_at: now,
    });
    if created && input.secret.is_none() {
        return Err(err(Code::InvalidRequest, "secret is required when a merchant is created"));
    }
    row.name = name.to_string();
    row.updated_at = now;
    if let Some(w) = &input.wallet_secret {
        row.wallet_secret_enc = Some(svc.secrets.seal(w));
    }
    if created {
        repo::insert_merchant(conn, &row)?;
    } else {
        repo::update_merchant(conn, &row)?;
    }
    if let Some(secret) = &input.secret {
        // A secret in the body replaces every active signing secret.
        repo::revoke_secrets(conn, &id, None, now)?;
        add(conn, svc, &id, secret, now)?;
    }
    let detail = json!({"name": row.name, "secret_replaced": input.secret.is_some(), "wallet_secret_replaced": input.wallet_secret.is_some()});
    repo::audit(
        conn,
        now,
        operator,
        if created { "merchant.create" } else { "merchant.update" },
        &id,
        &detail.to_string(),
    )?;
    let body = view(&row, svc);
    Ok(if created { Outcome::Created(body) } else { Outcome::Done(body) })
}

fn add(conn: &mut DbConn, svc: &Services, merchant: &str, secret: &str, now: i64) -> ApiResult<String> {
    let row = SecretRow {
        secret_id: random_id("sec"),
        merchant_id: merchant.to_string(),
        secret_enc: svc.secrets.seal(secret),
        created_at: now,
        revoked_at: None,
    };
    repo::insert_secret(conn, &row)?;
    Ok(row.secret_id)
}

fn known(conn: &mut DbConn, id: &str) -> ApiResult<MerchantRow> {
    repo::merchant(conn, id)?.ok_or_else(|| err(Code::NotFound, format!("no merchant {id:?}")))
}

pub fn add_secret(
    conn: &mut DbConn,
    svc: &Services,
    operator: &str,
    id: &str,
    input: SecretIn,
    now: i64,
) -> ApiResult<Outcome> {
    if let Some(s) = &input.secret {
        secret("secret", s)?;
    }
    known(conn, id)?;
    if repo::active_secrets(conn, id)?.len() >= MAX_ACTIVE_SECRETS {
        return Err(err(Code::InvalidState, "two signing secrets are already active; delete one first"));
    }
    let generated = input.secret.is_none().then(random_token);
    let secret = input.secret.as_deref().or(generated.as_deref()).unwrap_or_default();
    let secret_id = add(conn, svc, id, secret, now)?;
    repo::audit(conn, now, operator, "merchant.secret.add", id, &json!({"secret_id": secret_id}).to_string())?;
    Ok(Outcome::Created(json!({"secret_id": secret_id, "secret": generated, "created_at": format_ts(now, svc.tz)})))
}

pub fn delete_secret(conn: &mut DbConn, operator: &str, id: &str, secret_id: &str, now: i64) -> ApiResult<()> {
    known(conn, id)?;
    let active = repo::active_secrets(conn, id)?;
    if !active.iter().any(|s| s.secret_id == secret_id) {
        return Err(err(Code::NotFound, format!("no active secret {secret_id:?} for merchant {id:?}")));
    }
    if active.len() == 1 {
        return Err(err(Code::InvalidState, "this is the merchant's only active secret; add another first"));
    }
    repo::revoke_secrets(conn, id, Some(secret_id), now)?;
    repo::audit(conn, now, operator, "merchant.secret.delete", id, &json!({"secret_id": secret_id}).to_string())?;
    Ok(())
}

/// The merchant's active signing secrets in clear, or `None` for an unknown merchant.
pub fn signing_secrets(conn: &mut DbConn, svc: &Services, id: &str) -> ApiResult<Option<Vec<String>>> {
    if repo::merchant(conn, id)?.is_none() {
        return Ok(None);
    }
    let rows = repo::active_secrets(conn, id)?;
    Ok(Some(rows.iter().filter_map(|r| svc.secrets.open(&r.secret_enc)).collect()))
}

/// The merchant's wallet secret in clear, if it has one.
pub fn wallet_secret(conn: &mut DbConn, svc: &Services, id: &str) -> ApiResult<Option<String>> {
    Ok(repo::merchant(conn, id)?.and_then(|m| m.wallet_secret_enc).and_then(|s| svc.secrets.open(&s)))
}

/// `POST /v1/admin/secrets/rekey`: seals every stored secret (signing, wallet and shop secrets)
/// again under the first key of CASHBACK_SECRET_KEY, during a rotation (`new,old`). Once it
/// reports nothing left under an old key, the old key can be dropped from the setting.
pub fn rekey(conn: &mut DbConn, svc: &Services, operator: &str, now: i64) -> ApiResult<serde_json::Value> {
    let (mut resealed, mut current, mut unreadable) = (0, 0, 0);
    for (table, key, sealed) in repo::sealed_secrets(conn)? {
        if svc.secrets.is_current(&sealed) {
            current += 1;
            continue;
        }
        match svc.secrets.open(&sealed) {
            Some(plain) => {
                // The rows were listed in this same transaction, so each is there to update.
                let changed = repo::reseal(conn, table, &key, &svc.secrets.seal(&plain))?;
                if changed != 1 {
                    return Err(err(Code::Internal, format!("re-sealing {table} {key:?} changed {changed} rows")));
                }
                resealed += 1;
            }
            None => unreadable += 1,
        }
    }
    let counts = json!({"resealed": resealed, "already_current": current, "unreadable": unreadable});
    repo::audit(conn, now, operator, "secrets.rekey", "*", &counts.to_string())?;
    Ok(counts)
}
