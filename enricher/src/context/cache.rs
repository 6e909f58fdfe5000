//! The lookup cache every provider shares the shape of: an answer is kept
//! for `found_ttl`, a "nothing known" for the (shorter) `missing_ttl`, an
//! error never; concurrent askers for one key wait for one lookup.

use moka::Expiry;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct LookupCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    inner: moka::future::Cache<K, Option<V>>,
}

struct ByOutcome {
    found: Duration,
    missing: Duration,
}

impl<K, V> Expiry<K, Option<V>> for ByOutcome {
    fn expire_after_create(&self, _: &K, value: &Option<V>, _: Instant) -> Option<Duration> {
        Some(if value.is_some() {
            self.found
        } else {
            self.missing
        })
    }
}

impl<K, V> LookupCache<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(capacity: u64, found_ttl: Duration, missing_ttl: Duration) -> Self {
        LookupCache {
            inner: moka::future::Cache::builder()
                .max_capacity(capacity)
                .expire_after(ByOutcome {
                    found: found_ttl,
                    missing: missing_ttl,
                })
                .build(),
        }
    }

    /// The cached answer for `key`, or the answer of `lookup` (run once for
    /// all concurrent askers). Errors are returned to every waiter and not kept.
    pub async fn get<E, F>(&self, key: K, lookup: F) -> Result<Option<V>, E>
    where
        E: Clone + Send + Sync + 'static,
        F: Future<Output = Result<Option<V>, E>>,
    {
        self.inner
            .try_get_with(key, lookup)
            .await
            .map_err(|e: Arc<E>| (*e).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn collapses_concurrent_lookups_and_never_keeps_errors() {
        let cache: LookupCache<String, u32> =
            LookupCache::new(100, Duration::from_secs(60), Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get("k".to_string(), async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, String>(Some(7))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(Some(7)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one lookup for 20 askers");

        let err = cache
            .get("e".to_string(), async {
                Err::<Option<u32>, _>("boom".to_string())
            })
            .await;
        assert_eq!(err, Err("boom".into()));
        let ok = cache
            .get("e".to_string(), async { Ok::<_, String>(Some(1)) })
            .await;
        assert_eq!(ok, Ok(Some(1)), "the error was not cached");
    }

    #[tokio::test]
    async fn not_found_expires_sooner() {
        let cache: LookupCache<String, u32> =
            LookupCache::new(100, Duration::from_secs(3600), Duration::from_millis(30));
        assert_eq!(
            cache.get("m".into(), async { Ok::<_, ()>(None) }).await,
            Ok(None)
        );
        assert_eq!(
            cache.get("f".into(), async { Ok::<_, ()>(Some(1)) }).await,
            Ok(Some(1))
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        // moka's clock is real time; after 80 ms the miss is gone, the hit is not.
        assert_eq!(
            cache.get("m".into(), async { Ok::<_, ()>(Some(2)) }).await,
            Ok(Some(2))
        );
        assert_eq!(
            cache.get("f".into(), async { Ok::<_, ()>(Some(9)) }).await,
            Ok(Some(1))
        );
    }
}
