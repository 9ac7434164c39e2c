//! The street's figures as nodes get them with their digest reports
//! (`Sync.Report`, `Sync.ReportDigest`): what every node is sent alike, its
//! tag, and how a node brings the copy it holds up to date when the
//! coordinator answers that nothing else changed.
//!
//! Every node is sent the same figures (the street and its communities, the
//! others' stamps cut to their freshness), with its own stamp whole. While
//! no figure changes, what still changes is the time of computation
//! (`generated_at_ms`) and the communities' freshness: which are stale or
//! held, and since when (a fresh community is last in sync at the time of
//! computation, "now while fresh"). In a street of a thousand nodes some
//! link is always coming or going, so the tag leaves all of that out (and
//! of every stamp what only its own node is sent: its heads, digests and
//! sign-off), and the answer to a node that holds the figures carries it
//! instead: the time, the node's own stamp, and the stamps of the
//! communities not fresh or held ([`unusual`]), usually none.

use sha2::{Digest, Sha256};

use crate::rollup::v1 as pb;
use crate::sync::v1 as spb;

/// A stamp as another community's node may see it: the community and its
/// freshness, none of its heads, digests or sign-offs.
pub fn cut_stamp(st: &pb::Stamp) -> pb::Stamp {
    pb::Stamp {
        community_id: st.community_id.clone(),
        last_sync_ms: st.last_sync_ms,
        stale: st.stale,
        held: st.held,
        ..Default::default()
    }
}

/// What every node is sent alike of the figures, but the tree and the
/// path (hashed apart, as they can be large): every stamp cut to its
/// community, no conflicts, no time.
fn alike(figures: &pb::Rollup) -> pb::Rollup {
    pb::Rollup {
        street_id: figures.street_id.clone(),
        as_of: figures.as_of.clone(),
        tz: figures.tz.clone(),
        rollup_version: figures.rollup_version,
        generated_at_ms: 0,
        tree: None,
        stamps: figures
            .stamps
            .iter()
            .map(|st| pb::Stamp {
                community_id: st.community_id.clone(),
                ..Default::default()
            })
            .collect(),
        conflicts: Vec::new(),
        path: Vec::new(),
        stale_after_ms: figures.stale_after_ms,
        received_at_ms: 0,
    }
}

/// The tag of the street's figures: a hash of what every node is sent alike
/// (every stamp cut to its community, no conflicts), leaving out the time
/// of computation and every community's freshness. Equal figures have
/// equal tags, whichever node holds them, whenever they were computed and
/// whichever links are up.
pub fn figures_tag(figures: &pb::Rollup) -> String {
    let mut h = Parts::default();
    // The tree and path are hashed apart, so `alike` does not copy them.
    h.add(&prost::Message::encode_to_vec(&alike(figures)));
    match &figures.tree {
        Some(tree) => h.add(&prost::Message::encode_to_vec(tree)),
        None => h.add(b"no tree"),
    }
    for p in &figures.path {
        h.add(p.as_bytes());
    }
    format!("{TAG_VERSION}{}", hex::encode(h.finish()))
}

/// A hash of parts, each with its length (so no two lists of parts hash
/// alike by where one ends and the next begins), cut to 16 bytes.
#[derive(Default)]
struct Parts(Sha256);

impl Parts {
    fn add(&mut self, part: &[u8]) {
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part);
    }

    fn finish(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.0.finalize()[..16]);
        out
    }
}

/// What every tag that leaves freshness out begins with. A coordinator
/// from before that (whose tags do not) sends no `unusual`: its answers
/// say nothing of the communities' freshness.
pub const TAG_VERSION: &str = "f2:";

/// The freshness an answer without figures states: its `unusual` when its
/// tag leaves freshness out (the communities not listed are fresh), `None`
/// from an older coordinator, which states none.
pub fn stated_freshness(answer: &spb::DigestAnswer) -> Option<&[pb::Stamp]> {
    answer
        .figures_tag
        .starts_with(TAG_VERSION)
        .then_some(answer.unusual.as_slice())
}

