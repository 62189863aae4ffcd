//! Where a queue's mirrors go, as its `ha-mode` policy asks (RabbitMQ's
//! `rabbit_mirror_queue_mode_*`): on every other running node (`all`), on enough of them to
//! make `ha-params` copies with the master (`exactly`), or on the running nodes named
//! (`nodes`). Mirrors already placed keep their place and their age, so the oldest mirror
//! stays the oldest; a node that stops holds no mirror until it is placed there again.

use serde_json::{Map, Value};

/// A policy's mirroring mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HaMode {
    All,
    /// Copies in all, the master included.
    Exactly(usize),
    Nodes(Vec<String>),
}

impl HaMode {
    /// The mode a policy definition sets (already validated when the policy was set).
    pub(crate) fn of(definition: &Map<String, Value>) -> Option<HaMode> {
        let params = definition.get("ha-params");
        match definition.get("ha-mode")?.as_str()? {
            "all" => Some(HaMode::All),
            "exactly" => {
                let n = params?.as_u64()?;
                Some(HaMode::Exactly(usize::try_from(n).unwrap_or(usize::MAX)))
            }
            "nodes" => {
                let names = params?.as_array()?.iter();
                let names = names.filter_map(Value::as_str).map(str::to_owned);
                Some(HaMode::Nodes(names.collect()))
            }
            _ => None,
        }
    }
}

/// The mirrors `queue`, mastered on `master`, should have now: `current` (oldest first)
/// kept where the mode still wants them, then new ones. `running` lists the running
/// members. With the master down nothing moves: its mirrors are what a promotion needs.
pub(crate) fn plan(
    mode: Option<&HaMode>,
    queue: &str,
    master: &str,
    current: &[String],
    running: &[String],
) -> Vec<String> {
    let Some(mode) = mode else {
        return Vec::new();
    };
    if !running.iter().any(|n| n == master) {
        return current.to_vec();
    }
    let allowed = |n: &String| {
        n != master
            && running.contains(n)
            && match mode {
                HaMode::Nodes(names) => names.contains(n),
                _ => true,
            }
    };
    let mut out: Vec<String> = current.iter().filter(|n| allowed(n)).cloned().collect();
    let mut others: Vec<&String> = running
        .iter()
        .filter(|n| allowed(n) && !out.contains(n))
        .collect();
    others.sort();
    others.dedup();
    match mode {
        HaMode::All => out.extend(others.into_iter().cloned()),
        HaMode::Nodes(names) => {
            // In the order the policy names them.
            others.sort_by_key(|n| names.iter().position(|m| m == *n));
            out.extend(others.into_iter().cloned());
        }
        HaMode::Exactly(copies) => {
            let want = copies.saturating_sub(1);
            out.truncate(want);
            // Queues spread their new mirrors: each starts at a place set by its name.
            if !others.is_empty() {
                let start = spread(queue) % others.len();
                others.rotate_left(start);
            }
            let missing = want.saturating_sub(out.len());
            out.extend(others.into_iter().take(missing).cloned());
        }
    }
    out
}

/// A number from the queue's name (FNV-1a), the same on every node.
fn spread(name: &str) -> usize {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    h as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn mode(v: Value) -> Option<HaMode> {
        HaMode::of(v.as_object().expect("an object"))
    }

    #[test]
    fn modes_are_read_from_policy_definitions() {
        assert_eq!(mode(json!({"ha-mode": "all"})), Some(HaMode::All));
        let exactly = mode(json!({"ha-mode": "exactly", "ha-params": 2}));
        assert_eq!(exactly, Some(HaMode::Exactly(2)));
        let nodes = mode(json!({"ha-mode": "nodes", "ha-params": ["a", "b"]}));
        assert_eq!(nodes, Some(HaMode::Nodes(names(&["a", "b"]))));
        assert_eq!(mode(json!({"max-length": 1})), None);
    }

    #[test]
    fn all_mirrors_on_every_other_running_node_keeping_the_oldest_first() {
        let running = names(&["a", "b", "c", "d"]);
        let m = Some(&HaMode::All);
        assert_eq!(plan(m, "q", "b", &[], &running), names(&["a", "c", "d"]));
        let current = names(&["d", "c"]);
        assert_eq!(
            plan(m, "q", "b", &current, &running),
            names(&["d", "c", "a"])
        );
        // A stopped node holds none; it comes back as the newest.
        let up = names(&["a", "b", "c"]);
        assert_eq!(plan(m, "q", "b", &current, &up), names(&["c", "a"]));
        assert_eq!(
            plan(None, "q", "b", &current, &running),
            Vec::<String>::new()
        );
    }

    #[test]
    fn exactly_counts_the_master_and_replaces_a_stopped_mirror() {
        let running = names(&["a", "b", "c"]);
        let m = Some(&HaMode::Exactly(2));
        let first = plan(m, "q", "a", &[], &running);
        assert_eq!(first.len(), 1);
        assert!(first[0] == "b" || first[0] == "c");
        assert_eq!(plan(m, "q", "a", &first, &running), first, "stable");
        let without = names(&["a", "b", "c"])
            .into_iter()
            .filter(|n| *n != first[0])
            .collect::<Vec<_>>();
        let replaced = plan(m, "q", "a", &first, &without);
        assert_eq!(replaced.len(), 1);
        assert_ne!(replaced, first);
        // Fewer copies wanted: the oldest stay.
        let three = Some(&HaMode::Exactly(3));
        let both = plan(three, "q", "a", &names(&["c"]), &running);
        assert_eq!(both, names(&["c", "b"]));
        assert_eq!(plan(m, "q", "a", &both, &running), names(&["c"]));
        assert_eq!(
            plan(Some(&HaMode::Exactly(1)), "q", "a", &both, &running),
            Vec::<String>::new()
        );
    }

    #[test]
    fn exactly_spreads_new_mirrors_over_the_nodes() {
        let running = names(&["a", "b", "c", "d", "e"]);
        let m = Some(&HaMode::Exactly(2));
        let chosen: std::collections::HashSet<String> = (0..50)
            .flat_map(|i| plan(m, &format!("q{i}"), "a", &[], &running))
            .collect();
        assert!(chosen.len() >= 3, "{chosen:?}");
    }

    #[test]
    fn nodes_mirrors_on_the_running_named_nodes() {
        let running = names(&["a", "b", "c"]);
        let m = Some(HaMode::Nodes(names(&["c", "b", "x"])));
        assert_eq!(
            plan(m.as_ref(), "q", "a", &[], &running),
            names(&["c", "b"])
        );
        assert_eq!(plan(m.as_ref(), "q", "b", &[], &running), names(&["c"]));
        let current = names(&["a"]);
        assert_eq!(
            plan(m.as_ref(), "q", "c", &current, &running),
            names(&["b"])
        );
    }

    #[test]
    fn nothing_moves_while_the_master_is_down() {
        let current = names(&["b", "c"]);
        let up = names(&["b", "c"]);
        assert_eq!(
            plan(Some(&HaMode::Exactly(2)), "q", "a", &current, &up),
            current
        );
    }
}
