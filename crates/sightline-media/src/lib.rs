//! Sans-I/O media code for Sightline: the bytes-in, bytes-out parts of recording
//! and playback, kept free of sockets, files and async runtimes so that every
//! format detail can be unit-tested (and fuzzed) in isolation.
//!
//! - [`frame_index`]: the compact per-frame index (size, duration, key flag,
//!   composition offset) stored in the database next to each chunk of samples.
//! - [`timing`]: decode timestamps, durations and signed composition offsets for
//!   streams whose frames arrive in decode order with presentation timestamps
//!   (RTP), which is what B-frames require.
//! - [`mp4`]: a plain (non-fragmented) MP4 laid out lazily from stored samples: the
//!   header is built in memory, the body is a list of byte ranges of stored objects,
//!   so any HTTP byte range can be served without copying or transcoding.
//!
//! The recorder and the store do the I/O; this crate only decides which bytes go
//! where.

pub mod frame_index;
pub mod mp4;
pub mod timing;
