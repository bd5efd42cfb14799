//! Topological validity of areal geometries (OGC Simple Features rules for polygons).
//!
//! `geo`'s DE-9IM engine, like JTS, assumes valid polygons: on a figure-eight ring or
//! overlapping parts it can give wrong answers or even panic. The broker therefore refuses
//! such polygons when they are written, with a message that says which ring is wrong and
//! where. The checks run in O(n log n) for usual data (a sweep over the edges sorted by
//! longitude) so that polygons of tens of thousands of vertices are accepted quickly.
use geo::line_intersection::{line_intersection, LineIntersection};
use geo::{BoundingRect, Coord, Line, LineString, Polygon, Relate, RemoveRepeatedPoints};

/// One edge of a ring, for the sweep.
struct Edge {
    /// Index of the ring in the polygon (0 = exterior).
    ring: usize,
    /// Index of the edge in its ring.
    idx: usize,
    /// Number of edges of its ring.
    ring_len: usize,
    line: Line<f64>,
    min_x: f64,
    max_x: f64,
    min_y: f64,
    max_y: f64,
}

/// A position for messages.
fn pos(c: Coord<f64>) -> String {
    format!("[{}, {}]", c.x, c.y)
}

/// Checks one polygon; `what` names it in messages ("the polygon", "polygon 2 of the
/// MultiPolygon"). Rings must enclose an area, be simple (no crossing, self-touching or
/// spike), cross no other ring and share no edge with one; holes must lie inside the
/// exterior ring and outside one another. Rings may touch one another at single points.
pub(crate) fn check_polygon(poly: &Polygon<f64>, what: &str) -> Result<(), String> {
    let rings: Vec<LineString<f64>> = std::iter::once(poly.exterior())
        .chain(poly.interiors())
        .map(|r| r.remove_repeated_points())
        .collect();
    let mut edges = Vec::new();
    for (ring, ls) in rings.iter().enumerate() {
        // A closed ring of k distinct positions has k + 1 coordinates.
        if ls.0.len() < 4 {
            return Err(format!(
                "ring {ring} of {what} encloses no area: it has fewer than 3 distinct \
                 positions"
            ));
        }
        let ring_len = ls.0.len() - 1;
        for (idx, line) in ls.lines().enumerate() {
            edges.push(Edge {
                ring,
                idx,
                ring_len,
                line,
                min_x: line.start.x.min(line.end.x),
                max_x: line.start.x.max(line.end.x),
                min_y: line.start.y.min(line.end.y),
                max_y: line.start.y.max(line.end.y),
            });
        }
    }
    edges.sort_by(|a, b| a.min_x.total_cmp(&b.min_x));
    for (i, a) in edges.iter().enumerate() {
        for b in &edges[i + 1..] {
            if b.min_x > a.max_x {
                break;
            }
            if b.min_y > a.max_y || a.min_y > b.max_y {
                continue;
            }
            if let Some(x) = line_intersection(a.line, b.line) {
                edge_conflict(a, b, x, what)?;
            }
        }
    }
    if rings.len() > 1 {
        check_holes(poly, what)?;
    }
    Ok(())
}

/// Judges one intersection found by the sweep.
fn edge_conflict(a: &Edge, b: &Edge, x: LineIntersection<f64>, what: &str) -> Result<(), String> {
    let at = match x {
        LineIntersection::SinglePoint { intersection, .. } => intersection,
        LineIntersection::Collinear { intersection } => intersection.start,
    };
    if a.ring == b.ring {
        let (lo, hi) = (a.idx.min(b.idx), a.idx.max(b.idx));
        let adjacent = hi == lo + 1 || (lo == 0 && hi + 1 == a.ring_len);
        return match x {
            // Consecutive edges meet at their shared vertex.
            LineIntersection::SinglePoint {
                is_proper: false, ..
            } if adjacent => Ok(()),
            LineIntersection::Collinear { .. } if adjacent => Err(format!(
                "ring {} of {what} doubles back on itself at {} (a spike): remove the \
                 position where the ring turns back",
                a.ring,
                pos(at)
            )),
            _ => Err(format!(
                "ring {} of {what} crosses or touches itself at {}: a ring must be a simple \
                 closed line; reorder its positions, or split the shape into the polygons \
                 of a MultiPolygon",
                a.ring,
                pos(at)
            )),
        };
    }
    let (r1, r2) = (a.ring.min(b.ring), a.ring.max(b.ring));
    match x {
        LineIntersection::Collinear { .. } => Err(format!(
            "rings {r1} and {r2} of {what} share an edge at {}: rings may only touch at \
             single points",
            pos(at)
        )),
        LineIntersection::SinglePoint {
            is_proper: true, ..
        } => Err(format!(
            "rings {r1} and {r2} of {what} cross at {}: holes must lie inside the exterior \
             ring (ring 0) and outside one another",
            pos(at)
        )),
        // A touch at a vertex is allowed; a crossing through a vertex is caught by the
        // containment checks.
        LineIntersection::SinglePoint { .. } => Ok(()),
    }
}

