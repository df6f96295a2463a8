//! The signature headers: the checkout hook's `t=…,v1=…`, the shops' base64 HMACs and
//! WordPress's entity decoding never panic, and a signature made here always verifies.
#![no_main]
use cashback::crypto::{
    base64_hmac, base64_hmac_matches, parse_signature_header, sign, signature_matches, wp_specialchars_decode,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some((t, sigs)) = parse_signature_header(&text) {
        let _ = signature_matches("secret", t, data, &sigs);
    }
    let _ = base64_hmac_matches(b"secret", data, &text);
    let decoded = wp_specialchars_decode(&text);
    assert!(decoded.len() <= text.len(), "decoding never lengthens");
    let sig = sign(&text, 1_700_000_000, data);
    let (t, sigs) = parse_signature_header(&format!("t=1700000000,v1={sig}")).unwrap();
    assert!(signature_matches(&text, t, data, &sigs));
    assert!(base64_hmac_matches(text.as_bytes(), data, &base64_hmac(text.as_bytes(), data)));
});
