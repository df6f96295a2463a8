//! Settings from flags and the environment.

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// sqlite://relative.db, sqlite:///absolute/path.db or postgres://user:pass@host/db
    #[arg(long, global = true, env = "DATABASE_URL", default_value = "sqlite://cashback.db")]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, global = true, env = "CASHBACK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Admin tokens as name:token,name:token; the name goes into the audit trail.
    #[arg(long, global = true, env = "CASHBACK_ADMIN_TOKENS", hide_env_values = true)]
    pub admin_tokens: Option<String>,
    /// A single admin token, named "admin".
    #[arg(long, global = true, env = "CASHBACK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Signs platform wallet tokens (JWT HS256).
    #[arg(long, global = true, env = "CASHBACK_WALLET_SECRET", hide_env_values = true)]
    pub wallet_secret: Option<String>,
    /// 32 bytes, base64: encrypts merchant, wallet and shop secrets at rest.
    #[arg(long, global = true, env = "CASHBACK_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Requests per second each merchant may send on average (0: no limit); 429 past it.
    #[arg(long, global = true, env = "CASHBACK_RATE_LIMIT", default_value_t = 5000)]
    pub rate_limit: u32,
    /// Requests a merchant may send at once above the average.
    #[arg(long, global = true, env = "CASHBACK_RATE_BURST", default_value_t = 10000)]
    pub rate_burst: u32,
    /// The business time zone (IANA name); recorded in the database at first start.
    #[arg(long, global = true, env = "CASHBACK_TIMEZONE", default_value = "Asia/Shanghai")]
    pub timezone: String,
}

impl Settings {
    /// (name, token) pairs from CASHBACK_ADMIN_TOKENS and CASHBACK_ADMIN_TOKEN.
    pub fn admin_token_list(&self) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for pair in self.admin_tokens.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
            let (name, token) = pair
                .split_once(':')
                .filter(|(n, t)| !n.is_empty() && !t.is_empty())
                .ok_or("CASHBACK_ADMIN_TOKENS must be name:token,name:token")?;
            out.push((name.to_string(), token.to_string()));
        }
        if let Some(t) = self.admin_token.as_deref().filter(|t| !t.is_empty()) {
            out.push(("admin".to_string(), t.to_string()));
        }
        Ok(out)
    }

    pub fn tz(&self) -> Result<chrono_tz::Tz, String> {
        self.timezone.parse().map_err(|_| format!("CASHBACK_TIMEZONE {:?} is not an IANA time zone", self.timezone))
    }
}
