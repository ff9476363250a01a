-- Identity, access control and the audit chain.
-- Migrations run with foreign keys off (see Store::open), as SQLite's table rebuild requires.

-- Cameras gain an owner, a group for grants, and a sensitivity label. The global UNIQUE on
-- the name goes: a clash with a camera the principal may not know of would confirm that it
-- exists. Names are unique among the cameras one principal can see (checked by the store).
CREATE TABLE cameras_new (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    url             TEXT NOT NULL,                 -- RTSP URL, never with credentials
    username        TEXT,
    password_sealed BLOB,                          -- ChaCha20-Poly1305: nonce || ciphertext
    transport       TEXT NOT NULL DEFAULT 'tcp' CHECK (transport IN ('tcp', 'udp')),
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    retention_days  INTEGER NOT NULL DEFAULT 31 CHECK (retention_days BETWEEN 1 AND 3650),
    owner_org       TEXT NOT NULL DEFAULT 'force' CHECK (length(owner_org) BETWEEN 1 AND 48),
    camera_group    TEXT NOT NULL DEFAULT 'force' CHECK (length(camera_group) BETWEEN 1 AND 48),
    -- 0 OFFICIAL, 1 OFFICIAL-SENSITIVE, 2 SECRET: a principal cleared below it never learns
    -- the camera exists.
    classification  INTEGER NOT NULL DEFAULT 0 CHECK (classification IN (0, 1, 2)),
    covert          INTEGER NOT NULL DEFAULT 0 CHECK (covert IN (0, 1)),
    created_us      INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL
);
INSERT INTO cameras_new (id, name, url, username, password_sealed, transport, enabled,
                         retention_days, created_us, updated_us)
    SELECT id, name, url, username, password_sealed, transport, enabled,
           retention_days, created_us, updated_us FROM cameras;
DROP TABLE cameras;
ALTER TABLE cameras_new RENAME TO cameras;
CREATE INDEX cameras_name ON cameras(name);
CREATE INDEX cameras_scope ON cameras(owner_org, camera_group);

-- Ids of cameras everyone may know of (OFFICIAL, overt) come from this counter, so they
-- run in sequence and are never reused; covert or classified cameras get random ids
-- above 2^31 (see sightline_store::cameras), leaving no gap that would betray them.
CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL CHECK (value >= 0)
);
INSERT INTO counters (name, value) SELECT 'overt_camera_id', COALESCE(MAX(id), 0) FROM cameras;

-- People. Passwords are Argon2id PHC strings; nothing else about them is stored.
CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    org                  TEXT NOT NULL CHECK (length(org) BETWEEN 1 AND 48),
    role                 TEXT NOT NULL CHECK (role IN ('operator', 'supervisor', 'evidence-officer',
                                                       'disclosure-officer', 'auditor', 'administrator')),
    clearance            INTEGER NOT NULL DEFAULT 0 CHECK (clearance IN (0, 1, 2)),
    covert_cleared       INTEGER NOT NULL DEFAULT 0 CHECK (covert_cleared IN (0, 1)),
    password_hash        TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    disabled             INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_us           INTEGER NOT NULL,
    updated_us           INTEGER NOT NULL
);

-- Browser sessions. The cookie value is never stored, only its SHA-256.
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    token_sha256  BLOB NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    source        TEXT NOT NULL,                   -- client address at login
    created_us    INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    expires_us    INTEGER NOT NULL CHECK (expires_us > created_us),  -- absolute limit
    revoked_us    INTEGER
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Bearer tokens for the CLI and scripts. Only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    token_sha256  BLOB NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label         TEXT NOT NULL,
    created_us    INTEGER NOT NULL,
    expires_us    INTEGER,                         -- NULL: until revoked
    last_used_us  INTEGER,
    revoked_us    INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- Shares of a camera group with an organisation: its members get these video rights on
-- cameras whose camera_group matches.
CREATE TABLE grants (
    id            INTEGER PRIMARY KEY,
    org           TEXT NOT NULL CHECK (length(org) BETWEEN 1 AND 48),
    camera_group  TEXT NOT NULL CHECK (length(camera_group) BETWEEN 1 AND 48),
    rights        INTEGER NOT NULL CHECK (rights BETWEEN 0 AND 15),  -- 1 live, 2 playback, 4 export, 8 ptz
    ptz_priority  INTEGER NOT NULL DEFAULT 0 CHECK (ptz_priority BETWEEN 0 AND 100),
    created_us    INTEGER NOT NULL,
    UNIQUE (org, camera_group)
);

-- The audit trail: append-only, each entry chained to the previous by SHA-256 (see
-- sightline_store::audit for the exact encoding). seq runs 1, 2, 3... without gaps.
CREATE TABLE audit (
    seq             INTEGER PRIMARY KEY,
    at_us           INTEGER NOT NULL,
    actor           TEXT NOT NULL,                 -- user name, or 'system', or 'cli'
    source          TEXT NOT NULL,                 -- client address, or 'local'
    action          TEXT NOT NULL,                 -- e.g. camera.export, session.login
    target          TEXT NOT NULL,                 -- e.g. camera:5, user:alice; '' for none
    camera_id       INTEGER,                       -- no foreign key: entries outlive cameras
    outcome         TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'not-found', 'invalid', 'failed', 'throttled')),
    detail          TEXT NOT NULL,
    -- The target's label when the entry was written: who may read the entry.
    classification  INTEGER NOT NULL DEFAULT 0 CHECK (classification IN (0, 1, 2)),
    covert          INTEGER NOT NULL DEFAULT 0 CHECK (covert IN (0, 1)),
    prev_sha256     BLOB NOT NULL CHECK (length(prev_sha256) = 32),
    sha256          BLOB NOT NULL CHECK (length(sha256) = 32)
);
CREATE INDEX audit_at ON audit(at_us);
CREATE INDEX audit_actor ON audit(actor, at_us);
CREATE INDEX audit_camera ON audit(camera_id, at_us);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- The last entry's seq and hash, written with it: deleting the newest entries shows
-- unless this row is rewritten too (anchor the head outside: `audit verify --expect-head`).
CREATE TABLE audit_head (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    seq     INTEGER NOT NULL,
    sha256  BLOB NOT NULL CHECK (length(sha256) = 32)
);
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
