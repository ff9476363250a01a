//! RTSP authentication for the simulated cameras: HTTP Digest (RFC 2617, MD5) and Basic.
//!
//! Real cameras almost all demand Digest, so the simulator does too, to exercise the
//! recorder's credential handling. Challenges offer Digest (without `qop`, the RFC 2069 form
//! every client supports) and Basic; responses with or without `qop=auth` are accepted.
//! Nonces are random but self-authenticating (a random part plus a keyed SHA-256 tag of it),
//! so the server needs no table of issued nonces and still rejects nonces it never issued.
//! Every failure yields a fresh challenge: wrong credentials get `401` each time.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// The protection space announced in challenges.
pub const REALM: &str = "sightline-sim";

/// Why a request's credentials were not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("request has no Authorization header")]
    Missing,
    #[error("Authorization scheme {0:?} is not Digest or Basic")]
    UnsupportedScheme(String),
    #[error("malformed Authorization header {header:?}: {reason}")]
    Malformed {
        header: String,
        reason: &'static str,
    },
    #[error("nonce {0:?} was not issued by this server")]
    UnknownNonce(String),
    #[error("wrong username or password for user {0:?}")]
    WrongCredentials(String),
}

/// The inputs to an RFC 2617 digest `response`.
#[derive(Clone, Copy, Debug)]
pub struct DigestInputs<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    /// `(qop, nc, cnonce)` when the client used `qop`; `None` for the RFC 2069 form.
    pub qop: Option<(&'a str, &'a str, &'a str)>,
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// Computes the expected `response` value (lowercase hex) for MD5 Digest.
pub fn digest_response(i: &DigestInputs<'_>) -> String {
    let ha1 = md5_hex(&format!("{}:{}:{}", i.username, i.realm, i.password));
    let ha2 = md5_hex(&format!("{}:{}", i.method, i.uri));
    match i.qop {
        Some((qop, nc, cnonce)) => md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", i.nonce)),
        None => md5_hex(&format!("{ha1}:{}:{ha2}", i.nonce)),
    }
}

/// Checks requests against one username/password.
pub struct Authenticator {
    username: String,
    password: String,
    secret: [u8; 16],
}

impl Authenticator {
    pub fn new(username: String, password: String) -> Authenticator {
        let mut secret = [0u8; 16];
        getrandom::getrandom(&mut secret).expect("operating system random source failed");
        Authenticator {
            username,
            password,
            secret,
        }
    }

    fn nonce_tag(&self, random_hex: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(random_hex.as_bytes());
        hex::encode(&h.finalize()[..8])
    }

    /// A new nonce: 16 random hex digits followed by their 16-digit tag.
    pub fn new_nonce(&self) -> String {
        let mut r = [0u8; 8];
        getrandom::getrandom(&mut r).expect("operating system random source failed");
        let random_hex = hex::encode(r);
        let tag = self.nonce_tag(&random_hex);
        format!("{random_hex}{tag}")
    }

    fn nonce_is_ours(&self, nonce: &str) -> bool {
        nonce.len() == 32
            && nonce.is_char_boundary(16)
            && constant_time_eq(
                self.nonce_tag(&nonce[..16]).as_bytes(),
                &nonce.as_bytes()[16..],
            )
    }

    /// The `WWW-Authenticate` value for a 401: a fresh Digest challenge, then Basic.
    pub fn challenge(&self) -> String {
        format!(
            "Digest realm=\"{REALM}\", nonce=\"{}\", algorithm=MD5, Basic realm=\"{REALM}\"",
            self.new_nonce()
        )
    }

    /// Checks a request's `Authorization` header (if any) for `method`.
    pub fn check(&self, method: &str, authorization: Option<&str>) -> Result<(), AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            self.check_basic(header, rest.trim())
        } else if scheme.eq_ignore_ascii_case("digest") {
            self.check_digest(header, method, rest)
        } else {
            Err(AuthError::UnsupportedScheme(scheme.to_owned()))
        }
    }

    fn check_basic(&self, header: &str, token: &str) -> Result<(), AuthError> {
        let malformed = |reason| AuthError::Malformed {
            header: header.to_owned(),
            reason,
        };
        let decoded = BASE64
            .decode(token)
            .map_err(|_| malformed("Basic credentials are not base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| malformed("Basic credentials are not UTF-8"))?;
        let (user, pass) = decoded
            .split_once(':')
            .ok_or_else(|| malformed("Basic credentials lack ':'"))?;
        if user == self.username && constant_time_eq(pass.as_bytes(), self.password.as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::WrongCredentials(user.to_owned()))
        }
    }

    fn check_digest(&self, header: &str, method: &str, params: &str) -> Result<(), AuthError> {
        let malformed = |reason| AuthError::Malformed {
            header: header.to_owned(),
            reason,
        };
        let params = parse_params(params).ok_or_else(|| malformed("unbalanced quotes"))?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let username = get("username").ok_or_else(|| malformed("no username"))?;
        let realm = get("realm").ok_or_else(|| malformed("no realm"))?;
        let nonce = get("nonce").ok_or_else(|| malformed("no nonce"))?;
        let uri = get("uri").ok_or_else(|| malformed("no uri"))?;
        let response = get("response").ok_or_else(|| malformed("no response"))?;
        if let Some(alg) = get("algorithm") {
            if !alg.eq_ignore_ascii_case("MD5") {
                return Err(malformed("algorithm other than MD5"));
            }
        }
        let qop = match get("qop") {
            None => None,
            Some(qop) => Some((
                qop,
                get("nc").ok_or_else(|| malformed("qop without nc"))?,
                get("cnonce").ok_or_else(|| malformed("qop without cnonce"))?,
            )),
        };
        if !self.nonce_is_ours(nonce) {
            return Err(AuthError::UnknownNonce(nonce.to_owned()));
        }
        let expected = digest_response(&DigestInputs {
            username: &self.username,
            realm,
            password: &self.password,
            method,
            uri,
            nonce,
            qop,
        });
        if username == self.username
            && realm == REALM
            && constant_time_eq(
                expected.as_bytes(),
                response.to_ascii_lowercase().as_bytes(),
            )
        {
            Ok(())
        } else {
            Err(AuthError::WrongCredentials(username.to_owned()))
        }
    }
}

