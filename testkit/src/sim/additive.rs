//! Additivity of a rollup as operators read it over gRPC: every parent's
//! figures are the sum of its children's, all the way down. The partition
//! simulation and the street kill test (`tests/crash`) check every rollup
//! they read with [`check_additive`].

use gridsync_core::rollup::Figures;
use gridsync_proto::rollup::v1 as rpb;

/// Checks that every parent's figures are the sum of its children's (a gap
/// counted zero times is no different from none), all the way down, and
/// that no children were left out of a rollup read at full depth. Pushes
/// one line per parent that does not add up, naming the figures that
/// differ, onto `out`, each under its path (`path/child/…`); returns how
/// many parents were checked.
pub fn check_additive(n: &rpb::Node, path: &str, out: &mut Vec<String>) -> u64 {
    if n.children_omitted > 0 {
        out.push(format!(
            "{path}: {} children omitted from a full-depth rollup",
            n.children_omitted
        ));
    }
    if n.children.is_empty() {
        return 0;
    }
    let default = rpb::Figures::default();
    let mut sum = Figures::default();
    for c in &n.children {
        sum.add(&Figures::from(c.figures.as_ref().unwrap_or(&default)));
    }
    let own = Figures::from(n.figures.as_ref().unwrap_or(&default));
    if !own.same_as(&sum) {
        out.push(format!(
            "{path}: the parent is not the sum of its {} children: {}",
            n.children.len(),
            differences(&own, &sum).join(", ")
        ));
    }
    let mut checked = 1;
    for c in &n.children {
        let id = if c.id.is_empty() { "-" } else { &c.id };
        checked += check_additive(c, &format!("{path}/{id}"), out);
    }
    checked
}

/// The figures that differ between a parent's own and its children's sum,
/// as `name own ≠ Σ sum`.
fn differences(own: &Figures, sum: &Figures) -> Vec<String> {
    let fields = |f: &Figures| {
        let mut f = f.clone();
        f.gaps.retain(|_, n| *n > 0);
        match serde_json::to_value(&f) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    };
    let (a, b) = (fields(own), fields(sum));
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |m: &serde_json::Map<String, serde_json::Value>| {
                m.get(k).cloned().unwrap_or(serde_json::Value::Null)
            };
            format!("{k} {} ≠ Σ {}", show(&a), show(&b))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, households: u64, children: Vec<rpb::Node>) -> rpb::Node {
        rpb::Node {
            id: id.into(),
            figures: Some(rpb::Figures {
                households,
                ..Default::default()
            }),
            children,
            ..Default::default()
        }
    }

    #[test]
    fn a_tree_that_adds_up_passes_and_its_parents_are_counted() {
        let tree = node(
            "s",
            3,
            vec![
                node("a", 1, vec![node("g", 1, vec![])]),
                node("b", 2, vec![]),
            ],
        );
        let mut out = Vec::new();
        assert_eq!(check_additive(&tree, "s", &mut out), 2);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn every_parent_that_does_not_add_up_is_named_with_the_figures_that_differ() {
        let mut tree = node(
            "s",
            4,
            vec![
                node("a", 1, vec![node("g", 2, vec![])]),
                node("", 2, vec![]),
            ],
        );
        tree.children[1].children_omitted = 1;
        let mut out = Vec::new();
        check_additive(&tree, "s", &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].starts_with("s: ") && out[0].contains("households 4 ≠ Σ 3"));
        assert!(out[1].starts_with("s/a: ") && out[1].contains("households 1 ≠ Σ 2"));
        assert!(out[2].starts_with("s/-: 1 children omitted"), "{out:?}");
    }
}
