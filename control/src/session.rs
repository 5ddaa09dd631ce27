//! Sessions and login throttling, in memory: a restart of the web service logs everyone out,
//! which is the safe side.
//!
//! A session is a random 256-bit token in an `HttpOnly`, `SameSite=Strict`, `Secure` cookie, with
//! its own CSRF token that every form carries, and a digest of its user's password hash at login:
//! when that changes (a new password, the user removed) the session ends.
//!
//! Logins are counted when they begin, before the password is hashed, so that guesses sent at
//! once cannot all pass; a success takes its count back. They are counted per client address and
//! per (address, user): past [`FREE_FAILURES`] for one user from one address, or
//! [`FREE_FAILURES_PER_ADDRESS`] from one address, each one doubles the wait before the next.
//! A stranger's guesses never make the administrator, at another address, wait.
//!
//! An IPv6 client is counted by its /64, the network one host is usually given and can pick any
//! address of; each table remembers at most [`MAX_CLIENTS`] clients, forgetting those quiet the
//! longest to make room, so that many addresses cannot make it grow without end (forgetting only
//! ever spares someone a wait: it locks nobody out).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use appliance::random::{Kernel, RandomError, Source};

/// How long a session lasts without use.
pub const IDLE: Duration = Duration::from_secs(2 * 3600);
/// How long a session lasts at most.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed logins for one user from one address before waits start.
pub const FREE_FAILURES: u32 = 3;
/// Failed logins from one address, whatever the users, before waits start.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 10;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// Clients the throttle remembers at most, in each of its tables (a few dozen bytes each).
pub const MAX_CLIENTS: usize = 10_000;

/// 32 random bytes from the kernel, hex. A kernel that gives none is an error, never a weaker
/// (empty or fixed) token.
pub fn token() -> Result<String, RandomError> {
    token_from(&mut Kernel)
}

/// 32 random bytes from `source`, hex.
fn token_from(source: &mut dyn Source) -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    source.fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Compares without leaking where two strings differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    /// What [`credential`] gave for the user's password hash at login.
    pub credential: String,
    created: Instant,
    used: Instant,
}

/// A digest of a user's password hash, kept with a session to see the password change.
pub fn credential(hash: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(hash.as_bytes()))
}

#[derive(Debug, Default)]
pub struct Sessions {
    by_token: HashMap<String, Session>,
}

impl Sessions {
    /// A new session for `user`, whose password hash has the digest `credential`; returns its
    /// token.
    pub fn create(
        &mut self,
        user: &str,
        credential: &str,
        now: Instant,
    ) -> Result<String, RandomError> {
        self.create_from(&mut Kernel, user, credential, now)
    }

