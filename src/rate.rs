//! The join rate limit of a node without Cloudflare's Rate Limiting binding (`make serve` on
//! workerd; docs/self-hosting.md): a token bucket per client address in the isolate's memory.
//! One workerd process runs one isolate per worker, so on one node this is the whole count.
//! Plain Rust: the time comes in.

/// The most addresses tracked at once: past it, full buckets (idle for a minute) go first, then
/// the longest idle one. An attacker with more addresses than this gets fresh buckets, which is
/// also what a new isolate would give them.
pub const MAX_ADDRESSES: usize = 4096;

/// Joins (and look-ups) per client address: `per_min` at once, refilled at `per_min` a minute.
#[derive(Debug)]
pub struct Limiter {
    per_min: u32,
    buckets: Vec<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    key: String,
    tokens: f64,
    last_ms: u64,
}

impl Limiter {
    pub fn new(per_min: u32) -> Self {
        Limiter {
            per_min,
            buckets: Vec::new(),
        }
    }

    /// Whether a request from `key` at `now_ms` is within the rate (and counts it if so).
    pub fn allow(&mut self, key: &str, now_ms: u64) -> bool {
        let burst = self.per_min as f64;
        let per_ms = burst / 60_000.0;
        let refill = |b: &mut Bucket| {
            b.tokens = (b.tokens + now_ms.saturating_sub(b.last_ms) as f64 * per_ms).min(burst);
            b.last_ms = b.last_ms.max(now_ms);
        };
        let i = match self.buckets.iter().position(|b| b.key == key) {
            Some(i) => i,
            None => {
                if self.buckets.len() >= MAX_ADDRESSES {
                    self.buckets.iter_mut().for_each(refill);
                    self.buckets.retain(|b| b.tokens < burst);
                    if self.buckets.len() >= MAX_ADDRESSES {
                        let oldest = (0..self.buckets.len())
                            .min_by_key(|&i| self.buckets[i].last_ms)
                            .expect("full, so not empty");
                        self.buckets.swap_remove(oldest);
                    }
                }
                self.buckets.push(Bucket {
                    key: key.to_owned(),
                    tokens: burst,
                    last_ms: now_ms,
                });
                self.buckets.len() - 1
            }
        };
        let bucket = &mut self.buckets[i];
        refill(bucket);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The client's address from the value of the trusted proxy's header (`CLIENT_ADDRESS_HEADER`,
/// e.g. `X-Forwarded-For`): its last entry, the one the proxy next to this server added (earlier
/// entries come from the client and prove nothing).
pub fn client_address(header: &str) -> &str {
    header.rsplit(',').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_the_refill() {
        let mut l = Limiter::new(3);
        assert!((0..3).all(|_| l.allow("a", 0)));
        assert!(!l.allow("a", 0));
        // Others are not affected.
        assert!(l.allow("b", 0));
        // A third of a minute gives one back.
        assert!(!l.allow("a", 19_000));
        assert!(l.allow("a", 20_000));
        assert!(!l.allow("a", 20_000));
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let mut l = Limiter::new(1);
        for i in 0..MAX_ADDRESSES * 2 {
            assert!(l.allow(&format!("a{i}"), i as u64));
        }
        assert!(l.buckets.len() <= MAX_ADDRESSES);
        // The most recent one is still held to its rate.
        let last = format!("a{}", MAX_ADDRESSES * 2 - 1);
        assert!(!l.allow(&last, (MAX_ADDRESSES * 2) as u64));
    }

    #[test]
    fn the_address_is_the_proxys_entry() {
        assert_eq!(client_address("203.0.113.7"), "203.0.113.7");
        assert_eq!(client_address("1.2.3.4, 203.0.113.7"), "203.0.113.7");
        assert_eq!(client_address(" 2001:db8::1 "), "2001:db8::1");
        assert_eq!(client_address(""), "");
    }
}
