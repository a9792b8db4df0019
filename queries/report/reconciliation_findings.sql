-- The reconciliation's differences, largest first: every day × provider × model whose
-- reason is not `ok`, with its explanation.
SELECT date, provider, model, reason, difference_usd, explanation
FROM (
    SELECT date, provider, model, reason,
           CAST(cost_difference_usd AS DECIMAL(38, 2)) AS difference_usd,
           abs(COALESCE(CAST(cost_difference_usd AS DOUBLE), 0)) AS size,
           explanation
    FROM reconciliation
    WHERE reason <> 'ok'
) findings
ORDER BY size DESC, date, provider, model
