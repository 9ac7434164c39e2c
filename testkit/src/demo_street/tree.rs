//! Records as trees of Automerge values, the way autosurgeon's derived
//! `Reconcile` writes them: a struct is a map of its fields, `None` is null,
//! a unit enum variant is its name, `i64` an Int, `u32` a Uint, a `Date`
//! its text, a `Vec` a list, a `BTreeMap` a map. Taken from the records'
//! `Serialize`, which follows the same shape.

use automerge::ScalarValue;
use serde::ser::{self, Impossible, Serialize};

pub(crate) enum Tree {
    Scalar(ScalarValue),
    Map(Vec<(String, Tree)>),
    List(Vec<Tree>),
}

/// A value shape that records do not have (tagged enum variants, maps
/// with keys that are not text).
#[derive(Debug)]
pub(crate) struct Unsupported(String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write {} as a demo record", self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

pub(crate) struct TreeSer;

impl From<Unsupported> for super::DemoStreetError {
    fn from(e: Unsupported) -> Self {
        super::DemoStreetError::Generate(e.to_string())
    }
}

fn scalar(v: impl Into<ScalarValue>) -> Result<Tree, Unsupported> {
    Ok(Tree::Scalar(v.into()))
}

impl ser::Serializer for TreeSer {
    type Ok = Tree;
    type Error = Unsupported;
    type SerializeSeq = ListSer;
    type SerializeTuple = ListSer;
    type SerializeTupleStruct = ListSer;
    type SerializeTupleVariant = Impossible<Tree, Unsupported>;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = Impossible<Tree, Unsupported>;

    fn serialize_bool(self, v: bool) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Boolean(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Uint(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Uint(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Uint(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Uint(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::F64(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<Tree, Unsupported> {
        scalar(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<Tree, Unsupported> {
        scalar(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Null)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Tree, Unsupported> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Tree, Unsupported> {
        scalar(ScalarValue::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Tree, Unsupported> {
        scalar(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Tree, Unsupported> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: &T,
    ) -> Result<Tree, Unsupported> {
        Err(Unsupported(format!("the variant {name}::{variant}")))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ListSer, Unsupported> {
        Ok(ListSer(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<ListSer, Unsupported> {
        Ok(ListSer(Vec::with_capacity(len)))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<ListSer, Unsupported> {
        Ok(ListSer(Vec::with_capacity(len)))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported(format!("the variant {name}::{variant}")))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSer, Unsupported> {
        Ok(MapSer(Vec::with_capacity(len.unwrap_or(0)), None))
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapSer, Unsupported> {
        Ok(MapSer(Vec::with_capacity(len), None))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported(format!("the variant {name}::{variant}")))
    }
}

pub(crate) struct ListSer(Vec<Tree>);

impl ListSer {
    fn push<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.0.push(v.serialize(TreeSer)?);
        Ok(())
    }
}

impl ser::SerializeSeq for ListSer {
    type Ok = Tree;
    type Error = Unsupported;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.push(v)
    }
    fn end(self) -> Result<Tree, Unsupported> {
        Ok(Tree::List(self.0))
    }
}

impl ser::SerializeTuple for ListSer {
    type Ok = Tree;
    type Error = Unsupported;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.push(v)
    }
    fn end(self) -> Result<Tree, Unsupported> {
        Ok(Tree::List(self.0))
    }
}

impl ser::SerializeTupleStruct for ListSer {
    type Ok = Tree;
    type Error = Unsupported;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.push(v)
    }
    fn end(self) -> Result<Tree, Unsupported> {
        Ok(Tree::List(self.0))
    }
}

/// Entries so far, and a key waiting for its value.
pub(crate) struct MapSer(Vec<(String, Tree)>, Option<String>);

impl ser::SerializeMap for MapSer {
    type Ok = Tree;
    type Error = Unsupported;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Unsupported> {
        match key.serialize(TreeSer)? {
            Tree::Scalar(ScalarValue::Str(s)) => {
                self.1 = Some(s.to_string());
                Ok(())
            }
            _ => Err(Unsupported("a map key that is not text".into())),
        }
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
        let key = self
            .1
            .take()
            .ok_or_else(|| Unsupported("a map value without its key".into()))?;
        self.0.push((key, v.serialize(TreeSer)?));
        Ok(())
    }
    fn end(self) -> Result<Tree, Unsupported> {
        Ok(Tree::Map(self.0))
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Tree;
    type Error = Unsupported;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Unsupported> {
        self.0.push((key.to_string(), v.serialize(TreeSer)?));
        Ok(())
    }
    fn end(self) -> Result<Tree, Unsupported> {
        Ok(Tree::Map(self.0))
    }
}