/// Parses `k=v, k="v, with comma"` auth parameters; `None` on an unterminated quote.
fn parse_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches([' ', ',']);
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => v.push(chars.next()?.1),
                    (i, '"') => break i,
                    (_, c) => v.push(c),
                }
            };
            value = v;
            rest = &q[end + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((key, value));
        rest = rest.trim_start_matches([' ', ',']);
    }
    Some(out)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_vector() {
        // RFC 2617 §3.5.
        let inputs = DigestInputs {
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop: Some(("auth", "00000001", "0a4f113b")),
        };
        assert_eq!(digest_response(&inputs), "6629fae49393a05397450978507c4ef1");
    }

    fn auth() -> Authenticator {
        Authenticator::new("admin".into(), "s3cret".into())
    }

    fn digest_header(nonce: &str, password: &str, qop: bool) -> String {
        let uri = "rtsp://127.0.0.1:8554/cam/1";
        let q = qop.then_some(("auth", "00000001", "abcdef"));
        let response = digest_response(&DigestInputs {
            username: "admin",
            realm: REALM,
            password,
            method: "DESCRIBE",
            uri,
            nonce,
            qop: q,
        });
        let extra = if qop {
            ", qop=auth, nc=00000001, cnonce=\"abcdef\""
        } else {
            ""
        };
        format!(
            "Digest username=\"admin\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\"{extra}"
        )
    }

    #[test]
    fn digest_accepts_right_password_with_and_without_qop() {
        let a = auth();
        let nonce = a.new_nonce();
        for qop in [false, true] {
            let h = digest_header(&nonce, "s3cret", qop);
            assert_eq!(a.check("DESCRIBE", Some(&h)), Ok(()), "qop={qop}");
            // The method is part of the hash.
            assert!(a.check("SETUP", Some(&h)).is_err());
        }
    }

    #[test]
    fn digest_rejects_wrong_password_and_foreign_nonce() {
        let a = auth();
        let h = digest_header(&a.new_nonce(), "wrong", false);
        assert_eq!(
            a.check("DESCRIBE", Some(&h)),
            Err(AuthError::WrongCredentials("admin".into()))
        );
        let foreign = "0123456789abcdef0123456789abcdef";
        let h = digest_header(foreign, "s3cret", false);
        assert_eq!(
            a.check("DESCRIBE", Some(&h)),
            Err(AuthError::UnknownNonce(foreign.into()))
        );
        assert_eq!(a.check("DESCRIBE", None), Err(AuthError::Missing));
    }

    #[test]
    fn basic_accepts_only_exact_credentials() {
        let a = auth();
        let ok = format!("Basic {}", BASE64.encode("admin:s3cret"));
        let bad = format!("Basic {}", BASE64.encode("admin:s3cre"));
        assert_eq!(a.check("PLAY", Some(&ok)), Ok(()));
        assert!(matches!(
            a.check("PLAY", Some(&bad)),
            Err(AuthError::WrongCredentials(_))
        ));
        assert!(matches!(
            a.check("PLAY", Some("Bearer x")),
            Err(AuthError::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn challenges_carry_fresh_nonces() {
        let a = auth();
        let (c1, c2) = (a.challenge(), a.challenge());
        assert_ne!(c1, c2);
        assert!(c1.starts_with("Digest realm=\"sightline-sim\", nonce=\""));
        assert!(c1.ends_with("Basic realm=\"sightline-sim\""));
    }

    #[test]
    fn params_parse_quoted_commas_and_escapes() {
        let p = parse_params(r#"a="x, y", b=tok, c="q\"q""#).unwrap();
        assert_eq!(
            p,
            vec![
                ("a".into(), "x, y".into()),
                ("b".into(), "tok".into()),
                ("c".into(), "q\"q".into())
            ]
        );
        assert_eq!(parse_params(r#"a="open"#), None);
    }
}
