DROP INDEX orders_pending_by_referrer;
DROP INDEX orders_pending_by_user;
