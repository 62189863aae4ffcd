//! Topic patterns that contain `#`, matched bit-parallel (shift-and), one pattern at a time.
//!
//! In a trie, a `#` node stays live for every later word of the key, and so does everything
//! below it: with many such patterns the live set approaches the whole trie at every word.
//! Here each pattern is a small automaton whose states are the bits of a 256-bit word (bit k:
//! "the first k pattern words are matched"), so one key word costs a handful of integer
//! operations per pattern, whatever the pattern looks like: a publish costs at most
//! patterns x key words steps and allocates nothing but the key's word ids.
//!
//! Semantics are the trie's (`super::topic`): `*` is one word, `#` zero or more; runs of `#`
//! are collapsed first (`#.#` matches what `#` matches), so the closure over "`#` matches
//! zero words" is a single shift.

use ahash::{HashMap, HashMapExt};
use smallvec::SmallVec;

/// The longest pattern (in words, after collapsing `#` runs) this matcher takes; a binding
/// key is a short string, so AMQP patterns have at most 128 words.
pub(super) const MAX_WORDS: usize = 255;

/// 256 automaton states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bits([u128; 2]);

impl Bits {
    fn bit(k: usize) -> Self {
        let mut b = Bits::default();
        b.0[k / 128] |= 1 << (k % 128);
        b
    }

    fn has(self, k: usize) -> bool {
        self.0[k / 128] & (1 << (k % 128)) != 0
    }

    fn and(self, o: Bits) -> Bits {
        Bits([self.0[0] & o.0[0], self.0[1] & o.0[1]])
    }

    fn or(self, o: Bits) -> Bits {
        Bits([self.0[0] | o.0[0], self.0[1] | o.0[1]])
    }

    /// Every state one word further.
    fn next(self) -> Bits {
        Bits([self.0[0] << 1, (self.0[1] << 1) | (self.0[0] >> 127)])
    }

    fn is_empty(self) -> bool {
        self.0 == [0, 0]
    }
}

/// One pattern's automaton.
#[derive(Debug, Clone)]
struct Program {
    /// States sitting on a `#` (they stay on any word, and may skip it).
    hash: Bits,
    /// States sitting on a `*` (any one word moves them on).
    star: Bits,
    /// States sitting on each literal word, by the word's id, sorted by id.
    literals: SmallVec<[(u32, Bits); 4]>,
    /// The state reached when the whole pattern is matched.
    accept: usize,
}

impl Program {
    /// The states reachable without reading a word: a `#` may match none.
    fn closure(&self, states: Bits) -> Bits {
        states.or(states.and(self.hash).next())
    }

    fn matches(&self, key: &[Option<u32>]) -> bool {
        let mut states = self.closure(Bits::bit(0));
        for word in key {
            let literal = word
                .and_then(|id| self.literals.binary_search_by_key(&id, |l| l.0).ok())
                .map_or(Bits::default(), |i| self.literals[i].1);
            let moved = states.and(literal.or(self.star)).next();
            states = self.closure(moved.or(states.and(self.hash)));
            if states.is_empty() {
                return false;
            }
        }
        states.has(self.accept)
    }
}

/// Patterns with `#` and the destinations bound with each.
#[derive(Debug, Clone)]
pub(super) struct WildPatterns<D> {
    /// By the pattern as bound (two spellings of one pattern are two entries).
    patterns: HashMap<Box<str>, (Program, Vec<D>)>,
    /// Literal words of the patterns: id and how many patterns use the word.
    words: HashMap<Box<str>, (u32, u32)>,
    free_ids: Vec<u32>,
    next_id: u32,
    bindings: usize,
}

impl<D: Clone + PartialEq> Default for WildPatterns<D> {
    fn default() -> Self {
        WildPatterns {
            patterns: HashMap::new(),
            words: HashMap::new(),
            free_ids: Vec::new(),
            next_id: 0,
            bindings: 0,
        }
    }
}

/// Whether a pattern goes here: it has a `#` and is short enough once `#` runs collapse.
pub(super) fn takes(words: &[&str]) -> bool {
    words.contains(&"#") && collapse(words).len() <= MAX_WORDS
}

fn collapse<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    for &w in words {
        if !(w == "#" && out.last() == Some(&"#")) {
            out.push(w);
        }
    }
    out
}

impl<D: Clone + PartialEq> WildPatterns<D> {
    pub(super) fn len(&self) -> usize {
        self.bindings
    }

    /// Adds `(pattern, dest)` (`words` is the pattern split); false if already there.
    pub(super) fn insert(&mut self, pattern: &str, words: &[&str], dest: D) -> bool {
        if let Some((_, dests)) = self.patterns.get_mut(pattern) {
            if dests.contains(&dest) {
                return false;
            }
            dests.push(dest);
            self.bindings += 1;
            return true;
        }
        let program = self.compile(words);
        self.patterns.insert(pattern.into(), (program, vec![dest]));
        self.bindings += 1;
        true
    }

