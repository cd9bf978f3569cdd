//! A bounded, expiring cache of token validation outcomes.
//!
//! Keys are SHA-256 digests of the tokens, so the raw tokens are not kept in
//! memory longer than a request and a key that shows up in a log or a dump
//! reveals nothing usable.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::token::TokenInfo;

pub(crate) type TokenKey = [u8; 32];

pub(crate) fn token_key(token: &str) -> TokenKey {
    Sha256::digest(token.as_bytes()).into()
}

/// A short hex prefix of the key, to correlate log lines about one token.
pub(crate) fn fingerprint(key: &TokenKey) -> String {
    key[..6].iter().fold(String::with_capacity(12), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cached {
    Valid(TokenInfo),
    Invalid(String),
}

struct Entry {
    seq: u64,
    until: Instant,
    value: Cached,
}

pub(crate) struct TokenCache {
    capacity: usize,
    entries: HashMap<TokenKey, Entry>,
    /// Insertion order, oldest first, for eviction when full.
    order: BTreeMap<u64, TokenKey>,
    next_seq: u64,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    pub(crate) fn get(&mut self, key: &TokenKey, now: Instant) -> Option<Cached> {
        let entry = self.entries.get(key)?;
        if now < entry.until {
            return Some(entry.value.clone());
        }
        self.remove(key);
        None
    }

    /// Stores `value` for `ttl`; a zero TTL or capacity stores nothing.
    pub(crate) fn insert(&mut self, key: TokenKey, value: Cached, ttl: Duration, now: Instant) {
        if ttl.is_zero() || self.capacity == 0 {
            return;
        }
        self.remove(&key);
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key);
        self.entries.insert(
            key,
            Entry {
                seq,
                until: now + ttl,
                value,
            },
        );
    }

    pub(crate) fn remove(&mut self, key: &TokenKey) {
        if let Some(old) = self.entries.remove(key) {
            self.order.remove(&old.seq);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(msg: &str) -> Cached {
        Cached::Invalid(msg.to_owned())
    }

    #[test]
    fn keys_are_digests_not_tokens() {
        let k = token_key("abc");
        // SHA-256("abc") begins ba7816bf8f01.
        assert_eq!(fingerprint(&k), "ba7816bf8f01");
        assert_ne!(token_key("abd"), k);
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let mut c = TokenCache::new(10);
        let t0 = Instant::now();
        c.insert(token_key("a"), invalid("a"), Duration::from_secs(5), t0);
        assert_eq!(
            c.get(&token_key("a"), t0 + Duration::from_secs(4)),
            Some(invalid("a"))
        );
        assert_eq!(c.get(&token_key("a"), t0 + Duration::from_secs(5)), None);
        assert_eq!(c.len(), 0, "an expired entry is dropped when seen");
    }

    #[test]
    fn oldest_entry_is_evicted_when_full() {
        let mut c = TokenCache::new(2);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        c.insert(token_key("a"), invalid("a"), ttl, t0);
        c.insert(token_key("b"), invalid("b"), ttl, t0);
        // Re-inserting "a" makes "b" the oldest.
        c.insert(token_key("a"), invalid("a2"), ttl, t0);
        c.insert(token_key("c"), invalid("c"), ttl, t0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&token_key("b"), t0), None);
        assert_eq!(c.get(&token_key("a"), t0), Some(invalid("a2")));
        assert_eq!(c.get(&token_key("c"), t0), Some(invalid("c")));
    }

    #[test]
    fn zero_ttl_or_capacity_stores_nothing() {
        let t0 = Instant::now();
        let mut c = TokenCache::new(0);
        c.insert(token_key("a"), invalid("a"), Duration::from_secs(5), t0);
        assert_eq!(c.len(), 0);
        let mut c = TokenCache::new(5);
        c.insert(token_key("a"), invalid("a"), Duration::ZERO, t0);
        assert_eq!(c.get(&token_key("a"), t0), None);
    }
}
