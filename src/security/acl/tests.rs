//! The authorizer's rules, case by case (after Kafka's `AuthorizerTest` /
//! `StandardAuthorizerTest`).

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::config::AuthConfig;

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));
const OTHER_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2));

fn acl(
    rt: ResourceType,
    pt: PatternType,
    name: &str,
    principal: &str,
    host: &str,
    op: Operation,
    perm: Permission,
) -> AclBinding {
    AclBinding {
        resource_type: rt,
        pattern_type: pt,
        name: name.into(),
        principal: principal.into(),
        host: host.into(),
        operation: op,
        permission: perm,
    }
}

fn topic_acl(name: &str, principal: &str, op: Operation, perm: Permission) -> AclBinding {
    acl(
        ResourceType::Topic,
        PatternType::Literal,
        name,
        principal,
        "*",
        op,
        perm,
    )
}

fn authorizer(acls: Vec<AclBinding>) -> Authorizer {
    authorizer_with(acls, |_| {})
}

fn authorizer_with(acls: Vec<AclBinding>, adjust: impl FnOnce(&mut AuthConfig)) -> Authorizer {
    let mut cfg = AuthConfig {
        authorizer: true,
        super_users: vec!["User:admin".into()],
        allow_everyone_if_no_acl_found: false,
    };
    adjust(&mut cfg);
    Authorizer::new(&cfg, None, acls)
}

fn alice() -> Principal {
    Principal::user("alice")
}

fn bob() -> Principal {
    Principal::user("bob")
}

fn can(a: &Authorizer, p: &Principal, op: Operation, topic: &str) -> bool {
    a.authorize(p, HOST, op, ResourceType::Topic, topic)
}

#[test]
fn disabled_authorizer_allows_everything() {
    let a = authorizer_with(
        vec![topic_acl("t", "User:*", Operation::All, Permission::Deny)],
        |c| c.authorizer = false,
    );
    assert!(!a.enabled());
    assert!(can(&a, &alice(), Operation::Write, "t"));
}

#[test]
fn no_acl_denies_unless_allow_everyone_if_no_acl_found() {
    let a = authorizer(vec![]);
    assert!(!can(&a, &alice(), Operation::Read, "t"));
    let a = authorizer_with(vec![], |c| c.allow_everyone_if_no_acl_found = true);
    assert!(can(&a, &alice(), Operation::Read, "t"));
    // An ACL on the resource for someone else means the rule no longer applies.
    let a = authorizer_with(
        vec![topic_acl(
            "t",
            "User:bob",
            Operation::Read,
            Permission::Allow,
        )],
        |c| c.allow_everyone_if_no_acl_found = true,
    );
    assert!(!can(&a, &alice(), Operation::Read, "t"));
    assert!(can(&a, &bob(), Operation::Read, "t"));
    assert!(can(&a, &alice(), Operation::Read, "other"));
}

#[test]
fn super_users_are_allowed_everything_even_against_deny() {
    let a = authorizer(vec![topic_acl(
        "t",
        "User:*",
        Operation::All,
        Permission::Deny,
    )]);
    assert!(can(&a, &Principal::user("admin"), Operation::Delete, "t"));
    assert!(a.authorize(
        &Principal::user("admin"),
        HOST,
        Operation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER_NAME
    ));
    assert!(!can(&a, &alice(), Operation::Read, "t"));
}

#[test]
fn deny_beats_allow() {
    let a = authorizer(vec![
        topic_acl("t", "User:alice", Operation::Read, Permission::Allow),
        topic_acl("t", "User:alice", Operation::Read, Permission::Deny),
    ]);
    assert!(!can(&a, &alice(), Operation::Read, "t"));
    // A wildcard DENY beats a literal ALLOW; a DENY of ALL denies every operation.
    let a = authorizer(vec![
        topic_acl("t", "User:alice", Operation::All, Permission::Allow),
        topic_acl("*", "User:*", Operation::Write, Permission::Deny),
    ]);
    assert!(can(&a, &alice(), Operation::Read, "t"));
    assert!(!can(&a, &alice(), Operation::Write, "t"));
    let a = authorizer(vec![
        topic_acl("t", "User:alice", Operation::Read, Permission::Allow),
        acl(
            ResourceType::Topic,
            PatternType::Prefixed,
            "t",
            "User:alice",
            "*",
            Operation::All,
            Permission::Deny,
        ),
    ]);
    assert!(!can(&a, &alice(), Operation::Read, "t"));
}

