-- The status syncs read what is in progress least recently checked first, never checked first
-- (`ORDER BY last_status_check ASC NULLS FIRST`). SQLite's ascending indexes already put NULLs
-- first. PostgreSQL's put them last, so it could not walk these indexes in that order and
-- sorted every row in progress on each call (a soak found it: 177 ms per call at 23,000 orders).
--@postgres
DROP INDEX orders_status;
CREATE INDEX orders_status ON orders (status, last_status_check NULLS FIRST, order_id);
DROP INDEX order_parts_sync;
CREATE INDEX order_parts_sync ON order_parts (state, last_status_check NULLS FIRST, part_id);
DROP INDEX refills_open;
CREATE INDEX refills_open ON refills (state, last_status_check NULLS FIRST, refill_id);
--@end
