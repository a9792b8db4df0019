//! Reading only the wanted fields of a JSON line. A [`PathSet`] is compiled once per
//! source from the dotted paths its extractor may look up; [`PathSet::parse`] walks a line
//! once and keeps, for each path, what [`json_path`](super::json_path) would find there,
//! skipping every other value unbuilt. It gives the same answers as building the whole
//! record and looking each path up (keys holding dots, JSON held in text, duplicate keys
//! and all): where a path could be found in two places (the one case where the whole
//! record's lookup order matters) it says so, and the caller reads the line whole.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::json_path::lookup_keys;

/// One level of the compiled paths: the object keys that lead somewhere from here.
#[derive(Debug, Default)]
struct Node {
    /// Per key: the paths that end at it, and the level below for paths that go on.
    keys: HashMap<String, Edge, foldhash::fast::FixedState>,
    /// Every path that goes through this level, with where its rest starts (for JSON
    /// held in text, looked into after the walk).
    below: Vec<(usize, usize)>,
}

#[derive(Debug, Default)]
struct Edge {
    /// The edge's number (a key met twice in one object is an edge walked twice).
    id: usize,
    /// Paths whose rest is exactly this key.
    ends: Vec<usize>,
    /// The level below, for paths whose rest starts with this key and a dot.
    next: Option<Box<Node>>,
}

impl Node {
    fn add(&mut self, paths: &[String], id: usize, start: usize, edges: &mut usize) {
        self.below.push((id, start));
        let rest = &paths[id][start..];
        // Every key the rest may start with: each prefix ending before a dot, and the
        // whole rest.
        for (at, _) in rest.match_indices('.') {
            let edge = self.edge(&rest[..at], edges);
            edge.next
                .get_or_insert_with(Default::default)
                .add(paths, id, start + at + 1, edges);
        }
        self.edge(rest, edges).ends.push(id);
    }

    fn edge(&mut self, key: &str, edges: &mut usize) -> &mut Edge {
        self.keys.entry(key.to_string()).or_insert_with(|| {
            *edges += 1;
            Edge {
                id: *edges - 1,
                ..Edge::default()
            }
        })
    }
}

/// The dotted paths a source's extractor may look up, compiled for [`PathSet::parse`].
#[derive(Debug)]
pub struct PathSet {
    paths: Vec<String>,
    root: Node,
    edges: usize,
}

/// What one line holds at each path of a [`PathSet`].
#[derive(Debug)]
pub enum Found {
    /// The line is a JSON object, and each path's value (or none), by path number.
    Fields(Vec<Option<Value>>),
    /// The line is not an object, or a path could be found in two places: the whole
    /// value, to be read as a record.
    Whole(Value),
}

impl PathSet {
    /// Compiles `paths` (duplicates are kept once); [`PathSet::index`] numbers them.
    pub fn new<I: IntoIterator<Item = String>>(paths: I) -> PathSet {
        let mut unique: Vec<String> = Vec::new();
        for path in paths {
            if !unique.contains(&path) {
                unique.push(path);
            }
        }
        let (mut root, mut edges) = (Node::default(), 0);
        for id in 0..unique.len() {
            root.add(&unique, id, 0, &mut edges);
        }
        PathSet {
            paths: unique,
            root,
            edges,
        }
    }

    /// The number of a path given to [`PathSet::new`].
    pub fn index(&self, path: &str) -> Option<usize> {
        self.paths.iter().position(|p| p == path)
    }

    /// The paths, by number.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Reads one JSON text. Errors are those of reading the text whole with serde_json
    /// (skipping a value reports some errors in other words, so a text that fails is read
    /// again whole for its error).
    pub fn parse(&self, text: &str) -> Result<Found, serde_json::Error> {
        match self.walk(text) {
            Ok(found) => Ok(found),
            Err(_) => serde_json::from_str::<Value>(text).map(Found::Whole),
        }
    }