#[test]
fn deny_does_not_imply_other_operations() {
    // A DENY of DESCRIBE does not deny READ (implications apply to ALLOW only).
    let a = authorizer(vec![
        topic_acl("t", "User:alice", Operation::Read, Permission::Allow),
        topic_acl("t", "User:alice", Operation::Describe, Permission::Deny),
    ]);
    assert!(can(&a, &alice(), Operation::Read, "t"));
    assert!(!can(&a, &alice(), Operation::Describe, "t"));
}

#[test]
fn implied_operations() {
    for op in [
        Operation::Read,
        Operation::Write,
        Operation::Delete,
        Operation::Alter,
    ] {
        let a = authorizer(vec![topic_acl("t", "User:alice", op, Permission::Allow)]);
        assert!(can(&a, &alice(), Operation::Describe, "t"), "{op:?}");
        assert!(!can(&a, &alice(), Operation::Create, "t"), "{op:?}");
    }
    let a = authorizer(vec![topic_acl(
        "t",
        "User:alice",
        Operation::AlterConfigs,
        Permission::Allow,
    )]);
    assert!(can(&a, &alice(), Operation::DescribeConfigs, "t"));
    assert!(!can(&a, &alice(), Operation::Describe, "t"));
    let a = authorizer(vec![topic_acl(
        "t",
        "User:alice",
        Operation::All,
        Permission::Allow,
    )]);
    for op in ResourceType::Topic.operations() {
        assert!(can(&a, &alice(), *op, "t"), "{op:?}");
    }
    // DESCRIBE implies nothing.
    let a = authorizer(vec![topic_acl(
        "t",
        "User:alice",
        Operation::Describe,
        Permission::Allow,
    )]);
    assert!(!can(&a, &alice(), Operation::Read, "t"));
}

#[test]
fn wildcard_resource_and_wildcard_principal() {
    let a = authorizer(vec![topic_acl(
        "*",
        "User:alice",
        Operation::Read,
        Permission::Allow,
    )]);
    assert!(can(&a, &alice(), Operation::Read, "anything"));
    assert!(!can(&a, &bob(), Operation::Read, "anything"));
    let a = authorizer(vec![topic_acl(
        "t",
        "User:*",
        Operation::Read,
        Permission::Allow,
    )]);
    assert!(can(&a, &bob(), Operation::Read, "t"));
    assert!(can(&a, &Principal::anonymous(), Operation::Read, "t"));
}

#[test]
fn prefixed_patterns() {
    let a = authorizer(vec![acl(
        ResourceType::Topic,
        PatternType::Prefixed,
        "orders-",
        "User:alice",
        "*",
        Operation::Write,
        Permission::Allow,
    )]);
    assert!(can(&a, &alice(), Operation::Write, "orders-eu"));
    assert!(can(&a, &alice(), Operation::Write, "orders-"));
    assert!(!can(&a, &alice(), Operation::Write, "orders"));
    assert!(!can(&a, &alice(), Operation::Write, "xorders-eu"));
    // Multi-byte names: prefixes are cut at character boundaries.
    let a = authorizer(vec![acl(
        ResourceType::Group,
        PatternType::Prefixed,
        "é",
        "User:alice",
        "*",
        Operation::Read,
        Permission::Allow,
    )]);
    assert!(a.authorize(&alice(), HOST, Operation::Read, ResourceType::Group, "été"));
}

#[test]
fn literal_star_is_only_a_wildcard_as_literal() {
    // A PREFIXED "*" names topics starting with '*', not every topic.
    let a = authorizer(vec![acl(
        ResourceType::Topic,
        PatternType::Prefixed,
        "*",
        "User:alice",
        "*",
        Operation::Read,
        Permission::Allow,
    )]);
    assert!(!can(&a, &alice(), Operation::Read, "t"));
}

