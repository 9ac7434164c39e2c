//! The office as a host of sync sessions with the coordinator (the link
//! runs the session loop, `gridsync_sync::session`), and how it is rebuilt
//! after a call panicked while holding it.

use gridsync_core::DocId;
use gridsync_core::access::SyncAccess;
use gridsync_core::sync::{DocHeads, Received, SyncError, SyncSession};
use gridsync_svc::Recover;
use gridsync_svc::blocking::BoxError;
use gridsync_sync::{SessionError, SyncHost};

use super::{COORDINATOR_PEER, Office, OfficeError};

/// After a panic, memory may hold half an edit: the community is reloaded
/// from the store.
impl Recover for Office {
    fn recover(&mut self) -> Result<(), BoxError> {
        Ok(self.reload()?)
    }
}

impl From<OfficeError> for SessionError {
    fn from(e: OfficeError) -> Self {
        SessionError::host(e)
    }
}

impl SyncHost for Office {
    fn heads(&mut self) -> Result<DocHeads, SessionError> {
        Ok(self.sync_heads()?)
    }

    /// The coordinator may state only documents this node syncs.
    fn peer_reported(&mut self, changed: &DocHeads, _now_ms: i64) -> Result<(), SessionError> {
        for id in changed.keys() {
            if self.sync_access(id) == SyncAccess::Denied {
                return Err(SessionError::Protocol(format!(
                    "the coordinator's heartbeat states document {id}, which is not this community's"
                )));
            }
        }
        Ok(())
    }

    fn open(&mut self, session: &mut SyncSession, id: &DocId) -> Result<(), SessionError> {
        if self.sync_access(id) == SyncAccess::Denied {
            return Err(SyncError::Denied {
                doc: id.to_string(),
            }
            .into());
        }
        let stored = self
            .store
            .sync_state(COORDINATOR_PEER, id)
            .map_err(OfficeError::from)?;
        session.open_doc(id, stored.as_ref());
        Ok(())
    }

    fn generate(
        &mut self,
        session: &mut SyncSession,
        id: &DocId,
    ) -> Result<Option<Vec<u8>>, SessionError> {
        self.ensure_consistent()?;
        let doc = self.sync_doc(id)?;
        Ok(session.generate(id, doc))
    }

    fn receive(
        &mut self,
        session: &mut SyncSession,
        id: &DocId,
        bytes: &[u8],
        now: i64,
    ) -> Result<Received, SessionError> {
        let access = self.sync_access(id);
        let checked = session.check(id, bytes, now)?;
        self.ensure_consistent()?;
        let doc = self.sync_doc(id)?;
        let before = doc.get_heads();
        let received = match session.receive(id, doc, checked, access, now) {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, SyncError::Apply { .. }) {
                    // Automerge may have taken part of it: memory must not
                    // run ahead of the store.
                    self.reload()?;
                }
                return Err(e.into());
            }
        };
        if received.changed {
            let doc = self.sync_doc(id)?;
            if let Err(e) = gridsync_core::arrival::check_arrived(doc, id, &before) {
                // Nothing of it is stored: memory goes back to the store.
                self.reload()?;
                return Err(SessionError::Record(e));
            }
        }
        self.persist_sync(id, session, now)?;
        if received.changed {
            // Only the records the received changes touched are re-read.
            self.replica.refresh_doc(id, &before);
        }
        Ok(received)
    }

    fn settled(&mut self, session: &mut SyncSession, id: &DocId, now_ms: i64) {
        // A past day that is in sync goes back to the store.
        if let DocId::Activity(_, day) = id {
            let today = self.today(now_ms);
            if (today - *day).num_days().abs() > 1
                && let Some(h) = self.replica.heads(id)
                && session.in_sync(id, &h)
            {
                self.replica.detach_day(*day);
            }
        }
    }
}
