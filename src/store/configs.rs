//! Dynamic config overrides that do not belong to a topic record, in the `Configs` key space:
//! broker settings (per broker, key = node id; cluster-wide defaults, key = "") and group
//! configs (key = group id). Topic overrides live in their [`super::TopicRecord`].
//!
//! Key: one scope byte (`b` broker, `g` group) then the UTF-8 name. Value: a JSON object of
//! Kafka config names to string values. An empty set of overrides deletes the key. Writes
//! are synced, like topic metadata: they are rare and a lost change would surprise.

use std::collections::BTreeMap;

use super::{synced, Space, Store, StoreError};

/// Which resource a set of overrides belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigScope {
    Broker,
    Group,
}

impl ConfigScope {
    fn byte(self) -> u8 {
        match self {
            ConfigScope::Broker => b'b',
            ConfigScope::Group => b'g',
        }
    }
}

/// Overrides of one resource.
pub type Overrides = BTreeMap<String, String>;

impl Store {
    /// Every stored set of overrides of a scope: (name, overrides), in name order.
    pub fn load_config_overrides(
        &self,
        scope: ConfigScope,
    ) -> Result<Vec<(String, Overrides)>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.scan_prefix(Space::Configs, &[scope.byte()])? {
            let name = String::from_utf8_lossy(k.get(1..).unwrap_or_default()).into_owned();
            let map: Overrides = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                key: format!("config {name}"),
                message: e.to_string(),
            })?;
            out.push((name, map));
        }
        Ok(out)
    }

    /// Replaces the overrides of one resource (synced); empty removes them.
    pub fn put_config_overrides(
        &self,
        scope: ConfigScope,
        name: &str,
        overrides: &Overrides,
    ) -> Result<(), StoreError> {
        let mut key = vec![scope.byte()];
        key.extend_from_slice(name.as_bytes());
        let key = Space::Configs.key(&key);
        if overrides.is_empty() {
            self.db.delete_opt(key, &synced())?;
        } else {
            let v = serde_json::to_vec(overrides).map_err(|e| StoreError::Corrupt {
                key: name.to_string(),
                message: e.to_string(),
            })?;
            self.db.put_opt(key, v, &synced())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_round_trip_per_scope() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let m: Overrides = [("log.retention.ms".to_string(), "1000".to_string())].into();
        s.put_config_overrides(ConfigScope::Broker, "", &m).unwrap();
        s.put_config_overrides(ConfigScope::Broker, "0", &m)
            .unwrap();
        s.put_config_overrides(ConfigScope::Group, "g", &m).unwrap();
        let b = s.load_config_overrides(ConfigScope::Broker).unwrap();
        assert_eq!(
            b,
            vec![(String::new(), m.clone()), ("0".to_string(), m.clone())]
        );
        s.put_config_overrides(ConfigScope::Broker, "", &Overrides::new())
            .unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.load_config_overrides(ConfigScope::Broker).unwrap().len(),
            1
        );
        assert_eq!(
            s.load_config_overrides(ConfigScope::Group).unwrap(),
            vec![("g".to_string(), m)]
        );
    }
}
