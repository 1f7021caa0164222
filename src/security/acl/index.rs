//! The in-memory ACL index every check reads.
//!
//! Per resource type: LITERAL names (the wildcard `*` is one of them) in a hash map, and
//! PREFIXED names in another, probed once per prefix of the resource name (a name of n
//! characters costs at most n lookups, none when there are no prefixed ACLs of that type).
//! Entries keep the principal and host pre-parsed so a check compares values and allocates
//! nothing. A `BTreeSet` of the bindings serves Describe/Delete filters in a stable order.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::types::{
    AclBinding, Operation, PatternType, Permission, ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};
use crate::security::Principal;

/// Who an entry applies to.
#[derive(Debug)]
enum PrincipalMatch {
    Everyone,
    One(Principal),
    /// Does not parse: matches nobody (creation validates, so only from a damaged store).
    Nobody,
}

/// Where from.
#[derive(Debug)]
enum HostMatch {
    Any,
    Ip(IpAddr),
    /// Not an IP address (a host name): Kafka compares the client's address, so never.
    Never,
}

#[derive(Debug)]
struct Entry {
    binding: AclBinding,
    principal: PrincipalMatch,
    host: HostMatch,
}

impl Entry {
    fn new(binding: AclBinding) -> Entry {
        let principal = if binding.principal == WILDCARD_PRINCIPAL {
            PrincipalMatch::Everyone
        } else {
            Principal::parse(&binding.principal).map_or(PrincipalMatch::Nobody, PrincipalMatch::One)
        };
        let host = if binding.host == "*" {
            HostMatch::Any
        } else {
            binding
                .host
                .parse::<IpAddr>()
                .map_or(HostMatch::Never, HostMatch::Ip)
        };
        Entry {
            binding,
            principal,
            host,
        }
    }

    fn applies_to(&self, principal: &Principal, host: IpAddr) -> bool {
        let who = match &self.principal {
            PrincipalMatch::Everyone => true,
            PrincipalMatch::One(p) => p == principal,
            PrincipalMatch::Nobody => false,
        };
        who && match self.host {
            HostMatch::Any => true,
            HostMatch::Ip(ip) => ip == host,
            HostMatch::Never => false,
        }
    }
}

#[derive(Debug, Default)]
struct TypeIndex {
    literal: HashMap<String, Vec<Entry>>,
    prefixed: HashMap<String, Vec<Entry>>,
}

impl TypeIndex {
    fn map(&mut self, t: PatternType) -> &mut HashMap<String, Vec<Entry>> {
        match t {
            PatternType::Literal => &mut self.literal,
            PatternType::Prefixed => &mut self.prefixed,
        }
    }

    /// Every entry whose pattern applies to `name`.
    fn applicable<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let exact = self.literal.get(name).into_iter().flatten();
        let wildcard = (name != WILDCARD)
            .then(|| self.literal.get(WILDCARD))
            .flatten()
            .into_iter()
            .flatten();
        let prefixed = (!self.prefixed.is_empty())
            .then(|| {
                name.char_indices()
                    .filter_map(move |(i, c)| self.prefixed.get(&name[..i + c.len_utf8()]))
                    .flatten()
            })
            .into_iter()
            .flatten();
        exact.chain(wildcard).chain(prefixed)
    }
}

/// All ACLs, indexed for checks.
#[derive(Debug, Default)]
pub struct Index {
    by_type: HashMap<ResourceType, TypeIndex>,
    all: BTreeSet<AclBinding>,
}

impl Index {
    pub fn insert(&mut self, acl: AclBinding) {
        if !self.all.insert(acl.clone()) {
            return;
        }
        self.by_type
            .entry(acl.resource_type)
            .or_default()
            .map(acl.pattern_type)
            .entry(acl.name.clone())
            .or_default()
            .push(Entry::new(acl));
    }

    pub fn remove(&mut self, acl: &AclBinding) {
        if !self.all.remove(acl) {
            return;
        }
        let Some(t) = self.by_type.get_mut(&acl.resource_type) else {
            return;
        };
        let map = t.map(acl.pattern_type);
        if let Some(entries) = map.get_mut(&acl.name) {
            entries.retain(|e| e.binding != *acl);
            if entries.is_empty() {
                map.remove(&acl.name);
            }
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &AclBinding> {
        self.all.iter()
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// The ACLs' verdict: `Some(allowed)`, or `None` when no ACL applies to the resource
    /// (the caller then applies `allow_everyone_if_no_acl_found`).
    pub fn decide(
        &self,
        principal: &Principal,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Option<bool> {
        let t = self.by_type.get(&resource_type)?;
        let mut any = false;
        let mut allowed = false;
        for e in t.applicable(name) {
            any = true;
            if !e.applies_to(principal, host) {
                continue;
            }
            match e.binding.permission {
                Permission::Deny if e.binding.operation.denies(op) => return Some(false),
                Permission::Allow if e.binding.operation.allows(op) => allowed = true,
                _ => {}
            }
        }
        any.then_some(allowed)
    }

    /// Kafka's `authorizeByResourceType` over the ACLs: some ALLOW for the principal whose
    /// pattern no DENY of the principal fully covers.
    pub fn authorize_any(
        &self,
        principal: &Principal,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
        allow_if_no_acl: bool,
    ) -> bool {
        // As Kafka: the answer for an arbitrary resource first (no ACL at all, or a
        // wildcard ALLOW, may already decide).
        let probe = self.decide(principal, host, op, resource_type, "\u{0}probe");
        if probe.unwrap_or(allow_if_no_acl) {
            return true;
        }
        let Some(t) = self.by_type.get(&resource_type) else {
            return false;
        };
        let mine = |m: &'_ HashMap<String, Vec<Entry>>, p: Permission| -> Vec<String> {
            m.iter()
                .filter(|(_, es)| {
                    es.iter().any(|e| {
                        e.applies_to(principal, host)
                            && e.binding.permission == p
                            && match p {
                                Permission::Allow => e.binding.operation.allows(op),
                                Permission::Deny => e.binding.operation.denies(op),
                            }
                    })
                })
                .map(|(n, _)| n.clone())
                .collect()
        };
        let deny_literal = mine(&t.literal, Permission::Deny);
        if deny_literal.iter().any(|n| n == WILDCARD) {
            return false;
        }
        let deny_prefixed = mine(&t.prefixed, Permission::Deny);
        let covered = |name: &str| deny_prefixed.iter().any(|d| name.starts_with(d));
        mine(&t.literal, Permission::Allow)
            .iter()
            .any(|n| !deny_literal.contains(n) && !covered(n))
            || mine(&t.prefixed, Permission::Allow)
                .iter()
                .any(|n| !covered(n))
    }
}