    fn create_from(
        &mut self,
        source: &mut dyn Source,
        user: &str,
        credential: &str,
        now: Instant,
    ) -> Result<String, RandomError> {
        self.expire(now);
        let token = token_from(source)?;
        let csrf = token_from(source)?;
        self.by_token.insert(
            token.clone(),
            Session {
                user: user.to_owned(),
                csrf,
                credential: credential.to_owned(),
                created: now,
                used: now,
            },
        );
        Ok(token)
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

/// Failed logins by client address and by (address, user name).
#[derive(Debug, Default)]
pub struct Throttle {
    by_address: HashMap<IpAddr, Failures>,
    by_user: HashMap<(IpAddr, String), Failures>,
}

/// Who an address is counted as: an IPv4 address itself (also when written as IPv6), an IPv6
/// address its /64.
fn client(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(ip) => IpAddr::V6(Ipv6Addr::from_bits(ip.to_bits() & !0_u128 << 64)),
        ip @ IpAddr::V4(_) => ip,
    }
}

/// How long a client is remembered after its last failure: longer than the longest wait.
const FORGET_AFTER: Duration = Duration::from_secs(3 * MAX_WAIT.as_secs());

/// Makes room for `key` in `table` if it is new and the table full: the clients quiet for
/// [`FORGET_AFTER`] go, and if that is not enough, the tenth quiet the longest (a tenth at once,
/// so that a full table is not searched on every failure).
fn make_room<K: Eq + Hash>(table: &mut HashMap<K, Failures>, key: &K, now: Instant) {
    if table.len() < MAX_CLIENTS || table.contains_key(key) {
        return;
    }
    table.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
    if table.len() < MAX_CLIENTS {
        return;
    }
    let mut lasts: Vec<Instant> = table.values().map(|f| f.last).collect();
    let (_, &mut newest_forgotten, _) = lasts.select_nth_unstable(MAX_CLIENTS / 10);
    table.retain(|_, f| f.last > newest_forgotten);
}

/// Counts one more failure of the client `key` at `now`, from nothing if it was forgotten.
fn count<K: Eq + Hash>(table: &mut HashMap<K, Failures>, key: K, now: Instant) {
    make_room(table, &key, now);
    let failures = table.entry(key).or_insert(Failures {
        count: 0,
        last: now,
    });
    if now.duration_since(failures.last) >= FORGET_AFTER {
        failures.count = 0;
    }
    failures.count += 1;
    failures.last = now;
}

fn wait_after(failures: Option<&Failures>, free: u32, now: Instant) -> Option<Duration> {
    let failures = failures?;
    let over = failures.count.checked_sub(free)?;
    let wait = Duration::from_secs(1u64 << over.min(16)).min(MAX_WAIT);
    let ready = failures.last + wait;
    (ready > now).then(|| ready - now)
}

impl Throttle {
    /// How long the client must still wait before trying again, if it must.
    pub fn wait(&self, address: IpAddr, user: &str, now: Instant) -> Option<Duration> {
        let address = client(address);
        let by_address = wait_after(
            self.by_address.get(&address),
            FREE_FAILURES_PER_ADDRESS,
            now,
        );
        let by_user = wait_after(
            self.by_user.get(&(address, user.to_owned())),
            FREE_FAILURES,
            now,
        );
        by_address.max(by_user)
    }

    /// A login begins: `Err` with the wait if the client must wait, else it is counted as a
    /// failure until [`Throttle::succeeded`] says otherwise.
    pub fn begin(&mut self, address: IpAddr, user: &str, now: Instant) -> Result<(), Duration> {
        if let Some(wait) = self.wait(address, user, now) {
            return Err(wait);
        }
        self.failed(address, user, now);
        Ok(())
    }

    /// A login that [`Throttle::begin`] counted turned out wrong at `now`: the wait runs from
    /// here, not from when it began (hashing takes a while, longer on a busy machine).
    pub fn wrong(&mut self, address: IpAddr, user: &str, now: Instant) {
        let address = client(address);
        if let Some(failures) = self.by_address.get_mut(&address) {
            failures.last = now;
        }
        if let Some(failures) = self.by_user.get_mut(&(address, user.to_owned())) {
            failures.last = now;
        }
    }

    pub fn failed(&mut self, address: IpAddr, user: &str, now: Instant) {
        let address = client(address);
        count(&mut self.by_address, address, now);
        count(&mut self.by_user, (address, user.to_owned()), now);
    }