/// Holes inside the exterior ring and outside one another (rings are already known to be
/// simple and not to cross properly).
fn check_holes(poly: &Polygon<f64>, what: &str) -> Result<(), String> {
    let shell = Polygon::new(poly.exterior().clone(), vec![]);
    let prepared = geo::PreparedGeometry::from(&shell);
    let holes: Vec<Polygon<f64>> = poly
        .interiors()
        .iter()
        .map(|r| Polygon::new(r.clone(), vec![]))
        .collect();
    for (i, hole) in holes.iter().enumerate() {
        if !prepared.relate(hole).is_contains() {
            return Err(format!(
                "ring {} of {what} is a hole that is not inside the exterior ring (ring 0): \
                 move it inside, or make it a separate polygon of a MultiPolygon",
                i + 1
            ));
        }
    }
    let boxes: Vec<_> = holes.iter().map(BoundingRect::bounding_rect).collect();
    for i in 0..holes.len() {
        for j in i + 1..holes.len() {
            if !rects_meet(boxes[i], boxes[j]) {
                continue;
            }
            if interiors_meet(&holes[i], &holes[j]) {
                return Err(format!(
                    "rings {} and {} of {what} are holes that overlap: merge them into one \
                     hole",
                    i + 1,
                    j + 1
                ));
            }
        }
    }
    Ok(())
}

/// Whether two optional rectangles share a point.
fn rects_meet(a: Option<geo::Rect<f64>>, b: Option<geo::Rect<f64>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.min().x <= b.max().x
                && b.min().x <= a.max().x
                && a.min().y <= b.max().y
                && b.min().y <= a.max().y
        }
        _ => false,
    }
}

/// Whether the interiors of two valid polygons share an area.
fn interiors_meet(a: &Polygon<f64>, b: &Polygon<f64>) -> bool {
    a.relate(b).get(
        geo::coordinate_position::CoordPos::Inside,
        geo::coordinate_position::CoordPos::Inside,
    ) == geo::dimensions::Dimensions::TwoDimensional
}

/// Whether two valid polygons share an edge (their boundaries meet along a line).
fn boundaries_share_edge(a: &Polygon<f64>, b: &Polygon<f64>) -> bool {
    a.relate(b).get(
        geo::coordinate_position::CoordPos::OnBoundary,
        geo::coordinate_position::CoordPos::OnBoundary,
    ) == geo::dimensions::Dimensions::OneDimensional
}

/// Checks the polygons of a MultiPolygon, each valid, and that they neither overlap nor
/// share an edge (OGC: they may only touch at points).
pub(crate) fn check_multi_polygon(polys: &[Polygon<f64>]) -> Result<(), String> {
    for (i, p) in polys.iter().enumerate() {
        check_polygon(p, &format!("polygon {i} of the MultiPolygon"))?;
    }
    let boxes: Vec<_> = polys.iter().map(BoundingRect::bounding_rect).collect();
    for i in 0..polys.len() {
        for j in i + 1..polys.len() {
            if !rects_meet(boxes[i], boxes[j]) {
                continue;
            }
            if interiors_meet(&polys[i], &polys[j]) {
                return Err(format!(
                    "polygons {i} and {j} of the MultiPolygon overlap: the polygons of a \
                     MultiPolygon may only touch at points; merge them into one polygon"
                ));
            }
            if boundaries_share_edge(&polys[i], &polys[j]) {
                return Err(format!(
                    "polygons {i} and {j} of the MultiPolygon share an edge: the polygons of \
                     a MultiPolygon may only touch at points; merge them into one polygon"
                ));
            }
        }
    }
    Ok(())
}

