//! Plain (non-fragmented) MP4 files laid out lazily from stored samples.
//!
//! An export of a time range must not copy media: the samples already sit in stored
//! segment objects, each a concatenation of length-prefixed samples. So the file is
//! described rather than written. [`Mp4Layout::build`] takes per-track sample tables
//! and an ordered list of [`Chunk`]s, each pointing at a byte range ([`Slice`]) of a
//! stored object, and produces
//!
//! - the *header*: `ftyp`, the whole `moov` (sample tables with 64-bit `co64` chunk
//!   offsets into the body) and the 16-byte `mdat` header (always with a 64-bit
//!   largesize, so the header's length never depends on the body's), built in memory;
//! - the *body*: the chunks' slices in file order.
//!
//! [`Mp4Layout::parts`] maps any byte range of the virtual file to pieces of the
//! header and sub-slices of stored objects, which is all an HTTP server needs for
//! range requests; nothing in here reads an object.
//!
//! Box writing lives in `boxes` (a writer that back-patches sizes, no external MP4
//! crate); validation and the byte-range arithmetic live in `layout`.
//!
//! Conventions of the output: `stts` and `ctts` are run-length coded; `ctts` is
//! version 1 (signed offsets, as B-frames with decode timestamps derived from sorted
//! presentation times need) and only present when some offset is non-zero; `stss` only
//! for video tracks that are not all keyframes; `stsc` carries each chunk's sample
//! description index; `edts/elst` only when edits are given, version 1 when a value
//! needs more than 32 bits.

mod boxes;
mod layout;
#[cfg(test)]
mod tests;

use thiserror::Error;

pub use layout::Mp4Layout;

/// What a track carries; determines the handler, media header and `tkhd` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackKind {
    Video { width: u16, height: u16 },
    Audio { sample_rate: u32, channels: u16 },
}

/// One track of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    pub kind: TrackKind,
    /// Media timescale: e.g. 90000 for video, the sample rate for audio.
    pub timescale: u32,
    /// Complete sample entry boxes (`avc1`, `hvc1`, `mp4a`, ...), written into `stsd`
    /// in this order; chunks refer to them by index.
    pub sample_entries: Vec<bytes::Bytes>,
    /// All samples of the track, in decode order.
    pub samples: Vec<Sample>,
    /// Edit list; empty means no `edts` box.
    pub edits: Vec<Edit>,
}

/// One sample's entry in the sample tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// In the track's timescale.
    pub duration: u32,
    /// Bytes of the stored sample.
    pub size: u32,
    /// Sync sample (keyframe).
    pub key: bool,
    /// PTS - DTS in the track's timescale.
    pub cts_offset: i32,
}

/// One edit list entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edit {
    /// Start in the track's media (composition) timeline, in the track's timescale;
    /// -1 makes an empty edit (a gap).
    pub media_time: i64,
    /// Length in the movie timescale.
    pub duration: u64,
}

/// A run of consecutive samples of one track stored contiguously.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Index into [`ExportSpec::tracks`].
    pub track: usize,
    /// Index of the chunk's first sample in that track's `samples`.
    pub first_sample: usize,
    pub sample_count: usize,
    /// Index into that track's `sample_entries`.
    pub sample_entry: usize,
    /// Where the samples' bytes are stored; its length is the sum of their sizes.
    pub source: Slice,
}

/// A byte range of a stored object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slice {
    /// Storage key of the object.
    pub object: String,
    pub offset: u64,
    pub len: u64,
}

/// Everything that determines an export's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSpec {
    pub movie_timescale: u32,
    pub tracks: Vec<Track>,
    /// In file order; interleaving is the caller's choice.
    pub chunks: Vec<Chunk>,
    /// Seconds since 1904-01-01 UTC, for `mvhd`, `tkhd` and `mdhd`.
    pub creation_time: u64,
}

/// A piece of the file, in order, for some byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// This range of [`Mp4Layout::header`].
    Header(std::ops::Range<usize>),
    /// These bytes of a stored object.
    Body(Slice),
}

/// Why an [`ExportSpec`] cannot be laid out.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Mp4Error {
    #[error("an MP4 export needs at least one track")]
    NoTracks,
    #[error("the movie timescale is 0")]
    MovieTimescale,
    #[error("track {track} has timescale 0")]
    TrackTimescale { track: usize },
    #[error("track {track} has {samples} samples but no sample entry")]
    NoSampleEntries { track: usize, samples: usize },
    #[error("sample entry {entry} of track {track} is not a box: {reason}")]
    BadSampleEntry {
        track: usize,
        entry: usize,
        reason: String,
    },
    #[error("edit {edit} of track {track} has media time {media_time}; only -1 (empty edit) or a time >= 0 is allowed")]
    BadEdit {
        track: usize,
        edit: usize,
        media_time: i64,
    },
    #[error("chunk {chunk} refers to track {track}, but there are {tracks} tracks")]
    ChunkTrack {
        chunk: usize,
        track: usize,
        tracks: usize,
    },
    #[error("chunk {chunk} of track {track} has no samples")]
    EmptyChunk { chunk: usize, track: usize },
    #[error("chunk {chunk} of track {track} uses sample entry {sample_entry}, but the track has {entries}")]
    ChunkSampleEntry {
        chunk: usize,
        track: usize,
        sample_entry: usize,
        entries: usize,
    },
    #[error("chunk {chunk} of track {track} starts at sample {first_sample}, but the next sample not yet in a chunk is {expected}")]
    ChunkOutOfOrder {
        chunk: usize,
        track: usize,
        first_sample: usize,
        expected: usize,
    },
    #[error(
        "chunk {chunk} of track {track} ends at sample {end}, past the track's {samples} samples"
    )]
    ChunkPastEnd {
        chunk: usize,
        track: usize,
        end: usize,
        samples: usize,
    },
    #[error("chunk {chunk} of track {track} reads {source_len} bytes of {object:?} but its samples' sizes add up to {sizes}")]
    ChunkLength {
        chunk: usize,
        track: usize,
        object: String,
        source_len: u64,
        sizes: u64,
    },
    #[error("the chunks of track {track} cover {covered} of its {samples} samples")]
    SamplesNotCovered {
        track: usize,
        covered: usize,
        samples: usize,
    },
    #[error("the {fourcc} box would exceed 4 GiB")]
    TooLarge { fourcc: String },
}