/// The stamps, cut, of the communities that are not fresh or are held:
/// with the time of computation, all a node needs to bring its copy's
/// freshness up to date ([`bring_up_to_date`]).
pub fn unusual(figures: &pb::Rollup) -> Vec<pb::Stamp> {
    figures
        .stamps
        .iter()
        .filter(|st| st.stale || st.held)
        .map(cut_stamp)
        .collect()
}

/// Brings a node's copy of the figures to the time of an answer that says
/// they did not change: computed at `generated_at_ms`; of every community
/// the freshness of `unusual` (the communities not fresh or held), every
/// other fresh and last in sync then; and the node's own stamp as sent.
/// With `unusual` `None` (an older coordinator's answer, which states no
/// freshness: [`stated_freshness`]), only the communities fresh in the copy
/// are brought to the time; none is made fresh or stale.
pub fn bring_up_to_date(
    figures: &mut pb::Rollup,
    generated_at_ms: i64,
    unusual: Option<&[pb::Stamp]>,
    own: Option<pb::Stamp>,
) {
    figures.generated_at_ms = generated_at_ms;
    match unusual {
        Some(unusual) => {
            let unusual: std::collections::HashMap<&str, &pb::Stamp> = unusual
                .iter()
                .map(|st| (st.community_id.as_str(), st))
                .collect();
            for st in &mut figures.stamps {
                match unusual.get(st.community_id.as_str()) {
                    Some(u) => {
                        st.stale = u.stale;
                        st.held = u.held;
                        st.last_sync_ms = u.last_sync_ms;
                    }
                    None => {
                        st.stale = false;
                        st.held = false;
                        st.last_sync_ms = generated_at_ms;
                    }
                }
            }
        }
        None => {
            for st in figures.stamps.iter_mut().filter(|st| !st.stale) {
                st.last_sync_ms = generated_at_ms;
            }
        }
    }
    if let Some(own) = own
        && let Some(slot) = figures
            .stamps
            .iter_mut()
            .find(|st| st.community_id == own.community_id)
    {
        *slot = own;
    }
}

/// [`bring_up_to_date`] with what `answer` states: its time, its
/// freshness ([`stated_freshness`]) and the node's own stamp.
pub fn bring_up_to_answer(figures: &mut pb::Rollup, answer: &spb::DigestAnswer) {
    bring_up_to_date(
        figures,
        answer.generated_at_ms,
        stated_freshness(answer),
        answer.own.clone(),
    );
}

/// The outline of the street's figures, to tell what changed between two
/// versions: a hash of their shape (every field but the time, the
/// freshness and the tree's figures: the communities and their order
/// included) and a hash of each of the root's children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outline {
    shape: [u8; 16],
    children: Vec<[u8; 16]>,
}

/// The outline of `figures` (as every node is sent them alike).
pub fn outline(figures: &pb::Rollup) -> Outline {
    let children: &[pb::Node] = figures.tree.as_ref().map_or(&[], |t| &t.children);
    let mut shape = Parts::default();
    shape.add(&prost::Message::encode_to_vec(&alike(figures)));
    shape.add(&[u8::from(figures.tree.is_some())]);
    for p in &figures.path {
        shape.add(p.as_bytes());
    }
    for c in children {
        shape.add(&c.level.to_le_bytes());
        shape.add(c.id.as_bytes());
    }
    Outline {
        shape: shape.finish(),
        children: children
            .iter()
            .map(|c| {
                let mut h = Parts::default();
                h.add(&prost::Message::encode_to_vec(c));
                h.finish()
            })
            .collect(),
    }
}

/// What changed from the figures outlined by `base` (tagged `base_tag`) to
/// `now` (outlined by `now_outline`): the root and the children whose hash
/// differs. `None` when the shape changed (another day, a community more or
/// fewer, another order): the figures must be sent whole.
pub fn delta(
    base_tag: &str,
    base: &Outline,
    now: &pb::Rollup,
    now_outline: &Outline,
) -> Option<spb::FiguresDelta> {
    let tree = now.tree.as_ref()?;
    let changed = changed_children(base, now_outline)?
        .filter_map(|i| {
            Some(spb::ChangedChild {
                index: u32::try_from(i).ok()?,
                node: Some(tree.children.get(i)?.clone()),
            })
        })
        .collect();
    Some(spb::FiguresDelta {
        base_tag: base_tag.to_string(),
        root: Some(clone_node_shallow(tree)),
        changed,
    })
}

