//! Topic-exchange routing: the binding index a topic exchange consults on every publish.
//!
//! This module owns the word-trie of binding patterns ([`TopicIndex`]) and the reference
//! matcher [`topic_matches`]. It knows nothing about exchanges, queues or vhosts: a
//! destination is any `D` the caller chooses (a queue name, an exchange name, ...).
//!
//! Semantics follow RabbitMQ's `rabbit_exchange_type_topic` (verified on RabbitMQ 3.10.8):
//!
//! * patterns and routing keys are split on `.` into words; the empty string is **zero**
//!   words, while every other string has one more word than it has dots, so empty words are
//!   real words (`"a."` is `["a", ""]`, `"."` is `["", ""]`);
//! * `*` matches exactly one word, which may be the empty word (`a.*` matches `"a."`, but `*`
//!   does not match `""`, which has no words);
//! * `#` matches zero or more words (`a.#` matches `"a"`, `#.a` matches `"a"`, `a.#.b`
//!   matches `"a.b"`, `#` matches `""`);
//! * only a whole word equal to `*` or `#` is a wildcard: `a*` and `#a` are literal words, and
//!   a `*` or `#` in a routing key is an ordinary word.
//!
//! Patterns with `#` are matched one by one, bit-parallel (`super::topic_wild`): in a trie
//! a `#` node and everything below it stays live for every later word of the key. The other
//! patterns (words and `*`) live in the trie, which routing walks one key word at a time,
//! keeping the set of nodes whose pattern prefix matches the words so far. Each (node, key
//! position) pair is visited at most once per publish (without `#`, each node at most once),
//! a publish's memory is two node lists and the key's word ids, and nothing recurses.

use super::topic_wild::{self, WildPatterns};
use ahash::{HashMap, HashMapExt};
use smallvec::SmallVec;
use std::hash::Hash;

/// Index of a node in the trie arena.
type NodeId = usize;

/// The root node is always at index 0 and is never freed.
const ROOT: NodeId = 0;

/// How a node hangs off its parent.
#[derive(Debug, Clone)]
enum Edge {
    Root,
    Word(Box<str>),
    Star,
    Hash,
}

impl Edge {
    fn of(word: &str) -> Edge {
        match word {
            "*" => Edge::Star,
            "#" => Edge::Hash,
            w => Edge::Word(w.into()),
        }
    }
}

#[derive(Debug, Clone)]
struct Node<D> {
    parent: NodeId,
    edge: Edge,
    words: HashMap<Box<str>, NodeId>,
    star: Option<NodeId>,
    hash: Option<NodeId>,
    /// Destinations bound with the pattern that ends at this node (no duplicates).
    dests: Vec<D>,
}

impl<D> Node<D> {
    fn new(parent: NodeId, edge: Edge) -> Self {
        Node {
            parent,
            edge,
            words: HashMap::new(),
            star: None,
            hash: None,
            dests: Vec::new(),
        }
    }

    fn child(&self, edge: &Edge) -> Option<NodeId> {
        match edge {
            Edge::Root => None,
            Edge::Word(w) => self.words.get(w).copied(),
            Edge::Star => self.star,
            Edge::Hash => self.hash,
        }
    }

    fn is_prunable(&self) -> bool {
        self.dests.is_empty() && self.words.is_empty() && self.star.is_none() && self.hash.is_none()
    }
}

/// Splits a pattern or routing key into words the way RabbitMQ does: `""` has no words.
fn split_words(s: &str) -> impl Iterator<Item = &str> {
    let skip_all = s.is_empty();
    s.split('.').filter(move |_| !skip_all)
}

/// Topic binding patterns mapping each pattern to the destinations bound with it.
#[derive(Debug, Clone)]
pub(crate) struct TopicIndex<D> {
    /// Patterns with `#`.
    wild: WildPatterns<D>,
    /// The trie of the other patterns.
    nodes: Vec<Node<D>>,
    free: Vec<NodeId>,
    /// Reverse index: every pattern-end node each destination is bound at.
    by_dest: HashMap<D, Vec<NodeId>>,
    bindings: usize,
}