#[test]
fn hosts() {
    let a = authorizer(vec![acl(
        ResourceType::Topic,
        PatternType::Literal,
        "t",
        "User:alice",
        "192.168.1.1",
        Operation::Read,
        Permission::Allow,
    )]);
    assert!(a.authorize(&alice(), HOST, Operation::Read, ResourceType::Topic, "t"));
    assert!(!a.authorize(
        &alice(),
        OTHER_HOST,
        Operation::Read,
        ResourceType::Topic,
        "t"
    ));
    let a = authorizer(vec![
        topic_acl("t", "User:alice", Operation::Read, Permission::Allow),
        acl(
            ResourceType::Topic,
            PatternType::Literal,
            "t",
            "User:alice",
            "192.168.1.2",
            Operation::Read,
            Permission::Deny,
        ),
    ]);
    assert!(a.authorize(&alice(), HOST, Operation::Read, ResourceType::Topic, "t"));
    assert!(!a.authorize(
        &alice(),
        OTHER_HOST,
        Operation::Read,
        ResourceType::Topic,
        "t"
    ));
}

#[test]
fn resource_types_are_separate() {
    let a = authorizer(vec![topic_acl(
        "x",
        "User:alice",
        Operation::Read,
        Permission::Allow,
    )]);
    assert!(!a.authorize(&alice(), HOST, Operation::Read, ResourceType::Group, "x"));
}

#[test]
fn authorized_operations_bits() {
    let a = authorizer(vec![topic_acl(
        "t",
        "User:alice",
        Operation::Read,
        Permission::Allow,
    )]);
    let bits = a.authorized_operations(&alice(), HOST, ResourceType::Topic, "t");
    assert_eq!(bits, (1 << 3) | (1 << 8), "READ and the implied DESCRIBE");
    assert_eq!(
        a.authorized_operations(&bob(), HOST, ResourceType::Topic, "t"),
        0
    );
}

#[test]
fn authorize_any_follows_authorize_by_resource_type() {
    let w = Operation::Write;
    let t = ResourceType::Topic;
    let a = authorizer(vec![]);
    assert!(!a.authorize_any(&alice(), HOST, w, t));
    let a = authorizer(vec![topic_acl("x", "User:alice", w, Permission::Allow)]);
    assert!(a.authorize_any(&alice(), HOST, w, t));
    assert!(!a.authorize_any(&bob(), HOST, w, t));
    // Denied by a wildcard DENY, or by a DENY prefix covering the only ALLOW.
    let a = authorizer(vec![
        topic_acl("x", "User:alice", w, Permission::Allow),
        topic_acl("*", "User:alice", w, Permission::Deny),
    ]);
    assert!(!a.authorize_any(&alice(), HOST, w, t));
    let a = authorizer(vec![
        topic_acl("x1", "User:alice", w, Permission::Allow),
        acl(
            t,
            PatternType::Prefixed,
            "x",
            "User:*",
            "*",
            w,
            Permission::Deny,
        ),
    ]);
    assert!(!a.authorize_any(&alice(), HOST, w, t));
    let a = authorizer_with(vec![], |c| c.allow_everyone_if_no_acl_found = true);
    assert!(a.authorize_any(&alice(), HOST, w, t));
}

