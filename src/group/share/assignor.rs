//! The `simple` share-group assignor (KIP-932, Kafka's `SimpleAssignor`): balance first,
//! then stickiness.
//!
//! - Every partition of a subscribed topic is assigned to at least one subscribed member.
//! - Fewer members than partitions: each partition goes to exactly one member and members
//!   get ⌊P/M⌋ or ⌈P/M⌉ partitions.
//! - More members than partitions: each member gets exactly one partition and a partition is
//!   *shared* by ⌊M/P⌋ or ⌈M/P⌉ members (share groups need no exclusive ownership).
//! - Within those bounds, a member keeps what the previous target gave it.
//! - When every member subscribes to the same topics the balance is over all partitions at
//!   once; otherwise it is per topic, among that topic's subscribers.
//!
//! Pure and deterministic: the same inputs give the same output (members and partitions are
//! walked in sorted order).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::{Assignment, TopicMeta};

/// One member as the assignor sees it.
pub struct AssignorMember<'a> {
    pub subscribed: &'a BTreeSet<String>,
    /// The previous target assignment, for stickiness.
    pub previous: &'a Assignment,
}

/// Computes the target assignment of every member. `topics` holds the subscribed topics that
/// exist; a member subscribed only to missing topics gets an empty assignment.
pub fn assign(
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &BTreeMap<String, TopicMeta>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    let existing = |m: &AssignorMember<'_>| -> BTreeSet<String> {
        m.subscribed
            .iter()
            .filter(|t| topics.contains_key(*t))
            .cloned()
            .collect()
    };
    let subscriptions: BTreeMap<&String, BTreeSet<String>> =
        members.iter().map(|(id, m)| (id, existing(m))).collect();
    let first = subscriptions.values().next();
    let homogeneous = subscriptions.values().all(|s| Some(s) == first);
    let groups: Vec<Balanced<'_>> = if homogeneous {
        let ids: Vec<&String> = members.keys().collect();
        let parts = first.map_or_else(Vec::new, |s| partitions_of(s.iter(), topics));
        vec![(ids, parts)]
    } else {
        let all_topics: BTreeSet<&String> = subscriptions.values().flatten().collect();
        all_topics
            .into_iter()
            .map(|t| {
                let ids = subscriptions
                    .iter()
                    .filter(|(_, s)| s.contains(t))
                    .map(|(id, _)| *id)
                    .collect();
                (ids, partitions_of(std::iter::once(t), topics))
            })
            .collect()
    };
    for (ids, parts) in groups {
        for (member, (topic, partition)) in assign_group(&ids, &parts, members) {
            out.entry(member.clone())
                .or_default()
                .entry(topic)
                .or_default()
                .insert(partition);
        }
    }
    out
}

/// Members and the partitions balanced among them.
type Balanced<'a> = (Vec<&'a String>, Vec<(Uuid, i32)>);

/// Every partition of the named topics, sorted by topic name then index.
fn partitions_of<'a>(
    names: impl Iterator<Item = &'a String>,
    topics: &BTreeMap<String, TopicMeta>,
) -> Vec<(Uuid, i32)> {
    names
        .filter_map(|n| topics.get(n))
        .flat_map(|t| (0..t.partitions.max(0)).map(move |p| (t.id, p)))
        .collect()
}

/// Assigns `parts` among `ids` (all subscribed to them): (member, partition) pairs.
fn assign_group<'m>(
    ids: &[&'m String],
    parts: &[(Uuid, i32)],
    members: &BTreeMap<String, AssignorMember<'_>>,
) -> Vec<(&'m String, (Uuid, i32))> {
    if ids.is_empty() || parts.is_empty() {
        return Vec::new();
    }
    let had = |id: &String, tp: &(Uuid, i32)| {
        members
            .get(id)
            .and_then(|m| m.previous.get(&tp.0))
            .is_some_and(|ps| ps.contains(&tp.1))
    };
    if ids.len() <= parts.len() {
        // Each partition to one member, members balanced.
        balance(parts, ids, |tp| {
            ids.iter().copied().filter(|id| had(id, tp)).collect()
        })
        .into_iter()
        .map(|(tp, id)| (id, tp))
        .collect()
    } else {
        // Each member to one partition, partitions shared evenly.
        balance(ids, parts, |id| {
            parts.iter().copied().filter(|tp| had(id, tp)).collect()
        })
    }
}