impl<D: Clone + Eq + Hash> Default for TopicIndex<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Clone + Eq + Hash> TopicIndex<D> {
    /// An empty index.
    pub(crate) fn new() -> Self {
        TopicIndex {
            wild: WildPatterns::default(),
            nodes: vec![Node::new(ROOT, Edge::Root)],
            free: Vec::new(),
            by_dest: HashMap::new(),
            bindings: 0,
        }
    }

    /// Number of (pattern, destination) bindings.
    pub(crate) fn len(&self) -> usize {
        self.bindings + self.wild.len()
    }

    /// True when there are no bindings.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the binding `(pattern, dest)`; returns false if it was already present.
    pub(crate) fn insert(&mut self, pattern: &str, dest: D) -> bool {
        let words: Vec<&str> = split_words(pattern).collect();
        if topic_wild::takes(&words) {
            return self.wild.insert(pattern, &words, dest);
        }
        let node = self.ensure_path(pattern);
        let nodes_of_dest = self.by_dest.entry(dest.clone()).or_default();
        if nodes_of_dest.contains(&node) {
            return false;
        }
        nodes_of_dest.push(node);
        self.nodes[node].dests.push(dest);
        self.bindings += 1;
        true
    }

    /// Removes the binding `(pattern, dest)` and prunes trie nodes left empty; returns false
    /// if it was not present.
    pub(crate) fn remove(&mut self, pattern: &str, dest: &D) -> bool {
        let words: Vec<&str> = split_words(pattern).collect();
        if topic_wild::takes(&words) {
            return self.wild.remove(pattern, dest);
        }
        let Some(node) = self.find_path(pattern) else {
            return false;
        };
        let Some(nodes_of_dest) = self.by_dest.get_mut(dest) else {
            return false;
        };
        let Some(pos) = nodes_of_dest.iter().position(|&n| n == node) else {
            return false;
        };
        nodes_of_dest.swap_remove(pos);
        if nodes_of_dest.is_empty() {
            self.by_dest.remove(dest);
        }
        self.detach_dest(node, dest);
        true
    }

