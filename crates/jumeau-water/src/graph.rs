//! Network distances along pipes (Dijkstra, lengths in metres), as leak localisation and
//! the BattLeDIM scoring rule measure them.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use crate::inp::Network;

/// The network as an undirected weighted graph: nodes by index, pipe lengths in metres
/// (pumps and valves count 0 m).
#[derive(Debug, Clone)]
pub struct NetworkGraph {
    node_index: HashMap<String, usize>,
    adjacency: Vec<Vec<(usize, f64)>>,
    links: HashMap<String, (usize, usize, f64)>,
}

#[derive(PartialEq)]
struct Item(f64, usize);

impl Eq for Item {}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl NetworkGraph {
    /// Builds the graph of a network.
    pub fn new(net: &Network) -> Self {
        let mut node_index = HashMap::new();
        for id in net
            .junctions
            .iter()
            .map(|j| &j.id)
            .chain(net.reservoirs.iter().map(|r| &r.id))
            .chain(net.tanks.iter().map(|t| &t.id))
        {
            let n = node_index.len();
            node_index.entry(id.clone()).or_insert(n);
        }
        let mut adjacency = vec![Vec::new(); node_index.len()];
        let mut links = HashMap::new();
        let scale = net.metres_per_length_unit();
        for l in net.links() {
            let (Some(&a), Some(&b)) = (node_index.get(l.node1), node_index.get(l.node2)) else {
                continue;
            };
            let w = l.length * scale;
            adjacency[a].push((b, w));
            adjacency[b].push((a, w));
            links.insert(l.id.to_string(), (a, b, w));
        }
        Self {
            node_index,
            adjacency,
            links,
        }
    }

    /// Index of a node id.
    pub fn node(&self, id: &str) -> Option<usize> {
        self.node_index.get(id).copied()
    }

    /// The end nodes and length (m) of a link.
    pub fn link(&self, id: &str) -> Option<(usize, usize, f64)> {
        self.links.get(id).copied()
    }

    /// Link ids with their end nodes and lengths.
    pub fn links(&self) -> impl Iterator<Item = (&str, (usize, usize, f64))> {
        self.links.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Shortest distances (m) from several source nodes at once (distance to the nearest
    /// source), `f64::INFINITY` where unreachable.
    pub fn distances_from(&self, sources: &[usize]) -> Vec<f64> {
        let mut dist = vec![f64::INFINITY; self.adjacency.len()];
        let mut heap = BinaryHeap::new();
        for &s in sources {
            if s < dist.len() {
                dist[s] = 0.0;
                heap.push(Item(0.0, s));
            }
        }
        while let Some(Item(d, u)) = heap.pop() {
            if d > dist[u] {
                continue;
            }
            for &(v, w) in &self.adjacency[u] {
                let nd = d + w;
                if nd < dist[v] {
                    dist[v] = nd;
                    heap.push(Item(nd, v));
                }
            }
        }
        dist
    }

    /// Distance (m) from a node to a pipe's nearest point, counting half the pipe length
    /// from its nearer end (the pipe's middle).
    pub fn node_to_link(&self, from_node: &[f64], link: &str) -> f64 {
        match self.link(link) {
            Some((a, b, len)) => from_node[a].min(from_node[b]) + len / 2.0,
            None => f64::INFINITY,
        }
    }

    /// The BattLeDIM localisation distance between two pipes: the shortest network
    /// distance between their end nodes plus half of each pipe's length (KIOS-Research
    /// BattLeDIM scoring algorithm); 0 for the same pipe.
    pub fn pipe_distance(&self, a: &str, b: &str) -> f64 {
        if a == b {
            return 0.0;
        }
        let (Some((a1, a2, la)), Some((b1, b2, lb))) = (self.link(a), self.link(b)) else {
            return f64::INFINITY;
        };
        let d = self.distances_from(&[a1, a2]);
        d[b1].min(d[b2]) + la / 2.0 + lb / 2.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::inp;

    #[test]
    fn distances_on_a_line() {
        let net = inp::parse(
            "[JUNCTIONS]\nA 0\nB 0\nC 0\nD 0\n[PIPES]\np1 A B 100 100 100\np2 B C 200 100 100\np3 C D 50 100 100\n[OPTIONS]\nUnits LPS\n",
        )
        .unwrap();
        let g = NetworkGraph::new(&net);
        let d = g.distances_from(&[g.node("A").unwrap()]);
        assert_eq!(d[g.node("D").unwrap()], 350.0);
        // p1 and p3: nodes B and C are 200 m apart, plus 50 + 25.
        assert_eq!(g.pipe_distance("p1", "p3"), 275.0);
        assert_eq!(g.pipe_distance("p1", "p2"), 150.0);
        assert_eq!(g.pipe_distance("p2", "p2"), 0.0);
        assert_eq!(g.node_to_link(&d, "p3"), 300.0 + 25.0);
    }
}
