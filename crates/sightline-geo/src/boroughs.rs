//! London's 33 local-authority areas, embedded, and which one a point lies in.
//!
//! The boundaries are the GLA's published set (see `data/README.md` for the licence and
//! attribution), parsed once on first use. Assignment is point-in-polygon by ray casting
//! in longitude/latitude, which is exact enough at city scale, after a bounding-box test
//! that leaves one to four candidates for a point in London.
//!
//! The metropolitan police area is the 32 boroughs; the City of London has its own force,
//! so [`Borough::metropolitan`] is false for it alone.

use std::sync::OnceLock;

use serde::Deserialize;

const GEOJSON: &str = include_str!("../data/london-boroughs.geojson");

/// The name of the area that is not a metropolitan borough.
pub const CITY_OF_LONDON: &str = "City of London";

/// A point in WGS84 degrees.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// One local-authority area.
#[derive(Debug)]
pub struct Borough {
    /// As the boundary data names it, e.g. `Kensington and Chelsea`.
    pub name: String,
    /// Lowercase with hyphens, e.g. `kensington-and-chelsea`: the org slug of its council.
    pub slug: String,
    /// The outer ring, `(lon, lat)`, closed.
    ring: Vec<(f64, f64)>,
    /// `(min_lon, min_lat, max_lon, max_lat)`.
    bbox: (f64, f64, f64, f64),
}

impl Borough {
    /// Part of the metropolitan police area (every area but the City of London).
    pub fn metropolitan(&self) -> bool {
        self.name != CITY_OF_LONDON
    }

    /// `(south-west, north-east)` corners of the area's bounding box.
    pub fn bounds(&self) -> (LatLon, LatLon) {
        let (w, s, e, n) = self.bbox;
        (LatLon { lat: s, lon: w }, LatLon { lat: n, lon: e })
    }

    /// Whether the point lies inside the boundary (ray casting; a point exactly on an
    /// edge may fall either side, as it does between two neighbours).
    pub fn contains(&self, p: LatLon) -> bool {
        let (w, s, e, n) = self.bbox;
        if p.lon < w || p.lon > e || p.lat < s || p.lat > n {
            return false;
        }
        let mut inside = false;
        for pair in self.ring.windows(2) {
            let ((x1, y1), (x2, y2)) = (pair[0], pair[1]);
            if (y1 > p.lat) != (y2 > p.lat) {
                let x = x1 + (p.lat - y1) / (y2 - y1) * (x2 - x1);
                if p.lon < x {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

#[derive(Deserialize)]
struct Collection {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    properties: Properties,
    geometry: Geometry,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(rename = "BOROUGH")]
    borough: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "coordinates")]
enum Geometry {
    Polygon(Vec<Vec<[f64; 2]>>),
}

fn slug(name: &str) -> String {
    name.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn parse() -> Vec<Borough> {
    let collection: Collection =
        serde_json::from_str(GEOJSON).expect("the embedded borough boundaries are valid GeoJSON");
    collection
        .features
        .into_iter()
        .map(|f| {
            let Geometry::Polygon(rings) = f.geometry;
            let ring: Vec<(f64, f64)> = rings
                .into_iter()
                .next()
                .expect("a polygon has an outer ring")
                .into_iter()
                .map(|[lon, lat]| (lon, lat))
                .collect();
            let bbox = ring.iter().fold(
                (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
                |(w, s, e, n), &(x, y)| (w.min(x), s.min(y), e.max(x), n.max(y)),
            );
            Borough {
                slug: slug(&f.properties.borough),
                name: f.properties.borough,
                ring,
                bbox,
            }
        })
        .collect()
}

/// All 33 areas, sorted by name.
pub fn all() -> &'static [Borough] {
    static BOROUGHS: OnceLock<Vec<Borough>> = OnceLock::new();
    BOROUGHS.get_or_init(|| {
        let mut b = parse();
        b.sort_by(|x, y| x.name.cmp(&y.name));
        b
    })
}

/// The area with this name or slug.
pub fn by_name(name: &str) -> Option<&'static Borough> {
    all()
        .iter()
        .find(|b| b.name.eq_ignore_ascii_case(name) || b.slug == name)
}

/// The area a point lies in; `None` outside London.
pub fn containing(p: LatLon) -> Option<&'static Borough> {
    all().iter().find(|b| b.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Option<&'static str> {
        containing(LatLon { lat, lon }).map(|b| b.name.as_str())
    }

    #[test]
    fn thirty_three_areas_thirty_two_metropolitan() {
        assert_eq!(all().len(), 33);
        assert_eq!(all().iter().filter(|b| b.metropolitan()).count(), 32);
        assert_eq!(
            by_name("kensington-and-chelsea").unwrap().name,
            "Kensington and Chelsea"
        );
        assert!(!by_name("City of London").unwrap().metropolitan());
    }

    #[test]
    fn landmarks_fall_in_their_boroughs() {
        assert_eq!(at(51.5080, -0.1281), Some("Westminster")); // Trafalgar Square
        assert_eq!(at(51.5007, -0.1246), Some("Westminster")); // Palace of Westminster
        assert_eq!(at(51.5138, -0.0984), Some("City of London")); // St Paul's
        assert_eq!(at(51.5081, -0.0759), Some("Tower Hamlets")); // Tower of London
        assert_eq!(at(51.4700, -0.4543), Some("Hillingdon")); // Heathrow
        assert_eq!(at(51.3762, -0.0982), Some("Croydon")); // East Croydon
        assert_eq!(at(51.5560, -0.2795), Some("Brent")); // Wembley Stadium
        assert_eq!(at(51.5033, -0.1195), Some("Lambeth")); // London Eye
        assert_eq!(at(50.8225, -0.1372), None); // Brighton
        assert_eq!(at(51.7520, -1.2577), None); // Oxford
    }
}
