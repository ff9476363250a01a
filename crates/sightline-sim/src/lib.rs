//! sightline-sim
