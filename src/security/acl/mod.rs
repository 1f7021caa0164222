//! Authorization: Kafka's ACL model and the StandardAuthorizer's decision rules.
//!
//! An ACL ([`AclBinding`]) says: *principal* from *host* is ALLOWed or DENYed *operation*
//! on the resources a *pattern* names (a resource type plus a LITERAL name, the LITERAL
//! wildcard `*`, or a PREFIXED name). The rules, as Kafka's `StandardAuthorizer`:
//! - the authorizer off (`auth.authorizer = false`): everything is allowed, and the ACL
//!   APIs answer SECURITY_DISABLED;
//! - a super user (`auth.super_users`) is allowed everything;
//! - the ACLs that apply to a resource are those whose pattern matches its name; if there
//!   is none at all (for any principal), the answer is `allow_everyone_if_no_acl_found`;
//! - among those, ACLs for this principal (or `User:*`) and this host (or `*`) decide:
//!   a DENY of the operation (or of ALL) wins over any ALLOW; otherwise an ALLOW of the
//!   operation, of ALL, or of an operation that implies it (READ, WRITE, DELETE and ALTER
//!   imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS) allows; otherwise denied.
//!
//! Concurrency and cost: the ACLs live in an in-memory [`index::Index`] behind an `RwLock`
//! (per resource type, a hash map of literal names and a map of prefixes), so a check is a
//! read lock and a few hash lookups — no allocation and no I/O. A disabled authorizer is a
//! single `bool` test before any of that. Writes (CreateAcls, DeleteAcls) are serialised by
//! a mutex, go to the store first ([`store`], key space `a`, synced), then to the index:
//! what a check sees is always durable.

mod index;
pub mod store;
mod types;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

use crate::store::{Store, StoreError};

use super::Principal;
use index::Index;
pub use types::{
    AclBinding, AclFilter, Operation, PatternFilter, PatternType, Permission, ResourceType,
    CLUSTER_NAME,
};

/// The broker's authorizer: the config's rules and the ACL index.
pub struct Authorizer {
    enabled: bool,
    super_users: HashSet<Principal>,
    allow_if_no_acl: bool,
    store: Option<Arc<Store>>,
    index: RwLock<Index>,
    /// Serialises writers so the store and the index change in the same order.
    writes: Mutex<()>,
}

impl Authorizer {
    /// An authorizer over `acls` (loaded from the store) that persists changes to `store`.
    /// Super users that do not parse as `Type:name` are ignored (config validation reports them).
    pub fn new(
        cfg: &crate::config::AuthConfig,
        store: Option<Arc<Store>>,
        acls: Vec<AclBinding>,
    ) -> Authorizer {
        let mut index = Index::default();
        for a in acls {
            index.insert(a);
        }
        Authorizer {
            enabled: cfg.authorizer,
            super_users: cfg
                .super_users
                .iter()
                .filter_map(|s| Principal::parse(s))
                .collect(),
            allow_if_no_acl: cfg.allow_everyone_if_no_acl_found,
            store,
            index: RwLock::new(index),
            writes: Mutex::new(()),
        }
    }

    /// Opens the authorizer with the ACLs stored in `store`.
    pub fn open(
        cfg: &crate::config::AuthConfig,
        store: Arc<Store>,
    ) -> Result<Authorizer, StoreError> {
        let acls = store::load(&store)?;
        Ok(Authorizer::new(cfg, Some(store), acls))
    }

    /// Whether ACLs are enforced at all.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `principal` connecting from `host` may do `op` on the named resource.
    #[inline]
    pub fn authorize(
        &self,
        principal: &Principal,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !self.enabled || self.super_users.contains(principal) {
            return true;
        }
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        index
            .decide(principal, host, op, resource_type, name)
            .unwrap_or(self.allow_if_no_acl)
    }

    /// Whether `principal` may do `op` on at least one resource of this type: some ALLOW
    /// ACL for the principal could apply and no DENY covers everything (Kafka's
    /// `authorizeByResourceType`, used for idempotent producers without IDEMPOTENT_WRITE).
    pub fn authorize_any(
        &self,
        principal: &Principal,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if !self.enabled || self.super_users.contains(principal) {
            return true;
        }
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        index.authorize_any(principal, host, op, resource_type, self.allow_if_no_acl)
    }

    /// The operations (Kafka's bit set, bit = operation code) `principal` may do on the
    /// resource, for the `authorized_operations` fields of Describe responses.
    pub fn authorized_operations(
        &self,
        principal: &Principal,
        host: IpAddr,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        resource_type
            .operations()
            .iter()
            .filter(|op| self.authorize(principal, host, **op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << (*op as i32)))
    }

    /// Adds ACLs (already validated); an ACL already present is not duplicated.
    pub fn create(&self, acls: &[AclBinding]) -> Result<(), StoreError> {
        let _w = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = &self.store {
            store::put(s, acls)?;
        }
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        for a in acls {
            index.insert(a.clone());
        }
        Ok(())
    }

    /// Every ACL matching `filter`, in a stable order.
    pub fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        index.all().filter(|a| filter.matches(a)).cloned().collect()
    }

    /// Deletes the ACLs matching each filter; returns, per filter, what it deleted (an ACL
    /// matched by several filters of one request is reported by each, as Kafka does).
    pub fn delete(&self, filters: &[AclFilter]) -> Result<Vec<Vec<AclBinding>>, StoreError> {
        let _w = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        let matched: Vec<Vec<AclBinding>> = {
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            filters
                .iter()
                .map(|f| index.all().filter(|a| f.matches(a)).cloned().collect())
                .collect()
        };
        let doomed: Vec<&AclBinding> = matched.iter().flatten().collect();
        if doomed.is_empty() {
            return Ok(matched);
        }
        if let Some(s) = &self.store {
            store::delete(s, &doomed)?;
        }
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        for a in doomed {
            index.remove(a);
        }
        drop(index);
        Ok(matched)
    }

    /// How many ACLs are stored.
    pub fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no ACL is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
