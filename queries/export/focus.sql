-- FOCUS 1.2 export of the AI spend in a run folder, so it can be loaded next to the cloud
-- bill in any FOCUS-aware tool. Six kinds of rows per day (x_InferledgerKind says which):
--   api_tokens       API token spend by provider × model × team × feature × deployment,
--                    one row per SkuMeter ('Input tokens' with cache reads and writes,
--                    'Output tokens'; ConsumedUnit 'Tokens'; attribution in Tags);
--   api_unpriced     API tokens no price entry covers: tokens counted, every cost and
--                    unit price NULL (unknown, not zero; `inferledger prices` shows
--                    which entry is missing);
--   gpu_allocation   self-hosted GPU spend allocated to a team × feature × model, in
--                    GPU-Hours (ListUnitPrice is then the pool's rate per GPU-hour);
--   gpu_idle         the idle part of a pool's GPU spend, as its own rows;
--   gpu_credit       a pool's credits and refunds (ChargeCategory 'Credit'), split over
--                    the same slices as its usage: usage + credit = the slice's cost; and
--                    credits on GPUs no pool claims, per resource;
--   gpu_unassigned   GPU spend no pool claims.
-- SkuId / SkuPriceId: the price entry for API tokens; 'gpu-hour:<pool>:<gpu>' and the day's
-- rate ('…@<date>') for pool rows; the instance type and how and where it was bought for
-- unassigned GPUs. Credits have none.
-- The GPU rows re-state the cloud bill's GPU lines by who used them: load them into a
-- separate view from the raw bill, or they count twice. GPU rows take ProviderName,
-- InvoiceIssuerName, RegionId and PricingCategory (spot = Dynamic) from the pool's billing
-- rows that day. Datetimes are UTC with the `Z` FOCUS's DateTimeFormat asks for
-- (2026-11-17T00:00:00Z). Costs are the run's exact decimals; BilledCost = EffectiveCost =
-- ListCost = ContractedCost (inferledger prices at list; discounts are already in the
-- per-token price it used). Unit prices are cost / quantity, rounded to 12 decimals.
WITH api AS (
    SELECT date, provider, model, team, feature, deployment,
           cost_usd IS NULL AS unpriced,
           MIN(price_id) AS price_id,
           SUM(input_tokens) AS input_tokens,
           SUM(output_tokens) AS output_tokens,
           COUNT(*) AS requests,
           SUM(cost_usd) AS cost,
           SUM(output_cost_usd) AS output_cost
    FROM requests
    WHERE pool IS NULL
    GROUP BY date, provider, model, team, feature, deployment, cost_usd IS NULL
),
-- Credits and refunds on a pool's bill (negative billing rows) in each hour, beside the
-- hour's net cost.
hour_credit AS (
    SELECT hour, date, pool,
           SUM(CASE WHEN cost_usd < 0 THEN cost_usd ELSE 0 END) AS credit,
           SUM(cost_usd) AS cost
    FROM gpu_billing_hourly
    WHERE pool IS NOT NULL
    GROUP BY hour, date, pool
),
day_credit AS (
    SELECT date, pool, SUM(credit) AS credit FROM hour_credit GROUP BY date, pool
),
-- A slice's GPU-hours: its share of the hour's pool cost times the hour's billed GPU-hours
-- (attribution splits an hour's cost by GPU time, so the cost share is the time share).
gpu_slices AS (
    SELECT g.date, g.pool, g.team, g.feature, g.model, g.deployment,
           SUM(g.requests) AS requests, SUM(g.gpu_cost_usd) AS cost,
           -- The slice's part of the hour's credits: its share of the net cost. The usage
           -- row is cost - credit, so usage + credit rows are the slice's cost exactly.
           SUM(CASE WHEN c.credit < 0 AND c.cost <> 0
                    THEN CAST(g.gpu_cost_usd * (c.credit / c.cost) AS DECIMAL(38, 12))
                    ELSE CAST(0 AS DECIMAL(38, 12)) END) AS credit,
           ROUND(SUM(CASE WHEN u.cost_usd <> 0
                    THEN u.gpu_hours_billed * CAST(g.gpu_cost_usd AS DOUBLE) / CAST(u.cost_usd AS DOUBLE)
               END), 6) AS gpu_hours
    FROM gpu_cost_attribution g
    LEFT JOIN hourly_utilization u ON u.hour = g.hour AND u.pool = g.pool
    LEFT JOIN hour_credit c ON c.hour = g.hour AND c.pool = g.pool
    GROUP BY g.date, g.pool, g.team, g.feature, g.model, g.deployment
),
-- Shares are rounded to 12 decimals; the pool-day's rounding residue goes to its largest
-- credit share, so the credit rows add up to the bill's credits exactly.
gpu AS (
    SELECT s.date, s.pool, s.team, s.feature, s.model, s.deployment, s.requests, s.cost,
           s.gpu_hours,
           s.credit + CASE
               WHEN ROW_NUMBER() OVER (PARTITION BY s.date, s.pool
                                       ORDER BY s.credit, s.team, s.feature, s.model, s.deployment) = 1
               THEN COALESCE(d.credit, 0) - SUM(s.credit) OVER (PARTITION BY s.date, s.pool)
               ELSE 0 END AS credit
    FROM gpu_slices s
    LEFT JOIN day_credit d ON d.date = s.date AND d.pool = s.pool
),
-- What the cloud bill says about a pool's GPUs that day: who billed them, where, and how
-- they were bought. A value shared by all of the pool's billing rows that day, else NULL
-- (provider 'Self-hosted', region unknown, PricingCategory 'Other' for a mix).
pool_bill AS (
    SELECT date, pool,
           CASE WHEN COUNT(DISTINCT provider) = 1 AND COUNT(provider) = COUNT(*) THEN MIN(provider) END AS provider,
           CASE WHEN COUNT(DISTINCT region) = 1 AND COUNT(region) = COUNT(*) THEN MIN(region) END AS region,
           CASE WHEN COUNT(DISTINCT gpu_model) = 1 AND COUNT(gpu_model) = COUNT(*) THEN MIN(gpu_model) END AS gpu_model,
           -- How the GPUs were bought: from the charges, not from credits or refunds.
           CASE WHEN COUNT(DISTINCT CASE WHEN cost_usd > 0 THEN pricing_category END) = 1
                THEN MIN(CASE WHEN cost_usd > 0 THEN pricing_category END) ELSE 'mixed' END AS pricing_category
    FROM gpu_billing_hourly
    WHERE pool IS NOT NULL
    GROUP BY date, pool
),
rows AS (
    SELECT
        date,
        CASE WHEN unpriced THEN 'api_unpriced' ELSE 'api_tokens' END AS kind,
        COALESCE(provider, 'unknown') AS provider,
        CASE WHEN unpriced THEN 'Unpriced ' || lower(m.meter) || ' (no price entry; cost unknown) for '
             ELSE m.meter || ' for ' END
            || COALESCE(model, '-') || ' (' || COALESCE(team, '-') || ' / ' || COALESCE(feature, '-') || ')' AS description,
        CASE WHEN m.meter = 'Output tokens' THEN output_cost ELSE cost - output_cost END AS cost,
        CAST(CASE WHEN m.meter = 'Output tokens' THEN output_tokens ELSE input_tokens END AS DOUBLE) AS quantity,
        'Tokens' AS unit,
        m.meter AS meter,
        COALESCE(deployment, model) AS resource_id,
        model AS resource_name,
        'Model' AS resource_type,
        COALESCE(provider, 'unknown') || ' API' AS service_name,
        model AS sku_id,
        price_id AS sku_price_id,
        team, feature, model, CAST(NULL AS VARCHAR) AS pool,
        CAST(NULL AS VARCHAR) AS region, 'on_demand' AS pricing_category
    -- Two meters per group: input tokens (cached or not) and output tokens.
    FROM api
    CROSS JOIN (VALUES ('Input tokens'), ('Output tokens')) AS m(meter)
    WHERE CASE WHEN m.meter = 'Output tokens' THEN output_tokens > 0 OR output_cost <> 0
               ELSE input_tokens > 0 OR cost - output_cost <> 0 END
    UNION ALL
    SELECT
        g.date,
        CASE WHEN part.credit THEN 'gpu_credit'
             WHEN g.team = '__idle__' THEN 'gpu_idle' ELSE 'gpu_allocation' END,
        COALESCE(b.provider, 'Self-hosted'),
        CASE WHEN part.credit THEN 'Credit on pool ' || g.pool ELSE 'GPU time of pool ' || g.pool END
            || CASE WHEN g.team = '__idle__' THEN ' (idle)'
                    ELSE ' for ' || COALESCE(g.team, '-') || ' / ' || COALESCE(g.feature, '-') END,
        CASE WHEN part.credit THEN g.credit ELSE g.cost - g.credit END,
        CASE WHEN part.credit THEN NULL ELSE g.gpu_hours END,
        CASE WHEN part.credit THEN NULL ELSE 'GPU-Hours' END,
        CAST(NULL AS VARCHAR),
        g.pool AS resource_id,
        g.pool AS resource_name,
        'GPU pool' AS resource_type,
        'Self-hosted inference' AS service_name,
        -- The product is GPU time of the pool (of its GPU model); its price point is the
        -- pool's rate that day.
        CASE WHEN part.credit THEN NULL
             ELSE 'gpu-hour:' || g.pool || COALESCE(':' || b.gpu_model, '') END AS sku_id,
        CASE WHEN part.credit THEN NULL
             ELSE 'gpu-hour:' || g.pool || COALESCE(':' || b.gpu_model, '') || '@' || g.date END AS sku_price_id,
        g.team AS team, g.feature AS feature, g.model AS model, g.pool AS pool,
        b.region AS region, COALESCE(b.pricing_category, 'other') AS pricing_category
    -- Each slice is a usage row, and a credit row when its hours had credits.
    FROM gpu g
    CROSS JOIN (VALUES (false), (true)) AS part(credit)
    LEFT JOIN pool_bill b ON b.date = g.date AND b.pool = g.pool
    WHERE NOT part.credit OR g.credit <> 0
    UNION ALL
    -- GPU spend no pool claims, per resource: usage, and credits or refunds on it as rows of
    -- their own (kind gpu_credit).
    SELECT
        date,
        CASE WHEN credit THEN 'gpu_credit' ELSE 'gpu_unassigned' END,
        COALESCE(provider, 'unknown'),
        CASE WHEN credit THEN 'Credit on GPUs no pool claims: ' ELSE 'GPU spend no pool claims: ' END
            || COALESCE(resource_id, '-') || ' (' || gpu_model || ')',
        SUM(cost_usd),
        CASE WHEN credit THEN NULL ELSE SUM(gpu_hours) END,
        CASE WHEN credit THEN NULL ELSE 'GPU-Hours' END,
        CAST(NULL AS VARCHAR),
        resource_id AS resource_id,
        resource_id AS resource_name,
        'GPU instance' AS resource_type,
        'Self-hosted inference' AS service_name,
        -- The product is an hour of the instance type; its price point, how it was bought
        -- and where.
        CASE WHEN credit THEN NULL ELSE COALESCE(instance_type, gpu_model) END AS sku_id,
        CASE WHEN credit THEN NULL
             ELSE COALESCE(instance_type, gpu_model) || ':' || pricing_category || COALESCE(':' || region, '') END AS sku_price_id,
        '__unassigned__' AS team, CAST(NULL AS VARCHAR) AS feature, gpu_model AS model, CAST(NULL AS VARCHAR) AS pool,
        region, pricing_category
    FROM (SELECT *, cost_usd < 0 AS credit FROM gpu_billing_hourly WHERE pool IS NULL) unassigned
    GROUP BY date, provider, resource_id, gpu_model, instance_type, region, pricing_category, credit
),
-- Cost per unit of quantity, the one figure behind every FOCUS unit-price column.
priced AS (
    SELECT *,
           CASE WHEN quantity > 0 THEN CAST(cost / CAST(quantity AS DECIMAL(30, 12)) AS DECIMAL(38, 12)) END AS unit_price
    FROM rows
)
SELECT
    CAST(NULL AS VARCHAR) AS "AvailabilityZone",
    cost AS "BilledCost",
    'inferledger' AS "BillingAccountId",
    'AI spend (inferledger)' AS "BillingAccountName",
    'Allocation' AS "BillingAccountType",
    'USD' AS "BillingCurrency",
    arrow_cast(date_trunc('month', to_timestamp_seconds(date || 'T00:00:00Z')) + INTERVAL '1 month', 'Timestamp(s, "UTC")') AS "BillingPeriodEnd",
    arrow_cast(to_timestamp_seconds(substr(date, 1, 7) || '-01T00:00:00Z'), 'Timestamp(s, "UTC")') AS "BillingPeriodStart",
    CAST(NULL AS VARCHAR) AS "CapacityReservationId",
    CAST(NULL AS VARCHAR) AS "CapacityReservationStatus",
    CASE WHEN kind = 'gpu_credit' THEN 'Credit' ELSE 'Usage' END AS "ChargeCategory",
    CAST(NULL AS VARCHAR) AS "ChargeClass",
    description AS "ChargeDescription",
    CASE WHEN kind = 'gpu_credit' THEN 'One-Time' ELSE 'Usage-Based' END AS "ChargeFrequency",
    arrow_cast(to_timestamp_seconds(date || 'T00:00:00Z') + INTERVAL '1 day', 'Timestamp(s, "UTC")') AS "ChargePeriodEnd",
    arrow_cast(to_timestamp_seconds(date || 'T00:00:00Z'), 'Timestamp(s, "UTC")') AS "ChargePeriodStart",
    CAST(NULL AS VARCHAR) AS "CommitmentDiscountCategory",
    CAST(NULL AS VARCHAR) AS "CommitmentDiscountId",
    CAST(NULL AS VARCHAR) AS "CommitmentDiscountName",
    CAST(NULL AS DOUBLE) AS "CommitmentDiscountQuantity",
    CAST(NULL AS VARCHAR) AS "CommitmentDiscountStatus",
    CAST(NULL AS VARCHAR) AS "CommitmentDiscountType",
    CAST(NULL AS VARCHAR) AS "CommitmentDiscountUnit",
    quantity AS "ConsumedQuantity",
    unit AS "ConsumedUnit",
    cost AS "ContractedCost",
    unit_price AS "ContractedUnitPrice",
    cost AS "EffectiveCost",
    CAST(NULL AS VARCHAR) AS "InvoiceId",
    provider AS "InvoiceIssuerName",
    cost AS "ListCost",
    unit_price AS "ListUnitPrice",
    -- FOCUS leaves PricingCategory empty on rows that are not usage or purchases.
    CASE WHEN kind = 'gpu_credit' THEN NULL
        WHEN pricing_category = 'on_demand' THEN 'Standard'
        WHEN pricing_category = 'spot' THEN 'Dynamic'
        WHEN pricing_category = 'committed' THEN 'Committed'
        ELSE 'Other'
    END AS "PricingCategory",
    'USD' AS "PricingCurrency",
    unit_price AS "PricingCurrencyContractedUnitPrice",
    cost AS "PricingCurrencyEffectiveCost",
    unit_price AS "PricingCurrencyListUnitPrice",
    quantity AS "PricingQuantity",
    unit AS "PricingUnit",
    provider AS "ProviderName",
    provider AS "PublisherName",
    region AS "RegionId",
    region AS "RegionName",
    resource_id AS "ResourceId",
    resource_name AS "ResourceName",
    resource_type AS "ResourceType",
    'AI and Machine Learning' AS "ServiceCategory",
    service_name AS "ServiceName",
    'Generative AI' AS "ServiceSubcategory",
    sku_id AS "SkuId",
    meter AS "SkuMeter",
    sku_price_id AS "SkuPriceId",
    CAST(NULL AS VARCHAR) AS "SkuPriceDetails",
    COALESCE(team, '(none)') AS "SubAccountId",
    COALESCE(team, '(none)') AS "SubAccountName",
    'Team' AS "SubAccountType",
    '{"team":"' || replace(COALESCE(team, ''), '"', '\"')
        || '","feature":"' || replace(COALESCE(feature, ''), '"', '\"')
        || '","model":"' || replace(COALESCE(model, ''), '"', '\"')
        || '","pool":"' || replace(COALESCE(pool, ''), '"', '\"') || '"}' AS "Tags",
    kind AS "x_InferledgerKind"
FROM priced
ORDER BY "ChargePeriodStart", kind, "ProviderName", "ResourceId", "SubAccountId", "ChargeDescription", "Tags"
