//! `gridctl rollup` and `street-summary`: the five-level rollup (street →
//! community → compound → building → contract group) as people read it.
//!
//! The rollup is printed as an indented table with Chinese and English
//! labels for the levels and the columns, a staleness column on every
//! community row (fresh or stale, the age of the last sync, held, the
//! digest check, the sign-off), and a footer that checks the table it
//! printed: every printed parent must be the sum of its printed children in
//! every figure. The same printer serves the coordinator's street rollup
//! (operators), a node's own community and the street's figures as the
//! node last received them, and `gridctl demo`.
//!
//! Everything here that formats is a pure function of the message, so it
//! is tested beside the code on hand-built trees.

use std::fmt::Write as _;

use gridsync_core::rollup::{Figures, Level};
use gridsync_proto::office::v1 as pb;
use gridsync_proto::rollup::v1 as rpb;
use pb::office_client::OfficeClient;
use tonic::transport::Channel;

use crate::connect::StreetApi;
use crate::output::{Out, lag, local_time, now_ms, status_err};

/// Where a rollup or a report comes from.
pub enum Source {
    /// A node's office API: its own community.
    Node(OfficeClient<Channel>),
    /// The coordinator's `Street` API, as an operator: the whole street.
    Street(StreetApi),
}

impl Source {
    /// The rollup at `path` (ids from the community down), `depth` levels
    /// below it (0 = all).
    pub async fn rollup(
        &mut self,
        as_of: &str,
        tz: &str,
        path: &[String],
        depth: u32,
    ) -> Result<rpb::Rollup, tonic::Status> {
        let req = rpb::RollupRequest {
            as_of: as_of.to_string(),
            tz: tz.to_string(),
            path: path.to_vec(),
            depth,
        };
        let mut r = match self {
            Source::Node(c) => c.get_rollup(req).await?.into_inner(),
            Source::Street(c) => c.get_rollup(req).await?.into_inner(),
        };
        if let Some(t) = &mut r.tree {
            prune(t, depth);
        }
        Ok(r)
    }

    pub async fn daily_report(
        &mut self,
        req: rpb::DailyReportRequest,
    ) -> Result<rpb::DailyReport, tonic::Status> {
        Ok(match self {
            Source::Node(c) => c.get_daily_report(req).await?.into_inner(),
            Source::Street(c) => c.get_daily_report(req).await?.into_inner(),
        })
    }
}

/// `gridctl rollup` and `street-summary`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum RollupCmd {
    /// The five-level rollup (street → community → compound → building →
    /// contract group) as a table, with a staleness column per community
    /// and a check that every printed parent is the sum of its children.
    /// With --coordinator (or GRIDSYNC_COORDINATOR, unless --node is given
    /// at least as directly): the street's, as an operator (--certs/--identity);
    /// otherwise the node's own community.
    Rollup {
        /// The date, YYYY-MM-DD; default today in the zone.
        #[arg(long, default_value = "")]
        as_of: String,
        /// IANA time zone, e.g. Asia/Shanghai; default the service's.
        #[arg(long, default_value = "")]
        tz: String,
        /// Ids from the community down, e.g. c01/cp_x/bd_y ("-" names an
        /// unplaced part); default the top.
        #[arg(long, default_value = "")]
        path: String,
        /// Levels shown below the node at --path; 0 = all.
        #[arg(long, default_value_t = 0)]
        depth: u32,
    },
    /// The street's top figures (the street and each community) as this
    /// node last received them from the coordinator, and when.
    StreetSummary,
}

/// Runs a rollup command against `source` (`street-summary` needs a node).
pub async fn run(cmd: RollupCmd, mut source: Source, out: Out) -> anyhow::Result<()> {
    let r = match cmd {
        RollupCmd::Rollup {
            as_of,
            tz,
            path,
            depth,
        } => source
            .rollup(&as_of, &tz, &parse_path(&path), depth)
            .await
            .map_err(status_err)?,
        RollupCmd::StreetSummary => match &mut source {
            Source::Node(c) => c
                .get_street_summary(rpb::StreetSummaryRequest {})
                .await
                .map_err(status_err)?
                .into_inner(),
            Source::Street(_) => anyhow::bail!(
                "street-summary shows what a node last received; ask a node (--node), or the coordinator for `rollup --depth 1`"
            ),
        },
    };
    if out.json {
        out.json(&r)
    } else {
        print!("{}", render(&r));
        Ok(())
    }
}