/// The places of the root's children whose figures differ from `base` to
/// `now`; `None` when the shape changed.
pub fn changed_children<'a>(
    base: &'a Outline,
    now: &'a Outline,
) -> Option<impl Iterator<Item = usize> + 'a> {
    (base.shape == now.shape && base.children.len() == now.children.len()).then(|| {
        base.children
            .iter()
            .zip(&now.children)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i)
    })
}

/// A node without its children.
fn clone_node_shallow(n: &pb::Node) -> pb::Node {
    pb::Node {
        level: n.level,
        id: n.id.clone(),
        name: n.name.clone(),
        figures: n.figures.clone(),
        children: Vec::new(),
        children_omitted: n.children_omitted,
    }
}

/// Applies a delta to a copy of the figures it was made from: the root
/// (its children kept) and each changed child replaced. The error says
/// what did not fit (the copy is then left as it was); whether the result
/// is the figures answered is for the caller to check by their tag.
pub fn apply_delta(figures: &mut pb::Rollup, delta: &spb::FiguresDelta) -> Result<(), String> {
    let tree = figures
        .tree
        .as_mut()
        .ok_or("the figures held have no tree to apply a delta to")?;
    let root = delta.root.as_ref().ok_or("the delta has no root")?;
    let count = tree.children.len();
    for c in &delta.changed {
        let fits = usize::try_from(c.index).is_ok_and(|i| i < count);
        if !fits || c.node.is_none() {
            return Err(format!(
                "the delta changes child {} of {count}, or names no node",
                c.index
            ));
        }
    }
    let children = std::mem::take(&mut tree.children);
    *tree = pb::Node {
        children,
        ..clone_node_shallow(root)
    };
    for c in &delta.changed {
        if let (Some(slot), Some(node)) = (tree.children.get_mut(c.index as usize), &c.node) {
            *slot = node.clone();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(c: &str, at: i64, stale: bool) -> pb::Stamp {
        pb::Stamp {
            community_id: c.into(),
            digest: format!("digest of {c}"),
            last_sync_ms: if stale { 5 } else { at },
            stale,
            last_heard_ms: at - 1,
            connected: !stale,
            ..Default::default()
        }
    }

    fn figures(at: i64, households: u64) -> pb::Rollup {
        pb::Rollup {
            street_id: "s1".into(),
            as_of: "2026-12-05".into(),
            generated_at_ms: at,
            tree: Some(pb::Node {
                id: "s1".into(),
                figures: Some(pb::Figures {
                    households,
                    gaps: [
                        ("household.no_contract_group".to_string(), 2),
                        ("b".into(), 1),
                    ]
                    .into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            stamps: vec![
                stamp("c01", at, false),
                stamp("c02", at, true),
                stamp("c03", at, false),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_tag_ignores_the_time_the_own_stamp_and_freshness_but_not_the_figures() {
        let a = figures(1_000, 7);
        let b = figures(9_000, 7);
        assert_ne!(a, b);
        assert_eq!(figures_tag(&a), figures_tag(&b));
        // Another node's copy: its own stamp whole, the others cut.
        let mut c = b.clone();
        c.stamps[0] = cut_stamp(&c.stamps[0]);
        assert_eq!(figures_tag(&a), figures_tag(&c));
        assert_ne!(figures_tag(&a), figures_tag(&figures(1_000, 8)));
        // A community going stale or held, or its last in sync while stale.
        let mut d = a.clone();
        d.stamps[2].stale = true;
        d.stamps[0].held = true;
        d.stamps[1].last_sync_ms = 6;
        assert_eq!(figures_tag(&a), figures_tag(&d));
        assert_eq!(unusual(&d).len(), 3);
        assert_eq!(unusual(&a), vec![cut_stamp(&a.stamps[1])]);
        // A community more or fewer, or another path.
        let mut e = a.clone();
        e.stamps.pop();
        assert_ne!(figures_tag(&a), figures_tag(&e));
        let mut f = a.clone();
        f.path = vec!["s1".into()];
        assert_ne!(figures_tag(&a), figures_tag(&f));
    }

    /// What the coordinator sends community `c`'s node: its own stamp
    /// whole, the others cut.
    fn sent_to(mut f: pb::Rollup, c: &str) -> pb::Rollup {
        for st in &mut f.stamps {
            if st.community_id != c {
                *st = cut_stamp(st);
            }
        }
        f
    }

    #[test]
    fn a_copy_brought_up_to_date_is_what_the_coordinator_would_send_now() {
        let mut held = sent_to(figures(1_000, 7), "c01");
        let now = sent_to(figures(9_000, 7), "c01");
        assert_ne!(held, now);
        bring_up_to_date(
            &mut held,
            9_000,
            Some(&unusual(&now)),
            Some(now.stamps[0].clone()),
        );
        assert_eq!(held, now);
        assert_eq!(figures_tag(&held), figures_tag(&now));

        // c02 comes back, c03 goes stale and c01 is held: the same figures.
        let mut later = figures(20_000, 7);
        later.stamps[1] = stamp("c02", 20_000, false);
        later.stamps[2] = stamp("c03", 20_000, true);
        later.stamps[0].held = true;
        let later = sent_to(later, "c01");
        assert_eq!(figures_tag(&held), figures_tag(&later));
        bring_up_to_date(
            &mut held,
            20_000,
            Some(&unusual(&later)),
            Some(later.stamps[0].clone()),
        );
        assert_eq!(held, later);
    }

    fn with_children(at: i64, households: &[u64]) -> pb::Rollup {
        let mut f = figures(at, households.iter().sum());
        let tree = f.tree.as_mut().unwrap();
        tree.children = households
            .iter()
            .enumerate()
            .map(|(i, h)| pb::Node {
                id: format!("c{:02}", i + 1),
                figures: Some(pb::Figures {
                    households: *h,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        f
    }

    #[test]
    fn a_delta_carries_the_changed_communities_and_makes_the_figures_answered() {
        let base = with_children(1_000, &[3, 4, 5]);
        let now = with_children(9_000, &[3, 6, 5]);
        let (bo, no) = (outline(&base), outline(&now));
        let d = delta(&figures_tag(&base), &bo, &now, &no).expect("same shape");
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].index, 1);
        let mut held = base.clone();
        apply_delta(&mut held, &d).unwrap();
        assert_eq!(held.tree, now.tree);
        assert_eq!(figures_tag(&held), figures_tag(&now));
        // Nothing changed: an empty delta.
        let same = delta("t", &no, &now, &no).unwrap();
        assert!(same.changed.is_empty());

        // Another shape (a community more, or another day): no delta.
        let more = with_children(9_000, &[3, 6, 5, 1]);
        assert_eq!(delta("t", &bo, &more, &outline(&more)), None);
        let mut tomorrow = now.clone();
        tomorrow.as_of = "2026-12-06".into();
        assert_eq!(delta("t", &bo, &tomorrow, &outline(&tomorrow)), None);

        // A delta that does not fit is refused and leaves the copy alone.
        let mut bad = d.clone();
        bad.changed[0].index = 7;
        let mut copy = base.clone();
        assert!(
            apply_delta(&mut copy, &bad)
                .unwrap_err()
                .contains("child 7 of 3")
        );
        assert_eq!(copy, base);
    }

    #[test]
    fn an_older_coordinators_answer_states_no_freshness_and_none_is_changed() {
        let f = figures(1_000, 7);
        assert!(figures_tag(&f).starts_with(TAG_VERSION));
        let answer = |tag: &str| spb::DigestAnswer {
            figures_tag: tag.into(),
            generated_at_ms: 9_000,
            ..Default::default()
        };
        // Ours: no community listed is a street all fresh.
        assert_eq!(stated_freshness(&answer(&figures_tag(&f))), Some(&[][..]));
        // An older coordinator's tag (no version): nothing stated.
        let older = answer("0123456789abcdef0123456789abcdef");
        assert_eq!(stated_freshness(&older), None);
        let mut copy = f.clone();
        bring_up_to_date(&mut copy, 9_000, stated_freshness(&older), None);
        // c02 stays stale and keeps its time; the fresh ones are brought on.
        assert_eq!(copy.stamps[1], f.stamps[1]);
        assert_eq!(copy.stamps[0].last_sync_ms, 9_000);
        assert!(!copy.stamps[0].stale);
    }
}
