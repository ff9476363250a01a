-- Sightline metadata schema: cameras, recordings index, retention bookkeeping.
-- Times are microseconds since the Unix epoch (UTC) unless a column says otherwise.
-- Track times (`*_ts`) are ticks of the sample entry's timescale (90 kHz video, the
-- sample rate for audio), relative to the run's `npt0_us`.

CREATE TABLE cameras (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    url             TEXT NOT NULL,                 -- RTSP URL, never with credentials
    username        TEXT,
    password_sealed BLOB,                          -- ChaCha20-Poly1305: nonce || ciphertext
    transport       TEXT NOT NULL DEFAULT 'tcp' CHECK (transport IN ('tcp', 'udp')),
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    retention_days  INTEGER NOT NULL DEFAULT 31 CHECK (retention_days BETWEEN 1 AND 3650),
    created_us      INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL
);

-- Codec configuration boxes (avc1/hvc1/mp4a as they go into an MP4 stsd), shared by chunks.
CREATE TABLE sample_entries (
    id          INTEGER PRIMARY KEY,
    sha256      BLOB NOT NULL UNIQUE,
    media       TEXT NOT NULL CHECK (media IN ('video', 'audio')),
    codec       TEXT NOT NULL,                     -- RFC 6381, e.g. avc1.640028, mp4a.40.2
    timescale   INTEGER NOT NULL CHECK (timescale > 0),
    width       INTEGER,                           -- video only, pixels
    height      INTEGER,
    sample_rate INTEGER,                           -- audio only, Hz
    channels    INTEGER,
    data        BLOB NOT NULL
);

-- One uninterrupted RTSP session. A gap in recording is the time between runs.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    camera_id   INTEGER NOT NULL REFERENCES cameras(id) ON DELETE CASCADE,
    npt0_us     INTEGER NOT NULL,                  -- wall time of track time 0
    started_us  INTEGER NOT NULL,                  -- wall time the session was opened
    end_reason  TEXT                               -- NULL while open, or if the server died
);
CREATE INDEX runs_camera ON runs(camera_id, npt0_us);

-- A media object (about one minute) holding concatenated samples of one run.
CREATE TABLE segments (
    id          INTEGER PRIMARY KEY,
    camera_id   INTEGER NOT NULL REFERENCES cameras(id) ON DELETE CASCADE,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    object_key  TEXT NOT NULL UNIQUE,
    open        INTEGER NOT NULL DEFAULT 1 CHECK (open IN (0, 1)),
    bytes       INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0)  -- committed bytes when closed
);
CREATE INDEX segments_camera ON segments(camera_id, id);

-- A flush of one track's samples into a segment: the unit of crash safety. Rows are
-- committed only after their bytes were fsynced.
CREATE TABLE chunks (
    id              INTEGER PRIMARY KEY,
    segment_id      INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    camera_id       INTEGER NOT NULL,
    track           TEXT NOT NULL CHECK (track IN ('video', 'audio')),
    sample_entry_id INTEGER NOT NULL REFERENCES sample_entries(id),
    start_us        INTEGER NOT NULL,              -- wall time of the first sample's decode time
    end_us          INTEGER NOT NULL CHECK (end_us >= start_us),
    start_ts        INTEGER NOT NULL,              -- first sample's decode time, track ticks
    duration_ts     INTEGER NOT NULL CHECK (duration_ts >= 0),
    byte_offset     INTEGER NOT NULL CHECK (byte_offset >= 0),
    byte_len        INTEGER NOT NULL CHECK (byte_len > 0),
    frame_count     INTEGER NOT NULL CHECK (frame_count > 0),
    key_count       INTEGER NOT NULL CHECK (key_count >= 0),
    frame_index     BLOB NOT NULL                  -- sightline_media::frame_index encoding
);
CREATE INDEX chunks_camera_time ON chunks(camera_id, track, end_us);
CREATE INDEX chunks_segment ON chunks(segment_id);

-- Evidential holds: recordings of this camera overlapping the range are never deleted.
CREATE TABLE holds (
    id          INTEGER PRIMARY KEY,
    camera_id   INTEGER NOT NULL REFERENCES cameras(id) ON DELETE CASCADE,
    from_us     INTEGER NOT NULL,
    to_us       INTEGER NOT NULL CHECK (to_us > from_us),
    reason      TEXT NOT NULL,
    created_us  INTEGER NOT NULL
);

-- Media objects whose index rows are gone and whose bytes still have to be deleted.
-- Deletion is two-phase so a crash between the two never leaves rows pointing at nothing.
CREATE TABLE garbage (
    object_key  TEXT PRIMARY KEY,
    queued_us   INTEGER NOT NULL
);