    /// Pushes onto `out` every destination bound with a pattern matching `routing_key`.
    /// A destination bound with several matching patterns is pushed once per pattern.
    pub(crate) fn route(&self, routing_key: &str, out: &mut Vec<D>) {
        if self.is_empty() {
            return;
        }
        if self.wild.len() > 0 {
            let words: SmallVec<[&str; 32]> = split_words(routing_key).collect();
            self.wild.route(&words, out);
        }
        if self.bindings == 0 {
            return;
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.route_trie(&mut scratch, routing_key, out);
        });
    }

    fn route_trie(&self, scratch: &mut Scratch, routing_key: &str, out: &mut Vec<D>) {
        let Scratch {
            marks,
            gen,
            cur,
            next,
        } = scratch;
        if marks.len() < self.nodes.len() {
            marks.resize(self.nodes.len(), 0);
        }
        cur.clear();
        let mut step = Step {
            nodes: &self.nodes,
            marks,
            gen,
        };
        step.begin();
        step.add(cur, ROOT);
        for word in split_words(routing_key) {
            if cur.is_empty() {
                return;
            }
            step.begin();
            next.clear();
            for &id in cur.iter() {
                let node = &self.nodes[id];
                if matches!(node.edge, Edge::Hash) {
                    // `#` swallows this word and may swallow more.
                    step.add(next, id);
                }
                if let Some(&child) = node.words.get(word) {
                    step.add(next, child);
                }
                if let Some(star) = node.star {
                    step.add(next, star);
                }
            }
            std::mem::swap(cur, next);
        }
        for &id in cur.iter() {
            out.extend(self.nodes[id].dests.iter().cloned());
        }
    }

    /// Walks (creating as needed) the path of `pattern`; returns its end node.
    fn ensure_path(&mut self, pattern: &str) -> NodeId {
        let mut node = ROOT;
        for word in split_words(pattern) {
            let edge = Edge::of(word);
            node = match self.nodes[node].child(&edge) {
                Some(child) => child,
                None => self.add_child(node, edge),
            };
        }
        node
    }

    /// The end node of `pattern`, if its whole path exists.
    fn find_path(&self, pattern: &str) -> Option<NodeId> {
        split_words(pattern).try_fold(ROOT, |node, word| self.nodes[node].child(&Edge::of(word)))
    }

    fn add_child(&mut self, parent: NodeId, edge: Edge) -> NodeId {
        let node = Node::new(parent, edge.clone());
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        let p = &mut self.nodes[parent];
        match edge {
            Edge::Root => {}
            Edge::Word(w) => {
                p.words.insert(w, id);
            }
            Edge::Star => p.star = Some(id),
            Edge::Hash => p.hash = Some(id),
        }
        id
    }

    /// Removes `dest` from the destinations of `node` (the reverse index is the caller's
    /// business) and prunes the path if it became empty.
    fn detach_dest(&mut self, node: NodeId, dest: &D) {
        let dests = &mut self.nodes[node].dests;
        if let Some(pos) = dests.iter().position(|d| d == dest) {
            dests.swap_remove(pos);
            self.bindings = self.bindings.saturating_sub(1);
        }
        self.prune(node);
    }

    /// Frees `node` and its ancestors for as long as they hold nothing.
    fn prune(&mut self, mut node: NodeId) {
        while node != ROOT && self.nodes[node].is_prunable() {
            let parent = self.nodes[node].parent;
            let edge = std::mem::replace(&mut self.nodes[node].edge, Edge::Root);
            let p = &mut self.nodes[parent];
            match edge {
                Edge::Root => {}
                Edge::Word(w) => {
                    p.words.remove(&w);
                }
                Edge::Star => p.star = None,
                Edge::Hash => p.hash = None,
            }
            self.free.push(node);
            node = parent;
        }
    }
}

/// A routing walk's working memory, kept per thread so a publish allocates nothing once the
/// buffers have grown to the largest trie routed on this thread.
#[derive(Default)]
struct Scratch {
    /// `marks[node] == gen`: the node is already in the list being built.
    marks: Vec<u32>,
    gen: u32,
    cur: Vec<NodeId>,
    next: Vec<NodeId>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Adds nodes to the list for one key position, each at most once.
struct Step<'a, D> {
    nodes: &'a [Node<D>],
    marks: &'a mut Vec<u32>,
    gen: &'a mut u32,
}

impl<D> Step<'_, D> {
    /// Starts the list for a new key position.
    fn begin(&mut self) {
        *self.gen = self.gen.wrapping_add(1);
        if *self.gen == 0 {
            self.marks.fill(0);
            *self.gen = 1;
        }
    }

    /// Adds `id` and, since `#` matches zero words, the chain of `#` children below it.
    fn add(&mut self, list: &mut Vec<NodeId>, mut id: NodeId) {
        loop {
            if self.marks[id] == *self.gen {
                return;
            }
            self.marks[id] = *self.gen;
            list.push(id);
            match self.nodes[id].hash {
                Some(h) => id = h,
                None => return,
            }
        }
    }
}

