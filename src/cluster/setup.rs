//! Cluster settings as the node uses them: the voters list parsed, this node's roles
//! resolved, every inconsistency refused at start with a message naming the key.

use crate::config::{split_host_port, Config};

/// One controller quorum voter, `ID@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

impl Voter {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What this node is in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSetup {
    pub voters: Vec<Voter>,
    /// Runs a controller (a quorum voter).
    pub controller: bool,
    /// Runs a broker (Kafka listener, partitions, groups).
    pub broker: bool,
    /// Where the controller listener binds (controllers only).
    pub controller_listen: Option<String>,
}

/// (config key, message) for a setting that cannot be used.
pub type SetupError = (String, String);

/// Parses `ID@HOST:PORT,...`.
pub fn parse_voters(s: &str) -> Result<Vec<Voter>, String> {
    let mut out: Vec<Voter> = Vec::new();
    for entry in s.split(',').map(str::trim) {
        let bad = || format!("voter {entry:?} is not ID@HOST:PORT");
        let (id, addr) = entry.split_once('@').ok_or_else(bad)?;
        let id: i32 = id.trim().parse().map_err(|_| bad())?;
        if id < 0 {
            return Err(format!("voter {entry:?}: node ids are >= 0"));
        }
        let (host, port) = split_host_port(addr.trim()).ok_or_else(bad)?;
        if host.is_empty() || !(1..=65535).contains(&port) {
            return Err(bad());
        }
        if out.iter().any(|v| v.id == id) {
            return Err(format!("node id {id} appears twice among the voters"));
        }
        out.push(Voter { id, host, port });
    }
    Ok(out)
}

impl ClusterSetup {
    /// `None` for a single-node broker (no voters and no other cluster key set).
    pub fn from_config(cfg: &Config) -> Result<Option<ClusterSetup>, SetupError> {
        let c = &cfg.cluster;
        let err = |key: &str, msg: String| Err((key.to_string(), msg));
        if c.controller_voters.trim().is_empty() {
            if !c.controller_listen.is_empty() || !c.roles.is_empty() {
                return err(
                    "cluster.controller_voters",
                    "controller_listen and roles need a controller quorum: set controller_voters (ID@HOST:PORT,...)".into(),
                );
            }
            return Ok(None);
        }
        let voters = parse_voters(&c.controller_voters)
            .map_err(|m| ("cluster.controller_voters".to_string(), m))?;
        let is_voter = voters.iter().any(|v| v.id == cfg.node_id);
        let (mut broker, mut controller) = (false, false);
        if c.roles.trim().is_empty() {
            broker = true;
            controller = is_voter;
        } else {
            for role in c.roles.split(',').map(str::trim) {
                match role {
                    "broker" => broker = true,
                    "controller" => controller = true,
                    other => {
                        return err(
                            "cluster.roles",
                            format!(
                            "unknown role {other:?}: use broker, controller or broker,controller"
                        ),
                        )
                    }
                }
            }
        }
        if !broker {
            return err(
                "cluster.roles",
                "controller-only nodes are not supported yet: every node runs a broker (use broker or broker,controller)".into(),
            );
        }
        if controller && !is_voter {
            let ids: Vec<String> = voters.iter().map(|v| v.id.to_string()).collect();
            return err(
                "cluster.roles",
                format!(
                    "node id {} has the controller role but is not among the controller voters ({}); add it to controller_voters or run it as a broker",
                    cfg.node_id,
                    ids.join(",")
                ),
            );
        }
        let controller_listen = if controller {
            if c.controller_listen.is_empty() {
                return err(
                    "cluster.controller_listen",
                    format!(
                        "node {} is a controller: set controller_listen (HOST:PORT)",
                        cfg.node_id
                    ),
                );
            }
            let (_, port) = split_host_port(&c.controller_listen).ok_or((
                "cluster.controller_listen".to_string(),
                "expected HOST:PORT".to_string(),
            ))?;
            let me = voters
                .iter()
                .find(|v| v.id == cfg.node_id)
                .expect("is_voter");
            if me.port != port {
                return err(
                    "cluster.controller_listen",
                    format!(
                        "port {port} differs from this node's voter entry {}@{} in controller_voters",
                        me.id,
                        me.addr()
                    ),
                );
            }
            Some(c.controller_listen.clone())
        } else {
            None
        };
        Ok(Some(ClusterSetup {
            voters,
            controller,
            broker,
            controller_listen,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(node: i32, voters: &str, roles: &str, listen: &str) -> Config {
        let mut c = Config {
            node_id: node,
            ..Config::default()
        };
        c.cluster.controller_voters = voters.into();
        c.cluster.roles = roles.into();
        c.cluster.controller_listen = listen.into();
        c
    }

    const V: &str = "1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293";

    #[test]
    fn no_voters_is_a_single_node() {
        assert_eq!(ClusterSetup::from_config(&Config::default()).unwrap(), None);
        let e = ClusterSetup::from_config(&cfg(1, "", "", "127.0.0.1:9093")).unwrap_err();
        assert_eq!(e.0, "cluster.controller_voters");
    }

    #[test]
    fn default_roles_follow_the_voters_list() {
        let s = ClusterSetup::from_config(&cfg(2, V, "", "127.0.0.1:9193"))
            .unwrap()
            .unwrap();
        assert!(s.broker && s.controller);
        assert_eq!(s.voters.len(), 3);
        let s = ClusterSetup::from_config(&cfg(4, V, "", ""))
            .unwrap()
            .unwrap();
        assert!(s.broker && !s.controller);
    }

    #[test]
    fn bad_settings_name_the_problem() {
        for (c, key, needle) in [
            (
                cfg(1, "1@x", "", ""),
                "cluster.controller_voters",
                "ID@HOST:PORT",
            ),
            (
                cfg(1, "a@h:1", "", ""),
                "cluster.controller_voters",
                "ID@HOST:PORT",
            ),
            (
                cfg(1, "1@h:1,1@h:2", "", ""),
                "cluster.controller_voters",
                "twice",
            ),
            (
                cfg(4, V, "broker,controller", "h:1"),
                "cluster.roles",
                "not among",
            ),
            (
                cfg(1, V, "broker,leader", ""),
                "cluster.roles",
                "unknown role",
            ),
            (
                cfg(1, V, "", ""),
                "cluster.controller_listen",
                "set controller_listen",
            ),
            (
                cfg(1, V, "", "127.0.0.1:9999"),
                "cluster.controller_listen",
                "differs",
            ),
        ] {
            let e = ClusterSetup::from_config(&c).unwrap_err();
            assert_eq!(e.0, key, "{e:?}");
            assert!(e.1.contains(needle), "{e:?}");
        }
    }
}
