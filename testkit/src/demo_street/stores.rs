//! Into the stores: each document turned into store bytes as soon as it is
//! complete and written into the node's and the coordinator's store.

use super::*;

// ---- into the stores ----

/// Opens the store at `path` (creating its directory), which must hold no
/// document yet.
pub(crate) fn open_empty(path: &Path, key: Option<&StoreKey>) -> Result<Store, DemoStreetError> {
    if let Some(dir) = path.parent() {
        gridsync_store::private::create_dir(dir).map_err(|source| DemoStreetError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let store = Store::open(path, key)?;
    if !store.doc_heads()?.is_empty() {
        return Err(DemoStreetError::NotEmpty(path.to_path_buf()));
    }
    Ok(store)
}

pub(crate) struct Saved {
    pub(crate) id: DocId,
    pub(crate) bytes: Vec<u8>,
    pub(crate) heads: Vec<automerge::ChangeHash>,
}

impl Saved {
    /// The working set that the services load all the time (registry,
    /// cases, today and yesterday, the street) as a compacted snapshot; an
    /// earlier day as its change chunks, which cost several times less to
    /// make and about two and a half times more to load, on the rare
    /// occasion a past day is loaded.
    pub(crate) fn of(built: Built, as_of: Day) -> Result<Saved, DemoStreetError> {
        let working_set = match built.id {
            DocId::Activity(_, day) => (as_of - day).num_days() <= 1,
            _ => true,
        };
        if !working_set {
            return Ok(built.into_saved());
        }
        let id = built.id.clone();
        let mut doc = built.into_doc()?;
        let bytes = doc.save();
        let heads = doc.get_heads();
        Ok(Saved { id, bytes, heads })
    }
    pub(crate) fn write(&self) -> DocWrite {
        DocWrite {
            id: self.id.clone(),
            bytes: self.bytes.clone(),
            heads: self.heads.clone(),
        }
    }
}

pub(crate) struct CommunityDone {
    pub(crate) index: usize,
    pub(crate) info: DemoCommunityInfo,
    pub(crate) docs: Vec<Saved>,
    pub(crate) generate: Duration,
    pub(crate) save: Duration,
    pub(crate) write_node: Duration,
}

pub(crate) fn audit(spec: &StreetSpec) -> Audit<'static> {
    Audit {
        at_ms: spec.now_ms,
        actor: "demo-street",
        action: "seed the demo street",
    }
}

/// Generates one community and writes it (with the street document) into
/// its node's store.
pub(crate) fn seed_community(
    spec: &StreetSpec,
    plan: &StreetPlan,
    index: usize,
    node_db: &Path,
    street: &Saved,
    key: Option<&StoreKey>,
) -> Result<CommunityDone, DemoStreetError> {
    let started = Instant::now();
    let mut docs = Vec::new();
    let mut save = Duration::ZERO;
    let info = build_community(spec, plan, index, &mut |built| {
        let t = Instant::now();
        docs.push(Saved::of(built, spec.as_of)?);
        save += t.elapsed();
        Ok(())
    })?;
    let generate = started.elapsed().saturating_sub(save);
    let t = Instant::now();
    let mut store = Store::open(node_db, key)?;
    store.claim_community(info.id.as_str())?;
    let mut writes: Vec<DocWrite> = docs.iter().map(Saved::write).collect();
    writes.push(street.write());
    store.commit(&writes, &[], Some(&audit(spec)))?;
    store.checkpoint()?;
    Ok(CommunityDone {
        index,
        info,
        docs,
        generate,
        save,
        write_node: t.elapsed(),
    })
}

/// Generates the street of `spec` and writes it into the coordinator's
/// store (`coordinator_data_dir`/[`COORDINATOR_DB_FILE`]) and each
/// community's node store (`node_data_dir(community)`/[`NODE_DB_FILE`]).
///
/// Every store must be new or empty; directories are created. Each node's
/// store gets its community's documents and the street document, the
/// coordinator's store all of them, byte for byte the same, with their
/// heads, so the services open them already in sync. On an error the
/// stores may hold part of the street: delete them before trying again.
/// Every store is encrypted with `key` (`None`: plaintext).
pub fn seed(
    spec: &StreetSpec,
    coordinator_data_dir: &Path,
    node_data_dir: &dyn Fn(&CommunityId) -> PathBuf,
    key: Option<&StoreKey>,
) -> Result<SeededStreet, DemoStreetError> {
    let started = Instant::now();
    spec.check()?;
    let mut timings = SeedTimings::default();
    let node_dbs: Vec<PathBuf> = communities()
        .iter()
        .map(|(id, _, _)| node_data_dir(id).join(NODE_DB_FILE))
        .collect();
    // Every store is checked before any work, so a used one refuses the
    // whole seeding rather than its part.
    for path in &node_dbs {
        drop(open_empty(path, key)?);
    }
    let mut coordinator = open_empty(&coordinator_data_dir.join(COORDINATOR_DB_FILE), key)?;
    coordinator.claim_street(STREET_ID)?;

    let t = Instant::now();
    let plan = StreetPlan::new(spec);
    let street = Saved::of(build_street(spec, &plan)?, spec.as_of)?;
    timings.street = t.elapsed();
    let t = Instant::now();
    coordinator.commit(&[street.write()], &[], Some(&audit(spec)))?;
    timings.write_coordinator += t.elapsed();

    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 2);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut done: Vec<CommunityDone> = Vec::with_capacity(COMMUNITY_COUNT);
    let mut first_error: Option<DemoStreetError> = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Result<CommunityDone, DemoStreetError>>();
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let tx = tx.clone();
                let (next, stop, plan, street, node_dbs) =
                    (&next, &stop, &plan, &street, &node_dbs);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= COMMUNITY_COUNT {
                            break;
                        }
                        let r = seed_community(spec, plan, i, &node_dbs[i], street, key);
                        if r.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        if tx.send(r).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        // The coordinator's store is written here, as communities finish.
        for r in rx {
            let result = r.and_then(|d| {
                let t = Instant::now();
                let writes: Vec<DocWrite> = d.docs.iter().map(Saved::write).collect();
                coordinator.commit(&writes, &[], Some(&audit(spec)))?;
                timings.write_coordinator += t.elapsed();
                Ok(d)
            });
            match result {
                Ok(mut d) => {
                    d.docs = Vec::new();
                    done.push(d);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
        }
        for h in handles {
            if h.join().is_err() {
                first_error.get_or_insert(DemoStreetError::Worker);
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let t = Instant::now();
    coordinator.checkpoint()?;
    timings.write_coordinator += t.elapsed();
    done.sort_by_key(|d| d.index);
    let mut counts = Counts::default();
    let mut documents = 1;
    for d in &done {
        counts.add(&d.info.counts);
        timings.generate += d.generate;
        timings.save += d.save;
        timings.write_nodes += d.write_node;
        documents += 2 + d.info.counts.activity_days as usize;
    }
    timings.total = started.elapsed();
    Ok(SeededStreet {
        street_id: STREET_ID.to_string(),
        street_name: STREET_NAME.to_string(),
        secret_hex: plan.secret_hex.clone(),
        communities: done.into_iter().map(|d| d.info).collect(),
        counts,
        duplicate_persons: plan.duplicates.len(),
        documents,
        timings,
    })
}