    /// Removes `(pattern, dest)`; false if it was not there.
    pub(super) fn remove(&mut self, pattern: &str, dest: &D) -> bool {
        let Some((_, dests)) = self.patterns.get_mut(pattern) else {
            return false;
        };
        let Some(pos) = dests.iter().position(|d| d == dest) else {
            return false;
        };
        dests.swap_remove(pos);
        self.bindings -= 1;
        if dests.is_empty() {
            self.drop_pattern(pattern);
        }
        true
    }

    /// Pushes the destinations of every pattern that matches the key's words.
    pub(super) fn route(&self, key: &[&str], out: &mut Vec<D>) {
        if self.patterns.is_empty() {
            return;
        }
        let ids: SmallVec<[Option<u32>; 32]> = key
            .iter()
            .map(|w| self.words.get(*w).map(|e| e.0))
            .collect();
        for (program, dests) in self.patterns.values() {
            if program.matches(&ids) {
                out.extend(dests.iter().cloned());
            }
        }
    }

    fn compile(&mut self, words: &[&str]) -> Program {
        let words = collapse(words);
        let mut program = Program {
            hash: Bits::default(),
            star: Bits::default(),
            literals: SmallVec::new(),
            accept: words.len(),
        };
        for (k, w) in words.iter().enumerate() {
            match *w {
                "#" => program.hash = program.hash.or(Bits::bit(k)),
                "*" => program.star = program.star.or(Bits::bit(k)),
                literal => {
                    let known = self.words.get(literal).map(|e| e.0);
                    match program.literals.iter_mut().find(|l| Some(l.0) == known) {
                        Some(l) => l.1 = l.1.or(Bits::bit(k)),
                        None => {
                            let id = self.intern(literal);
                            program.literals.push((id, Bits::bit(k)));
                        }
                    }
                }
            }
        }
        program.literals.sort_unstable_by_key(|l| l.0);
        program
    }

    /// The word's id, counting one more pattern that uses it (once per pattern).
    fn intern(&mut self, word: &str) -> u32 {
        if let Some(e) = self.words.get_mut(word) {
            e.1 += 1;
            return e.0;
        }
        let id = self.free_ids.pop().unwrap_or_else(|| {
            self.next_id += 1;
            self.next_id - 1
        });
        self.words.insert(word.into(), (id, 1));
        id
    }

    fn drop_pattern(&mut self, pattern: &str) {
        let Some((program, _)) = self.patterns.remove(pattern) else {
            return;
        };
        // Each literal id of the pattern was counted once per pattern.
        let ids: Vec<u32> = program.literals.iter().map(|l| l.0).collect();
        self.words.retain(|_, (id, refs)| {
            if ids.contains(id) {
                *refs -= 1;
            }
            if *refs == 0 {
                self.free_ids.push(*id);
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<&str> {
        if s.is_empty() {
            vec![]
        } else {
            s.split('.').collect()
        }
    }

    fn route(w: &WildPatterns<u32>, key: &str) -> Vec<u32> {
        let mut out = Vec::new();
        w.route(&split(key), &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn matches_like_the_reference_at_the_longest_patterns() {
        let mut w = WildPatterns::default();
        // 128 words, the most a short string holds: 129 states, past one u128.
        let long = format!("#.{}", vec!["a"; 127].join("."));
        assert!(takes(&split(&long)));
        assert!(w.insert(&long, &split(&long), 1));
        let key = vec!["a"; 127].join(".");
        assert_eq!(route(&w, &key), vec![1]);
        assert_eq!(route(&w, &format!("x.{key}")), vec![1]);
        assert_eq!(route(&w, &format!("{key}.x")), Vec::<u32>::new());
        assert!(super::super::topic::topic_matches(
            &long,
            &format!("x.{key}")
        ));
    }

    #[test]
    fn literal_ids_are_shared_and_released() {
        let mut w = WildPatterns::default();
        assert!(w.insert("a.#", &split("a.#"), 1));
        assert!(w.insert("#.a.a", &split("#.a.a"), 2));
        assert!(!w.insert("a.#", &split("a.#"), 1));
        assert_eq!(w.words.len(), 1);
        assert_eq!(route(&w, "a.a"), vec![1, 2]);
        assert!(w.remove("a.#", &1));
        assert_eq!(w.words["a"].1, 1);
        assert!(w.remove("#.a.a", &2));
        assert!(w.words.is_empty() && w.patterns.is_empty() && w.len() == 0);
        assert_eq!(w.free_ids, vec![0]);
    }
}
