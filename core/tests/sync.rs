//! The sync decisions without sockets: two replicas exchange messages
//! through `SyncSession` in memory.

use automerge::{ActorId, AutoCommit, ROOT, transaction::Transactable};
use gridsync_core::access::SyncAccess;
use gridsync_core::docs::genesis;
use gridsync_core::sync::{SyncError, SyncSession};
use gridsync_core::{CommunityId, DocId};

fn reg() -> DocId {
    DocId::Registry(CommunityId::parse("c01").unwrap())
}

fn doc(id: &DocId, actor: u8) -> AutoCommit {
    genesis(id, ActorId::from(&[actor; 16][..]))
}

fn edit(d: &mut AutoCommit, key: &str) {
    d.put(ROOT, key, "v").unwrap();
    d.commit();
}

/// Runs the exchange until neither side has anything to say; returns the
/// number of messages that went each way.
fn exchange(
    id: &DocId,
    (a, sa): (&mut AutoCommit, &mut SyncSession),
    (b, sb): (&mut AutoCommit, &mut SyncSession),
    b_access: SyncAccess,
) -> Result<(u32, u32), SyncError> {
    let (mut ab, mut ba) = (0, 0);
    for _ in 0..50 {
        let m1 = sa.generate(id, a);
        if let Some(m) = &m1 {
            ab += 1;
            let checked = sb.check(id, m, 0)?;
            sb.receive(id, b, checked, SyncAccess::ReadWrite, 0)?;
        }
        let m2 = sb.generate(id, b);
        if let Some(m) = &m2 {
            ba += 1;
            let checked = sa.check(id, m, 0)?;
            sa.receive(id, a, checked, b_access, 0)?;
        }
        if m1.is_none() && m2.is_none() {
            return Ok((ab, ba));
        }
    }
    panic!("the exchange did not settle in 50 rounds");
}

#[test]
fn two_replicas_converge_and_resume_from_persisted_state() {
    let id = reg();
    let (mut a, mut b) = (doc(&id, 1), doc(&id, 2));
    for i in 0..50 {
        edit(&mut a, &format!("a{i}"));
    }
    edit(&mut b, "b0");
    let (mut sa, mut sb) = (SyncSession::new(), SyncSession::new());
    sa.open_doc(&id, None);
    sb.open_doc(&id, None);
    exchange(
        &id,
        (&mut a, &mut sa),
        (&mut b, &mut sb),
        SyncAccess::ReadWrite,
    )
    .unwrap();
    assert_eq!(a.get_heads(), b.get_heads());
    assert!(sa.in_sync(&id, &a.get_heads()));

    // A new session from what both kept: one change on each side settles in
    // a few messages.
    let (pa, pb) = (sa.persisted(&id).unwrap(), sb.persisted(&id).unwrap());
    edit(&mut a, "a-late");
    edit(&mut b, "b-late");
    let (mut sa, mut sb) = (SyncSession::new(), SyncSession::new());
    sa.open_doc(&id, Some(&pa));
    sb.open_doc(&id, Some(&pb));
    let (ab, ba) = exchange(
        &id,
        (&mut a, &mut sa),
        (&mut b, &mut sb),
        SyncAccess::ReadWrite,
    )
    .unwrap();
    assert_eq!(a.get_heads(), b.get_heads());
    assert!(ab <= 3 && ba <= 3, "{ab} + {ba} messages");
}

#[test]
fn a_read_only_peer_cannot_add_changes() {
    let id = DocId::Street;
    let (mut hub, mut node) = (doc(&id, 1), doc(&id, 2));
    edit(&mut hub, "region");
    let (mut sh, mut sn) = (SyncSession::new(), SyncSession::new());
    sh.open_doc(&id, None);
    sn.open_doc(&id, None);
    // Reading is fine.
    exchange(
        &id,
        (&mut hub, &mut sh),
        (&mut node, &mut sn),
        SyncAccess::ReadOnly,
    )
    .unwrap();
    assert_eq!(hub.get_heads(), node.get_heads());
    // A node's own change is refused, and the hub's document is untouched.
    edit(&mut node, "forged");
    let before = hub.get_heads();
    let r = exchange(
        &id,
        (&mut hub, &mut sh),
        (&mut node, &mut sn),
        SyncAccess::ReadOnly,
    );
    assert!(matches!(r, Err(SyncError::ReadOnly { .. })), "{r:?}");
    assert_eq!(hub.get_heads(), before);
}

#[test]
fn garbage_and_denied_documents_are_refused() {
    let id = reg();
    let mut a = doc(&id, 1);
    let mut s = SyncSession::new();
    s.open_doc(&id, None);
    assert!(matches!(
        s.check(&id, b"not automerge", 0),
        Err(SyncError::Corrupt { .. })
    ));
    assert!(matches!(
        SyncSession::decode(&id, b"not automerge"),
        Err(SyncError::Garbage { .. })
    ));
    let mut other = doc(&id, 2);
    let mut so = SyncSession::new();
    so.open_doc(&id, None);
    let m = so.generate(&id, &mut other).unwrap();
    let before = a.get_heads();
    let checked = s.check(&id, &m, 0).unwrap();
    let r = s.receive(&id, &mut a, checked, SyncAccess::Denied, 0);
    assert!(matches!(r, Err(SyncError::Denied { .. })));
    assert_eq!(a.get_heads(), before);
}
