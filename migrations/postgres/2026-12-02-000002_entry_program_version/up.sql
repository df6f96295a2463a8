-- Each entry of an order carries the order's program version, so the journal export reads it
-- with the entry instead of looking the order up. Set at booking, like the rest of the entry;
-- entries booked before this migration get it from their order here, the one time the
-- append-only guard is lifted (inside this migration's transaction).
ALTER TABLE entries ADD COLUMN program_version INTEGER;
ALTER TABLE entries DISABLE TRIGGER entries_no_update;
UPDATE entries e SET program_version = o.program_version
    FROM orders o WHERE o.merchant_id = e.merchant_id AND o.order_id = e.order_id;
ALTER TABLE entries ENABLE TRIGGER entries_no_update;
