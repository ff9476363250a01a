//! Geography for Sightline: London's 33 local-authority boundaries (embedded, Open
//! Government Licence; see `data/README.md`) and which one a point lies in.
//!
//! It sits at the bottom of the crate map, with no Sightline dependency, because the
//! registry derives a camera's borough from its position (`sightline-core`), the
//! simulator places cameras inside boroughs, and reports break the estate down by them.

pub mod boroughs;

pub use boroughs::{Borough, LatLon};
