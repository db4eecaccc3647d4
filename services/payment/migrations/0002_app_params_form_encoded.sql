-- app_params was stored as k=v&k=v with raw values and split again on '&' when read, so a value
-- holding '&' or '=' (Alipay's orderStr is itself a signed form) came back cut. It is now stored
-- form-encoded (names and values percent-encoded), as wire::EncodeForm writes it.

-- Alipay APP rows hold an orderStr that cannot be put back together: forget it, so that a replay of
-- CreatePayment asks Alipay again (it dedupes on out_trade_no) and stores the whole string.
UPDATE payments SET app_params = '' WHERE channel = 2 AND method = 1 AND app_params <> '';

-- The other rows (WeChat Pay's app fields, UnionPay's tn) never held '&': encode what a form
-- decoder would read differently ('%', '+' and space).
UPDATE payments p SET app_params = COALESCE((
    SELECT string_agg(split_part(kv, '=', 1) || '=' ||
                      replace(replace(replace(substr(kv, strpos(kv, '=') + 1), '%', '%25'), '+', '%2B'), ' ', '%20'),
                      '&' ORDER BY ord)
    FROM regexp_split_to_table(p.app_params, '&') WITH ORDINALITY AS t(kv, ord)
    WHERE strpos(kv, '=') > 1), '')
WHERE app_params <> '';

COMMENT ON COLUMN payments.app_params IS 'form-encoded (application/x-www-form-urlencoded) map of the app SDK parameters';
