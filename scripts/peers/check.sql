-- After the run: money only moved between the accounts, and no transfer went to itself.
SELECT (SELECT sum(balance) FROM accounts) = 10000::bigint * 1000000
   AND NOT EXISTS (SELECT 1 FROM transfers WHERE debit = credit),
       (SELECT count(*) FROM transfers);
