//! The server-side assignors of KIP-848, both sticky: a member keeps what it had in the
//! previous target as long as the result stays balanced, so reconciliation only moves what
//! must move.
//!
//! - `uniform` (the default): every partition of every subscribed topic goes to one of its
//!   subscribers; kept partitions first, then each free partition to the least loaded
//!   subscriber, then single-partition moves from a member to a subscriber with at least
//!   two fewer until none is possible (balanced within one for identical subscriptions).
//! - `range`: per topic, subscribers sorted by member id each get `n / m` partitions and
//!   the first `n % m` one more (co-partitioned topics line up); a member keeps its previous
//!   partitions of the topic up to its share, free ones fill the shares in order.
//!
//! Pure functions of (members, topic partition counts, previous target).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::Assignment;

/// What an assignor knows of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    pub member_id: String,
    pub instance_id: Option<String>,
    /// Subscribed topics that exist.
    pub topics: BTreeSet<Uuid>,
}

/// Runs assignor `name` ("range"; anything else is `uniform`).
pub fn assign(
    name: &str,
    members: &[MemberSpec],
    topics: &BTreeMap<Uuid, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    match name {
        "range" => range(members, topics, previous),
        _ => uniform(members, topics, previous),
    }
}

type Owned = BTreeMap<String, BTreeSet<(Uuid, i32)>>;

fn uniform(
    members: &[MemberSpec],
    topics: &BTreeMap<Uuid, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let subscribes = |id: &str, t: &Uuid| {
        members
            .iter()
            .any(|m| m.member_id == id && m.topics.contains(t))
    };
    let mut owned: Owned = members
        .iter()
        .map(|m| (m.member_id.clone(), BTreeSet::new()))
        .collect();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for m in members {
        for (t, ps) in previous.get(&m.member_id).into_iter().flatten() {
            let Some(n) = topics.get(t).filter(|_| m.topics.contains(t)) else {
                continue;
            };
            for p in ps.iter().filter(|p| **p < *n) {
                if taken.insert((*t, *p)) {
                    owned
                        .entry(m.member_id.clone())
                        .or_default()
                        .insert((*t, *p));
                }
            }
        }
    }
    let wanted: BTreeSet<Uuid> = members
        .iter()
        .flat_map(|m| m.topics.iter().copied())
        .collect();
    for t in &wanted {
        let n = topics.get(t).copied().unwrap_or(0);
        for p in 0..n {
            if taken.contains(&(*t, p)) {
                continue;
            }
            let best = owned
                .iter()
                .filter(|(id, _)| subscribes(id, t))
                .min_by_key(|(id, ps)| (ps.len(), (*id).clone()))
                .map(|(id, _)| id.clone());
            if let Some(id) = best {
                owned.entry(id).or_default().insert((*t, p));
                taken.insert((*t, p));
            }
        }
    }
    // Balance: move one partition at a time from a member to a subscriber with at least two
    // fewer. Each move lowers the sum of squared loads, so this ends.
    loop {
        let mut order: Vec<(usize, String)> = owned
            .iter()
            .map(|(id, ps)| (ps.len(), id.clone()))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut moved = None;
        'search: for (load, from) in &order {
            let Some(parts) = owned.get(from) else {
                continue;
            };
            for (t, p) in parts.iter().rev() {
                let to = owned
                    .iter()
                    .filter(|(id, ps)| ps.len() + 1 < *load && subscribes(id, t))
                    .min_by_key(|(id, ps)| (ps.len(), (*id).clone()))
                    .map(|(id, _)| id.clone());
                if let Some(to) = to {
                    moved = Some((from.clone(), to, (*t, *p)));
                    break 'search;
                }
            }
        }
        let Some((from, to, tp)) = moved else {
            break;
        };
        if let Some(ps) = owned.get_mut(&from) {
            ps.remove(&tp);
        }
        owned.entry(to).or_default().insert(tp);
    }
    to_assignments(owned)
}

fn range(
    members: &[MemberSpec],
    topics: &BTreeMap<Uuid, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut owned: Owned = members
        .iter()
        .map(|m| (m.member_id.clone(), BTreeSet::new()))
        .collect();
    let wanted: BTreeSet<Uuid> = members
        .iter()
        .flat_map(|m| m.topics.iter().copied())
        .collect();
    for t in wanted {
        let n = topics.get(&t).copied().unwrap_or(0);
        let mut subs: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(&t))
            .map(|m| m.member_id.as_str())
            .collect();
        subs.sort();
        if subs.is_empty() || n <= 0 {
            continue;
        }
        let count = subs.len() as i32;
        let quota = (n / count) as usize;
        let mut extra = (n % count) as usize;
        let mut got: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        let mut caps: BTreeMap<&str, usize> = BTreeMap::new();
        let mut taken = BTreeSet::new();
        for id in &subs {
            let prev: Vec<i32> = previous
                .get(*id)
                .and_then(|a| a.get(&t))
                .map(|ps| ps.iter().copied().filter(|p| *p < n).collect())
                .unwrap_or_default();
            let mut cap = quota;
            if prev.len() > quota && extra > 0 {
                cap += 1;
                extra -= 1;
            }
            let kept: Vec<i32> = prev.into_iter().take(cap).collect();
            taken.extend(kept.iter().copied());
            got.insert(id, kept);
            caps.insert(id, cap);
        }
        for id in &subs {
            if extra > 0 && caps.get(id) == Some(&quota) {
                caps.insert(id, quota + 1);
                extra -= 1;
            }
        }
        let mut free = (0..n).filter(|p| !taken.contains(p));
        for id in &subs {
            let cap = caps.get(id).copied().unwrap_or(quota);
            let list = got.entry(id).or_default();
            while list.len() < cap {
                match free.next() {
                    Some(p) => list.push(p),
                    None => break,
                }
            }
        }
        for (id, ps) in got {
            owned
                .entry(id.to_string())
                .or_default()
                .extend(ps.into_iter().map(|p| (t, p)));
        }
    }
    to_assignments(owned)
}

