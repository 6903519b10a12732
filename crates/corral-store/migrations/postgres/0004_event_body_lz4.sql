-- Event bodies (about 5 KB of JSON each) are compressed by TOAST when stored. PostgreSQL's
-- default method, pglz, took a quarter of the database's CPU in the cluster benchmark
-- (`pglz_compress` in `perf`); lz4 compresses JSON a little less at a fraction of the cost.
-- Day partitions created from now on inherit the parent's setting; the existing ones are
-- switched here. Values already stored keep their compression (both are read alike). A server
-- built without lz4 keeps pglz.
DO $$
DECLARE
    part regclass;
BEGIN
    ALTER TABLE events ALTER COLUMN data SET COMPRESSION lz4;
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'events'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN data SET COMPRESSION lz4', part);
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: event bodies stay pglz-compressed';
END
$$;
