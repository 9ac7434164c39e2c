//! The node's commands (`gridctl status`, `tree`, `household`, `worklist`,
//! `get`/`list`/`create`/`update`/`remove`, …), over its office API.

use anyhow::bail;
use gridsync_core::Record;
use gridsync_proto::office::v1 as pb;
use pb::office_client::OfficeClient;
use tonic::transport::Channel;

use crate::output::{Out, now_ms, parse_kind, record_from_json};

/// The node's commands, over its office API (--node).
#[derive(Clone, Debug, clap::Subcommand)]
pub enum OfficeCmd {
    /// The node's community, documents and counts.
    Status,
    /// community → compound → building → contract group → households.
    Tree {
        /// Also list every household.
        #[arg(long)]
        households: bool,
    },
    /// One household with its residents.
    Household {
        /// The household's id (hh_…).
        id: String,
    },
    /// A contract group's screening worklist for a day (default today).
    Worklist {
        /// The contract group's id (cg_…).
        contract_group_id: String,
        /// YYYY-MM-DD; default today.
        #[arg(long, default_value = "")]
        day: String,
    },
    /// Care visits overdue as of a day (default today).
    Overdue {
        /// YYYY-MM-DD; default today.
        #[arg(long, default_value = "")]
        as_of: String,
    },
    /// Tickets not yet resolved.
    Tickets,
    /// The street document as the node holds it (read-only at a node).
    StreetDoc,
    /// Records that point at nothing, households without a contract group, …
    Gaps {
        /// YYYY-MM-DD: whose activity to check as well; default today.
        #[arg(long, default_value = "")]
        day: String,
    },
    /// Shows one record.
    Get {
        /// The record's kind (household, resident, …).
        kind: String,
        /// The record's id.
        id: String,
    },
    /// Lists records of a kind (activity kinds: of a day).
    List {
        /// The records' kind (household, resident, …).
        kind: String,
        /// YYYY-MM-DD, for activity kinds; default today.
        #[arg(long, default_value = "")]
        day: String,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Creates a record from JSON fields, e.g.
    /// gridctl create compound '{"name":"桐柏路61号院","address":null}'
    Create {
        /// The record's kind.
        kind: String,
        /// Its fields as a JSON object.
        fields: String,
    },
    /// Replaces a record's fields from JSON (the JSON holds its "id").
    Update {
        /// The record's kind.
        kind: String,
        /// Its fields as a JSON object, with its "id".
        fields: String,
    },
    /// Removes a record.
    Remove {
        /// The record's kind.
        kind: String,
        /// The record's id.
        id: String,
    },
}

/// Runs one of the node's commands.
pub async fn run(c: &mut OfficeClient<Channel>, cmd: OfficeCmd, out: &Out) -> anyhow::Result<()> {
    match cmd {
        OfficeCmd::StreetDoc => {
            let d = c.get_street(pb::GetStreetRequest {}).await?.into_inner();
            crate::street::print_document(&d, out.json)?;
        }
        OfficeCmd::Status => {
            let s = c.get_status(pb::GetStatusRequest {}).await?.into_inner();
            if out.json {
                return out.json(&s);
            }
            println!("community   {} ({})", s.community_name, s.community_id);
            println!("today       {} ({})", s.today, s.time_zone);
            println!(
                "store       {} bytes, schema v{}, gridsync {}",
                s.store_bytes, s.schema_version, s.version
            );
            println!("gaps        {}", s.gaps);
            for k in &s.counts {
                println!("  {:<18} {}", k.kind, k.count);
            }
            println!("documents:");
            for d in &s.docs {
                let heads: Vec<&str> = d.heads.iter().map(|h| &h[..h.len().min(12)]).collect();
                println!(
                    "  {:<40} snapshot {:>8} B, {:>3} chunks {:>8} B, heads {}",
                    d.doc_id,
                    d.snapshot_bytes,
                    d.chunk_count,
                    d.chunk_bytes,
                    heads.join(",")
                );
            }
            print_link(s.link.as_ref());
        }
        OfficeCmd::Tree { households } => {
            let t = c.get_tree(pb::GetTreeRequest {}).await?.into_inner();
            if out.json {
                return out.json(&t);
            }
            print_tree(&t, households);
        }
        OfficeCmd::Household { id } => {
            let d = c
                .get_household(pb::GetHouseholdRequest { id })
                .await?
                .into_inner();
            if out.json {
                let residents: Vec<Record> = d
                    .residents
                    .into_iter()
                    .filter_map(|r| gridsync_core::Resident::try_from(r).ok())
                    .map(|r| out.mask(Record::Resident(r)))
                    .collect();
                let household = d
                    .household
                    .and_then(|h| gridsync_core::Household::try_from(h).ok())
                    .map(|h| out.mask(Record::Household(h)));
                return out.json(&serde_json::json!({
                    "household": household, "residents": residents,
                    "compound_name": d.compound_name, "building_name": d.building_name,
                    "member": d.member.map(|m| m.name),
                }));
            }
            if let Some(h) = d.household {
                let phone = h.phone.as_deref().map(|p| out.phone(p)).unwrap_or_default();
                println!(
                    "{} {} {}-{}  户主 head: {}  {}",
                    d.compound_name.unwrap_or_default(),
                    d.building_name.unwrap_or_default(),
                    h.unit,
                    h.door,
                    h.head_name,
                    phone
                );
            }
            println!(
                "联包党员 member: {}",
                d.member
                    .map(|m| m.name)
                    .unwrap_or_else(|| "(none: a gap)".into())
            );
            for r in d.residents {
                let idn = r
                    .id_number
                    .as_deref()
                    .map(|n| out.id_number(n))
                    .unwrap_or_default();
                println!(
                    "  {:<8} {:<6} {:<20} {}",
                    r.name,
                    r.relation.unwrap_or_default(),
                    idn,
                    if r.lives_alone {
                        "独居 lives alone"
                    } else {
                        ""
                    }
                );
            }
        }
        OfficeCmd::Worklist {
            contract_group_id,
            day,
        } => {
            let w = c
                .get_worklist(pb::GetWorklistRequest {
                    contract_group_id,
                    day,
                })
                .await?
                .into_inner();
            if out.json {
                return out.json(&w);
            }
            println!(
                "{} on {}: {} of {} households screened",
                w.contract_group_id,
                w.day,
                w.screened,
                w.items.len()
            );
            for i in w.items {
                println!(
                    "  [{}] {:<8} {:<8} {:<6} {} residents",
                    if i.visit_ids.is_empty() { " " } else { "x" },
                    i.building_name,
                    i.label,
                    i.head_name,
                    i.residents
                );
            }
        }
        OfficeCmd::Overdue { as_of } => {
            let r = c
                .list_overdue_care(pb::ListOverdueCareRequest { as_of })
                .await?
                .into_inner();
            if out.json {
                return out.json(&r);
            }
            println!("{} care visits overdue", r.items.len());
            for i in r.items {
                let rel = i.relationship.unwrap_or_default();
                println!(
                    "  {:<8} visitor {:<8} every {} days, due {}, {} days overdue",
                    i.resident_name.unwrap_or_default(),
                    rel.visitor,
                    rel.every_days,
                    i.due_on,
                    i.days_overdue
                );
            }
        }
        OfficeCmd::Tickets => {
            let r = c
                .list_open_tickets(pb::ListOpenTicketsRequest {})
                .await?
                .into_inner();
            if out.json {
                return out.json(&r);
            }
            println!("{} tickets open", r.items.len());
            for i in r.items {
                let t = i.ticket.unwrap_or_default();
                println!(
                    "  {:<24} {:<8} open {:>6.1} h  {}",
                    t.id,
                    t.category,
                    i.age_ms as f64 / 3.6e6,
                    t.summary
                );
            }
        }
        OfficeCmd::Gaps { day } => {
            let r = c.list_gaps(pb::ListGapsRequest { day }).await?.into_inner();
            if out.json {
                return out.json(&r);
            }
            println!("{} gaps", r.gaps.len());
            for g in r.gaps {
                println!("  [{}] {}", g.code, g.message);
            }
        }
        OfficeCmd::Get { kind, id } => {
            parse_kind(&kind)?;
            let r = c
                .get_record(pb::GetRecordRequest { kind, id })
                .await?
                .into_inner();
            out.record(r.record.unwrap_or_default())?;
        }
        OfficeCmd::List { kind, day, limit } => {
            parse_kind(&kind)?;
            let r = c
                .list_records(pb::ListRecordsRequest {
                    kind,
                    day,
                    limit,
                    after_id: String::new(),
                })
                .await?
                .into_inner();
            let recs: Vec<Record> = r
                .records
                .into_iter()
                .filter_map(|r| Record::try_from(r).ok())
                .map(|r| out.mask(r))
                .collect();
            if out.json {
                return out.json(&recs);
            }
            for r in &recs {
                println!("{}", serde_json::to_string(r)?);
            }
            if !r.next_after_id.is_empty() {
                eprintln!("(more after {}; raise --limit)", r.next_after_id);
            }
        }
        OfficeCmd::Create { kind, fields } => {
            let rec = record_from_json(parse_kind(&kind)?, &fields)?;
            let r = c
                .create_record(pb::CreateRecordRequest {
                    record: Some(rec.into()),
                })
                .await?
                .into_inner();
            out.record(r.record.unwrap_or_default())?;
        }
        OfficeCmd::Update { kind, fields } => {
            let rec = record_from_json(parse_kind(&kind)?, &fields)?;
            if rec.id().is_empty() {
                bail!("the fields must hold the \"id\" of the record to update");
            }
            let r = c
                .update_record(pb::UpdateRecordRequest {
                    record: Some(rec.into()),
                })
                .await?
                .into_inner();
            out.record(r.record.unwrap_or_default())?;
        }
        OfficeCmd::Remove { kind, id } => {
            parse_kind(&kind)?;
            c.remove_record(pb::RemoveRecordRequest {
                kind: kind.clone(),
                id: id.clone(),
            })
            .await?;
            if out.json {
                return out.json(&serde_json::json!({"removed": {"kind": kind, "id": id}}));
            }
            println!("removed {kind} {id}");
        }
    }
    Ok(())
}

pub fn print_tree(t: &pb::Tree, households: bool) {
    let name = t
        .community
        .as_ref()
        .map(|c| c.name.as_str())
        .unwrap_or("(unnamed)");
    println!(
        "社区 community {name}: {} 户 households, {} 人 residents",
        t.households, t.residents
    );
    for c in &t.compounds {
        println!(
            "├─ 楼院 compound {}: {} 户, {} 人",
            c.name, c.households, c.residents
        );
        for b in &c.buildings {
            println!(
                "│  ├─ 楼栋 building {}: {} 户, {} 人",
                b.name, b.households, b.residents
            );
            for g in &b.groups {
                let who = match (&g.contract_group_id, &g.member_name) {
                    (Some(_), Some(m)) => format!("联包党员 member {m}"),
                    (Some(id), None) => format!("contract group {id}"),
                    _ => "无联包党员 no contracting member (gap)".to_string(),
                };
                println!("│  │  ├─ {who}: {} 户", g.households.len());
                if households {
                    for h in &g.households {
                        println!(
                            "│  │  │    {} {} ({} 人)",
                            h.label, h.head_name, h.residents
                        );
                    }
                }
            }
        }
    }
    if t.unplaced_households > 0 {
        println!(
            "!  {} households could not be placed (their building or compound is missing): see `gridctl gaps`",
            t.unplaced_households
        );
    }
}

/// The node's link to the coordinator, as `gridctl status` shows it.
pub fn print_link(link: Option<&pb::LinkStatus>) {
    let Some(l) = link.filter(|l| l.configured) else {
        println!("coordinator not configured (this node works alone)");
        return;
    };
    let when = |ms: i64| {
        if ms == 0 {
            "never".to_string()
        } else {
            let ago = (now_ms() - ms).max(0) / 1000;
            format!("{ago} s ago")
        }
    };
    if l.connected {
        println!(
            "coordinator link up since {}, heard {} (liveness window {} s)",
            when(l.changed_ms),
            when(l.last_heard_ms),
            l.liveness_window_ms / 1000
        );
    } else {
        println!(
            "coordinator link down (since {}, heard {}; {} attempts): {}",
            when(l.changed_ms),
            when(l.last_heard_ms),
            l.attempts,
            if l.last_error.is_empty() {
                "-"
            } else {
                &l.last_error
            }
        );
    }
    println!(
        "  {} changes not yet acknowledged; sent {} frames / {} B, received {} frames / {} B",
        l.unacknowledged_changes, l.frames_sent, l.bytes_sent, l.frames_received, l.bytes_received
    );
    for d in &l.docs {
        println!(
            "  {:<40} {:<8} in sync {:<12} unacknowledged {}",
            d.doc_id,
            if d.in_sync { "in sync" } else { "behind" },
            when(d.last_sync_ms),
            d.unacknowledged_changes
        );
    }
}
