//! Writing a document in one change: its records as operations in the op
//! set's own order, encoded the way autosurgeon encodes them.

use super::*;

// ---- writing a document in one change ----

/// One document being written: its genesis, then every record as the
/// operations of a single change.
///
/// Why not `docs::put_in` in a transaction: Automerge 0.12 splices every
/// operation into its columnar op set as it is made (tens of µs each), so a
/// month of a street's work (about ten million operations) would take
/// minutes. Here the records become the operations of one change, numbered
/// breadth first with keys in order, which is the op set's own order
/// (object, key, id), so that applying it (`apply_changes_batch`, or
/// `load_incremental` when a store is read) finds them in order and splices
/// a few runs. The values are encoded as autosurgeon encodes them (see
/// [`tree`]; a test compares the two kind by kind), so the core reads them
/// like any other record.
pub(crate) struct DocBuilder {
    pub(crate) id: DocId,
    pub(crate) genesis: AutoCommit,
    pub(crate) actor: ActorId,
    /// Root keys (rank 0) and collections (rank 1 + their place in the
    /// genesis, which is their object id order).
    pub(crate) collections: Vec<(&'static str, automerge::legacy::ObjectId)>,
    /// (rank, key, value) of every record.
    pub(crate) entries: Vec<(usize, String, tree::Tree)>,
}

/// A generated document: its genesis and the change holding its records
/// (none when it has no record), not yet applied.
pub(crate) struct Built {
    pub(crate) id: DocId,
    pub(crate) genesis: AutoCommit,
    pub(crate) change: Option<automerge::Change>,
}

impl DocBuilder {
    pub(crate) fn new(id: &DocId, actor: ActorId) -> DocBuilder {
        let genesis = genesis(id, actor.clone());
        let mut collections: Vec<(&'static str, automerge::legacy::ObjectId, u64)> =
            collections(id)
                .into_iter()
                .filter_map(|name| match collection_obj(&genesis, name)? {
                    automerge::ObjId::Id(counter, actor, _) => Some((
                        name,
                        automerge::legacy::ObjectId::Id(automerge::legacy::OpId(counter, actor)),
                        counter,
                    )),
                    automerge::ObjId::Root => None,
                })
                .collect();
        collections.sort_by_key(|c| c.2);
        DocBuilder {
            id: id.clone(),
            genesis,
            actor,
            collections: collections.into_iter().map(|(n, o, _)| (n, o)).collect(),
            entries: Vec::new(),
        }
    }

    /// Writes `rec` at `collection[id]` (a key the document does not hold yet).
    pub(crate) fn put<T: serde::Serialize>(
        &mut self,
        collection: &str,
        id: &str,
        rec: &T,
    ) -> Result<(), DemoStreetError> {
        let rank = 1 + self
            .collections
            .iter()
            .position(|(name, _)| *name == collection)
            .ok_or_else(|| {
                DemoStreetError::Generate(format!("{} has no collection {collection}", self.id))
            })?;
        self.entries
            .push((rank, id.to_string(), rec.serialize(tree::TreeSer)?));
        Ok(())
    }

    /// Writes `rec` at the root under `key` (a key the genesis does not hold).
    pub(crate) fn put_root<T: serde::Serialize>(
        &mut self,
        key: &str,
        rec: &T,
    ) -> Result<(), DemoStreetError> {
        self.entries
            .push((0, key.to_string(), rec.serialize(tree::TreeSer)?));
        Ok(())
    }

    /// The records as one change after the genesis, stamped with `now_ms`.
    pub(crate) fn finish(self, spec: &StreetSpec) -> Built {
        use automerge::ObjType;
        use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType, SortedVec};
        use std::collections::VecDeque;
        use tree::Tree;

        let DocBuilder {
            id,
            mut genesis,
            actor,
            collections,
            mut entries,
        } = self;
        if entries.is_empty() {
            return Built {
                id,
                genesis,
                change: None,
            };
        }
        let genesis_changes = genesis.get_changes(&[]);
        let start = genesis_changes
            .iter()
            .map(|c| c.max_op())
            .max()
            .unwrap_or(0)
            + 1;
        let seq = 1 + genesis_changes
            .iter()
            .filter(|c| c.actor_id() == &actor)
            .count() as u64;

        struct Ops {
            actor: ActorId,
            next: u64,
            ops: Vec<Op>,
            /// Objects made whose contents are still to come, in id order.
            queue: VecDeque<(OpId, Tree)>,
        }
        impl Ops {
            fn push(&mut self, obj: ObjectId, key: Key, insert: bool, value: Tree) -> OpId {
                let id = OpId(self.next, self.actor.clone());
                self.next += 1;
                let action = match value {
                    Tree::Scalar(v) => OpType::Put(v),
                    Tree::Map(_) | Tree::List(_) => {
                        let typ = if matches!(value, Tree::Map(_)) {
                            ObjType::Map
                        } else {
                            ObjType::List
                        };
                        self.queue.push_back((id.clone(), value));
                        OpType::Make(typ)
                    }
                };
                self.ops.push(Op {
                    action,
                    obj,
                    key,
                    pred: SortedVec::new(),
                    insert,
                });
                id
            }
        }
        let mut ops = Ops {
            actor: actor.clone(),
            next: start,
            ops: Vec::with_capacity(entries.len() * 12),
            queue: VecDeque::new(),
        };
        // Breadth first, each object's keys in order: the op set's order.
        entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (rank, key, value) in entries {
            let obj = match rank {
                0 => ObjectId::Root,
                r => collections[r - 1].1.clone(),
            };
            ops.push(obj, Key::from(key), false, value);
        }
        while let Some((obj_id, value)) = ops.queue.pop_front() {
            let obj = ObjectId::Id(obj_id);
            match value {
                Tree::Map(mut fields) => {
                    fields.sort_by(|a, b| a.0.cmp(&b.0));
                    for (k, v) in fields {
                        ops.push(obj.clone(), Key::from(k), false, v);
                    }
                }
                Tree::List(items) => {
                    let mut prev = ElementId::Head;
                    for v in items {
                        prev = ElementId::Id(ops.push(obj.clone(), Key::Seq(prev), true, v));
                    }
                }
                Tree::Scalar(_) => {}
            }
        }
        let change = automerge::Change::from(automerge::ExpandedChange {
            operations: ops.ops,
            actor_id: actor,
            hash: None,
            seq,
            start_op: std::num::NonZeroU64::new(start).unwrap_or(std::num::NonZeroU64::MIN),
            time: spec.now_ms.div_euclid(1000),
            message: Some(format!("demo street (seed {})", spec.seed)),
            deps: genesis.get_heads(),
            extra_bytes: Vec::new(),
            author: None,
        });
        Built {
            id,
            genesis,
            change: Some(change),
        }
    }
}

impl Built {
    /// The document, with the change applied.
    pub(crate) fn into_doc(self) -> Result<AutoCommit, DemoStreetError> {
        let Built {
            id,
            mut genesis,
            change,
        } = self;
        if let Some(change) = change {
            genesis.apply_changes_batch([change]).map_err(|e| {
                DemoStreetError::Generate(format!("{id}: the generated change: {e}"))
            })?;
        }
        Ok(genesis)
    }

    /// What a store holds for the document: the genesis change and the
    /// generated one as incremental chunks (what `load_incremental` reads,
    /// as for any edit), and the heads they reach.
    pub(crate) fn into_saved(self) -> Saved {
        let mut genesis = self.genesis;
        let mut bytes = Vec::new();
        for mut c in genesis.get_changes(&[]) {
            bytes.extend_from_slice(&c.bytes());
        }
        let heads = match self.change {
            Some(mut c) => {
                bytes.extend_from_slice(&c.bytes());
                vec![c.hash()]
            }
            None => genesis.get_heads(),
        };
        Saved {
            id: self.id,
            bytes,
            heads,
        }
    }
}
