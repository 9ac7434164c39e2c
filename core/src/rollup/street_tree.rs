//! The street's tree over its communities' rollups (each person counted
//! once), the node's digest and how it compares, and a community's stamp.

use super::*;

/// A person key registered more than once in the street.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonConflict {
    /// The person key (a keyed hash, not the ID number).
    pub person_key: String,
    /// Every registration as (community id, resident id), sorted; the first
    /// is where the person is counted.
    pub registrations: Vec<(String, String)>,
}

/// The street's tree: a `Street` node over the given community subtrees
/// (in community id order), with every person key counted once: a
/// registration other than the first (lowest community id, then resident
/// id) moves one resident from `residents` to `residents_counted_elsewhere`
/// at its leaf. The community subtrees given are not changed; the returned
/// tree holds adjusted copies.
pub fn street_tree(
    street_id: &str,
    street_name: &str,
    communities: &[&CommunityRollup],
) -> (Node, Vec<PersonConflict>) {
    let mut sorted: Vec<&CommunityRollup> = communities.to_vec();
    // Stable: of two rollups of one community, the first given is kept.
    sorted.sort_by(|a, b| a.community_id.cmp(&b.community_id));
    sorted.dedup_by(|later, earlier| later.community_id == earlier.community_id);
    let mut children: Vec<Node> = sorted.iter().map(|r| r.tree.clone()).collect();

    // Every registration of each person key: (community, resident, path, child).
    type Registration<'a> = (&'a str, &'a str, &'a [String; 3], usize);
    let mut by_key: BTreeMap<&str, Vec<Registration<'_>>> = BTreeMap::new();
    for (i, r) in sorted.iter().enumerate() {
        for p in &r.persons {
            by_key.entry(p.person_key.as_str()).or_default().push((
                r.community_id.as_str(),
                p.resident_id.as_str(),
                &p.path,
                i,
            ));
        }
    }
    let mut conflicts = Vec::new();
    for (key, mut regs) in by_key {
        regs.sort();
        regs.dedup_by(|later, earlier| (later.0, later.1) == (earlier.0, earlier.1));
        if regs.len() < 2 {
            continue;
        }
        for &(_, _, path, i) in &regs[1..] {
            if let Some(community) = children.get_mut(i) {
                count_elsewhere(community, path);
            }
        }
        conflicts.push(PersonConflict {
            person_key: key.to_string(),
            registrations: regs
                .iter()
                .map(|(c, r, _, _)| (c.to_string(), r.to_string()))
                .collect(),
        });
    }
    for c in &mut children {
        c.resum();
    }
    let mut street = Node::inner(
        Level::Street,
        street_id,
        street_name.to_string(),
        Vec::new(),
    );
    for c in &children {
        street.figures.add(&c.figures);
    }
    street.children = children;
    (street, conflicts)
}

/// Moves one resident from `residents` to `residents_counted_elsewhere` at
/// the leaf at `path` of a community node, or at its unplaced leaf if there
/// is no such leaf; does nothing if neither holds a resident to move. The
/// ancestors are summed again afterwards by the caller.
pub(crate) fn count_elsewhere(community: &mut Node, path: &[String; 3]) {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let leaf = match community.find(&path) {
        Some(_) => community.find_mut(&path),
        None => community.find_mut(&["", "", ""]),
    };
    if let Some(leaf) = leaf
        && leaf.figures.residents > 0
    {
        leaf.figures.residents -= 1;
        leaf.figures.residents_counted_elsewhere += 1;
    }
}

/// What a node reported of its own subtree, sent with its sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDigest {
    pub as_of: Day,
    pub tz: String,
    pub rollup_version: u32,
    pub heads: RollupHeads,
    pub digest: String,
    /// When the node computed it (its clock), Unix ms.
    pub computed_at_ms: i64,
}

impl NodeDigest {
    pub fn of(r: &CommunityRollup, computed_at_ms: i64) -> NodeDigest {
        NodeDigest {
            as_of: r.as_of,
            tz: r.tz.clone(),
            rollup_version: r.rollup_version,
            heads: r.heads.clone(),
            digest: r.digest.clone(),
            computed_at_ms,
        }
    }
}

/// How the coordinator's digest of a community compares with the node's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DigestCheck {
    /// Same as-of, zone and heads, same digest.
    Match,
    /// Same as-of, zone and heads, different digest: the two sides compute
    /// different figures from the same documents (mixed versions, say).
    Mismatch {
        node_digest: String,
        node_rollup_version: u32,
    },
    /// The node's report is for other heads (or another date or zone):
    /// nothing to compare yet.
    Pending,
    /// The node has not reported a digest.
    NotReported,
}

/// Compares the coordinator's rollup of a community with the node's report.
pub fn check_digest(ours: &CommunityRollup, node: Option<&NodeDigest>) -> DigestCheck {
    let Some(node) = node else {
        return DigestCheck::NotReported;
    };
    if node.as_of != ours.as_of || node.tz != ours.tz || node.heads != ours.heads {
        return DigestCheck::Pending;
    }
    if node.digest == ours.digest && node.rollup_version == ours.rollup_version {
        DigestCheck::Match
    } else {
        DigestCheck::Mismatch {
            node_digest: node.digest.clone(),
            node_rollup_version: node.rollup_version,
        }
    }
}

/// What a street rollup says of one community: what it includes and how
/// fresh it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub community_id: String,
    /// The heads the community's figures reflect.
    pub heads: RollupHeads,
    pub digest: String,
    /// Last in sync: the figures include everything the node had up to
    /// this Unix ms (now while fresh).
    pub last_sync_ms: Option<i64>,
    /// Not fresh: the node was not heard within the liveness window, or it
    /// reported heads the coordinator does not hold.
    pub stale: bool,
    /// Served from the last state shown, because the replica is behind it
    /// (restored from an old backup, say): figures never go back.
    pub held: bool,
    pub digest_check: DigestCheck,
    /// Why the community's figures could not be computed now (a document
    /// that does not load, say): they are the last served (`held`) or zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// The link behind the staleness.
    #[serde(default)]
    pub link: StampLink,
}

/// What the coordinator knows of a community's link when it stamps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StampLink {
    /// A session is open.
    pub connected: bool,
    /// Last heard: the last frame of any kind from the node, Unix ms.
    pub last_heard_ms: Option<i64>,
    /// Documents whose heads the node last reported and the coordinator
    /// does not hold, and when it reported them.
    pub node_docs_ahead: u32,
    pub node_reported_ms: Option<i64>,
}
