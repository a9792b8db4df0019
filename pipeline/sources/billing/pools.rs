//! Which pool a billing row or a GPU host belongs to, from the `[[pools]]` rules: resource
//! id globs, resource name globs, tag key = value-glob pairs, host globs. The first pool
//! whose rules match wins.

use glob::Pattern;
use serde_json::Value;

use crate::config::PoolConfig;

struct PoolRules {
    name: String,
    resources: Vec<Pattern>,
    names: Vec<Pattern>,
    tags: Vec<(String, Pattern)>,
    hosts: Vec<Pattern>,
}

/// The compiled `[[pools]]` rules.
pub struct PoolMatcher {
    pools: Vec<PoolRules>,
}

fn patterns(list: &[String]) -> Vec<Pattern> {
    list.iter().filter_map(|p| Pattern::new(p).ok()).collect()
}

impl PoolMatcher {
    /// Compiles the rules (checked valid at config load).
    pub fn new(pools: &[PoolConfig]) -> Self {
        PoolMatcher {
            pools: pools
                .iter()
                .map(|p| PoolRules {
                    name: p.name.clone(),
                    resources: patterns(&p.resources),
                    names: patterns(&p.names),
                    tags: p
                        .tags
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), Pattern::new(v).ok()?)))
                        .collect(),
                    hosts: patterns(&p.hosts),
                })
                .collect(),
        }
    }

    /// The pool of a billing row.
    pub fn pool_for(
        &self,
        resource_id: Option<&str>,
        resource_name: Option<&str>,
        tags: &Value,
    ) -> Option<&str> {
        let matches = |patterns: &[Pattern], text: Option<&str>| {
            text.is_some_and(|t| patterns.iter().any(|p| p.matches(t)))
        };
        self.pools
            .iter()
            .find(|pool| {
                matches(&pool.resources, resource_id)
                    || matches(&pool.names, resource_name)
                    || (!pool.tags.is_empty()
                        && pool.tags.iter().all(|(key, pattern)| {
                            tags.get(key)
                                .and_then(|v| {
                                    v.as_str()
                                        .map(str::to_string)
                                        .or_else(|| Some(v.to_string()))
                                })
                                .is_some_and(|v| pattern.matches(&v))
                        }))
            })
            .map(|pool| pool.name.as_str())
    }

    /// The pool of a GPU host.
    pub fn pool_for_host(&self, host: &str) -> Option<&str> {
        self.pools
            .iter()
            .find(|pool| pool.hosts.iter().any(|p| p.matches(host)))
            .map(|pool| pool.name.as_str())
    }
}