    fn walk(&self, text: &str) -> Result<Found, serde_json::Error> {
        let mut walk = Walk {
            set: self,
            found: vec![None; self.paths.len()],
            walked: vec![false; self.edges],
            in_text: Vec::new(),
            twice: false,
        };
        // Only an object is walked; anything else is read whole (and told apart by the
        // caller).
        if !text.trim_start().starts_with('{') {
            return Ok(Found::Whole(serde_json::from_str(text)?));
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        Below {
            walk: &mut walk,
            node: &self.root,
        }
        .deserialize(&mut deserializer)?;
        deserializer.end()?;
        for (json, below) in std::mem::take(&mut walk.in_text) {
            let Ok(value) = serde_json::from_str::<Value>(&json) else {
                continue;
            };
            for (id, start) in below {
                if let Some(found) = lookup_keys(&value, &self.paths[id][start..]) {
                    walk.set_found(id, found.into_owned());
                }
            }
        }
        if walk.twice {
            return Ok(Found::Whole(serde_json::from_str(text)?));
        }
        Ok(Found::Fields(walk.found))
    }
}

/// The state of one line's walk.
struct Walk<'s> {
    set: &'s PathSet,
    found: Vec<Option<Value>>,
    /// The edges walked so far, by number.
    walked: Vec<bool>,
    /// Text holding a JSON object met where paths go on, with those paths.
    in_text: Vec<(String, Vec<(usize, usize)>)>,
    /// A path was found in two places.
    twice: bool,
}

impl Walk<'_> {
    fn set_found(&mut self, id: usize, value: Value) {
        if self.found[id].is_some() {
            self.twice = true;
        } else {
            self.found[id] = Some(value);
        }
    }
}

fn walk_object<'de, 's, A: MapAccess<'de>>(
    walk: &mut Walk<'s>,
    node: &'s Node,
    mut map: A,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key_seed(KeySeed)? {
        let Some(edge) = node.keys.get(key.as_ref()) else {
            map.next_value::<Skip>()?;
            continue;
        };
        // A key given twice: the whole record keeps the last value, so let it decide.
        if std::mem::replace(&mut walk.walked[edge.id], true) {
            walk.twice = true;
        }
        match (&edge.next, edge.ends.is_empty()) {
            (None, true) => {
                map.next_value::<Skip>()?;
            }
            (None, false) => {
                let value: Value = map.next_value()?;
                set_all(walk, &edge.ends, value);
            }
            (Some(next), false) => {
                // A path ends here and others go on below: read the value whole and
                // look the others up in it.
                let value: Value = map.next_value()?;
                for &(id, start) in &next.below {
                    if let Some(found) = lookup_keys(&value, &walk.set.paths[id][start..]) {
                        walk.set_found(id, found.into_owned());
                    }
                }
                set_all(walk, &edge.ends, value);
            }
            (Some(next), true) => map.next_value_seed(Below { walk, node: next })?,
        }
    }
    Ok(())
}

/// Sets every path in `ids` (most often one) to `value`, cloning it only for the others.
fn set_all(walk: &mut Walk<'_>, ids: &[usize], value: Value) {
    if let Some((&last, others)) = ids.split_last() {
        for &id in others {
            walk.set_found(id, value.clone());
        }
        walk.set_found(last, value);
    }
}

/// A value some paths go on below (the line itself, at the root): an object is walked,
/// text holding a JSON object is kept to look into after the walk, anything else holds
/// none of them.
struct Below<'w, 's> {
    walk: &'w mut Walk<'s>,
    node: &'s Node,
}

