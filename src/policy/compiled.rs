//! The built-in policies as build.rs compiled them: static trees of their strings (each with
//! its span in the file), arrays and tables, read by a serde deserializer into the same
//! `raw` types a parsed file gives. A run thus pays no TOML parsing for the built-in layers
//! (about two million instructions for `policies/base.toml`); the files stay the source of
//! truth, and the test below checks that both paths give the same policy.

use serde::de::value::{Error, MapDeserializer, SeqDeserializer};
use serde::de::{IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

/// One value of a compiled policy file.
#[derive(Debug)]
pub enum Node {
    /// A string and its span (byte offsets in the file), as `toml::Spanned` gives it.
    Str(&'static str, usize, usize),
    /// A boolean and its span.
    Bool(bool, usize, usize),
    Array(&'static [Node]),
    Table(&'static [(&'static str, Node)]),
}

include!(concat!(env!("OUT_DIR"), "/policies.rs"));

/// The compiled tree of the built-in file `name` (`policies/base.toml`), if build.rs could
/// compile it.
pub fn tree(name: &str) -> Option<&'static Node> {
    TREES.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
}

impl<'de> serde::Deserializer<'de> for &'static Node {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Str(s, _, _) => visitor.visit_borrowed_str(s),
            Node::Bool(b, _, _) => visitor.visit_bool(*b),
            Node::Array(items) => visitor.visit_seq(SeqDeserializer::new(items.iter())),
            Node::Table(entries) => {
                visitor.visit_map(MapDeserializer::new(entries.iter().map(|(k, v)| (*k, v))))
            }
        }
    }

    /// A value that is present is `Some`: a missing key never reaches a deserializer.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    /// `toml::Spanned<String>` and `toml::Spanned<bool>`: the value with its span in the file.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Str(s, start, end) if serde_spanned::de::is_spanned(name) => visitor.visit_map(
                serde_spanned::de::SpannedDeserializer::<&str, Error>::new(s, *start..*end),
            ),
            Node::Bool(b, start, end) if serde_spanned::de::is_spanned(name) => visitor.visit_map(
                serde_spanned::de::SpannedDeserializer::<bool, Error>::new(*b, *start..*end),
            ),
            _ => {
                let _ = fields;
                self.deserialize_any(visitor)
            }
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, Error> for &'static Node {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    /// Every built-in file: compiled, and the same policy as its text parsed (every entry,
    /// reason and line).
    #[test]
    fn compiled_policies_equal_the_parsed_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let on_disk = std::fs::read_dir(dir.join("policies"))
            .expect("policies/")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".toml"))
            })
            .count();
        assert_eq!(TREES.len(), on_disk, "every policy file is compiled");
        for (name, _) in TREES {
            let text = std::fs::read_to_string(dir.join(name)).expect("the policy file");
            let mut parsed = Policy::default();
            parsed
                .add_layer(&format!("built-in {name}"), &text)
                .expect("parses");
            let mut compiled = Policy::default();
            compiled.add_builtin((name, &text)).expect("compiled");
            if *name == "policies/base.toml" {
                // The comparison below means something only with entries to compare.
                assert!(!parsed.fs.hide.is_empty() && !parsed.seccomp.deny.is_empty());
            }
            assert_eq!(
                format!("{parsed:?}"),
                format!("{compiled:?}"),
                "{name}: the compiled policy differs from the parsed file"
            );
        }
    }

    #[test]
    fn an_unknown_key_in_a_tree_is_refused_as_in_a_file() {
        static BAD: Node = Node::Table(&[("envv", Node::Table(&[]))]);
        let mut policy = Policy::default();
        let err = crate::policy::validate::merge_tree(&mut policy, "bad.toml", "", &BAD)
            .expect_err("an unknown key");
        assert!(err.to_string().contains("envv"), "{err}");
    }
}