#[test]
fn filters_match_as_kafka() {
    let lit = topic_acl("orders", "User:alice", Operation::Read, Permission::Allow);
    let star = topic_acl("*", "User:bob", Operation::Write, Permission::Deny);
    let pre = acl(
        ResourceType::Topic,
        PatternType::Prefixed,
        "ord",
        "User:alice",
        "*",
        Operation::Read,
        Permission::Allow,
    );
    let f =
        |pt: i8, name: Option<&str>| AclFilter::from_wire(2, name, pt, None, None, 1, 1).unwrap();
    // ANY with a name: exact names only.
    let any = f(1, Some("orders"));
    assert!(any.matches(&lit) && !any.matches(&star) && !any.matches(&pre));
    // MATCH: every ACL that applies to the resource.
    let m = f(2, Some("orders"));
    assert!(m.matches(&lit) && m.matches(&star) && m.matches(&pre));
    // LITERAL / PREFIXED: that type and that name.
    assert!(f(3, Some("orders")).matches(&lit) && !f(3, Some("orders")).matches(&pre));
    assert!(f(4, Some("ord")).matches(&pre) && !f(4, Some("orders")).matches(&pre));
    // Null name: everything of the type.
    assert!(f(1, None).matches(&pre) && f(2, None).matches(&star));
    let by_principal = AclFilter::from_wire(1, None, 1, Some("User:bob"), None, 1, 1).unwrap();
    assert!(by_principal.matches(&star) && !by_principal.matches(&lit));
    let by_op = AclFilter::from_wire(1, None, 1, None, Some("*"), 4, 2).unwrap();
    assert!(by_op.matches(&star) && !by_op.matches(&lit));
    // Unknown codes are refused.
    assert!(AclFilter::from_wire(0, None, 1, None, None, 1, 1).is_err());
    assert!(AclFilter::from_wire(1, None, 0, None, None, 1, 1).is_err());
    assert!(AclFilter::from_wire(1, None, 1, None, None, 0, 1).is_err());
    assert!(AclFilter::from_wire(1, None, 1, None, None, 1, 0).is_err());
}

#[test]
fn new_acls_are_validated() {
    let ok = |rt, name: &str, pt, p: &str, op, perm| {
        AclBinding::from_wire(rt, name, pt, p, "*", op, perm).is_ok()
    };
    assert!(ok(2, "t", 3, "User:alice", 3, 3));
    assert!(ok(4, "kafka-cluster", 3, "User:alice", 7, 3));
    assert!(!ok(4, "other", 3, "User:alice", 7, 3), "cluster name");
    assert!(!ok(1, "t", 3, "User:alice", 3, 3), "ANY resource type");
    assert!(!ok(2, "t", 1, "User:alice", 3, 3), "ANY pattern");
    assert!(!ok(2, "t", 2, "User:alice", 3, 3), "MATCH pattern");
    assert!(!ok(2, "t", 3, "User:alice", 1, 3), "ANY operation");
    assert!(!ok(2, "t", 3, "User:alice", 3, 1), "ANY permission");
    assert!(!ok(2, "", 3, "User:alice", 3, 3), "empty name");
    assert!(!ok(2, "t", 3, "alice", 3, 3), "principal without type");
}

#[test]
fn create_delete_and_store_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(crate::store::Store::open(dir.path()).unwrap());
    let cfg = AuthConfig {
        authorizer: true,
        ..AuthConfig::default()
    };
    let a = Authorizer::open(&cfg, store.clone()).unwrap();
    let x = topic_acl("t", "User:alice", Operation::Read, Permission::Allow);
    let y = acl(
        ResourceType::Group,
        PatternType::Prefixed,
        "g-é",
        "User:CN=x,O=y",
        "10.0.0.1",
        Operation::Describe,
        Permission::Deny,
    );
    a.create(&[x.clone(), y.clone(), x.clone()]).unwrap();
    assert_eq!(a.len(), 2);
    assert!(can(&a, &alice(), Operation::Read, "t"));
    let b = Authorizer::open(&cfg, store.clone()).unwrap();
    assert_eq!(b.describe(&AclFilter::any()), a.describe(&AclFilter::any()));
    let gone = b
        .delete(&[
            AclFilter::from_wire(3, None, 1, None, None, 1, 1).unwrap(),
            AclFilter::from_wire(3, None, 1, None, None, 1, 1).unwrap(),
        ])
        .unwrap();
    assert_eq!(gone, vec![vec![y.clone()], vec![y]]);
    assert!(can(&b, &alice(), Operation::Read, "t"));
    let c = Authorizer::open(&cfg, store).unwrap();
    assert_eq!(c.describe(&AclFilter::any()), vec![x]);
}

#[test]
fn damaged_keys_fail_the_load() {
    assert!(store::decode(b"").is_err());
    assert!(store::decode(&[2, 3, 3, 3, 0, 5, b'a']).is_err());
    assert!(store::decode(&[9, 3, 3, 3, 0, 0, 0, 0, 0, 0]).is_err());
}
