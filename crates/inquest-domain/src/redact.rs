//! Secret redaction for untrusted text (diffs, commit messages, runbooks) before it
//! is stored, embedded or sent to a model. Pure and idempotent.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

struct Rule {
    re: Regex,
    replace: fn(&Captures<'_>) -> String,
}

fn rule(pattern: &str, replace: fn(&Captures<'_>) -> String) -> Rule {
    // The patterns are constants checked by the unit tests below.
    #[allow(clippy::unwrap_used)]
    let re = Regex::new(pattern).unwrap();
    Rule { re, replace }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // PEM private keys, whole block (also a truncated one without END line).
        rule(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)", |_| {
            format!("{REDACTED} private key")
        }),
        // Passwords in connection strings: scheme://user:password@host
        rule(r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/\s@]+:)([^@\s/]+)(@)", |c| format!("{}{REDACTED}{}", &c[1], &c[3])),
        // Authorization headers.
        rule(r"(?i)\b(bearer|basic|token)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)", |c| format!("{}{}{REDACTED}", &c[1], &c[2])),
        // name = value, name: value, "name": "value" where the name says it is secret.
        rule(
            r#"(?i)\b([A-Za-z0-9_.\-]*?(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credentials?|auth))(["']?\s*[:=]\s*)("[^"\n]*"|'[^'\n]*'|[^\s,;&)"']+)"#,
            |c| {
                let v = &c[3];
                let quoted = if v.starts_with('"') {
                    format!("\"{REDACTED}\"")
                } else if v.starts_with('\'') {
                    format!("'{REDACTED}'")
                } else {
                    REDACTED.to_string()
                };
                format!("{}{}{quoted}", &c[1], &c[2])
            },
        ),
        // Well-known token shapes, wherever they stand.
        rule(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", |_| REDACTED.to_string()),
        rule(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", |_| REDACTED.to_string()),
        rule(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b", |_| REDACTED.to_string()),
        rule(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}", |_| REDACTED.to_string()),
        rule(r"\bsk-[A-Za-z0-9_\-]{20,}", |_| REDACTED.to_string()),
        rule(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", |_| REDACTED.to_string()),
    ]
});

/// `text` with every secret it recognises replaced by `[REDACTED]`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for r in RULES.iter() {
        if r.re.is_match(&out) {
            out = r.re.replace_all(&out, |c: &Captures<'_>| (r.replace)(c)).into_owned();
        }
    }
    out
}

/// Redact an optional text.
pub fn redact_opt(text: Option<&str>) -> Option<String> {
    text.map(redact)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone(input: &str, secret: &str) -> String {
        let out = redact(input);
        assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
        assert!(out.contains(REDACTED), "nothing marked in {out:?}");
        assert_eq!(redact(&out), out, "redaction is not idempotent");
        out
    }

    #[test]
    fn passwords_in_assignments_and_config() {
        let out = gone("+    PASSWORD=\"hunter2-prod\",\n", "hunter2");
        assert_eq!(out, "+    PASSWORD=\"[REDACTED]\",\n");
        gone("db_password: s3cr3t!", "s3cr3t");
        gone("{\"client_secret\": \"abc123def\"}", "abc123def");
        gone("export API_KEY=zzz999yyy", "zzz999yyy");
        gone("api-key = 'k-12345'", "k-12345");
        gone("curl 'https://x/?a=1&secret=topsecret&b=2'", "topsecret");
        gone("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI");
    }

    #[test]
    fn tokens_keys_and_headers() {
        gone("Authorization: Bearer abcdef0123456789.xyz", "abcdef0123456789");
        gone("key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE");
        gone("token ghp_0123456789abcdefghijklmnopqrstuvwxyz01", "ghp_0123456789");
        gone("OPENAI=sk-proj-abcdefghijklmnopqrstuvwx", "sk-proj-abcdefghij");
        gone("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890");
        gone(
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        );
    }

    #[test]
    fn private_keys_and_connection_strings() {
        let pem =
            "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----\nafter";
        let out = gone(pem, "MIIEowIBAAKCAQEA7");
        assert!(out.starts_with("before\n") && out.ends_with("\nafter"));
        let out = gone("DATABASE_URL=postgres://app:pa55word@db:5432/x", "pa55word");
        assert!(!out.contains("pa55word"));
        let out = gone("dsn redis://default:hunter3@cache:6379/0", "hunter3");
        assert_eq!(out, "dsn redis://default:[REDACTED]@cache:6379/0");
    }

    #[test]
    fn ordinary_code_is_left_alone() {
        for text in [
            "-CATALOG_CACHE_TTL_SECONDS = 300\n+CATALOG_CACHE_TTL_SECONDS = int(os.environ.get(\"CATALOG_CACHE_TTL\", \"3\"))",
            "max_tokens: 256",
            "let pool_size = 20;",
            "see https://runbooks.example.com/db-pool for details",
            "tokenizer = load(path)",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}
