-- Scheduled orders: the customer's chosen time.
ALTER TABLE orders ADD COLUMN scheduled_at BIGINT;
