//! `x-vercel-signature`: the lowercase hex HMAC-SHA1 of the raw body, keyed with the drain's
//! secret (Vercel's Drains Security page). Compared in constant time; the secret never leaves
//! this function.

use aws_lc_rs::{constant_time, hmac};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The signature Vercel sends for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    hex(hmac::sign(&key, body).as_ref())
}

/// True when `header` (hex, either case, surrounding spaces ignored) is the signature of `body`.
pub fn matches(secret: &[u8], body: &[u8], header: &str) -> bool {
    let want = sign(secret, body);
    let got = header.trim().to_ascii_lowercase();
    constant_time::verify_slices_are_equal(want.as_bytes(), got.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from Python's hmac module:
    //   hmac.new(b"drain-secret", b'[{"id":"1"}]', "sha1").hexdigest()
    const BODY: &[u8] = br#"[{"id":"1"}]"#;
    const SIG: &str = "c908a6b6e9d9a0770ad6d7b3ccefeb9b655b7df1";

    #[test]
    fn signs_like_vercel() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(sign(b"drain-secret", BODY), SIG);
        assert!(matches(b"drain-secret", BODY, SIG));
        assert!(matches(
            b"drain-secret",
            BODY,
            &format!(" {} ", SIG.to_uppercase())
        ));
    }

    #[test]
    fn refuses_other_bodies_secrets_and_shapes() {
        let s = sign(b"drain-secret", BODY);
        assert!(!matches(b"other-secret", BODY, &s));
        assert!(!matches(b"drain-secret", br#"[{"id":"2"}]"#, &s));
        assert!(!matches(b"drain-secret", BODY, &s[..39]));
        assert!(!matches(b"drain-secret", BODY, ""));
        assert!(!matches(b"drain-secret", BODY, &format!("sha1={s}")));
    }
}