    pub fn succeeded(&mut self, address: IpAddr, user: &str) {
        let address = client(address);
        self.by_address.remove(&address);
        self.by_user.remove(&(address, user.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_or_old_and_tokens_are_unguessable() {
        let mut sessions = Sessions::default();
        let start = Instant::now();
        let token = sessions.create("admin", "c", start).unwrap();
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
        let token = sessions.create("admin", "c", now).unwrap();
        assert!(
            sessions
                .get(&token, now + IDLE + Duration::from_secs(1))
                .is_none()
        );
        let token = sessions.create("admin", "c", now).unwrap();
        sessions.remove_user("admin");
        assert!(sessions.get(&token, now).is_none());
        assert!(sessions.is_empty());
    }

    /// A random source that fails, as a system without one would.
    struct Broken;

    impl Source for Broken {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), RandomError> {
            Err(RandomError("getrandom: function not implemented".into()))
        }
    }

    #[test]
    fn without_randomness_there_is_an_error_not_a_session() {
        let error = token_from(&mut Broken).unwrap_err();
        assert!(error.to_string().contains("random source"), "{error}");
        let mut sessions = Sessions::default();
        assert!(
            sessions
                .create_from(&mut Broken, "admin", "c", Instant::now())
                .is_err()
        );
        assert!(sessions.is_empty(), "no session under an empty token");
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
        // Another address trying the same user does not wait: a stranger does not lock the
        // administrator out. Another user from here waits only once the address has used its own
        // free failures.
        assert_eq!(throttle.wait(other, "admin", now), None);
        assert_eq!(throttle.wait(address, "root", now), None);
        for _ in FREE_FAILURES + 2..FREE_FAILURES_PER_ADDRESS {
            throttle.failed(address, "admin", now);
        }
        assert_eq!(throttle.wait(address, "root", now), None);
        throttle.failed(address, "admin", now);
        assert!(throttle.wait(address, "root", now).is_some());
        assert_eq!(throttle.wait(other, "root", now), None);
        throttle = Throttle::default();
        for _ in 0..=FREE_FAILURES {
            throttle.failed(address, "admin", now);
        }
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
    fn many_addresses_do_not_grow_the_throttle_without_end() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        let administrator: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..=FREE_FAILURES {
            throttle.failed(administrator, "admin", now);
        }
        // Addresses from a network of millions, each failing once, all within the longest wait.
        for host in 0..u32::try_from(2 * MAX_CLIENTS).unwrap() {
            let address = IpAddr::V4(std::net::Ipv4Addr::from_bits(0x0a00_0000 + host));
            throttle.failed(address, "admin", now + Duration::from_millis(1));
        }
        assert!(throttle.by_address.len() <= MAX_CLIENTS);
        assert!(throttle.by_user.len() <= MAX_CLIENTS);
        // The oldest was forgotten to make room: a wait spared, nobody locked out.
        assert_eq!(throttle.wait(administrator, "admin", now), None);
    }

    #[test]
    fn a_client_quiet_for_long_starts_again_from_nothing() {
        let mut throttle = Throttle::default();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES_PER_ADDRESS {
            throttle.failed(address, "admin", now);
        }
        let later = now + FORGET_AFTER;
        for _ in 1..FREE_FAILURES {
            throttle.failed(address, "admin", later);
        }
        assert_eq!(throttle.wait(address, "admin", later), None);
        throttle.failed(address, "admin", later);
        assert_eq!(
            throttle.wait(address, "admin", later),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_network() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        for host in 0..=FREE_FAILURES {
            let address: IpAddr = format!("2001:db8:1:2::{:x}", host + 1).parse().unwrap();
            throttle.failed(address, "admin", now);
        }
        // Another address of the same /64 waits; another network does not.
        let same: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(throttle.wait(same, "admin", now).is_some());
        assert_eq!(throttle.wait(other, "admin", now), None);
        // An IPv4 address written as IPv6 is that IPv4 address.
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        for _ in 0..=FREE_FAILURES {
            throttle.failed(mapped, "admin", now);
        }
        assert!(throttle.wait(v4, "admin", now).is_some());
    }

    #[test]
    fn a_login_is_counted_when_it_begins_and_a_success_takes_it_back() {
        let mut throttle = Throttle::default();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            throttle.begin(address, "admin", now).unwrap();
        }
        // Nothing has been said of the three yet: the fourth waits all the same.
        assert_eq!(
            throttle.begin(address, "admin", now),
            Err(Duration::from_secs(1))
        );
        throttle.succeeded(address, "admin");
        assert_eq!(throttle.begin(address, "admin", now), Ok(()));
    }

    #[test]
    fn comparison_is_exact() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
