-- The key space: what Redis holds, one row per key. A value is raw bytes (kind 'b': an
-- answer, a day's rows, a lease's token) or a script's structured value as tagged JSON
-- (kind 'j': a sorted set, a token bucket); see service/store/snapshot.py.
CREATE TABLE vfac_cache.entries (
    key        text PRIMARY KEY,
    kind       char(1) NOT NULL CHECK (kind IN ('b', 'j')),
    value      bytea NOT NULL,
    expires_at double precision  -- seconds since the epoch, the server's clock; NULL: never
);

-- The sweep of expired rows reads them in expiry order.
CREATE INDEX entries_expires_at ON vfac_cache.entries (expires_at) WHERE expires_at IS NOT NULL;

-- "Now" for expiries: the database's clock, so processes on different machines agree.
-- statement_timestamp() is fixed for a statement, as time stands still inside a script.
CREATE FUNCTION vfac_cache.now_s() RETURNS double precision
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT extract(epoch FROM statement_timestamp())::double precision $$;