/// Keeps `levels_below` levels under `n` (0 = all), counting what is cut
/// in `children_omitted`.
pub fn prune(n: &mut rpb::Node, levels_below: u32) {
    if levels_below == 0 {
        return;
    }
    if levels_below == 1 {
        for c in &mut n.children {
            if !c.children.is_empty() {
                c.children_omitted = c.children_omitted.saturating_add(c.children.len() as u32);
                c.children.clear();
            }
        }
        return;
    }
    for c in &mut n.children {
        prune(c, levels_below - 1);
    }
}

/// `--path c01/cp_x/bd_y`: ids from the community down; empty = the top.
pub fn parse_path(s: &str) -> Vec<String> {
    s.split('/')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

// ------------------------------------------------------------- the figures

/// The core's figures of a message's (absent = all zero).
pub fn figures(f: Option<&rpb::Figures>) -> Figures {
    f.map(Figures::from).unwrap_or_default()
}

/// A column of the table: its Chinese and English headers and its cell.
struct Column {
    zh: &'static str,
    en: &'static str,
    cell: fn(&Figures) -> String,
}

const COLUMNS: &[Column] = &[
    Column {
        zh: "户",
        en: "households",
        cell: |f| f.households.to_string(),
    },
    Column {
        zh: "人",
        en: "residents",
        cell: |f| f.residents.to_string(),
    },
    Column {
        zh: "已排查",
        en: "screened",
        cell: |f| f.households_screened.to_string(),
    },
    Column {
        zh: "未排查",
        en: "unscreened",
        cell: |f| f.households_unscreened.to_string(),
    },
    Column {
        zh: "返乡(高/中/低)",
        en: "returnees h/m/l",
        cell: |f| {
            format!(
                "{}/{}/{}",
                f.returnees_high, f.returnees_medium, f.returnees_low
            )
        },
    },
    Column {
        zh: "居家隔离",
        en: "isolating",
        cell: |f| f.isolating.to_string(),
    },
    Column {
        zh: "超期",
        en: "past end",
        cell: |f| f.isolations_past_end.to_string(),
    },
    Column {
        zh: "独居老人",
        en: "elderly alone",
        cell: |f| f.elderly_alone.to_string(),
    },
    Column {
        zh: "探访逾期",
        en: "care overdue",
        cell: |f| f.care_overdue.to_string(),
    },
    Column {
        zh: "工单",
        en: "open tickets",
        cell: |f| f.tickets_open.to_string(),
    },
    Column {
        zh: "缺口",
        en: "gaps",
        cell: |f| f.gap_count().to_string(),
    },
];

// ------------------------------------------------------------------ layout

/// Display columns a terminal gives `s`: East Asian wide characters
/// (CJK, Hangul, full-width forms) take two. Enough for the names and
/// labels printed here without a width table.
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = matches!(c,
                0x1100..=0x115F
                | 0x2E80..=0x303E
                | 0x3041..=0x33FF
                | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF
                | 0xA000..=0xA4CF
                | 0xAC00..=0xD7A3
                | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F
                | 0xFF00..=0xFF60
                | 0xFFE0..=0xFFE6
                | 0x20000..=0x3FFFD);
            if wide { 2 } else { 1 }
        })
        .sum()
}

/// `s` cut to at most `width` display columns, with `…` when cut.
fn truncate(s: &str, width: usize) -> String {
    if display_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for ch in s.chars() {
        let cw = display_width(ch.encode_utf8(&mut [0; 4]));
        if w + cw + 1 > width {
            break;
        }
        out.push(ch);
        w += cw;
    }
    out.push('…');
    out
}