impl<'de> DeserializeSeed<'de> for Below<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Below<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        walk_object(self.walk, self.node, map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(())
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        if text.trim_start().starts_with('{') {
            self.walk
                .in_text
                .push((text.to_string(), self.node.below.clone()));
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A value no path needs, checked as strictly as reading it into a `Value` would (serde's
/// `IgnoredAny` lets through numbers out of range), but not built.
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skip, D::Error> {
        deserializer.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

/// An object key, borrowed from the line when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The answer of looking each path up in the whole record, for comparison.
    fn whole_lookups(set: &PathSet, text: &str) -> Vec<Option<Value>> {
        let record: Value = serde_json::from_str(text).unwrap();
        set.paths()
            .iter()
            .map(|p| lookup_keys(&record, p).map(Cow::into_owned))
            .collect()
    }

    fn fields(found: Found) -> Vec<Option<Value>> {
        match found {
            Found::Fields(fields) => fields,
            Found::Whole(v) => panic!("read whole: {v}"),
        }
    }

    #[test]
    fn finds_what_the_whole_record_lookup_finds() {
        let set = PathSet::new(
            [
                "id",
                "usage.prompt_tokens",
                "usage.prompt_tokens_details.cached_tokens",
                "metadata.team",
                "metadata.user_id",
                "error",
                "attributes.gen_ai.usage.input_tokens",
                "hash_ids",
                "absent.path",
            ]
            .map(String::from),
        );
        let lines = [
            r#"{"id":"a","usage":{"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":4}},"metadata":{"team":"t","user_id":null},"skip":{"deep":[1,2,{"x":1}]}}"#,
            r#"{"error":{"message":"boom","code":500},"id":"b\"q","hash_ids":[1,2,3]}"#,
            // A key holding dots, as OTel attributes are flattened.
            r#"{"attributes":{"gen_ai.usage.input_tokens":7,"other":1}}"#,
            // JSON held in text (LiteLLM's metadata column).
            r#"{"metadata":"{\"team\": \"search\", \"user_id\": \"u9\"}","id":"c"}"#,
            r#"{"usage":5,"metadata":[1,2],"id":12}"#,
            r#"{}"#,
        ];
        for line in lines {
            assert_eq!(
                fields(set.parse(line).unwrap()),
                whole_lookups(&set, line),
                "{line}"
            );
        }
        let first = fields(set.parse(lines[0]).unwrap());
        assert_eq!(first[2], Some(json!(4)));
        assert_eq!(first[4], Some(Value::Null));
    }

    #[test]
    fn a_path_found_in_two_places_reads_the_line_whole() {
        // "a.b" is both a key of the top level and a path through "a": the whole record's
        // lookup prefers the longer key; the walk leaves the choice to it.
        let set = PathSet::new(["a.b".to_string()]);
        let line = r#"{"a":{"b":1},"a.b":2}"#;
        match set.parse(line).unwrap() {
            Found::Whole(v) => assert_eq!(lookup_keys(&v, "a.b").as_deref(), Some(&json!(2))),
            Found::Fields(f) => panic!("expected the whole line, got {f:?}"),
        }
        // A key given twice, the path in the first only: the whole record keeps the last.
        let line = r#"{"a.b":1,"a.b":3}"#;
        assert!(matches!(set.parse(line).unwrap(), Found::Whole(_)));
        let line = r#"{"a":{"b":1},"a":{}}"#;
        match set.parse(line).unwrap() {
            Found::Whole(v) => assert_eq!(lookup_keys(&v, "a.b"), None),
            Found::Fields(f) => panic!("expected the whole line, got {f:?}"),
        }
    }

    #[test]
    fn a_path_ending_where_another_goes_on() {
        let set = PathSet::new(["usage".to_string(), "usage.total".to_string()]);
        let line = r#"{"usage":{"total":3}}"#;
        assert_eq!(
            fields(set.parse(line).unwrap()),
            vec![Some(json!({"total": 3})), Some(json!(3))]
        );
    }

    #[test]
    fn non_objects_and_bad_json() {
        let set = PathSet::new(["id".to_string()]);
        assert!(matches!(
            set.parse("[1,2]").unwrap(),
            Found::Whole(Value::Array(_))
        ));
        assert!(matches!(set.parse("42").unwrap(), Found::Whole(_)));
        // serde_json's own errors and columns, as reading the whole value gives.
        for bad in [
            r#"{"id": }"#,
            r#"{"id":"a"} x"#,
            r#"{"id":"a""#,
            r#"{"skip":[1,}"#,
        ] {
            let ours = set.parse(bad).unwrap_err();
            let whole = serde_json::from_str::<Value>(bad).unwrap_err();
            assert_eq!(
                (ours.to_string(), ours.column()),
                (whole.to_string(), whole.column()),
                "{bad}"
            );
        }
    }
}
