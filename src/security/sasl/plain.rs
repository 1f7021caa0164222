//! SASL PLAIN (RFC 4616) as Kafka's `PlainSaslServer` reads it: one message,
//! `authzid NUL authcid NUL password`, checked against the user's stored SCRAM credential
//! (see [`super::scram::ScramCredential::matches_password`]). Pure: the caller looks the
//! credential up.
//!
//! Kafka's messages, which reach the client: an empty user or password, an authorization
//! id other than the user, and a wrong password or unknown user (the same message for both,
//! so a client cannot tell which user names exist).

/// A parsed PLAIN message.
#[derive(Debug, PartialEq, Eq)]
pub struct PlainMessage<'a> {
    pub user: &'a str,
    pub password: &'a [u8],
}

/// Why a PLAIN message was refused: `Some(message)` for the client (Kafka's
/// `SaslAuthenticationException` messages), `None` for the generic one.
#[derive(Debug, PartialEq, Eq)]
pub struct PlainError {
    pub client_message: Option<&'static str>,
    pub reason: &'static str,
}

/// Kafka's answer to a wrong password or unknown user.
pub const INVALID_CREDENTIALS: &str = "Authentication failed: Invalid username or password";

/// Parses `authzid NUL authcid NUL password`.
pub fn parse(msg: &[u8]) -> Result<PlainMessage<'_>, PlainError> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError {
            client_message: None,
            reason: "malformed PLAIN message: expected 3 NUL-separated tokens",
        });
    };
    let Ok(user) = std::str::from_utf8(user) else {
        return Err(PlainError {
            client_message: None,
            reason: "PLAIN user name is not UTF-8",
        });
    };
    if user.is_empty() {
        return Err(PlainError {
            client_message: Some("Authentication failed: username not specified"),
            reason: "empty user name",
        });
    }
    if password.is_empty() {
        return Err(PlainError {
            client_message: Some("Authentication failed: password not specified"),
            reason: "empty password",
        });
    }
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return Err(PlainError {
            client_message: Some(
                "Authentication failed: Client requested an authorization id that is different from username",
            ),
            reason: "authorization id differs from the user name",
        });
    }
    Ok(PlainMessage { user, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc4616_messages() {
        assert_eq!(
            parse(b"\0alice\0pw").unwrap(),
            PlainMessage {
                user: "alice",
                password: b"pw"
            }
        );
        assert_eq!(parse(b"alice\0alice\0pw").unwrap().user, "alice");
        for bad in [
            &b"alice\0pw"[..],
            b"\0a\0b\0c",
            b"",
            b"\0\0pw",
            b"\0alice\0",
            b"bob\0alice\0pw",
            b"\0\xff\0pw",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse(b"bob\0alice\0pw").unwrap_err().client_message,
            Some("Authentication failed: Client requested an authorization id that is different from username")
        );
        assert_eq!(parse(b"x").unwrap_err().client_message, None);
    }
}