fn pad_right(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn pad_left(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{}{s}", " ".repeat(width.saturating_sub(w)))
}

/// The core level of a wire level, if known.
fn level_of(wire: i32) -> Option<Level> {
    match rpb::Level::try_from(wire).ok()? {
        rpb::Level::Street => Some(Level::Street),
        rpb::Level::Community => Some(Level::Community),
        rpb::Level::Compound => Some(Level::Compound),
        rpb::Level::Building => Some(Level::Building),
        rpb::Level::Group => Some(Level::Group),
        rpb::Level::Unspecified => None,
    }
}

/// `社区 community 桐柏路社区`, `楼栋 building (未落位 unplaced)`.
pub fn node_label(n: &rpb::Node) -> String {
    let level = level_of(n.level).map_or("? level", Level::label);
    let name = if n.id.is_empty() {
        "(未落位 unplaced)"
    } else if n.name.is_empty() {
        n.id.as_str()
    } else {
        n.name.as_str()
    };
    format!("{level} {name}")
}

fn digest_state(wire: i32) -> &'static str {
    match rpb::DigestState::try_from(wire) {
        Ok(rpb::DigestState::Match) => "MATCH",
        Ok(rpb::DigestState::Mismatch) => "MISMATCH",
        Ok(rpb::DigestState::Pending) => "PENDING",
        Ok(rpb::DigestState::NotReported) => "NOT REPORTED",
        _ => "-",
    }
}

/// The sign-off part of a stamp: `not signed`, `signed by 张伟`,
/// `CHANGED since sign-off by 张伟`.
pub fn sign_off_text(s: &rpb::Stamp) -> String {
    let by = s
        .sign_off
        .as_ref()
        .map(|x| x.signed_by.as_str())
        .unwrap_or("?");
    match rpb::SignOffStatus::try_from(s.sign_off_status) {
        Ok(rpb::SignOffStatus::NotSigned) => "not signed".into(),
        Ok(rpb::SignOffStatus::Signed) => format!("signed by {by}"),
        Ok(rpb::SignOffStatus::ChangedSinceSignOff) => {
            format!("CHANGED since sign-off by {by}")
        }
        _ => "sign-off -".into(),
    }
}

/// The staleness cell of a community row, as of `now_ms` (the rollup's
/// generation time), in the words every output uses: `fresh, in sync 0s
/// ago, digest MATCH, not signed`, or `stale (link down; node 3 documents
/// ahead at 10:02:17), in sync 5m ago, heard 5m ago, …`. "In sync" is what
/// the figures are known to include; "heard" the last frame of any kind
/// from the node. A node's own rollup (`own`) has no staleness or digest
/// check; it shows its own digest instead.
pub fn stamp_cell(s: &rpb::Stamp, now_ms: i64, own: bool) -> String {
    let in_sync = if s.last_sync_ms <= 0 {
        "never in sync".to_string()
    } else {
        format!("in sync {} ago", lag(now_ms.saturating_sub(s.last_sync_ms)))
    };
    let mut parts = Vec::new();
    if own {
        parts.push(format!("own digest {}", short(&s.digest, 12)));
        parts.push(in_sync);
    } else {
        parts.push(staleness(s));
        parts.push(in_sync);
        if s.stale && s.last_heard_ms > 0 {
            parts.push(format!(
                "heard {} ago",
                lag(now_ms.saturating_sub(s.last_heard_ms))
            ));
        }
        if s.held {
            parts.push("held".into());
        }
        if !s.unavailable.is_empty() {
            parts.push(format!("UNAVAILABLE: {}", s.unavailable));
        }
        parts.push(format!("digest {}", digest_state(s.digest_state)));
    }
    parts.push(sign_off_text(s));
    parts.join(", ")
}

