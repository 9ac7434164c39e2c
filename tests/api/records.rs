//! Every record kind through its whole life over the office API: created
//! with a node-made and a client-given id, read back, updated, listed (in
//! id order, page by page) and removed.

use gridsync_core::Kind;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::*;
use tonic::Code;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_created_read_updated_listed_and_removed() {
    let (_dir, node, mut c, t) = fixture_node().await;
    for (i, &kind) in Kind::ALL.iter().enumerate() {
        let name = kind.name();
        let n = 10 * i as u32;

        // Created with no id: the node makes one of the kind's form.
        let sent = good(kind, n, &t);
        let stored = create(&mut c, sent.clone()).await;
        let auto_id = id_of(&stored).to_string();
        assert!(
            auto_id.starts_with(&format!("{}_", kind.id_prefix())),
            "{name}: the node made id {auto_id:?}"
        );
        if kind.doc_class() == gridsync_core::DocClass::Activity {
            assert_eq!(
                day_of_id(&auto_id),
                t.today(),
                "{name}: the id {auto_id:?} does not carry the record's day"
            );
        }
        assert_eq!(stored, as_stored(&sent, &auto_id), "{name}: the reply");
        assert_eq!(
            get(&mut c, name, &auto_id).await,
            Some(as_stored(&sent, &auto_id)),
            "{name}: read back"
        );

        // Created with a client-given id: that id is kept.
        let given = client_id(kind, &t, &format!("given{i}"));
        let mut sent2 = good(kind, n + 1, &t);
        set_id(&mut sent2, &given);
        let stored2 = create(&mut c, sent2.clone()).await;
        assert_eq!(id_of(&stored2), given, "{name}: the client's id");
        assert_eq!(
            get(&mut c, name, &given).await,
            Some(as_stored(&sent2, &given)),
            "{name}: read back the client-given id"
        );

        // Updated: the change reads back, the other record is untouched.
        let (update, expect) = changed(&stored2, &t);
        let reply = c
            .update_record(pb::UpdateRecordRequest {
                record: Some(update),
            })
            .await
            .unwrap_or_else(|e| panic!("{name}: update: {:?} {}", e.code(), e.message()))
            .into_inner()
            .record;
        assert_eq!(reply.as_ref(), Some(&expect), "{name}: the update's reply");
        assert_eq!(
            get(&mut c, name, &given).await.as_ref(),
            Some(&expect),
            "{name}: the update read back"
        );
        assert_eq!(
            get(&mut c, name, &auto_id).await,
            Some(as_stored(&sent, &auto_id)),
            "{name}: the other record changed"
        );

        // Listed: both, as read back.
        let day = list_day(kind, &given);
        let listed = list_all(&mut c, name, &day, 0).await;
        for (id, want) in [
            (&auto_id, as_stored(&sent, &auto_id)),
            (&given, expect.clone()),
        ] {
            let found: Vec<&pb::Record> = listed.iter().filter(|r| id_of(r) == id).collect();
            assert_eq!(found, vec![&want], "{name}: {id} in ListRecords");
        }
        let ids: Vec<&str> = listed.iter().map(id_of).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "{name}: ListRecords is in id order, once each");

        // Removed: the reply is the record; then it is gone.
        for (id, was) in [(&auto_id, as_stored(&sent, &auto_id)), (&given, expect)] {
            let reply = c
                .remove_record(pb::RemoveRecordRequest {
                    kind: s(name),
                    id: id.clone(),
                })
                .await
                .unwrap_or_else(|e| panic!("{name}: remove {id}: {:?} {}", e.code(), e.message()))
                .into_inner()
                .record;
            assert_eq!(reply, Some(was), "{name}: the remove's reply");
            let e = c
                .get_record(pb::GetRecordRequest {
                    kind: s(name),
                    id: id.clone(),
                })
                .await
                .expect_err("removed");
            assert_eq!(e.code(), Code::NotFound, "{name}: {id} after remove: {e:?}");
            assert_refused(
                try_remove(&mut c, name, id).await,
                Code::NotFound,
                &format!("{name}: removing {id} twice"),
            );
        }
        let listed = list_all(&mut c, name, &day, 0).await;
        assert!(
            !listed
                .iter()
                .any(|r| id_of(r) == auto_id || id_of(r) == given),
            "{name}: removed records still listed"
        );
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_records_pages_with_limit_and_after_id() {
    let (_dir, node, mut c, t) = fixture_node().await;
    let mut made = Vec::new();
    for n in 0..7 {
        made.push(s(id_of(
            &create(&mut c, good(Kind::VolunteerTeam, n, &t)).await,
        )));
    }
    made.push(s("vt_1"));
    made.sort();

    let first = c
        .list_records(pb::ListRecordsRequest {
            kind: s("volunteer_team"),
            day: s(""),
            limit: 3,
            after_id: s(""),
        })
        .await
        .expect("first page")
        .into_inner();
    let ids: Vec<&str> = first.records.iter().map(id_of).collect();
    assert_eq!(
        ids,
        made[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(first.next_after_id, made[2]);

    let second = c
        .list_records(pb::ListRecordsRequest {
            kind: s("volunteer_team"),
            day: s(""),
            limit: 3,
            after_id: first.next_after_id.clone(),
        })
        .await
        .expect("second page")
        .into_inner();
    let ids: Vec<&str> = second.records.iter().map(id_of).collect();
    assert_eq!(
        ids,
        made[3..6].iter().map(String::as_str).collect::<Vec<_>>()
    );

    let last = c
        .list_records(pb::ListRecordsRequest {
            kind: s("volunteer_team"),
            day: s(""),
            limit: 3,
            after_id: second.next_after_id.clone(),
        })
        .await
        .expect("last page")
        .into_inner();
    let ids: Vec<&str> = last.records.iter().map(id_of).collect();
    assert_eq!(
        ids,
        made[6..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(last.next_after_id, "", "a short page is the last");

    // A last page that is exactly full also says it is the last (8 teams, pages of 4).
    let full = c
        .list_records(pb::ListRecordsRequest {
            kind: s("volunteer_team"),
            day: s(""),
            limit: 4,
            after_id: made[3].clone(),
        })
        .await
        .expect("exactly full last page")
        .into_inner();
    assert_eq!(full.records.len(), 4);
    assert_eq!(
        full.next_after_id, "",
        "an exactly full last page is the last"
    );

    // Every page size gives the same records.
    let all: Vec<String> = list_all(&mut c, "volunteer_team", "", 0)
        .await
        .iter()
        .map(|r| s(id_of(r)))
        .collect();
    assert_eq!(all, made);
    for page in [1, 2, 4, 8, 9] {
        let paged: Vec<String> = list_all(&mut c, "volunteer_team", "", page)
            .await
            .iter()
            .map(|r| s(id_of(r)))
            .collect();
        assert_eq!(paged, made, "page size {page}");
    }

    // Activity kinds page within their day.
    let mut visits = Vec::new();
    for n in 0..5 {
        visits.push(s(id_of(
            &create(&mut c, good(Kind::ScreeningVisit, n, &t)).await,
        )));
    }
    visits.sort();
    let paged: Vec<String> = list_all(&mut c, "screening_visit", &t.today(), 2)
        .await
        .iter()
        .map(|r| s(id_of(r)))
        .collect();
    assert_eq!(paged, visits);
    let other_day = list_all(&mut c, "screening_visit", &t.d(-3), 2).await;
    assert!(other_day.is_empty(), "another day has no visits");
    node.stop().await;
}
