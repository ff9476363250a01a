-- What a camera is, who controls it and where it is: the registry fields the estate
-- breakdowns need. The borough is derived from the position by the embedded boundaries
-- (sightline-geo) whenever the camera is saved, never set by hand. lat and lon are set
-- together or not at all (the store writes them from one optional position).
ALTER TABLE cameras ADD COLUMN kind TEXT NOT NULL DEFAULT 'static'
    CHECK (kind IN ('static', 'ptz', 'deployable', 'body-worn'));
ALTER TABLE cameras ADD COLUMN control TEXT NOT NULL DEFAULT 'owned'
    CHECK (control IN ('owned', 'partner', 'temporary', 'body-worn'));
ALTER TABLE cameras ADD COLUMN lat REAL CHECK (lat BETWEEN -90 AND 90);      -- WGS84 degrees
ALTER TABLE cameras ADD COLUMN lon REAL CHECK (lon BETWEEN -180 AND 180);    -- WGS84 degrees
ALTER TABLE cameras ADD COLUMN borough TEXT;  -- NULL without a position or outside London
