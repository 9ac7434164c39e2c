//! The direct encoder: a record as the Automerge value it is written as,
//! built without a document, so that a new record is written in one batch
//! ([`crate::docs::create_in`]) instead of field by field.
//!
//! A reconcile into a document (autosurgeon's `reconcile_prop`) looks up
//! every field before writing it, to change only what differs; for a key
//! that does not exist yet there is nothing to compare, and those lookups
//! were most of a write's cost (issue 14's profile: 46% of a node's CPU per
//! edit). This encoder runs the same `Reconcile` implementations against a
//! value instead of a document, so there is one description of how a record
//! is laid out, and the two writers are tested to give the same document.
//!
//! Only what records use is supported: maps, sequences, scalars. Text and
//! counters are refused (no record has one), so a record that grows one
//! fails loudly in the tests instead of being written differently.

use std::borrow::Cow;

use automerge::hydrate::{List, Map, MapValue, Value};
use automerge::{ChangeHash, ObjType, ScalarValue};
use autosurgeon::Reconcile;
use autosurgeon::reconcile::{
    CounterReconciler, LoadKey, MapReconciler, Reconciler, SeqReconciler, StaleHeads,
    TextReconciler,
};

/// Why a value could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    StaleHeads(#[from] StaleHeads),
    #[error("{0} is not supported by the direct encoder")]
    Unsupported(&'static str),
    #[error("the value encodes to nothing")]
    Empty,
}

/// `value` as the Automerge value a reconcile into an empty place writes.
pub fn to_value<R: Reconcile>(value: &R) -> Result<Value, EncodeError> {
    encode(value)?.ok_or(EncodeError::Empty)
}

fn encode<R: Reconcile>(value: R) -> Result<Option<Value>, EncodeError> {
    let mut out = None;
    value.reconcile(Slot { value: &mut out })?;
    Ok(out)
}

/// One place a value is written to.
struct Slot<'a> {
    value: &'a mut Option<Value>,
}

impl Slot<'_> {
    fn scalar(&mut self, s: ScalarValue) -> Result<(), EncodeError> {
        *self.value = Some(Value::Scalar(s));
        Ok(())
    }
}

impl Reconciler for Slot<'_> {
    type Error = EncodeError;
    type Map<'m>
        = MapSlot<'m>
    where
        Self: 'm;
    type Seq<'s>
        = SeqSlot<'s>
    where
        Self: 's;
    type Text<'t>
        = Refused
    where
        Self: 't;
    type Counter<'c>
        = Refused
    where
        Self: 'c;

    fn none(&mut self) -> Result<(), EncodeError> {
        self.scalar(ScalarValue::Null)
    }
    fn bytes<B: AsRef<[u8]>>(&mut self, value: B) -> Result<(), EncodeError> {
        self.scalar(ScalarValue::Bytes(value.as_ref().to_vec()))
    }
    fn timestamp(&mut self, value: i64) -> Result<(), EncodeError> {
        self.scalar(ScalarValue::Timestamp(value))
    }
    fn boolean(&mut self, value: bool) -> Result<(), EncodeError> {
        self.scalar(ScalarValue::Boolean(value))
    }
    fn str<S: AsRef<str>>(&mut self, value: S) -> Result<(), EncodeError> {
        self.scalar(ScalarValue::Str(value.as_ref().into()))
    }
    fn u64(&mut self, value: u64) -> Result<(), EncodeError> {
        self.scalar(ScalarValue::Uint(value))
    }
    fn i64(&mut self, value: i64) -> Result<(), EncodeError> {
        self.scalar(ScalarValue::Int(value))
    }
    fn f64(&mut self, value: f64) -> Result<(), EncodeError> {
        self.scalar(ScalarValue::F64(value))
    }
    fn map(&mut self) -> Result<MapSlot<'_>, EncodeError> {
        *self.value = Some(Value::Map(Map::default()));
        match self.value {
            Some(Value::Map(map)) => Ok(MapSlot { map }),
            _ => Err(EncodeError::Empty),
        }
    }
    fn seq(&mut self) -> Result<SeqSlot<'_>, EncodeError> {
        Ok(SeqSlot {
            items: Vec::new(),
            target: self.value,
        })
    }
    fn text(&mut self) -> Result<Refused, EncodeError> {
        Err(EncodeError::Unsupported("text"))
    }
    fn counter(&mut self) -> Result<Refused, EncodeError> {
        Err(EncodeError::Unsupported("a counter"))
    }
    fn heads(&self) -> &[ChangeHash] {
        &[]
    }
}

/// A map being encoded.
struct MapSlot<'a> {
    map: &'a mut Map,
}

