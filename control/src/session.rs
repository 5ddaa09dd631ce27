//! Sessions and login throttling, in memory: a restart of the web service logs everyone out,
//! which is the safe side.
//!
//! A session is a random 256-bit token in an `HttpOnly`, `SameSite=Strict` cookie, with its own CSRF
//! token that every form carries. Failed logins are counted per client address and per user name;
//! past [`FREE_FAILURES`] each one doubles the wait before the next attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a session lasts without use.
pub const IDLE: Duration = Duration::from_secs(2 * 3600);
/// How long a session lasts at most.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed before waits start.
pub const FREE_FAILURES: u32 = 3;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// 32 random bytes, hex.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    // The kernel's random source does not fail after boot; an all-zero token would only be
    // produced if it did, and is refused by `Sessions::get`.
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    hex::encode(bytes)
}

/// Compares without leaking where two strings differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    created: Instant,
    used: Instant,
}

#[derive(Debug, Default)]
pub struct Sessions {
    by_token: HashMap<String, Session>,
}

impl Sessions {
    /// A new session for `user`; returns its token.
    pub fn create(&mut self, user: &str, now: Instant) -> String {
        self.expire(now);
        let token = token();
        self.by_token.insert(
            token.clone(),
            Session {
                user: user.to_owned(),
                csrf: self::token(),
                created: now,
                used: now,
            },
        );
        token
    }

    /// The live session of `token`, marked as used.
    pub fn get(&mut self, token: &str, now: Instant) -> Option<Session> {
        if token.len() != 64 {
            return None;
        }
        let session = self.by_token.get_mut(token)?;
        if now.duration_since(session.used) > IDLE || now.duration_since(session.created) > LIFETIME
        {
            self.by_token.remove(token);
            return None;
        }
        session.used = now;
        Some(session.clone())
    }

    pub fn remove(&mut self, token: &str) {
        self.by_token.remove(token);
    }

    /// Ends every session of `user` (after a password change).
    pub fn remove_user(&mut self, user: &str) {
        self.by_token.retain(|_, s| s.user != user);
    }

    fn expire(&mut self, now: Instant) {
        self.by_token.retain(|_, s| {
            now.duration_since(s.used) <= IDLE && now.duration_since(s.created) <= LIFETIME
        });
    }

    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed logins by client address and by user name.
#[derive(Debug, Default)]
pub struct Throttle {
    by_address: HashMap<IpAddr, Failures>,
    by_user: HashMap<String, Failures>,
}

fn wait_after(failures: Option<&Failures>, now: Instant) -> Option<Duration> {
    let failures = failures?;
    let over = failures.count.checked_sub(FREE_FAILURES)?;
    let wait = Duration::from_secs(1u64 << over.min(16)).min(MAX_WAIT);
    let ready = failures.last + wait;
    (ready > now).then(|| ready - now)
}

impl Throttle {
    /// How long the client must still wait before trying again, if it must.
    pub fn wait(&self, address: IpAddr, user: &str, now: Instant) -> Option<Duration> {
        let by_address = wait_after(self.by_address.get(&address), now);
        let by_user = wait_after(self.by_user.get(user), now);
        by_address.max(by_user)
    }

    pub fn failed(&mut self, address: IpAddr, user: &str, now: Instant) {
        // Forget clients quiet for longer than the longest wait.
        self.by_address
            .retain(|_, f| now.duration_since(f.last) < MAX_WAIT * 3);
        self.by_user
            .retain(|_, f| now.duration_since(f.last) < MAX_WAIT * 3);
        for failures in [
            self.by_address.entry(address).or_insert(Failures {
                count: 0,
                last: now,
            }),
            self.by_user.entry(user.to_owned()).or_insert(Failures {
                count: 0,
                last: now,
            }),
        ] {
            failures.count += 1;
            failures.last = now;
        }
    }

    pub fn succeeded(&mut self, address: IpAddr, user: &str) {
        self.by_address.remove(&address);
        self.by_user.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_or_old_and_tokens_are_unguessable() {
        let mut sessions = Sessions::default();
        let start = Instant::now();
        let token = sessions.create("admin", start);
        assert_eq!(token.len(), 64);
        let session = sessions.get(&token, start).unwrap();
        assert_eq!(session.user, "admin");
        assert_eq!(session.csrf.len(), 64);
        assert_ne!(session.csrf, token);
        assert!(sessions.get("x", start).is_none());
        assert!(sessions.get(&"0".repeat(64), start).is_none());
        // Used every hour, it still ends after its lifetime.
        let mut now = start;
        for _ in 0..11 {
            now += Duration::from_secs(3600);
            assert!(sessions.get(&token, now).is_some());
        }
        now += Duration::from_secs(3601);
        assert!(sessions.get(&token, now).is_none());
        // Left alone, it ends after the idle time.
        let token = sessions.create("admin", now);
        assert!(
            sessions
                .get(&token, now + IDLE + Duration::from_secs(1))
                .is_none()
        );
        let token = sessions.create("admin", now);
        sessions.remove_user("admin");
        assert!(sessions.get(&token, now).is_none());
        assert!(sessions.is_empty());
    }

    #[test]
    fn repeated_failures_double_the_wait_and_success_clears_it() {
        let mut throttle = Throttle::default();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.wait(address, "admin", now), None);
            throttle.failed(address, "admin", now);
        }
        assert_eq!(
            throttle.wait(address, "admin", now),
            Some(Duration::from_secs(1))
        );
        throttle.failed(address, "admin", now);
        assert_eq!(
            throttle.wait(address, "admin", now),
            Some(Duration::from_secs(2))
        );
        // Another address trying the same user waits too, and so does another user from here.
        assert!(throttle.wait(other, "admin", now).is_some());
        assert!(throttle.wait(address, "root", now).is_some());
        assert_eq!(throttle.wait(other, "root", now), None);
        // The wait passes.
        assert_eq!(
            throttle.wait(address, "admin", now + Duration::from_secs(2)),
            None
        );
        for _ in 0..40 {
            throttle.failed(address, "admin", now);
        }
        assert_eq!(throttle.wait(address, "admin", now), Some(MAX_WAIT));
        throttle.succeeded(address, "admin");
        assert_eq!(throttle.wait(address, "admin", now), None);
    }

    #[test]
    fn comparison_is_exact() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
