//! `gridsync-demo community`: one node on a temporary store, a generated
//! roster imported through the API, a morning of work, and what the office
//! sees.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gridsync_cli::office::{self, OfficeCmd};
use gridsync_cli::output::{Out, status_err};
use gridsync_cli::{connect, import};
use gridsync_core::Record;
use gridsync_proto::office::v1 as pb;
use gridsync_testkit::process::{Child, sibling_binary};
use gridsync_testkit::{demo_roster, now_ms};

use crate::step;

/// `gridsync-demo community`: one node, a generated roster imported through
/// the API, a morning of work, and what the office sees.
pub async fn run(
    households: usize,
    seed: u64,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let keep = data_dir.is_some();
    let dir = match data_dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("gridsync-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let (_, key_file) = crate::helpers::demo_store_key(&dir)?;
    let addr_file = dir.join("node.addr");
    let _ = std::fs::remove_file(&addr_file);
    step(
        1,
        &format!(
            "starting gridsync-node for community 'tongbai' on a store in {}",
            dir.display()
        ),
    );
    let node = sibling_binary("gridsync-node")?;
    let child = std::process::Command::new(&node)
        .args([
            "--community-id",
            "tongbai",
            "--community-name",
            "桐柏路社区 Tongbai Road",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .arg("--addr-file")
        .arg(&addr_file)
        .arg("--store-key-file")
        .arg(&key_file)
        .env(
            "GRIDSYNC_PERSON_KEY_SECRET",
            "6772696473796e632064656d6f20737472656574206b6579",
        )
        .env("GRIDSYNC_LOG", "warn")
        .spawn()
        .with_context(|| format!("cannot start {}", node.display()))?;
    let mut child = Child(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            break a;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            bail!("gridsync-node exited at start ({status})");
        }
        if Instant::now() > deadline {
            bail!("gridsync-node did not start listening within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("   node listening on {addr} (gRPC office API, health, reflection)");
    let mut c = connect::node(&addr).await?;

    step(
        2,
        &format!(
            "generating a roster of {households} households (seed {seed}) with Chinese headers"
        ),
    );
    let rows = demo_roster::community_roster(seed, households);
    let csv = dir.join("roster.csv");
    let mut text = demo_roster::to_csv(&rows);
    // Two rows an office would mistype: a bad ID check digit and a short phone.
    text.push_str(
        "桐柏路10号院,1号楼,1,999,错误示例,13800138000,错误示例,410102198001010010,男,,本人,,否,\n",
    );
    text.push_str("桐柏路10号院,1号楼,1,998,错误示例二,1380013800,错误示例二,,女,,本人,,否,\n");
    std::fs::write(&csv, text)?;
    println!(
        "   wrote {} ({} rows + 2 deliberately bad ones)",
        csv.display(),
        rows.len()
    );

    step(
        3,
        "importing it through the API (bad rows are reported, good rows stored)",
    );
    let out = Out {
        json: false,
        reveal: false,
    };
    import::import(&mut c, &csv, 500, &out).await?;
    step(4, "importing the same file again: nothing is duplicated");
    import::import(&mut c, &csv, 500, &out).await?;

    step(
        5,
        "recording a morning of work: screening visits, a returnee, a care relationship, a hotline ticket",
    );
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .map_err(status_err)?
        .into_inner();
    let first_group = tree
        .compounds
        .iter()
        .flat_map(|c| &c.buildings)
        .flat_map(|b| &b.groups)
        .find(|g| g.contract_group_id.is_some())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the demo community has no contract group"))?;
    let group_id = first_group.contract_group_id.clone().unwrap_or_default();
    let now = now_ms() - 60_000;
    // The demo node runs in its default zone, Asia/Shanghai.
    let today =
        gridsync_core::replica::day_of_instant(now, chrono_tz::Asia::Shanghai).unwrap_or_default();
    let worklist = c
        .get_worklist(pb::GetWorklistRequest {
            contract_group_id: group_id.clone(),
            day: String::new(),
        })
        .await
        .map_err(status_err)?
        .into_inner();
    let mut screened = 0;
    // Screen all but the last three households of the group: those stay
    // open on the worklist.
    for h in worklist
        .items
        .iter()
        .take(worklist.items.len().saturating_sub(3))
    {
        let detail = c
            .get_household(pb::GetHouseholdRequest {
                id: h.household_id.clone(),
            })
            .await
            .map_err(status_err)?
            .into_inner();
        let mut residents = std::collections::BTreeMap::new();
        for (i, r) in detail.residents.iter().enumerate() {
            let returned = screened == 0 && i == 0;
            residents.insert(
                r.id.clone(),
                gridsync_core::ScreeningEntry {
                    status: if returned {
                        gridsync_core::ScreeningStatus::Returned
                    } else {
                        gridsync_core::ScreeningStatus::Present
                    },
                    returned_from: returned.then(|| "外省某市 another province".to_string()),
                    returned_on: returned.then_some(gridsync_core::Date(today)),
                },
            );
        }
        let visit = Record::ScreeningVisit(gridsync_core::ScreeningVisit {
            id: String::new(),
            household_id: h.household_id.clone(),
            visited_at_ms: now,
            visitor: "网格员 grid worker".into(),
            residents,
            notes: None,
        });
        c.create_record(pb::CreateRecordRequest {
            record: Some(visit.into()),
        })
        .await
        .map_err(status_err)?;
        screened += 1;
    }
    let elder = tree
        .compounds
        .first()
        .and_then(|c| c.buildings.first())
        .and_then(|b| b.groups.first())
        .and_then(|g| g.households.first())
        .cloned();
    if let Some(e) = elder {
        let d = c
            .get_household(pb::GetHouseholdRequest { id: e.id })
            .await
            .map_err(status_err)?
            .into_inner();
        if let Some(r) = d.residents.first() {
            let since = today - chrono::Days::new(9);
            let rel = Record::CareRelationship(gridsync_core::CareRelationship {
                id: String::new(),
                resident_id: r.id.clone(),
                visitor: "网格员 grid worker".into(),
                every_days: 2,
                since: gridsync_core::Date(since),
                last_visit: None,
                ended_on: None,
            });
            c.create_record(pb::CreateRecordRequest {
                record: Some(rel.into()),
            })
            .await
            .map_err(status_err)?;
        }
    }
    let ticket = Record::Ticket(gridsync_core::Ticket {
        id: String::new(),
        received_at_ms: now - 3_600_000,
        channel: gridsync_core::TicketChannel::Hotline,
        category: "买药 medicine".into(),
        summary: "独居老人需要代买降压药 an elderly resident needs medicine bought".into(),
        caller_phone: Some("13800138000".into()),
        assigned_compound_id: tree.compounds.first().map(|c| c.id.clone()),
        assigned_staff_id: None,
        resolved_at_ms: None,
        resolution: None,
    });
    c.create_record(pb::CreateRecordRequest {
        record: Some(ticket.into()),
    })
    .await
    .map_err(status_err)?;
    println!(
        "   {screened} households screened in contract group {group_id}; 1 returnee; 1 care relationship; 1 ticket"
    );

    step(
        6,
        "the five-level tree (street → community → compound → building → contract group)",
    );
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .map_err(status_err)?
        .into_inner();
    office::print_tree(&tree, false);
    step(
        7,
        "today's worklist of that contract group, overdue care visits, open tickets, gaps",
    );
    for cmd in [
        OfficeCmd::Worklist {
            contract_group_id: group_id,
            day: String::new(),
        },
        OfficeCmd::Overdue {
            as_of: String::new(),
        },
        OfficeCmd::Tickets,
    ] {
        office::run(&mut c, cmd, &out).await?;
    }
    let gaps = c
        .list_gaps(pb::ListGapsRequest { day: String::new() })
        .await
        .map_err(status_err)?
        .into_inner();
    println!(
        "{} gaps (households without a contracting member, …); first three:",
        gaps.gaps.len()
    );
    for g in gaps.gaps.iter().take(3) {
        println!("  [{}] {}", g.code, g.message);
    }
    step(8, "store status");
    office::run(&mut c, OfficeCmd::Status, &out).await?;
    step(
        9,
        "stopping the node (SIGTERM: in-flight writes finish, WAL checkpointed)",
    );
    drop(c);
    drop(child);
    if keep {
        println!("   done; the store is in {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the temporary store {}", dir.display()))?;
        println!("   done; removed the temporary store (use --data-dir DIR to keep one)");
    }
    Ok(ExitCode::SUCCESS)
}