/// `fresh`, or `stale (why)`.
pub fn staleness(s: &rpb::Stamp) -> String {
    if !s.stale {
        return "fresh".into();
    }
    let mut why = Vec::new();
    if !s.connected {
        why.push("link down".to_string());
    } else if s.node_docs_ahead == 0 {
        why.push("not heard within the liveness window".to_string());
    }
    if s.node_docs_ahead > 0 {
        why.push(crate::output::ahead_note(
            s.node_docs_ahead,
            s.node_reported_ms,
        ));
    }
    format!("stale ({})", why.join("; "))
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The widest a row's label may be before it is cut.
const LABEL_MAX: usize = 52;

/// The rollup as text: a title, the table, the conflicts and the
/// additivity footer.
pub fn render(r: &rpb::Rollup) -> String {
    let mut out = String::new();
    let own = r.street_id.is_empty();
    let root = r.tree.as_ref();
    let _ = writeln!(
        out,
        "{} as of {} ({}), rollup v{}, generated {}{}",
        if own {
            "社区汇总 community rollup".to_string()
        } else {
            format!("街道汇总 street rollup {}", r.street_id)
        },
        r.as_of,
        r.tz,
        r.rollup_version,
        local_time(r.generated_at_ms),
        if r.path.is_empty() {
            String::new()
        } else {
            format!(", at {}", r.path.join("/"))
        }
    );
    if r.received_at_ms > 0 {
        let _ = writeln!(
            out,
            "received from the coordinator {} ({} ago)",
            local_time(r.received_at_ms),
            lag(now_ms().saturating_sub(r.received_at_ms))
        );
    }
    let Some(root) = root else {
        let _ = writeln!(out, "(no tree in the reply)");
        return out;
    };

    // Rows, depth first: (indent, node).
    let mut rows: Vec<(usize, &rpb::Node)> = Vec::new();
    fn walk<'a>(n: &'a rpb::Node, depth: usize, rows: &mut Vec<(usize, &'a rpb::Node)>) {
        rows.push((depth, n));
        for c in &n.children {
            walk(c, depth + 1, rows);
        }
    }
    walk(root, 0, &mut rows);

    let labels: Vec<String> = rows
        .iter()
        .map(|(d, n)| {
            let omitted = if n.children_omitted > 0 {
                format!(" (+{})", n.children_omitted)
            } else {
                String::new()
            };
            let label = truncate(&node_label(n), LABEL_MAX.saturating_sub(2 * d));
            format!("{}{label}{omitted}", "  ".repeat(*d))
        })
        .collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, n)| {
            let f = figures(n.figures.as_ref());
            COLUMNS.iter().map(|c| (c.cell)(&f)).collect()
        })
        .collect();
    let label_w = labels
        .iter()
        .map(|l| display_width(l))
        .chain([display_width("单位 unit")])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|row| display_width(&row[i]))
                .chain([display_width(c.zh), display_width(c.en)])
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut zh = pad_right("单位", label_w);
    let mut en = pad_right("unit", label_w);
    for (c, w) in COLUMNS.iter().zip(&widths) {
        zh.push_str("  ");
        zh.push_str(&pad_left(c.zh, *w));
        en.push_str("  ");
        en.push_str(&pad_left(c.en, *w));
    }
    zh.push_str("  状态");
    en.push_str("  staleness (community rows)");
    let _ = writeln!(out, "{zh}");
    let _ = writeln!(out, "{en}");
    for ((label, row), (_, n)) in labels.iter().zip(&cells).zip(&rows) {
        let mut line = pad_right(label, label_w);
        for (cell, w) in row.iter().zip(&widths) {
            line.push_str("  ");
            line.push_str(&pad_left(cell, *w));
        }
        if level_of(n.level) == Some(Level::Community)
            && let Some(s) = r.stamps.iter().find(|s| s.community_id == n.id)
        {
            line.push_str("  ");
            line.push_str(&stamp_cell(s, r.generated_at_ms, own));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }

    // Conflicts are about persons, so they go with the street's and a
    // community's table, not with every compound's.
    let top = matches!(level_of(root.level), Some(Level::Street | Level::Community));
    if top && !r.conflicts.is_empty() {
        let _ = writeln!(
            out,
            "重复登记 persons registered in more than one place: {} (counted at the first registration)",
            r.conflicts.len()
        );
        for c in &r.conflicts {
            let regs: Vec<String> = c
                .registrations
                .iter()
                .map(|g| format!("{}/{}", g.community_id, g.resident_id))
                .collect();
            let _ = writeln!(out, "  {}  {}", short(&c.person_key, 12), regs.join(", "));
        }
    }
    let _ = writeln!(out, "{}", additivity_footer(root));
    out
}

// ------------------------------------------------------------- additivity

/// What checking a printed tree found.
#[derive(Debug, PartialEq, Eq)]
pub enum Additivity {
    /// Every printed parent equals the sum of its printed children.
    Additive { parents: usize, columns: usize },
    /// The first parent (depth first) that does not.
    Violation {
        /// Ids from the printed root down to the parent (empty: the root).
        path: Vec<String>,
        label: String,
        column: String,
        parent: u64,
        sum: u64,
    },
}

