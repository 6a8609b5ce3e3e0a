//! Sign-in throttling in memory: after `max_failures` failed sign-ins of one login
//! within the window, that login is refused until the window has passed; a client
//! address gets four times as many (an office behind one NAT shares it). A success
//! clears its login's count only, so one good account cannot reset an address that
//! is guessing others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many more failures an address may have than a login.
const ADDRESS_FACTOR: u32 = 4;

/// Most keys tracked; beyond it, expired ones are dropped first.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failed sign-ins per login and per client address, over a fixed window.
pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    counts: Mutex<HashMap<String, Window>>,
}

fn login_key(login: &str) -> String {
    format!("login:{}", login.trim().to_lowercase())
}

fn addr_key(addr: &str) -> String {
    format!("addr:{addr}")
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self { max_failures: max_failures.max(1), window, counts: Mutex::new(HashMap::new()) }
    }

    /// `Err(retry after)` when the login or the address has failed too often lately.
    pub fn check(&self, login: &str, addr: &str) -> Result<(), Duration> {
        self.check_at(login, addr, Instant::now())
    }

    pub fn failed(&self, login: &str, addr: &str) {
        self.failed_at(login, addr, Instant::now())
    }

    pub fn succeeded(&self, login: &str, _addr: &str) {
        self.lock().remove(&login_key(login));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // A panic while holding the lock leaves plain counters, still usable.
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_at(&self, login: &str, addr: &str, now: Instant) -> Result<(), Duration> {
        let counts = self.lock();
        let mut wait = Duration::ZERO;
        for (key, limit) in
            [(login_key(login), self.max_failures), (addr_key(addr), self.max_failures * ADDRESS_FACTOR)]
        {
            if let Some(w) = counts.get(&key) {
                let age = now.saturating_duration_since(w.started);
                if age < self.window && w.failures >= limit {
                    wait = wait.max(self.window - age);
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    fn failed_at(&self, login: &str, addr: &str, now: Instant) {
        let mut counts = self.lock();
        if counts.len() >= MAX_KEYS {
            let window = self.window;
            counts.retain(|_, w| now.saturating_duration_since(w.started) < window);
            if counts.len() >= MAX_KEYS {
                counts.clear();
            }
        }
        for key in [login_key(login), addr_key(addr)] {
            let w = counts.entry(key).or_insert(Window { started: now, failures: 0 });
            if now.saturating_duration_since(w.started) >= self.window {
                *w = Window { started: now, failures: 0 };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_login_is_refused_after_its_failures_until_the_window_passes() {
        let t = LoginThrottle::new(3, MIN);
        let start = Instant::now();
        for i in 0..3 {
            assert!(t.check_at("alice", "10.0.0.1", start).is_ok(), "attempt {i}");
            t.failed_at("alice", "10.0.0.1", start);
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(t.check_at("Alice", "10.0.0.2", later), Err(Duration::from_secs(40)), "per login, any address");
        assert!(t.check_at("bob", "10.0.0.1", later).is_ok(), "the address has more room");
        assert!(t.check_at("alice", "10.0.0.1", start + MIN).is_ok(), "window passed");
    }

    #[test]
    fn an_address_guessing_many_logins_is_refused() {
        let t = LoginThrottle::new(2, MIN);
        let now = Instant::now();
        for i in 0..8 {
            t.failed_at(&format!("user{i}"), "192.0.2.9", now);
        }
        assert!(t.check_at("someone-else", "192.0.2.9", now).is_err());
        assert!(t.check_at("someone-else", "192.0.2.10", now).is_ok());
        t.succeeded("someone-else", "192.0.2.9");
        assert!(t.check_at("someone-else", "192.0.2.9", now).is_err(), "a success does not clear the address");
    }

    #[test]
    fn a_success_clears_the_login() {
        let t = LoginThrottle::new(2, MIN);
        t.failed("carol", "::1");
        t.succeeded("carol", "::1");
        t.failed("carol", "::1");
        assert!(t.check("carol", "::1").is_ok());
        t.failed("carol", "::1");
        assert!(t.check("carol", "::1").is_err());
    }
}
