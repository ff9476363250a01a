//! sightline-media
