//! Secrets at rest (AES-256-GCM under CASHBACK_SECRET_KEY), merchant signatures
//! (HMAC-SHA256, API.md §5) and wallet tokens (JWT HS256).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Seals and opens secrets stored in the database. Never logged, never printed. Holds one key,
/// or several during a rotation: it seals with the first and opens with any.
#[derive(Clone)]
pub struct SecretBox {
    ciphers: Vec<Aes256Gcm>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// From CASHBACK_SECRET_KEY: 32 bytes, base64; during a rotation `new,old` (comma-separated,
    /// the key to seal with first).
    pub fn from_base64(keys: &str) -> Result<SecretBox, String> {
        let mut ciphers = Vec::new();
        for key in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let bytes = B64.decode(key).map_err(|_| "CASHBACK_SECRET_KEY is not base64".to_string())?;
            if bytes.len() != 32 {
                return Err(format!("CASHBACK_SECRET_KEY must decode to 32 bytes, not {}", bytes.len()));
            }
            ciphers.push(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)));
        }
        if ciphers.is_empty() {
            return Err("CASHBACK_SECRET_KEY is empty".to_string());
        }
        Ok(SecretBox { ciphers })
    }

    pub fn seal(&self, plain: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self.ciphers[0].encrypt(&nonce, plain.as_bytes()).expect("AES-GCM encryption");
        let mut out = nonce.to_vec();
        out.extend(ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Option<String> {
        let plain = self.ciphers.iter().find_map(|c| decrypt(c, sealed))?;
        String::from_utf8(plain).ok()
    }

    /// Whether `sealed` opens with the first key (what `seal` uses now).
    pub fn is_current(&self, sealed: &str) -> bool {
        decrypt(&self.ciphers[0], sealed).is_some()
    }
}

/// `sealed` is base64 of the 12-byte nonce then the ciphertext.
fn decrypt(cipher: &Aes256Gcm, sealed: &str) -> Option<Vec<u8>> {
    let raw = B64.decode(sealed).ok().filter(|r| r.len() >= 12)?;
    let (nonce, ct) = raw.split_at(12);
    cipher.decrypt(Nonce::from_slice(nonce), ct).ok()
}

/// A fresh random secret or token: 32 random bytes, URL-safe base64 without padding.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A random id with a prefix, for ids the server chooses (`sec_…`).
pub fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

pub fn random_key_base64() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    B64.encode(b)
}

/// The `v1` signature of API.md §5: hex HMAC-SHA256(secret, "<t>.<raw body>").
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Parses `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`.
pub fn parse_signature_header(h: &str) -> Option<(i64, Vec<Vec<u8>>)> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in h.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "t" => t = Some(v.parse::<i64>().ok()?),
            // One undecodable signature must not spoil the others (key rotation).
            "v1" => sigs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    Some((t?, sigs))
}

/// Whether any of `sigs` is the HMAC of the body under `secret`, compared in constant time.
pub fn signature_matches(secret: &str, t: i64, body: &[u8], sigs: &[Vec<u8>]) -> bool {
    sigs.iter().any(|sig| {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(sig).is_ok()
    })
}

