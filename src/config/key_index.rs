//! The key index: maps byte offsets in the TOML source back to dotted key paths
//! (`amqp.listen`, `users[1].name`), so errors can name the key they are about.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Every key in a TOML document with the spans of the key and of its value.
///
/// serde errors from `toml` carry a span but not the key path; this index,
/// built from a second, schema-less parse, recovers the path for messages.
#[derive(Debug, Default)]
pub(super) struct KeyIndex {
    entries: Vec<KeyEntry>,
}

#[derive(Debug)]
struct KeyEntry {
    path: String,
    key_span: Option<Range<usize>>,
    value_span: Range<usize>,
}

impl KeyIndex {
    /// Indexes `src`; an unparsable document yields an empty index.
    pub(super) fn build(src: &str) -> KeyIndex {
        let mut index = KeyIndex::default();
        if let Ok(root) = toml::from_str::<SpannedNode>(src) {
            index.add_children("", &root);
        }
        index
    }

    fn add_children(&mut self, prefix: &str, node: &SpannedNode) {
        match node.as_ref() {
            Node::Table(children) => {
                for (key, child) in children {
                    let path = if prefix.is_empty() {
                        key.as_ref().clone()
                    } else {
                        format!("{prefix}.{}", key.as_ref())
                    };
                    self.add(path, Some(key.span()), child);
                }
            }
            Node::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.add(format!("{prefix}[{i}]"), None, item);
                }
            }
            Node::Leaf => {}
        }
    }

    fn add(&mut self, path: String, key_span: Option<Range<usize>>, node: &SpannedNode) {
        self.add_children(&path, node);
        self.entries.push(KeyEntry {
            path,
            key_span,
            value_span: node.span(),
        });
    }

    /// The deepest key whose name or value covers byte `offset`.
    pub(super) fn key_at(&self, offset: usize) -> Option<String> {
        let covers =
            |span: &Range<usize>| span.start <= offset && offset < span.end.max(span.start + 1);
        self.entries
            .iter()
            .filter(|e| covers(&e.value_span) || e.key_span.as_ref().is_some_and(covers))
            .max_by_key(|e| e.path.len())
            .map(|e| e.path.clone())
    }

    /// Where the value of `path` starts (or its key, if the value has no span).
    pub(super) fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let entry = self.entries.iter().find(|e| e.path == path)?;
        match &entry.key_span {
            Some(key_span) if entry.value_span.is_empty() => Some(key_span.clone()),
            _ => Some(entry.value_span.clone()),
        }
    }
}

type SpannedNode = toml::Spanned<Node>;

/// A schema-less TOML value that keeps spans of nested keys and values.
#[derive(Debug)]
enum Node {
    Table(Vec<(toml::Spanned<String>, SpannedNode)>),
    Array(Vec<SpannedNode>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut children = Vec::new();
        while let Some(key) = map.next_key()? {
            children.push((key, map.next_value()?));
        }
        Ok(Node::Table(children))
    }
}
