//! Estate reporting for Sightline: where cameras are, by borough.
//!
//! `boroughs` holds London's 33 local-authority boundaries (embedded, Open Government
//! Licence; see `data/README.md`) and assigns a point to its borough. The breakdowns and
//! the transparency report build on it.

pub mod boroughs;

pub use boroughs::{Borough, LatLon};