fn to_assignments(owned: Owned) -> BTreeMap<String, Assignment> {
    owned
        .into_iter()
        .map(|(id, ps)| {
            let mut a: Assignment = BTreeMap::new();
            for (t, p) in ps {
                a.entry(t).or_default().insert(p);
            }
            (id, a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn spec(id: &str, topics: &[Uuid]) -> MemberSpec {
        MemberSpec {
            member_id: id.into(),
            instance_id: None,
            topics: topics.iter().copied().collect(),
        }
    }

    fn count(a: &BTreeMap<String, Assignment>, id: &str) -> usize {
        a.get(id).map_or(0, |x| x.values().map(BTreeSet::len).sum())
    }

    fn all_once(a: &BTreeMap<String, Assignment>, topics: &BTreeMap<Uuid, i32>) {
        let mut seen = BTreeSet::new();
        for asg in a.values() {
            for (t, ps) in asg {
                for p in ps {
                    assert!(seen.insert((*t, *p)), "{t}-{p} assigned twice");
                }
            }
        }
        let total: i32 = topics.values().sum();
        assert_eq!(seen.len(), total as usize);
    }

    #[test]
    fn uniform_balances_and_sticks() {
        let topics = BTreeMap::from([(t(1), 6), (t(2), 3)]);
        let m1 = spec("a", &[t(1), t(2)]);
        let m2 = spec("b", &[t(1), t(2)]);
        let first = assign(
            "uniform",
            std::slice::from_ref(&m1),
            &topics,
            &BTreeMap::new(),
        );
        assert_eq!(count(&first, "a"), 9);
        let second = assign("uniform", &[m1.clone(), m2.clone()], &topics, &first);
        all_once(&second, &topics);
        assert!(count(&second, "a").abs_diff(count(&second, "b")) <= 1);
        // Sticky: what "a" keeps is a subset of what it had.
        for (tid, ps) in &second["a"] {
            assert!(ps.is_subset(&first["a"][tid]));
        }
        // A third member takes only what it needs; nothing moves between a and b.
        let m3 = spec("c", &[t(1), t(2)]);
        let third = assign("uniform", &[m1, m2, m3], &topics, &second);
        all_once(&third, &topics);
        assert_eq!(count(&third, "c"), 3);
        for id in ["a", "b"] {
            for (tid, ps) in &third[id] {
                assert!(ps.is_subset(&second[id][tid]));
            }
        }
    }

    #[test]
    fn uniform_heterogeneous_subscriptions() {
        let topics = BTreeMap::from([(t(1), 4), (t(2), 2)]);
        let a = assign(
            "uniform",
            &[spec("a", &[t(1)]), spec("b", &[t(1), t(2)])],
            &topics,
            &BTreeMap::new(),
        );
        all_once(&a, &topics);
        assert_eq!(count(&a, "a"), 3);
        assert_eq!(count(&a, "b"), 3);
        assert!(!a["a"].contains_key(&t(2)));
    }

    #[test]
    fn range_is_per_topic_and_co_partitioned() {
        let topics = BTreeMap::from([(t(1), 5), (t(2), 5)]);
        let members = [spec("a", &[t(1), t(2)]), spec("b", &[t(1), t(2)])];
        let a = assign("range", &members, &topics, &BTreeMap::new());
        all_once(&a, &topics);
        assert_eq!(a["a"][&t(1)], BTreeSet::from([0, 1, 2]));
        assert_eq!(a["b"][&t(1)], BTreeSet::from([3, 4]));
        assert_eq!(a["a"][&t(1)], a["a"][&t(2)]);
        // Sticky when a member joins: a and b keep a subset.
        let three = [
            members[0].clone(),
            members[1].clone(),
            spec("c", &[t(1), t(2)]),
        ];
        let b = assign("range", &three, &topics, &a);
        all_once(&b, &topics);
        for id in ["a", "b"] {
            assert!(b[id][&t(1)].is_subset(&a[id][&t(1)]));
        }
        assert_eq!(count(&b, "c"), 2);
    }

    #[test]
    fn no_members_or_topics() {
        assert!(assign("uniform", &[], &BTreeMap::new(), &BTreeMap::new()).is_empty());
        let a = assign(
            "range",
            &[spec("a", &[t(9)])],
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert!(a["a"].is_empty());
    }
}
