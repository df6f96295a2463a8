-- "Has this buyer or referrer anything come due?" is asked for everyone in every batch. Through
-- orders_by_user and orders_by_referrer it read every order the person ever had (a row each, for
-- released_at): a buyer or referrer with 30,000 orders made the seed book 416-451 orders/s instead of
-- 5,654. These hold only the orders not yet released, with the release time, so the question
-- reads the person's pending orders that are due, usually none. The predicate is a literal
-- (`released_at IS NULL`), which a bound statement still implies.
CREATE INDEX orders_pending_by_user ON orders (user_id, release_at) WHERE released_at IS NULL;
CREATE INDEX orders_pending_by_referrer ON orders (referrer_id, release_at)
    WHERE released_at IS NULL AND referrer_id IS NOT NULL;
