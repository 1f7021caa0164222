//! The ACL vocabulary (Kafka's `ResourceType`, `PatternType`, `AclOperation`,
//! `AclPermissionType`, with their wire codes), ACL bindings and the filters of
//! DescribeAcls / DeleteAcls. No I/O: converting from wire codes validates as Kafka does.

use super::super::Principal;

/// The one name of the CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// The LITERAL name that matches every resource of its type.
pub const WILDCARD: &str = "*";

/// The principal that matches every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// A Kafka resource type (wire code = discriminant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum ResourceType {
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
    DelegationToken = 6,
    User = 7,
}

impl ResourceType {
    pub const ALL: [ResourceType; 6] = [
        ResourceType::Topic,
        ResourceType::Group,
        ResourceType::Cluster,
        ResourceType::TransactionalId,
        ResourceType::DelegationToken,
        ResourceType::User,
    ];

    pub fn from_code(code: i8) -> Option<ResourceType> {
        Self::ALL.into_iter().find(|t| *t as i8 == code)
    }

    /// The operations that apply to this type (Kafka's `AclEntry.supportedOperations`),
    /// the candidates of `authorized_operations`.
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
        }
    }
}

/// How an ACL's resource name applies (wire code = discriminant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum PatternType {
    /// The exact name, or every resource when the name is `*`.
    Literal = 3,
    /// Every resource whose name starts with the name.
    Prefixed = 4,
}

impl PatternType {
    pub fn from_code(code: i8) -> Option<PatternType> {
        match code {
            3 => Some(PatternType::Literal),
            4 => Some(PatternType::Prefixed),
            _ => None,
        }
    }
}

/// An ACL operation (wire code = discriminant; also its bit in `authorized_operations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum Operation {
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
    TwoPhaseCommit = 15,
}

impl Operation {
    pub fn from_code(code: i8) -> Option<Operation> {
        use Operation::*;
        [
            All,
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            CreateTokens,
            DescribeTokens,
            TwoPhaseCommit,
        ]
        .into_iter()
        .find(|o| *o as i8 == code)
    }

    /// Whether an ALLOW of `self` allows `requested`: ALL allows everything; READ, WRITE,
    /// DELETE and ALTER allow DESCRIBE; ALTER_CONFIGS allows DESCRIBE_CONFIGS.
    pub fn allows(self, requested: Operation) -> bool {
        use Operation::*;
        self == requested
            || self == All
            || (requested == Describe && matches!(self, Read | Write | Delete | Alter))
            || (requested == DescribeConfigs && self == AlterConfigs)
    }

    /// Whether a DENY of `self` denies `requested` (implications do not apply to DENY).
    pub fn denies(self, requested: Operation) -> bool {
        self == requested || self == Operation::All
    }
}

/// ALLOW or DENY (wire code = discriminant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum Permission {
    Deny = 2,
    Allow = 3,
}

impl Permission {
    pub fn from_code(code: i8) -> Option<Permission> {
        match code {
            2 => Some(Permission::Deny),
            3 => Some(Permission::Allow),
            _ => None,
        }
    }
}

/// One ACL: a resource pattern and an access entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub pattern_type: PatternType,
    pub name: String,
    /// `Type:name`, or `User:*` for everyone.
    pub principal: String,
    /// An IP address as the client's address prints, or `*` for every host.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBinding {
    /// Validates a CreateAcls entry as Kafka's controller does; the error is the message of
    /// an INVALID_REQUEST.
    pub fn from_wire(
        resource_type: i8,
        name: &str,
        pattern_type: i8,
        principal: &str,
        host: &str,
        operation: i8,
        permission: i8,
    ) -> Result<AclBinding, String> {
        let resource_type = ResourceType::from_code(resource_type)
            .ok_or_else(|| format!("invalid resource type {resource_type}"))?;
        let pattern_type = PatternType::from_code(pattern_type)
            .ok_or_else(|| format!("invalid pattern type {pattern_type}"))?;
        let operation = Operation::from_code(operation)
            .ok_or_else(|| format!("invalid operation {operation}"))?;
        let permission = Permission::from_code(permission)
            .ok_or_else(|| format!("invalid permission type {permission}"))?;
        if name.is_empty() {
            return Err("resource name should not be empty".into());
        }
        if resource_type == ResourceType::Cluster && name != CLUSTER_NAME {
            return Err(format!(
                "the only valid name for the CLUSTER resource is {CLUSTER_NAME}"
            ));
        }
        if Principal::parse(principal).is_none() {
            return Err(format!(
                "could not parse principal {principal:?}: expected Type:name"
            ));
        }
        if host.is_empty() {
            return Err("host should not be empty".into());
        }
        Ok(AclBinding {
            resource_type,
            pattern_type,
            name: name.into(),
            principal: principal.into(),
            host: host.into(),
            operation,
            permission,
        })
    }
}

/// Which pattern types a filter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// Any pattern type; a name must then be equal.
    Any,
    /// Every pattern that would apply to the named resource (LITERAL equal or `*`,
    /// PREFIXED a prefix of the name).
    Match,
    /// This pattern type; a name must be equal.
    Exact(PatternType),
}

/// A DescribeAcls / DeleteAcls filter: `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub pattern: PatternFilter,
    pub name: Option<String>,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

/// Kafka's `ANY` code (resource type, pattern type, operation, permission).
const ANY: i8 = 1;
/// Kafka's `MATCH` pattern type code.
const MATCH: i8 = 2;

impl AclFilter {
    /// Validates a wire filter; unknown codes are an INVALID_REQUEST with this message.
    pub fn from_wire(
        resource_type: i8,
        name: Option<&str>,
        pattern_type: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission: i8,
    ) -> Result<AclFilter, String> {
        let resource_type = match resource_type {
            ANY => None,
            c => Some(
                ResourceType::from_code(c)
                    .ok_or_else(|| format!("invalid resource type filter {c}"))?,
            ),
        };
        let pattern = match pattern_type {
            ANY => PatternFilter::Any,
            MATCH => PatternFilter::Match,
            c => PatternFilter::Exact(
                PatternType::from_code(c)
                    .ok_or_else(|| format!("invalid pattern type filter {c}"))?,
            ),
        };
        let operation = match operation {
            ANY => None,
            c => Some(Operation::from_code(c).ok_or_else(|| format!("invalid operation {c}"))?),
        };
        let permission = match permission {
            ANY => None,
            c => Some(
                Permission::from_code(c).ok_or_else(|| format!("invalid permission type {c}"))?,
            ),
        };
        Ok(AclFilter {
            resource_type,
            pattern,
            name: name.map(Into::into),
            principal: principal.map(Into::into),
            host: host.map(Into::into),
            operation,
            permission,
        })
    }

    /// A filter matching every ACL.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: None,
            pattern: PatternFilter::Any,
            name: None,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        }
    }

    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.resource_type.is_none_or(|t| t == acl.resource_type)
            && self.matches_pattern(acl)
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && self.operation.is_none_or(|o| o == acl.operation)
            && self.permission.is_none_or(|p| p == acl.permission)
    }

    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if let PatternFilter::Exact(t) = self.pattern {
            if t != acl.pattern_type {
                return false;
            }
        }
        let Some(name) = &self.name else {
            return true;
        };
        match (self.pattern, acl.pattern_type) {
            (PatternFilter::Match, PatternType::Literal) => {
                *name == acl.name || acl.name == WILDCARD
            }
            (PatternFilter::Match, PatternType::Prefixed) => name.starts_with(&acl.name),
            _ => *name == acl.name,
        }
    }
}
