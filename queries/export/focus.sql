-- FOCUS 1.2 export of the AI spend in a run folder, so it can be loaded next to the cloud
-- bill in any FOCUS-aware tool. Five kinds of rows per day (x_InferledgerKind says which):
--   api_tokens       API token spend by provider × model × team × feature × deployment
--                    (ConsumedUnit 'Tokens'; request attribution in Tags);
--   api_unpriced     API tokens no price entry covers: tokens counted, every cost and
--                    unit price NULL (unknown, not zero; `inferledger prices` shows
--                    which entry is missing);
--   gpu_allocation   self-hosted GPU spend allocated to a team × feature × model, in
--                    GPU-Hours (ListUnitPrice is then the pool's rate per GPU-hour);
--   gpu_idle         the idle part of a pool's GPU spend, as its own rows;
--   gpu_unassigned   GPU spend no pool claims.
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
           SUM(input_tokens + output_tokens) AS tokens,
           COUNT(*) AS requests,
           SUM(cost_usd) AS cost
    FROM requests
    WHERE pool IS NULL
    GROUP BY date, provider, model, team, feature, deployment, cost_usd IS NULL
),
-- A slice's GPU-hours: its share of the hour's pool cost times the hour's billed GPU-hours
-- (attribution splits an hour's cost by GPU time, so the cost share is the time share).
gpu AS (
    SELECT g.date, g.pool, g.team, g.feature, g.model, g.deployment,
           SUM(g.requests) AS requests, SUM(g.gpu_cost_usd) AS cost,
           ROUND(SUM(CASE WHEN u.cost_usd <> 0
                    THEN u.gpu_hours_billed * CAST(g.gpu_cost_usd AS DOUBLE) / CAST(u.cost_usd AS DOUBLE)
               END), 6) AS gpu_hours
    FROM gpu_cost_attribution g
    LEFT JOIN hourly_utilization u ON u.hour = g.hour AND u.pool = g.pool
    GROUP BY g.date, g.pool, g.team, g.feature, g.model, g.deployment
),
-- What the cloud bill says about a pool's GPUs that day: who billed them, where, and how
-- they were bought. A value shared by all of the pool's billing rows that day, else NULL
-- (provider 'Self-hosted', region unknown, PricingCategory 'Other' for a mix).
pool_bill AS (
    SELECT date, pool,
           CASE WHEN COUNT(DISTINCT provider) = 1 AND COUNT(provider) = COUNT(*) THEN MIN(provider) END AS provider,
           CASE WHEN COUNT(DISTINCT region) = 1 AND COUNT(region) = COUNT(*) THEN MIN(region) END AS region,
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
        CASE WHEN unpriced THEN 'Unpriced tokens (no price entry; cost unknown) for ' ELSE 'Tokens for ' END
            || COALESCE(model, '-') || ' (' || COALESCE(team, '-') || ' / ' || COALESCE(feature, '-') || ')' AS description,
        cost,
        CAST(tokens AS DOUBLE) AS quantity,
        'Tokens' AS unit,
        COALESCE(deployment, model) AS resource_id,
        model AS resource_name,
        'Model' AS resource_type,
        COALESCE(provider, 'unknown') || ' API' AS service_name,
        model AS sku_id,
        price_id AS sku_price_id,
        team, feature, model, CAST(NULL AS VARCHAR) AS pool,
        CAST(NULL AS VARCHAR) AS region, 'on_demand' AS pricing_category
    FROM api
    UNION ALL
    SELECT
        g.date,
        CASE WHEN g.team = '__idle__' THEN 'gpu_idle' ELSE 'gpu_allocation' END,
        COALESCE(b.provider, 'Self-hosted'),
        CASE WHEN g.team = '__idle__' THEN 'Idle GPU time of pool ' || g.pool
             ELSE 'GPU time of pool ' || g.pool || ' for ' || COALESCE(g.team, '-') || ' / ' || COALESCE(g.feature, '-') END,
        g.cost,
        g.gpu_hours,
        'GPU-Hours',
        g.pool AS resource_id,
        g.pool AS resource_name,
        'GPU pool' AS resource_type,
        'Self-hosted inference' AS service_name,
        CAST(NULL AS VARCHAR) AS sku_id,
        CAST(NULL AS VARCHAR) AS sku_price_id,
        g.team AS team, g.feature AS feature, g.model AS model, g.pool AS pool,
        b.region AS region, COALESCE(b.pricing_category, 'other') AS pricing_category
    FROM gpu g
    LEFT JOIN pool_bill b ON b.date = g.date AND b.pool = g.pool
    UNION ALL
    SELECT
        date,
        'gpu_unassigned',
        COALESCE(provider, 'unknown'),
        'GPU spend no pool claims: ' || COALESCE(resource_id, '-') || ' (' || gpu_model || ')',
        SUM(cost_usd),
        SUM(gpu_hours),
        'GPU-Hours',
        resource_id AS resource_id,
        resource_id AS resource_name,
        'GPU instance' AS resource_type,
        'Self-hosted inference' AS service_name,
        CAST(NULL AS VARCHAR) AS sku_id,
        CAST(NULL AS VARCHAR) AS sku_price_id,
        '__unassigned__' AS team, CAST(NULL AS VARCHAR) AS feature, gpu_model AS model, CAST(NULL AS VARCHAR) AS pool,
        region, pricing_category
    FROM gpu_billing_hourly
    WHERE pool IS NULL
    GROUP BY date, provider, resource_id, gpu_model, region, pricing_category
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
    'Usage' AS "ChargeCategory",
    CAST(NULL AS VARCHAR) AS "ChargeClass",
    description AS "ChargeDescription",
    'Usage-Based' AS "ChargeFrequency",
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
    CASE WHEN quantity > 0 THEN CAST(cost / CAST(quantity AS DECIMAL(30, 12)) AS DECIMAL(38, 12)) END AS "ContractedUnitPrice",
    cost AS "EffectiveCost",
    CAST(NULL AS VARCHAR) AS "InvoiceId",
    provider AS "InvoiceIssuerName",
    cost AS "ListCost",
    CASE WHEN quantity > 0 THEN CAST(cost / CAST(quantity AS DECIMAL(30, 12)) AS DECIMAL(38, 12)) END AS "ListUnitPrice",
    CASE pricing_category
        WHEN 'on_demand' THEN 'Standard'
        WHEN 'spot' THEN 'Dynamic'
        WHEN 'committed' THEN 'Committed'
        ELSE 'Other'
    END AS "PricingCategory",
    'USD' AS "PricingCurrency",
    CASE WHEN quantity > 0 THEN CAST(cost / CAST(quantity AS DECIMAL(30, 12)) AS DECIMAL(38, 12)) END AS "PricingCurrencyContractedUnitPrice",
    cost AS "PricingCurrencyEffectiveCost",
    CASE WHEN quantity > 0 THEN CAST(cost / CAST(quantity AS DECIMAL(30, 12)) AS DECIMAL(38, 12)) END AS "PricingCurrencyListUnitPrice",
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
    CAST(NULL AS VARCHAR) AS "SkuMeter",
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
FROM rows
ORDER BY "ChargePeriodStart", kind, "ProviderName", "ResourceId", "SubAccountId"
