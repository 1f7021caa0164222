//! The principal of an mTLS client: `User:` and the subject of its certificate, written as
//! Kafka writes it.
//!
//! Kafka's default `ssl.principal.mapping.rules` (`DEFAULT`) takes
//! `X500Principal.getName()`, the RFC 2253 form: the relative distinguished names in reverse
//! order of the certificate's encoding (so the most specific, usually `CN`, comes first),
//! separated by `,` without spaces; the attributes of one multi-valued RDN joined by `+`;
//! the keywords CN, C, L, ST, O, OU, STREET, DC and UID, and any other attribute as its
//! dotted OID with `#` and the hex of its DER encoding (as Java does for emailAddress);
//! `,` `+` `"` `\` `<` `>` `;` escaped with `\`, as are a leading `#` or space and a trailing
//! space. ACLs name mTLS clients by this string (`User:CN=client,OU=eng,O=Acme`). A
//! certificate with an empty subject gives no principal (the connection stays anonymous).
//!
//! The subject is read with a small DER reader of our own rather than a full X.509 parser: the
//! certificate has already been verified by rustls (webpki), and only the subject's
//! attributes are needed. Every length is checked against the bytes that hold it.

use super::Principal;

/// The principal of a verified client certificate (DER); `None` if its subject cannot be read
/// (rustls has verified the certificate, so this does not happen with one it accepted).
pub fn principal_from_certificate(der: &[u8]) -> Option<Principal> {
    subject_rfc2253(der)
        .filter(|s| !s.is_empty())
        .map(Principal::user)
}

/// The certificate's subject in RFC 2253 form, as Java's `X500Principal.getName()`.
pub fn subject_rfc2253(der: &[u8]) -> Option<String> {
    let (cert, _) = Tlv::read(der, SEQUENCE)?;
    let (tbs, _) = Tlv::read(cert.content, SEQUENCE)?;
    let mut rest = tbs.content;
    // [0] EXPLICIT version, optional.
    if rest.first() == Some(&0xa0) {
        rest = Tlv::read(rest, 0xa0)?.1;
    }
    // serialNumber, signature, issuer, validity: skipped.
    for tag in [INTEGER, SEQUENCE, SEQUENCE, SEQUENCE] {
        rest = Tlv::read(rest, tag)?.1;
    }
    let (subject, _) = Tlv::read(rest, SEQUENCE)?;
    let mut rdns = Vec::new();
    let mut names = subject.content;
    while !names.is_empty() {
        let (rdn, next) = Tlv::read(names, SET)?;
        names = next;
        let mut attributes = Vec::new();
        let mut atvs = rdn.content;
        while !atvs.is_empty() {
            let (atv, next) = Tlv::read(atvs, SEQUENCE)?;
            atvs = next;
            let (oid, value) = Tlv::read(atv.content, OID)?;
            let (value_tlv, end) = Tlv::any(value)?;
            if !end.is_empty() {
                return None;
            }
            attributes.push(attribute(&oid_string(oid.content)?, &value_tlv));
        }
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const UTF8_STRING: u8 = 0x0c;
const NUMERIC_STRING: u8 = 0x12;
const PRINTABLE_STRING: u8 = 0x13;
const T61_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const BMP_STRING: u8 = 0x1e;

/// One DER tag-length-value with a single-byte tag.
struct Tlv<'a> {
    tag: u8,
    /// The whole encoding (tag, length, content).
    raw: &'a [u8],
    content: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The TLV at the start of `input` and what follows it.
    fn any(input: &'a [u8]) -> Option<(Tlv<'a>, &'a [u8])> {
        let (&tag, after_tag) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // multi-byte tags do not occur in names
        }
        let (&first, mut after_len) = after_tag.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return None;
            }
            let (bytes, rest) = after_len.split_at(n);
            after_len = rest;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if after_len.len() < len {
            return None;
        }
        let header = input.len() - after_len.len();
        let (content, rest) = after_len.split_at(len);
        Some((
            Tlv {
                tag,
                raw: &input[..header + len],
                content,
            },
            rest,
        ))
    }

    /// [`any`](Self::any), if the tag is `tag`.
    fn read(input: &'a [u8], tag: u8) -> Option<(Tlv<'a>, &'a [u8])> {
        Tlv::any(input).filter(|(t, _)| t.tag == tag)
    }
}

