DROP INDEX orders_by_referrer;
CREATE INDEX orders_by_referrer ON orders (referrer_id);
CREATE INDEX orders_pending_by_referrer ON orders (referrer_id, release_at)
    WHERE released_at IS NULL AND referrer_id IS NOT NULL;