/// Checks that polygons belonging to different members of a GeometryCollection do not
/// overlap (the DE-9IM engine cannot evaluate such collections). `polys` pairs each
/// (already valid) polygon with the index of its member.
pub(crate) fn check_collection_polygons(polys: &[(usize, &Polygon<f64>)]) -> Result<(), String> {
    let boxes: Vec<_> = polys.iter().map(|(_, p)| p.bounding_rect()).collect();
    for i in 0..polys.len() {
        for j in i + 1..polys.len() {
            let ((mi, pi), (mj, pj)) = (polys[i], polys[j]);
            if mi == mj || !rects_meet(boxes[i], boxes[j]) {
                continue;
            }
            if interiors_meet(pi, pj) {
                return Err(format!(
                    "members {mi} and {mj} of the GeometryCollection have overlapping \
                     polygons, which geo-queries cannot evaluate: merge them into one polygon \
                     or MultiPolygon"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use geo::{coord, polygon};

    fn poly(rings: &[&[(f64, f64)]]) -> Polygon<f64> {
        let ls =
            |r: &[(f64, f64)]| LineString(r.iter().map(|&(x, y)| coord! {x: x, y: y}).collect());
        Polygon::new(ls(rings[0]), rings[1..].iter().map(|r| ls(r)).collect())
    }

    #[test]
    fn accepts_valid_polygons() {
        let square: &[(f64, f64)] = &[(0., 0.), (10., 0.), (10., 10.), (0., 10.), (0., 0.)];
        check_polygon(&poly(&[square]), "p").unwrap();
        // Repeated consecutive positions and collinear vertices are harmless.
        check_polygon(
            &poly(&[&[
                (0., 0.),
                (0., 0.),
                (5., 0.),
                (10., 0.),
                (10., 10.),
                (0., 0.),
            ]]),
            "p",
        )
        .unwrap();
        // Holes, one touching the shell at a vertex, two touching each other at a point.
        check_polygon(
            &poly(&[
                square,
                &[(0., 5.), (2., 4.), (2., 6.), (0., 5.)],
                &[(4., 4.), (6., 4.), (6., 6.), (4., 4.)],
                &[(6., 6.), (8., 6.), (8., 8.), (6., 6.)],
            ]),
            "p",
        )
        .unwrap();
        check_multi_polygon(&[
            poly(&[square]),
            poly(&[&[(10., 10.), (12., 10.), (12., 12.), (10., 10.)]]),
        ])
        .unwrap();
    }

    #[test]
    fn rejects_invalid_polygons() {
        let square: &[(f64, f64)] = &[(0., 0.), (10., 0.), (10., 10.), (0., 10.), (0., 0.)];
        let e = check_polygon(
            &poly(&[&[(0., 0.), (2., 2.), (2., 0.), (0., 2.), (0., 0.)]]),
            "the polygon",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "ring 0 of the polygon crosses or touches itself at [1, 1]: a ring must be a simple \
             closed line; reorder its positions, or split the shape into the polygons of a \
             MultiPolygon"
        );
        let e = check_polygon(
            &poly(&[&[(1., 1.), (1., 1.), (2., 2.), (1., 1.)]]),
            "the polygon",
        )
        .unwrap_err();
        assert!(e.contains("ring 0 of the polygon encloses no area"), "{e}");
        let e =
            check_polygon(&poly(&[&[(0., 0.), (1., 1.), (2., 2.), (0., 0.)]]), "p").unwrap_err();
        assert!(e.contains("doubles back on itself"), "{e}");
        let e = check_polygon(
            &poly(&[&[
                (0., 0.),
                (4., 0.),
                (4., 4.),
                (4., 8.),
                (4., 4.),
                (0., 4.),
                (0., 0.),
            ]]),
            "p",
        )
        .unwrap_err();
        assert!(
            e.contains("spike") || e.contains("touches itself at [4, 4]"),
            "{e}"
        );
        // A ring passing twice through the same vertex.
        let e = check_polygon(
            &poly(&[&[
                (0., 0.),
                (2., 0.),
                (1., 1.),
                (2., 2.),
                (0., 2.),
                (1., 1.),
                (0., 0.),
            ]]),
            "p",
        )
        .unwrap_err();
        assert!(e.contains("crosses or touches itself at [1, 1]"), "{e}");
        let e = check_polygon(
            &poly(&[square, &[(5., 5.), (15., 5.), (15., 6.), (5., 5.)]]),
            "p",
        )
        .unwrap_err();
        assert!(e.contains("rings 0 and 1 of p cross at [10, 5"), "{e}");
        let e = check_polygon(
            &poly(&[square, &[(20., 20.), (21., 20.), (21., 21.), (20., 20.)]]),
            "p",
        )
        .unwrap_err();
        assert!(
            e.contains("ring 1 of p is a hole that is not inside the exterior ring"),
            "{e}"
        );
        let e = check_polygon(
            &poly(&[square, &[(0., 0.), (5., 0.), (5., 5.), (0., 0.)]]),
            "p",
        )
        .unwrap_err();
        assert!(e.contains("rings 0 and 1 of p share an edge"), "{e}");
        let e = check_polygon(
            &poly(&[
                square,
                &[(2., 2.), (6., 2.), (6., 6.), (2., 2.)],
                &[(3., 2.5), (7., 2.5), (7., 7.), (3., 2.5)],
            ]),
            "p",
        )
        .unwrap_err();
        assert!(e.contains("cross") || e.contains("overlap"), "{e}");
        let e = check_polygon(
            &poly(&[
                square,
                &[(2., 2.), (8., 2.), (8., 8.), (2., 8.), (2., 2.)],
                &[(3., 3.), (4., 3.), (4., 4.), (3., 3.)],
            ]),
            "p",
        )
        .unwrap_err();
        assert!(
            e.contains("rings 1 and 2 of p are holes that overlap"),
            "{e}"
        );
        // A hole crossing the shell through one of the shell's vertices.
        let e = check_polygon(
            &poly(&[
                square,
                &[(9., 9.), (11., 9.), (11., 11.), (9., 11.), (9., 9.)],
            ]),
            "p",
        )
        .unwrap_err();
        assert!(e.contains("cross") || e.contains("not inside"), "{e}");

        let tri = polygon![(x: 0., y: 0.), (x: 2., y: 0.), (x: 2., y: 2.), (x: 0., y: 0.)];
        let e = check_multi_polygon(&[tri.clone(), tri.clone()]).unwrap_err();
        assert!(
            e.contains("polygons 0 and 1 of the MultiPolygon overlap"),
            "{e}"
        );
        let next = polygon![(x: 0., y: 0.), (x: 2., y: 2.), (x: 0., y: 2.), (x: 0., y: 0.)];
        let e = check_multi_polygon(&[tri.clone(), next]).unwrap_err();
        assert!(
            e.contains("polygons 0 and 1 of the MultiPolygon share an edge"),
            "{e}"
        );
        let bad = polygon![(x: 0., y: 0.), (x: 2., y: 2.), (x: 2., y: 0.), (x: 0., y: 2.), (x: 0., y: 0.)];
        let e = check_multi_polygon(&[tri.clone(), bad]).unwrap_err();
        assert!(
            e.contains("ring 0 of polygon 1 of the MultiPolygon crosses"),
            "{e}"
        );
        let e = check_collection_polygons(&[(0, &tri), (3, &tri)]).unwrap_err();
        assert!(
            e.contains("members 0 and 3 of the GeometryCollection"),
            "{e}"
        );
        check_collection_polygons(&[(0, &tri), (0, &tri)]).unwrap();
    }

    #[test]
    fn large_polygons_are_checked_quickly() {
        let n = 50_000;
        let mut cs: Vec<Coord<f64>> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                let r = 1.0 + 0.1 * ((i % 7) as f64) / 7.0;
                coord! {x: r * a.cos(), y: r * a.sin()}
            })
            .collect();
        cs.push(cs[0]);
        let p = Polygon::new(LineString(cs), vec![]);
        let t = std::time::Instant::now();
        check_polygon(&p, "p").unwrap();
        assert!(t.elapsed().as_secs_f64() < 5.0, "{:?}", t.elapsed());
    }
}
