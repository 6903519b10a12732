//! Quotas shared by every web replica: the counters live in Redis and one
//! Lua script checks and moves all of a request's counters atomically.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::quota::{
    QuotaCounter, QuotaDecision, QuotaError, Quotas, seconds_left, window_start,
};
use deadpool_redis::{Config as PoolConfig, Pool, Runtime};

/// Checks every counter; only if all have room, moves them all.
/// KEYS: the counters of this window. ARGV[1]: quantity; then per counter
/// its limit and its time to live. Returns the 1-based index of the counter
/// that refused, or 0.
const SCRIPT: &str = r"
local q = tonumber(ARGV[1])
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + q > tonumber(ARGV[2 * i]) then
    return i
  end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], q)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]))
end
return 0
";

pub struct RedisQuotas {
    pool: Pool,
    script: redis::Script,
    /// Key prefix; the `{…}` hash tag keeps one request's counters in one
    /// Redis Cluster slot, as multi-key scripts require.
    prefix: String,
}

impl RedisQuotas {
    pub fn new(url: &str, namespace: &str) -> Result<RedisQuotas, QuotaError> {
        let mut config = PoolConfig::from_url(url);
        config.pool = Some(deadpool_redis::PoolConfig {
            max_size: 32,
            timeouts: deadpool_redis::Timeouts {
                wait: Some(Duration::from_secs(2)),
                create: Some(Duration::from_secs(2)),
                recycle: Some(Duration::from_secs(2)),
            },
            ..Default::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| QuotaError(e.to_string()))?;
        Ok(RedisQuotas {
            pool,
            script: redis::Script::new(SCRIPT),
            prefix: format!("{{{namespace}}}:quota"),
        })
    }
}

#[async_trait]
impl Quotas for RedisQuotas {
    async fn check(
        &self,
        counters: &[QuotaCounter],
        quantity: u64,
        now: DateTime<Utc>,
    ) -> Result<QuotaDecision, QuotaError> {
        if counters.is_empty() {
            return Ok(QuotaDecision::Accepted);
        }
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| QuotaError(e.to_string()))?;
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(quantity);
        for c in counters {
            invocation.key(format!(
                "{}:{}:{}",
                self.prefix,
                c.name,
                window_start(now, c.window_secs)
            ));
            invocation.arg(c.limit).arg(c.window_secs + 60);
        }
        let refused: usize =
            tokio::time::timeout(Duration::from_secs(2), invocation.invoke_async(&mut *conn))
                .await
                .map_err(|_| QuotaError("timed out".into()))?
                .map_err(|e| QuotaError(e.to_string()))?;
        Ok(match refused.checked_sub(1).and_then(|i| counters.get(i)) {
            None => QuotaDecision::Accepted,
            Some(c) => QuotaDecision::Limited {
                scope: c.scope,
                retry_after_secs: seconds_left(now, c.window_secs),
            },
        })
    }
}
