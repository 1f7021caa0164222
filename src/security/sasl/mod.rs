//! SASL mechanisms, pure: PLAIN ([`plain`]) and SCRAM-SHA-256/512 ([`scram`]). The
//! per-connection state machine that drives them over SaslHandshake/SaslAuthenticate lives
//! in `server::sasl_session`; the credentials in the store's `Users` key space.
//!
//! One credential serves every mechanism: a user has a SCRAM-SHA-256 and/or SCRAM-SHA-512
//! credential (from `runnel user add` or AlterUserScramCredentials), and a PLAIN login is
//! checked by recomputing the SCRAM salted password from the password with the stored salt
//! and iterations (PBKDF2) and comparing StoredKey in constant time. So PLAIN is checked
//! against a salted, iterated hash, never a stored password, and users created with
//! `kafka-configs` can use PLAIN too. (Kafka itself checks PLAIN against a JAAS file; this
//! is the one store both mechanisms share.)

pub mod plain;
pub mod scram;

use scram::ScramMechanism;

/// A SASL mechanism the broker implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    /// Every mechanism, for metric labels.
    pub const ALL: [Mechanism; 3] = [
        Mechanism::Plain,
        Mechanism::Scram(ScramMechanism::Sha256),
        Mechanism::Scram(ScramMechanism::Sha512),
    ];

    /// The SASL name (`PLAIN`, `SCRAM-SHA-512`), also the metric label.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_config_list() {
        for name in crate::config::SASL_MECHANISMS {
            assert_eq!(Mechanism::from_name(name).map(Mechanism::name), Some(name));
        }
        assert_eq!(Mechanism::from_name("GSSAPI"), None);
    }
}
