//! The dependency graph of a blast radius, read as an SRE reads it: a fault in a
//! dependency reaches the incident's service only through the services that call it,
//! so those callers show it too; and a service is the origin of what it shows when
//! nothing it depends on shows it. Pure functions, no IO.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use inquest_domain::DependsOn;

/// The `DEPENDS_ON` edges of a radius as adjacency, caller to callees.
#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    calls: BTreeMap<String, BTreeSet<String>>,
}

impl DependencyGraph {
    pub fn new(edges: &[DependsOn]) -> Self {
        let mut calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in edges.iter().filter(|e| e.from != e.to) {
            calls.entry(e.from.clone()).or_default().insert(e.to.clone());
        }
        Self { calls }
    }

    /// No edges: the store gave none, and the graph says nothing.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Everything `key` depends on, directly or through others (itself excluded).
    pub fn dependencies_of(&self, key: &str) -> BTreeSet<&str> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = VecDeque::from([key]);
        while let Some(at) = queue.pop_front() {
            for next in self.calls.get(at).into_iter().flatten() {
                if next != key && seen.insert(next.as_str()) {
                    queue.push_back(next.as_str());
                }
            }
        }
        seen
    }

    /// For every service reachable from `origin` along the calls, how well the
    /// services between them carry a fault of it up to `origin`: the best path's
    /// weakest intermediate service, by `shows` (in `[0, 1]`). A direct dependency has
    /// no service between, so 1. With it, the service that path's value comes from
    /// (`None` for a direct dependency).
    pub fn path_support(&self, origin: &str, shows: impl Fn(&str) -> f64) -> BTreeMap<String, (f64, Option<String>)> {
        // Widest path (max over paths of the min over intermediates), Dijkstra-style:
        // a path's value only falls as it grows, so the first time a node is settled
        // its value is final.
        #[derive(PartialEq)]
        struct Item(f64, String, Option<String>);
        impl Eq for Item {}
        impl PartialOrd for Item {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for Item {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.total_cmp(&other.0).then_with(|| other.1.cmp(&self.1))
            }
        }
        let mut best: BTreeMap<String, (f64, Option<String>)> = BTreeMap::new();
        let mut heap = BinaryHeap::new();
        for callee in self.calls.get(origin).into_iter().flatten() {
            heap.push(Item(1.0, callee.clone(), None));
        }
        while let Some(Item(value, key, weakest)) = heap.pop() {
            if key == origin || best.contains_key(&key) {
                continue;
            }
            let own = shows(&key).clamp(0.0, 1.0);
            for callee in self.calls.get(&key).into_iter().flatten() {
                if !best.contains_key(callee) && callee != origin {
                    let (v, w) = if own < value { (own, Some(key.clone())) } else { (value, weakest.clone()) };
                    heap.push(Item(v, callee.clone(), w));
                }
            }
            best.insert(key, (value, weakest));
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> DependencyGraph {
        let edges: Vec<DependsOn> =
            edges.iter().map(|(a, b)| DependsOn { from: a.to_string(), to: b.to_string() }).collect();
        DependencyGraph::new(&edges)
    }

    #[test]
    fn dependencies_are_the_subtree_not_everything_farther_down() {
        // web -> api -> db ; web -> search -> index ; a cycle api -> web is harmless.
        let g = graph(&[("web", "api"), ("api", "db"), ("web", "search"), ("search", "index"), ("api", "web")]);
        assert_eq!(g.dependencies_of("search"), BTreeSet::from(["index"]));
        assert_eq!(g.dependencies_of("api"), BTreeSet::from(["db", "web", "search", "index"]));
        assert!(g.dependencies_of("db").is_empty());
        assert!(DependencyGraph::new(&[]).is_empty());
    }

    #[test]
    fn a_path_is_as_good_as_its_weakest_caller_and_the_best_path_counts() {
        // web -> api -> db ; web -> batch -> db ; web -> lambda -> fn ; fn's only path
        // runs through lambda, which shows nothing.
        let g = graph(&[
            ("web", "api"),
            ("api", "db"),
            ("web", "batch"),
            ("batch", "db"),
            ("web", "lambda"),
            ("lambda", "fn"),
        ]);
        let shows = |k: &str| match k {
            "api" => 0.8,
            "batch" => 0.3,
            "lambda" => 0.0,
            _ => 1.0,
        };
        let p = g.path_support("web", shows);
        assert_eq!(p["api"], (1.0, None), "a direct dependency has nothing between");
        assert_eq!(p["db"], (0.8, Some("api".to_string())), "the better of the two paths");
        assert_eq!(p["fn"], (0.0, Some("lambda".to_string())));
        assert!(!p.contains_key("web"));
    }
}