/// An OBJECT IDENTIFIER's content in dotted form.
fn oid_string(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, &b) in content.iter().enumerate() {
        value = value.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        if b & 0x80 != 0 {
            if i + 1 == content.len() {
                return None;
            }
            continue;
        }
        if arcs.is_empty() {
            let first = (value / 40).min(2);
            arcs.push(first);
            arcs.push(value - first * 40);
        } else {
            arcs.push(value);
        }
        value = 0;
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// RFC 2253's keywords (and Java's), by OID.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn attribute(oid: &str, value: &Tlv<'_>) -> String {
    match (keyword(oid), string_value(value)) {
        (Some(k), Some(v)) => format!("{k}={}", escape(&v)),
        _ => {
            let hex: String = value.raw.iter().map(|b| format!("{b:02x}")).collect();
            format!("{oid}=#{hex}")
        }
    }
}

/// The value of a string attribute (the directory string types certificates use).
fn string_value(v: &Tlv<'_>) -> Option<String> {
    match v.tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING | NUMERIC_STRING => {
            std::str::from_utf8(v.content).ok().map(str::to_string)
        }
        // TeletexString in certificates is in practice Latin-1.
        T61_STRING => Some(v.content.iter().map(|&b| char::from(b)).collect()),
        BMP_STRING => {
            if !v.content.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = v
                .content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

    fn principal_of(dn: &[(DnType, &str)]) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        // rcgen starts with CN=rcgen self signed cert.
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params
                .distinguished_name
                .push(t.clone(), DnValue::Utf8String((*v).into()));
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        principal_from_certificate(cert.der()).unwrap().to_string()
    }

    #[test]
    fn the_subject_reads_most_specific_first_as_kafka_prints_it() {
        // Encoded O, OU, CN (root first, as certificates are): printed CN, OU, O.
        assert_eq!(
            principal_of(&[
                (DnType::OrganizationName, "Acme"),
                (DnType::OrganizationalUnitName, "eng"),
                (DnType::CommonName, "client"),
            ]),
            "User:CN=client,OU=eng,O=Acme"
        );
        assert_eq!(
            principal_of(&[
                (DnType::CountryName, "DE"),
                (DnType::StateOrProvinceName, "Berlin"),
                (DnType::LocalityName, "Berlin"),
                (DnType::CommonName, "c"),
            ]),
            "User:CN=c,L=Berlin,ST=Berlin,C=DE"
        );
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            principal_of(&[(DnType::CommonName, "Smith, John+1 <a;b> \"q\" \\")]),
            "User:CN=Smith\\, John\\+1 \\<a\\;b\\> \\\"q\\\" \\\\"
        );
        assert_eq!(
            principal_of(&[(DnType::CommonName, "#lead trail ")]),
            "User:CN=\\#lead trail\\ "
        );
        assert_eq!(principal_of(&[(DnType::CommonName, " x")]), "User:CN=\\ x");
    }

    #[test]
    fn attributes_without_a_keyword_are_hex() {
        // emailAddress (1.2.840.113549.1.9.1) as IA5String "a@b": Java prints the DER.
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, DnValue::Utf8String("c".into()));
        params.distinguished_name.push(
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String("a@b".try_into().unwrap()),
        );
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            principal_from_certificate(cert.der()).unwrap().to_string(),
            "User:1.2.840.113549.1.9.1=#1603614062,CN=c"
        );
    }

    #[test]
    fn garbage_is_no_principal() {
        assert!(principal_from_certificate(b"\x30\x03\x02\x01").is_none());
        assert!(principal_from_certificate(&[]).is_none());
        // Lengths beyond the input, and every truncation of a real certificate.
        assert!(principal_from_certificate(b"\x30\x84\xff\xff\xff\xff").is_none());
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        for n in 0..der.len() {
            assert!(principal_from_certificate(&der[..n]).is_none(), "{n}");
        }
        assert!(principal_from_certificate(&der).is_some());
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(oid_string(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).unwrap(),
            "1.2.840.113549.1.9.1"
        );
        assert!(oid_string(&[0x86]).is_none());
        assert!(oid_string(&[]).is_none());
    }
}