/// Shop webhooks (Shopify's `X-Shopify-Hmac-Sha256`, WooCommerce's `X-WC-Webhook-Signature`):
/// whether `header` is the standard base64 of HMAC-SHA256(key, raw body), in constant time.
pub fn base64_hmac_matches(key: &[u8], body: &[u8], header: &str) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else { return false };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The standard base64 of HMAC-SHA256(key, body): what a shop platform sends (tests, tools).
pub fn base64_hmac(key: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// WooCommerce signs with its secret after WordPress's `wp_specialchars_decode(…, ENT_QUOTES)`:
/// `&lt; &gt; &amp; &quot;` and the numeric forms of `< > & " '` (leading zeros allowed), in
/// one pass like PHP's `strtr`, so `&amp;lt;` becomes `&lt;`; every other entity stays as it is.
pub fn wp_specialchars_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&end| end <= 12).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                _ => {
                    // Decimal for all five; hexadecimal only for ' " & (WordPress's own list).
                    let digits = |d: &str, hex: bool| {
                        !d.is_empty() && d.bytes().all(|b| if hex { b.is_ascii_hexdigit() } else { b.is_ascii_digit() })
                    };
                    match name.strip_prefix('#') {
                        Some(h) if h.starts_with(['x', 'X']) && digits(&h[1..], true) => {
                            match u32::from_str_radix(&h[1..], 16).ok() {
                                Some(0x27) => Some('\''),
                                Some(0x22) => Some('"'),
                                Some(0x26) => Some('&'),
                                _ => None,
                            }
                        }
                        Some(d) if digits(d, false) => match d.parse::<u32>().ok() {
                            Some(39) => Some('\''),
                            Some(34) => Some('"'),
                            Some(60) => Some('<'),
                            Some(62) => Some('>'),
                            Some(38) => Some('&'),
                            _ => None,
                        },
                        _ => None,
                    }
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WalletClaims {
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// Reads the claims without checking the signature, to learn which key checks it (`iss`).
pub fn peek_issuer(token: &str) -> Option<Option<String>> {
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    Some(v.get("iss").and_then(|i| i.as_str()).map(str::to_string))
}

/// Checks a wallet token: HS256 only, signature, `exp` in the future by `now`, and
/// `exp − iat` at most `max_life` seconds.
pub fn verify_wallet_token(token: &str, secret: &str, now: i64, max_life: i64) -> Option<WalletClaims> {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_exp = false; // judged against the service clock below
    v.required_spec_claims = ["sub", "exp"].into_iter().map(String::from).collect();
    let data = decode::<WalletClaims>(token, &DecodingKey::from_secret(secret.as_bytes()), &v).ok()?;
    let c = data.claims;
    if c.exp <= now || c.exp - c.iat > max_life || c.iat > now + 300 {
        return None;
    }
    Some(c)
}

pub fn mint_wallet_token(secret: &str, claims: &WalletClaims) -> String {
    use jsonwebtoken::{encode, EncodingKey, Header};
    encode(&Header::default(), claims, &EncodingKey::from_secret(secret.as_bytes())).expect("HS256 signing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wordpress_decodes_its_five_characters_once() {
        assert_eq!(wp_specialchars_decode("a&amp;b&lt;c&gt;&quot;d&#039;e&#x27;"), "a&b<c>\"d'e'");
        assert_eq!(wp_specialchars_decode("&amp;lt;"), "&lt;");
        assert_eq!(wp_specialchars_decode("&#0039;&#x026;&#60;"), "'&<");
        assert_eq!(wp_specialchars_decode("&nbsp;&#65;&"), "&nbsp;&#65;&");
        assert_eq!(wp_specialchars_decode("&#x3c;&#x+27;&#X22;"), "&#x3c;&#x+27;\"");
        assert_eq!(wp_specialchars_decode("plain"), "plain");
    }

    #[test]
    fn shop_signatures_are_base64_hmacs() {
        let sig = base64_hmac(b"hush", b"body");
        assert!(base64_hmac_matches(b"hush", b"body", &sig));
        assert!(!base64_hmac_matches(b"hush", b"body!", &sig));
        assert!(!base64_hmac_matches(b"hush", b"body", "not base64"));
    }

    #[test]
    fn sealed_secrets_open_only_with_the_key() {
        let a = SecretBox::from_base64(&random_key_base64()).unwrap();
        let b = SecretBox::from_base64(&random_key_base64()).unwrap();
        let s = a.seal("whsec");
        assert_eq!(a.open(&s).as_deref(), Some("whsec"));
        assert_eq!(b.open(&s), None);
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn a_rotation_opens_with_either_key_and_seals_with_the_new_one() {
        let (old, new) = (random_key_base64(), random_key_base64());
        let before = SecretBox::from_base64(&old).unwrap().seal("s3cret");
        let both = SecretBox::from_base64(&format!("{new},{old}")).unwrap();
        assert_eq!(both.open(&before).as_deref(), Some("s3cret"));
        assert!(!both.is_current(&before));
        let after = both.seal("s3cret");
        assert!(both.is_current(&after));
        assert_eq!(SecretBox::from_base64(&new).unwrap().open(&after).as_deref(), Some("s3cret"));
        assert_eq!(SecretBox::from_base64(&old).unwrap().open(&after), None);
    }

    #[test]
    fn signatures_accept_any_valid_v1() {
        let body = br#"{"a":1}"#;
        let good = sign("s1", 1700000000, body);
        let h = format!("t=1700000000,v1={},v1={good}", "00".repeat(32));
        let (t, sigs) = parse_signature_header(&h).unwrap();
        assert!(signature_matches("s1", t, body, &sigs));
        assert!(!signature_matches("s2", t, body, &sigs));
        assert!(!signature_matches("s1", t + 1, body, &sigs));
        assert!(parse_signature_header("v1=00").is_none());
        let h = format!("t=1700000000,v1=zz,v1={good}");
        let (t, sigs) = parse_signature_header(&h).unwrap();
        assert!(signature_matches("s1", t, body, &sigs));
    }

    #[test]
    fn wallet_tokens_check_lifetime_and_algorithm() {
        let c = WalletClaims { sub: "u1".into(), iat: 1000, exp: 1900, iss: None, jti: None };
        let t = mint_wallet_token("k", &c);
        assert!(verify_wallet_token(&t, "k", 1100, 900).is_some());
        assert!(verify_wallet_token(&t, "k", 1900, 900).is_none()); // expired
        assert!(verify_wallet_token(&t, "other", 1100, 900).is_none());
        assert!(verify_wallet_token(&t, "k", 1100, 300).is_none()); // lives too long
        let none_alg = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1MSIsImlhdCI6MTAwMCwiZXhwIjoxOTAwfQ.";
        assert!(verify_wallet_token(none_alg, "k", 1100, 900).is_none());
    }
}
