-- The type parameters of an order (usernames, answer_number, …) as a JSON object of texts;
-- NULL when its service type takes none.
ALTER TABLE orders ADD COLUMN params TEXT;
