//! Values that must never print: `Secret` (passwords, API keys) and `ServiceUrl`
//! (a server address that may carry a password). Neither implements `Serialize`.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A password or API key. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for handing to a client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A server URL. `Debug` and `Display` show it with any password (in the user-info
/// part or a `password=` parameter) replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The full URL, password included, for handing to a client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceUrl({})", self.redacted())
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password of `scheme://user:password@host/...` and the values of
/// `password=` / `api_key=` parameters (URL query or key=value form) with `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let authority_end = out[start..].find(['/', '?', '#']).map(|i| start + i).unwrap_or(out.len());
        if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i)
            && let Some(colon) = out[start..at].find(':').map(|i| start + i)
        {
            out.replace_range(colon + 1..at, "***");
        }
    }
    for key in ["password=", "api_key=", "apikey="] {
        let mut from = 0;
        while let Some(pos) = out[from..].to_ascii_lowercase().find(key).map(|i| from + i) {
            let value_start = pos + key.len();
            let value_end = out[value_start..].find(['&', ' ', '#']).map(|i| value_start + i).unwrap_or(out.len());
            out.replace_range(value_start..value_end, "***");
            from = value_start + 3;
        }
    }
    out
}

/// Accepts any scalar: an environment variable like `INQUEST_NEO4J_PASSWORD=12345`
/// arrives as a number.
struct ScalarText;

impl Visitor<'_> for ScalarText {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarText).map(Secret)
    }
}

impl<'de> Deserialize<'de> for ServiceUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarText).map(ServiceUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_print_without_their_password() {
        let cases = [
            ("postgres://inquest:hunter2@db:5432/inquest", "postgres://inquest:***@db:5432/inquest"),
            ("postgres://inquest@db/inquest", "postgres://inquest@db/inquest"),
            ("http://db:8123/?user=a&password=hunter2&x=1", "http://db:8123/?user=a&password=***&x=1"),
            ("host=db user=a password=hunter2 dbname=x", "host=db user=a password=*** dbname=x"),
            ("http://q:6334?api_key=hunter2", "http://q:6334?api_key=***"),
            ("postgres://a:p%40ss@db/x", "postgres://a:***@db/x"),
        ];
        for (url, shown) in cases {
            let u = ServiceUrl::new(url);
            assert_eq!(u.to_string(), shown);
            assert!(!format!("{u:?}").contains("hunter2"));
            assert_eq!(u.expose(), url);
        }
    }
}
