-- The PostgreSQL peer's tables, created in the schema that scripts/bench-peers puts first on the
-- search_path (through PGOPTIONS), so that nothing outside it is touched.
CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE transfers (id bigserial PRIMARY KEY, debit int NOT NULL, credit int NOT NULL,
                        amount bigint NOT NULL);
INSERT INTO accounts SELECT id, 1000000 FROM generate_series(1, 10000) AS id;

-- One transfer, the way a user would write it: a debit that would go below zero is rejected
-- (nothing applied, nothing journaled) and reported as false.
CREATE FUNCTION transfer(debit_id int, credit_id int, amt bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    -- Both rows locked up front, lowest id first: two transfers over the same pair in opposite
    -- directions would otherwise deadlock. (FOR UPDATE locks the rows after ORDER BY sorts them.)
    PERFORM 1 FROM accounts WHERE id IN (debit_id, credit_id) ORDER BY id FOR UPDATE;
    UPDATE accounts SET balance = balance - amt WHERE id = debit_id AND balance >= amt;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE accounts SET balance = balance + amt WHERE id = credit_id;
    INSERT INTO transfers (debit, credit, amount) VALUES (debit_id, credit_id, amt);
    RETURN true;
END
$$;

VACUUM ANALYZE accounts;