/// Checks that every parent printed with its children holds their sum, in
/// every figure of [`Figures::columns`] and every gap reason. A parent
/// whose children were left out (depth) is not checked; a parent above the
/// contract-group level printed with no children and none left out must
/// hold zeros (the sum of nothing).
pub fn check_additivity(root: &rpb::Node) -> Additivity {
    let mut parents = 0;
    let columns = Figures::default().columns().len();
    match first_violation(root, &mut Vec::new(), &mut parents) {
        Some(v) => v,
        None => Additivity::Additive { parents, columns },
    }
}

fn first_violation(
    n: &rpb::Node,
    path: &mut Vec<String>,
    parents: &mut usize,
) -> Option<Additivity> {
    let leaf_level = level_of(n.level) == Some(Level::Group);
    let checked = n.children_omitted == 0 && (!n.children.is_empty() || !leaf_level);
    if checked {
        *parents += 1;
        let mine = figures(n.figures.as_ref());
        let mut sum = Figures::default();
        for c in &n.children {
            sum.add(&figures(c.figures.as_ref()));
        }
        let bad = |column: String, parent: u64, sum: u64| Additivity::Violation {
            path: path.clone(),
            label: node_label(n),
            column,
            parent,
            sum,
        };
        for ((name, p), (_, s)) in mine.columns().into_iter().zip(sum.columns()) {
            if p != s {
                return Some(bad(name.to_string(), p, s));
            }
        }
        let reasons: std::collections::BTreeSet<&String> =
            mine.gaps.keys().chain(sum.gaps.keys()).collect();
        for reason in reasons {
            let p = mine.gaps.get(reason).copied().unwrap_or(0);
            let s = sum.gaps.get(reason).copied().unwrap_or(0);
            if p != s {
                return Some(bad(format!("gaps[{reason}]"), p, s));
            }
        }
    }
    for c in &n.children {
        path.push(if c.id.is_empty() {
            "-".into()
        } else {
            c.id.clone()
        });
        let v = first_violation(c, path, parents);
        path.pop();
        if v.is_some() {
            return v;
        }
    }
    None
}