fn value_ref(v: &Value) -> automerge::ValueRef<'static> {
    match v {
        Value::Scalar(s) => automerge::ValueRef::from(s.clone()),
        Value::Map(_) => automerge::ValueRef::Object(ObjType::Map),
        Value::List(_) => automerge::ValueRef::Object(ObjType::List),
        Value::Text(_) => automerge::ValueRef::Object(ObjType::Text),
    }
}

impl MapReconciler for MapSlot<'_> {
    type Error = EncodeError;
    type EntriesIter<'e>
        = std::vec::IntoIter<(Cow<'e, str>, automerge::ValueRef<'e>)>
    where
        Self: 'e;

    fn entries(&self) -> Self::EntriesIter<'_> {
        self.map
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), value_ref(&v.value)))
            .collect::<Vec<_>>()
            .into_iter()
    }
    fn entry<P: AsRef<str>>(&self, prop: P) -> Option<automerge::Value<'_>> {
        self.map.get(prop.as_ref()).map(automerge::Value::from)
    }
    fn put<R: Reconcile, P: AsRef<str>>(&mut self, prop: P, value: R) -> Result<(), EncodeError> {
        if let Some(value) = encode(value)? {
            self.map.insert(
                prop.as_ref().to_string(),
                MapValue {
                    value,
                    conflict: false,
                },
            );
        }
        Ok(())
    }
    fn delete<P: AsRef<str>>(&mut self, prop: P) -> Result<(), EncodeError> {
        self.map.remove(prop.as_ref());
        Ok(())
    }
    fn hydrate_entry_key<'k, R: Reconcile, P: AsRef<str>>(
        &self,
        _prop: P,
    ) -> Result<LoadKey<R::Key<'k>>, EncodeError> {
        Ok(LoadKey::KeyNotFound)
    }
}

/// A sequence being encoded; written to its place when dropped (a
/// `hydrate::List` cannot be built item by item).
struct SeqSlot<'a> {
    items: Vec<Value>,
    target: &'a mut Option<Value>,
}

impl Drop for SeqSlot<'_> {
    fn drop(&mut self) {
        *self.target = Some(Value::List(List::from(std::mem::take(&mut self.items))));
    }
}

impl SeqReconciler for SeqSlot<'_> {
    type Error = EncodeError;
    type ItemIter<'i>
        = std::vec::IntoIter<automerge::ValueRef<'i>>
    where
        Self: 'i;

    fn items(&self) -> Self::ItemIter<'_> {
        self.items
            .iter()
            .map(value_ref)
            .collect::<Vec<_>>()
            .into_iter()
    }
    fn get(&self, index: usize) -> Result<Option<automerge::Value<'_>>, EncodeError> {
        Ok(self.items.get(index).map(automerge::Value::from))
    }
    fn hydrate_item_key<'k, R: Reconcile>(
        &self,
        _index: usize,
    ) -> Result<LoadKey<R::Key<'k>>, EncodeError> {
        Ok(LoadKey::KeyNotFound)
    }
    fn insert<R: Reconcile>(&mut self, index: usize, value: R) -> Result<(), EncodeError> {
        if let Some(v) = encode(value)? {
            self.items.insert(index.min(self.items.len()), v);
        }
        Ok(())
    }
    fn set<R: Reconcile>(&mut self, index: usize, value: R) -> Result<(), EncodeError> {
        if let Some(v) = encode(value)?
            && let Some(slot) = self.items.get_mut(index)
        {
            *slot = v;
        }
        Ok(())
    }
    fn delete(&mut self, index: usize) -> Result<(), EncodeError> {
        if index < self.items.len() {
            self.items.remove(index);
        }
        Ok(())
    }
    fn len(&self) -> Result<usize, EncodeError> {
        Ok(self.items.len())
    }
}

/// What `text()` and `counter()` would return; they refuse before one
/// exists, so these methods are never reached.
pub struct Refused;

impl TextReconciler for Refused {
    type Error = EncodeError;
    fn splice<S: AsRef<str>>(&mut self, _: usize, _: isize, _: S) -> Result<(), EncodeError> {
        Err(EncodeError::Unsupported("text"))
    }
    fn heads(&self) -> &[ChangeHash] {
        &[]
    }
    fn update<S: AsRef<str>>(&mut self, _: S) -> Result<(), EncodeError> {
        Err(EncodeError::Unsupported("text"))
    }
}

impl CounterReconciler for Refused {
    type Error = EncodeError;
    fn increment(&mut self, _: i64) -> Result<(), EncodeError> {
        Err(EncodeError::Unsupported("a counter"))
    }
    fn set(&mut self, _: i64) -> Result<(), EncodeError> {
        Err(EncodeError::Unsupported("a counter"))
    }
}
