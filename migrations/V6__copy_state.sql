-- How far a stored copy can be trusted as a link source: 'ok' when its bytes were hashed
-- as it was recorded; 'unverified' when `add --trust-manifests` took its hash from a
-- manifest (never linked to until a full `verify` has read it); 'damaged' when `verify`
-- found bytes that differ from its hash (never linked to again; the next backup stores
-- a fresh copy, and `verify --repair` relinks the damaged paths to a good one).
ALTER TABLE copies ADD COLUMN state TEXT NOT NULL DEFAULT 'ok'
    CHECK (state IN ('ok', 'unverified', 'damaged'));
-- When verify found the damage (UTC, RFC 3339).
ALTER TABLE copies ADD COLUMN damaged_at TEXT;

-- Finds the few copies that are not 'ok' without reading every copy.
CREATE INDEX copies_not_ok ON copies (state) WHERE state != 'ok';

-- Every path of a snapshot whose stored copy is recorded as damaged.
CREATE VIEW damaged AS
SELECT e.snapshot_id,
       s.name || '/' || s.timestamp AS snapshot,
       CAST(p.path AS TEXT) AS path,
       lower(hex(c.hash)) AS hash,
       k.damaged_at
FROM copies k
JOIN entries e ON e.copy_id = k.id
JOIN snapshot_runs s ON s.id = e.snapshot_id
JOIN paths p ON p.id = e.path_id
JOIN contents c ON c.id = k.content_id
WHERE k.state = 'damaged';