/// Places every item in exactly one bin so that bins hold ⌊n/k⌋ or ⌈n/k⌉ items, keeping an
/// item in one of its `previous` bins whenever that bound allows. Needs `bins` non-empty.
fn balance<I: Copy, B: Copy + PartialEq>(
    items: &[I],
    bins: &[B],
    previous: impl Fn(&I) -> Vec<B>,
) -> Vec<(I, B)> {
    let k = bins.len();
    let base = items.len() / k;
    let mut extra = items.len() % k;
    let mut counts = vec![0usize; k];
    let mut placed: Vec<Option<usize>> = vec![None; items.len()];
    let index_of = |b: &B| bins.iter().position(|x| x == b);
    // 1. Sticky, within the floor.
    for (i, item) in items.iter().enumerate() {
        if let Some(b) = previous(item)
            .iter()
            .filter_map(index_of)
            .find(|&b| counts[b] < base)
        {
            counts[b] += 1;
            placed[i] = Some(b);
        }
    }
    // 2. Sticky, using one of the `extra` ceiling slots.
    for (i, item) in items.iter().enumerate() {
        if placed[i].is_some() || extra == 0 {
            continue;
        }
        if let Some(b) = previous(item)
            .iter()
            .filter_map(index_of)
            .find(|&b| counts[b] == base)
        {
            counts[b] += 1;
            extra -= 1;
            placed[i] = Some(b);
        }
    }
    // 3. The rest to the least loaded bin (the first one on ties).
    for slot in placed.iter_mut().filter(|p| p.is_none()) {
        let b = (0..k).min_by_key(|&b| (counts[b], b)).unwrap_or(0);
        if counts[b] == base {
            extra = extra.saturating_sub(1);
        }
        counts[b] += 1;
        *slot = Some(b);
    }
    items
        .iter()
        .zip(placed)
        .filter_map(|(item, b)| b.map(|b| (*item, bins[b])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u128, partitions: i32) -> TopicMeta {
        TopicMeta {
            id: Uuid::from_u128(n),
            partitions,
        }
    }

    fn run(
        subs: &[(&str, &[&str])],
        previous: &BTreeMap<String, Assignment>,
        topics: &BTreeMap<String, TopicMeta>,
    ) -> BTreeMap<String, Assignment> {
        let sets: Vec<(String, BTreeSet<String>)> = subs
            .iter()
            .map(|(m, ts)| (m.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect();
        let empty = Assignment::new();
        let members = sets
            .iter()
            .map(|(m, s)| {
                (
                    m.clone(),
                    AssignorMember {
                        subscribed: s,
                        previous: previous.get(m).unwrap_or(&empty),
                    },
                )
            })
            .collect();
        assign(&members, topics)
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    /// How many members hold each partition.
    fn holders(out: &BTreeMap<String, Assignment>) -> BTreeMap<(Uuid, i32), usize> {
        let mut h = BTreeMap::new();
        for a in out.values() {
            for (t, ps) in a {
                for p in ps {
                    *h.entry((*t, *p)).or_insert(0) += 1;
                }
            }
        }
        h
    }

    #[test]
    fn fewer_members_than_partitions_balances_exclusively() {
        let topics = BTreeMap::from([("t".to_string(), topic(1, 7))]);
        let out = run(
            &[("a", &["t"]), ("b", &["t"]), ("c", &["t"])],
            &BTreeMap::new(),
            &topics,
        );
        let mut sizes: Vec<usize> = out.values().map(count).collect();
        sizes.sort();
        assert_eq!(sizes, vec![2, 2, 3]);
        let h = holders(&out);
        assert_eq!(h.len(), 7);
        assert!(h.values().all(|&n| n == 1));
    }

    #[test]
    fn more_members_than_partitions_shares_partitions() {
        let topics = BTreeMap::from([("t".to_string(), topic(1, 2))]);
        let subs: Vec<(String, &[&str])> = (0..5).map(|i| (format!("m{i}"), &["t"][..])).collect();
        let subs: Vec<(&str, &[&str])> = subs.iter().map(|(m, t)| (m.as_str(), *t)).collect();
        let out = run(&subs, &BTreeMap::new(), &topics);
        assert!(out.values().all(|a| count(a) == 1));
        let mut h: Vec<usize> = holders(&out).into_values().collect();
        h.sort();
        assert_eq!(h, vec![2, 3]);
    }

    #[test]
    fn sticky_when_a_member_joins() {
        let topics = BTreeMap::from([("t".to_string(), topic(1, 6))]);
        let first = run(&[("a", &["t"]), ("b", &["t"])], &BTreeMap::new(), &topics);
        let second = run(
            &[("a", &["t"]), ("b", &["t"]), ("c", &["t"])],
            &first,
            &topics,
        );
        // a and b each give up one partition and keep the other two.
        for m in ["a", "b"] {
            let kept = second[m][&Uuid::from_u128(1)]
                .intersection(&first[m][&Uuid::from_u128(1)])
                .count();
            assert_eq!(kept, 2, "{m}");
        }
        assert_eq!(count(&second["c"]), 2);
        // Deterministic.
        let again = run(
            &[("a", &["t"]), ("b", &["t"]), ("c", &["t"])],
            &first,
            &topics,
        );
        assert_eq!(second, again);
    }

    #[test]
    fn sticky_when_a_member_leaves() {
        let topics = BTreeMap::from([("t".to_string(), topic(1, 6))]);
        let first = run(
            &[("a", &["t"]), ("b", &["t"]), ("c", &["t"])],
            &BTreeMap::new(),
            &topics,
        );
        let second = run(&[("a", &["t"]), ("b", &["t"])], &first, &topics);
        for m in ["a", "b"] {
            assert!(first[m][&Uuid::from_u128(1)].is_subset(&second[m][&Uuid::from_u128(1)]));
            assert_eq!(count(&second[m]), 3);
        }
    }

    #[test]
    fn heterogeneous_subscriptions_balance_per_topic() {
        let topics = BTreeMap::from([
            ("x".to_string(), topic(1, 2)),
            ("y".to_string(), topic(2, 1)),
        ]);
        let out = run(
            &[("a", &["x", "y"]), ("b", &["x"]), ("c", &["missing"])],
            &BTreeMap::new(),
            &topics,
        );
        assert_eq!(count(&out["a"]), 2); // one of x, and y alone
        assert_eq!(count(&out["b"]), 1);
        assert_eq!(out["a"][&Uuid::from_u128(2)], BTreeSet::from([0]));
        assert!(out["c"].is_empty());
        assert_eq!(holders(&out).len(), 3);
    }

    #[test]
    fn no_topics_or_no_partitions_assign_nothing() {
        let topics = BTreeMap::from([("t".to_string(), topic(1, 0))]);
        let out = run(&[("a", &["t"])], &BTreeMap::new(), &topics);
        assert!(out["a"].is_empty());
        let out = run(&[("a", &["u"])], &BTreeMap::new(), &BTreeMap::new());
        assert!(out["a"].is_empty());
    }
}