/// Reference matcher: does topic `pattern` match `key`? Simple dynamic programming over the
/// two word lists; used to cross-check [`TopicIndex`].
#[cfg(test)]
pub(crate) fn topic_matches(pattern: &str, key: &str) -> bool {
    let pat: Vec<&str> = split_words(pattern).collect();
    let words: Vec<&str> = split_words(key).collect();
    // ok[j] == true iff pat[..i] matches words[..j], for the current i.
    let mut ok = vec![false; words.len() + 1];
    ok[0] = true;
    for p in &pat {
        let mut next = vec![false; words.len() + 1];
        for j in 0..=words.len() {
            next[j] = match *p {
                "#" => ok[j] || (j > 0 && next[j - 1]),
                "*" => j > 0 && ok[j - 1],
                lit => j > 0 && ok[j - 1] && words[j - 1] == lit,
            };
        }
        ok = next;
    }
    ok[words.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, routing key, matches?). Every row was verified on RabbitMQ 3.10.8 by binding
    /// a queue to a topic exchange with the pattern and publishing with the key.
    const TABLE: &[(&str, &str, bool)] = &[
        // plain words
        ("a", "a", true),
        ("a", "b", false),
        ("a", "A", false),
        ("a.b", "a.b", true),
        ("a.b", "a.b.c", false),
        ("a.b.c", "a.b", false),
        ("a.b", "ab", false),
        // the empty pattern / key: zero words
        ("", "", true),
        ("", ".", false),
        ("", "a", false),
        (".", "", false),
        (".", ".", true),
        ("..", "..", true),
        ("..", ".", false),
        // empty words are real words
        ("a..b", "a..b", true),
        ("a..b", "a.b", false),
        ("a.", "a.", true),
        ("a.", "a", false),
        (".a", ".a", true),
        (".a", "a", false),
        // `*`: exactly one word, possibly empty
        ("*", "", false),
        ("*", "a", true),
        ("*", ".", false),
        ("*", "a.b", false),
        ("*", "#", true),
        ("*", "*", true),
        ("*.*", ".", true),
        ("*.*", "a.b", true),
        ("*.*", "a", false),
        ("a.*", "a.", true),
        ("a.*", "a", false),
        ("a.*", "a.b", true),
        ("a.*", "a.b.c", false),
        ("*.a", ".a", true),
        ("*.", "a.", true),
        ("*.", "a", false),
        (".*", ".", true),
        ("a.*.b", "a.x.b", true),
        ("a.*.b", "a..b", true),
        ("a.*.b", "a.b", false),
        ("a.*.b", "a.x.y.b", false),
        ("*.*.*", "..", true),
        ("*.*.*", "...", false),
        // `#`: zero or more words
        ("#", "", true),
        ("#", ".", true),
        ("#", "a.b.c", true),
        ("#.#", "", true),
        ("#.#", "a.b", true),
        ("#.#.#.#", "", true),
        ("#.#.#.#", "a.a.a.a.a.a.a.a.a.a", true),
        ("a.#", "a", true),
        ("a.#", "a.", true),
        ("a.#", "a.b.c", true),
        ("a.#", "b.a", false),
        ("a.#", "", false),
        ("#.a", "a", true),
        ("#.a", "b.a", true),
        ("#.a", "a.b", false),
        ("#.a", "..a", true),
        ("a.#.b", "a.b", true),
        ("a.#.b", "a.x.y.b", true),
        ("a.#.b", "a..b", true),
        ("a.#.b", "a.b.a", false),
        ("a.#.a", "a", false),
        ("a.#.a", "a.a", true),
        ("a.#.#", "a", true),
        ("#.#.a", "a", true),
        ("#.", "", false),
        ("#.", "a", false),
        ("#.", "a.", true),
        ("#.", ".", true),
        (".#", "", false),
        (".#", "a", false),
        (".#", ".", true),
        (".#", ".a", true),
        ("#..#", "", false),
        ("#..#", ".", true),
        ("#..#", "a..b", true),
        ("#..#", "a.b", false),
        ("a.#.", "a.", true),
        ("a.#.", "a", false),
        ("#.b.#", "b", true),
        ("#.b.#", "a.b.c", true),
        ("#.b.#", "ab", false),
        ("#.a.#.b.#", "a.b", true),
        ("#.a.#.b.#", "b.a", false),
        ("#.a.#.b.#", "x.a.y.b.z", true),
        ("#.a.#.b.#", "a.b.a.b", true),
        ("x.#.y.#.z", "x.y.z", true),
        ("x.#.y.#.z", "x.1.y.2.z", true),
        ("x.#.y.#.z", "x.z", false),
        ("x.#.y.#.z", "x.y.z.z", true),
        // `#` and `*` together
        ("#.*", "", false),
        ("#.*", "a", true),
        ("#.*", ".", true),
        ("*.#", "", false),
        ("*.#", "a", true),
        ("*.#.*", "a", false),
        ("*.#.*", "a.b", true),
        ("*.#.*", "a.b.c", true),
        ("*.*.#", "a", false),
        ("*.*.#", "a.b", true),
        ("#.*.*", "a.", true),
        ("a.#.*", "a", false),
        ("a.#.*", "a.b", true),
        ("*.#.a", "a", false),
        ("*.#.a", "b.a", true),
        // wildcards only as whole words; wildcard characters in keys are literal
        ("a*", "a*", true),
        ("a*", "ab", false),
        ("#a", "#a", true),
        ("#a", "a", false),
        ("a.#", "a.#", true),
        ("a.*", "a.*", true),
        ("a", "#", false),
        ("a", "*", false),
    ];

    fn route_one(index: &TopicIndex<u32>, key: &str) -> Vec<u32> {
        let mut out = Vec::new();
        index.route(key, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn table_reference_matcher() {
        for &(pattern, key, expected) in TABLE {
            assert_eq!(
                topic_matches(pattern, key),
                expected,
                "pattern {pattern:?} key {key:?}"
            );
        }
    }

    #[test]
    fn table_trie() {
        for &(pattern, key, expected) in TABLE {
            let mut index = TopicIndex::new();
            assert!(index.insert(pattern, 1u32));
            let want = if expected { vec![1] } else { vec![] };
            assert_eq!(
                route_one(&index, key),
                want,
                "pattern {pattern:?} key {key:?}"
            );
        }
    }

    #[test]
    fn table_all_in_one_trie() {
        let mut index = TopicIndex::new();
        for (i, &(pattern, _, _)) in TABLE.iter().enumerate() {
            index.insert(pattern, i as u32);
        }
        for &(_, key, _) in TABLE {
            let mut want: Vec<u32> = TABLE
                .iter()
                .enumerate()
                .filter(|(_, &(p, _, _))| topic_matches(p, key))
                .map(|(i, _)| i as u32)
                .collect();
            want.sort_unstable();
            assert_eq!(route_one(&index, key), want, "key {key:?}");
        }
    }

    #[test]
    fn insert_remove_len() {
        let mut index = TopicIndex::new();
        assert!(index.is_empty());
        assert!(index.insert("a.#", "q1"));
        assert!(!index.insert("a.#", "q1"));
        assert!(index.insert("a.#", "q2"));
        assert!(index.insert("#", "q1"));
        assert!(index.insert("a.#.#", "q1"));
        assert_eq!(index.len(), 4);
        let mut out = Vec::new();
        index.route("a.b", &mut out);
        out.sort_unstable();
        assert_eq!(out, vec!["q1", "q1", "q1", "q2"]);

        assert!(!index.remove("a.*", &"q1"));
        assert!(!index.remove("a.#", &"q3"));
        assert!(index.remove("a.#", &"q1"));
        assert!(!index.remove("a.#", &"q1"));
        assert_eq!(index.len(), 3);

        assert!(index.remove("#", &"q1"));
        assert!(index.remove("a.#.#", &"q1"));
        assert_eq!(index.len(), 1);
        out.clear();
        index.route("a.b", &mut out);
        assert_eq!(out, vec!["q2"]);

        assert!(index.remove("a.#", &"q2"));
        assert!(index.is_empty());
        // Everything but the root was pruned.
        assert_eq!(index.nodes.len() - index.free.len(), 1);
        assert!(index.nodes[ROOT].is_prunable());
    }

    #[test]
    fn prune_keeps_shared_prefixes() {
        let mut index = TopicIndex::new();
        index.insert("a.b.c", 1u32);
        index.insert("a.b", 2);
        index.insert("a.*.c", 3);
        assert!(index.remove("a.b.c", &1));
        assert_eq!(route_one(&index, "a.b"), vec![2]);
        assert_eq!(route_one(&index, "a.b.c"), vec![3]);
        assert!(index.remove("a.b", &2));
        assert_eq!(route_one(&index, "a.x.c"), vec![3]);
        // Freed nodes are reused.
        index.insert("x.y.z", 4);
        assert_eq!(route_one(&index, "x.y.z"), vec![4]);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn no_blowup_on_many_hashes() {
        let mut index = TopicIndex::new();
        let pattern = vec!["#"; 60].join(".");
        index.insert(&pattern, 1u32);
        index.insert(&format!("{pattern}.z"), 2);
        let key = vec!["a"; 120].join(".");
        assert_eq!(route_one(&index, &key), vec![1]);
        assert!(topic_matches(&pattern, &key));
        assert!(!topic_matches(&format!("{pattern}.z"), &key));
    }

    #[test]
    fn long_inputs_do_not_overflow_the_stack() {
        let mut index = TopicIndex::new();
        let pattern = vec!["*"; 50_000].join(".");
        index.insert(&pattern, 1u32);
        index.insert("#", 2);
        let key = vec!["k"; 50_000].join(".");
        assert_eq!(route_one(&index, &key), vec![1, 2]);
        assert!(index.remove(&pattern, &1));
        assert_eq!(index.len(), 1);
    }

    /// Deterministic xorshift PRNG so the cross-check needs no extra dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn words(&mut self, alphabet: &[&str], max_words: usize) -> String {
            let n = self.below(max_words + 1);
            let words: Vec<&str> = (0..n)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect();
            words.join(".")
        }
    }

    #[test]
    fn randomized_cross_check() {
        cross_check(0x9E37_79B9_7F4A_7C15, 5, 7);
    }

    /// Long patterns, mostly wildcards, against long keys: the bit-parallel matcher's ground.
    #[test]
    fn randomized_cross_check_long() {
        cross_check(0x2545_F491_4F6C_DD1D, 40, 60);
    }

    fn cross_check(seed: u64, pattern_words: usize, key_words: usize) {
        const PATTERN_WORDS: &[&str] = &["a", "b", "", "*", "#", "#", "*"];
        const KEY_WORDS: &[&str] = &["a", "b", "", "c"];
        let mut rng = Rng(seed);
        for _round in 0..40 {
            let mut index = TopicIndex::new();
            let mut bound: Vec<(String, u32)> = Vec::new();
            for _ in 0..30 {
                let pattern = rng.words(PATTERN_WORDS, pattern_words);
                let dest = rng.below(8) as u32;
                let fresh = !bound.contains(&(pattern.clone(), dest));
                assert_eq!(index.insert(&pattern, dest), fresh);
                if fresh {
                    bound.push((pattern, dest));
                }
            }
            // Remove some bindings and one whole destination to exercise pruning.
            for _ in 0..8 {
                let i = rng.below(bound.len());
                let (p, d) = bound.swap_remove(i);
                assert!(index.remove(&p, &d));
            }
            let gone = rng.below(8) as u32;
            for (p, d) in bound.iter().filter(|(_, d)| *d == gone) {
                assert!(index.remove(p, d));
            }
            bound.retain(|(_, d)| *d != gone);
            assert_eq!(index.len(), bound.len());

            for _ in 0..200 {
                let key = rng.words(KEY_WORDS, key_words);
                let mut want: Vec<u32> = bound
                    .iter()
                    .filter(|(p, _)| topic_matches(p, &key))
                    .map(|(_, d)| *d)
                    .collect();
                want.sort_unstable();
                assert_eq!(route_one(&index, &key), want, "key {key:?}");
            }
        }
    }
}