/// The footer line: `additive ✓ …` or the first violation.
pub fn additivity_footer(root: &rpb::Node) -> String {
    match check_additivity(root) {
        Additivity::Additive { parents: 0, .. } => {
            "additive ✓ (nothing to check: no parent printed with its children)".into()
        }
        Additivity::Additive { parents, columns } => format!(
            "additive ✓ every printed parent = Σ its children ({parents} {}, {columns} figures each and every gap reason)",
            if parents == 1 { "parent" } else { "parents" }
        ),
        Additivity::Violation {
            path,
            label,
            column,
            parent,
            sum,
        } => format!(
            "NOT additive ✗ at {label} ({}): {column} is {parent} but its children sum to {sum}",
            if path.is_empty() {
                "the top".to_string()
            } else {
                path.join("/")
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figs(households: u64, screened: u64, gaps: &[(&str, u64)]) -> rpb::Figures {
        rpb::Figures {
            households,
            residents: households * 3,
            households_screened: screened,
            households_unscreened: households - screened,
            returnees_high: 1,
            resolve_hours: vec![0; gridsync_core::rollup::RESOLVE_BUCKETS],
            gaps: gaps.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Default::default()
        }
    }

    fn node(level: rpb::Level, id: &str, f: rpb::Figures, children: Vec<rpb::Node>) -> rpb::Node {
        rpb::Node {
            level: level as i32,
            id: id.into(),
            name: format!("名{id}"),
            figures: Some(f),
            children,
            children_omitted: 0,
        }
    }

    /// street → two communities → compounds; `c2`'s second compound off by
    /// `delta` households.
    fn street(delta: u64) -> rpb::Node {
        let cp = |id: &str, h: u64| node(rpb::Level::Compound, id, figs(h, h / 2, &[]), vec![]);
        let mut cp_b = cp("cp_b", 40);
        if let Some(f) = &mut cp_b.figures {
            f.households += delta;
            f.households_unscreened += delta;
        }
        // Compounds have no buildings printed: mark them as cut.
        let cut = |mut n: rpb::Node| {
            n.children_omitted = 2;
            n
        };
        let mut f1 = figs(30, 15, &[("household.no_contract_group", 1)]);
        f1.returnees_high = 1;
        let mut cp_a = cut(cp("cp_a", 30));
        cp_a.figures = Some(f1.clone());
        let c1 = node(rpb::Level::Community, "c1", f1, vec![cp_a]);
        let mut f2 = figs(60, 30, &[]);
        f2.returnees_high = 2;
        let c2 = node(
            rpb::Level::Community,
            "c2",
            f2,
            vec![cut(cp("cp_a2", 20)), cut(cp_b)],
        );
        let mut top = figs(90, 45, &[("household.no_contract_group", 1)]);
        top.returnees_high = 3;
        node(rpb::Level::Street, "s", top, vec![c1, c2])
    }

    #[test]
    fn an_additive_tree_says_so() {
        let t = street(0);
        assert_eq!(
            check_additivity(&t),
            Additivity::Additive {
                parents: 3,
                columns: Figures::default().columns().len()
            }
        );
        assert!(additivity_footer(&t).starts_with("additive ✓"));
    }

    #[test]
    fn a_deliberate_violation_is_named_with_its_path_and_column() {
        let t = street(5);
        assert_eq!(
            check_additivity(&t),
            Additivity::Violation {
                path: vec!["c2".into()],
                label: "社区 community 名c2".into(),
                column: "households".into(),
                parent: 60,
                sum: 65,
            }
        );
        let footer = additivity_footer(&t);
        assert!(
            footer.starts_with("NOT additive ✗ at 社区 community 名c2 (c2)"),
            "{footer}"
        );
        assert!(
            footer.contains("households is 60 but its children sum to 65"),
            "{footer}"
        );
    }

    #[test]
    fn a_gap_reason_moved_between_reasons_is_a_violation() {
        let mut t = street(0);
        if let Some(f) = &mut t.figures {
            f.gaps.clear();
            f.gaps.insert("resident.missing_household".into(), 1);
        }
        match check_additivity(&t) {
            Additivity::Violation { path, column, .. } => {
                assert!(path.is_empty());
                assert_eq!(column, "gaps[household.no_contract_group]");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_inner_node_without_children_must_be_zero_and_a_cut_one_is_not_checked() {
        let bare = node(rpb::Level::Building, "b", figs(3, 1, &[]), vec![]);
        assert!(matches!(
            check_additivity(&bare),
            Additivity::Violation { ref column, .. } if column == "households"
        ));
        let mut cut = bare.clone();
        cut.children_omitted = 1;
        assert!(additivity_footer(&cut).contains("nothing to check"));
        let group = node(rpb::Level::Group, "g", figs(3, 1, &[]), vec![]);
        assert_eq!(
            check_additivity(&group),
            Additivity::Additive {
                parents: 0,
                columns: Figures::default().columns().len()
            }
        );
    }

    #[test]
    fn pruning_keeps_the_levels_asked_for() {
        let mut t = street(0);
        prune(&mut t, 1);
        assert_eq!(t.children.len(), 2);
        assert!(t.children.iter().all(|c| c.children.is_empty()));
        assert_eq!(t.children[1].children_omitted, 2);
        let mut all = street(0);
        prune(&mut all, 0);
        assert_eq!(all, street(0));
    }

    #[test]
    fn widths_count_chinese_as_two() {
        assert_eq!(display_width("户 households"), 13);
        assert_eq!(display_width("返乡(高/中/低)"), 14);
        assert_eq!(pad_left("人", 4), "  人");
        assert_eq!(
            truncate("桐柏路社区 Tongbai Road Community", 12),
            "桐柏路社区 …"
        );
        assert!(display_width(&truncate("桐柏路社区 Tongbai Road Community", 12)) <= 12);
    }

    fn stamp(stale: bool, state: rpb::DigestState, sign: rpb::SignOffStatus) -> rpb::Stamp {
        rpb::Stamp {
            community_id: "c1".into(),
            digest: "ab".repeat(32),
            last_sync_ms: 1_000,
            stale,
            digest_state: state as i32,
            sign_off_status: sign as i32,
            sign_off: Some(rpb::SignOff {
                signed_by: "张伟".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_staleness_cell_reads_the_stamp() {
        let s = stamp(
            false,
            rpb::DigestState::Match,
            rpb::SignOffStatus::NotSigned,
        );
        assert_eq!(
            stamp_cell(&s, 3_000, false),
            "fresh, in sync 2s ago, digest MATCH, not signed"
        );
        let mut s = stamp(
            true,
            rpb::DigestState::NotReported,
            rpb::SignOffStatus::ChangedSinceSignOff,
        );
        s.held = true;
        s.last_heard_ms = 31_000;
        assert_eq!(
            stamp_cell(&s, 61_000, false),
            "stale (link down), in sync 1m ago, heard 30s ago, held, digest NOT REPORTED, CHANGED since sign-off by 张伟"
        );
        // Connected, but the node reported heads not held here.
        s.connected = true;
        s.node_docs_ahead = 3;
        s.node_reported_ms = 31_000;
        let cell = stamp_cell(&s, 61_000, false);
        assert!(
            cell.starts_with("stale (node 3 documents ahead at ")
                && cell.contains(&crate::output::clock_time(31_000)),
            "{cell}"
        );
        s.node_docs_ahead = 0;
        assert!(
            stamp_cell(&s, 61_000, false)
                .starts_with("stale (not heard within the liveness window)"),
        );
        s.last_sync_ms = 0;
        let own = stamp_cell(&s, 61_000, true);
        assert!(
            own.starts_with("own digest abababababab…, never in sync"),
            "{own}"
        );
    }

    #[test]
    fn the_table_has_both_headers_a_stamp_per_community_and_the_footer() {
        let r = rpb::Rollup {
            street_id: "s".into(),
            as_of: "2026-11-29".into(),
            tz: "Asia/Shanghai".into(),
            rollup_version: 1,
            generated_at_ms: 3_000,
            tree: Some(street(0)),
            stamps: vec![stamp(
                false,
                rpb::DigestState::Pending,
                rpb::SignOffStatus::Signed,
            )],
            conflicts: vec![rpb::PersonConflict {
                person_key: "0123456789abcdef0123".into(),
                registrations: vec![
                    rpb::Registration {
                        community_id: "c1".into(),
                        resident_id: "rs_1".into(),
                    },
                    rpb::Registration {
                        community_id: "c2".into(),
                        resident_id: "rs_9".into(),
                    },
                ],
            }],
            ..Default::default()
        };
        let text = render(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("街道汇总 street rollup s as of 2026-11-29"),
            "{text}"
        );
        for h in ["户", "已排查", "返乡(高/中/低)", "工单", "缺口", "状态"] {
            assert!(lines[1].contains(h), "{text}");
        }
        for h in [
            "households",
            "screened",
            "returnees h/m/l",
            "open tickets",
            "gaps",
        ] {
            assert!(lines[2].contains(h), "{text}");
        }
        let c1 = lines
            .iter()
            .find(|l| l.contains("社区 community 名c1"))
            .expect("a row for c1");
        assert!(
            c1.ends_with("fresh, in sync 2s ago, digest PENDING, signed by 张伟"),
            "{c1}"
        );
        assert!(c1.contains("1/0/0"), "{c1}");
        assert!(text.contains("  楼院 compound 名cp_a (+2)"), "{text}");
        assert!(text.contains("0123456789ab…  c1/rs_1, c2/rs_9"), "{text}");
        assert!(lines.last().unwrap().starts_with("additive ✓"), "{text}");
        // Every row lines up: the same display width up to the stamp.
        let width = display_width(lines[2].split("  staleness").next().unwrap());
        for l in &lines[3..8] {
            let cut: String = l.split("  fresh").next().unwrap().to_string();
            assert!(display_width(&cut) <= width + 1, "{l}");
        }
    }

    #[test]
    fn paths_split_on_slashes() {
        assert_eq!(parse_path("c01/cp_x/"), ["c01", "cp_x"]);
        assert!(parse_path("").is_empty());
        assert_eq!(parse_path("c01/-"), ["c01", "-"]);
    }
}
