//! Who a connection is, and (in later modules) how it proves it and what it may do.
//!
//! Kafka's security model in three layers, each its own module:
//! - the transport: plaintext or TLS, per listener (`server`), with an mTLS client
//!   certificate giving a principal of its own;
//! - authentication: SASL (PLAIN, SCRAM-SHA-256/512) on SASL listeners, against the
//!   credentials in the store;
//! - authorization: ACLs checked by every handler against the request's [`Principal`].
//!
//! A connection that has not authenticated (a PLAINTEXT or SSL listener without a client
//! certificate) is `User:ANONYMOUS`, as in Kafka.

pub mod acl;
pub mod sasl;
pub mod x509;

use std::fmt;

/// A Kafka principal, `Type:name` (`User:alice`, `User:CN=client,O=Acme`). ACLs name
/// principals in this form; `User:*` in an ACL matches every user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    /// Kafka's principal type; always `User` for principals this broker builds.
    pub principal_type: String,
    pub name: String,
}

impl Principal {
    pub fn user(name: impl Into<String>) -> Principal {
        Principal {
            principal_type: "User".into(),
            name: name.into(),
        }
    }

    /// The principal of a connection that has not authenticated.
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    /// Parses `Type:name` (the name may itself contain `:`); `None` without a type.
    pub fn parse(s: &str) -> Option<Principal> {
        let (t, n) = s.split_once(':')?;
        if t.is_empty() || n.is_empty() {
            return None;
        }
        Some(Principal {
            principal_type: t.into(),
            name: n.into(),
        })
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_parse_and_print_as_kafka_does() {
        let p = Principal::parse("User:CN=client,O=Acme:x").unwrap();
        assert_eq!(p.principal_type, "User");
        assert_eq!(p.name, "CN=client,O=Acme:x");
        assert_eq!(p.to_string(), "User:CN=client,O=Acme:x");
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
        assert!(Principal::parse("alice").is_none());
        assert!(Principal::parse(":alice").is_none());
    }
}
